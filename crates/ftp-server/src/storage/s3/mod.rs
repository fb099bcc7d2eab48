//! The object-storage backend: a session's root is a key prefix in an
//! S3-compatible bucket (`PREFIX/home/NAME/`, `PREFIX/pub/`), reached
//! through the `object_store` crate.
//!
//! What maps directly: RETR is a (ranged) GET streamed to the client, STOR
//! a multipart upload completed only at the end, DELE a DELETE, SIZE/MDTM
//! a HEAD, listings a paged key listing. Directories are key prefixes; an
//! empty one exists through a marker object ([`keys::MARKER`]). Appending
//! (APPE, REST+STOR, an SFTP write at a file's end) builds a new object
//! from the old one's kept bytes and the new ones, published only over
//! the version it started from ([`upload`]). Renaming a directory is
//! refused, never emulated.
//!
//! # Layout
//! - [`config`]: [`S3Config`] and `s3://bucket/prefix`.
//! - [`keys`]: virtual paths to keys and back: the backend's jail.
//! - [`listing`]: listings streamed page by page.
//! - [`upload`]: the multipart upload sink.

pub mod config;
pub mod keys;
pub mod listing;
pub mod upload;

pub use config::S3Config;

use super::{Download, ListChunks, ListFormat, Meta, Storage, StorageError, Upload, UploadMode};
use crate::storage::Overwrite;
use ftp_proto::listing::EntryKind;
use ftp_proto::VirtualPath;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ClientOptions, GetOptions, GetRange, ObjectMeta, ObjectStore, RetryConfig};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for one request that is not a streamed body. What a
/// client waits for is bounded sooner, by `backend_timeout`
/// ([`crate::storage::bounded`]); this bounds the requests that go on
/// after the client was answered (a late commit, an abort, later listing
/// pages).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connected bucket, shared by every session of the server.
#[derive(Debug)]
pub struct S3Bucket {
    store: Arc<AmazonS3>,
    root: Path,
    config: S3Config,
}

impl S3Bucket {
    /// Builds the client (no request is made; see [`S3Bucket::check`]).
    pub fn connect(config: S3Config) -> Result<S3Bucket, String> {
        config.validate()?;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_allow_http(config.allow_http)
            .with_virtual_hosted_style_request(config.virtual_hosted)
            // Bodies are streamed for as long as a transfer runs; the
            // reads of a download are bounded by `backend_timeout`
            // (storage::bounded), and every other request has CALL_TIMEOUT.
            .with_client_options(
                ClientOptions::new()
                    .with_timeout_disabled()
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_allow_http(config.allow_http),
            )
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(20),
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &config.region {
            builder = builder.with_region(region);
        }
        let store = builder
            .build()
            .map_err(|e| format!("cannot set up S3 storage: {e}"))?;
        let root = Path::parse(&config.prefix).map_err(|e| {
            format!(
                "storage prefix {:?} is not a valid key prefix: {e}",
                config.prefix
            )
        })?;
        Ok(S3Bucket {
            store: Arc::new(store),
            root,
            config,
        })
    }

    /// A one-line description for logs: bucket, prefix and endpoint,
    /// never credentials.
    pub fn describe(&self) -> String {
        format!(
            "s3 bucket={} prefix={:?} endpoint={}",
            self.config.bucket,
            self.config.prefix,
            self.config.endpoint.as_deref().unwrap_or("AWS default")
        )
    }

    /// Whether the bucket answers: lists at most one key of the prefix.
    pub async fn check(&self, wait: Duration) -> Result<(), String> {
        let mut keys = self.store.list(Some(&self.root));
        match tokio::time::timeout(wait, keys.next()).await {
            Err(_) => Err(format!("no answer within {wait:?}")),
            Ok(Some(Err(e))) => Err(e.to_string()),
            Ok(_) => Ok(()),
        }
    }

    /// Bytes stored under `segments` (markers aside), by listing every key:
    /// an account's usage for a recount.
    pub async fn usage(&self, segments: &[&str]) -> Result<u64, String> {
        let root = self.open(segments, false).root;
        let mut keys = self.store.list(Some(&root));
        let mut bytes = 0u64;
        while let Some(meta) = keys.next().await {
            let meta = meta.map_err(|e| e.to_string())?;
            if meta.location.filename() != Some(keys::MARKER) {
                bytes += meta.size;
            }
        }
        Ok(bytes)
    }

    /// A session's root: `segments` under the server's prefix.
    pub fn open(&self, segments: &[&str], writable: bool) -> S3Storage {
        let mut root = self.root.clone();
        for s in segments {
            root = root.child(*s);
        }
        S3Storage {
            store: self.store.clone(),
            root,
            writable,
        }
    }
}

/// One session's view of the bucket: everything under `root`.
#[derive(Debug, Clone)]
pub struct S3Storage {
    store: Arc<AmazonS3>,
    root: Path,
    writable: bool,
}

