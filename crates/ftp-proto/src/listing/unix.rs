//! The `ls -l` line: `drwxr-xr-x    2 ftp      ftp          4096 Nov 14 22:13 name`.
//!
//! A symbolic link is typed `l` and, when the entry carries a target, ends
//! `name -> target` as `ls`, vsftpd and ProFTPD print it (and as every
//! client's parser splits it, at the first ` -> `). Which target, if any,
//! may be shown is the caller's decision; the target is written as given,
//! like the name.
//!
//! The owner and group columns are fixed names rather than the server's
//! local accounts, which would leak system user names (vsftpd's
//! `hide_ids`). The date column follows `ls`: time of day for the last six
//! months, the year otherwise.

use super::{Entry, EntryKind};
use crate::time::{push_right, UtcTime};

/// Appends the `ls -l` line for `entry`, ending in CRLF.
pub fn unix_line(entry: &Entry<'_>, now_unix: i64, out: &mut Vec<u8>) {
    let type_char = match entry.kind {
        EntryKind::Dir => b'd',
        EntryKind::Symlink => b'l',
        EntryKind::File => b'-',
        EntryKind::Other => b'?',
    };
    let mut perms = [b'-'; 9];
    for (i, slot) in perms.iter_mut().enumerate() {
        if entry.mode & (0o400 >> i) != 0 {
            *slot = b"rwx"[i % 3];
        }
    }
    // Formatted by hand: a big directory's listing is mostly this loop.
    out.push(type_char);
    out.extend_from_slice(&perms);
    out.push(b' ');
    push_right(out, entry.nlink.max(1), 4);
    out.extend_from_slice(b" ftp      ftp      ");
    push_right(out, entry.size, 12);
    out.push(b' ');
    UtcTime::from_unix(entry.mtime).push_ls_date(now_unix, out);
    out.push(b' ');
    out.extend_from_slice(entry.name);
    if let (EntryKind::Symlink, Some(target)) = (entry.kind, entry.link_target) {
        out.extend_from_slice(b" -> ");
        out.extend_from_slice(target);
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &[u8], kind: EntryKind, mode: u32) -> Entry<'_> {
        Entry {
            name,
            kind,
            size: 4096,
            mtime: 1_700_000_000,
            mode,
            nlink: 2,
            unique: (1, 2),
            link_target: None,
        }
    }

    fn line(entry: &Entry<'_>) -> String {
        let mut out = Vec::new();
        unix_line(entry, 1_700_000_100, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn link_with_and_without_its_target() {
        let link = Entry {
            size: 8,
            nlink: 1,
            link_target: Some(b"docs/a b"),
            ..entry(b"latest", EntryKind::Symlink, 0o777)
        };
        assert_eq!(
            line(&link),
            "lrwxrwxrwx    1 ftp      ftp                 8 Nov 14 22:13 latest -> docs/a b\r\n"
        );
        let withheld = Entry {
            size: 0,
            link_target: None,
            ..link
        };
        assert_eq!(
            line(&withheld),
            "lrwxrwxrwx    1 ftp      ftp                 0 Nov 14 22:13 latest\r\n"
        );
        // Only a link shows a target, whatever the entry carries.
        let file = Entry {
            link_target: Some(b"x"),
            ..entry(b"f", EntryKind::File, 0o644)
        };
        assert!(line(&file).ends_with(" f\r\n"));
    }

    #[test]
    fn a_link_line_parses_back() {
        let link = Entry {
            link_target: Some(b"../r\xe9al"),
            ..entry(b"caf\xe9 link", EntryKind::Symlink, 0o777)
        };
        let mut out = Vec::new();
        unix_line(&link, 1_700_000_100, &mut out);
        let parsed = crate::listing::parse_list_line(&out, 1_700_000_100).unwrap();
        assert_eq!(parsed.name, b"caf\xe9 link");
        assert_eq!(parsed.kind, EntryKind::Symlink);
        assert_eq!(parsed.link_target.as_deref(), Some(&b"../r\xe9al"[..]));
    }

    #[test]
    fn directory_line() {
        let mut out = Vec::new();
        unix_line(
            &entry(b"docs", EntryKind::Dir, 0o755),
            1_700_000_100,
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "drwxr-xr-x    2 ftp      ftp              4096 Nov 14 22:13 docs\r\n"
        );
    }

    #[test]
    fn old_file_with_odd_name() {
        let mut out = Vec::new();
        unix_line(
            &entry(b" 1 caf\xe9", EntryKind::File, 0o640),
            1_800_000_000,
            &mut out,
        );
        assert!(out.starts_with(
            b"-rw-r-----    2 ftp      ftp              4096 Nov 14  2023  1 caf\xe9\r\n"
        ));
    }
}
