//! Local names for remote files. A server chooses the names it lists, so
//! a name is used only if it is one plain path component: not empty, not
//! `.` or `..`, and without `/`, `\` or NUL. Anything else is skipped with
//! a warning, so nothing is ever written outside the target directory.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Whether `name` is safe to create inside a local directory.
pub fn is_safe(name: &[u8]) -> bool {
    !name.is_empty()
        && name != b"."
        && name != b".."
        && !name.iter().any(|&b| matches!(b, b'/' | b'\\' | 0))
}

/// `dir/name`, if `name` is safe.
pub fn local_child(dir: &Path, name: &[u8]) -> Option<PathBuf> {
    is_safe(name).then(|| dir.join(OsStr::from_bytes(name)))
}

/// A name for messages, with control characters escaped.
pub fn show(name: &[u8]) -> String {
    crate::term::escape(name)
}

/// What every temporary download name holds, so a mirror leaves them out.
const PART_MARK: &[u8] = b".wharf-part";

/// The temporary name a download is written to before it is complete
/// (one per process, so two downloads of one file do not mix).
pub fn partial(path: &Path) -> PathBuf {
    hidden_beside(path, format!("-{}", std::process::id()).as_bytes())
}

/// Where an unfinished download is kept for `-c` to resume.
pub fn resumable(path: &Path) -> PathBuf {
    hidden_beside(path, b"")
}

/// Whether a local name is one of [`partial`] or [`resumable`].
pub fn is_partial(name: &[u8]) -> bool {
    name.starts_with(b".") && name.windows(PART_MARK.len()).any(|w| w == PART_MARK)
}

fn hidden_beside(path: &Path, suffix: &[u8]) -> PathBuf {
    let mut name = b".".to_vec();
    name.extend_from_slice(path.file_name().map_or(&b"download"[..], |n| n.as_bytes()));
    name.extend_from_slice(PART_MARK);
    name.extend_from_slice(suffix);
    path.with_file_name(OsStr::from_bytes(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused() {
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"../evil",
            b"/etc/x",
            b"a\\b",
            b"a\0b",
            b"x/",
        ] {
            assert!(!is_safe(bad), "{bad:?}");
        }
        for good in [&b"a"[..], b"...", b" x", b"caf\xe9", b"..x"] {
            assert!(is_safe(good), "{good:?}");
        }
        assert_eq!(local_child(Path::new("/t"), b"../x"), None);
        assert_eq!(
            partial(Path::new("/t/f.bin")).parent(),
            Some(Path::new("/t"))
        );
        assert_eq!(
            resumable(Path::new("/t/f.bin")),
            Path::new("/t/.f.bin.wharf-part")
        );
        for p in [partial(Path::new("f")), resumable(Path::new("f"))] {
            assert!(is_partial(p.as_os_str().as_bytes()), "{p:?}");
        }
        assert!(!is_partial(b"f.wharf-part"));
    }
}
