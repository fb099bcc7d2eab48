//! Unix `ls -l` lines, as vsftpd, ProFTPD, pure-ftpd, busybox, FileZilla
//! Server, IIS in Unix mode and Wharf itself send them:
//! `drwxr-xr-x    2 ftp      ftp          4096 Nov 14 22:13 name`.
//!
//! The columns between the permissions and the size vary (link count,
//! owner and group may each be missing), so the parser anchors on the
//! date instead: a size (or a device's `major, minor`) followed by
//! `Mon DD HH:MM`, `Mon DD  YYYY`, `Mon DD HH:MM:SS YYYY` (BSD `ls -T`) or
//! an ISO date (`--time-style=long-iso` / `full-iso`). The name is
//! everything after the date and one separating space, so leading spaces,
//! runs of spaces and names that look like dates survive.

use super::{
    civil, clock, digits, fixed_digits, infer_year, month_number, word, words, ParsedEntry,
};
use crate::listing::EntryKind;
use std::ops::Range;

/// Enough words to reach the name in any layout the parser accepts.
const MAX_WORDS: usize = 16;

/// Link count, owner and group: the most words allowed between the
/// permissions and the size.
const MAX_OWNER_WORDS: usize = 3;

/// Where a date ends and what time it names.
struct DateSpan {
    end: usize,
    mtime: Option<i64>,
}

pub(super) fn parse(line: &[u8], now_unix: i64) -> Option<ParsedEntry> {
    let spans = words(line, MAX_WORDS);
    let kind = kind_of(word(line, &spans, 0)?)?;
    // The date is tried at every position; the last fit wins, which is the
    // one with the most owner columns before it. That beats an owner or
    // group that happens to look like a date ("may 10 2020 Jan 5 ...").
    let mut found = None;
    for at in 2..spans.len() {
        let Some((size_at, size)) = size_before(line, &spans, at) else {
            continue;
        };
        if size_at == 0 || size_at - 1 > MAX_OWNER_WORDS {
            continue;
        }
        let Some(date) = date_at(line, &spans, at, now_unix) else {
            continue;
        };
        let name_start = match line.get(date.end) {
            Some(b' ' | b'\t') => date.end + 1,
            _ => date.end,
        };
        match line.get(name_start..) {
            Some(name) if !name.is_empty() => found = Some((name, size, date.mtime)),
            _ => {}
        }
    }
    let (name, size, mtime) = found?;
    let (name, link_target) = match kind {
        EntryKind::Symlink => split_link(name),
        _ => (name, None),
    };
    if name.is_empty() {
        return None;
    }
    let mut entry = ParsedEntry::new(name, kind);
    entry.size = size;
    entry.mtime = mtime;
    entry.link_target = link_target.map(<[u8]>::to_vec);
    Some(entry)
}

/// The kind named by a permissions word such as `drwxr-xr-x`, `-rw-r--r--@`
/// or `lrwxrwxrwx.`; `None` if the word is not one.
fn kind_of(perms: &[u8]) -> Option<EntryKind> {
    let (&type_char, rest) = perms.split_first()?;
    let (bits, marker) = match rest.len() {
        9 => (rest, None),
        10 => rest.split_at_checked(9).map(|(b, m)| (b, m.first()))?,
        _ => return None,
    };
    if !bits.iter().all(|b| b"rwxsStTlL-".contains(b)) {
        return None;
    }
    // ACLs (`+`), macOS extended attributes (`@`), SELinux contexts (`.`).
    if marker.is_some_and(|m| !b"+@.".contains(m)) {
        return None;
    }
    match type_char {
        b'-' => Some(EntryKind::File),
        b'd' => Some(EntryKind::Dir),
        b'l' => Some(EntryKind::Symlink),
        // Devices, pipes, sockets, Solaris doors, and Wharf's own `?`.
        b'b' | b'c' | b'p' | b's' | b'D' | b'?' => Some(EntryKind::Other),
        _ => None,
    }
}

