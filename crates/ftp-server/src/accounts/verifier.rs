//! [`VerifierPool`]: a fixed set of threads that verify passwords, each
//! owning its Argon2 working memory.
//!
//! Logins hand their verification to the pool through a bounded queue
//! and wait for the answer; at most one verification per thread runs at
//! once and the others wait their turn, so a login flood uses at most
//! `threads` cores and `threads` × 19 MiB. A thread keeps its memory while
//! work keeps coming, and gives it back to the system after
//! [`IDLE_RELEASE`] without any (the threads take turns at the queue, so
//! all of them have given theirs back within `threads` × that time).
//! Before this pool, every verification ran on a tokio blocking thread
//! that allocated 19 MiB and the allocator kept it, per thread.

use super::password::verify_password_in;
use super::workmem::WorkMemory;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// How long a verifier thread holds its memory with nothing to do.
pub const IDLE_RELEASE: Duration = Duration::from_secs(1);

/// Most verifier threads, whatever the number of cores.
pub const MAX_THREADS: usize = 64;

/// Why the pool could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the password verifier threads: {0}")]
pub struct PoolError(#[from] std::io::Error);

/// What a verifier thread runs per job.
type Check = fn(&str, &[u8], &mut WorkMemory) -> bool;

struct Job {
    hash: String,
    password: Vec<u8>,
    answer: oneshot::Sender<bool>,
    /// Held until the answer is sent: the queue never holds more jobs
    /// than there are threads.
    _slot: OwnedSemaphorePermit,
}

/// Password verification on `threads` threads with their own memory.
#[derive(Debug)]
pub struct VerifierPool {
    queue: mpsc::SyncSender<Job>,
    slots: Arc<Semaphore>,
    threads: usize,
}

impl VerifierPool {
    /// Starts `threads` verifier threads (at least one, at most
    /// [`MAX_THREADS`]). They end when the pool is dropped.
    pub fn start(threads: usize) -> Result<VerifierPool, PoolError> {
        VerifierPool::start_with(threads, verify_password_in)
    }

    /// [`Self::start`] with `check` in place of Argon2 (for tests).
    fn start_with(threads: usize, check: Check) -> Result<VerifierPool, PoolError> {
        let threads = threads.clamp(1, MAX_THREADS);
        let (queue, jobs) = mpsc::sync_channel::<Job>(threads);
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..threads {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("wharf-argon2-{i}"))
                .spawn(move || work(&jobs, check))?;
        }
        Ok(VerifierPool {
            queue,
            slots: Arc::new(Semaphore::new(threads)),
            threads,
        })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Whether `password` matches `hash`, once a thread is free. False if
    /// the pool has stopped (failing closed).
    pub async fn verify(&self, hash: String, password: Vec<u8>) -> bool {
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return false;
        };
        let (answer, answered) = oneshot::channel();
        let job = Job {
            hash,
            password,
            answer,
            _slot: slot,
        };
        // Never full: a job takes a slot, and there are as many slots as
        // places in the queue.
        if self.queue.try_send(job).is_err() {
            return false;
        }
        answered.await.unwrap_or(false)
    }
}

/// One verifier thread: takes jobs until the pool is dropped, releasing
/// its memory whenever none comes for [`IDLE_RELEASE`].
fn work(jobs: &Mutex<mpsc::Receiver<Job>>, check: Check) {
    let mut memory = WorkMemory::default();
    loop {
        let next = match jobs.lock() {
            Ok(queue) => queue.recv_timeout(IDLE_RELEASE),
            Err(_) => return,
        };
        match next {
            Ok(mut job) => {
                let matched = check(&job.hash, &job.password, &mut memory);
                job.password.fill(0);
                let _ = job.answer.send(matched);
            }
            Err(RecvTimeoutError::Timeout) => memory.release(),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::password::hash_password;
    use std::time::Instant;

    /// A cheap hash (64 KiB, 1 pass), so the tests time the pool, not
    /// Argon2.
    fn cheap_hash(password: &[u8]) -> String {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        let params = argon2::Params::new(64, 1, 1, None).unwrap();
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(password, &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn verifies_right_and_wrong() {
        let pool = VerifierPool::start(2).unwrap();
        let h = hash_password(b"pw").unwrap();
        assert!(pool.verify(h.clone(), b"pw".to_vec()).await);
        assert!(!pool.verify(h, b"px".to_vec()).await);
        assert!(!pool.verify("not a hash".into(), b"pw".to_vec()).await);
    }

    /// Verifications run on every thread at once: each test check waits
    /// (up to 10 s) until two are running, which only parallel threads
    /// can reach.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_in_parallel_up_to_its_threads() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        fn meet(_: &str, _: &[u8], _: &mut WorkMemory) -> bool {
            RUNNING.fetch_add(1, Ordering::SeqCst);
            let t = Instant::now();
            while RUNNING.load(Ordering::SeqCst) < 2 {
                if t.elapsed() > Duration::from_secs(10) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            true
        }
        let pool = Arc::new(VerifierPool::start_with(2, meet).unwrap());
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.verify(String::new(), Vec::new()).await })
            })
            .collect();
        for r in runs {
            assert!(r.await.unwrap(), "two checks ran at once");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_waiters_all_answered() {
        let pool = Arc::new(VerifierPool::start(1).unwrap());
        let h = cheap_hash(b"pw");
        let runs: Vec<_> = (0..50)
            .map(|i| {
                let (pool, h) = (pool.clone(), h.clone());
                let pw = if i % 2 == 0 {
                    b"pw".to_vec()
                } else {
                    b"no".to_vec()
                };
                tokio::spawn(async move { (i, pool.verify(h, pw).await) })
            })
            .collect();
        for r in runs {
            let (i, ok) = r.await.unwrap();
            assert_eq!(ok, i % 2 == 0);
        }
        assert_eq!(MAX_THREADS, VerifierPool::start(1000).unwrap().threads());
    }
}
