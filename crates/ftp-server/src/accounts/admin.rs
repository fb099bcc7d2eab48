//! Account administration that touches files: adding, approving and
//! removing accounts, and the rule that a name is never recycled silently.
//!
//! Removing an account moves its home, when that is a directory under
//! `DATA/home`, aside to `DATA/removed/NAME.<unix-time>` (outside every
//! home and the public tree). Adding or approving a name whose home already
//! holds something is refused unless the operator asks to reuse it, and a
//! reused home's usage is recounted from its files; self-registration of
//! such a name is refused as if the name were taken
//! ([`home_in_use`]). The `wharfd users` commands call these functions, and
//! so must any other administration front-end, so the rule lives here once.
//!
//! On S3 storage a home is the key prefix `home/NAME/`, which cannot be
//! moved: removal leaves its objects in place, and the same occupancy check
//! keeps the name from being given to someone else without the operator's
//! say-so.

use super::password::{hash_password, MAX_PASSWORD};
use super::{validate_name, Account, AccountError, AccountStatus, AccountStore, NameError};
use crate::options::ServerOptions;
use crate::quota::recount::{disk_usage, recount_account};
use crate::quota::size::format_size;
use crate::storage::backend::Root;
use crate::storage::{ListFormat, StorageBackend};
use ftp_proto::VirtualPath;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where removed accounts' homes go, under the data directory.
pub const REMOVED_DIR: &str = "removed";

/// Why an administrative change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("bad account name {name:?}: {source}")]
    BadName { name: String, source: NameError },
    #[error("account {0:?} already exists")]
    Exists(String),
    #[error("no account named {0:?}")]
    NotFound(String),
    #[error("{name:?} is not pending (it is {status})")]
    NotPending { name: String, status: &'static str },
    #[error("empty password refused")]
    EmptyPassword,
    #[error("password longer than {} bytes refused", MAX_PASSWORD)]
    PasswordTooLong,
    /// The home already holds an earlier owner's files.
    #[error("the home of {name:?} ({place}) already holds {in_use}, left by an earlier account")]
    HomeInUse {
        name: String,
        place: String,
        in_use: InUse,
    },
    /// The place removed homes go is inside a tree someone can see.
    #[error("cannot move homes aside to {}: it is inside {}", dest.display(), inside.display())]
    UnsafeDestination { dest: PathBuf, inside: PathBuf },
    /// The account is gone but its home could not be moved: the name stays
    /// unavailable until the home is dealt with by hand.
    #[error("account {name:?} was removed, but its home {} could not be moved aside and stays in place: {source}", home.display())]
    NotMovedAside {
        name: String,
        home: PathBuf,
        source: io::Error,
    },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot look at {place}: {message}")]
    Storage { place: String, message: String },
    #[error(transparent)]
    Store(#[from] AccountError),
}

/// What an occupied home holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InUse {
    /// Regular files (not counting unfinished uploads); on S3, the entries
    /// at the top of the prefix.
    pub files: u64,
    pub bytes: u64,
}

impl fmt::Display for InUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.files == 1 { "" } else { "s" };
        write!(
            f,
            "{} file{plural} ({})",
            self.files,
            format_size(self.bytes)
        )
    }
}

/// The home an account uses: its own, or `DATA/home/NAME`.
pub fn home_of(opts: &ServerOptions, account: &Account) -> PathBuf {
    account
        .home
        .clone()
        .unwrap_or_else(|| opts.default_home(&account.name))
}

/// What the home `dir` of `name` holds, if anything: any entry at all
/// (even an empty directory) makes it occupied. On S3 the prefix
/// `home/NAME/` is looked at instead of `dir`.
pub async fn home_in_use(
    backend: &StorageBackend,
    name: &str,
    dir: &Path,
) -> Result<Option<InUse>, AdminError> {
    match backend {
        StorageBackend::Local => {
            let dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || local_in_use(&dir))
                .await
                .map_err(|e| AccountError::Backend(e.to_string()))?
        }
        StorageBackend::S3(_) => bucket_in_use(backend, name).await,
    }
}

