//! [`CredentialCache`]: the credentials verified lately, so that the
//! repeated logins of sync clients and parallel mirrors skip Argon2.
//!
//! An entry is an HMAC-SHA-256, under a key drawn at random when the
//! process starts and never stored, of the account name, the account's
//! *stored hash* and the password; the password itself is never kept.
//! Whether a stored hash accepts a password never changes, so an entry
//! can never be wrong; what makes one stop counting:
//!
//! - a password change: the stored hash, read from the store at every
//!   login, is part of the key, so the old password misses at once, on
//!   every instance that shares the store;
//! - disabling or removing the account: the login reads the account first
//!   and consults the cache only for an active one (a disabled account
//!   pays the full verification, as an unknown name does);
//! - a lockout of the name: [`CredentialCache::forget`] drops its entries;
//! - age: an entry counts for `ttl` after the verification that made it,
//!   whatever its hits (so a password is verified in full at least that
//!   often), and the oldest leaves first once `capacity` are held.
//!
//! Logins with the same credentials at the same time (a parallel mirror's
//! connections, a sync client's burst) share one verification: the first
//! is told to [`Lookup::Verify`], the others to [`Lookup::Wait`] for its
//! answer, which is the answer they would have computed. If the first
//! login gives up (its session ended), the waiters verify for themselves.
//!
//! What it costs: someone who can read the server's memory gets, for each
//! cached login, a value against which guesses cost one HMAC instead of
//! one Argon2 (the key is in the same memory). Operators who would rather
//! pay Argon2 at every login turn it off (`credential_cache = false`).

use ring::hmac;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How the cache is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// Off: every login pays Argon2.
    pub enabled: bool,
    /// How long a verification counts.
    pub ttl: Duration,
    /// Most entries held.
    pub capacity: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            enabled: true,
            ttl: Duration::from_secs(300),
            capacity: 10_000,
        }
    }
}

type Tag = [u8; 32];

#[derive(Debug)]
struct Entry {
    account: Box<str>,
    verified: Instant,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Tag, Entry>,
    /// Tags in the order they were verified (oldest first).
    order: VecDeque<(Tag, Instant)>,
}

impl Entries {
    /// Drops the entry `order`'s front names, if it is still the one the
    /// front was made for.
    fn pop_front(&mut self) {
        if let Some((tag, at)) = self.order.pop_front() {
            if self.map.get(&tag).is_some_and(|e| e.verified == at) {
                self.map.remove(&tag);
            }
        }
    }
}

/// Recently verified credentials, keyed so that any change to the stored
/// hash misses (see the module documentation).
pub struct CredentialCache {
    settings: CacheSettings,
    key: hmac::Key,
    entries: Mutex<Entries>,
    /// Verifications under way, with the channel their answer goes out on.
    flights: Mutex<HashMap<Tag, watch::Sender<Option<bool>>>>,
}

/// What a login does about its credentials ([`CredentialCache::lookup`]).
#[derive(Debug)]
pub enum Lookup<'a> {
    /// Verified lately: no need to verify.
    Hit,
    /// Verify, then tell the flight the answer.
    Verify(Flight<'a>),
    /// Another login is verifying the same credentials: wait for it.
    Wait(Waiter),
}

/// A verification other logins may be waiting for. Dropped without
/// [`Flight::land`], it lets them go and verify for themselves.
#[derive(Debug)]
pub struct Flight<'a> {
    cache: &'a CredentialCache,
    /// `None` when the cache is off: nothing waits, nothing is kept.
    tag: Option<(Tag, Box<str>)>,
}

impl Flight<'_> {
    /// Records the answer (cached if right) and hands it to the waiters.
    pub fn land(mut self, matched: bool, now: Instant) {
        if let Some((tag, account)) = self.tag.take() {
            if matched {
                self.cache.insert_tag(tag, &account, now);
            }
            if let Some(sender) = self.cache.take_flight(&tag) {
                sender.send_replace(Some(matched));
            }
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        // Not landed: dropping the sender wakes the waiters empty-handed.
        if let Some((tag, _)) = self.tag.take() {
            self.cache.take_flight(&tag);
        }
    }
}

/// A login waiting for another's verification of the same credentials.
#[derive(Debug)]
pub struct Waiter(watch::Receiver<Option<bool>>);

impl Waiter {
    /// The other login's answer, or `None` if it gave up.
    pub async fn answer(mut self) -> Option<bool> {
        match self.0.wait_for(Option::is_some).await {
            Ok(answer) => *answer,
            Err(_) => None,
        }
    }
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("settings", &self.settings)
            .field("len", &self.len())
            .finish()
    }
}

impl CredentialCache {
    pub fn new(settings: CacheSettings) -> CredentialCache {
        let secret: [u8; 32] = rand::random();
        CredentialCache {
            settings,
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            entries: Mutex::default(),
            flights: Mutex::default(),
        }
    }

