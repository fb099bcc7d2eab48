//! Tolerant, sans-IO parsers for the listings FTP servers send, for the
//! client side (`ls`, `mirror`, `mget`).
//!
//! LIST has no standard format, so [`parse_list_line`] tells the common
//! ones apart by their first byte: EPLF lines start with `+`, DOS/IIS lines
//! with a date, and anything else is tried as Unix `ls -l`. MLSD/MLST lines
//! (RFC 3659 §7) are well defined and have their own entry point,
//! [`parse_mlsx_line`].
//!
//! Names are bytes and stay bytes; nothing here assumes UTF-8. A line that
//! fits no format (a `total 12` header, a blank, a server's chatter) gives
//! `None`, and no input makes a parser panic.
//!
//! Listing times carry no time zone. Unix and DOS dates are read as UTC,
//! which is right for servers that list in UTC (Wharf, vsftpd's default)
//! and off by the server's offset otherwise.

mod dos;
mod eplf;
mod mlsx;
mod unix;

pub use mlsx::parse_mlsx_line;

use super::EntryKind;
use crate::time::UtcTime;
use std::ops::Range;

/// One directory entry read back from a listing line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEntry {
    /// The name as the server sent it; not necessarily UTF-8.
    pub name: Vec<u8>,
    pub kind: EntryKind,
    /// Size in bytes, when the line has one (not for devices, nor for
    /// MLSx directories; a Unix directory reports its block size).
    pub size: Option<u64>,
    /// Modification time, seconds since the Unix epoch (UTC), when known.
    /// `ls -l` dates without a year are placed in the latest year that
    /// does not put them more than a day after `now`.
    pub mtime: Option<i64>,
    /// Where a symlink points, when the line says (`a -> b` in `ls -l`,
    /// `type=OS.unix=slink:b` in MLSx).
    pub link_target: Option<Vec<u8>>,
    /// MLSx facts in line order, keys lowercased; empty for LIST formats.
    pub facts: Vec<(String, Vec<u8>)>,
    /// The entry stands for the listed directory itself or its parent
    /// (MLSx `type=cdir`/`type=pdir`, or a name of `.` or `..`): `ls`,
    /// `mirror` and `mget` skip it.
    pub is_listed_dir: bool,
}

impl ParsedEntry {
    /// An entry with only a name and a kind; `.` and `..` are marked as
    /// the listed directory and its parent.
    fn new(name: &[u8], kind: EntryKind) -> Self {
        ParsedEntry {
            name: name.to_vec(),
            kind,
            size: None,
            mtime: None,
            link_target: None,
            facts: Vec::new(),
            is_listed_dir: name == b"." || name == b"..",
        }
    }
}

/// Parses one line of a LIST reply (without its CRLF), detecting Unix
/// `ls -l`, DOS/IIS and EPLF. `now_unix` is the client's clock, used to
/// give a year to recent `ls -l` dates.
pub fn parse_list_line(line: &[u8], now_unix: i64) -> Option<ParsedEntry> {
    let line = strip_eol(line);
    if line.first() == Some(&b'+') {
        return eplf::parse(line);
    }
    match line.iter().find(|b| !is_blank(**b))? {
        b'0'..=b'9' => dos::parse(line),
        _ => unix::parse(line, now_unix),
    }
}

const DAY_SECS: i64 = 86_400;

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// Drops a trailing LF and CR, for callers that pass whole lines.
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The byte ranges of the first `max` blank-separated words of `line`.
fn words(line: &[u8], max: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &b) in line.iter().enumerate() {
        match (is_blank(b), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push(s..i);
                start = None;
                if out.len() == max {
                    return out;
                }
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..line.len());
    }
    out
}

/// Word `i` of `line`, as split by [`words`].
fn word<'a>(line: &'a [u8], words: &[Range<usize>], i: usize) -> Option<&'a [u8]> {
    line.get(words.get(i)?.clone())
}

