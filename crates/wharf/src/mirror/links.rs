//! Symbolic links in a mirror: which remote links a download may
//! recreate here. A link is recreated only when its target is relative
//! and, resolved from the link's directory, stays inside the mirrored
//! tree, so a hostile server cannot plant a link to `/etc` or `../..`
//! in the user's directory. Following links (`--dereference`) is decided
//! in [`super::tree`].

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What to do with symbolic links (`--dereference`, `--no-symlinks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Recreate safe ones when downloading; skip when uploading.
    Keep,
    /// Transfer what they point to.
    Follow,
    Skip,
}

/// Whether the link at `rel` (a path inside the tree) pointing at
/// `target` stays inside the tree.
pub fn stays_inside(rel: &[u8], target: &[u8]) -> bool {
    if target.is_empty() || target.starts_with(b"/") || target.contains(&0) {
        return false;
    }
    // The link's directory, as a depth below the root.
    let mut depth = rel.split(|&b| b == b'/').filter(|c| !c.is_empty()).count();
    depth = depth.saturating_sub(1);
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
            }
            _ => depth += 1,
        }
    }
    true
}

/// Makes (or corrects) the local link `path` → `target`; `false` when it
/// already pointed there.
pub fn make(path: &Path, target: &[u8]) -> std::io::Result<bool> {
    let target = Path::new(std::ffi::OsStr::from_bytes(target));
    match std::fs::read_link(path) {
        Ok(now) if now == target => return Ok(false),
        Ok(_) => std::fs::remove_file(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // Something else is there (a file, a directory): leave it.
        Err(e) => return Err(e),
    }
    std::os::unix::fs::symlink(target, path)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_links_that_stay_inside_the_tree() {
        assert!(stays_inside(b"a", b"b"));
        assert!(stays_inside(b"dir/a", b"../b"));
        assert!(stays_inside(b"dir/a", b"./sub/../c"));
        assert!(!stays_inside(b"a", b"../b"));
        assert!(!stays_inside(b"dir/a", b"../../b"));
        assert!(!stays_inside(b"a", b"/etc/passwd"));
        assert!(!stays_inside(b"a", b""));
        assert!(!stays_inside(b"dir/a", b"x/../../../y"));
    }

    #[test]
    fn made_once_and_corrected() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("l");
        assert!(make(&link, b"one").unwrap());
        assert!(!make(&link, b"one").unwrap());
        assert!(make(&link, b"two").unwrap());
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("two"));
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert!(
            make(&file, b"one").is_err(),
            "a real file is never replaced"
        );
    }
}
