//! Failed-login throttling across sessions.
//!
//! Failures are counted per client address *and* name: after
//! `lockout_failures` of them within `lockout_window`, that address may
//! not log in as that name for `lockout_duration`. Failures per address
//! over all names are counted too, with a higher threshold, against
//! password spraying. Both are keyed by the client's address, so an
//! attacker elsewhere can never lock a legitimate user out. The check runs
//! before any password hashing, so a locked-out flood costs nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lockout settings.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures of one name from one address before it is locked.
    pub failures: u32,
    /// Failures from one address, over all names, before it is locked.
    pub address_failures: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// How long a lockout lasts.
    pub duration: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            failures: 3,
            address_failures: 20,
            window: Duration::from_secs(120),
            duration: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

/// Entries kept before stale ones are forgotten.
const MAX_ENTRIES: usize = 100_000;

/// Failed logins by address and by address and name.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    by_name: Mutex<HashMap<(IpAddr, Vec<u8>), Record>>,
    by_address: Mutex<HashMap<IpAddr, Record>>,
}

fn locked_for(record: Option<&Record>, now: Instant) -> Option<Duration> {
    record
        .and_then(|r| r.locked_until)
        .filter(|until| *until > now)
        .map(|until| until - now)
}

fn count<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Record>,
    key: K,
    limit: u32,
    policy: &LockoutPolicy,
    now: Instant,
) -> bool {
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, r| {
            now.duration_since(r.since) < policy.window || r.locked_until.is_some_and(|u| u > now)
        });
    }
    let record = map.entry(key).or_insert(Record {
        count: 0,
        since: now,
        locked_until: None,
    });
    if now.duration_since(record.since) >= policy.window
        || record.locked_until.is_some_and(|u| u <= now)
    {
        *record = Record {
            count: 0,
            since: now,
            locked_until: None,
        };
    }
    record.count += 1;
    if record.count >= limit {
        record.locked_until = Some(now + policy.duration);
    }
    record.count == limit
}

impl LoginThrottle {
    /// How much longer `ip` may not log in as `name`, if it is locked out.
    pub fn locked(&self, ip: IpAddr, name: &[u8]) -> Option<Duration> {
        let now = Instant::now();
        let ip = ip.to_canonical();
        let by_address = self.by_address.lock().ok()?;
        let by_name = self.by_name.lock().ok()?;
        let a = locked_for(by_address.get(&ip), now);
        let n = locked_for(by_name.get(&(ip, name.to_vec())), now);
        a.max(n)
    }

    /// Whether the address as a whole is locked out (checked at connect).
    pub fn address_locked(&self, ip: IpAddr) -> Option<Duration> {
        let by_address = self.by_address.lock().ok()?;
        locked_for(by_address.get(&ip.to_canonical()), Instant::now())
    }

    /// Counts a failure; true when it locked `name` out from `ip`.
    pub fn failed(&self, ip: IpAddr, name: &[u8], policy: &LockoutPolicy) -> bool {
        let now = Instant::now();
        let ip = ip.to_canonical();
        let locked = match self.by_name.lock() {
            Ok(mut map) => count(&mut map, (ip, name.to_vec()), policy.failures, policy, now),
            Err(_) => false,
        };
        if let Ok(mut map) = self.by_address.lock() {
            count(&mut map, ip, policy.address_failures, policy, now);
        }
        locked
    }

    /// A successful login clears that name's failures from that address.
    pub fn succeeded(&self, ip: IpAddr, name: &[u8]) {
        if let Ok(mut map) = self.by_name.lock() {
            map.remove(&(ip.to_canonical(), name.to_vec()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_name_from_one_address_only() {
        let policy = LockoutPolicy {
            failures: 2,
            address_failures: 5,
            window: Duration::from_secs(60),
            duration: Duration::from_millis(100),
        };
        let t = LoginThrottle::default();
        let evil: IpAddr = "127.0.0.2".parse().unwrap();
        let good: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(!t.failed(evil, b"alice", &policy));
        assert!(t.locked(evil, b"alice").is_none());
        assert!(t.failed(evil, b"alice", &policy), "this failure locked it");
        assert!(t.locked(evil, b"alice").is_some());
        assert!(t.locked(evil, b"bob").is_none());
        assert!(t.locked(good, b"alice").is_none());
        std::thread::sleep(Duration::from_millis(120));
        assert!(t.locked(evil, b"alice").is_none());
    }

    #[test]
    fn spraying_locks_the_address() {
        let policy = LockoutPolicy {
            failures: 100,
            address_failures: 3,
            ..LockoutPolicy::default()
        };
        let t = LoginThrottle::default();
        let evil: IpAddr = "127.0.0.2".parse().unwrap();
        for name in [&b"a"[..], b"b", b"c"] {
            assert!(!t.failed(evil, name, &policy), "no name is locked");
        }
        assert!(t.address_locked(evil).is_some());
        assert!(t.locked(evil, b"zzz").is_some());
    }
}
