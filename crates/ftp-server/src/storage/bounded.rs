//! [`Bounded`]: every storage call a session makes answers within a
//! limit (`backend_timeout`), so a stalled backend (a frozen object
//! store, a hung disk under a blocking thread) gets the client a 451
//! instead of silence. It wraps whatever backend a session's root opened
//! ([`super::StorageBackend::open`]); nothing below it needs a timeout of
//! its own for the client's sake.
//!
//! What is bounded, and what happens at the bound:
//!
//! - each [`Storage`] operation: [`StorageError::TimedOut`], and the
//!   operation is dropped;
//! - each write of an upload, and its abort (which then goes on in the
//!   background, still undoing the upload; after a write of the upload
//!   timed out, the abort does not wait at all, so the client is not kept
//!   waiting twice for the same stalled backend);
//! - a commit: the client hears [`StorageError::TimedOut`]; the commit
//!   goes on in the background for at most [`LATE_LIMIT`], but its gate
//!   admits nothing more ([`CommitGate::give_up`]), so a commit still
//!   waiting for its backend publishes nothing and gives its bytes back.
//!   Only a commit already past its gate, whose publishing request was
//!   sent (a rename on a hung disk, an object store's final PUT), may
//!   still land; the gate then counts it, so usage stays equal to what is
//!   stored;
//! - a download stream: a read that brings nothing for the limit fails
//!   the transfer (451);
//! - a listing: a chunk that takes longer than the limit ends it with
//!   [`StorageError::TimedOut`], which the client hears (451) instead of
//!   a complete listing.
//!
//! Local downloads sent from a file (`sendfile`) are bounded by the
//! transfer's stall deadline instead.

use super::upload::{CommitGate, Committed, UploadSink};
use super::{Download, ListChunks, ListFormat, Meta, Storage, StorageError, Upload, UploadMode};
use crate::storage::Overwrite;
use ftp_proto::VirtualPath;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

/// How long work the client no longer waits for (a commit or an abort
/// past its bound) may go on in the background before it is dropped.
pub const LATE_LIMIT: Duration = Duration::from_secs(600);

/// A backend whose every call answers within `limit`; see the module
/// documentation.
#[derive(Debug)]
pub struct Bounded {
    inner: Arc<dyn Storage>,
    limit: Duration,
}

impl Bounded {
    pub fn wrap(inner: Arc<dyn Storage>, limit: Duration) -> Arc<dyn Storage> {
        Arc::new(Bounded { inner, limit })
    }
}

/// Waits for `fut` at most `limit`.
async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(?limit, what, "storage did not answer in time");
            Err(StorageError::TimedOut(limit))
        }
    }
}

#[async_trait::async_trait]
impl Storage for Bounded {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn writable(&self) -> bool {
        self.inner.writable()
    }

    fn sets_times(&self) -> bool {
        self.inner.sets_times()
    }

    async fn stat(&self, path: &VirtualPath) -> Result<Meta, StorageError> {
        within(self.limit, "stat", self.inner.stat(path)).await
    }

    async fn stat_target(&self, path: &VirtualPath) -> Result<Meta, StorageError> {
        within(self.limit, "stat", self.inner.stat_target(path)).await
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(Download, Meta), StorageError> {
        let (download, meta) =
            within(self.limit, "open", self.inner.open_read(path, offset)).await?;
        let download = match download {
            Download::Stream(reader) => {
                Download::Stream(Box::pin(StallBounded::new(reader, self.limit)))
            }
            file => file,
        };
        Ok((download, meta))
    }

    async fn begin_upload(
        &self,
        path: &VirtualPath,
        mode: UploadMode,
    ) -> Result<Upload, StorageError> {
        let upload = match within(self.limit, "upload", self.inner.begin_upload(path, mode)).await {
            // A resume or an append may first copy the part of the file it
            // keeps (on object storage, all of it): say so, and what to do.
            Err(StorageError::TimedOut(limit))
                if matches!(mode, UploadMode::Append | UploadMode::Resume(_)) =>
            {
                return Err(StorageError::Backend(format!(
                    "the upload was not ready within backend_timeout ({}s): resuming or \
                     appending first copies the part of the file it keeps (on object \
                     storage, the whole file); raise backend_timeout for files this \
                     large, or upload the file whole",
                    limit.as_secs()
                )))
            }
            other => other?,
        };
        let limit = self.limit;
        Ok(upload.map_sink(|inner| {
            Box::new(BoundedSink {
                inner,
                limit,
                stalled: false,
            })
        }))
    }

    async fn list(
        &self,
        path: &VirtualPath,
        format: ListFormat,
        now_unix: i64,
    ) -> Result<ListChunks, StorageError> {
        let chunks = within(self.limit, "list", self.inner.list(path, format, now_unix)).await?;
        Ok(forward_bounded(chunks, self.limit))
    }

    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        within(self.limit, "mkdir", self.inner.mkdir(path)).await
    }

    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        within(self.limit, "rmdir", self.inner.rmdir(path)).await
    }

    async fn remove_file(&self, path: &VirtualPath) -> Result<u64, StorageError> {
        within(self.limit, "remove", self.inner.remove_file(path)).await
    }

    async fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
        overwrite: Overwrite,
    ) -> Result<u64, StorageError> {
        within(self.limit, "rename", self.inner.rename(from, to, overwrite)).await
    }

    async fn set_modified(&self, path: &VirtualPath, unix_secs: i64) -> Result<(), StorageError> {
        within(
            self.limit,
            "set time",
            self.inner.set_modified(path, unix_secs),
        )
        .await
    }
}

