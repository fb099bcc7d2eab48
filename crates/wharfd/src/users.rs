//! `wharfd users …`: account administration against the account store in
//! the data directory. Passwords are read without echo, or from standard
//! input with `--password-stdin`, and only their Argon2 hash is stored.

use crate::cli::{Location, UsersCommand};
use crate::config::{self, FileConfig};
use anyhow::{bail, Context, Result};
use ftp_proto::time::UtcTime;
use ftp_server::accounts::password::{hash_password, MAX_PASSWORD};
use ftp_server::accounts::{validate_name, Account, AccountStatus, AccountStore};
use ftp_server::quota::recount::recount;
use ftp_server::quota::size::{format_size, parse_size};
use ftp_server::ServerOptions;
use std::io::BufRead;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

async fn open(location: &Location) -> Result<(Arc<dyn AccountStore>, ServerOptions)> {
    let file = FileConfig::load(location)?;
    let data = config::data_dir(location, &file);
    std::fs::create_dir_all(&data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    let store = config::accounts(location, &file, &data)?.open().await?;
    let mut opts = ServerOptions::new(data);
    opts.default_quota = file.default_quota(std::env::var("WHARF_DEFAULT_QUOTA").ok().as_ref())?;
    Ok((store, opts))
}

fn home_of(opts: &ServerOptions, account: &Account) -> std::path::PathBuf {
    account
        .home
        .clone()
        .unwrap_or_else(|| opts.default_home(&account.name))
}

fn quota_arg(text: &str) -> Result<Option<u64>> {
    parse_size(text).map_err(anyhow::Error::msg)
}

fn show_quota(quota: Option<u64>) -> String {
    quota.map_or_else(|| "none".to_string(), format_size)
}

pub async fn run(cmd: UsersCommand) -> Result<()> {
    match cmd {
        UsersCommand::Add {
            name,
            password_stdin,
            home,
            quota,
            location,
        } => {
            validate_name(&name).with_context(|| format!("cannot add {name:?}"))?;
            let (store, opts) = open(&location).await?;
            if store.find(&name).await?.is_some() {
                bail!("account {name:?} already exists (change its password with: wharfd users passwd {name})");
            }
            let quota = match quota {
                Some(q) => quota_arg(&q)?,
                None => opts.default_quota,
            };
            let password = read_password(password_stdin)?;
            let dir = home.clone().unwrap_or_else(|| opts.default_home(&name));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the home directory {}", dir.display()))?;
            let home = match home {
                Some(h) => Some(
                    std::fs::canonicalize(&h)
                        .with_context(|| format!("bad home {}", h.display()))?,
                ),
                None => None,
            };
            let account = Account {
                name: name.clone(),
                password_hash: hash_password(password.as_bytes()).map_err(anyhow::Error::msg)?,
                home,
                status: AccountStatus::Active,
                created_at: now(),
                registered_from: None,
                quota_bytes: quota,
                used_bytes: 0,
            };
            store.create(&account).await?;
            // An existing directory given with --home may hold files already.
            let used = recount(store.as_ref(), &name, &dir).await?;
            println!(
                "added {name} (home {}, quota {}, using {})",
                dir.display(),
                show_quota(quota),
                format_size(used)
            );
        }
        UsersCommand::List { location } => {
            let (store, opts) = open(&location).await?;
            let accounts = store.list().await?;
            if accounts.is_empty() {
                println!("no accounts; add one with: wharfd users add NAME");
            } else {
                println!(
                    "{:<24} {:<9} {:>10} {:>10}  HOME",
                    "NAME", "STATUS", "USED", "QUOTA"
                );
                for a in accounts {
                    println!(
                        "{:<24} {:<9} {:>10} {:>10}  {}",
                        a.name,
                        a.status.as_str(),
                        format_size(a.used_bytes),
                        show_quota(a.quota_bytes),
                        home_of(&opts, &a).display()
                    );
                }
            }
        }
        UsersCommand::Passwd {
            name,
            password_stdin,
            location,
        } => {
            let (store, _) = open(&location).await?;
            require(store.as_ref(), &name).await?;
            let password = read_password(password_stdin)?;
            let hash = hash_password(password.as_bytes()).map_err(anyhow::Error::msg)?;
            store.set_password_hash(&name, &hash).await?;
            println!("password of {name} changed");
        }
        UsersCommand::Disable { name, location } => {
            let (store, _) = open(&location).await?;
            store
                .set_status(&name, AccountStatus::Disabled)
                .await
                .map_err(explain(&name))?;
            println!("{name} disabled");
        }
        UsersCommand::Enable { name, location } => {
            let (store, _) = open(&location).await?;
            store
                .set_status(&name, AccountStatus::Active)
                .await
                .map_err(explain(&name))?;
            println!("{name} enabled");
        }
        UsersCommand::Pending { location } => {
            let (store, _) = open(&location).await?;
            let pending: Vec<Account> = store
                .list()
                .await?
                .into_iter()
                .filter(|a| a.status == AccountStatus::Pending)
                .collect();
            if pending.is_empty() {
                println!("no registrations are waiting");
            } else {
                println!(
                    "{:<24} {:<20} {:<40} QUOTA",
                    "NAME", "REGISTERED (UTC)", "FROM"
                );
                for a in pending {
                    println!(
                        "{:<24} {:<20} {:<40} {}",
                        a.name,
                        format_time(a.created_at),
                        a.registered_from.as_deref().unwrap_or("-"),
                        show_quota(a.quota_bytes)
                    );
                }
                println!("approve with: wharfd users approve NAME   reject with: wharfd users reject NAME");
            }
        }
        UsersCommand::Approve {
            name,
            quota,
            location,
        } => {
            let (store, opts) = open(&location).await?;
            let account = require_pending(store.as_ref(), &name).await?;
            if let Some(q) = quota {
                store.set_quota(&name, quota_arg(&q)?).await?;
            }
            let home = home_of(&opts, &account);
            std::fs::create_dir_all(&home)
                .with_context(|| format!("cannot create the home directory {}", home.display()))?;
            store.set_status(&name, AccountStatus::Active).await?;
            let quota = store.find(&name).await?.and_then(|a| a.quota_bytes);
            println!(
                "approved {name} (home {}, quota {})",
                home.display(),
                show_quota(quota)
            );
        }
        UsersCommand::Reject { name, location } => {
            let (store, _) = open(&location).await?;
            require_pending(store.as_ref(), &name).await?;
            store.remove(&name).await?;
            println!("rejected {name}; the registration was removed");
        }
        UsersCommand::Quota {
            name,
            size,
            location,
        } => {
            let (store, _) = open(&location).await?;
            let quota = quota_arg(&size)?;
            store
                .set_quota(&name, quota)
                .await
                .map_err(explain(&name))?;
            println!("quota of {name} is now {}", show_quota(quota));
        }
        UsersCommand::Recount {
            name,
            all,
            location,
            storage,
        } => {
            let (store, opts) = open(&location).await?;
            let backend = crate::storage::resolve(&storage, &FileConfig::load(&location)?)?;
            let accounts = if all {
                store.list().await?
            } else {
                let name = name.unwrap_or_default();
                vec![require(store.as_ref(), &name).await?]
            };
            for a in accounts {
                let before = a.used_bytes;
                let after = crate::storage::recount_home(
                    &backend,
                    store.as_ref(),
                    &a.name,
                    &home_of(&opts, &a),
                )
                .await?;
                println!(
                    "{}: {} (was {})",
                    a.name,
                    format_size(after),
                    format_size(before)
                );
            }
        }
        UsersCommand::Remove { name, location } => {
            let (store, opts) = open(&location).await?;
            let account = require(store.as_ref(), &name).await?;
            store.remove(&name).await?;
            let home = account.home.unwrap_or_else(|| opts.default_home(&name));
            println!(
                "removed {name}; its home {} was left in place",
                home.display()
            );
        }
    }
    Ok(())
}

async fn require(store: &dyn AccountStore, name: &str) -> Result<Account> {
    store
        .find(name)
        .await?
        .with_context(|| format!("no account named {name:?} (see: wharfd users list)"))
}

async fn require_pending(store: &dyn AccountStore, name: &str) -> Result<Account> {
    let account = require(store, name).await?;
    if account.status != AccountStatus::Pending {
        bail!(
            "{name:?} is not pending (it is {}); see: wharfd users pending",
            account.status.as_str()
        );
    }
    Ok(account)
}

fn format_time(unix: i64) -> String {
    let t = UtcTime::from_unix(unix);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

fn explain(name: &str) -> impl Fn(ftp_server::accounts::AccountError) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{e} (see: wharfd users list); account {name:?} unchanged")
}

fn read_password(from_stdin: bool) -> Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let first = rpassword::prompt_password("Password: ")
            .context("cannot read the password (no terminal? use --password-stdin)")?;
        let second = rpassword::prompt_password("Again: ").context("cannot read the password")?;
        if first != second {
            bail!("the passwords differ; nothing changed");
        }
        first
    };
    if password.is_empty() {
        bail!("empty password refused");
    }
    if password.len() > MAX_PASSWORD {
        bail!("password longer than {MAX_PASSWORD} bytes refused");
    }
    Ok(password)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