fn local_in_use(dir: &Path) -> Result<Option<InUse>, AdminError> {
    let io_err = |source| AdminError::Io {
        action: "read the home directory",
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    if entries.next().transpose().map_err(io_err)?.is_none() {
        return Ok(None);
    }
    let (bytes, files) = disk_usage(dir).map_err(io_err)?;
    Ok(Some(InUse { files, bytes }))
}

/// The bytes under `home/NAME/` (an error stops here), then whether its
/// listing shows any entry at all (empty files and directories count too).
async fn bucket_in_use(backend: &StorageBackend, name: &str) -> Result<Option<InUse>, AdminError> {
    let place = format!("home/{name}/ in the bucket");
    let storage_err = |message: String| AdminError::Storage {
        place: place.clone(),
        message,
    };
    let bytes = match backend.home_usage(name).await {
        Some(counted) => counted.map_err(storage_err)?,
        None => 0,
    };
    let root = backend
        .open(
            Root::Home {
                name,
                dir: Path::new(""),
            },
            false,
            crate::options::DEFAULT_BACKEND_TIMEOUT,
        )
        .map_err(|e| storage_err(e.to_string()))?;
    let mut chunks = root
        .list(&VirtualPath::root(), ListFormat::Names, 0)
        .await
        .map_err(|e| storage_err(e.to_string()))?;
    let mut files = 0u64;
    while let Some(chunk) = chunks.recv().await {
        let chunk = chunk.map_err(|e| storage_err(e.to_string()))?;
        files += chunk
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u64;
    }
    Ok((bytes > 0 || files > 0).then_some(InUse { files, bytes }))
}

/// Refuses `name`'s home if it is occupied, unless `reuse` allows it.
async fn check_home(
    opts: &ServerOptions,
    name: &str,
    dir: &Path,
    reuse: bool,
) -> Result<Option<InUse>, AdminError> {
    let in_use = home_in_use(&opts.storage, name, dir).await?;
    match in_use {
        Some(in_use) if !reuse => Err(AdminError::HomeInUse {
            name: name.to_string(),
            place: place_of(opts, name, dir),
            in_use,
        }),
        other => Ok(other),
    }
}

fn place_of(opts: &ServerOptions, name: &str, dir: &Path) -> String {
    match opts.storage {
        StorageBackend::Local => dir.display().to_string(),
        StorageBackend::S3(_) => format!("home/{name}/ in the bucket"),
    }
}

fn create_home(opts: &ServerOptions, dir: &Path) -> Result<(), AdminError> {
    match opts.storage {
        StorageBackend::Local => std::fs::create_dir_all(dir).map_err(|source| AdminError::Io {
            action: "create the home directory",
            path: dir.to_path_buf(),
            source,
        }),
        // A prefix exists once something is stored under it.
        StorageBackend::S3(_) => Ok(()),
    }
}

/// An account to add.
#[derive(Debug, Clone, Copy)]
pub struct NewAccount<'a> {
    pub name: &'a str,
    pub password: &'a [u8],
    /// An explicit home directory; `None` for `DATA/home/NAME`.
    pub home: Option<&'a Path>,
    /// Quota in bytes; `None` for unlimited.
    pub quota: Option<u64>,
    /// Give the new account what its home already holds.
    pub reuse_home: bool,
}

/// An account that is now active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activated {
    pub home: PathBuf,
    pub quota: Option<u64>,
    /// Usage as recounted from the home.
    pub used: u64,
    /// What the home already held, when it was reused.
    pub reused: Option<InUse>,
}

/// Adds an active account (`wharfd users add`).
pub async fn add(
    store: &dyn AccountStore,
    opts: &ServerOptions,
    new: NewAccount<'_>,
) -> Result<Activated, AdminError> {
    validate_name(new.name).map_err(|source| AdminError::BadName {
        name: new.name.to_string(),
        source,
    })?;
    if new.password.is_empty() {
        return Err(AdminError::EmptyPassword);
    }
    if new.password.len() > MAX_PASSWORD {
        return Err(AdminError::PasswordTooLong);
    }
    if store.find(new.name).await?.is_some() {
        return Err(AdminError::Exists(new.name.to_string()));
    }
    let dir = new
        .home
        .map_or_else(|| opts.default_home(new.name), Path::to_path_buf);
    let reused = check_home(opts, new.name, &dir, new.reuse_home).await?;
    create_home(opts, &dir)?;
    let home = match new.home {
        Some(h) => Some(std::fs::canonicalize(h).map_err(|source| AdminError::Io {
            action: "resolve the home directory",
            path: h.to_path_buf(),
            source,
        })?),
        None => None,
    };
    let password = new.password.to_vec();
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AccountError::Backend(e.to_string()))?
        .map_err(AccountError::Backend)?;
    let account = Account {
        name: new.name.to_string(),
        password_hash,
        home,
        status: AccountStatus::Active,
        created_at: unix_now(),
        registered_from: None,
        contact: None,
        quota_bytes: new.quota,
        used_bytes: 0,
    };
    match store.create(&account).await {
        Err(AccountError::Exists(name)) => return Err(AdminError::Exists(name)),
        other => other?,
    }
    let used = recount_account(&opts.storage, store, new.name, &dir).await?;
    Ok(Activated {
        home: dir,
        quota: new.quota,
        used,
        reused,
    })
}

