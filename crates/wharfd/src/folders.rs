//! `wharfd folders …`: shared folders (see `ftp_server::folders`), their
//! quotas and usage, and where accounts and groups mount them.

use crate::cli::{FoldersCommand, Named};
use crate::users::open;
use anyhow::{bail, Result};
use ftp_server::accounts::{AccountStatus, AccountStore};
use ftp_server::folders::{self, ledger};
use ftp_server::policy::Policy;
use ftp_server::quota::recount::recount;
use ftp_server::quota::size::{format_size, parse_size};

fn quota_text(quota: Option<u64>) -> String {
    quota.map_or_else(|| "none".into(), format_size)
}

/// Where `folder` is mounted: `user NAME at VPATH`, `group NAME at VPATH`.
async fn mounted_by(store: &dyn AccountStore, folder: &str) -> Result<Vec<String>> {
    let at = |kind: &str, name: &str, p: &Policy| -> Vec<String> {
        p.mounts
            .iter()
            .filter(|m| m.folder == folder)
            .map(|m| format!("{kind} {name} at {}", m.at))
            .collect()
    };
    let mut out = Vec::new();
    for a in store.list().await? {
        if a.status != AccountStatus::Folder {
            out.extend(at("user", &a.name, &store.policy(&a.name).await?));
        }
    }
    for g in store.groups().await? {
        out.extend(at("group", &g.name, &g.policy));
    }
    Ok(out)
}

pub async fn run(cmd: FoldersCommand) -> Result<()> {
    match cmd {
        FoldersCommand::Add {
            name,
            dir,
            quota,
            location,
        } => {
            let (store, _) = open(&location).await?;
            let quota = match quota.as_deref() {
                Some(text) => parse_size(text).map_err(anyhow::Error::msg)?,
                None => None,
            };
            std::fs::create_dir_all(&dir).map_err(|e| {
                anyhow::anyhow!("cannot make the folder's directory {}: {e}", dir.display())
            })?;
            folders::create(store.as_ref(), &name, dir.clone(), quota).await?;
            let used = recount(store.as_ref(), &ledger(&name), &dir).await?;
            println!(
                "folder {name} added over {} (quota {}, using {}); mount it with: wharfd users mount ACCOUNT {name} /{name}",
                dir.display(),
                quota_text(quota),
                format_size(used)
            );
        }
        FoldersCommand::List { location } => {
            let (store, _) = open(&location).await?;
            let all = folders::list(store.as_ref()).await?;
            if all.is_empty() {
                println!("no folders; add one with: wharfd folders add NAME --dir DIR");
            } else {
                println!("{:<24} {:>10} {:>10}  DIR", "NAME", "USED", "QUOTA");
            }
            for f in all {
                println!(
                    "{:<24} {:>10} {:>10}  {}",
                    f.name,
                    format_size(f.used),
                    quota_text(f.quota),
                    f.dir.display()
                );
            }
        }
        FoldersCommand::Show(Named { name, location }) => {
            let (store, _) = open(&location).await?;
            let f = folders::find(store.as_ref(), &name).await?;
            println!("folder {} over {}", f.name, f.dir.display());
            println!(
                "quota {}, using {} ({} bytes)",
                quota_text(f.quota),
                format_size(f.used),
                f.used
            );
            let users = mounted_by(store.as_ref(), &name).await?;
            if users.is_empty() {
                println!("mounted nowhere");
            }
            for line in users {
                println!("mounted by {line}");
            }
        }
        FoldersCommand::Quota {
            name,
            size,
            location,
        } => {
            let (store, _) = open(&location).await?;
            folders::find(store.as_ref(), &name).await?;
            let quota = parse_size(&size).map_err(anyhow::Error::msg)?;
            store.set_quota(&ledger(&name), quota).await?;
            println!("folder {name}: quota {}", quota_text(quota));
        }
        FoldersCommand::Recount(Named { name, location }) => {
            let (store, _) = open(&location).await?;
            let f = folders::find(store.as_ref(), &name).await?;
            let used = recount(store.as_ref(), &ledger(&name), &f.dir).await?;
            println!(
                "folder {name}: {} (was {})",
                format_size(used),
                format_size(f.used)
            );
        }
        FoldersCommand::Remove {
            name,
            force,
            location,
        } => {
            let (store, _) = open(&location).await?;
            let f = folders::find(store.as_ref(), &name).await?;
            let users = mounted_by(store.as_ref(), &name).await?;
            if !users.is_empty() && !force {
                bail!(
                    "folder {name} is still mounted ({}); nothing changed. Unmount it first, or pass --force (its mounts then show nothing)",
                    users.join("; ")
                );
            }
            store.remove(&ledger(&name)).await?;
            println!(
                "folder {name} removed; its files stay in {}",
                f.dir.display()
            );
        }
    }
    Ok(())
}
