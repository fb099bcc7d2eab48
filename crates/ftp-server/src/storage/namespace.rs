//! The name locks: they serialise the operations that replace or remove a
//! name (an upload's final rename, DELE, RNTO, undoing an upload that
//! created its file) with the measurement of what they replace, so two of
//! them on one name cannot both count the same old file.
//!
//! A name is a directory (by its device and inode, so a lock follows the
//! directory through a rename) and an entry in it. Names share a fixed set
//! of stripes: two operations on different names rarely meet (one in 64),
//! and then one waits for the other's `stat`, usage write and `rename`. A
//! holder may be waiting for the account store to record an upload's
//! usage, so one global lock made every commit of the server wait for
//! every other one's store write.

use super::handle::DirHandle;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};

const STRIPES: usize = 64;

static LOCKS: [Mutex<()>; STRIPES] = [const { Mutex::new(()) }; STRIPES];

/// Held name locks; dropping it releases them.
#[derive(Debug)]
pub struct NameLocks {
    _held: Vec<MutexGuard<'static, ()>>,
}

/// Locks the names `names`, waiting for their holders. Stripes are taken
/// in one order, so two callers can never deadlock.
pub fn lock(names: &[(&DirHandle, &[u8])]) -> io::Result<NameLocks> {
    let mut stripes = Vec::with_capacity(names.len());
    for (dir, name) in names {
        stripes.push(stripe(dir.identity()?, name));
    }
    stripes.sort_unstable();
    stripes.dedup();
    let held = stripes
        .into_iter()
        .map(|i| LOCKS[i].lock().unwrap_or_else(PoisonError::into_inner))
        .collect();
    Ok(NameLocks { _held: held })
}

fn stripe(dir: (u64, u64), name: &[u8]) -> usize {
    let mut hasher = DefaultHasher::new();
    (dir, name).hash(&mut hasher);
    (hasher.finish() % STRIPES as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_name_waits_for_its_holder_and_others_do_not() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DirHandle::open(tmp.path()).unwrap();
        let held = lock(&[(&dir, b"a"), (&dir, b"a")]).unwrap();
        // A name on another stripe is free meanwhile.
        let other = (0..1000u32)
            .map(|i| format!("n{i}").into_bytes())
            .find(|n| stripe(dir.identity().unwrap(), n) != stripe(dir.identity().unwrap(), b"a"))
            .unwrap();
        drop(lock(&[(&dir, &other)]).unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let dir = DirHandle::open(tmp.path()).unwrap();
            let _again = lock(&[(&dir, b"a")]).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        drop(held);
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        waiter.join().unwrap();
    }
}
