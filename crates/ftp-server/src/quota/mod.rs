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

use crate::accounts::{AccountError, AccountStore};
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
}

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
}

impl QuotaLedger {
    pub fn new(store: Arc<dyn AccountStore>) -> Self {
        QuotaLedger {
            store,
            entries: Mutex::new(HashMap::new()),
        }
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
        };
        usage.refresh().await?;
        Ok(usage)
    }
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
        }
    }

    /// Records that `bytes` of files were removed (DELE, an overwriting
    /// RNTO).
    pub async fn freed(&self, bytes: u64) {
        if bytes > 0 {
            self.apply(-(bytes.min(i64::MAX as u64) as i64)).await;
        }
    }

    /// Adds `delta` to committed usage, in the store and in memory.
    async fn apply(&self, delta: i64) {
        let _guard = self.entry.store_lock.lock().await;
        match self.store.add_used(&self.name, delta).await {
            Ok(now) => {
                if let Ok(mut usage) = self.entry.usage.lock() {
                    usage.committed = now;
                }
            }
            Err(e) => {
                tracing::error!(account = %self.name, error = %e, delta, "cannot record usage; run `wharfd users recount`")
            }
        }
    }
}

/// Meters one upload against its account's quota.
#[derive(Debug)]
pub struct QuotaMeter {
    account: AccountUsage,
    /// Bytes of the replaced file still free to reuse.
    allowance: u64,
    /// Bytes taken from the account's counter.
    reserved: u64,
}

#[async_trait::async_trait]
impl SpaceMeter for QuotaMeter {
    fn take(&mut self, bytes: u64) -> Result<(), StorageError> {
        let free = bytes.min(self.allowance);
        let need = bytes - free;
        if need > 0 {
            let mut usage = self.account.entry.usage.lock().map_err(|_| {
                StorageError::Io(std::io::Error::other("quota ledger lock poisoned"))
            })?;
            if let Some(limit) = usage.limit {
                if usage.committed + usage.reserved + need > limit {
                    return Err(StorageError::QuotaExceeded);
                }
            }
            usage.reserved += need;
            self.reserved += need;
        }
        self.allowance -= free;
        Ok(())
    }

    fn release(&mut self) {
        if let Ok(mut usage) = self.account.entry.usage.lock() {
            usage.reserved = usage.reserved.saturating_sub(self.reserved);
        }
        self.reserved = 0;
    }

    async fn commit(mut self: Box<Self>, delta: i64) {
        // Count the new usage before giving the reservation back, so that
        // no other upload can slip into the gap between the two.
        self.account.apply(delta).await;
        self.release();
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
        a.take(30).unwrap();
        assert!(matches!(b.take(31), Err(StorageError::QuotaExceeded)));
        b.take(30).unwrap();
        assert!(a.take(1).is_err());
        b.release();
        a.take(30).unwrap();
        Box::new(a).commit(60).await;
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
        m.take(60).unwrap();
        assert!(m.take(10).is_err());
        // Replace it with 20 bytes: 40 come back.
        let mut m = acct.meter(60);
        m.take(20).unwrap();
        Box::new(m).commit(-40).await;
        assert_eq!(acct.report().await.unwrap().used, 60);
        acct.freed(15).await;
        assert_eq!(acct.report().await.unwrap().used, 45);
    }

    #[tokio::test]
    async fn unlimited_still_counts() {
        let (_d, ledger) = ledger(None, 0).await;
        let acct = ledger.account("u").await.unwrap();
        let mut m = acct.meter(0);
        m.take(1 << 40).unwrap();
        Box::new(m).commit(1 << 40).await;
        assert_eq!(acct.report().await.unwrap().used, 1 << 40);
    }
}
