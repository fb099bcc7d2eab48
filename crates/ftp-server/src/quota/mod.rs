//! Per-account disk quotas.
//!
//! The quota is a reservation, not an after-the-fact check: an upload takes
//! bytes from its account's shared counter as they arrive, so several
//! sessions of one account uploading at once can never together pass the
//! limit, and gives them back if it is undone. Committed usage lives in
//! the account store, updated atomically on every commit, delete and
//! overwrite; reservations live only in memory, so after a crash the store
//! holds exactly the committed files (whose unfinished temporaries the
//! start-up sweep removes), and a recount from disk repairs the one window
//! a crash can leave: between a rename and its store update.
//!
//! # Several instances sharing one store (PostgreSQL)
//!
//! In-memory reservations cannot stop two processes from together passing
//! a quota, so with a store that says it is shared
//! ([`AccountStore::reservations`]) the reservation moves into the store:
//!
//! - Each serving instance holds a *lease* in the store, renewed in the
//!   background; a reservation counts only while its instance's lease is
//!   alive.
//! - An upload that needs space beyond what this instance already holds
//!   for the account reserves more in the store, atomically: under the
//!   account's row lock, committed usage + every live reservation + the
//!   request must stay within the quota. It asks for [`RESERVE_STEP`] at a
//!   time (falling back to exactly what it needs near the limit), so the
//!   hot path — one check per buffer — stays in memory and the store sees
//!   one round trip per step, not per chunk.
//! - A completed upload settles in one transaction: usage goes up by the
//!   file's difference and the reservation goes down by what the upload
//!   held. An aborted one gives its bytes back to this instance's grant;
//!   when the account has no upload running here any more, the whole
//!   grant goes back to the store.
//! - An instance killed mid-upload never settles; its reservation simply
//!   stops counting when its lease expires, and any instance reaps the
//!   dead lease. Committed usage is touched only by settles, so nothing is
//!   lost or counted twice. (As with one instance, a crash between a
//!   file's rename and its settle leaves usage short by that file until
//!   `wharfd users recount`.)
//! - An instance whose own lease expired (cut off from the database for
//!   longer than the lease) is refused further reservations until it
//!   restarts: it fails closed.
//!
//! The price of stepping: while an instance uploads, up to one step of
//! its grant may sit unused, so another instance may be refused space
//! that is not yet written; it is never the other way round.
//!
//! Replacing a file counts only the difference: an upload may reuse, for
//! free, the bytes of the file it replaces. While it runs, the disk holds
//! both the old file and the new one; the account is charged for the
//! larger, not the sum.
//!
//! # Layout
//! - [`size`]: sizes as people write them (`500M`, `2G`, `none`).
//! - [`recount`]: usage summed from the files on disk.

pub mod recount;
pub mod size;

use crate::accounts::{AccountError, AccountStore, SharedReservations};
use crate::events::{Event, EventKind, Events};
use crate::storage::upload::SpaceMeter;
use crate::storage::StorageError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What one account uses, as this server process sees it.
#[derive(Debug, Default)]
struct Usage {
    /// Bytes of committed files (mirrors the store).
    committed: u64,
    /// Bytes taken by uploads in progress.
    reserved: u64,
    limit: Option<u64>,
    /// With a shared store: bytes this process holds reserved in the
    /// store for the account (`reserved` never exceeds it).
    granted: u64,
}

/// Bytes reserved in a shared store at a time.
pub const RESERVE_STEP: u64 = 8 << 20;

#[derive(Debug, Default)]
struct Entry {
    usage: Mutex<Usage>,
    /// Serialises store updates with the matching in-memory update.
    store_lock: tokio::sync::Mutex<()>,
}

/// Live usage of every account with a session in this process.
#[derive(Debug)]
pub struct QuotaLedger {
    store: Arc<dyn AccountStore>,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    events: Option<Events>,
}

impl QuotaLedger {
    pub fn new(store: Arc<dyn AccountStore>) -> Self {
        QuotaLedger {
            store,
            entries: Mutex::new(HashMap::new()),
            events: None,
        }
    }

    /// The ledger, telling `events` when an account's usage crosses 80 %
    /// or 100 % of its quota (`quota.threshold`).
    pub fn with_events(mut self, events: Events) -> Self {
        self.events = Some(events);
        self
    }

