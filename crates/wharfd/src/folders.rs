//! `wharfd folders …`: shared folders (see `ftp_server::folders`), their
//! quotas and usage, and where accounts and groups mount them.

use crate::cli::{FoldersCommand, Named};
use crate::users::open;
use anyhow::Result;
use ftp_server::folders::{self, ledger, FolderError};
use ftp_server::quota::recount::recount;
use ftp_server::quota::size::{format_size, parse_size};

fn quota_text(quota: Option<u64>) -> String {
    quota.map_or_else(|| "none".into(), format_size)
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
            let used = folders::add(store.as_ref(), &name, dir.clone(), quota).await?;
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
            let users = folders::mounted_by(store.as_ref(), &name).await?;
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
            let quota = parse_size(&size).map_err(anyhow::Error::msg)?;
            folders::set_quota(store.as_ref(), &name, quota).await?;
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
            let f = folders::remove(store.as_ref(), &name, force)
                .await
                .map_err(|e| match e {
                    FolderError::Mounted { .. } => anyhow::anyhow!(
                        "{e}; nothing changed. Unmount it first, or pass --force (its mounts then show nothing)"
                    ),
                    e => e.into(),
                })?;
            println!(
                "folder {name} removed; its files stay in {}",
                f.dir.display()
            );
        }
    }
    Ok(())
}
