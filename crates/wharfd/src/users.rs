//! `wharfd users …`: account administration against the account store in
//! the data directory. Passwords are read without echo, or from standard
//! input with `--password-stdin`, and only their Argon2 hash is stored.

use crate::cli::{Location, UsersCommand};
use crate::config::{self, FileConfig};
use anyhow::{bail, Context, Result};
use ftp_server::accounts::password::{hash_password, MAX_PASSWORD};
use ftp_server::accounts::{validate_name, Account, AccountStatus, AccountStore, SqliteStore};
use ftp_server::ServerOptions;
use std::io::BufRead;
use std::time::{SystemTime, UNIX_EPOCH};

async fn open(location: &Location) -> Result<(SqliteStore, ServerOptions)> {
    let file = FileConfig::load(location)?;
    let data = config::data_dir(location, &file);
    std::fs::create_dir_all(&data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    let store = SqliteStore::open(&config::account_db(&data)).await?;
    Ok((store, ServerOptions::new(data)))
}

pub async fn run(cmd: UsersCommand) -> Result<()> {
    match cmd {
        UsersCommand::Add {
            name,
            password_stdin,
            home,
            location,
        } => {
            validate_name(&name).with_context(|| format!("cannot add {name:?}"))?;
            let (store, opts) = open(&location).await?;
            if store.find(&name).await?.is_some() {
                bail!("account {name:?} already exists (change its password with: wharfd users passwd {name})");
            }
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
                quota_bytes: None,
                used_bytes: 0,
            };
            store.create(&account).await?;
            println!("added {name} (home {})", dir.display());
        }
        UsersCommand::List { location } => {
            let (store, opts) = open(&location).await?;
            let accounts = store.list().await?;
            if accounts.is_empty() {
                println!("no accounts; add one with: wharfd users add NAME");
            } else {
                println!("{:<32} {:<9} HOME", "NAME", "STATUS");
                for a in accounts {
                    let home = a.home.clone().unwrap_or_else(|| opts.default_home(&a.name));
                    println!("{:<32} {:<9} {}", a.name, a.status.as_str(), home.display());
                }
            }
        }
        UsersCommand::Passwd {
            name,
            password_stdin,
            location,
        } => {
            let (store, _) = open(&location).await?;
            require(&store, &name).await?;
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
        UsersCommand::Remove { name, location } => {
            let (store, opts) = open(&location).await?;
            let account = require(&store, &name).await?;
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

async fn require(store: &SqliteStore, name: &str) -> Result<Account> {
    store
        .find(name)
        .await?
        .with_context(|| format!("no account named {name:?} (see: wharfd users list)"))
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
