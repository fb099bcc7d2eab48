//! A bounded persistent queue of events for one webhook: a directory in
//! the data directory holding one file per event, named by a time-ordered
//! id (`NNNNNNNNNNNNNNNNNNNN-PID.json`). An event is written to a hidden
//! temporary file, `fsync`ed, renamed into place and the directory
//! `fsync`ed, so after a crash a file is either whole or absent (leftover
//! temporary files are removed at open). Delivered events are removed.
//! When the queue holds `max` events, adding one removes the oldest, and
//! the caller counts it as dropped.
//!
//! Several processes may add (the server, `wharfd users approve`); only
//! the server takes events off, and it looks at the directory again
//! ([`Spool::rescan`]) when it has nothing left in its index.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Why the queue could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("event queue {}: {context}: {source}", dir.display())]
pub struct SpoolError {
    dir: PathBuf,
    context: &'static str,
    source: io::Error,
}

/// The queue of one webhook.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max: usize,
    /// The queued events' file names, oldest first.
    index: Mutex<BTreeSet<String>>,
    /// The last id this process gave (ids only grow).
    last: AtomicU64,
}

impl Spool {
    /// Opens (making it, private to the server's user) the queue in
    /// `dir`, holding at most `max` events.
    pub fn open(dir: &Path, max: usize) -> Result<Spool, SpoolError> {
        let spool = Spool {
            dir: dir.to_path_buf(),
            max: max.max(1),
            index: Mutex::default(),
            last: AtomicU64::new(0),
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| spool.error("cannot create it", e))?;
        for entry in fs::read_dir(dir).map_err(|e| spool.error("cannot list it", e))? {
            let entry = entry.map_err(|e| spool.error("cannot list it", e))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                // An event a crash interrupted before it was queued.
                let _ = fs::remove_file(entry.path());
            }
        }
        spool.rescan()?;
        Ok(spool)
    }

    fn error(&self, context: &'static str, source: io::Error) -> SpoolError {
        SpoolError {
            dir: self.dir.clone(),
            context,
            source,
        }
    }

    fn index(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        // The set stays whole whatever a panicking holder did.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the directory again (events other processes added). What
    /// the index already holds stays: an event queued while the directory
    /// was read is not lost, and a name whose file went is skipped by
    /// [`Spool::oldest`].
    pub fn rescan(&self) -> Result<(), SpoolError> {
        let mut names = BTreeSet::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| self.error("cannot list it", e))? {
            let entry = entry.map_err(|e| self.error("cannot list it", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_event(&name) {
                names.insert(name);
            }
        }
        self.index().extend(names);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.index().len()
    }

    pub fn is_empty(&self) -> bool {
        self.index().is_empty()
    }

    /// Queues `body` durably; returns how many old events were dropped to
    /// make room.
    pub fn push(&self, body: &[u8]) -> Result<usize, SpoolError> {
        let name = format!("{:020}-{}.json", self.next_id(), std::process::id());
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let write = || -> io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(body)?;
            f.sync_all()?;
            fs::rename(&tmp, self.dir.join(&name))?;
            File::open(&self.dir)?.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(self.error("cannot queue an event", e));
        }
        let mut dropped = 0;
        loop {
            let oldest = {
                let mut index = self.index();
                index.insert(name.clone());
                if index.len() <= self.max {
                    break;
                }
                index.pop_first()
            };
            if let Some(oldest) = oldest {
                self.unlink(&oldest)?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    /// The oldest queued event: its id and its body.
    pub fn oldest(&self) -> Result<Option<(String, Vec<u8>)>, SpoolError> {
        loop {
            let Some(name) = self.index().first().cloned() else {
                return Ok(None);
            };
            match fs::read(self.dir.join(&name)) {
                Ok(body) => {
                    let id = name.trim_end_matches(".json").to_string();
                    return Ok(Some((id, body)));
                }
                // Dropped to make room meanwhile.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.index().remove(&name);
                }
                Err(e) => return Err(self.error("cannot read an event", e)),
            }
        }
    }

    /// Removes the event with `id` (delivered, or given up).
    pub fn remove(&self, id: &str) -> Result<(), SpoolError> {
        let name = format!("{id}.json");
        self.index().remove(&name);
        self.unlink(&name)
    }

    fn unlink(&self, name: &str) -> Result<(), SpoolError> {
        match fs::remove_file(self.dir.join(name)) {
            Ok(()) => File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| self.error("cannot sync it", e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.error("cannot remove an event", e)),
        }
    }

    /// An id larger than every earlier one of this process, and than any
    /// a process made earlier (it is the time in nanoseconds).
    fn next_id(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self
                .last
                .compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}

fn is_event(name: &str) -> bool {
    name.len() > 21
        && name.ends_with(".json")
        && name.as_bytes()[..20].iter().all(u8::is_ascii_digit)
        && name.as_bytes()[20] == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_back_in_order_after_a_reopen_and_leave_when_removed() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 10).unwrap();
        for body in [b"one".as_slice(), b"two", b"three"] {
            assert_eq!(spool.push(body).unwrap(), 0);
        }
        std::fs::write(dir.path().join(".half-written.tmp"), b"x").unwrap();
        drop(spool);
        let spool = Spool::open(dir.path(), 10).unwrap();
        assert_eq!(spool.len(), 3);
        assert!(!dir.path().join(".half-written.tmp").exists());
        let mut seen = Vec::new();
        while let Some((id, body)) = spool.oldest().unwrap() {
            seen.push(body);
            spool.remove(&id).unwrap();
        }
        assert_eq!(seen, [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 2).unwrap();
        assert_eq!(spool.push(b"1").unwrap(), 0);
        assert_eq!(spool.push(b"2").unwrap(), 0);
        assert_eq!(spool.push(b"3").unwrap(), 1);
        assert_eq!(spool.len(), 2);
        assert_eq!(spool.oldest().unwrap().unwrap().1, b"2");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn another_process_events_are_seen_after_a_rescan() {
        let dir = tempfile::tempdir().unwrap();
        let server = Spool::open(dir.path(), 10).unwrap();
        let cli = Spool::open(dir.path(), 10).unwrap();
        cli.push(b"approved").unwrap();
        assert!(server.oldest().unwrap().is_none());
        server.rescan().unwrap();
        assert_eq!(server.oldest().unwrap().unwrap().1, b"approved");
    }
}
