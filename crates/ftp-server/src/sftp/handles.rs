//! The open handles of one SFTP session: files being read, files being
//! written, directories being listed; at most [`MAX_HANDLES`] at once.
//!
//! # How SFTP writes map onto uploads
//!
//! SFTP lets a client write any offset in any order; the file service
//! takes an upload as a stream that becomes visible, whole, at its commit.
//! A write handle is therefore one upload of the file service, metered
//! against the quota as its bytes arrive exactly as an FTP upload is, and
//! committed at CLOSE (the SFTP acknowledgement of a file):
//!
//! - opened with `TRUNC`, or on a new name: a replacing upload (STOR);
//!   writes must come in order from offset 0, as every common client
//!   (OpenSSH `sftp`/`scp`, paramiko, lftp, curl) sends them;
//! - opened with `APPEND`: an append (APPE), offsets ignored, as POSIX
//!   `O_APPEND`;
//! - an existing file opened without either: the first write decides:
//!   at the file's end it is a resume (OpenSSH `reput`), an append in
//!   place; anywhere else is refused, because a write into the middle of
//!   a file cannot be made atomic and metered at once.
//!
//! On a backend that cannot extend a file (S3), the append and the resume
//! are refused by the file service (`OP_UNSUPPORTED`, as APPE over FTP)
//! and the file stays as it was. A modification time set on a handle
//! (FSETSTAT) is checked when it is asked for and applied after the
//! commit, so a storage that cannot set times refuses the FSETSTAT, never
//! the CLOSE of a file already in place.
//!
//! So usage can never pass the quota, whatever the handles, sessions and
//! offsets: every byte is taken from the account's counter before it is
//! stored, by the same meter as FTP's; a handle that is not closed (the
//! client vanished) is undone and gives its bytes back.

use super::copy::{copy, Copied, Range};
use crate::admission::now_unix;
use crate::bandwidth::AccountBandwidth;
use crate::live::Showing;
use crate::service::{FileService, TransferReport};
use crate::storage::file_read;
use crate::storage::listing::Record;
use crate::storage::{Download, ListChunks, ListFormat, Meta, StorageError, Upload, UploadMode};
use ftp_proto::VirtualPath;
use sftp_proto::{NameEntry, OpenFlags};
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Open handles one session may hold (advertised in `limits@openssh.com`).
pub const MAX_HANDLES: usize = 256;

/// Received bytes are handed to the upload in buffers of this size.
const WRITE_BUFFER: usize = 256 * 1024;

/// A small read continuing the one before it reads this much of a local
/// file (paramiko, for
/// one, asks 32 KiB at a time).
const READ_AHEAD: usize = 256 * 1024;

/// Entries in one READDIR reply.
const ENTRIES_PER_NAME: usize = 100;

/// Why a request on a handle failed: a storage error, or a misuse of the
/// handle explained to the client.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("no such handle (closed, or never opened)")]
    Unknown,
    #[error("too many open handles (at most {MAX_HANDLES}); close some first")]
    TooMany,
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Unsupported(&'static str),
}

/// The handles of one session.
#[derive(Debug, Default)]
pub struct Handles {
    open: HashMap<u32, Handle>,
    next: u32,
}

#[derive(Debug)]
pub enum Handle {
    Read(ReadHandle),
    Write(WriteHandle),
    Dir(DirHandle),
}

impl Handles {
    /// Stores `handle`, returning its name for the client.
    pub fn insert(&mut self, handle: Handle) -> Result<Vec<u8>, HandleError> {
        if self.open.len() >= MAX_HANDLES {
            return Err(HandleError::TooMany);
        }
        while self.open.contains_key(&self.next) {
            self.next = self.next.wrapping_add(1);
        }
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        self.open.insert(id, handle);
        Ok(id.to_string().into_bytes())
    }

