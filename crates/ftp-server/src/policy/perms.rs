//! The permission set: what an account may do with the files under a
//! path, and the path rules that grant a set at and below a path (which
//! rule applies is [`super::layers`]' choice).

use super::PolicyError;
use ftp_proto::VirtualPath;
use std::fmt;

/// One thing an account may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// List directories (LIST, NLST, MLSD, STAT PATH) and see a file's
    /// facts (SIZE, MDTM, MLST).
    List,
    /// Read files (RETR).
    Download,
    /// Make new files (STOR, STOU, APPE of a new name; RNTO to a new name).
    Upload,
    /// Replace an existing file (STOR over it, RNTO over it).
    Overwrite,
    /// Extend an existing file (APPE, REST+STOR).
    Append,
    /// Remove files (DELE).
    Delete,
    /// Rename (RNFR/RNTO, at the source).
    Rename,
    /// Make directories (MKD).
    Mkdir,
    /// Remove directories (RMD).
    Rmdir,
    /// Change modes or times (reserved for SITE CHMOD and MFMT).
    Chmod,
}

impl Permission {
    /// Every permission, in the order they are shown.
    pub const ALL: [Permission; 10] = [
        Permission::List,
        Permission::Download,
        Permission::Upload,
        Permission::Overwrite,
        Permission::Append,
        Permission::Delete,
        Permission::Rename,
        Permission::Mkdir,
        Permission::Rmdir,
        Permission::Chmod,
    ];

    /// The name used on the command line and in the store.
    pub fn name(self) -> &'static str {
        match self {
            Permission::List => "list",
            Permission::Download => "download",
            Permission::Upload => "upload",
            Permission::Overwrite => "overwrite",
            Permission::Append => "append",
            Permission::Delete => "delete",
            Permission::Rename => "rename",
            Permission::Mkdir => "mkdir",
            Permission::Rmdir => "rmdir",
            Permission::Chmod => "chmod",
        }
    }

    /// What a refusal says the account may not do.
    pub fn action(self) -> &'static str {
        match self {
            Permission::List => "list",
            Permission::Download => "download",
            Permission::Upload => "upload new files",
            Permission::Overwrite => "overwrite files",
            Permission::Append => "append to or resume files",
            Permission::Delete => "delete files",
            Permission::Rename => "rename",
            Permission::Mkdir => "make directories",
            Permission::Rmdir => "remove directories",
            Permission::Chmod => "change modes or times",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`Permission`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PermSet(u16);

impl PermSet {
    pub const NONE: PermSet = PermSet(0);
    pub const ALL: PermSet = PermSet((1 << Permission::ALL.len()) - 1);
    /// `--read-only`: list and download.
    pub const READ_ONLY: PermSet =
        PermSet((1 << Permission::List as u16) | (1 << Permission::Download as u16));
    /// `--upload-only`, a drop box: new files only; nothing can be listed,
    /// read back or replaced.
    pub const UPLOAD_ONLY: PermSet = PermSet(1 << Permission::Upload as u16);

    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn with(self, p: Permission) -> PermSet {
        PermSet(self.0 | p.bit())
    }

    /// Parses `all`, `none`, `read-only`, `upload-only` or a comma list of
    /// permission names.
    pub fn parse(text: &str) -> Result<PermSet, PolicyError> {
        match text.trim() {
            "all" => return Ok(PermSet::ALL),
            "none" => return Ok(PermSet::NONE),
            "read-only" => return Ok(PermSet::READ_ONLY),
            "upload-only" => return Ok(PermSet::UPLOAD_ONLY),
            _ => {}
        }
        text.split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .try_fold(PermSet::NONE, |set, word| {
                Permission::ALL
                    .into_iter()
                    .find(|p| p.name() == word)
                    .map(|p| set.with(p))
                    .ok_or_else(|| PolicyError::UnknownPermission(word.to_string()))
            })
    }
}

impl fmt::Display for PermSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PermSet::ALL => return f.write_str("all"),
            PermSet::NONE => return f.write_str("none"),
            _ => {}
        }
        let names: Vec<&str> = Permission::ALL
            .into_iter()
            .filter(|p| self.contains(*p))
            .map(Permission::name)
            .collect();
        f.write_str(&names.join(","))
    }
}

/// A grant for everything at and below `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    pub path: VirtualPath,
    pub perms: PermSet,
}

impl PathRule {
    /// Whether the rule applies to `path`: the same path or one below it
    /// (`/in` covers `/in/x`, not `/inbox`).
    pub fn covers(&self, path: &VirtualPath) -> bool {
        is_within(path, &self.path)
    }
}

/// Whether `path` is `dir` or lies below it.
pub fn is_within(path: &VirtualPath, dir: &VirtualPath) -> bool {
    let (p, d) = (path.as_bytes(), dir.as_bytes());
    dir.is_root() || p == d || (p.starts_with(d) && p.get(d.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> VirtualPath {
        VirtualPath::root().join(text.as_bytes()).unwrap()
    }

    #[test]
    fn parses_names_and_shortcuts_and_prints_them_back() {
        let set = PermSet::parse("list, download").unwrap();
        assert_eq!(set, PermSet::READ_ONLY);
        assert_eq!(PermSet::parse("read-only").unwrap(), PermSet::READ_ONLY);
        assert_eq!(PermSet::parse("upload-only").unwrap(), PermSet::UPLOAD_ONLY);
        assert_eq!(PermSet::parse("all").unwrap(), PermSet::ALL);
        assert_eq!(PermSet::parse("none").unwrap(), PermSet::NONE);
        assert_eq!(PermSet::parse("").unwrap(), PermSet::NONE);
        assert!(matches!(
            PermSet::parse("list,write"),
            Err(PolicyError::UnknownPermission(w)) if w == "write"
        ));
        for p in Permission::ALL {
            let one = PermSet::NONE.with(p);
            assert_eq!(PermSet::parse(&one.to_string()).unwrap(), one);
        }
        assert_eq!(PermSet::READ_ONLY.to_string(), "list,download");
        assert_eq!(PermSet::ALL.to_string(), "all");
        assert_eq!(PermSet::NONE.to_string(), "none");
    }

    #[test]
    fn the_drop_box_only_uploads() {
        let set = PermSet::UPLOAD_ONLY;
        assert!(set.contains(Permission::Upload));
        for p in Permission::ALL
            .into_iter()
            .filter(|p| *p != Permission::Upload)
        {
            assert!(!set.contains(p), "{p:?}");
        }
    }

    #[test]
    fn within_means_the_same_or_below_never_a_shared_prefix() {
        assert!(is_within(&path("/a"), &VirtualPath::root()));
        assert!(is_within(&path("/a/b"), &path("/a")));
        assert!(is_within(&path("/a"), &path("/a")));
        assert!(!is_within(&path("/a"), &path("/a/b")));
        assert!(!is_within(&path("/ab"), &path("/a")));
        let rule = PathRule {
            path: path("/in"),
            perms: PermSet::ALL,
        };
        assert!(rule.covers(&path("/in/x")) && !rule.covers(&path("/inbox")));
    }
}