    /// Whether `password` was verified against `stored_hash` for `account`
    /// lately, is being verified right now, or must be verified.
    pub fn lookup(
        &self,
        account: &str,
        stored_hash: &str,
        password: &[u8],
        now: Instant,
    ) -> Lookup<'_> {
        if !self.settings.enabled {
            return Lookup::Verify(Flight {
                cache: self,
                tag: None,
            });
        }
        let tag = self.tag(account, stored_hash, password);
        if self.hit_tag(&tag, now) {
            return Lookup::Hit;
        }
        let Ok(mut flights) = self.flights.lock() else {
            return Lookup::Verify(Flight {
                cache: self,
                tag: None,
            });
        };
        if let Some(sender) = flights.get(&tag) {
            return Lookup::Wait(Waiter(sender.subscribe()));
        }
        flights.insert(tag, watch::Sender::new(None));
        Lookup::Verify(Flight {
            cache: self,
            tag: Some((tag, account.into())),
        })
    }

    fn take_flight(&self, tag: &Tag) -> Option<watch::Sender<Option<bool>>> {
        self.flights.lock().ok()?.remove(tag)
    }

    fn tag(&self, account: &str, stored_hash: &str, password: &[u8]) -> Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        // Each field with its length first, so no two triples collide.
        for field in [account.as_bytes(), stored_hash.as_bytes(), password] {
            ctx.update(&(field.len() as u64).to_be_bytes());
            ctx.update(field);
        }
        let mut tag = [0u8; 32];
        tag.copy_from_slice(ctx.sign().as_ref());
        tag
    }

    /// Whether `password` was verified against `stored_hash` for `account`
    /// within the last `ttl` before `now`.
    pub fn hit(&self, account: &str, stored_hash: &str, password: &[u8], now: Instant) -> bool {
        if !self.settings.enabled {
            return false;
        }
        self.hit_tag(&self.tag(account, stored_hash, password), now)
    }

    fn hit_tag(&self, tag: &Tag, now: Instant) -> bool {
        let Ok(entries) = self.entries.lock() else {
            return false;
        };
        entries
            .map
            .get(tag)
            .is_some_and(|e| now.saturating_duration_since(e.verified) < self.settings.ttl)
    }

    /// Records that `password` matched `stored_hash` for `account` at `now`.
    pub fn insert(&self, account: &str, stored_hash: &str, password: &[u8], now: Instant) {
        if !self.settings.enabled {
            return;
        }
        self.insert_tag(self.tag(account, stored_hash, password), account, now);
    }

    fn insert_tag(&self, tag: Tag, account: &str, now: Instant) {
        if self.settings.capacity == 0 {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let ttl = self.settings.ttl;
        while entries
            .order
            .front()
            .is_some_and(|(_, at)| now.saturating_duration_since(*at) >= ttl)
        {
            entries.pop_front();
        }
        if entries.map.contains_key(&tag) {
            // Verified again by a login that missed at the same time as
            // this one: the first entry stands.
            return;
        }
        while entries.map.len() >= self.settings.capacity {
            entries.pop_front();
        }
        entries.map.insert(
            tag,
            Entry {
                account: account.into(),
                verified: now,
            },
        );
        entries.order.push_back((tag, now));
    }

    /// Drops every entry of `account` (it was locked out).
    pub fn forget(&self, account: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.map.retain(|_, e| &*e.account != account);
            let Entries { map, order } = &mut *entries;
            order.retain(|(tag, _)| map.contains_key(tag));
        }
    }

    /// Entries held (some may have outlived `ttl`).
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.map.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize, ttl_secs: u64) -> CredentialCache {
        CredentialCache::new(CacheSettings {
            enabled: true,
            ttl: Duration::from_secs(ttl_secs),
            capacity,
        })
    }

    #[test]
    fn hits_only_the_same_account_hash_and_password() {
        let c = cache(10, 60);
        let now = Instant::now();
        assert!(!c.hit("ann", "H1", b"pw", now));
        c.insert("ann", "H1", b"pw", now);
        assert!(c.hit("ann", "H1", b"pw", now));
        assert!(!c.hit("ann", "H1", b"pw2", now), "other password");
        assert!(!c.hit("ann", "H2", b"pw", now), "changed stored hash");
        assert!(!c.hit("bob", "H1", b"pw", now), "other account");
        // Length prefixes: moving bytes between fields is another key.
        assert!(!c.hit("an", "nH1", b"pw", now));
        assert!(!c.hit("ann", "H", b"1pw", now));
    }

    #[test]
    fn an_entry_counts_for_ttl_from_its_verification() {
        let c = cache(10, 60);
        let t0 = Instant::now();
        c.insert("ann", "H", b"pw", t0);
        assert!(c.hit("ann", "H", b"pw", t0 + Duration::from_secs(59)));
        assert!(!c.hit("ann", "H", b"pw", t0 + Duration::from_secs(60)));
        // Expired entries leave at the next insert.
        c.insert("bob", "H", b"pw", t0 + Duration::from_secs(61));
        assert_eq!(c.len(), 1);
        // Verified again after expiry: counts again.
        c.insert("ann", "H", b"pw", t0 + Duration::from_secs(62));
        assert!(c.hit("ann", "H", b"pw", t0 + Duration::from_secs(62)));
    }

    #[test]
    fn bounded_the_oldest_leaves_first() {
        let c = cache(3, 600);
        let t0 = Instant::now();
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            c.insert(name, "H", b"pw", t0 + Duration::from_secs(i as u64));
        }
        assert_eq!(c.len(), 3);
        let now = t0 + Duration::from_secs(5);
        assert!(!c.hit("a", "H", b"pw", now));
        assert!(c.hit("b", "H", b"pw", now) && c.hit("d", "H", b"pw", now));
        // A second insert of a held entry neither grows nor renews it.
        c.insert("b", "H", b"pw", now);
        assert_eq!(c.len(), 3);
        c.insert("e", "H", b"pw", now);
        assert!(!c.hit("b", "H", b"pw", now), "b was the oldest");
        for _ in 0..1000 {
            c.insert("e", "H", b"pw", now);
        }
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn forget_drops_one_account() {
        let c = cache(10, 600);
        let now = Instant::now();
        c.insert("ann", "H", b"pw", now);
        c.insert("ann", "H", b"other", now);
        c.insert("bob", "H", b"pw", now);
        c.forget("ann");
        assert!(!c.hit("ann", "H", b"pw", now) && !c.hit("ann", "H", b"other", now));
        assert!(c.hit("bob", "H", b"pw", now));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn disabled_never_holds_anything() {
        let c = CredentialCache::new(CacheSettings {
            enabled: false,
            ..CacheSettings::default()
        });
        let now = Instant::now();
        c.insert("ann", "H", b"pw", now);
        assert!(!c.hit("ann", "H", b"pw", now));
        assert!(c.is_empty());
    }

    #[tokio::test]
    async fn logins_with_the_same_credentials_share_one_verification() {
        let c = cache(10, 60);
        let now = Instant::now();
        let Lookup::Verify(first) = c.lookup("ann", "H", b"pw", now) else {
            panic!("the first login verifies");
        };
        let Lookup::Wait(second) = c.lookup("ann", "H", b"pw", now) else {
            panic!("the second waits");
        };
        let Lookup::Wait(third) = c.lookup("ann", "H", b"pw", now) else {
            panic!("so does the third");
        };
        // Other credentials are not held up.
        assert!(matches!(
            c.lookup("ann", "H", b"px", now),
            Lookup::Verify(_)
        ));
        first.land(true, now);
        assert_eq!(second.answer().await, Some(true));
        assert_eq!(third.answer().await, Some(true));
        assert!(matches!(c.lookup("ann", "H", b"pw", now), Lookup::Hit));
        // A wrong password: the waiters hear "no", and nothing is kept.
        let Lookup::Verify(first) = c.lookup("ann", "H", b"bad", now) else {
            panic!("verify");
        };
        let Lookup::Wait(second) = c.lookup("ann", "H", b"bad", now) else {
            panic!("wait");
        };
        first.land(false, now);
        assert_eq!(second.answer().await, Some(false));
        assert!(matches!(
            c.lookup("ann", "H", b"bad", now),
            Lookup::Verify(_)
        ));
    }

    #[tokio::test]
    async fn a_verifier_that_gives_up_lets_the_waiters_verify() {
        let c = cache(10, 60);
        let now = Instant::now();
        let first = c.lookup("ann", "H", b"pw", now);
        let Lookup::Wait(second) = c.lookup("ann", "H", b"pw", now) else {
            panic!("wait");
        };
        drop(first);
        assert_eq!(second.answer().await, None);
        assert!(matches!(
            c.lookup("ann", "H", b"pw", now),
            Lookup::Verify(_)
        ));
        // Off: everyone verifies, nobody waits.
        let off = CredentialCache::new(CacheSettings {
            enabled: false,
            ..CacheSettings::default()
        });
        let a = off.lookup("ann", "H", b"pw", now);
        assert!(matches!(
            off.lookup("ann", "H", b"pw", now),
            Lookup::Verify(_)
        ));
        if let Lookup::Verify(f) = a {
            f.land(true, now);
        }
        assert!(matches!(
            off.lookup("ann", "H", b"pw", now),
            Lookup::Verify(_)
        ));
    }

    #[test]
    fn two_processes_never_share_keys() {
        let (a, b) = (cache(1, 60), cache(1, 60));
        assert_ne!(a.tag("ann", "H", b"pw"), b.tag("ann", "H", b"pw"));
        assert_eq!(a.tag("ann", "H", b"pw"), a.tag("ann", "H", b"pw"));
    }
}
