//! [`Upload`]: a file being received.
//!
//! A new or replaced file is written to a hidden temporary file beside its
//! target and renamed over it only by [`Upload::commit`], so an existing
//! file is never truncated or half-replaced by an upload that did not
//! finish. An append (APPE, or a REST+STOR that resumes exactly at the end
//! of the file) writes in place and, if it does not finish, cuts the file
//! back to its old length. [`Upload::abort`] undoes either; dropping an
//! unfinished upload does the same as a last resort, and
//! [`sweep_partial_uploads`] removes what a crash left behind.

use super::{blocking, Jail, StorageError, PART_PREFIX};
use ftp_proto::VirtualPath;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// Accounts for the space an upload takes, as its bytes arrive (a quota).
///
/// `take` is asked before every write and may refuse it; `release` gives
/// back what was taken when the upload is undone; `commit` records that
/// the files now take `delta` bytes more (or fewer) than before.
#[async_trait::async_trait]
pub trait SpaceMeter: Send + Sync + std::fmt::Debug {
    async fn take(&mut self, bytes: u64) -> Result<(), StorageError>;
    fn release(&mut self);
    async fn commit(self: Box<Self>, delta: i64);
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
}

/// A write on a blocking thread: it gives back the buffer, the file and
/// the result.
type PendingWrite = tokio::task::JoinHandle<(Vec<u8>, File, io::Result<()>)>;

#[derive(Debug)]
enum Kind {
    /// Written to `temp`, renamed over the target on commit.
    Temp { temp: PathBuf },
    /// Written into the target; on abort cut back to `restore_len`, or
    /// removed if the upload created it.
    InPlace { restore_len: u64, created: bool },
}

/// A file being received; see the module documentation.
#[derive(Debug)]
pub struct Upload {
    file: Option<File>,
    target: PathBuf,
    kind: Kind,
    /// Size of the file the upload replaces or extends (0 if none): what a
    /// quota gives back when the upload commits.
    old_size: u64,
    /// Bytes of the final file that were already there before the upload.
    kept: u64,
    written: u64,
    finished: bool,
    meter: Option<Box<dyn SpaceMeter>>,
    /// The write running on a blocking thread, if any: receiving the next
    /// buffer overlaps with writing this one.
    pending: Option<PendingWrite>,
    in_flight: u64,
}

impl Jail {
    /// Starts receiving into `vpath`.
    pub async fn begin_upload(
        &self,
        vpath: &VirtualPath,
        mode: UploadMode,
    ) -> Result<Upload, StorageError> {
        self.require_writable()?;
        let jail = self.clone();
        let vpath = vpath.clone();
        blocking(move || {
            let target = jail.resolve(&vpath)?;
            if vpath.is_root() {
                return Err(StorageError::NotAFile);
            }
            Upload::begin(target, mode)
        })
        .await
    }
}

impl Upload {
    fn begin(target: PathBuf, mode: UploadMode) -> Result<Upload, StorageError> {
        let existing = match fs::metadata(&target) {
            Ok(md) if md.is_file() => Some(md.len()),
            Ok(_) => return Err(StorageError::NotAFile),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let old_size = existing.unwrap_or(0);
        let in_place = match mode {
            UploadMode::Append => true,
            UploadMode::Resume(offset) if offset > old_size => {
                return Err(StorageError::InvalidRestart)
            }
            UploadMode::Resume(offset) => offset == old_size && existing.is_some(),
            UploadMode::Replace => false,
        };
        if in_place {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&target)?;
            file.seek(SeekFrom::End(0))?;
            return Ok(Upload {
                file: Some(file),
                target,
                kind: Kind::InPlace {
                    restore_len: old_size,
                    created: existing.is_none(),
                },
                old_size,
                kept: old_size,
                written: 0,
                finished: false,
                meter: None,
                pending: None,
                in_flight: 0,
            });
        }
        let (temp, mut file) = create_temp_beside(&target)?;
        let mut upload = Upload {
            file: None,
            target,
            kind: Kind::Temp { temp },
            old_size,
            kept: 0,
            written: 0,
            finished: false,
            meter: None,
            pending: None,
            in_flight: 0,
        };
        if let UploadMode::Resume(offset) = mode {
            if offset > 0 {
                let mut src = File::open(&upload.target)?;
                let copied = io::copy(&mut io::Read::take(&mut src, offset), &mut file)?;
                upload.kept = copied;
            }
        }
        upload.file = Some(file);
        Ok(upload)
    }

