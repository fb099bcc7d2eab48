//! DOS-style lines, as IIS sends them by default:
//! `01-31-24  10:15AM       <DIR>          folder name` and
//! `01-31-24  10:15AM            12345 file.txt`.
//!
//! Dates are `MM-DD-YY`, `MM-DD-YYYY` or `YYYY-MM-DD` (with `-` or `/`),
//! times 12-hour with `AM`/`PM` (glued on or a word of their own) or
//! 24-hour. Sizes may carry thousands separators (`1,234`). The name is
//! what follows the size column and its padding, so leading spaces in a
//! name do not survive; Windows rarely allows them anyway.

use super::{civil, clock, digits, fixed_digits, is_blank, word, words, ParsedEntry};
use crate::listing::EntryKind;

pub(super) fn parse(line: &[u8]) -> Option<ParsedEntry> {
    let spans = words(line, 4);
    let (year, month, day) = date(word(line, &spans, 0)?)?;
    let (hms, mut next) = time(word(line, &spans, 1)?, word(line, &spans, 2))?;
    let column = word(line, &spans, next)?;
    let (kind, size) = match column.to_ascii_uppercase().as_slice() {
        b"<DIR>" => (EntryKind::Dir, None),
        b"<SYMLINK>" | b"<SYMLINKD>" | b"<JUNCTION>" => (EntryKind::Symlink, None),
        _ => (EntryKind::File, Some(size(column)?)),
    };
    next = spans.get(next)?.end;
    let rest = line.get(next..)?;
    let name = rest.get(rest.iter().position(|b| !is_blank(*b))?..)?;
    let mut entry = ParsedEntry::new(name, kind);
    entry.size = size;
    entry.mtime = civil(year, month, day, hms);
    Some(entry)
}

/// `MM-DD-YY`, `MM-DD-YYYY` or `YYYY-MM-DD`, with `-` or `/`. Two-digit
/// years below 70 are 20xx, as IIS means them.
fn date(word: &[u8]) -> Option<(i64, u32, u32)> {
    let mut parts = word.split(|&b| b == b'-' || b == b'/');
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    if let Some(year) = fixed_digits(a, 4) {
        return Some((i64::from(year), fixed_digits(b, 2)?, fixed_digits(c, 2)?));
    }
    let year = match c.len() {
        2 => fixed_digits(c, 2).map(|y| if y < 70 { 2000 + y } else { 1900 + y })?,
        4 => fixed_digits(c, 4)?,
        _ => return None,
    };
    Some((i64::from(year), fixed_digits(a, 2)?, fixed_digits(b, 2)?))
}

/// `10:15AM`, `10:15 PM` or `22:15`, and the index of the word after it.
fn time(word: &[u8], after: Option<&[u8]>) -> Option<((u32, u32, u32), usize)> {
    let upper = word.to_ascii_uppercase();
    let (clock_part, glued) = match upper.len().checked_sub(2).map(|i| upper.split_at(i)) {
        Some((c, m)) if m == b"AM" || m == b"PM" => (c, Some(m)),
        _ => (upper.as_slice(), None),
    };
    let (hour, minute, second) = clock(clock_part)?;
    let separate = after
        .map(<[u8]>::to_ascii_uppercase)
        .filter(|m| glued.is_none() && (m == b"AM" || m == b"PM"));
    let (meridiem, next) = match (glued, separate.as_deref()) {
        (Some(m), _) => (Some(m), 2),
        (None, Some(m)) => (Some(m), 3),
        (None, None) => (None, 2),
    };
    let hour = match meridiem {
        None => hour,
        Some(_) if !(1..=12).contains(&hour) => return None,
        Some(b"AM") => hour % 12,
        Some(_) => hour % 12 + 12,
    };
    Some(((hour, minute, second.unwrap_or(0)), next))
}

/// Digits, optionally grouped with commas (`12,345`).
fn size(word: &[u8]) -> Option<u64> {
    if word.first() == Some(&b',') || word.last() == Some(&b',') {
        return None;
    }
    let plain: Vec<u8> = word.iter().copied().filter(|b| *b != b',').collect();
    digits(&plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::parse::parse_list_line;

    fn at(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        civil(y, mo, d, (h, mi, 0)).unwrap()
    }

    #[test]
    fn iis_and_friends() {
        use EntryKind::*;
        /// (line, name, kind, size, mtime)
        type Row = (&'static [u8], &'static [u8], EntryKind, Option<u64>, i64);
        let table: [Row; 10] = [
            (
                b"01-31-24  10:15AM       <DIR>          folder name",
                b"folder name",
                Dir,
                None,
                at(2024, 1, 31, 10, 15),
            ),
            (
                b"01-31-24  10:15AM            12345 file.txt",
                b"file.txt",
                File,
                Some(12_345),
                at(2024, 1, 31, 10, 15),
            ),
            (
                b"01-31-2024  10:15PM                  0 empty.txt",
                b"empty.txt",
                File,
                Some(0),
                at(2024, 1, 31, 22, 15),
            ),
            (
                b"01-31-2024  22:15                  7 24h.txt",
                b"24h.txt",
                File,
                Some(7),
                at(2024, 1, 31, 22, 15),
            ),
            (
                b"12-25-99  12:00AM                  7 midnight",
                b"midnight",
                File,
                Some(7),
                at(1999, 12, 25, 0, 0),
            ),
            (
                b"12-25-99  12:00PM                  7 noon",
                b"noon",
                File,
                Some(7),
                at(1999, 12, 25, 12, 0),
            ),
            (
                b"2024-01-31  09:05 AM       1,234,567 grouped size.bin",
                b"grouped size.bin",
                File,
                Some(1_234_567),
                at(2024, 1, 31, 9, 5),
            ),
            (
                b"01/31/2024  09:05       <JUNCTION>     Documents [C:\\x]",
                b"Documents [C:\\x]",
                Symlink,
                None,
                at(2024, 1, 31, 9, 5),
            ),
            (
                b"01-31-24  10:15am  <dir>  2024 report",
                b"2024 report",
                Dir,
                None,
                at(2024, 1, 31, 10, 15),
            ),
            (
                b"01-31-24  10:15AM   5 caf\xe9",
                b"caf\xe9",
                File,
                Some(5),
                at(2024, 1, 31, 10, 15),
            ),
        ];
        for (line, name, kind, size, mtime) in table {
            let shown = line.escape_ascii().to_string();
            let e = parse_list_line(line, 0).unwrap_or_else(|| panic!("no parse: {shown}"));
            assert_eq!(e.name, name, "{shown}");
            assert_eq!(e.kind, kind, "{shown}");
            assert_eq!(e.size, size, "{shown}");
            assert_eq!(e.mtime, Some(mtime), "{shown}");
        }
    }

    #[test]
    fn not_dos_lines() {
        for line in [
            &b"01-31-24  10:15AM       <DIR>   "[..],
            b"01-31-24  13:15PM  5 bad-meridiem",
            b"01-31-24  10:15AM  big name",
            b"01-31-24  10:15AM  1,,2, name",
            b"01-31  10:15AM  5 no-year",
            b"1-31-24  10:15AM  5 short-month",
            b"01-31-24-1  10:15AM  5 extra",
            b"123 456",
        ] {
            assert_eq!(parse_list_line(line, 0), None, "{:?}", line.escape_ascii());
        }
        // An impossible date keeps the entry but drops the time.
        let e = parse_list_line(b"02-30-24  10:15AM  5 f", 0).unwrap();
        assert_eq!((e.name.as_slice(), e.mtime), (&b"f"[..], None));
    }
}
