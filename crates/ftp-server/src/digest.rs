//! Hashing a file's bytes for HASH and the X-hash verbs: streamed in
//! bounded pieces, computed on blocking threads (never on the async
//! workers), stoppable between pieces, and capped server-wide.
//!
//! [`Digester`] holds one running hash of any [`HashAlgorithm`].
//! [`digest_download`] feeds it a [`Download`] — a local file read with
//! `pread` on one blocking thread, or any backend's stream read
//! asynchronously and hashed piece by piece on blocking threads — so the
//! memory a hash takes is one piece whatever the file's size.
//! [`HashLimit`] is the server-wide cap: a hash waits a bounded time for
//! a slot and is refused with 450 after that.

use crate::storage::{blocking, Download, StorageError};
use ftp_proto::hash::{ByteRange, HashAlgorithm};
use sha2::Digest as _;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Bytes read and hashed at a time.
const PIECE: usize = 1 << 20;

/// Why a hash was not computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// The range asked for does not lie inside the file.
    #[error("the range {start}-{end} is not inside the file ({size} bytes)")]
    OutOfRange { start: u64, end: u64, size: u64 },
    /// Every hashing slot stayed busy for the whole wait.
    #[error("the server is busy computing other hashes; try again shortly")]
    Busy,
    /// The client aborted or went away.
    #[error("hash computation aborted")]
    Aborted,
}

/// A computed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub algorithm: HashAlgorithm,
    /// The bytes it covers.
    pub range: ByteRange,
    /// Lower-case hex.
    pub hex: String,
}

/// One running hash.
#[derive(Debug, Clone)]
pub enum Digester {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Sha1(sha1::Sha1),
    Md5(md5::Md5),
    Crc32(crc32fast::Hasher),
}

