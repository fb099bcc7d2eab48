//! [`Upload`]: a file being received, whatever the backend.
//!
//! An upload becomes visible only through [`Upload::commit`]; until then
//! the target is untouched, and [`Upload::abort`] (or dropping the upload,
//! as a last resort) leaves nothing behind. The backend does the storing
//! ([`UploadSink`]); this wrapper meters the bytes against a quota as they
//! arrive, so every backend gets the same quota guarantees.

use super::StorageError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Accounts for the space an upload takes, as its bytes arrive (a quota).
///
/// - `take` is asked before every write and may refuse it.
/// - `record` is asked at commit, once the upload knows by how many bytes
///   the files really grow and *before* it publishes anything: it takes
///   whatever the meter holds short of `delta`, then records the growth as
///   usage (giving the reservation back). If it fails (the account store
///   does not answer), nothing is recorded and the upload is not
///   published, so usage and the stored files never part.
/// - `unrecord` takes back a `record` whose publication then failed.
/// - `release` gives back what was taken when the upload is undone.
#[async_trait::async_trait]
pub trait SpaceMeter: Send + Sync + std::fmt::Debug {
    async fn take(&mut self, bytes: u64) -> Result<(), StorageError>;
    async fn record(&mut self, delta: i64) -> Result<(), StorageError>;
    async fn unrecord(&mut self, delta: i64);
    fn release(&mut self);
}

/// What a committed upload became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The file's final size.
    pub size: u64,
    /// By how many bytes the stored files grew (negative if they shrank),
    /// measured at the commit, not when the upload began.
    pub delta: i64,
    /// The file's final name (STOU may take the next free one).
    pub name: Vec<u8>,
}

/// The meter's say at commit: a backend measures what its commit really
/// changes and asks [`CommitGate::admit`] before it publishes anything, so
/// a file that shrank or vanished meanwhile cannot carry an upload past
/// the quota, and the usage is recorded before the file is visible. A
/// backend whose publication fails after the admission calls
/// [`CommitGate::revert`]. Usable from a blocking thread as well as from
/// async code.
///
/// The gate is also the commit's point of no return: once the client has
/// been told that the commit timed out ([`CommitGate::give_up`]), the gate
/// admits nothing more, so a commit still waiting for its backend
/// publishes nothing when the backend comes back.
#[derive(Debug)]
pub struct CommitGate {
    meter: Option<Box<dyn SpaceMeter>>,
    runtime: Option<tokio::runtime::Handle>,
    given_up: Option<GiveUp>,
    /// The growth recorded by the admission, until the commit ends.
    recorded: Option<i64>,
}

/// Set once the client was answered with [`StorageError::TimedOut`].
#[derive(Debug, Clone)]
pub struct GiveUp {
    flag: Arc<AtomicBool>,
    after: Duration,
}

impl GiveUp {
    /// From now on the gate this belongs to refuses every admission.
    pub fn now(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }
}

impl CommitGate {
    /// A gate that admits everything (no meter).
    pub fn unmetered() -> Self {
        CommitGate {
            meter: None,
            runtime: None,
            given_up: None,
            recorded: None,
        }
    }

    /// Lets the caller give up on the commit after `after`: see
    /// [`GiveUp::now`].
    pub fn give_up(&mut self, after: Duration) -> GiveUp {
        let give_up = GiveUp {
            flag: Arc::new(AtomicBool::new(false)),
            after,
        };
        self.given_up = Some(give_up.clone());
        give_up
    }

    /// Admits and records a growth of `delta` bytes, from a blocking
    /// thread.
    pub fn admit(&mut self, delta: i64) -> Result<(), StorageError> {
        match self.runtime.clone() {
            Some(runtime) => runtime.block_on(self.admit_async(delta)),
            None => self.still_wanted(),
        }
    }

