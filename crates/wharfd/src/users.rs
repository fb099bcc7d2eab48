//! `wharfd users …`: account administration against the account store in
//! the data directory. Passwords are read without echo, or from standard
//! input with `--password-stdin`, and only their Argon2 hash is stored.

use crate::cli::{Location, UsersCommand};
use crate::config::{self, FileConfig};
use crate::registrant_mail::{self, Decision};
use crate::storage::StorageArgs;
use crate::user_policy::Kind;
use crate::{user_keys, user_policy};
use anyhow::{bail, Context, Result};
use ftp_proto::time::UtcTime;
use ftp_server::accounts::admin::{
    self, home_of, AccountQuery, Activated, AdminError, HomeFate, NewAccount,
};
use ftp_server::accounts::password::MAX_PASSWORD;
use ftp_server::accounts::{validate_name, Account, AccountStatus, AccountStore, GroupStore};
use ftp_server::events::{self, Event, EventKind, Events};
use ftp_server::metrics::Metrics;
use ftp_server::quota::recount::recount_account;
use ftp_server::quota::size::{format_size, parse_size};
use ftp_server::ServerOptions;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) async fn open(location: &Location) -> Result<(Arc<dyn AccountStore>, ServerOptions)> {
    open_with(location, &StorageArgs::default()).await
}

