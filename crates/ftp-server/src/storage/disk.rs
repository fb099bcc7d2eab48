//! How full the file system under a directory is (`statvfs`), for the
//! admin console's dashboard: the disk the local backend writes to.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A file system's size and what is left of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    pub total_bytes: u64,
    /// What an unprivileged writer may still use.
    pub free_bytes: u64,
}

/// The file system holding `path`.
pub fn disk_space(path: &Path) -> io::Result<DiskSpace> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path and `st` is writable memory of
    // the struct's size, which statvfs fills on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let st = unsafe { st.assume_init() };
    let block = st.f_frsize;
    Ok(DiskSpace {
        total_bytes: st.f_blocks.saturating_mul(block),
        free_bytes: st.f_bavail.saturating_mul(block),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_directory_has_a_size_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let d = disk_space(dir.path()).unwrap();
        assert!(d.total_bytes > 0 && d.free_bytes <= d.total_bytes, "{d:?}");
        assert!(disk_space(&dir.path().join("none")).is_err());
    }
}