/// Activates a pending registration (`wharfd users approve`), with a new
/// quota if `quota` is given.
pub async fn approve(
    store: &dyn AccountStore,
    opts: &ServerOptions,
    name: &str,
    quota: Option<Option<u64>>,
    reuse_home: bool,
) -> Result<Activated, AdminError> {
    let account = store
        .find(name)
        .await?
        .ok_or_else(|| AdminError::NotFound(name.to_string()))?;
    if account.status != AccountStatus::Pending {
        return Err(AdminError::NotPending {
            name: name.to_string(),
            status: account.status.as_str(),
        });
    }
    let dir = home_of(opts, &account);
    let reused = check_home(opts, name, &dir, reuse_home).await?;
    if let Some(q) = quota {
        store.set_quota(name, q).await?;
    }
    create_home(opts, &dir)?;
    let used = recount_account(&opts.storage, store, name, &dir).await?;
    store.set_status(name, AccountStatus::Active).await?;
    Ok(Activated {
        home: dir,
        quota: quota.unwrap_or(account.quota_bytes),
        used,
        reused,
    })
}

/// Rejects a pending registration (`wharfd users reject`, the console):
/// the account is removed (it never had a home) and the rejection is kept
/// with `reason`, for the registrant's `SITE REGSTATUS`. Returns the
/// account as it was, for its contact address.
pub async fn reject(
    store: &dyn AccountStore,
    name: &str,
    reason: &str,
) -> Result<Account, AdminError> {
    let account = require_status(store, name, AccountStatus::Pending).await?;
    store
        .reject(name, reason, crate::admission::now_unix())
        .await?;
    Ok(account)
}

/// The account `name`: what every admin function (CLI and console alike)
/// acts on. A shared folder's ledger row (status `folder`) is no account
/// and is never found here, so no account command can disable, remove or
/// re-password a folder.
pub async fn account(store: &dyn AccountStore, name: &str) -> Result<Account, AdminError> {
    store
        .find(name)
        .await?
        .filter(|a| a.status != AccountStatus::Folder)
        .ok_or_else(|| AdminError::NotFound(name.to_string()))
}

/// The account `name`, refused unless its status is `status`.
async fn require_status(
    store: &dyn AccountStore,
    name: &str,
    status: AccountStatus,
) -> Result<Account, AdminError> {
    let account = account(store, name).await?;
    if account.status != status {
        return Err(AdminError::NotPending {
            name: name.to_string(),
            status: account.status.as_str(),
        });
    }
    Ok(account)
}

/// Sets a new password (`wharfd users passwd`).
pub async fn set_password(
    store: &dyn AccountStore,
    name: &str,
    password: &[u8],
) -> Result<(), AdminError> {
    if password.is_empty() {
        return Err(AdminError::EmptyPassword);
    }
    if password.len() > MAX_PASSWORD {
        return Err(AdminError::PasswordTooLong);
    }
    account(store, name).await?;
    let hash = hash_password(password).map_err(|e| AccountError::Backend(e.to_string()))?;
    store.set_password_hash(name, &hash).await?;
    Ok(())
}

/// Which accounts [`search`] returns.
#[derive(Debug, Clone, Default)]
pub struct AccountQuery {
    /// Only names containing this (case-insensitive); empty for all.
    pub name: String,
    /// Only accounts with this status.
    pub status: Option<AccountStatus>,
    /// Skip this many matches.
    pub offset: usize,
    /// At most this many; `None` for all.
    pub limit: Option<usize>,
}

/// Accounts matching `query`, by name, and how many matched in all
/// (`wharfd users list` and `pending`, and the admin API).
pub async fn search(
    store: &dyn AccountStore,
    query: &AccountQuery,
) -> Result<(usize, Vec<Account>), AdminError> {
    let needle = query.name.to_lowercase();
    let matches: Vec<Account> = store
        .list()
        .await?
        .into_iter()
        // Shared folders' ledgers are not accounts.
        .filter(|a| a.status != AccountStatus::Folder)
        .filter(|a| query.status.is_none_or(|s| a.status == s))
        .filter(|a| a.name.to_lowercase().contains(&needle))
        .collect();
    let total = matches.len();
    let page = matches
        .into_iter()
        .skip(query.offset)
        .take(query.limit.unwrap_or(usize::MAX))
        .collect();
    Ok((total, page))
}