/// If the words just before `at` are a size, the index of its first word
/// and the size: plain digits, or a device's `major, minor` / `major,minor`
/// (which has no size).
fn size_before(line: &[u8], spans: &[Range<usize>], at: usize) -> Option<(usize, Option<u64>)> {
    let prev = word(line, spans, at.checked_sub(1)?)?;
    if let Some(size) = digits(prev) {
        let major = at.checked_sub(2).and_then(|i| word(line, spans, i));
        let is_device = major
            .and_then(|w| w.strip_suffix(b","))
            .and_then(digits)
            .is_some();
        return Some(if is_device {
            (at - 2, None)
        } else {
            (at - 1, Some(size))
        });
    }
    let comma = prev.iter().position(|&b| b == b',')?;
    let (major, minor) = prev.split_at_checked(comma)?;
    digits(major)?;
    digits(minor.get(1..)?)?;
    Some((at - 1, None))
}

/// A date starting at word `at`, in any of the accepted forms.
fn date_at(line: &[u8], spans: &[Range<usize>], at: usize, now_unix: i64) -> Option<DateSpan> {
    let w = |i: usize| word(line, spans, i);
    let span = |last: usize, mtime| {
        let end = spans.get(last)?.end;
        Some(DateSpan { end, mtime })
    };
    let Some(month) = month_number(w(at)?) else {
        return iso_date_at(line, spans, at);
    };
    let day = w(at + 1).filter(|d| d.len() <= 2).and_then(day_of_month)?;
    let third = w(at + 2)?;
    if let Some(year) = fixed_digits(third, 4) {
        return span(at + 2, civil(i64::from(year), month, day, (0, 0, 0)));
    }
    match clock(third)? {
        // BSD `ls -T`: `Jan 31 10:15:30 2024`.
        (hour, minute, Some(second)) => {
            let year = w(at + 3).and_then(|y| fixed_digits(y, 4))?;
            let mtime = civil(i64::from(year), month, day, (hour, minute, second));
            span(at + 3, mtime)
        }
        (hour, minute, None) => span(at + 2, infer_year(month, day, (hour, minute, 0), now_unix)),
    }
}

/// `2024-01-31 10:15` (`long-iso`) or `2024-01-31 10:15:30.5 +0100`
/// (`full-iso`) starting at word `at`.
fn iso_date_at(line: &[u8], spans: &[Range<usize>], at: usize) -> Option<DateSpan> {
    let w = |i: usize| word(line, spans, i);
    let (year, month, day) = iso_date(w(at)?)?;
    let (hour, minute, second) = clock(w(at + 1)?)?;
    let zone = second.and_then(|_| w(at + 2)).and_then(zone_offset);
    let last = if zone.is_some() { at + 2 } else { at + 1 };
    let mtime =
        civil(year, month, day, (hour, minute, second.unwrap_or(0))).map(|t| t - zone.unwrap_or(0));
    Some(DateSpan {
        end: spans.get(last)?.end,
        mtime,
    })
}

/// A day of the month, `1` to `31` (one or two digits).
fn day_of_month(word: &[u8]) -> Option<u32> {
    digits(word)
        .and_then(|d| u32::try_from(d).ok())
        .filter(|d| (1..=31).contains(d))
}

/// `YYYY-MM-DD`.
fn iso_date(word: &[u8]) -> Option<(i64, u32, u32)> {
    let mut parts = word.split(|&b| b == b'-');
    let year = fixed_digits(parts.next()?, 4)?;
    let month = fixed_digits(parts.next()?, 2)?;
    let day = fixed_digits(parts.next()?, 2)?;
    parts
        .next()
        .is_none()
        .then_some((i64::from(year), month, day))
}

/// `+HHMM` or `-HHMM`, as seconds east of UTC.
fn zone_offset(word: &[u8]) -> Option<i64> {
    let (&sign, rest) = word.split_first()?;
    let (hours, minutes) = rest.split_at_checked(2)?;
    let secs =
        i64::from(fixed_digits(hours, 2)?) * 3600 + i64::from(fixed_digits(minutes, 2)?) * 60;
    match sign {
        b'+' => Some(secs),
        b'-' => Some(-secs),
        _ => None,
    }
}