    /// The account's usage, refreshed from the store (so a quota the
    /// operator changed, or a recount, is seen at once).
    pub async fn account(&self, name: &str) -> Result<AccountUsage, AccountError> {
        let entry = {
            let mut entries = self.entries.lock().map_err(poisoned)?;
            entries.entry(name.to_string()).or_default().clone()
        };
        let usage = AccountUsage {
            name: name.to_string(),
            entry,
            store: self.store.clone(),
            events: self.events.clone(),
        };
        usage.refresh().await?;
        Ok(usage)
    }
}

/// The threshold (percent of `limit`) that usage going from `before` to
/// `after` reached, the highest if several.
fn crossed(before: u64, after: u64, limit: u64) -> Option<u8> {
    [100u8, 80].into_iter().find(|&percent| {
        let mark = (u128::from(limit) * u128::from(percent)).div_ceil(100);
        u128::from(before) < mark && u128::from(after) >= mark
    })
}

fn poisoned<T>(_: T) -> AccountError {
    AccountError::Backend("quota ledger lock poisoned".into())
}

/// One account's usage, shared by its sessions.
#[derive(Debug, Clone)]
pub struct AccountUsage {
    name: String,
    entry: Arc<Entry>,
    store: Arc<dyn AccountStore>,
    events: Option<Events>,
}

/// Used and limit, for SITE QUOTA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaReport {
    pub used: u64,
    /// Bytes held by uploads still running.
    pub in_flight: u64,
    pub limit: Option<u64>,
}

impl AccountUsage {
    /// Re-reads committed usage and the limit from the store.
    pub async fn refresh(&self) -> Result<(), AccountError> {
        let _guard = self.entry.store_lock.lock().await;
        let account = self
            .store
            .find(&self.name)
            .await?
            .ok_or_else(|| AccountError::NotFound(self.name.clone()))?;
        let mut usage = self.entry.usage.lock().map_err(poisoned)?;
        usage.committed = account.used_bytes;
        usage.limit = account.quota_bytes;
        Ok(())
    }

    pub async fn report(&self) -> Result<QuotaReport, AccountError> {
        self.refresh().await?;
        let usage = self.entry.usage.lock().map_err(poisoned)?;
        Ok(QuotaReport {
            used: usage.committed,
            in_flight: usage.reserved,
            limit: usage.limit,
        })
    }

    /// A meter for one upload that may reuse `replaced` bytes of the file
    /// it replaces.
    pub fn meter(&self, replaced: u64) -> QuotaMeter {
        QuotaMeter {
            account: self.clone(),
            allowance: replaced,
            reserved: 0,
            checked: std::time::Instant::now(),
        }
    }

    /// Records that `bytes` of files were removed (DELE, an overwriting
    /// RNTO).
    pub async fn freed(&self, bytes: u64) {
        if bytes > 0 {
            self.apply(-(bytes.min(i64::MAX as u64) as i64), 0).await;
        }
    }

    /// Adds `delta` to committed usage, in the store and in memory, and
    /// gives back `reserved` bytes of this process's reservation; a store
    /// that fails is logged (DELE and RNTO, whose files are gone already).
    async fn apply(&self, delta: i64, reserved: u64) {
        if let Err(e) = self.record(delta, reserved).await {
            tracing::error!(account = %self.name, error = %e, delta, "cannot record usage; run `wharfd users recount`");
        }
    }

    /// [`AccountUsage::apply`], failing if the store does not record it:
    /// then nothing changed, and `reserved` is still this process's.
    async fn record(&self, delta: i64, reserved: u64) -> Result<(), AccountError> {
        let _guard = self.entry.store_lock.lock().await;
        let shared = self.store.reservations();
        let now = match shared {
            Some(shared) => shared.settle(&self.name, reserved, delta).await,
            None => self.store.add_used(&self.name, delta).await,
        }?;
        let mut limit = None;
        if let Ok(mut usage) = self.entry.usage.lock() {
            usage.reserved = usage.reserved.saturating_sub(reserved);
            usage.committed = now;
            // The settle gave these back in the store too.
            usage.granted = usage.granted.saturating_sub(reserved);
            limit = usage.limit;
        }
        if let (Some(events), Some(limit)) = (&self.events, limit) {
            let before = (now as i128 - i128::from(delta)).max(0) as u64;
            if let Some(percent) = crossed(before, now, limit) {
                events.emit(
                    Event::new(EventKind::QuotaThreshold)
                        .account(&self.name)
                        .size(now)
                        .reason(format!(
                            "{percent}% of the quota used: {} of {}",
                            size::format_size(now),
                            size::format_size(limit)
                        )),
                );
            }
        }
        if let Some(shared) = shared {
            self.return_idle_grant(shared).await;
        }
        Ok(())
    }

