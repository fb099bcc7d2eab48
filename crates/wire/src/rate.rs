//! A byte rate shared by transfers: a token bucket that holds one
//! second's worth, so short bursts pass at full speed, and makes a
//! transfer that took more sleep while the bucket is in debt. The server
//! keeps one per account and direction; the client one per command
//! (`--limit-rate`), whatever number of connections it opens.

use std::sync::Mutex;
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
}