/// Passes listing chunks on while each arrives within `limit`; a listing
/// that stalls ends there with [`StorageError::TimedOut`].
fn forward_bounded(mut chunks: ListChunks, limit: Duration) -> ListChunks {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            match tokio::time::timeout(limit, chunks.recv()).await {
                Ok(Some(chunk)) => {
                    if tx.send(chunk).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(_) => {
                    tracing::warn!(?limit, "listing stalled; ended early");
                    let _ = tx.send(Err(StorageError::TimedOut(limit))).await;
                    return;
                }
            }
        }
    });
    rx
}

/// An upload whose writes, commit and abort are bounded.
#[derive(Debug)]
struct BoundedSink {
    inner: Box<dyn UploadSink>,
    limit: Duration,
    /// A write already timed out: the backend is known to be stalled.
    stalled: bool,
}

#[async_trait::async_trait]
impl UploadSink for BoundedSink {
    fn replaced_bytes(&self) -> u64 {
        self.inner.replaced_bytes()
    }

    fn kept_bytes(&self) -> u64 {
        self.inner.kept_bytes()
    }

    async fn write(&mut self, buf: Vec<u8>) -> (Vec<u8>, Result<(), StorageError>) {
        match tokio::time::timeout(self.limit, self.inner.write(buf)).await {
            Ok(done) => done,
            Err(_) => {
                self.stalled = true;
                tracing::warn!(limit = ?self.limit, "upload write did not finish in time");
                (Vec::new(), Err(StorageError::TimedOut(self.limit)))
            }
        }
    }

    async fn commit(
        self: Box<Self>,
        mut gate: CommitGate,
    ) -> (CommitGate, Result<Committed, StorageError>) {
        let limit = self.limit;
        let give_up = gate.give_up(limit);
        let mut commit = tokio::spawn(self.inner.commit(gate));
        match tokio::time::timeout(limit, &mut commit).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => (
                CommitGate::unmetered(),
                Err(StorageError::Io(std::io::Error::other(e))),
            ),
            Err(_) => {
                give_up.now();
                tracing::warn!(?limit, "upload commit did not finish in time; answered 451");
                tokio::spawn(async move {
                    match tokio::time::timeout(LATE_LIMIT, commit).await {
                        Ok(Ok((gate, result))) => {
                            if result.is_ok() {
                                tracing::warn!("an upload answered with 451 was stored after all; it is counted");
                            }
                            gate.settle(&result).await;
                        }
                        Ok(Err(e)) => tracing::error!(error = %e, "late upload commit failed"),
                        Err(_) => tracing::error!(
                            ?LATE_LIMIT,
                            "an upload commit is still waiting for its backend; dropped \
                             (run `wharfd users recount` once the backend is back)"
                        ),
                    }
                });
                (CommitGate::unmetered(), Err(StorageError::TimedOut(limit)))
            }
        }
    }

    async fn abort(self: Box<Self>) {
        let limit = if self.stalled {
            Duration::ZERO
        } else {
            self.limit
        };
        let mut abort = tokio::spawn(self.inner.abort());
        if tokio::time::timeout(limit, &mut abort).await.is_err() {
            tracing::warn!(?limit, "upload abort goes on in the background");
            tokio::spawn(async move {
                if tokio::time::timeout(LATE_LIMIT, abort).await.is_err() {
                    tracing::error!(?LATE_LIMIT, "an upload abort never finished");
                }
            });
        }
    }

    fn direct_file(&mut self) -> Option<std::io::Result<std::fs::File>> {
        self.inner.direct_file()
    }

    fn wrote_directly(&mut self, n: u64) {
        self.inner.wrote_directly(n)
    }

    fn durable(&self) -> bool {
        self.inner.durable()
    }
}