/// A non-empty run of ASCII digits that fits in a `u64`.
fn digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &b| {
        let d = (b as char).to_digit(10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// A number of exactly `len` digits.
fn fixed_digits(bytes: &[u8], len: usize) -> Option<u32> {
    if bytes.len() != len {
        return None;
    }
    digits(bytes).and_then(|n| u32::try_from(n).ok())
}

/// `jan`…`dec` in any case, as 1…12.
fn month_number(word: &[u8]) -> Option<u32> {
    let lower = word.to_ascii_lowercase();
    let i = MONTHS.iter().position(|m| m[..] == lower[..])?;
    u32::try_from(i + 1).ok()
}

/// `H:MM`, `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fraction`, as hour, minute and
/// (when given) second.
fn clock(word: &[u8]) -> Option<(u32, u32, Option<u32>)> {
    let mut parts = word.splitn(3, |&b| b == b':');
    let hour = parts.next().filter(|h| h.len() <= 2).and_then(digits)?;
    let minute = fixed_digits(parts.next()?, 2)?;
    let second = match parts.next() {
        None => None,
        Some(rest) => {
            let whole = rest.split(|&b| b == b'.').next()?;
            Some(fixed_digits(whole, 2)?)
        }
    };
    let hour = u32::try_from(hour).ok().filter(|h| *h < 24)?;
    (minute < 60 && second.is_none_or(|s| s <= 60)).then_some((hour, minute, second))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Seconds since the epoch for a civil UTC time, or `None` if the date
/// does not exist (February 30th, month 13) or the year is out of range.
fn civil(year: i64, month: u32, day: u32, hms: (u32, u32, u32)) -> Option<i64> {
    let (hour, minute, second) = hms;
    let valid = (0..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60;
    valid.then(|| {
        UtcTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        }
        .to_unix()
    })
}

/// A month, day and time without a year, placed in the latest year that
/// puts it no more than a day after `now_unix`: this year, or last year
/// for dates still ahead, or next year when the server's clock runs
/// ahead across New Year. Leap days look back to the last leap year.
fn infer_year(month: u32, day: u32, hms: (u32, u32, u32), now_unix: i64) -> Option<i64> {
    let this_year = UtcTime::from_unix(now_unix).year;
    let limit = now_unix.saturating_add(DAY_SECS);
    (this_year.saturating_sub(8)..=this_year.saturating_add(1))
        .rev()
        .find_map(|year| civil(year, month, day, hms).filter(|t| *t <= limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn words_keep_offsets() {
        let line = b"  a bc\t d ";
        let spans = words(line, 10);
        assert_eq!(spans, vec![2..3, 4..6, 8..9]);
        assert_eq!(words(line, 2), vec![2..3, 4..6]);
    }

    #[test]
    fn small_lexers() {
        assert_eq!(digits(b"0042"), Some(42));
        assert_eq!(digits(b"18446744073709551616"), None);
        assert_eq!(digits(b"+1"), None);
        assert_eq!(month_number(b"DEC"), Some(12));
        assert_eq!(month_number(b"Mai"), None);
        assert_eq!(clock(b"9:05"), Some((9, 5, None)));
        assert_eq!(clock(b"23:59:60.999"), Some((23, 59, Some(60))));
        assert_eq!(clock(b"24:00"), None);
        assert_eq!(clock(b"12:5"), None);
        assert_eq!(civil(2023, 2, 29, (0, 0, 0)), None);
        assert_eq!(civil(2024, 2, 29, (0, 0, 0)), Some(1_709_164_800));
    }

    #[test]
    fn year_inference() {
        let at = |y, mo, d, h, mi| civil(y, mo, d, (h, mi, 0)).unwrap();
        // Across New Year: a late-December date seen on January 2nd is last year's.
        let now = at(2024, 1, 2, 9, 0);
        assert_eq!(
            infer_year(12, 31, (23, 59, 0), now),
            Some(at(2023, 12, 31, 23, 59))
        );
        assert_eq!(infer_year(1, 1, (0, 5, 0), now), Some(at(2024, 1, 1, 0, 5)));
        // A server clock a few hours ahead on New Year's Eve.
        let now = at(2023, 12, 31, 20, 0);
        assert_eq!(infer_year(1, 1, (1, 0, 0), now), Some(at(2024, 1, 1, 1, 0)));
        // More than a day ahead means last year.
        let now = at(2024, 6, 1, 0, 0);
        assert_eq!(infer_year(6, 3, (0, 0, 0), now), Some(at(2023, 6, 3, 0, 0)));
        // A leap day seen in 2025 is 2024's.
        let now = at(2025, 3, 1, 0, 0);
        assert_eq!(
            infer_year(2, 29, (12, 0, 0), now),
            Some(at(2024, 2, 29, 12, 0))
        );
        assert_eq!(infer_year(2, 30, (12, 0, 0), now), None);
        // An absurd clock gives no year rather than a panic.
        assert_eq!(infer_year(1, 1, (0, 0, 0), i64::MAX), None);
        assert_eq!(infer_year(1, 1, (0, 0, 0), i64::MIN), None);
    }

    #[test]
    fn dispatch_and_rejects() {
        let now = 1_700_000_000;
        for line in [
            &b""[..],
            b"   ",
            b"total 123",
            b"Total: 2 files",
            b"ls: cannot open directory .: Permission denied",
            b"+",
            b"0",
            b"-rw-r--r--",
            b"-rw-r--r-- 1 ftp ftp 12 Jan 5 12:00",
            b"-rw-r--r-- 1 ftp ftp 12 Jan 5 12:00 ",
        ] {
            assert_eq!(
                parse_list_line(line, now),
                None,
                "{:?}",
                line.escape_ascii()
            );
        }
        let e = parse_list_line(b"drwxr-xr-x 2 ftp ftp 4096 Nov 14 22:13 pub\r\n", now).unwrap();
        assert_eq!(e.name, b"pub");
        let e = parse_list_line(b"01-31-24  10:15AM  <DIR>  d\n", now).unwrap();
        assert_eq!((e.name.as_slice(), e.kind), (&b"d"[..], EntryKind::Dir));
        let e = parse_list_line(b"+/,\tsub", now).unwrap();
        assert_eq!((e.name.as_slice(), e.kind), (&b"sub"[..], EntryKind::Dir));
    }

    #[test]
    fn dot_entries_are_the_listed_dir() {
        let now = 1_700_000_000;
        let e = parse_list_line(b"drwxr-xr-x 2 ftp ftp 4096 Nov 14 22:13 ..", now).unwrap();
        assert!(e.is_listed_dir);
        let e = parse_list_line(b"drwxr-xr-x 2 ftp ftp 4096 Nov 14 22:13 ...", now).unwrap();
        assert!(!e.is_listed_dir);
    }

    /// Found by the `listing` fuzz target: a line break inside an MLSx
    /// name (which the line reader never produces) must not upset anything.
    #[test]
    fn fuzz_regression_line_break_in_mlsx_name() {
        let e = parse_mlsx_line(b" \n\x1cc").unwrap();
        assert_eq!(e.name, b"\n\x1cc");
        assert!(parse_list_line(b" \n\x1cc", 0).is_none());
    }

    /// Pieces of real listing lines, so random lines get past the first
    /// checks and into the deeper branches.
    const PIECES: [&[u8]; 26] = [
        b"drwxr-xr-x",
        b"-rw-r--r--@",
        b"lrwxrwxrwx",
        b"crw-rw-rw-",
        b"1",
        b"4096",
        b"1,",
        b"3,4",
        b"ftp",
        b"Jan",
        b"feb",
        b"29",
        b"31",
        b"12:00",
        b"23:59:60.5",
        b"2024",
        b"2024-02-29",
        b"+0100",
        b"->",
        b"<DIR>",
        b"01-31-24",
        b"10:15PM",
        b"AM",
        b"+i1,m99999999999999999999,/,s1,r\t",
        b"type=cdir;size=1;",
        b"\xff",
    ];

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..200), now in any::<i64>()) {
            let _ = parse_list_line(&line, now);
            let _ = parse_mlsx_line(&line);
        }

        #[test]
        fn listing_shaped_lines_never_panic(
            picks in proptest::collection::vec((0..PIECES.len(), 0usize..3), 0..14),
            now in prop_oneof![any::<i64>(), 0i64..4_000_000_000],
        ) {
            let mut line = Vec::new();
            for (piece, gap) in picks {
                line.extend_from_slice(PIECES[piece]);
                line.extend(std::iter::repeat_n(b' ', gap));
            }
            let _ = parse_list_line(&line, now);
            let _ = parse_mlsx_line(&line);
        }
    }
}