/// What became of a removed account's home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HomeFate {
    /// Moved aside to this directory.
    MovedTo(PathBuf),
    /// It did not exist, or was empty and was removed.
    Gone,
    /// Left in place: it is not under `DATA/home`.
    KeptOutsideData(PathBuf),
    /// Left in place: another account uses it too.
    KeptShared { home: PathBuf, with: String },
    /// Left in place: the prefix `home/NAME/` of a bucket (objects cannot
    /// be moved); the name stays unavailable while it holds anything.
    KeptInBucket,
}

/// Removes an account (`wharfd users remove`) and moves its home aside
/// (see the module doc).
pub async fn remove(
    store: &dyn AccountStore,
    opts: &ServerOptions,
    name: &str,
) -> Result<HomeFate, AdminError> {
    let account = account(store, name).await?;
    if let StorageBackend::S3(_) = opts.storage {
        store.remove(name).await?;
        return Ok(HomeFate::KeptInBucket);
    }
    let home = home_of(opts, &account);
    let others = store.list().await?;
    let plan = plan_removal(opts, &account.name, &home, &others)?;
    store.remove(name).await?;
    match plan {
        Plan::Keep(fate) => Ok(fate),
        Plan::Move { home, dest_dir } => {
            let at = home.clone();
            tokio::task::spawn_blocking(move || move_aside(&home, &dest_dir, &account.name))
                .await
                .map_err(|e| AccountError::Backend(e.to_string()))?
                .map_err(|source| AdminError::NotMovedAside {
                    name: name.to_string(),
                    home: at,
                    source,
                })
        }
    }
}

enum Plan {
    Keep(HomeFate),
    Move { home: PathBuf, dest_dir: PathBuf },
}

/// Decides, before anything changes, whether the home may be moved and
/// that the destination is outside the public tree and every home.
fn plan_removal(
    opts: &ServerOptions,
    name: &str,
    home: &Path,
    accounts: &[Account],
) -> Result<Plan, AdminError> {
    let home = match std::fs::canonicalize(home) {
        Ok(h) => h,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Plan::Keep(HomeFate::Gone)),
        Err(source) => {
            return Err(AdminError::Io {
                action: "resolve the home directory",
                path: home.to_path_buf(),
                source,
            })
        }
    };
    let homes_root = canonical_or_self(&opts.data_dir.join("home"));
    if home == homes_root || !home.starts_with(&homes_root) {
        return Ok(Plan::Keep(HomeFate::KeptOutsideData(home)));
    }
    for other in accounts.iter().filter(|a| a.name != name) {
        if canonical_or_self(&home_of(opts, other)) == home {
            return Ok(Plan::Keep(HomeFate::KeptShared {
                home,
                with: other.name.clone(),
            }));
        }
    }
    let dest_dir = canonical_or_self(&opts.data_dir).join(REMOVED_DIR);
    let visible = std::iter::once(canonical_or_self(&opts.anon_root)).chain(
        accounts
            .iter()
            .map(|a| canonical_or_self(&home_of(opts, a))),
    );
    for tree in visible {
        if dest_dir.starts_with(&tree) {
            return Err(AdminError::UnsafeDestination {
                dest: dest_dir,
                inside: tree,
            });
        }
    }
    Ok(Plan::Move { home, dest_dir })
}

