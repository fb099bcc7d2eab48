//! [`History`]: the server's writer of the transfer history
//! ([`crate::accounts::transfers`]). Recording never waits: a finished
//! transfer's record goes into a bounded queue, and one task writes what
//! has gathered over [`GATHER`] in one statement, so a mirror of many
//! small files costs the store a few writes a second, not one (with its
//! fsync) per file, and a slow store never slows a transfer. When the queue is full, or the store fails, records are
//! dropped and counted (`wharf_history_dropped_total`).
//!
//! The same task forgets records older than the retention, once an hour.

use crate::accounts::transfers::TransferRecord;
use crate::accounts::AccountStore;
use crate::metrics::Metrics;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Records waiting for the store, at most.
const QUEUE: usize = 8192;
/// Records written in one statement, at most.
const BATCH: usize = 500;
/// How long the writer waits after a record for others to join it (the
/// records of a server stopped meanwhile are lost, as a history may).
const GATHER: Duration = Duration::from_millis(250);
/// How often old records are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Where a server's finished transfers are recorded.
#[derive(Debug, Clone)]
pub struct History {
    queue: mpsc::Sender<TransferRecord>,
    metrics: Arc<Metrics>,
    instance: Arc<str>,
}

impl History {
    /// Starts the writer for `store`, keeping records for `keep`; `None`
    /// when the store keeps no history or `keep` is zero (history off).
    pub fn start(
        store: Arc<dyn AccountStore>,
        instance: &str,
        keep: Duration,
        metrics: Arc<Metrics>,
    ) -> Option<History> {
        if keep.is_zero() || store.transfers().is_none() {
            return None;
        }
        let (queue, incoming) = mpsc::channel(QUEUE);
        tokio::spawn(write(store, incoming, keep, metrics.clone()));
        Some(History {
            queue,
            metrics,
            instance: instance.into(),
        })
    }

    /// The instance records name.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Queues `record`; drops and counts it when the queue is full.
    pub fn record(&self, record: TransferRecord) {
        if self.queue.try_send(record).is_err() {
            self.metrics.history_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn write(
    store: Arc<dyn AccountStore>,
    mut incoming: mpsc::Receiver<TransferRecord>,
    keep: Duration,
    metrics: Arc<Metrics>,
) {
    let Some(history) = store.transfers() else {
        return;
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut pruned_at: Option<tokio::time::Instant> = None;
    while incoming.recv_many(&mut batch, BATCH).await > 0 {
        if batch.len() < BATCH {
            tokio::time::sleep(GATHER).await;
            while batch.len() < BATCH {
                match incoming.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
        }
        if let Err(e) = history.transfers_append(&batch).await {
            tracing::warn!(error = %e, records = batch.len(), "cannot record transfers in the history");
            metrics
                .history_dropped
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        batch.clear();
        if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned_at = Some(tokio::time::Instant::now());
            let before = crate::accounts::operators::unix_now()
                - i64::try_from(keep.as_secs()).unwrap_or(i64::MAX);
            match history.transfers_prune(before).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(records = n, "forgot transfers older than the history keeps")
                }
                Err(e) => tracing::warn!(error = %e, "cannot prune the transfer history"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::transfers::TransferQuery;
    use crate::accounts::SqliteStore;
    use crate::accounts::TransferStore;

    fn record(n: u64) -> TransferRecord {
        TransferRecord {
            at: crate::accounts::operators::unix_now(),
            instance: "here".into(),
            account: "ann".into(),
            protocol: "ftp".into(),
            client: "127.0.0.1".into(),
            path: format!("/f{n}"),
            upload: true,
            bytes: n,
            millis: 1,
            error: None,
        }
    }

    #[tokio::test]
    async fn records_reach_the_store_in_batches_and_old_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("a.db")).await.unwrap());
        let ancient = TransferRecord {
            at: 1000,
            ..record(0)
        };
        store
            .transfers()
            .unwrap()
            .transfers_append(&[ancient])
            .await
            .unwrap();
        let metrics = Arc::new(Metrics::default());
        let history = History::start(
            store.clone(),
            "here",
            Duration::from_secs(86400),
            metrics.clone(),
        )
        .unwrap();
        for n in 1..=1200 {
            history.record(record(n));
        }
        let query = TransferQuery {
            limit: 500,
            ..TransferQuery::default()
        };
        let mut seen = 0;
        for _ in 0..100 {
            let page = store.transfers_list(&query).await.unwrap();
            seen = page.len();
            if seen == 500 && page[0].record.bytes == 1200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(seen, 500);
        let oldest = TransferQuery {
            until: Some(2000),
            ..query
        };
        assert!(
            store.transfers_list(&oldest).await.unwrap().is_empty(),
            "the record older than a day was pruned"
        );
        assert_eq!(metrics.history_dropped.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn off_when_kept_for_no_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("a.db")).await.unwrap());
        let metrics = Arc::new(Metrics::default());
        assert!(History::start(store, "here", Duration::ZERO, metrics).is_none());
    }
}
