//! MLSD and MLST lines read back (RFC 3659 §7):
//! `type=file;size=1024;modify=20240131101530; name`.
//!
//! Facts run up to the first space; fact values cannot contain one (§7.2).
//! Fact names are case-insensitive and are lowercased; values are kept as
//! bytes. `type=cdir` and `type=pdir` are the listed directory and its
//! parent, reported as directories with `is_listed_dir` set.

use super::{digits, strip_eol, ParsedEntry};
use crate::listing::EntryKind;
use crate::time::UtcTime;

/// Parses one MLSD line, or an MLST reply's entry line once the caller
/// has removed its leading space. A line that starts with a space has no
/// facts. Returns `None` without a space, with an empty name, or when the
/// facts part holds no `name=value` fact at all.
pub fn parse_mlsx_line(line: &[u8]) -> Option<ParsedEntry> {
    let line = strip_eol(line);
    let space = line.iter().position(|&b| b == b' ')?;
    let (fact_text, name) = line.split_at_checked(space)?;
    let name = name.get(1..).filter(|n| !n.is_empty())?;
    let facts: Vec<(String, Vec<u8>)> = fact_text
        .split(|&b| b == b';')
        .filter_map(|fact| {
            let eq = fact.iter().position(|&b| b == b'=').filter(|&i| i > 0)?;
            let (key, value) = fact.split_at_checked(eq)?;
            let key = String::from_utf8_lossy(key).to_ascii_lowercase();
            Some((key, value.get(1..)?.to_vec()))
        })
        .collect();
    if facts.is_empty() && !fact_text.is_empty() {
        return None;
    }
    let fact = |key: &str| facts.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let (kind, listed, link_target) =
        fact("type").map_or((EntryKind::Other, false, None), |t| type_of(t));
    let mut entry = ParsedEntry::new(name, kind);
    entry.is_listed_dir |= listed;
    entry.link_target = link_target;
    entry.size = fact("size").and_then(|s| digits(s));
    entry.mtime = fact("modify")
        .and_then(|m| std::str::from_utf8(m).ok())
        .and_then(UtcTime::parse_mdtm)
        .map(|t| t.to_unix());
    entry.facts = facts;
    Some(entry)
}

