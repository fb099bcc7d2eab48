//! Bandwidth limits per account, up and down.
//!
//! Each account (anonymous counts as one) has a token bucket per
//! direction, shared by all its sessions, so opening more connections does
//! not buy more bandwidth. A transfer takes tokens for what it moved and
//! sleeps while the bucket is in debt; the bucket holds one second's worth,
//! so short bursts pass at full speed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// A token bucket of `rate` bytes per second.
#[derive(Debug)]
pub struct TokenBucket {
    rate: u64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(rate: u64) -> Self {
        TokenBucket {
            rate: rate.max(1),
            state: Mutex::new((rate as f64, Instant::now())),
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Accounts for `bytes` moved and waits as long as the rate demands.
    pub async fn take(&self, bytes: u64) {
        let wait = {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            let now = Instant::now();
            let (tokens, last) = *state;
            let rate = self.rate as f64;
            let refilled = (tokens + now.duration_since(last).as_secs_f64() * rate).min(rate);
            let left = refilled - bytes as f64;
            *state = (left, now);
            if left < 0.0 {
                Duration::from_secs_f64(-left / rate)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The two buckets of one account.
#[derive(Debug)]
pub struct AccountBandwidth {
    pub down: Option<TokenBucket>,
    pub up: Option<TokenBucket>,
}

/// Buckets of the accounts that have sessions.
#[derive(Debug)]
pub struct Bandwidth {
    down: Option<u64>,
    up: Option<u64>,
    accounts: Mutex<HashMap<String, Weak<AccountBandwidth>>>,
}

impl Bandwidth {
    /// Limits in bytes per second; `None` is unlimited.
    pub fn new(down: Option<u64>, up: Option<u64>) -> Self {
        Bandwidth {
            down,
            up,
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// The buckets of `account`, or `None` when nothing is limited.
    pub fn for_account(&self, account: &str) -> Option<Arc<AccountBandwidth>> {
        if self.down.is_none() && self.up.is_none() {
            return None;
        }
        let mut accounts = self.accounts.lock().ok()?;
        if let Some(existing) = accounts.get(account).and_then(Weak::upgrade) {
            return Some(existing);
        }
        accounts.retain(|_, w| w.strong_count() > 0);
        let fresh = Arc::new(AccountBandwidth {
            down: self.down.map(TokenBucket::new),
            up: self.up.map(TokenBucket::new),
        });
        accounts.insert(account.to_string(), Arc::downgrade(&fresh));
        Some(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_paces_to_its_rate() {
        let bucket = TokenBucket::new(1000);
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            bucket.take(1000).await;
        }
        // One second of burst, then four seconds of pacing.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(3900), "{elapsed:?}");
    }

    #[test]
    fn sessions_of_one_account_share_buckets() {
        let bw = Bandwidth::new(Some(10), None);
        let a = bw.for_account("alice").unwrap();
        let b = bw.for_account("alice").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(Bandwidth::new(None, None).for_account("alice").is_none());
    }
}
