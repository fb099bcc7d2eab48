//! Listings of a prefix, streamed page by page in bounded memory.
//!
//! The keys under a directory come from a flat key listing (S3 pages of at
//! most 1000 keys, fetched as the client reads). A key directly under the
//! directory is a file; a key deeper down names a subdirectory, which is
//! listed once, after which the listing restarts *after* every key of that
//! subdirectory (S3's `start-after`), so a deep tree costs one request per
//! subdirectory, not one per key. Keys come in byte order, and the keys of
//! one subdirectory are contiguous in it, so nothing needs remembering.

use super::keys::{self, MARKER};
use super::{file_meta, object_meta};
use crate::storage::listing::{format_entry, CHUNKS_IN_FLIGHT, CHUNK_BYTES};
use crate::storage::{ListChunks, ListFormat, Meta, StorageError};
use ftp_proto::listing::EntryKind;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A page that takes longer than this ends the listing (logged).
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts listing directory `dir`; the chunks arrive on the receiver. The
/// first page is fetched before this returns, so that a service that does
/// not answer is an error the client sees as a reply, not an empty
/// listing. An empty prefix (a new account's home) is an empty listing;
/// its key stream has ended and is not polled again (object_store's
/// streams panic if they are).
pub async fn start(
    store: Arc<AmazonS3>,
    dir: Path,
    format: ListFormat,
    now_unix: i64,
) -> Result<ListChunks, StorageError> {
    let prefix = (!dir.as_ref().is_empty()).then_some(dir.clone());
    let mut keys = store.list(prefix.as_ref());
    let first = super::call(async { keys.next().await.transpose() }).await?;
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    if first.is_none() {
        return Ok(rx); // `tx` dropped: nothing to list
    }
    tokio::spawn(async move {
        let listing = Listing {
            store: &store,
            dir: &dir,
            format,
            now_unix,
        };
        if let Err(e) = listing.produce(keys, first, &tx).await {
            tracing::warn!(error = %e, prefix = %dir, "object listing ended early");
            let _ = tx.send(Err(StorageError::Backend(e))).await;
        }
    });
    Ok(rx)
}

/// The listing of one file.
pub fn single(meta: &Meta, name: &[u8], format: ListFormat, now_unix: i64) -> ListChunks {
    let (tx, rx) = mpsc::channel(1);
    let mut out = Vec::new();
    format_entry(meta, name, None, format, now_unix, &mut out);
    // A fresh channel with room for one: this cannot fail.
    let _ = tx.try_send(Ok(out));
    rx
}

/// One listing being produced.
struct Listing<'a> {
    store: &'a AmazonS3,
    dir: &'a Path,
    format: ListFormat,
    now_unix: i64,
}

impl Listing<'_> {
    /// Formats `pending` (the first key, if any) and the keys after it
    /// into chunks for `tx`.
    async fn produce(
        &self,
        mut keys: BoxStream<'static, object_store::Result<ObjectMeta>>,
        mut pending: Option<ObjectMeta>,
        tx: &mpsc::Sender<Result<Vec<u8>, StorageError>>,
    ) -> Result<(), String> {
        let (dir, format, now_unix) = (self.dir, self.format, self.now_unix);
        let prefix = (!dir.as_ref().is_empty()).then_some(dir);
        let mut out = Vec::with_capacity(CHUNK_BYTES + 512);
        loop {
            let meta = match pending.take() {
                Some(meta) => meta,
                None => match tokio::time::timeout(PAGE_TIMEOUT, keys.next()).await {
                    Err(_) => return Err(format!("no answer within {PAGE_TIMEOUT:?}")),
                    Ok(None) => break,
                    Ok(Some(Err(e))) => return Err(e.to_string()),
                    Ok(Some(Ok(meta))) => meta,
                },
            };
            let Some(mut rest) = meta.location.prefix_match(dir) else {
                continue;
            };
            let Some(first) = rest.next() else {
                continue; // the directory's own `DIR/` marker
            };
            let name = keys::name(&first);
            if rest.next().is_none() {
                if first.as_ref() != MARKER {
                    format_entry(&file_meta(&meta), &name, None, format, now_unix, &mut out);
                }
            } else {
                let sub = dir.child(first.clone());
                let dir_meta = object_meta(EntryKind::Dir, 0, meta.last_modified.timestamp(), &sub);
                format_entry(&dir_meta, &name, None, format, now_unix, &mut out);
                keys = self
                    .store
                    .list_with_offset(prefix, &keys::after_subtree(dir, &first));
            }
            if out.len() >= CHUNK_BYTES {
                let full = std::mem::replace(&mut out, Vec::with_capacity(CHUNK_BYTES + 512));
                if tx.send(Ok(full)).await.is_err() {
                    return Ok(()); // the client went away
                }
            }
        }
        if !out.is_empty() {
            let _ = tx.send(Ok(out)).await;
        }
        Ok(())
    }
}