    /// With no upload of the account running here, gives this process's
    /// whole grant back to the shared store. Call with `store_lock` held.
    async fn return_idle_grant(&self, shared: &dyn SharedReservations) {
        let idle = match self.entry.usage.lock() {
            Ok(mut usage) if usage.reserved == 0 && usage.granted > 0 => {
                std::mem::take(&mut usage.granted)
            }
            _ => return,
        };
        if let Err(e) = shared.settle(&self.name, idle, 0).await {
            tracing::warn!(account = %self.name, error = %e, bytes = idle, "cannot return reserved space; it comes back when this instance's lease ends");
        }
    }

    /// Takes `need` bytes from this process's grant in the shared store,
    /// reserving more there first if the grant is short.
    async fn take_shared(
        &self,
        shared: &dyn SharedReservations,
        need: u64,
    ) -> Result<(), StorageError> {
        if self.take_granted(need)?.is_none() {
            return Ok(());
        }
        let _guard = self.entry.store_lock.lock().await;
        let Some(short) = self.take_granted(need)? else {
            return Ok(());
        };
        let reserve = |bytes| async move {
            shared.reserve(&self.name, bytes).await.map_err(|e| {
                StorageError::Io(std::io::Error::other(format!("cannot reserve quota: {e}")))
            })
        };
        let step = short.max(RESERVE_STEP);
        let got = if reserve(step).await? {
            step
        } else if short < step && reserve(short).await? {
            short
        } else {
            return Err(StorageError::QuotaExceeded);
        };
        let mut usage = self.entry.usage.lock().map_err(poisoned_meter)?;
        usage.granted += got;
        usage.reserved += need;
        Ok(())
    }

    /// Takes `need` bytes if the grant covers them (`None`), or says how
    /// many bytes it is short.
    fn take_granted(&self, need: u64) -> Result<Option<u64>, StorageError> {
        let mut usage = self.entry.usage.lock().map_err(poisoned_meter)?;
        let after = usage.reserved + need;
        if after <= usage.granted {
            usage.reserved = after;
            Ok(None)
        } else {
            Ok(Some(after - usage.granted))
        }
    }

    /// Takes `need` bytes against the limit, in memory (one process).
    fn take_local(&self, need: u64) -> Result<(), StorageError> {
        let mut usage = self.entry.usage.lock().map_err(poisoned_meter)?;
        if let Some(limit) = usage.limit {
            if usage.committed + usage.reserved + need > limit {
                return Err(StorageError::QuotaExceeded);
            }
        }
        usage.reserved += need;
        Ok(())
    }
}

fn poisoned_meter<T>(_: T) -> StorageError {
    StorageError::Io(std::io::Error::other("quota ledger lock poisoned"))
}

/// How often a running upload re-reads its account's limit, so that a
/// quota the operator lowers stops it at its next chunk.
pub const LIMIT_REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// Meters one upload against its account's quota.
#[derive(Debug)]
pub struct QuotaMeter {
    account: AccountUsage,
    /// Bytes of the replaced file still free to reuse.
    allowance: u64,
    /// Bytes taken from the account's counter.
    reserved: u64,
    /// When the limit was last read from the store.
    checked: std::time::Instant,
}

impl QuotaMeter {
    /// Takes `need` more bytes from the account's counter.
    async fn reserve(&mut self, need: u64) -> Result<(), StorageError> {
        match self.account.store.reservations() {
            Some(shared) => self.account.take_shared(shared, need).await?,
            None => self.account.take_local(need)?,
        }
        self.reserved += need;
        Ok(())
    }