/// Runs one request with [`CALL_TIMEOUT`], mapping its error.
async fn call<T>(fut: impl Future<Output = object_store::Result<T>>) -> Result<T, StorageError> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(r) => r.map_err(storage_error),
        Err(_) => Err(StorageError::Backend(format!(
            "no answer within {CALL_TIMEOUT:?}"
        ))),
    }
}

fn storage_error(e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound,
        // A conditional request (an ETag that must still match) lost to a
        // change by another session.
        object_store::Error::Precondition { .. } => StorageError::Busy,
        object_store::Error::AlreadyExists { .. } => StorageError::AlreadyExists,
        other => {
            tracing::warn!(error = %other, "object storage request failed");
            StorageError::Backend(other.to_string())
        }
    }
}

fn file_meta(meta: &ObjectMeta) -> Meta {
    object_meta(
        EntryKind::File,
        meta.size,
        meta.last_modified.timestamp(),
        &meta.location,
    )
}

fn object_meta(kind: EntryKind, size: u64, mtime: i64, key: &Path) -> Meta {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    Meta {
        kind,
        size,
        mtime,
        mode: if kind == EntryKind::Dir { 0o755 } else { 0o644 },
        nlink: 1,
        dev: 0,
        ino: h.finish(),
    }
}

impl S3Storage {
    fn key(&self, path: &VirtualPath) -> Result<Path, StorageError> {
        keys::key(&self.root, path)
    }

    /// The facts of a directory key, if any object lies under it.
    async fn dir_meta(&self, key: &Path) -> Result<Option<Meta>, StorageError> {
        if *key == self.root {
            return Ok(Some(object_meta(EntryKind::Dir, 0, 0, key)));
        }
        let mut under = self.store.list(Some(key));
        match call(async { under.next().await.transpose() }).await? {
            Some(first) => Ok(Some(object_meta(
                EntryKind::Dir,
                0,
                first.last_modified.timestamp(),
                key,
            ))),
            None => Ok(None),
        }
    }