    fn id(name: &[u8]) -> Result<u32, HandleError> {
        std::str::from_utf8(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(HandleError::Unknown)
    }

    pub fn get(&mut self, name: &[u8]) -> Result<&mut Handle, HandleError> {
        self.open
            .get_mut(&Self::id(name)?)
            .ok_or(HandleError::Unknown)
    }

    pub fn remove(&mut self, name: &[u8]) -> Result<Handle, HandleError> {
        self.open
            .remove(&Self::id(name)?)
            .ok_or(HandleError::Unknown)
    }

    /// `copy-data` from the handle `from` (opened for reading) into the
    /// handle `to` (opened for writing); see [`copy`].
    pub async fn copy_data(
        &mut self,
        files: &FileService,
        from: &[u8],
        to: &[u8],
        range: Range,
    ) -> Result<Copied, HandleError> {
        let (rid, wid) = (Self::id(from)?, Self::id(to)?);
        if rid == wid {
            return Err(HandleError::Refused(
                "copy-data needs two handles: one opened for reading, one for writing".into(),
            ));
        }
        // The reader leaves the table while the writer is borrowed from
        // it, and always goes back.
        let mut reader = match self.open.remove(&rid) {
            Some(Handle::Read(r)) => r,
            Some(other) => {
                self.open.insert(rid, other);
                return Err(HandleError::Refused(
                    "copy-data reads from a handle opened for reading".into(),
                ));
            }
            None => return Err(HandleError::Unknown),
        };
        let result = match self.open.get_mut(&wid) {
            Some(Handle::Write(writer)) => copy(files, &mut reader, writer, range).await,
            Some(_) => Err(HandleError::Refused(
                "copy-data writes into a handle opened for writing".into(),
            )),
            None => Err(HandleError::Unknown),
        };
        self.open.insert(rid, Handle::Read(reader));
        result
    }

    /// Everything still open when the session ends: uploads are undone.
    pub async fn abandon(&mut self, files: &FileService) {
        for (_, handle) in self.open.drain() {
            match handle {
                Handle::Write(w) => w.abandon(files).await,
                Handle::Read(r) => r.finish(files, Some(&Abandoned)),
                Handle::Dir(_) => {}
            }
        }
    }
}

/// The error a transfer cut off by the end of its session is logged with.
#[derive(Debug, thiserror::Error)]
#[error("session ended before the handle was closed")]
struct Abandoned;

/// A file being read.
pub struct ReadHandle {
    path: VirtualPath,
    /// The file's size when it was opened.
    size: u64,
    source: ReadSource,
    /// The account's download bucket, if limited.
    limit: Option<Arc<AccountBandwidth>>,
    bytes: u64,
    started: Instant,
    /// How the admin console sees this transfer.
    shown: Option<Showing>,
}

enum ReadSource {
    /// A local file: read at any offset, sequential reads ahead.
    File(Arc<std::fs::File>, Ahead),
    /// A stream (object storage): read in order, reopened at another
    /// offset when the client jumps.
    Stream {
        reader: Pin<Box<dyn AsyncRead + Send>>,
        pos: u64,
    },
}

/// What a local file's last read-ahead brought beyond the request: the
/// requests after it (a client pipelines them in order) are answered from
/// it, one read serving several of them.
#[derive(Default)]
struct Ahead {
    /// The bytes read; `buf[0]` is at file offset `at`.
    buf: Vec<u8>,
    at: u64,
    /// The read ended before it was full: the file ended there.
    short: bool,
    /// Where the last request answered ended.
    next: u64,
}

impl Ahead {
    /// Appends to `out` the answer to a read of `len` bytes at `offset`
    /// if what was read holds all of it, or all the file had there, and
    /// returns its length.
    fn serve(&self, offset: u64, len: usize, out: &mut Vec<u8>) -> Option<usize> {
        let from = usize::try_from(offset.checked_sub(self.at)?).ok()?;
        if from >= self.buf.len() {
            return None;
        }
        let to = from.saturating_add(len);
        if to > self.buf.len() && !self.short {
            return None;
        }
        let answer = self.buf.get(from..to.min(self.buf.len()))?;
        out.extend_from_slice(answer);
        Some(answer.len())
    }
}

impl std::fmt::Debug for ReadHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadHandle")
            .field("path", &self.path)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl ReadHandle {
    pub async fn open(
        files: &FileService,
        path: VirtualPath,
        limit: Option<Arc<AccountBandwidth>>,
    ) -> Result<Self, StorageError> {
        let (download, meta) = files.open_read(&path, 0).await?;
        if meta.is_dir() {
            return Err(StorageError::NotAFile);
        }
        Ok(ReadHandle {
            path,
            size: meta.size,
            limit,
            source: source(download),
            bytes: 0,
            started: Instant::now(),
            shown: None,
        })
    }

    pub fn path(&self) -> &VirtualPath {
        &self.path
    }

    pub fn size_at_open(&self) -> u64 {
        self.size
    }

    /// Shows this download among the session's live transfers.
    pub fn show(&mut self, shown: Showing) {
        self.shown = Some(shown);
    }

    /// Appends up to `len` bytes at `offset` to `out` (a reply being
    /// built) and returns how many: 0 at the end of the file. On an error
    /// `out` may hold part of the bytes.
    pub async fn read_into(
        &mut self,
        files: &FileService,
        offset: u64,
        len: u32,
        out: &mut Vec<u8>,
    ) -> Result<usize, StorageError> {
        let len = len.min(sftp_proto::MAX_DATA) as usize;
        let got = match &mut self.source {
            ReadSource::File(file, ahead) => {
                let got = match ahead.serve(offset, len, out) {
                    Some(got) => got,
                    // A small read continuing the previous one reads
                    // ahead; a large one is read as asked, straight into
                    // the reply.
                    None if offset == ahead.next && len < READ_AHEAD / 4 => {
                        let mut buf = std::mem::take(&mut ahead.buf);
                        buf.clear();
                        let got = file_read::read(file, offset, READ_AHEAD, &mut buf).await?;
                        *ahead = Ahead {
                            buf,
                            at: offset,
                            short: got < READ_AHEAD,
                            next: offset,
                        };
                        ahead.serve(offset, len, out).unwrap_or(0)
                    }
                    None => file_read::read(file, offset, len, out).await?,
                };
                ahead.next = offset + got as u64;
                got
            }
            ReadSource::Stream { reader, pos } => {
                if *pos != offset {
                    let (download, _) = files.open_read(&self.path, offset).await?;
                    *reader = match source(download) {
                        ReadSource::Stream { reader, .. } => reader,
                        // A backend answers one way for one file.
                        ReadSource::File(..) => return Err(StorageError::NotAFile),
                    };
                    *pos = offset;
                }
                let got = (&mut *reader).take(len as u64).read_to_end(out).await?;
                *pos += got as u64;
                got
            }
        };
        self.took(got).await;
        Ok(got)
    }

    /// Counts `n` bytes as sent, at the account's rate.
    async fn took(&mut self, n: usize) {
        self.bytes += n as u64;
        if let Some(shown) = &self.shown {
            shown.add(n as u64);
        }
        if let Some(bucket) = self.limit.as_ref().and_then(|l| l.down.as_ref()) {
            bucket.take(n as u64).await;
        }
    }

    /// Logs the download.
    pub fn finish(self, files: &FileService, failure: Option<&dyn std::error::Error>) {
        files.record_transfer(&TransferReport {
            path: &self.path,
            bytes: self.bytes,
            elapsed: self.started.elapsed(),
            ascii: false,
            incoming: false,
            failure,
        });
    }
}

fn source(download: Download) -> ReadSource {
    match download {
        Download::File { file, .. } => ReadSource::File(Arc::new(file), Ahead::default()),
        Download::Stream(reader) => ReadSource::Stream { reader, pos: 0 },
    }
}

/// A file being written; see the module documentation.
#[derive(Debug)]
pub struct WriteHandle {
    path: VirtualPath,
    flags: OpenFlags,
    /// The file's size when opened, if it existed.
    existed: Option<u64>,
    upload: Option<Upload>,
    /// The account's upload bucket, if limited.
    limit: Option<Arc<AccountBandwidth>>,
    /// The offset the next write must start at.
    pos: u64,
    buf: Vec<u8>,
    spare: Vec<u8>,
    bytes: u64,
    /// Set by SETSTAT on the handle: applied once the file is in place.
    mtime: Option<i64>,
    /// Why an earlier write failed: the upload was undone, and every
    /// later write and the close fail with it.
    failed: Option<String>,
    started: Instant,
    /// How the admin console sees this transfer.
    shown: Option<Showing>,
}

impl WriteHandle {
    /// Opens `path` for writing as `flags` say. A replace or an append
    /// starts its upload at once, so a refusal (permission, quota) comes
    /// with the OPEN.
    pub async fn open(
        files: &FileService,
        path: VirtualPath,
        flags: OpenFlags,
        limit: Option<Arc<AccountBandwidth>>,
    ) -> Result<Self, HandleError> {
        let existed = match files.stat(&path).await {
            Ok(meta) if meta.is_dir() => return Err(StorageError::NotAFile.into()),
            Ok(meta) => Some(meta.size),
            Err(StorageError::NotFound) if flags.has(OpenFlags::CREAT) => None,
            Err(e) => return Err(e.into()),
        };
        if existed.is_some() && flags.has(OpenFlags::CREAT) && flags.has(OpenFlags::EXCL) {
            return Err(StorageError::AlreadyExists.into());
        }
        let mut handle = WriteHandle {
            path,
            flags,
            existed,
            upload: None,
            limit,
            pos: 0,
            buf: Vec::new(),
            spare: Vec::new(),
            bytes: 0,
            mtime: None,
            failed: None,
            started: Instant::now(),
            shown: None,
        };
        if flags.has(OpenFlags::APPEND) {
            handle.begin(files, UploadMode::Append).await?;
            handle.pos = existed.unwrap_or(0);
        } else if flags.has(OpenFlags::TRUNC) || existed.is_none() {
            handle.begin(files, UploadMode::Replace).await?;
        }
        Ok(handle)
    }

