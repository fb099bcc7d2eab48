//! MLSD and MLST lines (RFC 3659 §7): `fact=value;fact=value; name`.
//!
//! Which facts appear is chosen by the client with `OPTS MLST`; the
//! [`FactSet`] holds that choice and formats the FEAT line announcing it.

use super::{Entry, EntryKind};
use crate::time::UtcTime;
use std::io::Write;

/// The facts Wharf can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    Type,
    Size,
    Modify,
    Perm,
    Unique,
    UnixMode,
}

const ALL: [(Fact, &str); 6] = [
    (Fact::Type, "type"),
    (Fact::Size, "size"),
    (Fact::Modify, "modify"),
    (Fact::Perm, "perm"),
    (Fact::Unique, "unique"),
    (Fact::UnixMode, "UNIX.mode"),
];

/// The set of facts a session asked for (all of them until `OPTS MLST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactSet {
    enabled: [bool; 6],
}

impl Default for FactSet {
    fn default() -> Self {
        FactSet { enabled: [true; 6] }
    }
}

impl FactSet {
    /// Applies `OPTS MLST fact;fact;`: unknown facts are ignored, as the
    /// RFC asks. Returns the facts now enabled, for the reply.
    pub fn select(&mut self, list: &str) -> String {
        let wanted: Vec<String> = list
            .split(';')
            .map(|f| f.trim().to_ascii_lowercase())
            .filter(|f| !f.is_empty())
            .collect();
        for (i, (_, name)) in ALL.iter().enumerate() {
            self.enabled[i] = wanted.iter().any(|w| w.eq_ignore_ascii_case(name));
        }
        self.names(false)
    }

    fn has(&self, fact: Fact) -> bool {
        ALL.iter()
            .position(|(f, _)| *f == fact)
            .is_some_and(|i| self.enabled[i])
    }

    /// `type*;size*;…` for FEAT (with stars on enabled facts) or the
    /// plain list for the OPTS reply.
    pub fn names(&self, for_feat: bool) -> String {
        let mut out = String::new();
        for (i, (_, name)) in ALL.iter().enumerate() {
            if for_feat {
                out.push_str(name);
                if self.enabled[i] {
                    out.push('*');
                }
                out.push(';');
            } else if self.enabled[i] {
                out.push_str(name);
                out.push(';');
            }
        }
        out
    }
}

/// How an entry is typed in MLSx: `cdir`/`pdir` are only for the listed
/// directory itself and its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlsxRole {
    Entry,
    ListedDir,
}

/// Appends one MLSx line for `entry`. `writable` says whether the session
/// may change it (which `perm` reports). MLSD lines end in CRLF; an MLST
/// line inside a reply starts with a space, which the caller adds.
pub fn mlsx_line(entry: &Entry<'_>, facts: FactSet, writable: bool, out: &mut Vec<u8>) {
    let _ = write_facts(entry, facts, writable, MlsxRole::Entry, out);
    out.push(b' ');
    out.extend_from_slice(entry.name);
    out.extend_from_slice(b"\r\n");
}

fn write_facts(
    entry: &Entry<'_>,
    facts: FactSet,
    writable: bool,
    role: MlsxRole,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let is_dir = entry.kind == EntryKind::Dir;
    if facts.has(Fact::Type) {
        let kind = match (entry.kind, role) {
            (EntryKind::Dir, MlsxRole::ListedDir) => "cdir",
            (EntryKind::Dir, _) => "dir",
            (EntryKind::File, _) => "file",
            (EntryKind::Symlink, _) => "OS.unix=symlink",
            (EntryKind::Other, _) => "OS.unix=special",
        };
        write!(out, "type={kind};")?;
    }
    if facts.has(Fact::Size) && !is_dir {
        write!(out, "size={};", entry.size)?;
    }
    if facts.has(Fact::Modify) {
        write!(out, "modify={};", UtcTime::from_unix(entry.mtime).mdtm())?;
    }
    if facts.has(Fact::Perm) {
        let perm = match (is_dir, writable) {
            (true, true) => "cdeflmp",
            (true, false) => "el",
            (false, true) => "adfrw",
            (false, false) => "r",
        };
        write!(out, "perm={perm};")?;
    }
    if facts.has(Fact::Unique) {
        write!(out, "unique={:x}U{:x};", entry.unique.0, entry.unique.1)?;
    }
    if facts.has(Fact::UnixMode) {
        write!(out, "UNIX.mode=0{:o};", entry.mode & 0o7777)?;
    }
    Ok(())
}

/// Appends the facts of an MLST reply line for the directory being
/// listed or a single entry, followed by a space and the path.
pub fn mlst_line(
    entry: &Entry<'_>,
    facts: FactSet,
    writable: bool,
    role: MlsxRole,
    out: &mut Vec<u8>,
) {
    let _ = write_facts(entry, facts, writable, role, out);
    out.push(b' ');
    out.extend_from_slice(entry.name);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &[u8]) -> Entry<'_> {
        Entry {
            name,
            kind: EntryKind::File,
            size: 42,
            mtime: 1_700_000_000,
            mode: 0o644,
            nlink: 1,
            unique: (0x10, 0xab),
            link_target: None,
        }
    }

    #[test]
    fn full_line() {
        let mut out = Vec::new();
        mlsx_line(&file(b"a b"), FactSet::default(), true, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "type=file;size=42;modify=20231114221320;perm=adfrw;unique=10Uab;UNIX.mode=0644; a b\r\n"
        );
    }

    #[test]
    fn non_utf8_name_is_raw() {
        let mut out = Vec::new();
        mlsx_line(&file(b"\xff\xfe"), FactSet::default(), false, &mut out);
        assert!(out.ends_with(b"; \xff\xfe\r\n"));
    }

    #[test]
    fn a_link_never_shows_its_target() {
        let link = Entry {
            kind: EntryKind::Symlink,
            link_target: Some(b"/elsewhere"),
            ..file(b"l")
        };
        let mut out = Vec::new();
        mlsx_line(&link, FactSet::default(), false, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("type=OS.unix=symlink;"), "{text}");
        assert!(
            text.ends_with("; l\r\n") && !text.contains("elsewhere"),
            "{text}"
        );
    }

    #[test]
    fn opts_selects_facts() {
        let mut set = FactSet::default();
        assert_eq!(set.select("size;Modify;bogus;"), "size;modify;");
        assert_eq!(set.names(true), "type;size*;modify*;perm;unique;UNIX.mode;");
        let mut out = Vec::new();
        mlsx_line(&file(b"x"), set, false, &mut out);
        assert_eq!(out, b"size=42;modify=20231114221320; x\r\n");
    }
}