    /// Size of the file this upload replaces or extends (0 if new).
    pub fn old_size(&self) -> u64 {
        self.old_size
    }

    /// Bytes of the old file that the committed upload no longer holds:
    /// space a quota may let this upload reuse.
    pub fn replaced_bytes(&self) -> u64 {
        match self.kind {
            Kind::Temp { .. } => self.old_size - self.kept,
            Kind::InPlace { .. } => 0,
        }
    }

    /// Meters the upload's bytes from now on.
    pub fn set_meter(&mut self, meter: Box<dyn SpaceMeter>) {
        self.meter = Some(meter);
    }

    /// Bytes written by this upload so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Size the target will have once committed.
    pub fn final_size(&self) -> u64 {
        self.kept + self.written
    }

    /// Writes `buf` off the async threads, in the background: the call
    /// returns once the previous write is done, with that write's buffer
    /// (empty the first time) for the caller to fill next. Errors of a
    /// background write show at the next call or at commit.
    pub async fn write(&mut self, buf: Vec<u8>) -> (Vec<u8>, Result<(), StorageError>) {
        if let Some(meter) = &mut self.meter {
            if let Err(e) = meter.take(buf.len() as u64).await {
                return (buf, Err(e));
            }
        }
        // The previous write must be done before this one starts; its
        // buffer comes back to the caller to fill while this one runs.
        let spare = match self.settle().await {
            Ok(spare) => spare,
            Err(e) => return (buf, Err(e)),
        };
        let Some(mut file) = self.file.take() else {
            return (
                buf,
                Err(StorageError::Io(io::Error::other("upload file lost"))),
            );
        };
        self.in_flight = buf.len() as u64;
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let result = file.write_all(&buf);
            (buf, file, result)
        }));
        (spare, Ok(()))
    }

    /// Waits for the write in progress, if any, and returns its buffer.
    async fn settle(&mut self) -> Result<Vec<u8>, StorageError> {
        let Some(pending) = self.pending.take() else {
            return Ok(Vec::new());
        };
        match pending.await {
            Ok((buf, file, result)) => {
                self.file = Some(file);
                result.map_err(StorageError::from)?;
                self.written += std::mem::take(&mut self.in_flight);
                Ok(buf)
            }
            Err(e) => Err(StorageError::Io(io::Error::other(e))),
        }
    }

    /// Puts the received file in place and returns its final size.
    pub async fn commit(mut self) -> Result<u64, StorageError> {
        self.settle().await?;
        let file = self.file.take();
        let target = self.target.clone();
        let temp = match &self.kind {
            Kind::Temp { temp } => Some(temp.clone()),
            Kind::InPlace { .. } => None,
        };
        let size = self.final_size();
        let written = self.written;
        let result = blocking(move || {
            drop(file);
            let Some(temp) = temp else {
                // In place: the file grew by exactly what was written,
                // whatever else happened to it meanwhile.
                return Ok(written as i64);
            };
            // What the rename replaces is measured now, under the lock that
            // DELE and RNTO take, not trusted from when the upload began.
            let _namespace = super::namespace_lock();
            let replaced = match fs::metadata(&target) {
                Ok(md) if md.is_file() => md.len(),
                _ => 0,
            };
            fs::rename(temp, target)?;
            Ok(size as i64 - replaced as i64)
        })
        .await;
        match result {
            Ok(delta) => {
                self.finished = true;
                if let Some(meter) = self.meter.take() {
                    meter.commit(delta).await;
                }
                Ok(size)
            }
            Err(e) => Err(e),
        }
    }

    /// Undoes the upload: the target is as it was before.
    pub async fn abort(mut self) {
        let _ = self.settle().await;
        if let Some(meter) = &mut self.meter {
            meter.release();
        }
        let file = self.file.take();
        let undo = self.undo_plan();
        self.finished = true;
        let _ = blocking(move || {
            drop(file);
            undo.run();
            Ok(())
        })
        .await;
    }

    fn undo_plan(&self) -> Undo {
        match &self.kind {
            Kind::Temp { temp } => Undo::Remove(temp.clone()),
            Kind::InPlace { created: true, .. } => Undo::Remove(self.target.clone()),
            Kind::InPlace { restore_len, .. } => Undo::Truncate(self.target.clone(), *restore_len),
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(meter) = &mut self.meter {
            if !self.finished {
                meter.release();
            }
        }
        if !self.finished {
            self.file.take();
            self.undo_plan().run();
        }
    }
}

