//! Running a hash (HASH and the X-verbs) the way a transfer runs: the
//! session keeps reading the control connection meanwhile, so ABOR or a
//! vanished client stop the hash at its next piece, QUIT closes the
//! session after the hash's reply, and other commands (NOOP and STAT too:
//! a hash sends no preliminary reply, so theirs must come after its) wait
//! their turn — one hash at a time per session. The server-wide cap is
//! the file service's (see [`crate::digest::HashLimit`]).

use super::supervise::Events;
use super::{Flow, Session};
use crate::commands::hash::HashJob;
use crate::digest::HashControl;
use crate::transfer::TransferControl;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio::sync::watch;

impl Session {
    /// Computes `job`'s hash and answers for it.
    pub(crate) async fn run_hash(&mut self, job: HashJob) -> Flow {
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let hashing = HashControl {
            progress: Arc::new(AtomicU64::new(0)),
            cancel: cancel_rx,
        };
        // The signal `supervise` sends on ABOR or a vanished client.
        let watch = TransferControl {
            bucket: None,
            upload: false,
            progress: hashing.progress.clone(),
            cancel: hashing.cancel.clone(),
            stall: self.shared.options.data_stall_timeout,
        };
        let mut events = Events::without_preliminary();
        let limit = self.shared.hash_limit.clone();
        let work = job
            .files
            .hash(&job.path, job.algorithm, job.range, &limit, &hashing);
        let result = self.supervise(work, &cancel_tx, &watch, &mut events).await;
        if let Err(e) = &result {
            tracing::info!(peer = %self.control.peer, path = %job.path, error = %e, "hash not computed");
        }
        let reply = job.answer(result);
        self.finish(reply, &events).await
    }
}
