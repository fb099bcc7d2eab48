//! The `ls -l` line: `drwxr-xr-x    2 ftp      ftp          4096 Nov 14 22:13 name`.
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
        }
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