    /// Admits and records a growth of `delta` bytes, from async code.
    pub async fn admit_async(&mut self, delta: i64) -> Result<(), StorageError> {
        self.still_wanted()?;
        if let Some(meter) = &mut self.meter {
            meter.record(delta).await?;
            self.recorded = Some(delta);
        }
        if let Err(e) = self.still_wanted() {
            // The client was answered while the store was: take it back.
            self.revert_async().await;
            return Err(e);
        }
        Ok(())
    }

    /// Takes back what [`CommitGate::admit`] recorded (the publication
    /// failed), from a blocking thread.
    pub fn revert(&mut self) {
        if let Some(runtime) = self.runtime.clone() {
            runtime.block_on(self.revert_async());
        }
    }

    /// [`CommitGate::revert`] from async code.
    pub async fn revert_async(&mut self) {
        if let (Some(meter), Some(delta)) = (&mut self.meter, self.recorded.take()) {
            meter.unrecord(delta).await;
        }
    }

    fn still_wanted(&self) -> Result<(), StorageError> {
        match &self.given_up {
            Some(g) if g.flag.load(Ordering::SeqCst) => Err(StorageError::TimedOut(g.after)),
            _ => Ok(()),
        }
    }

    /// Records how a commit the client was no longer waiting for ended:
    /// a commit that went through after all is counted, anything else
    /// gives the reserved bytes back.
    pub async fn settle(mut self, result: &Result<Committed, StorageError>) {
        if result.is_err() {
            self.revert_async().await;
            if let Some(meter) = &mut self.meter {
                meter.release();
            }
        }
    }
}

/// How the received bytes relate to an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// STOR: the upload replaces the file once complete.
    Replace,
    /// APPE: bytes go at the end of the file (created if missing).
    Append,
    /// REST n + STOR: keep the first n bytes, replace the rest.
    Resume(u64),
    /// STOU: a new file that never replaces one; on a clash at commit it
    /// takes the next free name.
    Unique,
    /// STOR (or APPE) of a new name by an account that may not overwrite
    /// (or append): a new file that never replaces one; if another session
    /// published the name meanwhile, the commit fails with
    /// `NotPermitted(Overwrite)` and changes nothing.
    New,
}

/// What a backend does with an upload's bytes. Dropping a sink that was
/// neither committed nor aborted must undo it (as far as a synchronous
/// `Drop` can; see each backend).
#[async_trait::async_trait]
pub trait UploadSink: Send + std::fmt::Debug {
    /// Bytes of the old file that the committed upload no longer holds:
    /// space a quota may let this upload reuse.
    fn replaced_bytes(&self) -> u64;
    /// Bytes of the old file that the committed upload keeps ahead of the
    /// new ones (an append's whole file, a resume's offset), as the
    /// backend found them.
    fn kept_bytes(&self) -> u64;
    /// Takes `buf` and returns a buffer for the caller to fill next (the
    /// backend may keep writing `buf` in the background; its errors show
    /// at the next call or at commit).
    async fn write(&mut self, buf: Vec<u8>) -> (Vec<u8>, Result<(), StorageError>);
    /// Makes the upload visible, asking `gate` before it publishes
    /// anything; gives the gate back.
    async fn commit(
        self: Box<Self>,
        gate: CommitGate,
    ) -> (CommitGate, Result<Committed, StorageError>);
    /// Undoes the upload: the target is as it was before.
    async fn abort(self: Box<Self>);
    /// A second handle on the file the bytes go into, sharing its
    /// position, for a receive loop that writes it itself (the splice
    /// fast path); `None` if the backend has no such file or a write of
    /// its own is in progress. The loop reports what it wrote through
    /// [`UploadSink::wrote_directly`].
    fn direct_file(&mut self) -> Option<std::io::Result<std::fs::File>> {
        None
    }
    /// `n` bytes were written through [`UploadSink::direct_file`].
    fn wrote_directly(&mut self, _n: u64) {}
    /// Whether the commit will `fsync` the file: a receive loop then starts
    /// its disk writes as it goes, so the disk works while the network does.
    fn durable(&self) -> bool {
        false
    }
}

/// A file being received; see the module documentation.
#[derive(Debug)]
pub struct Upload {
    sink: Option<Box<dyn UploadSink>>,
    meter: Option<Box<dyn SpaceMeter>>,
}

