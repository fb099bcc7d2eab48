//! Where a session's files live: the jailed local filesystem.
//!
//! Every path a client names goes through [`Jail::resolve`], the one place
//! that turns a [`VirtualPath`](ftp_proto::VirtualPath) into a real path,
//! and every operation here takes a virtual path, never a real one.
//!
//! # Layout
//! - [`error`]: [`StorageError`], whose kinds name their reply codes.
//! - [`jail`]: [`Jail`], path resolution and the file operations.
//! - [`meta`]: [`Meta`], the facts a listing or SIZE/MDTM needs.
//! - [`upload`]: [`Upload`], a file being received that replaces its
//!   target only when complete.
//! - [`listing`]: directory listings streamed in bounded chunks.

pub mod error;
pub mod jail;
pub mod listing;
pub mod meta;
pub mod upload;

pub use error::StorageError;
pub use jail::Jail;
pub use listing::ListFormat;
pub use meta::Meta;
pub use upload::{sweep_partial_uploads, Upload, UploadMode};

/// Temporary upload files start with this; they are hidden from listings
/// and cannot be named by a client.
pub const PART_PREFIX: &[u8] = b".wharf-part-";

/// Serialises the operations that replace or remove names (an upload's
/// final rename, DELE, RNTO) with the measurement of what they replace, so
/// two of them on one name cannot both count the same old file. Each holds
/// it only for a `stat` and a `rename`/`unlink`.
pub(crate) fn namespace_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
