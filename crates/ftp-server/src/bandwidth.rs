//! Bandwidth limits per account, up and down.
//!
//! Each account (anonymous counts as one) has a token bucket per
//! direction, shared by all its sessions, so opening more connections does
//! not buy more bandwidth. The rates are the account's own or the
//! server's (see [`crate::policy`]); a transfer that asks with other rates
//! than the buckets have (the operator changed them) gets fresh buckets,
//! which the account's later transfers share. A transfer takes tokens for what it moved and
//! sleeps while the bucket is in debt; the bucket holds one second's worth,
//! so short bursts pass at full speed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
pub use wire::rate::TokenBucket;

/// The two buckets of one account.
#[derive(Debug)]
pub struct AccountBandwidth {
    pub down: Option<TokenBucket>,
    pub up: Option<TokenBucket>,
}

impl AccountBandwidth {
    /// The rates of the buckets, down and up.
    fn rates(&self) -> (Option<u64>, Option<u64>) {
        (
            self.down.as_ref().map(TokenBucket::rate),
            self.up.as_ref().map(TokenBucket::rate),
        )
    }
}

/// Buckets of the accounts that have sessions.
#[derive(Debug, Default)]
pub struct Bandwidth {
    accounts: Mutex<HashMap<String, Weak<AccountBandwidth>>>,
}

impl Bandwidth {
    /// The buckets of `account` for `rates` (down, up) in bytes per
    /// second, or `None` when nothing is limited.
    pub fn for_account(
        &self,
        account: &str,
        rates: (Option<u64>, Option<u64>),
    ) -> Option<Arc<AccountBandwidth>> {
        if rates == (None, None) {
            return None;
        }
        let mut accounts = self.accounts.lock().ok()?;
        if let Some(existing) = accounts.get(account).and_then(Weak::upgrade) {
            if existing.rates() == rates {
                return Some(existing);
            }
        }
        accounts.retain(|_, w| w.strong_count() > 0);
        let fresh = Arc::new(AccountBandwidth {
            down: rates.0.map(TokenBucket::new),
            up: rates.1.map(TokenBucket::new),
        });
        accounts.insert(account.to_string(), Arc::downgrade(&fresh));
        Some(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_of_one_account_share_buckets() {
        let bw = Bandwidth::default();
        let a = bw.for_account("alice", (Some(10), None)).unwrap();
        let b = bw.for_account("alice", (Some(10), None)).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // A changed rate gets new buckets.
        let c = bw.for_account("alice", (Some(20), None)).unwrap();
        assert_eq!(c.rates(), (Some(20), None));
        assert!(bw.for_account("alice", (None, None)).is_none());
    }
}