    /// Shows this upload among the session's live transfers.
    pub fn show(&mut self, shown: Showing) {
        self.shown = Some(shown);
    }

    pub fn path(&self) -> &VirtualPath {
        &self.path
    }

    async fn begin(&mut self, files: &FileService, mode: UploadMode) -> Result<(), StorageError> {
        self.upload = Some(files.begin_upload(&self.path, mode).await?);
        Ok(())
    }

    /// Takes `data` written at `offset`.
    pub async fn write(
        &mut self,
        files: &FileService,
        offset: u64,
        data: &[u8],
    ) -> Result<(), HandleError> {
        if let Some(why) = &self.failed {
            return Err(HandleError::Refused(why.clone()));
        }
        if self.upload.is_none() {
            // An existing file opened without TRUNC or APPEND.
            let size = self.existed.unwrap_or(0);
            if offset != size {
                return Err(HandleError::Unsupported(
                    "writing into the middle of an existing file is not supported: \
                     upload it whole (truncate), or resume at its end",
                ));
            }
            self.begin(files, UploadMode::Append).await?;
            self.pos = size;
        }
        if !self.flags.has(OpenFlags::APPEND) && offset != self.pos {
            return Err(HandleError::Refused(format!(
                "out-of-order write at offset {offset} (expected {}): this server takes a file's writes in order",
                self.pos
            )));
        }
        if let Some(bucket) = self.limit.as_ref().and_then(|l| l.up.as_ref()) {
            bucket.take(data.len() as u64).await;
        }
        self.buf.extend_from_slice(data);
        self.pos += data.len() as u64;
        self.bytes += data.len() as u64;
        if let Some(shown) = &self.shown {
            shown.add(data.len() as u64);
        }
        if self.buf.len() >= WRITE_BUFFER {
            self.flush(files).await?;
        }
        Ok(())
    }

