//! [`Meta`]: what the server shows of a file (kind, size, time, mode), taken
//! from `lstat` so a symbolic link is reported as a link.

use ftp_proto::listing::{Entry, EntryKind};
use std::fs;
use std::os::unix::fs::MetadataExt;

/// The facts about one file that listings, SIZE and MDTM need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: EntryKind,
    pub size: u64,
    pub mtime: i64,
    pub mode: u32,
    pub nlink: u64,
    pub dev: u64,
    pub ino: u64,
}

impl Meta {
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    pub fn is_file(&self) -> bool {
        self.kind == EntryKind::File
    }

    /// A listing entry for this file under `name`.
    pub fn entry<'a>(&self, name: &'a [u8]) -> Entry<'a> {
        Entry {
            name,
            kind: self.kind,
            size: self.size,
            mtime: self.mtime,
            mode: self.mode & 0o7777,
            nlink: self.nlink,
            unique: (self.dev, self.ino),
            link_target: None,
        }
    }
}

impl From<&fs::Metadata> for Meta {
    fn from(md: &fs::Metadata) -> Self {
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Other
        };
        Meta {
            kind,
            size: md.len(),
            mtime: md.mtime(),
            mode: md.mode(),
            nlink: md.nlink(),
            dev: md.dev(),
            ino: md.ino(),
        }
    }
}
