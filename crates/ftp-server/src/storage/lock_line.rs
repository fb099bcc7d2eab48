//! The order in which this process's sessions take turns at one file's
//! lock (see [`super::handle::FileLock::acquire`]).
//!
//! `flock` itself has no order: a session that releases a file and asks
//! for it again a moment later (the next APPE of a client appending in
//! pieces) usually wins over one that has been waiting, which tries only
//! now and then. So each waiter takes a ticket in the file's line, and
//! only the first in line tries the lock; a newcomer queues behind
//! whoever is waiting. Sessions of other processes sharing the disk still
//! meet only at `flock`.
//!
//! A delete, or an upload's final rename over an existing file, waits for
//! the one file it removes the same way (see
//! [`super::handle::with_name_settled`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::{LazyLock, Mutex, PoisonError};

/// A file, as `(st_dev, st_ino)`.
pub type FileKey = (u64, u64);

#[derive(Debug, Default)]
struct Line {
    /// The ticket the next newcomer gets.
    next: u64,
    /// The ticket whose turn it is.
    serving: u64,
    /// Tickets given up before their turn (timed out), skipped when it
    /// comes.
    gone: BTreeSet<u64>,
}

static LINES: LazyLock<Mutex<HashMap<FileKey, Line>>> = LazyLock::new(Mutex::default);

/// One waiter's place in a file's line; leaving it (by drop: the lock was
/// taken, or the wait given up) lets the next one try.
#[derive(Debug)]
pub struct Place {
    key: FileKey,
    ticket: u64,
}

impl Place {
    /// Joins the end of `key`'s line.
    pub fn join(key: FileKey) -> Place {
        let mut lines = LINES.lock().unwrap_or_else(PoisonError::into_inner);
        let line = lines.entry(key).or_default();
        let ticket = line.next;
        line.next += 1;
        Place { key, ticket }
    }

    /// The file whose line this is.
    pub fn key(&self) -> FileKey {
        self.key
    }

    /// Whether it is this place's turn to try the lock.
    pub fn first(&self) -> bool {
        let lines = LINES.lock().unwrap_or_else(PoisonError::into_inner);
        lines
            .get(&self.key)
            .is_none_or(|line| line.serving == self.ticket)
    }
}

/// How many wait in `key`'s line (tests watch a waiter join).
#[cfg(test)]
pub fn waiting(key: FileKey) -> u64 {
    let lines = LINES.lock().unwrap_or_else(PoisonError::into_inner);
    lines
        .get(&key)
        .map_or(0, |line| line.next - line.serving - line.gone.len() as u64)
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut lines = LINES.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(line) = lines.get_mut(&self.key) else {
            return;
        };
        if line.serving == self.ticket {
            line.serving += 1;
            while line.gone.remove(&line.serving) {
                line.serving += 1;
            }
        } else {
            line.gone.insert(self.ticket);
        }
        if line.serving == line.next {
            lines.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_come_in_the_order_of_joining_and_skip_those_who_left() {
        let key = (u64::MAX, 1);
        let a = Place::join(key);
        let b = Place::join(key);
        let c = Place::join(key);
        assert!(a.first() && !b.first() && !c.first());
        drop(b); // gave up before its turn
        assert!(!c.first());
        drop(a); // took the lock: the next one still here is first
        assert!(c.first());
        let d = Place::join(key);
        assert!(!d.first());
        drop(c);
        assert!(d.first());
        drop(d);
        assert!(
            !LINES.lock().unwrap().contains_key(&key),
            "an empty line is removed"
        );
    }

    #[test]
    fn lines_of_different_files_are_independent() {
        let (x, y) = ((u64::MAX, 2), (u64::MAX, 3));
        let a = Place::join(x);
        let b = Place::join(y);
        assert!(a.first() && b.first());
    }
}