impl Upload {
    pub fn new(sink: Box<dyn UploadSink>) -> Self {
        Upload {
            sink: Some(sink),
            meter: None,
        }
    }

    /// The same upload with its sink wrapped by `wrap` (before a meter is
    /// attached).
    pub fn map_sink(
        mut self,
        wrap: impl FnOnce(Box<dyn UploadSink>) -> Box<dyn UploadSink>,
    ) -> Self {
        if let Some(sink) = self.sink.take() {
            self.sink = Some(wrap(sink));
        }
        self
    }

    /// See [`UploadSink::replaced_bytes`].
    pub fn replaced_bytes(&self) -> u64 {
        self.sink.as_ref().map_or(0, |s| s.replaced_bytes())
    }

    /// See [`UploadSink::kept_bytes`].
    pub fn kept_bytes(&self) -> u64 {
        self.sink.as_ref().map_or(0, |s| s.kept_bytes())
    }

    /// Meters the upload's bytes from now on.
    pub fn set_meter(&mut self, meter: Box<dyn SpaceMeter>) {
        self.meter = Some(meter);
    }

    /// Stores `buf` (see [`UploadSink::write`]) once the meter allows it.
    pub async fn write(&mut self, buf: Vec<u8>) -> (Vec<u8>, Result<(), StorageError>) {
        if let Some(meter) = &mut self.meter {
            if let Err(e) = meter.take(buf.len() as u64).await {
                return (buf, Err(e));
            }
        }
        match &mut self.sink {
            Some(sink) => sink.write(buf).await,
            None => (buf, Err(finished())),
        }
    }

    /// See [`UploadSink::direct_file`]. The bytes written through it must
    /// pass the meter first (see [`Upload::lend_meter`]).
    pub fn direct_file(&mut self) -> Option<std::io::Result<std::fs::File>> {
        self.sink.as_mut()?.direct_file()
    }

    /// See [`UploadSink::durable`].
    pub fn durable(&self) -> bool {
        self.sink.as_ref().is_some_and(|s| s.durable())
    }

    /// See [`UploadSink::wrote_directly`].
    pub fn wrote_directly(&mut self, n: u64) {
        if let Some(sink) = &mut self.sink {
            sink.wrote_directly(n);
        }
    }

    /// Lends the upload's meter to a receive loop on a blocking thread
    /// that writes through [`Upload::direct_file`]; give it back with
    /// [`Upload::return_meter`].
    pub fn lend_meter(&mut self) -> LentMeter {
        LentMeter(self.meter.take())
    }

    /// Takes back what [`Upload::lend_meter`] lent.
    pub fn return_meter(&mut self, mut lent: LentMeter) {
        if let Some(meter) = lent.0.take() {
            self.meter = Some(meter);
        }
    }