/// Splits `name -> target` at the first ` -> `.
fn split_link(name: &[u8]) -> (&[u8], Option<&[u8]>) {
    match name.windows(4).position(|w| w == b" -> ") {
        Some(i) => (&name[..i], name.get(i + 4..)),
        None => (name, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::parse::parse_list_line;
    use crate::listing::{unix_line, Entry};
    use proptest::prelude::*;

    /// 2024-03-15 12:00:00 UTC.
    const NOW: i64 = 1_710_504_000;

    fn at(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        civil(y, mo, d, (h, mi, 0)).unwrap()
    }

    /// (line, name, kind, size, mtime, link target)
    type Row = (
        &'static [u8],
        &'static [u8],
        EntryKind,
        Option<u64>,
        Option<i64>,
        Option<&'static [u8]>,
    );

    fn table() -> Vec<Row> {
        use EntryKind::*;
        vec![
            // vsftpd (hide_ids and numeric ids).
            (
                b"drwxr-xr-x    2 ftp      ftp          4096 Nov 14 22:13 pub",
                b"pub",
                Dir,
                Some(4096),
                Some(at(2023, 11, 14, 22, 13)),
                None,
            ),
            (
                b"-rw-r--r--    1 1000     1000       123456 Jan 05  2021 archive.tar.gz",
                b"archive.tar.gz",
                File,
                Some(123_456),
                Some(at(2021, 1, 5, 0, 0)),
                None,
            ),
            // pure-ftpd.
            (
                b"-rw-r--r--    1 1001       1001            1024 Mar  3 09:30 notes.txt",
                b"notes.txt",
                File,
                Some(1024),
                Some(at(2024, 3, 3, 9, 30)),
                None,
            ),
            (
                b"drwxr-xr-x    5 ftpuser    ftpgroup        4096 Dec 24  2019 old",
                b"old",
                Dir,
                Some(4096),
                Some(at(2019, 12, 24, 0, 0)),
                None,
            ),
            // ProFTPD.
            (
                b"-rw-r--r--   1 alice    staff       52428 Feb 29 13:37 leap.bin",
                b"leap.bin",
                File,
                Some(52_428),
                Some(at(2024, 2, 29, 13, 37)),
                None,
            ),
            (
                b"lrwxrwxrwx   1 root     root           11 Jun  1 08:00 latest -> release-1.2",
                b"latest",
                Symlink,
                Some(11),
                Some(at(2023, 6, 1, 8, 0)),
                Some(b"release-1.2"),
            ),
            // FileZilla Server.
            (
                b"-rw-r--r-- 1 ftp ftp          1234 Jan 31 10:15 file.txt",
                b"file.txt",
                File,
                Some(1234),
                Some(at(2024, 1, 31, 10, 15)),
                None,
            ),
            (
                b"drwxr-xr-x 1 ftp ftp              0 Jan 31  2023 Folder",
                b"Folder",
                Dir,
                Some(0),
                Some(at(2023, 1, 31, 0, 0)),
                None,
            ),
            // IIS with Unix-style listings.
            (
                b"-rwxrwxrwx   1 owner    group            1234 Jan 31 10:15 report.docx",
                b"report.docx",
                File,
                Some(1234),
                Some(at(2024, 1, 31, 10, 15)),
                None,
            ),
            (
                b"d---------   1 owner    group               0 Mar 16 11:00 folder",
                b"folder",
                Dir,
                Some(0),
                Some(at(2024, 3, 16, 11, 0)),
                None,
            ),
            // busybox ftpd.
            (
                b"-rw-r--r--    1 0        0             1234 Jan  5 12:00 name",
                b"name",
                File,
                Some(1234),
                Some(at(2024, 1, 5, 12, 0)),
                None,
            ),
            (
                b"crw-rw-rw-    1 0        0          1,   3 Jan  1  1970 null",
                b"null",
                Other,
                None,
                Some(0),
                None,
            ),
            (
                b"brw-rw----    1 0        6          8,0 Jan  1  1970 sda",
                b"sda",
                Other,
                None,
                Some(0),
                None,
            ),
            (
                b"prw-r--r--    1 0        0             0 Jan  1  1970 fifo",
                b"fifo",
                Other,
                Some(0),
                Some(0),
                None,
            ),
            // No group column; no link count either.
            (
                b"-rw-r--r--   1 ftp          1234 Jan 31 10:15 nogroup.txt",
                b"nogroup.txt",
                File,
                Some(1234),
                Some(at(2024, 1, 31, 10, 15)),
                None,
            ),
            (
                b"-rw-r--r-- ftp 77 Jan 31 10:15 bare",
                b"bare",
                File,
                Some(77),
                Some(at(2024, 1, 31, 10, 15)),
                None,
            ),
            // ACL, extended-attribute and SELinux markers.
            (
                b"-rw-r--r--@  1 user  staff  1234 Jan 31 10:15 mac.txt",
                b"mac.txt",
                File,
                Some(1234),
                Some(at(2024, 1, 31, 10, 15)),
                None,
            ),
            (
                b"drwxr-xr-x+  3 u     g      4096 Jan 31 10:15 acl",
                b"acl",
                Dir,
                Some(4096),
                Some(at(2024, 1, 31, 10, 15)),
                None,
            ),
            (
                b"-rw-r--r--.  1 root  root      0 Jan 31 10:15 selinux",
                b"selinux",
                File,
                Some(0),
                Some(at(2024, 1, 31, 10, 15)),
                None,
            ),
            (
                b"drwxrwsrwt   2 root  root   4096 Jan 31 10:15 sticky",
                b"sticky",
                Dir,
                Some(4096),
                Some(at(2024, 1, 31, 10, 15)),
                None,
            ),
            // ISO and BSD `-T` dates.
            (
                b"-rw-r--r-- 1 user group 1234 2024-01-31 10:15 iso.txt",
                b"iso.txt",
                File,
                Some(1234),
                Some(at(2024, 1, 31, 10, 15)),
                None,
            ),
            (
                b"-rw-r--r-- 1 user group 1234 2024-01-31 10:15:30.123456789 +0100 full.txt",
                b"full.txt",
                File,
                Some(1234),
                Some(at(2024, 1, 31, 9, 15) + 30),
                None,
            ),
            (
                b"-rw-r--r--  1 user  staff  1234 Jan 31 10:15:30 2024 t.txt",
                b"t.txt",
                File,
                Some(1234),
                Some(at(2024, 1, 31, 10, 15) + 30),
                None,
            ),
            // Wharf's own `?` for special files.
            (
                b"?rw-r--r--    1 ftp      ftp             0 Mar 15 11:59 sock",
                b"sock",
                Other,
                Some(0),
                Some(at(2024, 3, 15, 11, 59)),
                None,
            ),
            // Tricky names.
            (
                b"-rw-r--r--    1 ftp      ftp             5 Mar 15 11:59  leading space",
                b" leading space",
                File,
                Some(5),
                Some(at(2024, 3, 15, 11, 59)),
                None,
            ),
            (
                b"-rw-r--r--    1 ftp      ftp             5 Mar 15 11:59 2024 report.txt",
                b"2024 report.txt",
                File,
                Some(5),
                Some(at(2024, 3, 15, 11, 59)),
                None,
            ),
            (
                b"-rw-r--r--    1 ftp      ftp             5 Jan  1  2020 12:00 lunch",
                b"12:00 lunch",
                File,
                Some(5),
                Some(at(2020, 1, 1, 0, 0)),
                None,
            ),
            (
                b"-rw-r--r--    1 ftp      ftp             5 Mar 15 11:59 a -> b",
                b"a -> b",
                File,
                Some(5),
                Some(at(2024, 3, 15, 11, 59)),
                None,
            ),
            (
                b"-rw-r--r--    1 ftp      ftp             5 Mar 15 11:59 a->b",
                b"a->b",
                File,
                Some(5),
                Some(at(2024, 3, 15, 11, 59)),
                None,
            ),
            (
                b"lrwxrwxrwx    1 ftp      ftp             5 Mar 15 11:59 a -> b -> c",
                b"a",
                Symlink,
                Some(5),
                Some(at(2024, 3, 15, 11, 59)),
                Some(b"b -> c"),
            ),
            (
                b"lrwxrwxrwx    1 ftp      ftp             5 Mar 15 11:59 dangling",
                b"dangling",
                Symlink,
                Some(5),
                Some(at(2024, 3, 15, 11, 59)),
                None,
            ),
            (
                b"-rw-r--r--    1 ftp      ftp             5 Mar 15 11:59 many   spaces  ",
                b"many   spaces  ",
                File,
                Some(5),
                Some(at(2024, 3, 15, 11, 59)),
                None,
            ),
            (
                b"-rw-r--r--    1 ftp      ftp             5 Mar 15 11:59 caf\xe9 \xff",
                b"caf\xe9 \xff",
                File,
                Some(5),
                Some(at(2024, 3, 15, 11, 59)),
                None,
            ),
            (
                b"-rw-r--r--    1 ftp      ftp             5 Mar 15 11:59 Jan 5 2020",
                b"Jan 5 2020",
                File,
                Some(5),
                Some(at(2024, 3, 15, 11, 59)),
                None,
            ),
            // An owner and group that look like a month and day.
            (
                b"-rw-r--r--    1 may      10           2020 Jan  5 12:00 f",
                b"f",
                File,
                Some(2020),
                Some(at(2024, 1, 5, 12, 0)),
                None,
            ),
            // A date that does not exist still gives the entry.
            (
                b"-rw-r--r--    1 ftp      ftp             5 Feb 30  2020 odd",
                b"odd",
                File,
                Some(5),
                None,
                None,
            ),
        ]
    }

    #[test]
    fn real_world_lines() {
        for (line, name, kind, size, mtime, target) in table() {
            let e = parse_list_line(line, NOW)
                .unwrap_or_else(|| panic!("no parse: {:?}", line.escape_ascii()));
            let shown = line.escape_ascii().to_string();
            assert_eq!(e.name, name, "{shown}");
            assert_eq!(e.kind, kind, "{shown}");
            assert_eq!(e.size, size, "{shown}");
            assert_eq!(e.mtime, mtime, "{shown}");
            assert_eq!(e.link_target.as_deref(), target, "{shown}");
            assert!(e.facts.is_empty());
        }
    }

    #[test]
    fn not_unix_lines() {
        for line in [
            &b"xrwxr-xr-x 2 ftp ftp 4096 Nov 14 22:13 bad-type"[..],
            b"drwxr-xr-x! 2 ftp ftp 4096 Nov 14 22:13 bad-marker",
            b"drwxr-xrzx 2 ftp ftp 4096 Nov 14 22:13 bad-bit",
            b"drwxr-xr-x 2 ftp ftp big Nov 14 22:13 no-size",
            b"drwxr-xr-x 2 ftp ftp staff extra 4096 Nov 14 22:13 too-many-columns",
            b"drwxr-xr-x 2 ftp ftp 4096 Nov 32 22:13 bad-day",
            b"drwxr-xr-x 2 ftp ftp 4096 Nov 14 25:13 bad-time",
            b"lrwxrwxrwx 1 ftp ftp 4 Nov 14 22:13  -> x",
        ] {
            assert_eq!(
                parse_list_line(line, NOW),
                None,
                "{:?}",
                line.escape_ascii()
            );
        }
    }

    fn kind_strategy() -> impl Strategy<Value = EntryKind> {
        prop_oneof![
            Just(EntryKind::File),
            Just(EntryKind::Dir),
            Just(EntryKind::Symlink),
            Just(EntryKind::Other),
        ]
    }

    fn name_strategy() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
            1..24,
        )
    }

    fn format(name: &[u8], kind: EntryKind, size: u64, mtime: i64, now: i64) -> Vec<u8> {
        let entry = Entry {
            name,
            kind,
            size,
            mtime,
            mode: 0o754,
            nlink: 3,
            unique: (0, 0),
            link_target: None,
        };
        let mut out = Vec::new();
        unix_line(&entry, now, &mut out);
        out
    }

    proptest! {
        #[test]
        fn recent_dates_round_trip(
            name in name_strategy(),
            kind in kind_strategy(),
            size in any::<u64>(),
            now in 1_000_000_000i64..3_000_000_000,
            age in -86_400i64..181 * 86_400,
        ) {
            prop_assume!(kind != EntryKind::Symlink || !name.windows(4).any(|w| w == b" -> "));
            let mtime = now - age;
            let line = format(&name, kind, size, mtime, now);
            let e = parse_list_line(&line, now).unwrap();
            prop_assert_eq!(e.name, name);
            prop_assert_eq!(e.kind, kind);
            prop_assert_eq!(e.size, Some(size));
            prop_assert_eq!(e.mtime, Some(mtime - mtime.rem_euclid(60)));
        }

        #[test]
        fn old_dates_round_trip(
            name in name_strategy(),
            kind in kind_strategy(),
            size in any::<u64>(),
            now in 1_000_000_000i64..3_000_000_000,
            age in 183 * 86_400i64..1_000_000_000,
        ) {
            prop_assume!(kind != EntryKind::Symlink || !name.windows(4).any(|w| w == b" -> "));
            let mtime = now - age;
            let line = format(&name, kind, size, mtime, now);
            let e = parse_list_line(&line, now).unwrap();
            prop_assert_eq!(e.name, name);
            prop_assert_eq!(e.kind, kind);
            prop_assert_eq!(e.size, Some(size));
            prop_assert_eq!(e.mtime, Some(mtime - mtime.rem_euclid(86_400)));
        }
    }
}
