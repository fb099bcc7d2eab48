//! Shared folders: a directory the operator mounts at a virtual path in
//! several accounts' (or groups') trees, with its own usage ledger and
//! optional quota that all its users share.
//!
//! A folder's ledger is a row of the account store with the status
//! `folder` and the name `folder:NAME` (a name no account can have), so
//! the quota machinery — reservations as bytes arrive, one atomic update
//! per commit, the shared reservations of several instances — counts a
//! folder exactly as it counts an account: every byte in the folder once,
//! to the folder, whoever uploaded it. Such a row never logs in.
//!
//! Where a folder appears is part of a policy (`mount NAME VPATH`, see
//! [`crate::policy::text`]); at login [`mount`] opens each one the
//! account's policy and its groups' name.

use crate::accounts::{validate_name, Account, AccountError, AccountStatus, AccountStore};
use crate::options::ServerOptions;
use crate::policy::Layers;
use crate::quota::QuotaLedger;
use crate::service::{Area, Mounted};
use crate::storage::backend::Root;
use crate::storage::Storage;
use ftp_proto::VirtualPath;
use std::path::PathBuf;

/// What folder ledgers are called in the account store.
const LEDGER_PREFIX: &str = "folder:";

/// The account-store name of folder `name`'s ledger.
pub fn ledger(name: &str) -> String {
    format!("{LEDGER_PREFIX}{name}")
}

/// A shared folder as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub name: String,
    pub dir: PathBuf,
    pub quota: Option<u64>,
    pub used: u64,
}

impl Folder {
    fn from_row(row: Account) -> Option<Folder> {
        if row.status != AccountStatus::Folder {
            return None;
        }
        Some(Folder {
            name: row.name.strip_prefix(LEDGER_PREFIX)?.to_string(),
            dir: row.home?,
            quota: row.quota_bytes,
            used: row.used_bytes,
        })
    }
}

/// Why a folder command failed.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("folder name {0:?}: {1}")]
    BadName(String, crate::accounts::NameError),
    #[error("folder {0:?} already exists")]
    Exists(String),
    #[error("no folder named {0:?}; see: wharfd folders list")]
    NotFound(String),
    #[error("the folder's directory must be an absolute path, not {0:?}")]
    RelativeDir(PathBuf),
    #[error("cannot make the folder's directory {}: {source}", dir.display())]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("folder {name} is still mounted ({})", by.join("; "))]
    Mounted { name: String, by: Vec<String> },
    #[error(transparent)]
    Store(#[from] AccountError),
}

/// Adds a folder over `dir` (made if missing) with `quota`.
pub async fn create(
    store: &dyn AccountStore,
    name: &str,
    dir: PathBuf,
    quota: Option<u64>,
) -> Result<(), FolderError> {
    validate_name(name).map_err(|e| FolderError::BadName(name.to_string(), e))?;
    if !dir.is_absolute() {
        return Err(FolderError::RelativeDir(dir));
    }
    let row = Account {
        name: ledger(name),
        // Not a PHC string: no password ever matches it.
        password_hash: "!".into(),
        home: Some(dir),
        status: AccountStatus::Folder,
        created_at: crate::admission::now_unix(),
        registered_from: None,
        quota_bytes: quota,
        used_bytes: 0,
        contact: None,
    };
    match store.create(&row).await {
        Err(AccountError::Exists(_)) => Err(FolderError::Exists(name.to_string())),
        other => Ok(other?),
    }
}

/// Adds a folder as `wharfd folders add` does: makes `dir` if missing,
/// adds the folder, and counts what `dir` already holds. Returns that
/// usage.
pub async fn add(
    store: &dyn AccountStore,
    name: &str,
    dir: PathBuf,
    quota: Option<u64>,
) -> Result<u64, FolderError> {
    validate_name(name).map_err(|e| FolderError::BadName(name.to_string(), e))?;
    if !dir.is_absolute() {
        return Err(FolderError::RelativeDir(dir));
    }
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|source| FolderError::Dir {
            dir: dir.clone(),
            source,
        })?;
    create(store, name, dir.clone(), quota).await?;
    Ok(crate::quota::recount::recount(store, &ledger(name), &dir).await?)
}

