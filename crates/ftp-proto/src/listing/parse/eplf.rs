//! EPLF, Bernstein's Easily Parsed LIST Format
//! (<https://cr.yp.to/ftp/list/eplf.html>):
//! `+i8388621.48594,m825718503,r,s280,\tdjb.html`.
//!
//! A `+`, comma-separated facts each named by their first byte, a tab,
//! then the name. `/` means the entry can be entered (a directory), `r`
//! that it can be retrieved (a file), `s` is the size and `m` the
//! modification time in Unix seconds. Unknown facts are skipped, as the
//! format asks.

use super::{digits, ParsedEntry};
use crate::listing::EntryKind;

pub(super) fn parse(line: &[u8]) -> Option<ParsedEntry> {
    let rest = line.strip_prefix(b"+")?;
    let tab = rest.iter().position(|&b| b == b'\t')?;
    let (facts, name) = rest.split_at_checked(tab)?;
    let name = name.get(1..).filter(|n| !n.is_empty())?;
    let (mut dir, mut file, mut size, mut mtime) = (false, false, None, None);
    for fact in facts.split(|&b| b == b',') {
        match fact.split_first() {
            Some((b'/', _)) => dir = true,
            Some((b'r', _)) => file = true,
            Some((b's', n)) => size = digits(n),
            Some((b'm', n)) => mtime = digits(n).and_then(|t| i64::try_from(t).ok()),
            _ => {}
        }
    }
    let kind = match (dir, file) {
        (true, _) => EntryKind::Dir,
        (false, true) => EntryKind::File,
        (false, false) => EntryKind::Other,
    };
    let mut entry = ParsedEntry::new(name, kind);
    entry.size = size;
    entry.mtime = mtime;
    Some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::parse::parse_list_line;

    #[test]
    fn examples_from_the_spec() {
        let e = parse_list_line(b"+i8388621.48594,m825718503,r,s280,\tdjb.html", 0).unwrap();
        assert_eq!(e.name, b"djb.html");
        assert_eq!(e.kind, EntryKind::File);
        assert_eq!((e.size, e.mtime), (Some(280), Some(825_718_503)));

        let e = parse_list_line(b"+i8388621.29609,m824255902,/,\tdev", 0).unwrap();
        assert_eq!((e.name.as_slice(), e.kind), (&b"dev"[..], EntryKind::Dir));
        assert_eq!((e.size, e.mtime), (None, Some(824_255_902)));

        let e = parse_list_line(b"+m1,up644,\t  spaced \xff name ", 0).unwrap();
        assert_eq!(e.name, b"  spaced \xff name ");
        assert_eq!(e.kind, EntryKind::Other);
    }

    #[test]
    fn broken_eplf() {
        for line in [&b"+i1,r,s5, no-tab"[..], b"+r,\t", b"+"] {
            assert_eq!(parse_list_line(line, 0), None, "{:?}", line.escape_ascii());
        }
        let e = parse_list_line(b"+r,sbig,m99999999999999999999,\tf", 0).unwrap();
        assert_eq!((e.size, e.mtime), (None, None));
    }
}
