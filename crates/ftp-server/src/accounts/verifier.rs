//! [`VerifierPool`]: a fixed set of threads that verify passwords, each
//! owning its Argon2 working memory.
//!
//! Logins hand their verification to the pool and wait for the answer; at
//! most one job per thread is queued or running (the others wait for a
//! slot, asynchronously), so a login flood uses at most `threads` cores
//! and `threads` × 19 MiB. Idle threads wait on one condition variable,
//! each with its own timer: a thread keeps its memory while work keeps
//! coming and gives it back to the system after [`IDLE_RELEASE`] without
//! any. Before this pool, every verification ran on a tokio blocking
//! thread that allocated 19 MiB, and the allocator kept it, per thread.

use super::password::verify_password_in;
use super::workmem::WorkMemory;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
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

/// The queue the threads share.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// Argon2 blocks the threads hold, in all.
    held: AtomicUsize,
}

/// Password verification on `threads` threads with their own memory.
pub struct VerifierPool {
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    threads: usize,
}

impl std::fmt::Debug for VerifierPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierPool")
            .field("threads", &self.threads)
            .field("held_blocks", &self.held_blocks())
            .finish()
    }
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
        let pool = VerifierPool {
            shared: Arc::default(),
            slots: Arc::new(Semaphore::new(threads)),
            threads,
        };
        for i in 0..threads {
            let shared = pool.shared.clone();
            std::thread::Builder::new()
                .name(format!("wharf-argon2-{i}"))
                .spawn(move || work(&shared, check))?;
        }
        Ok(pool)
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Argon2 blocks (1 KiB each) the threads hold now.
    pub fn held_blocks(&self) -> usize {
        self.shared.held.load(Ordering::Relaxed)
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
        match self.shared.queue.lock() {
            Ok(mut queue) => queue.jobs.push_back(job),
            Err(_) => return false,
        }
        self.shared.ready.notify_one();
        answered.await.unwrap_or(false)
    }
}

impl Drop for VerifierPool {
    fn drop(&mut self) {
        if let Ok(mut queue) = self.shared.queue.lock() {
            queue.closed = true;
        }
        self.shared.ready.notify_all();
    }
}

/// One verifier thread: takes jobs until the pool is dropped, releasing
/// its memory whenever none comes for [`IDLE_RELEASE`].
fn work(shared: &Shared, check: Check) {
    let mut memory = WorkMemory::default();
    loop {
        let next = {
            let Ok(mut queue) = shared.queue.lock() else {
                return;
            };
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break Some(job);
                }
                if queue.closed {
                    return;
                }
                let Ok((q, timeout)) = shared.ready.wait_timeout(queue, IDLE_RELEASE) else {
                    return;
                };
                queue = q;
                if timeout.timed_out() && queue.jobs.is_empty() {
                    break None;
                }
            }
        };
        let before = memory.held();
        match next {
            Some(mut job) => {
                let matched = check(&job.hash, &job.password, &mut memory);
                count_held(&shared.held, before, memory.held());
                job.password.fill(0);
                let _ = job.answer.send(matched);
            }
            None => {
                memory.release();
                count_held(&shared.held, before, 0);
            }
        }
    }
}

/// Moves the pool's count of held blocks from `before` to `after`.
fn count_held(held: &AtomicUsize, before: usize, after: usize) {
    if after >= before {
        held.fetch_add(after - before, Ordering::Relaxed);
    } else {
        held.fetch_sub(before - after, Ordering::Relaxed);
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
        for ok in two_at_once(&pool).await {
            assert!(ok, "two checks ran at once");
        }
    }

    /// Two checks started at once on `pool`; their answers.
    async fn two_at_once(pool: &Arc<VerifierPool>) -> Vec<bool> {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.verify(String::new(), Vec::new()).await })
            })
            .collect();
        let mut answers = Vec::new();
        for r in runs {
            answers.push(r.await.unwrap());
        }
        answers
    }

    /// Every thread that worked gives its memory back within about
    /// [`IDLE_RELEASE`] of its last job, not only the one that happens to
    /// wait first.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_thread_gives_its_memory_back_when_idle() {
        use std::sync::atomic::AtomicUsize;
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        fn meet_and_map(_: &str, _: &[u8], memory: &mut WorkMemory) -> bool {
            let mapped = memory.blocks(1024).is_ok();
            RUNNING.fetch_add(1, Ordering::SeqCst);
            let t = Instant::now();
            while RUNNING.load(Ordering::SeqCst) < 2 && t.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            mapped
        }
        let pool = Arc::new(VerifierPool::start_with(2, meet_and_map).unwrap());
        for ok in two_at_once(&pool).await {
            assert!(ok);
        }
        assert_eq!(pool.held_blocks(), 2048, "both threads hold their memory");
        let t = Instant::now();
        while pool.held_blocks() > 0 && t.elapsed() < IDLE_RELEASE * 5 / 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(pool.held_blocks(), 0, "given back after {:?}", t.elapsed());
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
