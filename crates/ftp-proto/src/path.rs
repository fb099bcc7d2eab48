//! Protocol paths as bytes, normalised inside a virtual root.
//!
//! A [`VirtualPath`] is always absolute, has no `.` or `..` components and
//! no empty ones, and never climbs above `/`: `..` at the root stays at the
//! root, as `cd ..` does on a Unix `/`. It never touches a filesystem; the
//! server maps it onto a directory it jails. Names are bytes, so a file
//! whose name is not UTF-8 has a path like any other.

use std::fmt;

/// Longest path a client may name, in bytes (Linux PATH_MAX).
pub const MAX_PATH_LEN: usize = 4096;
/// Longest single name, in bytes (Linux NAME_MAX).
pub const MAX_NAME_LEN: usize = 255;

/// Why a path argument was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path contains a NUL byte.
    Nul,
    /// The path, or the normalised result, is longer than [`MAX_PATH_LEN`].
    TooLong,
    /// One component is longer than [`MAX_NAME_LEN`].
    NameTooLong,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::Nul => "path contains a NUL byte",
            PathError::TooLong => "path too long",
            PathError::NameTooLong => "file name too long",
        })
    }
}

impl std::error::Error for PathError {}

/// An absolute, normalised path inside a session's root.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualPath {
    /// Always starts with `/`; no trailing `/` except for the root itself.
    bytes: Vec<u8>,
}

impl VirtualPath {
    /// The root, `/`.
    pub fn root() -> Self {
        VirtualPath { bytes: vec![b'/'] }
    }

    /// Resolves `arg` (absolute, or relative to `self`) into a new path.
    ///
    /// An empty argument means `self`. `~` alone or as a first component
    /// means the root, which is the session's home.
    pub fn join(&self, arg: &[u8]) -> Result<VirtualPath, PathError> {
        if arg.contains(&0) {
            return Err(PathError::Nul);
        }
        if arg.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        let home_relative = arg == b"~" || arg.starts_with(b"~/");
        let (mut parts, rest): (Vec<&[u8]>, &[u8]) = if arg.starts_with(b"/") {
            (Vec::new(), arg)
        } else if home_relative {
            (Vec::new(), &arg[1..])
        } else {
            (self.components().collect(), arg)
        };
        for part in rest.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    parts.pop();
                }
                name if name.len() > MAX_NAME_LEN => return Err(PathError::NameTooLong),
                name => parts.push(name),
            }
        }
        let mut bytes = Vec::with_capacity(arg.len() + self.bytes.len() + 1);
        for part in &parts {
            bytes.push(b'/');
            bytes.extend_from_slice(part);
        }
        if bytes.is_empty() {
            bytes.push(b'/');
        }
        if bytes.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        Ok(VirtualPath { bytes })
    }

    /// The components after the root, each a non-empty name without `/`.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.bytes[1..]
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty())
    }

    pub fn is_root(&self) -> bool {
        self.bytes.len() == 1
    }

    /// The last component, or `None` for the root.
    pub fn file_name(&self) -> Option<&[u8]> {
        if self.is_root() {
            return None;
        }
        self.components().last()
    }

    /// The parent directory; the root is its own parent.
    pub fn parent(&self) -> VirtualPath {
        match self.bytes.iter().rposition(|&b| b == b'/') {
            Some(0) | None => VirtualPath::root(),
            Some(i) => VirtualPath {
                bytes: self.bytes[..i].to_vec(),
            },
        }
    }

    /// The path relative to the root (no leading `/`); empty for the root.
    pub fn relative(&self) -> &[u8] {
        &self.bytes[1..]
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.bytes))
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(p: &[u8]) -> VirtualPath {
        VirtualPath::root().join(p).unwrap()
    }

    #[test]
    fn normalises() {
        let cwd = at(b"/a/b");
        assert_eq!(cwd.join(b"c").unwrap().as_bytes(), b"/a/b/c");
        assert_eq!(cwd.join(b"../c").unwrap().as_bytes(), b"/a/c");
        assert_eq!(cwd.join(b"/x//y/./z/").unwrap().as_bytes(), b"/x/y/z");
        assert_eq!(cwd.join(b"").unwrap().as_bytes(), b"/a/b");
        assert_eq!(cwd.join(b"~").unwrap().as_bytes(), b"/");
        assert_eq!(cwd.join(b"~/q").unwrap().as_bytes(), b"/q");
        assert_eq!(cwd.join(b"~q").unwrap().as_bytes(), b"/a/b/~q");
    }

    #[test]
    fn traversal_stays_inside() {
        let cwd = at(b"/pub");
        for evil in [
            &b"../../../../etc/passwd"[..],
            b"/../../etc/passwd",
            b"..//..//..//etc",
            b"pub/../../..",
            b"./.././../.",
        ] {
            let p = cwd.join(evil).unwrap();
            assert!(p.components().all(|c| c != b".." && c != b"."), "{p:?}");
        }
        assert_eq!(
            cwd.join(b"../../../../etc/passwd").unwrap().as_bytes(),
            b"/etc/passwd"
        );
        assert_eq!(cwd.join(b"\\..\\x").unwrap().as_bytes(), b"/pub/\\..\\x");
    }

    #[test]
    fn refuses_nul_and_overlong() {
        let root = VirtualPath::root();
        assert_eq!(root.join(b"a\0b"), Err(PathError::Nul));
        assert_eq!(root.join(&vec![b'a'; 256]), Err(PathError::NameTooLong));
        assert_eq!(root.join(&vec![b'a'; 5000]), Err(PathError::TooLong));
        let deep: Vec<u8> = b"/abcdefgh".repeat(400);
        let base = root.join(&deep[..3600]).unwrap();
        assert_eq!(base.join(&deep[1..901]), Err(PathError::TooLong));
    }

    #[test]
    fn parent_and_name() {
        let p = at(b"/a/b\xffc");
        assert_eq!(p.file_name(), Some(&b"b\xffc"[..]));
        assert_eq!(p.parent().as_bytes(), b"/a");
        assert_eq!(at(b"/a").parent().as_bytes(), b"/");
        assert!(VirtualPath::root().parent().is_root());
        assert_eq!(VirtualPath::root().file_name(), None);
    }

    proptest! {
        #[test]
        fn join_is_always_normal(cwd in proptest::collection::vec(any::<u8>(), 0..64),
                                 arg in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(base) = VirtualPath::root().join(&cwd) {
                if let Ok(p) = base.join(&arg) {
                    prop_assert!(p.as_bytes().starts_with(b"/"));
                    prop_assert!(p.is_root() || !p.as_bytes().ends_with(b"/"));
                    for c in p.components() {
                        prop_assert!(c != b"." && c != b".." && !c.is_empty() && !c.contains(&0));
                    }
                    // Normalising again changes nothing.
                    prop_assert_eq!(VirtualPath::root().join(p.as_bytes()).unwrap(), p.clone());
                }
            }
        }
    }
}