/// Sets folder `name`'s quota (`None`: unlimited); running sessions see
/// it at their next upload, as an account's.
pub async fn set_quota(
    store: &dyn AccountStore,
    name: &str,
    quota: Option<u64>,
) -> Result<(), FolderError> {
    find(store, name).await?;
    Ok(store.set_quota(&ledger(name), quota).await?)
}

/// Where folder `name` is mounted: `user NAME at VPATH`, `group NAME at
/// VPATH`.
pub async fn mounted_by(store: &dyn AccountStore, name: &str) -> Result<Vec<String>, FolderError> {
    let at = |kind: &str, holder: &str, p: &crate::policy::Policy| -> Vec<String> {
        p.mounts
            .iter()
            .filter(|m| m.folder == name)
            .map(|m| format!("{kind} {holder} at {}", m.at))
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

/// Removes folder `name` (its files stay in its directory); one that is
/// still mounted only if `force`. Returns what it was.
pub async fn remove(
    store: &dyn AccountStore,
    name: &str,
    force: bool,
) -> Result<Folder, FolderError> {
    let folder = find(store, name).await?;
    let by = mounted_by(store, name).await?;
    if !by.is_empty() && !force {
        return Err(FolderError::Mounted {
            name: name.to_string(),
            by,
        });
    }
    store.remove(&ledger(name)).await?;
    Ok(folder)
}

/// Every folder, by name.
pub async fn list(store: &dyn AccountStore) -> Result<Vec<Folder>, FolderError> {
    Ok(store
        .list()
        .await?
        .into_iter()
        .filter_map(Folder::from_row)
        .collect())
}

/// The folder `name`.
pub async fn find(store: &dyn AccountStore, name: &str) -> Result<Folder, FolderError> {
    store
        .find(&ledger(name))
        .await?
        .and_then(Folder::from_row)
        .ok_or_else(|| FolderError::NotFound(name.to_string()))
}

/// Opens the folders `layers` mounts, for a session whose home is `home`:
/// each with its storage and its ledger, and its mount point made in the
/// home (so listings of the parent show it). A folder that no longer
/// exists or cannot be opened is left out and logged; the session's own
/// files stay reachable.
pub async fn mount(
    layers: &Layers,
    opts: &ServerOptions,
    store: &dyn AccountStore,
    quota: &QuotaLedger,
    home: &dyn Storage,
) -> Vec<Mounted> {
    let mut mounted = Vec::new();
    for m in layers.mounts() {
        match open(&m.folder, opts, store, quota).await {
            Ok(area) => {
                make_mount_point(home, &m.at).await;
                mounted.push(Mounted {
                    at: m.at.clone(),
                    area,
                });
            }
            Err(e) => {
                tracing::warn!(folder = %m.folder, at = %m.at, error = %e, "shared folder not mounted")
            }
        }
    }
    mounted
}

async fn open(
    name: &str,
    opts: &ServerOptions,
    store: &dyn AccountStore,
    quota: &QuotaLedger,
) -> Result<Area, FolderError> {
    let folder = find(store, name).await?;
    let ledger = ledger(name);
    let storage = opts
        .storage
        .open(
            Root::Home {
                name: &ledger,
                dir: &folder.dir,
            },
            opts.durable_uploads,
            opts.backend_timeout,
        )
        .map_err(|e| AccountError::Backend(format!("cannot open {}: {e}", folder.dir.display())))?;
    let usage = quota.account(&ledger).await?;
    Ok(Area {
        storage,
        usage: Some(usage),
    })
}

/// Makes the directories down to `at` in the home, where missing.
async fn make_mount_point(home: &dyn Storage, at: &VirtualPath) {
    let mut path = VirtualPath::root();
    for part in at.components() {
        let Ok(next) = path.join(part) else { return };
        path = next;
        if home.stat(&path).await.is_err() {
            if let Err(e) = home.mkdir(&path).await {
                tracing::debug!(%path, error = %e, "mount point not made in the home");
                return;
            }
        }
    }
}
