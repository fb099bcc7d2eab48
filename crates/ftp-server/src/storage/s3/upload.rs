//! [`ObjectUpload`]: an upload into an object, visible only on commit.
//!
//! The first [`PART_SIZE`] bytes are kept in memory; an upload that ends
//! before that is stored with one PUT at commit, so an aborted small
//! upload never reaches the service. A larger one becomes a multipart
//! upload whose parts go up while the next ones arrive (at most
//! [`PARTS_IN_FLIGHT`] at once, so memory stays bounded); commit completes
//! it, abort (or drop) aborts it on the service, which then keeps nothing.
//!
//! An object cannot be extended in place, so an append or a resume
//! (APPE, REST+STOR, an SFTP write at a file's end) builds a new object:
//! the kept part of the old one is copied from the service first (a GET of
//! exactly the version measured, by its ETag), the client's bytes follow,
//! and the commit publishes the whole only if the object is still that
//! version; if another session replaced or removed it meanwhile, the
//! upload fails with 450 and changes nothing.
//!
//! An object store has no lock, so this process's commits of one key take
//! turns ([`commit_turn`]) from the HEAD that measures what they replace
//! to the end of their publication: two appends cannot both extend the
//! same version, and two uploads of one name cannot both count the same
//! old object. (Instances sharing a bucket do not share these turns: for
//! them, a publication landing between another's check and its completion
//! is overwritten, as with two plain STORs.)

use crate::policy::Permission;
use crate::storage::upload::{CommitGate, Committed, UploadMode, UploadSink};
use crate::storage::StorageError;
use futures::StreamExt;
use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, WriteMultipart};
use std::sync::Arc;

/// Stripes of [`commit_turn`].
const COMMIT_STRIPES: usize = 64;

static COMMIT_TURNS: [tokio::sync::Mutex<()>; COMMIT_STRIPES] =
    [const { tokio::sync::Mutex::const_new(()) }; COMMIT_STRIPES];

/// The turn this process's commits of `key` take (keys share stripes).
fn commit_turn(key: &Path) -> &'static tokio::sync::Mutex<()> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    key.as_ref().hash(&mut hasher);
    &COMMIT_TURNS[(hasher.finish() % COMMIT_STRIPES as u64) as usize]
}

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
    /// For an append or a resume: the version of the object whose first
    /// `kept` bytes this upload carries over, by its ETag.
    extends: Option<Base>,
    /// What arrived before a multipart upload was needed.
    head: Vec<u8>,
    multipart: Option<WriteMultipart>,
    size: u64,
}

/// The object an append or a resume extends.
#[derive(Debug)]
struct Base {
    e_tag: String,
    kept: u64,
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
            extends: None,
            head: Vec::new(),
            multipart: None,
            size: 0,
        }
    }

    /// An append to a name that holds no object yet: a new object, which
    /// never replaces one another session stores there meanwhile (the
    /// append then fails with 450, to be tried again).
    pub fn appending_to_nothing(store: Arc<AmazonS3>, key: Path) -> Self {
        let mut upload = Self::new(store, key, 0, UploadMode::Replace);
        upload.unique = true;
        upload.clash = || StorageError::Busy;
        upload
    }

    /// An upload that keeps the first `kept` bytes of `base` (the whole
    /// object for an append), copied from the service before this
    /// returns.
    pub async fn extending(
        store: Arc<AmazonS3>,
        base: &ObjectMeta,
        kept: u64,
    ) -> Result<Self, StorageError> {
        // Without an ETag the version copied could not be told from one
        // stored meanwhile.
        let e_tag = base.e_tag.clone().ok_or_else(|| {
            StorageError::Unsupported(
                "this object store gives no ETag, so a stored file cannot be extended safely; \
                 upload it whole with STOR"
                    .into(),
            )
        })?;
        let mut upload = Self::new(store, base.location.clone(), base.size, UploadMode::Replace);
        upload.extends = Some(Base {
            e_tag: e_tag.clone(),
            kept,
        });
        if kept > 0 {
            let options = GetOptions {
                if_match: Some(e_tag),
                range: Some(GetRange::Bounded(0..kept)),
                ..GetOptions::default()
            };
            let got = super::call(upload.store.get_opts(&upload.key, options)).await?;
            let mut body = got.into_stream();
            while let Some(chunk) = super::call(async { body.next().await.transpose() }).await? {
                upload.push(&chunk).await?;
                upload.size += chunk.len() as u64;
            }
            if upload.size != kept {
                // The service sent another length than asked for.
                return Err(StorageError::Busy);
            }
        }
        Ok(upload)
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
        // from when the upload began, and published before another commit
        // of this key measures it again.
        let _turn = commit_turn(&self.key).lock().await;
        let current = match super::call(self.store.head(&self.key)).await {
            Ok(meta) => Some(meta),
            Err(StorageError::NotFound) => None,
            Err(e) => return Err(e),
        };
        let replaced = match (&current, &self.extends) {
            (Some(_), _) if self.unique => return Err((self.clash)()),
            // An append or a resume publishes only over the version it
            // extends: anything else is another session's acknowledged
            // file, or its removal.
            (Some(meta), Some(base)) if meta.e_tag.as_ref() != Some(&base.e_tag) => {
                return Err(StorageError::Busy)
            }
            (None, Some(_)) => return Err(StorageError::Busy),
            (Some(meta), _) => meta.size,
            (None, None) => 0,
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
        // What an append or a resume keeps is not replaced.
        self.old_size.saturating_sub(self.kept_bytes())
    }

    fn kept_bytes(&self) -> u64 {
        self.extends.as_ref().map_or(0, |b| b.kept)
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