impl Digester {
    pub fn new(algorithm: HashAlgorithm) -> Self {
        match algorithm {
            HashAlgorithm::Sha256 => Digester::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha512 => Digester::Sha512(sha2::Sha512::new()),
            HashAlgorithm::Sha1 => Digester::Sha1(sha1::Sha1::new()),
            HashAlgorithm::Md5 => Digester::Md5(md5::Md5::new()),
            HashAlgorithm::Crc32 => Digester::Crc32(crc32fast::Hasher::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Digester::Sha256(h) => h.update(bytes),
            Digester::Sha512(h) => h.update(bytes),
            Digester::Sha1(h) => h.update(bytes),
            Digester::Md5(h) => h.update(bytes),
            Digester::Crc32(h) => h.update(bytes),
        }
    }

    /// The digest in lower-case hex (CRC32 as its 8 big-endian digits).
    pub fn finish_hex(self) -> String {
        let bytes: Vec<u8> = match self {
            Digester::Sha256(h) => h.finalize().to_vec(),
            Digester::Sha512(h) => h.finalize().to_vec(),
            Digester::Sha1(h) => h.finalize().to_vec(),
            Digester::Md5(h) => h.finalize().to_vec(),
            Digester::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The server-wide cap on hashes computed at once.
#[derive(Debug, Clone)]
pub struct HashLimit {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl HashLimit {
    /// At most `jobs` hashes at once; a hash waits up to `wait` for a slot.
    pub fn new(jobs: usize, wait: Duration) -> Self {
        HashLimit {
            slots: Arc::new(Semaphore::new(jobs)),
            wait,
        }
    }

    /// A slot, held until dropped; [`HashError::Busy`] after the wait,
    /// [`HashError::Aborted`] if `ctl` is cancelled first.
    pub async fn slot(&self, ctl: &HashControl) -> Result<OwnedSemaphorePermit, HashError> {
        let mut cancel = ctl.cancel.clone();
        tokio::select! {
            biased;
            _ = crate::transfer::until_set(&mut cancel) => Err(HashError::Aborted),
            r = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()) => match r {
                Ok(Ok(permit)) => Ok(permit),
                _ => Err(HashError::Busy),
            },
        }
    }
}

/// What a running hash reports and obeys.
#[derive(Debug, Clone)]
pub struct HashControl {
    /// Bytes hashed so far (for STAT while it runs).
    pub progress: Arc<AtomicU64>,
    /// Becomes `true` when the hash must stop.
    pub cancel: watch::Receiver<bool>,
}

impl HashControl {
    fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    fn add(&self, n: usize) {
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Hashes the next `len` bytes of `download` (already positioned at the
/// start of the range) and returns the hex digest.
pub async fn digest_download(
    download: Download,
    len: u64,
    algorithm: HashAlgorithm,
    ctl: &HashControl,
) -> Result<String, HashError> {
    let digester = Digester::new(algorithm);
    match download {
        Download::File { file, offset } => {
            let ctl = ctl.clone();
            blocking(move || Ok(hash_file(&file, offset, len, digester, &ctl)))
                .await
                .map_err(HashError::Storage)?
        }
        Download::Stream(stream) => hash_stream(stream, len, digester, ctl).await,
    }
}

/// A local file, read with `pread` from `offset`, on this (blocking) thread.
fn hash_file(
    file: &std::fs::File,
    offset: u64,
    len: u64,
    mut digester: Digester,
    ctl: &HashControl,
) -> Result<String, HashError> {
    let mut buf = vec![0u8; PIECE.min(usize::try_from(len).unwrap_or(PIECE))];
    let mut done = 0u64;
    while done < len {
        if ctl.cancelled() {
            return Err(HashError::Aborted);
        }
        let want = usize::try_from(len - done).map_or(buf.len(), |rest| rest.min(buf.len()));
        let n = file
            .read_at(&mut buf[..want], offset + done)
            .map_err(StorageError::from)?;
        if n == 0 {
            // The file shrank while it was hashed.
            return Err(StorageError::Io(std::io::ErrorKind::UnexpectedEof.into()).into());
        }
        digester.update(&buf[..n]);
        done += n as u64;
        ctl.add(n);
    }
    Ok(digester.finish_hex())
}

/// A backend's stream, read here and hashed piece by piece on blocking
/// threads.
async fn hash_stream(
    mut stream: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    len: u64,
    mut digester: Digester,
    ctl: &HashControl,
) -> Result<String, HashError> {
    let mut cancel = ctl.cancel.clone();
    let mut done = 0u64;
    let mut buf = Vec::with_capacity(PIECE);
    while done < len {
        if ctl.cancelled() {
            return Err(HashError::Aborted);
        }
        buf.clear();
        let want = (len - done).min(PIECE as u64);
        let mut limited = (&mut stream).take(want);
        let n = tokio::select! {
            biased;
            _ = crate::transfer::until_set(&mut cancel) => return Err(HashError::Aborted),
            r = limited.read_to_end(&mut buf) => r.map_err(StorageError::from)?,
        };
        if n == 0 {
            return Err(StorageError::Io(std::io::ErrorKind::UnexpectedEof.into()).into());
        }
        let piece = std::mem::take(&mut buf);
        let (d, piece) = blocking(move || {
            digester.update(&piece);
            Ok((digester, piece))
        })
        .await?;
        digester = d;
        buf = piece;
        done += n as u64;
        ctl.add(n);
    }
    Ok(digester.finish_hex())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn hex_of(algorithm: HashAlgorithm, data: &[u8]) -> String {
        let mut d = Digester::new(algorithm);
        d.update(data);
        d.finish_hex()
    }

    #[test]
    fn known_vectors() {
        use HashAlgorithm::*;
        assert_eq!(
            hex_of(Sha256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex_of(Sha1, b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(hex_of(Md5, b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex_of(Crc32, b"123456789"), "cbf43926");
        assert_eq!(hex_of(Crc32, b""), "00000000");
        assert!(hex_of(Sha512, b"abc").starts_with("ddaf35a193617aba"));
    }

    fn control() -> (watch::Sender<bool>, HashControl) {
        let (tx, rx) = watch::channel(false);
        let ctl = HashControl {
            progress: Arc::new(AtomicU64::new(0)),
            cancel: rx,
        };
        (tx, ctl)
    }

    #[tokio::test]
    async fn file_and_stream_agree_on_a_range() {
        let data: Vec<u8> = (0..3 * PIECE + 17).map(|i| (i * 7 % 251) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        let (_tx, ctl) = control();
        let (start, len) = (5u64, (2 * PIECE + 3) as u64);
        let want = hex_of(HashAlgorithm::Sha256, &data[5..5 + len as usize]);
        let file = Download::File {
            file: f,
            offset: start,
        };
        let got = digest_download(file, len, HashAlgorithm::Sha256, &ctl)
            .await
            .unwrap();
        assert_eq!(got, want);
        assert_eq!(ctl.progress.load(Ordering::Relaxed), len);
        let stream = Download::Stream(Box::pin(std::io::Cursor::new(data[5..].to_vec())));
        let got = digest_download(stream, len, HashAlgorithm::Sha256, &ctl)
            .await
            .unwrap();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_cancelled_hash_stops_and_a_short_file_fails() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[1u8; 4096]).unwrap();
        let (tx, ctl) = control();
        let short = Download::File { file: f, offset: 0 };
        assert!(matches!(
            digest_download(short, 8192, HashAlgorithm::Md5, &ctl).await,
            Err(HashError::Storage(_))
        ));
        tx.send(true).unwrap();
        let stream = Download::Stream(Box::pin(std::io::Cursor::new(vec![0u8; 100])));
        assert!(matches!(
            digest_download(stream, 100, HashAlgorithm::Md5, &ctl).await,
            Err(HashError::Aborted)
        ));
    }

    #[tokio::test]
    async fn the_limit_refuses_after_its_wait() {
        let limit = HashLimit::new(1, Duration::from_millis(20));
        let (tx, ctl) = control();
        let held = limit.slot(&ctl).await.unwrap();
        assert!(matches!(limit.slot(&ctl).await, Err(HashError::Busy)));
        tx.send(true).unwrap();
        let patient = HashLimit {
            wait: Duration::from_secs(3600),
            ..limit.clone()
        };
        assert!(matches!(patient.slot(&ctl).await, Err(HashError::Aborted)));
        drop(held);
        let (_tx, ctl) = control();
        assert!(limit.slot(&ctl).await.is_ok());
    }
}