    async fn head(&self, key: &Path) -> Result<Option<ObjectMeta>, StorageError> {
        if *key == self.root {
            return Ok(None);
        }
        match call(self.store.head(key)).await {
            Ok(meta) => Ok(Some(meta)),
            Err(StorageError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn stat_key(&self, key: &Path) -> Result<Meta, StorageError> {
        if let Some(meta) = self.head(key).await? {
            return Ok(file_meta(&meta));
        }
        self.dir_meta(key).await?.ok_or(StorageError::NotFound)
    }

    /// A file must be missing, but its parent directory must exist.
    async fn require_parent(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let parent = path.parent();
        match self.dir_meta(&self.key(&parent)?).await? {
            Some(_) => Ok(()),
            None => Err(StorageError::NotFound),
        }
    }

    /// The upload an append or a resume of `key` is (see
    /// [`upload`]), or `None` for an upload that replaces it whole (any
    /// other mode, or a resume at 0).
    async fn begin_extension(
        &self,
        path: &VirtualPath,
        key: &Path,
        mode: UploadMode,
    ) -> Result<Option<upload::ObjectUpload>, StorageError> {
        let keep = match mode {
            UploadMode::Append => None,
            UploadMode::Resume(offset) if offset > 0 => Some(offset),
            _ => return Ok(None),
        };
        let base = match self.head(key).await? {
            Some(base) => base,
            None if self.dir_meta(key).await?.is_some() => return Err(StorageError::NotAFile),
            None if keep.is_some() => return Err(StorageError::InvalidRestart),
            None => {
                self.require_parent(path).await?;
                return Ok(Some(upload::ObjectUpload::appending_to_nothing(
                    self.store.clone(),
                    key.clone(),
                )));
            }
        };
        let kept = keep.unwrap_or(base.size);
        if kept > base.size {
            return Err(StorageError::InvalidRestart);
        }
        upload::ObjectUpload::extending(self.store.clone(), &base, kept)
            .await
            .map(Some)
    }

    /// The size of the file at `key`, refusing a directory.
    async fn file_size(&self, key: &Path) -> Result<u64, StorageError> {
        match self.head(key).await? {
            Some(meta) => Ok(meta.size),
            None if self.dir_meta(key).await?.is_some() => Err(StorageError::NotAFile),
            None => Err(StorageError::NotFound),
        }
    }
}

#[async_trait::async_trait]
impl Storage for S3Storage {
    fn kind(&self) -> &'static str {
        "s3"
    }

    fn writable(&self) -> bool {
        self.writable
    }

    fn sets_times(&self) -> bool {
        false
    }

    async fn stat(&self, path: &VirtualPath) -> Result<Meta, StorageError> {
        self.stat_key(&self.key(path)?).await
    }

    async fn stat_target(&self, path: &VirtualPath) -> Result<Meta, StorageError> {
        self.stat_key(&self.key(path)?).await
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(Download, Meta), StorageError> {
        let key = self.key(path)?;
        let size = self.file_size(&key).await?;
        if offset > size {
            return Err(StorageError::InvalidRestart);
        }
        let options = GetOptions {
            range: (offset > 0 && offset < size).then_some(GetRange::Offset(offset)),
            ..GetOptions::default()
        };
        let result = call(self.store.get_opts(&key, options)).await?;
        let meta = file_meta(&result.meta);
        if offset >= size {
            return Ok((Download::Stream(Box::pin(tokio::io::empty())), meta));
        }
        let bytes = result
            .into_stream()
            .map(|r| r.map_err(std::io::Error::from));
        let reader = tokio_util::io::StreamReader::new(bytes);
        Ok((Download::Stream(Box::pin(reader)), meta))
    }

    async fn begin_upload(
        &self,
        path: &VirtualPath,
        mode: UploadMode,
    ) -> Result<Upload, StorageError> {
        self.require_writable()?;
        if path.is_root() {
            return Err(StorageError::NotAFile);
        }
        let key = self.key(path)?;
        if let Some(sink) = self.begin_extension(path, &key, mode).await? {
            return Ok(Upload::new(Box::new(sink)));
        }
        let old_size = match self.file_size(&key).await {
            Ok(size) => size,
            Err(StorageError::NotFound) => {
                self.require_parent(path).await?;
                0
            }
            Err(e) => return Err(e),
        };
        let sink = upload::ObjectUpload::new(self.store.clone(), key, old_size, mode);
        Ok(Upload::new(Box::new(sink)))
    }

    async fn list(
        &self,
        path: &VirtualPath,
        format: ListFormat,
        now_unix: i64,
    ) -> Result<ListChunks, StorageError> {
        let key = self.key(path)?;
        let meta = self.stat_key(&key).await?;
        if meta.is_dir() {
            listing::start(self.store.clone(), key, format, now_unix).await
        } else if matches!(format, ListFormat::Mlsd { .. } | ListFormat::Records) {
            Err(StorageError::NotADirectory)
        } else {
            let name = path.file_name().unwrap_or(b"").to_vec();
            Ok(listing::single(&meta, &name, format, now_unix))
        }
    }

    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        self.require_writable()?;
        let key = self.key(path)?;
        if key == self.root
            || self.head(&key).await?.is_some()
            || self.dir_meta(&key).await?.is_some()
        {
            return Err(StorageError::AlreadyExists);
        }
        self.require_parent(path).await?;
        call(self.store.put(&keys::marker(&key), Vec::new().into())).await?;
        Ok(())
    }

    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        self.require_writable()?;
        let key = self.key(path)?;
        if key == self.root {
            return Err(StorageError::PermissionDenied);
        }
        let marker = keys::marker(&key);
        let mut under = self.store.list(Some(&key));
        let mut found_any = false;
        // Two keys at most: the marker and one more means "not empty".
        for _ in 0..2 {
            match call(async { under.next().await.transpose() }).await? {
                Some(meta) if meta.location == marker || meta.location == key => found_any = true,
                Some(_) => return Err(StorageError::NotEmpty),
                None => break,
            }
        }
        if !found_any {
            return Err(match self.head(&key).await? {
                Some(_) => StorageError::NotADirectory,
                None => StorageError::NotFound,
            });
        }
        call(self.store.delete(&marker)).await
    }

    async fn remove_file(&self, path: &VirtualPath) -> Result<u64, StorageError> {
        self.require_writable()?;
        let key = self.key(path)?;
        let size = self.file_size(&key).await?;
        call(self.store.delete(&key)).await?;
        Ok(size)
    }

    async fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
        overwrite: Overwrite,
    ) -> Result<u64, StorageError> {
        self.require_writable()?;
        if from.is_root()
            || to.is_root()
            || to.as_bytes().starts_with(&[from.as_bytes(), b"/"].concat())
        {
            return Err(StorageError::PermissionDenied);
        }
        let (src, dst) = (self.key(from)?, self.key(to)?);
        if src == dst {
            self.stat_key(&src).await?;
            return Ok(0);
        }
        match self.file_size(&src).await {
            Err(StorageError::NotAFile) => {
                return Err(StorageError::Unsupported(
                    "Renaming a directory is not supported by the s3 storage backend (it would \
                     copy every object under it); create the new directory and move the files"
                        .into(),
                ))
            }
            other => other?,
        };
        let replaced = match self.file_size(&dst).await {
            // Checked, not exclusive: an object store has no such rename.
            Ok(_) if overwrite == Overwrite::Never => return Err(StorageError::AlreadyExists),
            Ok(size) => size,
            Err(StorageError::NotFound) => {
                self.require_parent(to).await?;
                0
            }
            Err(e) => return Err(e),
        };
        call(self.store.copy(&src, &dst)).await?;
        call(self.store.delete(&src)).await?;
        Ok(replaced)
    }

    async fn set_modified(&self, _path: &VirtualPath, _unix_secs: i64) -> Result<(), StorageError> {
        Err(StorageError::cannot_set_times(self.kind()))
    }
}
