//! The S3 backend's one resolver: virtual paths to object keys under a
//! session's prefix, and listed key segments back to names.
//!
//! Each path component becomes one key segment, unchanged, so other S3
//! tools see the names a client chose. [`VirtualPath`] already removed
//! `.`, `..` and empty components, and no component holds `/`; a name
//! must also be UTF-8 (keys are) and free of control characters (the
//! `object_store` crate refuses them in keys), and the directory-marker
//! name is reserved. So no name can reach a key outside the prefix.

use crate::storage::StorageError;
use ftp_proto::VirtualPath;
use object_store::path::{Path, PathPart};

/// The object that marks an empty directory: `DIR/.wharf-dir`. (The
/// `object_store` crate normalises away a trailing `/`, so the common
/// `DIR/` marker cannot be written; listings still show a directory that
/// another tool marked that way.) Hidden from listings, never nameable.
pub const MARKER: &str = ".wharf-dir";

/// The key of `vpath` under `root`.
pub fn key(root: &Path, vpath: &VirtualPath) -> Result<Path, StorageError> {
    let mut key = root.clone();
    for part in vpath.components() {
        let name = std::str::from_utf8(part).map_err(|_| {
            StorageError::BadName("names on the s3 storage backend must be UTF-8".into())
        })?;
        if name == MARKER {
            return Err(StorageError::NotFound);
        }
        let part = PathPart::parse(name).map_err(|_| {
            StorageError::BadName(
                "names on the s3 storage backend cannot hold control characters".into(),
            )
        })?;
        key = key.child(part);
    }
    Ok(key)
}

/// The marker key of directory `dir`.
pub fn marker(dir: &Path) -> Path {
    dir.child(MARKER)
}

/// The name a listed key segment stands for.
pub fn name(segment: &PathPart<'_>) -> Vec<u8> {
    segment.as_ref().as_bytes().to_vec()
}

/// A key that sorts after every key under `dir/sub/` (S3 lists in byte
/// order), to continue a listing past a subdirectory.
pub fn after_subtree(dir: &Path, sub: &PathPart<'_>) -> Path {
    let last = char::MAX.to_string();
    match PathPart::parse(&last) {
        Ok(part) => dir.child(sub.clone()).child(part),
        // Not reached: U+10FFFF is neither a control character nor `/`.
        Err(_) => dir.child(sub.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp(p: &[u8]) -> VirtualPath {
        VirtualPath::root().join(p).expect("valid path")
    }

    #[test]
    fn keys_stay_under_the_root() {
        let root = Path::from("pre/home/alice");
        assert_eq!(
            key(&root, &vp(b"a/b.txt")).unwrap().as_ref(),
            "pre/home/alice/a/b.txt"
        );
        assert_eq!(
            key(&root, &vp(b"../../x")).unwrap().as_ref(),
            "pre/home/alice/x"
        );
        assert_eq!(key(&root, &vp(b"/")).unwrap(), root);
        assert_eq!(
            key(&root, &vp(b"100%")).unwrap().as_ref(),
            "pre/home/alice/100%"
        );
        assert_eq!(
            key(&root, &vp("café".as_bytes())).unwrap().as_ref(),
            "pre/home/alice/café"
        );
        assert!(matches!(
            key(&root, &vp(b"a\rb")),
            Err(StorageError::BadName(_))
        ));
        assert!(matches!(
            key(&root, &vp(b"\xff")),
            Err(StorageError::BadName(_))
        ));
        assert!(matches!(
            key(&root, &vp(b"d/.wharf-dir")),
            Err(StorageError::NotFound)
        ));
    }

    #[test]
    fn names_round_trip() {
        for n in ["plain", "café über", "100%", "a#b", "x~y", "q?"] {
            let k = key(&Path::from("r"), &vp(n.as_bytes())).unwrap();
            let last = k.parts().last().unwrap();
            assert_eq!(name(&last), n.as_bytes());
        }
    }

    #[test]
    fn after_subtree_sorts_after_its_keys() {
        let dir = Path::from("r");
        let after = after_subtree(&dir, &PathPart::from("d"));
        assert!(after.as_ref() > "r/d/zzz");
        assert!(after.as_ref() > "r/d/\u{ffff}");
        assert!(after.as_ref() < "r/d0");
        assert!(after.as_ref() < "r/e");
    }
}