/// The kind a `type` fact names, whether it is `cdir`/`pdir`, and a
/// symlink's target from `OS.unix=slink:target`.
fn type_of(value: &[u8]) -> (EntryKind, bool, Option<Vec<u8>>) {
    let lower = value.to_ascii_lowercase();
    match lower.as_slice() {
        b"file" => (EntryKind::File, false, None),
        b"dir" => (EntryKind::Dir, false, None),
        b"cdir" | b"pdir" => (EntryKind::Dir, true, None),
        b"os.unix=symlink" => (EntryKind::Symlink, false, None),
        _ if lower.starts_with(b"os.unix=slink") => {
            const SLINK: &[u8] = b"os.unix=slink:";
            let target = value
                .get(SLINK.len()..)
                .filter(|t| !t.is_empty() && lower.starts_with(SLINK))
                .map(<[u8]>::to_vec);
            (EntryKind::Symlink, false, target)
        }
        _ => (EntryKind::Other, false, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::{mlst_line, mlsx_line, Entry, FactSet, MlsxRole};
    use proptest::prelude::*;

    #[test]
    fn typical_lines() {
        let e = parse_mlsx_line(b"type=file;size=1024;modify=20240131101530;perm=r; file name.txt")
            .unwrap();
        assert_eq!(e.name, b"file name.txt");
        assert_eq!(e.kind, EntryKind::File);
        assert_eq!(e.size, Some(1024));
        assert_eq!(e.mtime, Some(1_706_696_130));
        assert!(!e.is_listed_dir);
        assert_eq!(e.facts[3], ("perm".to_string(), b"r".to_vec()));

        let e = parse_mlsx_line(b"Type=DIR;Modify=20240131101530.123;UNIX.mode=0755; Sub").unwrap();
        assert_eq!(
            (e.kind, e.size, e.mtime),
            (EntryKind::Dir, None, Some(1_706_696_130))
        );
        assert_eq!(e.facts[2], ("unix.mode".to_string(), b"0755".to_vec()));

        let e = parse_mlsx_line(b"type=cdir;perm=el; /pub").unwrap();
        assert_eq!((e.kind, e.is_listed_dir), (EntryKind::Dir, true));
        let e = parse_mlsx_line(b"type=pdir; ..").unwrap();
        assert_eq!((e.kind, e.is_listed_dir), (EntryKind::Dir, true));

        let e = parse_mlsx_line(b"type=OS.unix=slink:/srv/Target;size=10; link").unwrap();
        assert_eq!(e.kind, EntryKind::Symlink);
        assert_eq!(e.link_target.as_deref(), Some(&b"/srv/Target"[..]));
        let e = parse_mlsx_line(b"type=OS.unix=symlink; l").unwrap();
        assert_eq!((e.kind, e.link_target), (EntryKind::Symlink, None));
        let e = parse_mlsx_line(b"type=OS.unix=blkdev; sda").unwrap();
        assert_eq!(e.kind, EntryKind::Other);
    }

    #[test]
    fn odd_lines() {
        // No facts at all: a line starting with a space.
        let e = parse_mlsx_line(b"  two leading").unwrap();
        assert_eq!(
            (e.name.as_slice(), e.kind),
            (&b" two leading"[..], EntryKind::Other)
        );
        assert!(e.facts.is_empty());
        // A missing final `;`, a bad size, a bad time, a valueless fact.
        let e = parse_mlsx_line(b"type=file;size=x;modify=2024;perm name\r\n").unwrap();
        assert_eq!(
            (e.name.as_slice(), e.size, e.mtime),
            (&b"name"[..], None, None)
        );
        assert_eq!(e.facts.len(), 3);
        // Names with `; `, `=` and non-UTF-8 bytes.
        let e = parse_mlsx_line(b"type=file; a; b=c \xff").unwrap();
        assert_eq!(e.name, b"a; b=c \xff");
        for line in [
            &b""[..],
            b"type=file;size=1;",
            b"type=file; ",
            b"garbage here",
            b"=x; name",
        ] {
            assert_eq!(parse_mlsx_line(line), None, "{:?}", line.escape_ascii());
        }
    }

    fn entry(name: &[u8], kind: EntryKind, size: u64, mtime: i64) -> Entry<'_> {
        Entry {
            name,
            kind,
            size,
            mtime,
            mode: 0o640,
            nlink: 1,
            unique: (7, 9),
            link_target: None,
        }
    }

    #[test]
    fn listed_dir_from_mlst() {
        let mut out = Vec::new();
        mlst_line(
            &entry(b"/pub", EntryKind::Dir, 0, 0),
            FactSet::default(),
            false,
            MlsxRole::ListedDir,
            &mut out,
        );
        let e = parse_mlsx_line(&out).unwrap();
        assert_eq!(
            (e.name.as_slice(), e.kind, e.is_listed_dir),
            (&b"/pub"[..], EntryKind::Dir, true)
        );
    }

    proptest! {
        #[test]
        fn formatter_round_trip(
            name in proptest::collection::vec(any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'), 1..24),
            kind in prop_oneof![Just(EntryKind::File), Just(EntryKind::Dir), Just(EntryKind::Symlink), Just(EntryKind::Other)],
            size in any::<u64>(),
            mtime in 0i64..253_402_300_800,
            writable in any::<bool>(),
        ) {
            let mut out = Vec::new();
            mlsx_line(&entry(&name, kind, size, mtime), FactSet::default(), writable, &mut out);
            let e = parse_mlsx_line(&out).unwrap();
            prop_assert_eq!(&e.name, &name);
            prop_assert_eq!(e.kind, kind);
            prop_assert_eq!(e.size, (kind != EntryKind::Dir).then_some(size));
            prop_assert_eq!(e.mtime, Some(mtime));
            prop_assert_eq!(e.is_listed_dir, name == b"." || name == b"..");
            prop_assert_eq!(e.facts.len(), if kind == EntryKind::Dir { 5 } else { 6 });
        }
    }
}