enum Undo {
    Remove(PathBuf),
    Truncate(PathBuf, u64),
}

impl Undo {
    fn run(self) {
        let result = match self {
            Undo::Remove(path) => fs::remove_file(&path),
            Undo::Truncate(path, len) => OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(len)),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not undo an unfinished upload");
        }
    }
}

fn create_temp_beside(target: &Path) -> Result<(PathBuf, File), StorageError> {
    let dir = target.parent().ok_or(StorageError::NotFound)?;
    for _ in 0..8 {
        let mut name = PART_PREFIX.to_vec();
        name.extend_from_slice(format!("{:016x}", rand::random::<u64>()).as_bytes());
        let temp = dir.join(OsString::from_vec(name));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StorageError::Io(io::Error::other("no free temporary name")))
}

/// Removes the temporary files of uploads that a crash interrupted, under
/// `root`, and returns how many it removed. Links are not followed.
pub fn sweep_partial_uploads(root: &Path) -> io::Result<usize> {
    let mut removed = 0;
    super::walk_files(root, |entry, partial| {
        if partial {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
        Ok(())
    })?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp(p: &[u8]) -> VirtualPath {
        VirtualPath::root().join(p).unwrap()
    }

    fn parts(dir: &Path) -> usize {
        fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .into_vec()
                    .starts_with(PART_PREFIX)
            })
            .count()
    }

    #[tokio::test]
    async fn replace_is_atomic() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), b"old").unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();

        let mut up = jail
            .begin_upload(&vp(b"f"), UploadMode::Replace)
            .await
            .unwrap();
        let (_, r) = up.write(b"new content".to_vec()).await;
        r.unwrap();
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"old");
        up.abort().await;
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"old");
        assert_eq!(parts(dir.path()), 0);

        let mut up = jail
            .begin_upload(&vp(b"f"), UploadMode::Replace)
            .await
            .unwrap();
        assert_eq!(up.old_size(), 3);
        let (_, r) = up.write(b"new".to_vec()).await;
        r.unwrap();
        assert_eq!(up.commit().await.unwrap(), 3);
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"new");
        assert_eq!(parts(dir.path()), 0);
    }

    #[tokio::test]
    async fn dropped_upload_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        let mut up = jail
            .begin_upload(&vp(b"g"), UploadMode::Replace)
            .await
            .unwrap();
        let (_, r) = up.write(vec![1; 10]).await;
        r.unwrap();
        drop(up);
        assert_eq!(parts(dir.path()), 0);
        assert!(!dir.path().join("g").exists());
    }

    #[tokio::test]
    async fn append_restores_old_length() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), b"12345").unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        let mut up = jail
            .begin_upload(&vp(b"a"), UploadMode::Append)
            .await
            .unwrap();
        let (_, r) = up.write(b"678".to_vec()).await;
        r.unwrap();
        up.abort().await;
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"12345");
        let mut up = jail
            .begin_upload(&vp(b"a"), UploadMode::Append)
            .await
            .unwrap();
        let (_, r) = up.write(b"678".to_vec()).await;
        r.unwrap();
        assert_eq!(up.commit().await.unwrap(), 8);
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"12345678");
    }

    #[tokio::test]
    async fn resume_in_the_middle_keeps_prefix() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("r"), b"abcdefgh").unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        let mut up = jail
            .begin_upload(&vp(b"r"), UploadMode::Resume(3))
            .await
            .unwrap();
        let (_, r) = up.write(b"XY".to_vec()).await;
        r.unwrap();
        assert_eq!(up.commit().await.unwrap(), 5);
        assert_eq!(fs::read(dir.path().join("r")).unwrap(), b"abcXY");
        assert!(matches!(
            jail.begin_upload(&vp(b"r"), UploadMode::Resume(99)).await,
            Err(StorageError::InvalidRestart)
        ));
    }

    #[test]
    fn sweep_removes_parts_only() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("d/.wharf-part-1"), b"x").unwrap();
        fs::write(dir.path().join("d/keep"), b"x").unwrap();
        assert_eq!(sweep_partial_uploads(dir.path()).unwrap(), 1);
        assert!(dir.path().join("d/keep").exists());
    }
}
