//! Counting what is open: sessions in all, per client address and per
//! account, and passive listeners per client address. A [`Slot`] is held for as long as the thing it counts is open
//! and gives its place back when dropped, so no path can forget to.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open things per key, with an optional cap on the total.
#[derive(Debug)]
pub struct KeyedCounter<K: Hash + Eq + Clone> {
    counts: Arc<Mutex<Counts<K>>>,
}

#[derive(Debug)]
struct Counts<K> {
    total: usize,
    per_key: HashMap<K, usize>,
}

impl<K: Hash + Eq + Clone> Default for KeyedCounter<K> {
    fn default() -> Self {
        KeyedCounter {
            counts: Arc::new(Mutex::new(Counts {
                total: 0,
                per_key: HashMap::new(),
            })),
        }
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> KeyedCounter<K> {
    /// Takes a slot for `key` unless the key already has `max_per_key` or
    /// all keys together have `max_total`.
    pub fn try_acquire(&self, key: K, max_total: usize, max_per_key: usize) -> Option<Slot> {
        let mut counts = self.counts.lock().ok()?;
        let mine = counts.per_key.get(&key).copied().unwrap_or(0);
        if counts.total >= max_total || mine >= max_per_key {
            return None;
        }
        counts.total += 1;
        counts.per_key.insert(key.clone(), mine + 1);
        let shared = self.counts.clone();
        Some(Slot {
            release: Some(Box::new(move || {
                if let Ok(mut counts) = shared.lock() {
                    counts.total = counts.total.saturating_sub(1);
                    if let Some(n) = counts.per_key.get_mut(&key) {
                        *n -= 1;
                        if *n == 0 {
                            counts.per_key.remove(&key);
                        }
                    }
                }
            })),
        })
    }
}

/// A held place in a [`KeyedCounter`]; dropping it gives the place back.
pub struct Slot {
    release: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

/// Sessions per client address (IPv4-mapped IPv6 counted as IPv4).
pub type SessionsPerIp = KeyedCounter<IpAddr>;
/// Logged-in sessions per account.
pub type SessionsPerUser = KeyedCounter<String>;
/// Passive listeners waiting for a connection, per client address.
pub type PassivePerIp = KeyedCounter<IpAddr>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_total() {
        let limits = SessionsPerIp::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let g1 = limits.try_acquire(a, 3, 2).unwrap();
        let _g2 = limits.try_acquire(a, 3, 2).unwrap();
        assert!(limits.try_acquire(a, 3, 2).is_none());
        let _g3 = limits.try_acquire(b, 3, 2).unwrap();
        assert!(limits.try_acquire(b, 3, 2).is_none());
        drop(g1);
        assert!(limits.try_acquire(a, 3, 2).is_some());
    }
}
