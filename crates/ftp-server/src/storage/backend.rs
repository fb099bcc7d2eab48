//! [`StorageBackend`]: which storage a server keeps its files in, chosen
//! once at start, and how a session's root is opened in it.

use super::bounded::Bounded;
use super::s3::S3Bucket;
use super::{Jail, Storage};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Where the server keeps its files.
#[derive(Debug, Clone, Default)]
pub enum StorageBackend {
    /// The local filesystem: `pub/` and the homes under the data directory.
    #[default]
    Local,
    /// An S3-compatible bucket: `pub/` and `home/NAME/` under its prefix.
    S3(Arc<S3Bucket>),
}

/// A session's root.
#[derive(Debug, Clone, Copy)]
pub enum Root<'a> {
    /// The anonymous area, read-only: `dir` locally, `pub/` in a bucket.
    Public { dir: &'a Path },
    /// An account's home: `dir` locally (created if missing),
    /// `home/NAME/` in a bucket.
    Home { name: &'a str, dir: &'a Path },
}

impl StorageBackend {
    /// Opens a session's root; `durable` is `durable_uploads` (local
    /// storage only: an object store's commit is durable when it answers).
    /// Every call to the root answers within `limit` (`backend_timeout`;
    /// see [`super::bounded`]).
    pub fn open(
        &self,
        root: Root<'_>,
        durable: bool,
        limit: Duration,
    ) -> std::io::Result<Arc<dyn Storage>> {
        let storage: Arc<dyn Storage> = match (self, root) {
            (StorageBackend::Local, Root::Public { dir }) => Arc::new(Jail::new(dir, false)?),
            (StorageBackend::Local, Root::Home { dir, .. }) => {
                std::fs::create_dir_all(dir)?;
                Arc::new(Jail::new(dir, true)?.with_durability(durable))
            }
            (StorageBackend::S3(bucket), Root::Public { .. }) => {
                Arc::new(bucket.open(&["pub"], false))
            }
            (StorageBackend::S3(bucket), Root::Home { name, .. }) => {
                Arc::new(bucket.open(&["home", name], true))
            }
        };
        Ok(Bounded::wrap(storage, limit))
    }

    /// Bytes an account's home holds, counted from the storage itself (for
    /// a recount); `None` for the local filesystem, which the quota module
    /// counts from disk.
    pub async fn home_usage(&self, name: &str) -> Option<Result<u64, String>> {
        match self {
            StorageBackend::Local => None,
            StorageBackend::S3(bucket) => Some(bucket.usage(&["home", name]).await),
        }
    }

    /// Whether the storage answers, within `wait`: for a health check.
    /// The local filesystem always does.
    pub async fn check(&self, wait: Duration) -> Result<(), String> {
        match self {
            StorageBackend::Local => Ok(()),
            StorageBackend::S3(bucket) => bucket.check(wait).await,
        }
    }

    /// Whether files' modification times can be set (MFMT): not in an
    /// object store.
    pub fn sets_times(&self) -> bool {
        matches!(self, StorageBackend::Local)
    }

    /// A one-line description for the start-up log (never secrets).
    pub fn describe(&self) -> String {
        match self {
            StorageBackend::Local => "local filesystem".into(),
            StorageBackend::S3(bucket) => bucket.describe(),
        }
    }
}
