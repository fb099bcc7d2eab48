//! Where a session's files live: the [`Storage`] trait the commands use,
//! and its two backends, the jailed local filesystem ([`Jail`]) and
//! S3-compatible object storage ([`s3::S3Storage`]).
//!
//! Every operation takes a [`VirtualPath`], never a real path or key; each
//! backend has one resolver that maps it into the session's root (a
//! directory, or a key prefix) and nothing else.
//!
//! # Layout
//! - [`error`]: [`StorageError`], whose kinds name their reply codes.
//! - [`backend`]: [`StorageBackend`], which backend a server uses, opening
//!   a session's root in it, and its health check.
//! - [`disk`]: how full the local file system is, for the dashboard.
//! - [`bounded`]: [`bounded::Bounded`], which makes every call a session
//!   makes to a backend answer within `backend_timeout`.
//! - [`jail`]: [`Jail`], local path resolution and the file operations.
//! - [`local`]: [`Storage`] for [`Jail`].
//! - [`meta`]: [`Meta`], the facts a listing or SIZE/MDTM needs.
//! - [`upload`]: [`Upload`], a file being received that becomes visible
//!   only when complete, metered against a quota.
//! - [`file_upload`]: the local upload sink (temporary file, rename;
//!   appends in place under a lock).
//! - [`file_read`]: a local file's bytes at an offset appended to a
//!   buffer, from the page cache without a thread hop.
//! - [`handle`]: directory handles and file locks, so that uploads,
//!   deletes and renames act on the files they started with.
//! - [`lock_line`]: the order in which sessions take turns at a file's
//!   lock.
//! - [`namespace`]: the name locks that make measuring and replacing a
//!   name one step.
//! - [`listing`]: listing formats, and local listings streamed in bounded
//!   chunks.
//! - [`s3`]: the object-storage backend.

pub mod backend;
pub mod bounded;
pub mod disk;
pub mod error;
pub mod file_read;
pub mod file_upload;
pub mod handle;
pub mod jail;
pub mod listing;
pub mod local;
pub mod lock_line;
pub mod meta;
pub mod namespace;
pub mod s3;
pub mod upload;

pub use backend::StorageBackend;
pub use error::StorageError;
pub use file_upload::sweep_partial_uploads;
pub use jail::Jail;
pub use listing::{ListChunks, ListFormat};
pub use meta::Meta;
pub use upload::{CommitGate, Committed, LentMeter, Upload, UploadMode};

use ftp_proto::VirtualPath;
use std::pin::Pin;
use tokio::io::AsyncRead;

/// A session's files, wherever they are. The commands use only this.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// The backend's name for replies and logs (`local`, `s3`).
    fn kind(&self) -> &'static str;

    /// Whether the session may change anything.
    fn writable(&self) -> bool;

    /// Fails with 550 on a read-only root.
    fn require_writable(&self) -> Result<(), StorageError> {
        if self.writable() {
            Ok(())
        } else {
            Err(StorageError::PermissionDenied)
        }
    }

    /// Whether files' modification times can be set (MFMT, SFTP
    /// SETSTAT). Object stores cannot: an object's time is when it was
    /// stored.
    fn sets_times(&self) -> bool;

    /// The facts of a path, not following a final symbolic link.
    async fn stat(&self, path: &VirtualPath) -> Result<Meta, StorageError>;

    /// The facts of what a path names, following links (CWD, SIZE, RETR).
    async fn stat_target(&self, path: &VirtualPath) -> Result<Meta, StorageError>;

    /// Opens a regular file for reading from `offset`; an offset past its
    /// end is [`StorageError::InvalidRestart`].
    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(Download, Meta), StorageError>;

    /// Starts an upload that becomes visible only on commit.
    async fn begin_upload(
        &self,
        path: &VirtualPath,
        mode: UploadMode,
    ) -> Result<Upload, StorageError>;

    /// Starts listing a directory or a single file, in bounded chunks.
    /// Errors a client should see as a reply come before any byte.
    async fn list(
        &self,
        path: &VirtualPath,
        format: ListFormat,
        now_unix: i64,
    ) -> Result<ListChunks, StorageError>;

    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError>;

    /// Removes an empty directory.
    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError>;

    /// Removes a file and returns its size (for quota accounting).
    async fn remove_file(&self, path: &VirtualPath) -> Result<u64, StorageError>;

    /// Renames `from` to `to` and returns the size of the file it
    /// replaced, if any; with [`Overwrite::Never`], an existing `to` is
    /// [`StorageError::AlreadyExists`] and nothing changes.
    async fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
        overwrite: Overwrite,
    ) -> Result<u64, StorageError>;

    /// Sets the modification time of what `path` names (MFMT), in
    /// seconds since the Unix epoch. Object stores cannot: an object's
    /// time is when it was written.
    async fn set_modified(&self, path: &VirtualPath, unix_secs: i64) -> Result<(), StorageError>;
}

/// Whether a rename may replace what its target names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// FTP's RNTO and SFTP's posix-rename: a file at the target is replaced.
    Allowed,
    /// SFTP v3's RENAME: the target must not exist.
    Never,
}

/// A file opened for reading.
pub enum Download {
    /// A local file, sent from `offset` (with `sendfile` when it can).
    File { file: std::fs::File, offset: u64 },
    /// Bytes already positioned at the requested offset.
    Stream(Pin<Box<dyn AsyncRead + Send>>),
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Download::File { file, offset } => f
                .debug_struct("File")
                .field("file", file)
                .field("offset", offset)
                .finish(),
            Download::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// Temporary upload files start with this; they are hidden from listings
/// and cannot be named by a client.
pub const PART_PREFIX: &[u8] = b".wharf-part-";

/// Calls `visit` for every regular file under `root`, without following
/// links, and tells it whether the file is an unfinished upload's
/// temporary file. A missing `root` has no files.
pub fn walk_files(
    root: &std::path::Path,
    mut visit: impl FnMut(&std::fs::DirEntry, bool) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let partial = entry.file_name().as_bytes().starts_with(PART_PREFIX);
                visit(&entry, partial)?;
            }
        }
    }
    Ok(())
}

/// Runs a blocking filesystem operation off the async worker threads.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, StorageError>
where
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Io(std::io::Error::other(e)))?
}