    /// Puts the received file in place and says what it became.
    pub async fn commit(mut self) -> Result<Committed, StorageError> {
        let sink = self.sink.take().ok_or_else(finished)?;
        let gate = CommitGate {
            meter: self.meter.take(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            given_up: None,
            recorded: None,
        };
        let (mut gate, result) = sink.commit(gate).await;
        if result.is_err() {
            // A backend that failed after its admission should have taken
            // it back; make sure. The drop gives the reservation back.
            gate.revert_async().await;
            self.meter = gate.meter.take();
        }
        result
    }

    /// Undoes the upload: the target is as it was before.
    pub async fn abort(mut self) {
        if let Some(sink) = self.sink.take() {
            sink.abort().await;
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Committed uploads took their meter; anything else gives the
        // reserved bytes back. The sink undoes itself when dropped.
        if let Some(meter) = &mut self.meter {
            meter.release();
        }
    }
}

/// An upload's meter on loan to a blocking thread (see
/// [`Upload::lend_meter`]). If it is dropped instead of given back (the
/// thread was lost), it gives back what it had reserved.
#[derive(Debug)]
pub struct LentMeter(Option<Box<dyn SpaceMeter>>);

impl LentMeter {
    /// Meters `bytes` about to be written, from a blocking thread (not a
    /// runtime thread) of `runtime`.
    pub fn take_blocking(
        &mut self,
        runtime: &tokio::runtime::Handle,
        bytes: u64,
    ) -> Result<(), StorageError> {
        match &mut self.0 {
            Some(meter) => runtime.block_on(meter.take(bytes)),
            None => Ok(()),
        }
    }
}

impl Drop for LentMeter {
    fn drop(&mut self) {
        if let Some(meter) = &mut self.0 {
            meter.release();
        }
    }
}

fn finished() -> StorageError {
    StorageError::Io(std::io::Error::other("upload already finished"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What a meter was told, in order.
    #[derive(Debug, Default)]
    struct Log(Mutex<Vec<String>>);

    #[derive(Debug)]
    struct Meter(Arc<Log>, u64);

    #[async_trait::async_trait]
    impl SpaceMeter for Meter {
        async fn take(&mut self, bytes: u64) -> Result<(), StorageError> {
            if bytes > self.1 {
                return Err(StorageError::QuotaExceeded);
            }
            self.1 -= bytes;
            self.0 .0.lock().unwrap().push(format!("take {bytes}"));
            Ok(())
        }
        async fn record(&mut self, delta: i64) -> Result<(), StorageError> {
            self.0 .0.lock().unwrap().push(format!("record {delta}"));
            Ok(())
        }
        async fn unrecord(&mut self, delta: i64) {
            self.0 .0.lock().unwrap().push(format!("unrecord {delta}"));
        }
        fn release(&mut self) {
            self.0 .0.lock().unwrap().push("release".into());
        }
    }

    /// A sink that keeps bytes in memory and replaces 3 old bytes.
    #[derive(Debug, Default)]
    struct Memory(Vec<u8>);

    #[async_trait::async_trait]
    impl UploadSink for Memory {
        fn replaced_bytes(&self) -> u64 {
            3
        }
        fn kept_bytes(&self) -> u64 {
            0
        }
        async fn write(&mut self, buf: Vec<u8>) -> (Vec<u8>, Result<(), StorageError>) {
            self.0.extend_from_slice(&buf);
            (buf, Ok(()))
        }
        async fn commit(
            self: Box<Self>,
            mut gate: CommitGate,
        ) -> (CommitGate, Result<Committed, StorageError>) {
            let size = self.0.len() as u64;
            let delta = size as i64 - 3;
            if let Err(e) = gate.admit_async(delta).await {
                return (gate, Err(e));
            }
            let name = b"m".to_vec();
            (gate, Ok(Committed { size, delta, name }))
        }
        async fn abort(self: Box<Self>) {}
    }

    fn upload(log: &Arc<Log>, limit: u64) -> Upload {
        let mut up = Upload::new(Box::new(Memory::default()));
        up.set_meter(Box::new(Meter(log.clone(), limit)));
        up
    }

    fn said(log: &Log) -> Vec<String> {
        log.0.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn meters_writes_and_commits_the_difference() {
        let log = Arc::new(Log::default());
        let mut up = upload(&log, 100);
        assert_eq!(up.replaced_bytes(), 3);
        up.write(vec![0; 10]).await.1.unwrap();
        assert_eq!(up.commit().await.unwrap().size, 10);
        assert_eq!(said(&log), ["take 10", "record 7"]);
    }

    #[tokio::test]
    async fn refused_aborted_or_dropped_uploads_give_the_bytes_back() {
        let log = Arc::new(Log::default());
        let mut up = upload(&log, 5);
        let (_, result) = up.write(vec![0; 6]).await;
        assert!(matches!(result, Err(StorageError::QuotaExceeded)));
        up.abort().await;
        assert_eq!(said(&log), ["release"]);

        let log = Arc::new(Log::default());
        let mut up = upload(&log, 5);
        up.write(vec![0; 2]).await.1.unwrap();
        drop(up);
        assert_eq!(said(&log), ["take 2", "release"]);
    }
}
