//! [`FileUpload`]: the local filesystem's upload sink.
//!
//! Every upload holds its directory open ([`DirHandle`]) and acts on its
//! files only through that handle and the file descriptors it opened, so
//! commit, abort and undo never touch whatever a path names later: when
//! another session renames the directory meanwhile, the upload lands in
//! the renamed directory, and nothing it leaves behind escapes the count.
//!
//! - A new or replaced file (STOR, STOU, a REST+STOR in the middle) is
//!   written to a hidden temporary file in the target's directory and
//!   renamed over the target on commit, under the target's lock (see
//!   [`with_name_settled`]), so an upload never replaces a file another
//!   session is appending to, and what it replaces is measured exactly.
//!   STOU commits without replacing anything and takes the next free name
//!   (`name.1`, `name.2`, …) if another session took its name meanwhile.
//! - An append (APPE, or a REST+STOR that resumes exactly at the end of
//!   the file) writes in place under an exclusive lock on the file
//!   ([`FileLock`]), which DELE, RNFR/RNTO and replacing uploads wait for;
//!   if it does not finish it cuts the file back to its old length through
//!   its own descriptor, or removes the file it created, if that name
//!   still is that file.
//!
//! With durability on (the default), a commit `fsync`s the file before
//! publishing it and the directory after. Writes run on a blocking thread
//! while the next buffer is received (double buffering).
//! [`sweep_partial_uploads`] removes what a crash left behind.

use super::handle::{with_name_settled, DirHandle, FileLock, NameStat, Settled, BUSY_WAIT};
use super::upload::{CommitGate, Committed, Upload, UploadMode, UploadSink};
use super::{blocking, Jail, StorageError, PART_PREFIX};
use crate::policy::Permission;
use ftp_proto::VirtualPath;
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use wire::splice::{start_writeback, WRITE_BEHIND};

/// A write on a blocking thread: it gives back the buffer, the file and
/// the result.
type PendingWrite = tokio::task::JoinHandle<(Vec<u8>, File, io::Result<()>)>;

/// STOU tries this many names after the first before it gives up.
const UNIQUE_TRIES: u32 = 1000;

/// How a temporary file becomes the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Publish {
    /// Renamed over whatever holds the name then (measured).
    Replace,
    /// Never replacing: the name, or the next free `name.N` (STOU).
    Unique,
    /// Never replacing: the name, or the commit fails.
    New,
}

#[derive(Debug)]
enum Kind {
    /// Written to the temporary file `temp`, published on commit.
    Temp { temp: Vec<u8>, publish: Publish },
    /// Written into the target under `lock`; on abort cut back to
    /// `restore_len`, or removed if the upload created it.
    InPlace {
        lock: FileLock,
        restore_len: u64,
        created: bool,
    },
}

/// A file being received into the local filesystem.
#[derive(Debug)]
pub struct FileUpload {
    dir: Arc<DirHandle>,
    /// The target's name in `dir`.
    name: Vec<u8>,
    file: Option<File>,
    kind: Kind,
    /// Size of the file the upload replaces (0 if none) when it began:
    /// what a quota may let it reuse.
    old_size: u64,
    /// Bytes of the final file that were already there before the upload.
    kept: u64,
    written: u64,
    durable: bool,
    finished: bool,
    /// The write running on a blocking thread, if any: receiving the next
    /// buffer overlaps with writing this one.
    pending: Option<PendingWrite>,
    in_flight: u64,
    /// Where the written bytes not yet handed to the disk begin (durable
    /// uploads write behind).
    unsynced: u64,
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
            let (dir, name) = jail.locate(&vpath)?;
            FileUpload::begin(Arc::new(dir), name, mode, jail.durable())
        })
        .await
        .map(|sink| Upload::new(Box::new(sink)))
    }
}

