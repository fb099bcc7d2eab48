//! Directory listing formats: the `ls -l` lines LIST sends (which every
//! client parses) and the machine-readable MLSD/MLST lines of RFC 3659.
//!
//! Formatters append to a caller's buffer so a server can stream a large
//! directory through one reused allocation.

mod mlsx;
mod parse;
mod unix;

pub use mlsx::{mlst_line, mlsx_line, Fact, FactSet, MlsxRole};
pub use parse::{parse_list_line, parse_mlsx_line, ParsedEntry};
pub use unix::unix_line;

/// What kind of directory entry a line describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One directory entry, as much as a listing needs to show.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The name as bytes; not necessarily UTF-8.
    pub name: &'a [u8],
    pub kind: EntryKind,
    pub size: u64,
    /// Modification time, seconds since the Unix epoch (UTC).
    pub mtime: i64,
    /// Unix permission bits (the low 12 bits of `st_mode`).
    pub mode: u32,
    pub nlink: u64,
    /// A stable identity (device, inode) for the MLSx `unique` fact.
    pub unique: (u64, u64),
    /// For a symbolic link, the target LIST shows after ` -> `; `None`
    /// shows the link without one. The server decides what may be shown
    /// (never a path outside the session's root); MLSx never shows it.
    pub link_target: Option<&'a [u8]>,
}
