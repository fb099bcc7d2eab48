//! Recounting usage from the files themselves: the sum of the sizes of the
//! regular files under a home, not following links and not counting the
//! temporary files of unfinished uploads; or, on S3, of the objects under
//! the account's prefix.

use crate::accounts::{AccountError, AccountStore};
use crate::storage::{walk_files, StorageBackend};
use std::io;
use std::path::Path;

/// Bytes and files under `root`.
pub fn disk_usage(root: &Path) -> io::Result<(u64, u64)> {
    let mut bytes = 0u64;
    let mut files = 0u64;
    walk_files(root, |entry, partial| {
        if !partial {
            bytes += entry.metadata()?.len();
            files += 1;
        }
        Ok(())
    })?;
    Ok((bytes, files))
}

/// Recounts `name`'s home and records the result; returns the bytes.
///
/// A recount is exact when no upload of the account is running; one that
/// is will settle its own difference when it ends.
pub async fn recount(
    store: &dyn AccountStore,
    name: &str,
    home: &Path,
) -> Result<u64, AccountError> {
    let home = home.to_path_buf();
    let (bytes, _files) = tokio::task::spawn_blocking(move || disk_usage(&home))
        .await
        .map_err(|e| AccountError::Backend(e.to_string()))?
        .map_err(|e| AccountError::Backend(format!("cannot read the home directory: {e}")))?;
    store.set_used(name, bytes).await?;
    Ok(bytes)
}

/// Recounts `name`'s usage where its files are kept: `local_home` on the
/// local filesystem, its prefix in a bucket. Records and returns the bytes.
pub async fn recount_account(
    backend: &StorageBackend,
    store: &dyn AccountStore,
    name: &str,
    local_home: &Path,
) -> Result<u64, AccountError> {
    match backend.home_usage(name).await {
        None => recount(store, name, local_home).await,
        Some(counted) => {
            let used = counted.map_err(|e| {
                AccountError::Backend(format!(
                    "cannot list the files of {name} in the bucket: {e}"
                ))
            })?;
            store.set_used(name, used).await?;
            Ok(used)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn sums_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("a"), vec![0; 10]).unwrap();
        fs::write(dir.path().join("d/b"), vec![0; 5]).unwrap();
        fs::write(dir.path().join("d/.wharf-part-x"), vec![0; 100]).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        assert_eq!(disk_usage(dir.path()).unwrap(), (15, 2));
        assert_eq!(disk_usage(&dir.path().join("missing")).unwrap(), (0, 0));
    }
}