/// A download stream that fails a read bringing nothing for `limit`.
struct StallBounded {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    limit: Duration,
    /// Armed while a read waits; reset by every read that completes.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl StallBounded {
    fn new(inner: Pin<Box<dyn AsyncRead + Send>>, limit: Duration) -> Self {
        StallBounded {
            inner,
            limit,
            deadline: None,
        }
    }
}

impl AsyncRead for StallBounded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if let Poll::Ready(done) = this.inner.as_mut().poll_read(cx, buf) {
            this.deadline = None;
            return Poll::Ready(done);
        }
        let limit = this.limit;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.deadline = None;
                tracing::warn!(?limit, "download stream stalled");
                Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    StorageError::TimedOut(limit),
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::upload::SpaceMeter;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use tokio::io::AsyncReadExt;

    /// A backend that never answers.
    #[derive(Debug)]
    struct Frozen;

    #[async_trait::async_trait]
    impl Storage for Frozen {
        fn kind(&self) -> &'static str {
            "frozen"
        }
        fn writable(&self) -> bool {
            true
        }
        fn sets_times(&self) -> bool {
            false
        }
        async fn stat(&self, _: &VirtualPath) -> Result<Meta, StorageError> {
            std::future::pending().await
        }
        async fn stat_target(&self, _: &VirtualPath) -> Result<Meta, StorageError> {
            std::future::pending().await
        }
        async fn open_read(
            &self,
            _: &VirtualPath,
            _: u64,
        ) -> Result<(Download, Meta), StorageError> {
            std::future::pending().await
        }
        async fn begin_upload(
            &self,
            _: &VirtualPath,
            _: UploadMode,
        ) -> Result<Upload, StorageError> {
            std::future::pending().await
        }
        async fn list(
            &self,
            _: &VirtualPath,
            _: ListFormat,
            _: i64,
        ) -> Result<ListChunks, StorageError> {
            std::future::pending().await
        }
        async fn mkdir(&self, _: &VirtualPath) -> Result<(), StorageError> {
            std::future::pending().await
        }
        async fn rmdir(&self, _: &VirtualPath) -> Result<(), StorageError> {
            std::future::pending().await
        }
        async fn remove_file(&self, _: &VirtualPath) -> Result<u64, StorageError> {
            std::future::pending().await
        }
        async fn rename(
            &self,
            _: &VirtualPath,
            _: &VirtualPath,
            _: Overwrite,
        ) -> Result<u64, StorageError> {
            std::future::pending().await
        }
        async fn set_modified(&self, _: &VirtualPath, _: i64) -> Result<(), StorageError> {
            std::future::pending().await
        }
    }

    const LIMIT: Duration = Duration::from_secs(8);

    fn path() -> VirtualPath {
        VirtualPath::root().join(b"f").unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_frozen_backend_is_answered_at_the_limit() {
        let storage = Bounded::wrap(Arc::new(Frozen), LIMIT);
        let start = tokio::time::Instant::now();
        let err = storage.stat(&path()).await.unwrap_err();
        assert!(matches!(err, StorageError::TimedOut(LIMIT)));
        assert_eq!(err.reply_code(), 451);
        assert_eq!(start.elapsed(), LIMIT);
        let err = storage.remove_file(&path()).await.unwrap_err();
        assert!(matches!(err, StorageError::TimedOut(_)));
        assert_eq!(start.elapsed(), 2 * LIMIT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_resume_not_ready_in_time_says_why_and_what_to_do() {
        let storage = Bounded::wrap(Arc::new(Frozen), LIMIT);
        let err = storage
            .begin_upload(&path(), UploadMode::Replace)
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::TimedOut(LIMIT)), "{err}");
        for mode in [UploadMode::Append, UploadMode::Resume(5)] {
            let err = storage.begin_upload(&path(), mode).await.unwrap_err();
            assert_eq!(err.reply_code(), 451);
            let text = err.to_string();
            assert!(
                text.contains("copies the part of the file it keeps")
                    && text.contains("raise backend_timeout"),
                "{text}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_download_fails_at_the_limit_but_a_slow_one_does_not() {
        // 3 bytes, then nothing: the read after them fails at the limit.
        let (mut tx, rx) = tokio::io::duplex(16);
        let mut stream = StallBounded::new(Box::pin(rx), LIMIT);
        let mut buf = [0u8; 8];
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            // Each byte comes just inside the limit.
            for b in b"abc" {
                tokio::time::sleep(LIMIT - Duration::from_secs(1)).await;
                tx.write_all(&[*b]).await.unwrap();
            }
            std::future::pending::<()>().await;
        });
        for want in b"abc" {
            assert_eq!(stream.read(&mut buf).await.unwrap(), 1);
            assert_eq!(buf[0], *want);
        }
        let start = tokio::time::Instant::now();
        let err = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), LIMIT);
        assert!(matches!(
            StorageError::from(err),
            StorageError::TimedOut(LIMIT)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_listing_that_stalls_ends_with_an_error_not_early() {
        let (tx, rx) = mpsc::channel(4);
        tx.send(Ok(b"a\r\n".to_vec())).await.unwrap();
        let mut chunks = forward_bounded(rx, LIMIT);
        assert_eq!(chunks.recv().await.unwrap().unwrap(), b"a\r\n");
        let start = tokio::time::Instant::now();
        let end = chunks.recv().await.unwrap();
        assert!(matches!(end, Err(StorageError::TimedOut(LIMIT))));
        assert_eq!(start.elapsed(), LIMIT);
        assert!(chunks.recv().await.is_none());
        drop(tx);
    }

    /// A sink whose commit waits for `release` before its gate (a stalled
    /// measurement) or after it (a stalled publishing request), and says
    /// whether it published.
    #[derive(Debug)]
    struct SlowCommit {
        release: Arc<tokio::sync::Notify>,
        published: Arc<AtomicBool>,
        stall_after_gate: bool,
    }

    #[async_trait::async_trait]
    impl UploadSink for SlowCommit {
        fn replaced_bytes(&self) -> u64 {
            0
        }
        fn kept_bytes(&self) -> u64 {
            0
        }
        async fn write(&mut self, buf: Vec<u8>) -> (Vec<u8>, Result<(), StorageError>) {
            (buf, Ok(()))
        }
        async fn commit(
            self: Box<Self>,
            mut gate: CommitGate,
        ) -> (CommitGate, Result<Committed, StorageError>) {
            if !self.stall_after_gate {
                self.release.notified().await;
            }
            if let Err(e) = gate.admit_async(1).await {
                return (gate, Err(e));
            }
            if self.stall_after_gate {
                self.release.notified().await;
            }
            self.published.store(true, SeqCst);
            let done = Committed {
                size: 1,
                delta: 1,
                name: b"f".to_vec(),
            };
            (gate, Ok(done))
        }
        async fn abort(self: Box<Self>) {}
    }

    /// A meter that records what was committed and released.
    #[derive(Debug)]
    struct Ledger(Arc<std::sync::Mutex<Vec<String>>>);

    #[async_trait::async_trait]
    impl SpaceMeter for Ledger {
        async fn take(&mut self, _: u64) -> Result<(), StorageError> {
            Ok(())
        }
        async fn record(&mut self, delta: i64) -> Result<(), StorageError> {
            self.0.lock().unwrap().push(format!("record {delta}"));
            Ok(())
        }
        async fn unrecord(&mut self, delta: i64) {
            self.0.lock().unwrap().push(format!("unrecord {delta}"));
        }
        fn release(&mut self) {
            self.0.lock().unwrap().push("release".into());
        }
    }

    /// Commits an upload whose backend stalls before or after its gate,
    /// then lets the backend answer; returns whether it published, what
    /// its meter was told when the client was answered, and in the end.
    async fn stalled_commit(stall_after_gate: bool) -> (bool, Vec<String>, Vec<String>) {
        let release = Arc::new(tokio::sync::Notify::new());
        let published = Arc::new(AtomicBool::new(false));
        let sink = SlowCommit {
            release: release.clone(),
            published: published.clone(),
            stall_after_gate,
        };
        let mut upload = Upload::new(Box::new(BoundedSink {
            inner: Box::new(sink),
            limit: LIMIT,
            stalled: false,
        }));
        let told = Arc::new(std::sync::Mutex::new(Vec::new()));
        upload.set_meter(Box::new(Ledger(told.clone())));
        let start = tokio::time::Instant::now();
        let err = upload.commit().await.unwrap_err();
        assert!(matches!(err, StorageError::TimedOut(LIMIT)));
        assert_eq!(start.elapsed(), LIMIT);
        let when_answered = told.lock().unwrap().clone();
        // The backend comes back; the commit goes on in the background.
        release.notify_one();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let told = told.lock().unwrap().clone();
        (published.load(SeqCst), when_answered, told)
    }

    #[tokio::test(start_paused = true)]
    async fn a_commit_stalled_before_its_gate_publishes_nothing_later() {
        assert_eq!(
            stalled_commit(false).await,
            (false, vec![], vec!["release".to_string()])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_commit_stalled_past_its_gate_lands_later_and_is_counted() {
        // Counted when admitted, before it was published: usage is never
        // short of what the storage holds.
        let recorded = vec!["record 1".to_string()];
        assert_eq!(
            stalled_commit(true).await,
            (true, recorded.clone(), recorded)
        );
    }
}