    /// Hands the buffered bytes to the upload.
    pub async fn flush(&mut self, files: &FileService) -> Result<(), HandleError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let Some(upload) = &mut self.upload else {
            return Ok(());
        };
        let next = std::mem::take(&mut self.spare);
        let full = std::mem::replace(&mut self.buf, next);
        let (mut back, result) = upload.write(full).await;
        back.clear();
        self.spare = back;
        if let Err(e) = result {
            self.failed = Some(e.to_string());
            if let Some(upload) = self.upload.take() {
                upload.abort().await;
            }
            self.report(files, Some(&e));
            return Err(e.into());
        }
        Ok(())
    }

    /// The size the file will have.
    pub fn size(&self) -> u64 {
        self.pos
    }

    pub fn set_mtime(&mut self, mtime: i64) {
        self.mtime = Some(mtime);
    }

    /// Puts the file in place (the handle's CLOSE).
    pub async fn close(mut self, files: &FileService) -> Result<(), HandleError> {
        if let Some(why) = &self.failed {
            return Err(HandleError::Refused(why.clone()));
        }
        self.flush(files).await?;
        let Some(upload) = self.upload.take() else {
            // An existing file opened for writing and never written.
            return Ok(());
        };
        let result = upload.commit().await;
        match result {
            Ok(_) => {
                if let Some(mtime) = self.mtime {
                    files.set_modified(&self.path, mtime).await?;
                }
                self.report(files, None);
                Ok(())
            }
            Err(e) => {
                self.report(files, Some(&e));
                Err(e.into())
            }
        }
    }

