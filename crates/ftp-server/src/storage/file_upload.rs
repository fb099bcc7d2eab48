//! [`FileUpload`]: the local filesystem's upload sink.
//!
//! A new or replaced file is written to a hidden temporary file beside its
//! target and renamed over it only on commit, so an existing file is never
//! truncated or half-replaced by an upload that did not finish. An append
//! (APPE, or a REST+STOR that resumes exactly at the end of the file)
//! writes in place and, if it does not finish, cuts the file back to its
//! old length. Abort undoes either; dropping an unfinished upload does the
//! same as a last resort, and [`sweep_partial_uploads`] removes what a
//! crash left behind. Writes run on a blocking thread while the next
//! buffer is received (double buffering).

use super::upload::{Upload, UploadMode, UploadSink};
use super::{blocking, Jail, StorageError, PART_PREFIX};
use ftp_proto::VirtualPath;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

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

/// A file being received into the local filesystem.
#[derive(Debug)]
pub struct FileUpload {
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
            FileUpload::begin(target, mode)
        })
        .await
        .map(|sink| Upload::new(Box::new(sink)))
    }
}

impl FileUpload {
    fn begin(target: PathBuf, mode: UploadMode) -> Result<FileUpload, StorageError> {
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
            return Ok(FileUpload {
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
                pending: None,
                in_flight: 0,
            });
        }
        let (temp, mut file) = create_temp_beside(&target)?;
        let mut upload = FileUpload {
            file: None,
            target,
            kind: Kind::Temp { temp },
            old_size,
            kept: 0,
            written: 0,
            finished: false,
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

    /// Size the target will have once committed.
    fn final_size(&self) -> u64 {
        self.kept + self.written
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

    fn undo_plan(&self) -> Undo {
        match &self.kind {
            Kind::Temp { temp } => Undo::Remove(temp.clone()),
            Kind::InPlace { created: true, .. } => Undo::Remove(self.target.clone()),
            Kind::InPlace { restore_len, .. } => Undo::Truncate(self.target.clone(), *restore_len),
        }
    }
}

#[async_trait::async_trait]
impl UploadSink for FileUpload {
    fn replaced_bytes(&self) -> u64 {
        match self.kind {
            Kind::Temp { .. } => self.old_size - self.kept,
            Kind::InPlace { .. } => 0,
        }
    }

    /// Writes `buf` off the async threads, in the background: the call
    /// returns once the previous write is done, with that write's buffer
    /// (empty the first time) for the caller to fill next. Errors of a
    /// background write show at the next call or at commit.
    async fn write(&mut self, buf: Vec<u8>) -> (Vec<u8>, Result<(), StorageError>) {
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

    /// Puts the received file in place and returns its final size.
    async fn commit(mut self: Box<Self>) -> Result<(u64, i64), StorageError> {
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
                Ok((size, delta))
            }
            Err(e) => Err(e),
        }
    }

    fn direct_file(&mut self) -> Option<io::Result<File>> {
        if self.pending.is_some() {
            return None;
        }
        self.file.as_ref().map(File::try_clone)
    }

    fn wrote_directly(&mut self, n: u64) {
        self.written += n;
    }

    /// Undoes the upload: the target is as it was before.
    async fn abort(mut self: Box<Self>) {
        let _ = self.settle().await;
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
}

impl Drop for FileUpload {
    fn drop(&mut self) {
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
        assert_eq!(up.replaced_bytes(), 3);
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