    /// Re-reads the limit now and then; fails once the account's files
    /// and running uploads are over it (the operator lowered the quota).
    async fn recheck_limit(&mut self) -> Result<(), StorageError> {
        if self.checked.elapsed() < LIMIT_REFRESH {
            return Ok(());
        }
        self.checked = std::time::Instant::now();
        if let Err(e) = self.account.refresh().await {
            tracing::warn!(account = %self.account.name, error = %e, "cannot re-read the quota; keeping the last one");
            return Ok(());
        }
        let usage = self.account.entry.usage.lock().map_err(poisoned_meter)?;
        match usage.limit {
            Some(limit) if usage.committed + usage.reserved > limit => {
                Err(StorageError::QuotaExceeded)
            }
            _ => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl SpaceMeter for QuotaMeter {
    async fn take(&mut self, bytes: u64) -> Result<(), StorageError> {
        self.recheck_limit().await?;
        let free = bytes.min(self.allowance);
        let need = bytes - free;
        if need > 0 {
            self.reserve(need).await?;
        }
        self.allowance -= free;
        Ok(())
    }

    async fn record(&mut self, delta: i64) -> Result<(), StorageError> {
        // The replaced file may have shrunk or gone since the upload began:
        // the bytes it was to reuse must then be reserved after all.
        let short = delta - i64::try_from(self.reserved).unwrap_or(i64::MAX);
        if short > 0 {
            self.reserve(short.unsigned_abs()).await?;
        }
        // The new usage is counted in the same step that gives the
        // reservation back, so no other upload can slip into a gap.
        self.account
            .record(delta, self.reserved)
            .await
            .map_err(|e| {
                tracing::error!(account = %self.account.name, error = %e, delta, "cannot record usage; the upload is not stored");
                StorageError::Backend("cannot record the upload's usage right now; try again later".into())
            })?;
        self.reserved = 0;
        Ok(())
    }

    async fn unrecord(&mut self, delta: i64) {
        self.account.apply(-delta, 0).await;
    }

    fn release(&mut self) {
        let idle = match self.account.entry.usage.lock() {
            Ok(mut usage) => {
                usage.reserved = usage.reserved.saturating_sub(self.reserved);
                usage.reserved == 0 && usage.granted > 0
            }
            Err(_) => false,
        };
        self.reserved = 0;
        // Undone uploads are rare: hand an idle grant back off this path.
        if idle && self.account.store.reservations().is_some() {
            let account = self.account.clone();
            tokio::spawn(async move {
                let _guard = account.entry.store_lock.lock().await;
                if let Some(shared) = account.store.reservations() {
                    account.return_idle_grant(shared).await;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{Account, AccountStatus, SqliteStore};

    async fn ledger(limit: Option<u64>, used: u64) -> (tempfile::TempDir, QuotaLedger) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        store
            .create(&Account {
                name: "u".into(),
                password_hash: "x".into(),
                home: None,
                status: AccountStatus::Active,
                created_at: 0,
                registered_from: None,
                contact: None,
                quota_bytes: limit,
                used_bytes: used,
            })
            .await
            .unwrap();
        (dir, QuotaLedger::new(Arc::new(store)))
    }

    #[tokio::test]
    async fn concurrent_meters_share_the_limit() {
        let (_d, ledger) = ledger(Some(100), 40).await;
        let acct = ledger.account("u").await.unwrap();
        let mut a = acct.meter(0);
        let mut b = acct.meter(0);
        a.take(30).await.unwrap();
        assert!(matches!(b.take(31).await, Err(StorageError::QuotaExceeded)));
        b.take(30).await.unwrap();
        assert!(a.take(1).await.is_err());
        b.release();
        a.take(30).await.unwrap();
        a.record(60).await.unwrap();
        let r = acct.report().await.unwrap();
        assert_eq!((r.used, r.in_flight), (100, 0));
    }

    #[tokio::test]
    async fn overwrite_counts_only_the_difference() {
        let (_d, ledger) = ledger(Some(100), 100).await;
        let acct = ledger.account("u").await.unwrap();
        // Replace a 60-byte file with 70 bytes: 10 more are needed, and
        // there are none.
        let mut m = acct.meter(60);
        m.take(60).await.unwrap();
        assert!(m.take(10).await.is_err());
        // Replace it with 20 bytes: 40 come back.
        let mut m = acct.meter(60);
        m.take(20).await.unwrap();
        m.record(-40).await.unwrap();
        assert_eq!(acct.report().await.unwrap().used, 60);
        acct.freed(15).await;
        assert_eq!(acct.report().await.unwrap().used, 45);
    }

    #[test]
    fn thresholds_are_crossed_once_going_up() {
        assert_eq!(crossed(0, 79, 100), None);
        assert_eq!(crossed(79, 80, 100), Some(80));
        assert_eq!(crossed(80, 99, 100), None);
        assert_eq!(crossed(50, 100, 100), Some(100));
        assert_eq!(crossed(100, 60, 100), None);
        assert_eq!(crossed(0, 1, 1), Some(100));
        assert_eq!(crossed(0, u64::MAX, u64::MAX), Some(100));
    }

    #[tokio::test]
    async fn unlimited_still_counts() {
        let (_d, ledger) = ledger(None, 0).await;
        let acct = ledger.account("u").await.unwrap();
        let mut m = acct.meter(0);
        m.take(1 << 40).await.unwrap();
        m.record(1 << 40).await.unwrap();
        assert_eq!(acct.report().await.unwrap().used, 1 << 40);
    }
}
