//! [`ObjectUpload`]: an upload into an object, visible only on commit.
//!
//! The first [`PART_SIZE`] bytes are kept in memory; an upload that ends
//! before that is stored with one PUT at commit, so an aborted small
//! upload never reaches the service. A larger one becomes a multipart
//! upload whose parts go up while the next ones arrive (at most
//! [`PARTS_IN_FLIGHT`] at once, so memory stays bounded); commit completes
//! it, abort (or drop) aborts it on the service, which then keeps nothing.

use crate::policy::Permission;
use crate::storage::upload::{CommitGate, Committed, UploadMode, UploadSink};
use crate::storage::StorageError;
use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::{ObjectStore, WriteMultipart};
use std::sync::Arc;

/// Bytes per multipart part (S3 wants at least 5 MiB but the last).
pub const PART_SIZE: usize = 8 << 20;
/// Parts uploading at once.
pub const PARTS_IN_FLIGHT: usize = 2;

/// An upload into one object.
#[derive(Debug)]
pub struct ObjectUpload {
    store: Arc<AmazonS3>,
    key: Path,
    old_size: u64,
    /// STOU, or STOR by an account that may not overwrite: never replace
    /// an existing object (checked at commit; an object store has no
    /// exclusive rename, so a clash fails the upload).
    unique: bool,
    /// What a clash at commit fails with.
    clash: fn() -> StorageError,
    /// What arrived before a multipart upload was needed.
    head: Vec<u8>,
    multipart: Option<WriteMultipart>,
    size: u64,
}

impl ObjectUpload {
    pub fn new(store: Arc<AmazonS3>, key: Path, old_size: u64, mode: UploadMode) -> Self {
        ObjectUpload {
            store,
            key,
            old_size,
            unique: matches!(mode, UploadMode::Unique | UploadMode::New),
            clash: match mode {
                UploadMode::New => || StorageError::NotPermitted(Permission::Overwrite),
                _ => || StorageError::AlreadyExists,
            },
            head: Vec::new(),
            multipart: None,
            size: 0,
        }
    }

    async fn push(&mut self, buf: &[u8]) -> Result<(), StorageError> {
        if self.multipart.is_none() && self.head.len() + buf.len() <= PART_SIZE {
            self.head.extend_from_slice(buf);
            return Ok(());
        }
        if self.multipart.is_none() {
            let upload = super::call(self.store.put_multipart(&self.key)).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            writer.write(&std::mem::take(&mut self.head));
            self.multipart = Some(writer);
        }
        if let Some(writer) = &mut self.multipart {
            writer
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(super::storage_error)?;
            writer.write(buf);
        }
        Ok(())
    }
}

impl ObjectUpload {
    /// Completes the upload once the gate admits what it changes. The
    /// parts sent so far are up before the gate is asked, so that past the
    /// gate only the last part and the completion (or the one PUT of a
    /// small upload) remain.
    async fn publish(&mut self, gate: &mut CommitGate) -> Result<Committed, StorageError> {
        if let Some(writer) = &mut self.multipart {
            // A failed part fails the upload, which is then aborted (by
            // abort, or by the drop).
            writer
                .wait_for_capacity(0)
                .await
                .map_err(super::storage_error)?;
        }
        // What the new object replaces, measured now rather than trusted
        // from when the upload began.
        let replaced = match super::call(self.store.head(&self.key)).await {
            Ok(_) if self.unique => return Err((self.clash)()),
            Ok(meta) => meta.size,
            Err(StorageError::NotFound) => 0,
            Err(e) => return Err(e),
        };
        let delta = self.size as i64 - replaced as i64;
        gate.admit_async(delta).await?;
        let published = match self.multipart.take() {
            // finish() aborts the upload on the service if completing fails.
            Some(writer) => super::call(writer.finish()).await.map(drop),
            None => {
                let body = std::mem::take(&mut self.head);
                super::call(self.store.put(&self.key, body.into()))
                    .await
                    .map(drop)
            }
        };
        if let Err(e) = published {
            gate.revert_async().await;
            return Err(e);
        }
        let name = self.key.filename().unwrap_or_default().as_bytes().to_vec();
        Ok(Committed {
            size: self.size,
            delta,
            name,
        })
    }
}

/// Aborts a multipart upload on the service, within the request bound (a
/// stalled service keeps an incomplete upload, which no listing shows).
async fn abort_multipart(writer: WriteMultipart, key: &Path) {
    if let Err(e) = super::call(writer.abort()).await {
        tracing::warn!(error = %e, %key, "could not abort a multipart upload");
    }
}

#[async_trait::async_trait]
impl UploadSink for ObjectUpload {
    fn replaced_bytes(&self) -> u64 {
        if self.unique {
            return 0;
        }
        self.old_size
    }

    async fn write(&mut self, buf: Vec<u8>) -> (Vec<u8>, Result<(), StorageError>) {
        let result = self.push(&buf).await;
        if result.is_ok() {
            self.size += buf.len() as u64;
        }
        (buf, result)
    }

    async fn commit(
        mut self: Box<Self>,
        mut gate: CommitGate,
    ) -> (CommitGate, Result<Committed, StorageError>) {
        let result = self.publish(&mut gate).await;
        (gate, result)
    }

    async fn abort(mut self: Box<Self>) {
        if let Some(writer) = self.multipart.take() {
            abort_multipart(writer, &self.key).await;
        }
    }
}

impl Drop for ObjectUpload {
    fn drop(&mut self) {
        // Neither committed nor aborted: abort on the service, from a task
        // (Drop cannot wait).
        if let Some(writer) = self.multipart.take() {
            let key = self.key.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { abort_multipart(writer, &key).await });
            }
        }
    }
}