/// Opens the store, with the options the home rules need: the data
/// directory, the public tree and where files are kept.
async fn open_with(
    location: &Location,
    storage: &StorageArgs,
) -> Result<(Arc<dyn AccountStore>, ServerOptions)> {
    let file = FileConfig::load(location)?;
    let data = config::data_dir(location, &file);
    std::fs::create_dir_all(&data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    let store = config::accounts(location, &file, &data)?.open().await?;
    let mut opts = ServerOptions::new(data);
    opts.default_quota = file.default_quota(std::env::var("WHARF_DEFAULT_QUOTA").ok().as_ref())?;
    if let Some(anon) = std::env::var_os("WHARF_ANON_ROOT")
        .map(PathBuf::from)
        .or(file.anon_root.clone())
    {
        opts.anon_root = anon;
    }
    opts.storage = crate::storage::resolve(storage, &file)?;
    file.apply_account_defaults(&mut opts)?;
    Ok((store, opts))
}

/// Hands `event` to the event sinks of the config file (the server is
/// another process), waiting for programs and mail a little; webhook
/// events are queued for the server to send. A sink that cannot run is
/// reported, never a reason to fail the command.
async fn tell(
    location: &Location,
    data: &std::path::Path,
    groups: Option<Arc<dyn GroupStore>>,
    event: Event,
) {
    let mut options = ServerOptions::new(data);
    let sinks = FileConfig::load(location)
        .and_then(|f| crate::event_config::apply(&f, &mut options))
        .and_then(|()| Ok(events::sinks(&options)?));
    let sinks = match sinks {
        Ok(sinks) if sinks.is_empty() => return,
        Ok(sinks) => sinks,
        Err(e) => {
            eprintln!("wharfd: no event sent: {e:#}");
            return;
        }
    };
    let metrics = Arc::new(Metrics::default());
    let events = Events::running(sinks, metrics.clone(), groups);
    events.emit(event);
    events.drained(std::time::Duration::from_secs(10)).await;
    if metrics.event_sink_failures.load(Ordering::Relaxed) > 0 {
        eprintln!("wharfd: an event program or mail failed or ran past its timeout");
    }
    if metrics.events_dropped.load(Ordering::Relaxed) > 0 {
        eprintln!("wharfd: an event could not be queued (see the messages above)");
    }
}

/// Says which files an account was given, when it reused a home.
fn reused_note(done: &Activated) -> String {
    match done.reused {
        Some(in_use) => format!(
            "; it reuses the {in_use} already in its home, and its usage was recounted from them"
        ),
        None => String::new(),
    }
}

/// An [`AdminError`] as the command reports it, with what to do next.
fn refusal(verb: &'static str) -> impl Fn(AdminError) -> anyhow::Error {
    move |e| {
        match &e {
        AdminError::HomeInUse { .. } => anyhow::anyhow!(
            "cannot {verb}: {e}; nothing changed. Move those files away first, or pass --reuse-home to give them to this account"
        ),
        AdminError::NotMovedAside { .. } => anyhow::anyhow!("{e}"),
        AdminError::NotFound(_) | AdminError::NotPending { .. } => {
            anyhow::anyhow!("cannot {verb}: {e}; see: wharfd users list")
        }
        _ => anyhow::anyhow!("cannot {verb}: {e}"),
    }
    }
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
            reuse_home,
            location,
            storage,
        } => {
            validate_name(&name).with_context(|| format!("cannot add {name:?}"))?;
            let (store, opts) = open_with(&location, &storage).await?;
            if store.find(&name).await?.is_some() {
                bail!("account {name:?} already exists (change its password with: wharfd users passwd {name})");
            }
            let quota = match quota {
                Some(q) => quota_arg(&q)?,
                None => opts.default_quota,
            };
            let password = read_password(password_stdin)?;
            let new = NewAccount {
                name: &name,
                password: password.as_bytes(),
                home: home.as_deref(),
                quota,
                reuse_home,
            };
            let added = admin::add(store.as_ref(), &opts, new)
                .await
                .map_err(refusal("add"))?;
            crate::admins::audit_cli(store.as_ref(), "accounts.create", &name).await;
            println!(
                "added {name} (home {}, quota {}, using {}){}",
                added.home.display(),
                show_quota(added.quota),
                format_size(added.used),
                reused_note(&added)
            );
        }
        UsersCommand::Perms(args) => user_policy::perms(args, Kind::Account).await?,
        UsersCommand::Set(args) => user_policy::set(args, Kind::Account).await?,
        UsersCommand::Mount(args) => user_policy::mount(args, Kind::Account).await?,
        UsersCommand::Unmount(args) => user_policy::unmount(args, Kind::Account).await?,
        UsersCommand::Groups {
            name,
            groups,
            location,
        } => crate::groups::membership(&name, groups.as_deref(), &location).await?,
        UsersCommand::Show { name, location } => user_policy::show(&name, &location).await?,
        UsersCommand::Keys(cmd) => user_keys::run(cmd).await?,
        UsersCommand::List { location } => {
            let (store, opts) = open(&location).await?;
            let (_, accounts) = admin::search(store.as_ref(), &AccountQuery::default())
                .await
                .map_err(refusal("list"))?;
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
            admin::set_password(store.as_ref(), &name, password.as_bytes())
                .await
                .map_err(refusal("change the password"))?;
            crate::admins::audit_cli(store.as_ref(), "accounts.password", &name).await;
            println!("password of {name} changed");
        }
        UsersCommand::Disable { name, location } => {
            let (store, _) = open(&location).await?;
            require(store.as_ref(), &name).await?;
            store
                .set_status(&name, AccountStatus::Disabled)
                .await
                .map_err(explain(&name))?;
            crate::admins::audit_cli(store.as_ref(), "accounts.disable", &name).await;
            println!("{name} disabled");
        }
        UsersCommand::Enable { name, location } => {
            let (store, _) = open(&location).await?;
            require(store.as_ref(), &name).await?;
            store
                .set_status(&name, AccountStatus::Active)
                .await
                .map_err(explain(&name))?;
            crate::admins::audit_cli(store.as_ref(), "accounts.enable", &name).await;
            println!("{name} enabled");
        }
        UsersCommand::Pending { location } => {
            let (store, _) = open(&location).await?;
            let query = AccountQuery {
                status: Some(AccountStatus::Pending),
                ..AccountQuery::default()
            };
            let (_, pending) = admin::search(store.as_ref(), &query)
                .await
                .map_err(refusal("list"))?;
            if pending.is_empty() {
                println!("no registrations are waiting");
            } else {
                println!(
                    "{:<24} {:<20} {:<40} {:<10} CONTACT",
                    "NAME", "REGISTERED (UTC)", "FROM", "QUOTA"
                );
                for a in pending {
                    println!(
                        "{:<24} {:<20} {:<40} {:<10} {}",
                        a.name,
                        format_time(a.created_at),
                        a.registered_from.as_deref().unwrap_or("-"),
                        show_quota(a.quota_bytes),
                        a.contact.as_deref().unwrap_or("-")
                    );
                }
                println!("approve with: wharfd users approve NAME   reject with: wharfd users reject NAME");
            }
        }
        UsersCommand::Approve {
            name,
            quota,
            reuse_home,
            location,
            storage,
        } => {
            let (store, opts) = open_with(&location, &storage).await?;
            let quota = quota.as_deref().map(quota_arg).transpose()?;
            let contact = store.find(&name).await?.and_then(|a| a.contact);
            let approved = admin::approve(store.as_ref(), &opts, &name, quota, reuse_home)
                .await
                .map_err(refusal("approve"))?;
            crate::admins::audit_cli(store.as_ref(), "registrations.approve", &name).await;
            println!(
                "approved {name} (home {}, quota {}){}",
                approved.home.display(),
                show_quota(approved.quota),
                reused_note(&approved)
            );
            let quota = show_quota(approved.quota);
            tell(
                &location,
                &opts.data_dir,
                Some(store.clone()),
                Event::new(EventKind::RegistrationApproved)
                    .account(&name)
                    .reason(format!("approved with a quota of {quota}")),
            )
            .await;
            registrant_mail::tell(&location, &name, contact.as_deref(), Decision::Approved).await;
        }
        UsersCommand::Reject {
            name,
            reason,
            location,
        } => {
            let (store, opts) = open(&location).await?;
            let rejected = admin::reject(store.as_ref(), &name, &reason)
                .await
                .map_err(refusal("reject"))?;
            let contact = rejected.contact;
            crate::admins::audit_cli(store.as_ref(), "registrations.reject", &name).await;
            println!("rejected {name}; the registration was removed (its registrant can learn why with SITE REGSTATUS)");
            // The account is gone: it has no groups any more.
            tell(
                &location,
                &opts.data_dir,
                None,
                Event::new(EventKind::RegistrationRejected)
                    .account(&name)
                    .reason(&reason),
            )
            .await;
            registrant_mail::tell(
                &location,
                &name,
                contact.as_deref(),
                Decision::Rejected(&reason),
            )
            .await;
        }
        UsersCommand::Quota {
            name,
            size,
            location,
        } => {
            let (store, _) = open(&location).await?;
            let quota = quota_arg(&size)?;
            require(store.as_ref(), &name).await?;
            store
                .set_quota(&name, quota)
                .await
                .map_err(explain(&name))?;
            crate::admins::audit_cli(store.as_ref(), "accounts.quota", &name).await;
            println!("quota of {name} is now {}", show_quota(quota));
        }
        UsersCommand::Recount {
            name,
            all,
            location,
            storage,
        } => {
            let (store, opts) = open_with(&location, &storage).await?;
            let accounts = if all {
                store.list().await?
            } else {
                let name = name.unwrap_or_default();
                vec![require(store.as_ref(), &name).await?]
            };
            for a in accounts {
                let before = a.used_bytes;
                let after =
                    recount_account(&opts.storage, store.as_ref(), &a.name, &home_of(&opts, &a))
                        .await?;
                println!(
                    "{}: {} (was {})",
                    a.name,
                    format_size(after),
                    format_size(before)
                );
            }
        }
        UsersCommand::Remove {
            name,
            location,
            storage,
        } => {
            let (store, opts) = open_with(&location, &storage).await?;
            let fate = admin::remove(store.as_ref(), &opts, &name)
                .await
                .map_err(refusal("remove"))?;
            let home = match fate {
                HomeFate::MovedTo(dest) => format!("its home was moved to {}", dest.display()),
                HomeFate::Gone => "it had no files; its home is gone".into(),
                HomeFate::KeptOutsideData(home) => format!(
                    "its home {} is not under {} and was left in place",
                    home.display(),
                    opts.data_dir.join("home").display()
                ),
                HomeFate::KeptShared { home, with } => format!(
                    "its home {} is also {with}'s and was left in place",
                    home.display()
                ),
                HomeFate::KeptInBucket => format!(
                    "its files under home/{name}/ in the bucket were left in place; \
                     a new account {name} is refused until they are gone (or given --reuse-home)"
                ),
            };
            crate::admins::audit_cli(store.as_ref(), "accounts.remove", &name).await;
            println!("removed {name}; {home}");
        }
    }
    Ok(())
}

pub(crate) async fn require(store: &dyn AccountStore, name: &str) -> Result<Account> {
    store
        .find(name)
        .await?
        .filter(|a| a.status != AccountStatus::Folder)
        .with_context(|| format!("no account named {name:?} (see: wharfd users list)"))
}

pub(crate) fn format_time(unix: i64) -> String {
    let t = UtcTime::from_unix(unix);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

pub(crate) fn explain(
    name: &str,
) -> impl Fn(ftp_server::accounts::AccountError) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{e} (see: wharfd users list); account {name:?} unchanged")
}

pub(crate) fn read_password(from_stdin: bool) -> Result<String> {
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