impl FileUpload {
    fn begin(
        dir: Arc<DirHandle>,
        name: Vec<u8>,
        mode: UploadMode,
        durable: bool,
    ) -> Result<FileUpload, StorageError> {
        let existing = match dir.stat_at(&name)? {
            Some(st) if st.is_file => Some(st.size),
            Some(st) if st.is_dir => return Err(StorageError::NotAFile),
            // A link is replaced by the new file, never written through.
            Some(_)
                if matches!(
                    mode,
                    UploadMode::Replace | UploadMode::Unique | UploadMode::New
                ) =>
            {
                None
            }
            Some(_) => return Err(StorageError::NotAFile),
            None => None,
        };
        let old_size = existing.unwrap_or(0);
        let in_place = match mode {
            UploadMode::Append => true,
            UploadMode::Resume(offset) if offset > old_size => {
                return Err(StorageError::InvalidRestart)
            }
            UploadMode::Resume(offset) => offset == old_size && existing.is_some(),
            UploadMode::Replace | UploadMode::Unique | UploadMode::New => false,
        };
        let mut upload = FileUpload {
            dir,
            name,
            file: None,
            kind: Kind::Temp {
                temp: Vec::new(),
                publish: match mode {
                    UploadMode::Unique => Publish::Unique,
                    UploadMode::New => Publish::New,
                    _ => Publish::Replace,
                },
            },
            old_size,
            kept: 0,
            written: 0,
            durable,
            finished: false,
            pending: None,
            in_flight: 0,
            unsynced: 0,
        };
        if in_place {
            let expect = match mode {
                UploadMode::Resume(offset) => Some(offset),
                _ => None,
            };
            let (lock, restore_len, created) = open_in_place(&upload.dir, &upload.name, expect)?;
            let mut file = lock.file().try_clone()?;
            file.seek(SeekFrom::End(0))?;
            upload.file = Some(file);
            upload.old_size = restore_len;
            upload.kept = restore_len;
            upload.kind = Kind::InPlace {
                lock,
                restore_len,
                created,
            };
            return Ok(upload);
        }
        let (temp, mut file) = create_temp(&upload.dir)?;
        if let Kind::Temp { temp: slot, .. } = &mut upload.kind {
            *slot = temp;
        }
        // From here on, dropping `upload` removes the temporary file.
        if let UploadMode::Resume(offset) = mode {
            if offset > 0 {
                upload.kept = copy_prefix(&upload.dir, &upload.name, offset, &mut file)?;
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

    /// Undoes the upload through its handles: the target is as it was.
    fn undo(&mut self) {
        self.finished = true;
        self.file.take();
        let result = match &self.kind {
            Kind::Temp { temp, .. } if temp.is_empty() => Ok(()),
            Kind::Temp { temp, .. } => self.dir.unlink(temp),
            Kind::InPlace {
                lock,
                created: true,
                ..
            } => remove_if_same(&self.dir, &self.name, lock.file()),
            Kind::InPlace {
                lock, restore_len, ..
            } => lock.file().set_len(*restore_len),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not undo an unfinished upload");
        }
    }

    /// Commits on a blocking thread; see [`UploadSink::commit`].
    fn commit_blocking(&mut self, gate: &mut CommitGate) -> Result<Committed, StorageError> {
        // What the file really holds, not what the counters say.
        let mut size = self.final_size();
        if let Some(file) = self.file.take() {
            if self.durable {
                file.sync_all()?;
            }
            size = NameStat::of_file(&file)?.size;
        }
        let committed = match &self.kind {
            Kind::InPlace {
                lock, restore_len, ..
            } => {
                // The file is locked: it holds exactly what it held when
                // the upload began, plus what the upload wrote.
                let now = NameStat::of_file(lock.file())?.size;
                let delta = now as i64 - *restore_len as i64;
                gate.admit(delta)?;
                Committed {
                    size: now,
                    delta,
                    name: self.name.clone(),
                }
            }
            Kind::Temp {
                temp,
                publish: Publish::Replace,
            } => {
                let (dir, temp, name) = (&self.dir, temp.clone(), self.name.clone());
                let delta = with_name_settled(dir, &name, |victim| {
                    // What the rename replaces is measured now, under its
                    // lock, not trusted from when the upload began.
                    let replaced = victim.filter(|v| v.is_file).map_or(0, |v| v.size);
                    let delta = size as i64 - replaced as i64;
                    gate.admit(delta)?;
                    // A name measured free is published only if still free:
                    // a file another session published there meanwhile (a
                    // STOU, an APPE that created it) is measured, not
                    // replaced uncounted.
                    match dir.rename_measured(&temp, dir, &name, victim.is_some()) {
                        Ok(()) => Ok(Settled::Done(delta)),
                        Err(e) => {
                            gate.revert();
                            if e.kind() == io::ErrorKind::AlreadyExists {
                                Ok(Settled::Taken)
                            } else {
                                Err(e.into())
                            }
                        }
                    }
                })?;
                Committed { size, delta, name }
            }
            Kind::Temp { temp, publish } => {
                gate.admit(size as i64)?;
                let tries = match publish {
                    Publish::Unique => UNIQUE_TRIES,
                    _ => 0,
                };
                let name = match publish_unique(&self.dir, temp, &self.name, tries) {
                    Ok(name) => name,
                    Err(e) => {
                        gate.revert();
                        return Err(match e {
                            // Another session published the name since the
                            // upload began: as if this one had come later.
                            StorageError::AlreadyExists if *publish == Publish::New => {
                                StorageError::NotPermitted(Permission::Overwrite)
                            }
                            e => e,
                        });
                    }
                };
                Committed {
                    size,
                    delta: size as i64,
                    name,
                }
            }
        };
        self.finished = true;
        // Published and counted: a directory that cannot be synced is
        // logged, not reported as a failed upload.
        if self.durable {
            if let Err(e) = self.dir.sync() {
                tracing::warn!(error = %e, "cannot sync the directory of a committed upload");
            }
        }
        Ok(committed)
    }
}

/// Opens `name` for an in-place write and locks it: the existing file, or
/// a new one if there is none. `expect` is the size a resume needs the
/// file to have under the lock. Returns the lock, the size to restore on
/// abort and whether the file was created.
fn open_in_place(
    dir: &DirHandle,
    name: &[u8],
    expect: Option<u64>,
) -> Result<(FileLock, u64, bool), StorageError> {
    for _ in 0..16 {
        let (file, created) = match dir.open_write(name) {
            Ok(file) => (file, false),
            Err(e) if e.kind() == io::ErrorKind::NotFound && expect.is_none() => {
                match dir.create_new(name) {
                    Ok(file) => (file, true),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(StorageError::NotAFile),
            Err(e) => return Err(e.into()),
        };
        let held = NameStat::of_file(&file)?;
        if !held.is_file {
            return Err(StorageError::NotAFile);
        }
        let lock = FileLock::acquire(file, BUSY_WAIT)?;
        // The name may have been removed or replaced while we waited.
        let settled = {
            let _name = super::namespace::lock(&[(dir, name)])?;
            dir.stat_at(name)?.is_some_and(|now| now.same_file(&held))
        };
        if !settled {
            // Moved or removed while we waited. Even a file this upload
            // created is left as it is: this upload wrote nothing into it,
            // and another session may have appended to it and renamed it
            // before we got the lock (its bytes are acknowledged).
            continue;
        }
        let size = NameStat::of_file(lock.file())?.size;
        // Another session may have opened the file this upload created and
        // locked it first: once it holds bytes (an acknowledged append of
        // the other), it is not ours to remove on abort any more.
        let created = created && size == 0;
        if let Some(offset) = expect {
            if offset != size {
                // Another writer changed the file meanwhile.
                return Err(StorageError::Busy);
            }
        }
        return Ok((lock, size, created));
    }
    Err(StorageError::Busy)
}

/// Copies the first `offset` bytes of `name` into `into`, under the file's
/// lock: never bytes of an append still in progress, which may yet be
/// undone. Waits for such an append like any writer (450 after the wait);
/// if the name no longer is the file it waited for (the append created it
/// and was undone, or another session replaced it meanwhile), it starts
/// over with what the name holds now.
fn copy_prefix(
    dir: &DirHandle,
    name: &[u8],
    offset: u64,
    into: &mut File,
) -> Result<u64, StorageError> {
    for _ in 0..16 {
        let file = dir.open_read(name)?;
        let held = NameStat::of_file(&file)?;
        let lock = FileLock::acquire(file, BUSY_WAIT)?;
        let settled = {
            let _name = super::namespace::lock(&[(dir, name)])?;
            dir.stat_at(name)?.is_some_and(|now| now.same_file(&held))
        };
        if !settled {
            continue;
        }
        if offset > NameStat::of_file(lock.file())?.size {
            return Err(StorageError::InvalidRestart);
        }
        let mut source = lock.file();
        return Ok(io::copy(&mut io::Read::take(&mut source, offset), into)?);
    }
    Err(StorageError::Busy)
}

/// Removes `name` if it still is `file` (an append that created it and did
/// not finish).
fn remove_if_same(dir: &DirHandle, name: &[u8], file: &File) -> io::Result<()> {
    let held = NameStat::of_file(file)?;
    let _name = super::namespace::lock(&[(dir, name)])?;
    match dir.stat_at(name)? {
        // Emptied first: a session that opened it and waits for its lock
        // must not read the undone bytes through its descriptor.
        Some(now) if now.same_file(&held) => {
            file.set_len(0)?;
            dir.unlink(name)
        }
        // Moved away with its directory or renamed: emptying it keeps the
        // count right wherever it went.
        _ => file.set_len(0),
    }
}

/// Publishes `temp` as `name`, or as the first of `name.1` … `name.TRIES`
/// that does not exist, without ever replacing a file. Returns the name.
fn publish_unique(
    dir: &DirHandle,
    temp: &[u8],
    name: &[u8],
    tries: u32,
) -> Result<Vec<u8>, StorageError> {
    for n in 0..=tries {
        let mut candidate = name.to_vec();
        if n > 0 {
            candidate.extend_from_slice(format!(".{n}").as_bytes());
        }
        match dir.rename_no_replace(temp, &candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StorageError::AlreadyExists)
}

#[async_trait::async_trait]
impl UploadSink for FileUpload {
    fn replaced_bytes(&self) -> u64 {
        match self.kind {
            Kind::Temp {
                publish: Publish::Replace,
                ..
            } => self.old_size - self.kept,
            _ => 0,
        }
    }

    fn kept_bytes(&self) -> u64 {
        self.kept
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
        // A durable upload starts the disk writes every few MiB, so the
        // commit's fsync finds little left to write.
        let end = self.final_size() + self.in_flight;
        let behind = (self.durable && end - self.unsynced >= WRITE_BEHIND)
            .then(|| std::mem::replace(&mut self.unsynced, end));
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let result = file.write_all(&buf);
            if let (Ok(()), Some(from)) = (&result, behind) {
                start_writeback(&file, from, end - from);
            }
            (buf, file, result)
        }));
        (spare, Ok(()))
    }

    async fn commit(
        mut self: Box<Self>,
        mut gate: CommitGate,
    ) -> (CommitGate, Result<Committed, StorageError>) {
        if let Err(e) = self.settle().await {
            return (gate, Err(e));
        }
        let done = tokio::task::spawn_blocking(move || {
            let result = self.commit_blocking(&mut gate);
            // A failed commit is undone here, on the same thread.
            if result.is_err() {
                self.undo();
            }
            (gate, result)
        })
        .await;
        match done {
            Ok(done) => done,
            Err(e) => (
                CommitGate::unmetered(),
                Err(StorageError::Io(io::Error::other(e))),
            ),
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

    fn durable(&self) -> bool {
        self.durable
    }

    /// Undoes the upload: the target is as it was before.
    async fn abort(mut self: Box<Self>) {
        let _ = self.settle().await;
        let _ = blocking(move || {
            self.undo();
            Ok(())
        })
        .await;
    }
}

impl Drop for FileUpload {
    /// An upload dropped unfinished (its session was cancelled) is undone.
    /// A write into a file in place still running on its blocking thread
    /// would land after an undo done now, into a file whose lock is gone:
    /// the undo then waits for it in the background, holding the lock.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // A temporary file is unlinked at once: a late write lands in no
        // name. Only a file written in place must wait for it.
        let in_place = matches!(self.kind, Kind::InPlace { .. });
        let pending = self.pending.take().filter(|_| in_place);
        let runtime = tokio::runtime::Handle::try_current();
        let (Some(pending), Ok(runtime)) = (pending, runtime) else {
            self.undo();
            return;
        };
        let rest = FileUpload {
            dir: self.dir.clone(),
            name: std::mem::take(&mut self.name),
            file: self.file.take(),
            kind: std::mem::replace(
                &mut self.kind,
                Kind::Temp {
                    temp: Vec::new(),
                    publish: Publish::Replace,
                },
            ),
            old_size: self.old_size,
            kept: self.kept,
            written: self.written,
            durable: self.durable,
            finished: false,
            pending: Some(pending),
            in_flight: self.in_flight,
            unsynced: self.unsynced,
        };
        self.finished = true;
        let mut orphan = Orphan(rest);
        runtime.spawn(async move {
            let _ = orphan.0.settle().await;
            let _ = blocking(move || {
                orphan.0.undo();
                Ok(())
            })
            .await;
        });
    }
}

/// An unfinished upload handed to a task that undoes it after its last
/// write; if that task never runs (the runtime is going away), the upload
/// is undone where it is dropped.
struct Orphan(FileUpload);

impl Drop for Orphan {
    fn drop(&mut self) {
        if !self.0.finished {
            self.0.pending.take();
            self.0.undo();
        }
    }
}

/// Creates a hidden temporary file in `dir`.
fn create_temp(dir: &DirHandle) -> Result<(Vec<u8>, File), StorageError> {
    for _ in 0..8 {
        let mut name = PART_PREFIX.to_vec();
        name.extend_from_slice(format!("{:016x}", rand::random::<u64>()).as_bytes());
        match dir.create_new(&name) {
            Ok(file) => return Ok((name, file)),
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
    use crate::storage::Overwrite;
    use std::os::unix::ffi::OsStrExt;

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
                    .as_bytes()
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
        assert_eq!(up.commit().await.unwrap().size, 3);
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
        assert_eq!(up.commit().await.unwrap().size, 8);
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
        assert_eq!(up.commit().await.unwrap().size, 5);
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

    async fn write(up: &mut Upload, bytes: &[u8]) {
        let (_, r) = up.write(bytes.to_vec()).await;
        r.unwrap();
    }

    #[tokio::test]
    async fn a_second_writer_of_one_file_is_refused_while_the_first_appends() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("log"), b"0").unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        let mut a = jail
            .begin_upload(&vp(b"log"), UploadMode::Append)
            .await
            .unwrap();
        write(&mut a, b"aa").await;
        let second = jail.begin_upload(&vp(b"log"), UploadMode::Append).await;
        assert!(matches!(second, Err(StorageError::Busy)));
        assert!(matches!(
            jail.remove_file(&vp(b"log")).await,
            Err(StorageError::Busy)
        ));
        assert!(matches!(
            jail.rename(&vp(b"log"), &vp(b"moved"), Overwrite::Allowed)
                .await,
            Err(StorageError::Busy)
        ));
        let done = a.commit().await.unwrap();
        assert_eq!((done.size, done.delta), (3, 2));
        let mut b = jail
            .begin_upload(&vp(b"log"), UploadMode::Append)
            .await
            .unwrap();
        write(&mut b, b"bb").await;
        b.commit().await.unwrap();
        assert_eq!(fs::read(dir.path().join("log")).unwrap(), b"0aabb");
        assert_eq!(jail.remove_file(&vp(b"log")).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn an_aborted_append_never_undoes_another_sessions_file() {
        let dir = tempfile::tempdir().unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        // A appends to a new file and holds; B's STOR of the same name
        // cannot replace it meanwhile.
        let mut a = jail
            .begin_upload(&vp(b"new"), UploadMode::Append)
            .await
            .unwrap();
        write(&mut a, b"partial").await;
        let mut b = jail
            .begin_upload(&vp(b"new"), UploadMode::Replace)
            .await
            .unwrap();
        write(&mut b, b"B's file").await;
        assert!(matches!(b.commit().await, Err(StorageError::Busy)));
        a.abort().await;
        assert!(!dir.path().join("new").exists());
        assert_eq!(parts(dir.path()), 0);
        // Once A is gone, B's retry lands and stays.
        let mut b = jail
            .begin_upload(&vp(b"new"), UploadMode::Replace)
            .await
            .unwrap();
        write(&mut b, b"B's file").await;
        b.commit().await.unwrap();
        let mut a = jail
            .begin_upload(&vp(b"new"), UploadMode::Append)
            .await
            .unwrap();
        write(&mut a, b"more").await;
        a.abort().await;
        assert_eq!(fs::read(dir.path().join("new")).unwrap(), b"B's file");
    }

    #[tokio::test]
    async fn an_upload_follows_its_directory_through_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        let mut up = jail
            .begin_upload(&vp(b"d/up.bin"), UploadMode::Replace)
            .await
            .unwrap();
        write(&mut up, b"payload").await;
        jail.rename(&vp(b"d"), &vp(b"dx"), Overwrite::Allowed)
            .await
            .unwrap();
        let done = up.commit().await.unwrap();
        assert_eq!(done.delta, 7);
        assert_eq!(fs::read(dir.path().join("dx/up.bin")).unwrap(), b"payload");
        assert_eq!(parts(&dir.path().join("dx")), 0);

        // Aborted after the rename: nothing is left in the new place.
        let mut up = jail
            .begin_upload(&vp(b"dx/other"), UploadMode::Replace)
            .await
            .unwrap();
        write(&mut up, b"x").await;
        jail.rename(&vp(b"dx"), &vp(b"dy"), Overwrite::Allowed)
            .await
            .unwrap();
        up.abort().await;
        assert_eq!(parts(&dir.path().join("dy")), 0);
        assert!(!dir.path().join("dy/other").exists());
    }

    #[tokio::test]
    async fn unique_uploads_never_replace_and_take_the_next_name() {
        let dir = tempfile::tempdir().unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        let mut up = jail
            .begin_upload(&vp(b"u"), UploadMode::Unique)
            .await
            .unwrap();
        write(&mut up, b"mine").await;
        fs::write(dir.path().join("u"), b"theirs").unwrap();
        let done = up.commit().await.unwrap();
        assert_eq!(done.name, b"u.1");
        assert_eq!(fs::read(dir.path().join("u")).unwrap(), b"theirs");
        assert_eq!(fs::read(dir.path().join("u.1")).unwrap(), b"mine");
    }

    #[tokio::test]
    async fn a_replace_counts_what_it_really_replaces() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), vec![0; 100]).unwrap();
        let jail = Jail::new(dir.path(), true).unwrap().with_durability(false);
        let mut up = jail
            .begin_upload(&vp(b"f"), UploadMode::Replace)
            .await
            .unwrap();
        assert_eq!(up.replaced_bytes(), 100);
        write(&mut up, &[1; 10]).await;
        // Another session deletes the old file meanwhile.
        assert_eq!(jail.remove_file(&vp(b"f")).await.unwrap(), 100);
        assert_eq!(up.commit().await.unwrap().delta, 10);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_append_is_undone_after_its_last_write_lands() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("e"), b"").unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        for round in 0..20u8 {
            let mut appending = jail
                .begin_upload(&vp(b"e"), UploadMode::Append)
                .await
                .unwrap();
            // Two buffers: the second is still being written on its
            // blocking thread when the upload is dropped (its session
            // was cancelled).
            write(&mut appending, &[round; 3000]).await;
            write(&mut appending, &vec![round; 2_000_000]).await;
            drop(appending);
            // The next writer waits for the undo, then finds the file as
            // it was: empty.
            let next = jail
                .begin_upload(&vp(b"e"), UploadMode::Append)
                .await
                .unwrap();
            assert_eq!(
                fs::metadata(dir.path().join("e")).unwrap().len(),
                0,
                "round {round}"
            );
            next.abort().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_resume_waiting_for_an_append_that_is_undone_never_copies_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        // An APPE that creates `g` and holds 5000 bytes it will not keep.
        let mut appending = jail
            .begin_upload(&vp(b"g"), UploadMode::Append)
            .await
            .unwrap();
        write(&mut appending, &[2; 5000]).await;
        // Another session resumes `g` at 500 (it saw 5000 bytes): it opens
        // the file and waits for its lock.
        let waiting = {
            let jail = jail.clone();
            tokio::spawn(async move { jail.begin_upload(&vp(b"g"), UploadMode::Resume(500)).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        appending.abort().await;
        let resume = waiting.await.unwrap();
        assert!(matches!(resume, Err(StorageError::NotFound)), "{resume:?}");
        assert!(!dir.path().join("g").exists());
        assert_eq!(parts(dir.path()), 0);
    }

    #[tokio::test]
    async fn a_resume_never_copies_bytes_of_an_unfinished_append() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), vec![1; 1000]).unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        let mut appending = jail
            .begin_upload(&vp(b"f"), UploadMode::Append)
            .await
            .unwrap();
        write(&mut appending, &[2; 5000]).await;
        let resume = jail.begin_upload(&vp(b"f"), UploadMode::Resume(500)).await;
        assert!(matches!(resume, Err(StorageError::Busy)));
        appending.abort().await;
        let mut resumed = jail
            .begin_upload(&vp(b"f"), UploadMode::Resume(500))
            .await
            .unwrap();
        write(&mut resumed, &[3; 10]).await;
        resumed.commit().await.unwrap();
        let mut want = vec![1; 500];
        want.extend_from_slice(&[3; 10]);
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), want);
        assert_eq!(parts(dir.path()), 0);
    }
}