    /// The session ended with the handle open: the upload is undone.
    async fn abandon(mut self, files: &FileService) {
        if let Some(upload) = self.upload.take() {
            upload.abort().await;
            self.report(files, Some(&Abandoned));
        }
    }

    fn report(&self, files: &FileService, failure: Option<&dyn std::error::Error>) {
        files.record_transfer(&TransferReport {
            path: &self.path,
            bytes: self.bytes,
            elapsed: self.started.elapsed(),
            ascii: false,
            incoming: true,
            failure,
        });
    }
}

/// A directory being listed.
#[derive(Debug)]
pub struct DirHandle {
    chunks: ListChunks,
    pending: VecDeque<Record>,
}

impl DirHandle {
    pub async fn open(files: &FileService, path: &VirtualPath) -> Result<Self, StorageError> {
        let chunks = files.list(path, ListFormat::Records, now_unix()).await?;
        Ok(DirHandle {
            chunks,
            pending: VecDeque::new(),
        })
    }

    /// The next entries; empty at the end.
    pub async fn next(&mut self) -> Result<Vec<NameEntry>, StorageError> {
        while self.pending.len() < ENTRIES_PER_NAME {
            match self.chunks.recv().await {
                Some(chunk) => self.pending.extend(Record::decode_all(&chunk?)),
                None => break,
            }
        }
        let now = now_unix();
        let n = self.pending.len().min(ENTRIES_PER_NAME);
        Ok(self
            .pending
            .drain(..n)
            .map(|r| super::reply::name_entry(&r.name, &r.meta, now))
            .collect())
    }
}

/// What FSTAT needs of a handle: its path, and the size a file being
/// written will have.
pub fn fstat_subject(handle: &Handle) -> Result<(VirtualPath, Option<u64>), StorageError> {
    match handle {
        Handle::Read(r) => Ok((r.path.clone(), None)),
        Handle::Write(w) => Ok((w.path.clone(), Some(w.size()))),
        Handle::Dir(_) => Err(StorageError::NotAFile),
    }
}

/// The facts of an open handle (FSTAT): those of its file, with the size
/// a file being written will have.
pub async fn fstat(
    files: &FileService,
    path: &VirtualPath,
    writing: Option<u64>,
) -> Result<Meta, StorageError> {
    let Some(size) = writing else {
        return files.stat(path).await;
    };
    let mut meta = match files.stat(path).await {
        Ok(meta) => meta,
        Err(StorageError::NotFound) => Meta {
            kind: ftp_proto::listing::EntryKind::File,
            size: 0,
            mtime: now_unix(),
            mode: 0o644,
            nlink: 1,
            dev: 0,
            ino: 0,
        },
        Err(e) => return Err(e),
    };
    meta.size = size;
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::Ahead;

    fn read(at: u64, bytes: &[u8], short: bool) -> Ahead {
        Ahead {
            buf: bytes.to_vec(),
            at,
            short,
            next: at,
        }
    }

    fn answer(a: &Ahead, offset: u64, len: usize) -> Option<Vec<u8>> {
        let mut out = b"reply:".to_vec();
        let n = a.serve(offset, len, &mut out)?;
        assert_eq!(out.len(), 6 + n);
        Some(out.split_off(6))
    }

    #[test]
    fn what_was_read_answers_the_requests_it_holds() {
        let a = read(100, b"abcdefgh", false);
        assert_eq!(answer(&a, 100, 4).as_deref(), Some(&b"abcd"[..]));
        assert_eq!(answer(&a, 104, 4).as_deref(), Some(&b"efgh"[..]));
        // Before it, past it, or running past its end: read again.
        assert_eq!(answer(&a, 99, 4), None);
        assert_eq!(answer(&a, 108, 4), None);
        assert_eq!(answer(&a, 106, 4), None);
    }

    #[test]
    fn a_short_read_answers_up_to_where_the_file_ended() {
        let a = read(0, b"abc", true);
        assert_eq!(answer(&a, 1, 10).as_deref(), Some(&b"bc"[..]));
        // At the end: read again (the file may have grown), never empty.
        assert_eq!(answer(&a, 3, 10), None);
        assert_eq!(answer(&Ahead::default(), 0, 10), None);
    }
}
