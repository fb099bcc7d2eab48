//! The transfer log in the xferlog format of wu-ftpd and vsftpd, one line
//! per completed or failed transfer, which log analysers already read:
//!
//! `current-time transfer-secs remote-host bytes filename type action
//! direction access-mode user service auth-method auth-user status`
//!
//! Times are UTC. Spaces in file names are written as `_`, as vsftpd does,
//! so the line stays parseable.

use ftp_proto::time::UtcTime;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One transfer, as the log records it.
#[derive(Debug)]
pub struct XferRecord<'a> {
    pub duration: Duration,
    pub remote: IpAddr,
    pub bytes: u64,
    pub path: &'a [u8],
    pub ascii: bool,
    pub incoming: bool,
    pub anonymous: bool,
    pub user: &'a str,
    pub complete: bool,
}

/// An open transfer log.
#[derive(Debug)]
pub struct XferLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl XferLog {
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(XferLog {
            path: path.to_path_buf(),
            file: Mutex::new(append_to(path)?),
        })
    }

    /// Opens the log's path again (after logrotate moved the file away):
    /// later lines go to the new file. On an error the old file stays.
    pub fn reopen(&self) -> io::Result<()> {
        let file = append_to(&self.path)?;
        *self.file.lock().unwrap_or_else(PoisonError::into_inner) = file;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line; a failure to write is logged, not fatal.
    pub fn record(&self, rec: &XferRecord<'_>) {
        let line = format_line(rec, SystemTime::now());
        if let Ok(mut file) = self.file.lock() {
            if let Err(e) = file.write_all(line.as_bytes()) {
                tracing::warn!(error = %e, "cannot write the transfer log");
            }
        }
    }
}

fn append_to(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn format_line(rec: &XferRecord<'_>, now: SystemTime) -> String {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let name: String = String::from_utf8_lossy(rec.path)
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    format!(
        "{} {} {} {} {} {} _ {} {} {} ftp 0 * {}\n",
        UtcTime::from_unix(secs).asctime(),
        rec.duration.as_secs().max(1),
        rec.remote,
        rec.bytes,
        name,
        if rec.ascii { 'a' } else { 'b' },
        if rec.incoming { 'i' } else { 'o' },
        if rec.anonymous { 'a' } else { 'r' },
        rec.user,
        if rec.complete { 'c' } else { 'i' },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_follows_a_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xferlog");
        let log = XferLog::open(&path).unwrap();
        let rec = XferRecord {
            duration: Duration::from_millis(10),
            remote: "127.0.0.1".parse().unwrap(),
            bytes: 1,
            path: b"/a",
            ascii: false,
            incoming: true,
            anonymous: false,
            user: "alice",
            complete: true,
        };
        log.record(&rec);
        std::fs::rename(&path, dir.path().join("xferlog.1")).unwrap();
        log.reopen().unwrap();
        log.record(&rec);
        let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
        assert_eq!(lines(&dir.path().join("xferlog.1")), 1);
        assert_eq!(lines(&path), 1);
    }

    #[test]
    fn line_format() {
        let rec = XferRecord {
            duration: Duration::from_millis(10),
            remote: "127.0.0.1".parse().unwrap(),
            bytes: 1234,
            path: b"/pub/a file.txt",
            ascii: false,
            incoming: false,
            anonymous: true,
            user: "anonymous",
            complete: true,
        };
        let line = format_line(&rec, UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        assert_eq!(
            line,
            "Tue Nov 14 22:13:20 2023 1 127.0.0.1 1234 /pub/a_file.txt b _ o a anonymous ftp 0 * c\n"
        );
    }
}