/// `path` with links resolved, or as given where it does not exist yet.
fn canonical_or_self(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Moves `home` to `dest_dir/NAME.<unix-time>` (with `.1`, `.2`… after it
/// when that is taken), or removes it when it is empty.
fn move_aside(home: &Path, dest_dir: &Path, name: &str) -> io::Result<HomeFate> {
    if std::fs::remove_dir(home).is_ok() {
        return Ok(HomeFate::Gone);
    }
    std::fs::create_dir_all(dest_dir)?;
    let stamp = unix_now();
    for n in 0..100u32 {
        let leaf = match n {
            0 => format!("{name}.{stamp}"),
            n => format!("{name}.{stamp}.{n}"),
        };
        let dest = dest_dir.join(leaf);
        // rename(2) would replace an empty directory: skip every name that
        // exists, and a non-empty one is never replaced anyway.
        if dest.symlink_metadata().is_ok() {
            continue;
        }
        match std::fs::rename(home, &dest) {
            Ok(()) => return Ok(HomeFate::MovedTo(dest)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::AlreadyExists | io::ErrorKind::DirectoryNotEmpty
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free name for it in {}", dest_dir.display()),
    ))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::SqliteStore;
    use std::fs;

    async fn setup() -> (tempfile::TempDir, ServerOptions, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let opts = ServerOptions::new(dir.path());
        let store = SqliteStore::open(&opts.account_db()).await.unwrap();
        (dir, opts, store)
    }

    fn new(name: &str, reuse_home: bool) -> NewAccount<'_> {
        NewAccount {
            name,
            password: b"a-long-password",
            home: None,
            quota: Some(1000),
            reuse_home,
        }
    }

    #[tokio::test]
    async fn removed_home_moves_aside_and_the_name_starts_empty() {
        let (_dir, opts, store) = setup().await;
        add(&store, &opts, new("zed", false)).await.unwrap();
        let home = opts.default_home("zed");
        fs::write(home.join("old.txt"), b"old owner's").unwrap();
        let HomeFate::MovedTo(dest) = remove(&store, &opts, "zed").await.unwrap() else {
            panic!("not moved");
        };
        assert!(dest.starts_with(opts.data_dir.join(REMOVED_DIR)));
        assert_eq!(fs::read(dest.join("old.txt")).unwrap(), b"old owner's");
        assert!(!home.exists());
        let added = add(&store, &opts, new("zed", false)).await.unwrap();
        assert_eq!((added.used, added.reused), (0, None));
        assert_eq!(fs::read_dir(&home).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn occupied_home_refused_unless_reused_then_recounted() {
        let (_dir, opts, store) = setup().await;
        let home = opts.default_home("zed");
        fs::create_dir_all(home.join("d")).unwrap();
        fs::write(home.join("d/f"), vec![0; 700]).unwrap();
        let refused = add(&store, &opts, new("zed", false)).await.unwrap_err();
        assert!(matches!(
            refused,
            AdminError::HomeInUse {
                in_use: InUse {
                    files: 1,
                    bytes: 700
                },
                ..
            }
        ));
        assert!(store.find("zed").await.unwrap().is_none());
        let added = add(&store, &opts, new("zed", true)).await.unwrap();
        assert_eq!(added.used, 700);
        assert_eq!(
            added.reused,
            Some(InUse {
                files: 1,
                bytes: 700
            })
        );
        assert_eq!(store.find("zed").await.unwrap().unwrap().used_bytes, 700);
    }

    #[tokio::test]
    async fn approve_checks_the_home_too() {
        let (_dir, opts, store) = setup().await;
        let pending = Account {
            name: "amy".into(),
            password_hash: "h".into(),
            home: None,
            status: AccountStatus::Pending,
            created_at: 1,
            registered_from: None,
            contact: None,
            quota_bytes: Some(10),
            used_bytes: 0,
        };
        store.create(&pending).await.unwrap();
        fs::create_dir_all(opts.default_home("amy").join("empty-dir")).unwrap();
        assert!(matches!(
            approve(&store, &opts, "amy", None, false).await,
            Err(AdminError::HomeInUse { .. })
        ));
        assert_eq!(store.find("amy").await.unwrap().unwrap(), pending);
        let done = approve(&store, &opts, "amy", Some(None), true)
            .await
            .unwrap();
        assert_eq!((done.used, done.quota), (0, None));
        assert!(matches!(
            approve(&store, &opts, "amy", None, true).await,
            Err(AdminError::NotPending { .. })
        ));
    }

    #[tokio::test]
    async fn homes_outside_data_home_or_shared_stay() {
        let (dir, opts, store) = setup().await;
        let outside = dir.path().join("elsewhere");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("f"), b"x").unwrap();
        let mut a = new("out", true);
        a.home = Some(&outside);
        add(&store, &opts, a).await.unwrap();
        assert!(matches!(
            remove(&store, &opts, "out").await.unwrap(),
            HomeFate::KeptOutsideData(_)
        ));
        assert!(outside.join("f").exists());

        let shared = opts.default_home("one");
        add(&store, &opts, new("one", false)).await.unwrap();
        fs::write(shared.join("f"), b"x").unwrap();
        let mut two = new("two", true);
        two.home = Some(&shared);
        add(&store, &opts, two).await.unwrap();
        assert!(matches!(
            remove(&store, &opts, "one").await.unwrap(),
            HomeFate::KeptShared { .. }
        ));
        assert!(shared.join("f").exists());
        assert!(matches!(
            remove(&store, &opts, "nobody").await,
            Err(AdminError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn never_moves_into_the_public_tree() {
        let (_dir, mut opts, store) = setup().await;
        opts.anon_root = opts.data_dir.clone();
        add(&store, &opts, new("zed", false)).await.unwrap();
        fs::write(opts.default_home("zed").join("f"), b"x").unwrap();
        assert!(matches!(
            remove(&store, &opts, "zed").await,
            Err(AdminError::UnsafeDestination { .. })
        ));
        assert!(store.find("zed").await.unwrap().is_some());
    }
}
