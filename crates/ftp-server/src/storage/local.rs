//! [`Storage`] for [`Jail`]: the local filesystem backend. The work is
//! done by [`Jail`]'s own methods; this only adapts them to the trait.

use super::{
    Download, Jail, ListChunks, ListFormat, Meta, Storage, StorageError, Upload, UploadMode,
};
use crate::storage::Overwrite;
use ftp_proto::VirtualPath;

#[async_trait::async_trait]
impl Storage for Jail {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn writable(&self) -> bool {
        Jail::writable(self)
    }

    fn sets_times(&self) -> bool {
        true
    }

    async fn stat(&self, path: &VirtualPath) -> Result<Meta, StorageError> {
        Jail::stat(self, path).await
    }

    async fn stat_target(&self, path: &VirtualPath) -> Result<Meta, StorageError> {
        Jail::stat_target(self, path).await
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(Download, Meta), StorageError> {
        let (file, meta) = Jail::open_read(self, path).await?;
        if offset > meta.size {
            return Err(StorageError::InvalidRestart);
        }
        Ok((Download::File { file, offset }, meta))
    }

    async fn begin_upload(
        &self,
        path: &VirtualPath,
        mode: UploadMode,
    ) -> Result<Upload, StorageError> {
        Jail::begin_upload(self, path, mode).await
    }

    async fn list(
        &self,
        path: &VirtualPath,
        format: ListFormat,
        now_unix: i64,
    ) -> Result<ListChunks, StorageError> {
        Jail::list(self, path, format, now_unix).await
    }

    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        Jail::mkdir(self, path).await
    }

    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        Jail::rmdir(self, path).await
    }

    async fn remove_file(&self, path: &VirtualPath) -> Result<u64, StorageError> {
        Jail::remove_file(self, path).await
    }

    async fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
        overwrite: Overwrite,
    ) -> Result<u64, StorageError> {
        Jail::rename(self, from, to, overwrite).await
    }

    async fn set_modified(&self, path: &VirtualPath, unix_secs: i64) -> Result<(), StorageError> {
        Jail::set_modified(self, path, unix_secs).await
    }
}
