//! Moving bytes over a data connection.
//!
//! Downloads in binary mode over a plain connection go through
//! `sendfile(2)`, so file pages go straight to the socket without passing
//! through user space; over TLS, or in ASCII mode, a blocking thread reads
//! the file in large pieces ahead of the socket. ASCII mode converts line
//! endings on the way (LF to CRLF out, CRLF to LF in).
//! Binary uploads over a plain connection into a local file go socket →
//! pipe → file by `splice(2)` ([`spliced_upload`]); the others read into
//! one large reused buffer and write it on a blocking thread. Every wait
//! on the peer has a stall deadline, and every loop watches the session's
//! cancel signal (ABOR, or the control connection going away) so that an
//! upload is always undone by its owner, never dropped half-written.

mod spliced_upload;

use crate::storage::{Download, ListChunks, StorageError, Upload};
use spliced_upload::Spliced;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use wire::MaybeTls;

/// Upload buffer size; also the unit of one write to disk.
const UPLOAD_BUF: usize = 1 << 20;
/// Bytes per `sendfile` call, so progress is seen between calls.
const SENDFILE_CHUNK: usize = 8 << 20;
/// Buffered downloads (TLS, ASCII) read the file in pieces of this size.
const READ_CHUNK: usize = 256 * 1024;

/// Why a transfer did not complete.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("Transfer aborted.")]
    Aborted,
    #[error("Transfer stalled: no data for {0:?}.")]
    Stalled(Duration),
    #[error("Data connection failed: {0}")]
    Network(io::Error),
    /// TLS on the data connection failed or broke a policy.
    #[error("{0}")]
    DataTls(String),
    #[error("{0}")]
    Storage(StorageError),
}

/// Resolves once `flag` is set; the borrow of the value ends before it
/// returns, so the future stays `Send`.
pub async fn until_set(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

/// What a running transfer needs to report, to stop and to pace itself.
#[derive(Debug, Clone)]
pub struct TransferControl {
    /// The account's bandwidth bucket for this direction, if limited.
    pub bucket: Option<Arc<crate::bandwidth::AccountBandwidth>>,
    /// Whether this transfer is an upload (which bucket applies).
    pub upload: bool,
    /// Bytes moved so far (for STAT during a transfer).
    pub progress: Arc<AtomicU64>,
    /// Becomes `true` when the transfer must stop.
    pub cancel: watch::Receiver<bool>,
    /// A transfer without progress for this long fails.
    pub stall: Duration,
}

impl TransferControl {
    fn add(&self, n: usize) {
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Waits as long as the bandwidth limit asks for after `n` bytes.
    async fn pace(&self, n: usize) {
        if let Some(bucket) = self.limit() {
            bucket.take(n as u64).await;
        }
    }

    fn limit(&self) -> Option<&crate::bandwidth::TokenBucket> {
        let account = self.bucket.as_ref()?;
        if self.upload {
            account.up.as_ref()
        } else {
            account.down.as_ref()
        }
    }

    fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Waits for `fut` unless the transfer is cancelled or stalls first.
    async fn guard<T>(
        &self,
        fut: impl std::future::Future<Output = io::Result<T>>,
    ) -> Result<T, TransferError> {
        let mut cancel = self.cancel.clone();
        tokio::select! {
            biased;
            _ = until_set(&mut cancel) => Err(TransferError::Aborted),
            r = timeout(self.stall, fut) => match r {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(TransferError::Network(e)),
                Err(_) => Err(TransferError::Stalled(self.stall)),
            },
        }
    }
}

/// Sends a download to its end, then closes the connection.
pub async fn send_download(
    download: Download,
    ascii: bool,
    conn: MaybeTls,
    ctl: &TransferControl,
) -> Result<u64, TransferError> {
    match download {
        Download::File { file, offset } => send_file(file, offset, ascii, conn, ctl).await,
        Download::Stream(reader) => send_stream(reader, ascii, conn, ctl).await,
    }
}

/// Sends `file` from `offset` to its end, then closes the connection.
async fn send_file(
    file: File,
    offset: u64,
    ascii: bool,
    mut conn: MaybeTls,
    ctl: &TransferControl,
) -> Result<u64, TransferError> {
    let len = file
        .metadata()
        .map_err(|e| TransferError::Storage(e.into()))?
        .len();
    let sent = match &conn {
        MaybeTls::Plain(tcp) if !ascii => sendfile_all(&file, offset, len, tcp, ctl).await?,
        _ => send_buffered(file, offset, ascii, &mut conn, ctl).await?,
    };
    ctl.guard(conn.shutdown()).await?;
    Ok(sent)
}

async fn sendfile_all(
    file: &File,
    mut offset: u64,
    len: u64,
    conn: &TcpStream,
    ctl: &TransferControl,
) -> Result<u64, TransferError> {
    let start = offset;
    limit_unsent(conn);
    while offset < len {
        // Under a bandwidth limit, send a tenth of a second's worth at a time.
        let chunk = ctl.limit().map_or(SENDFILE_CHUNK, |b| {
            (b.rate() as usize / 10).clamp(16 * 1024, SENDFILE_CHUNK)
        });
        let want = usize::try_from(len - offset)
            .unwrap_or(usize::MAX)
            .min(chunk);
        let n = ctl
            .guard(wire::sendfile::send_some(conn, file, offset, want))
            .await?;
        if n == 0 {
            break; // the file shrank under us
        }
        offset += n as u64;
        ctl.add(n);
        ctl.pace(n).await;
        if ctl.cancelled() {
            return Err(TransferError::Aborted);
        }
    }
    Ok(offset - start)
}

/// Unsent bytes a download keeps queued in its socket (TCP_NOTSENT_LOWAT).
/// Without a cap, each of a thousand concurrent downloads queues up to the
/// send buffer's 4 MiB: the kernel's TCP memory runs into its pressure
/// limit, drops and retransmits (thousands per burst, some after a 200 ms
/// timeout), and the slowest transfers finish a second late. With it, a
/// 1000-client burst of 10 MiB downloads took 1.9 s instead of 2.9 s here
/// (median of six) and retransmitted dozens of segments instead of
/// thousands; single downloads showed no loss.
const UNSENT_LIMIT: libc::c_int = 256 * 1024;

/// Caps the unsent bytes `conn` queues; see [`UNSENT_LIMIT`].
fn limit_unsent(conn: &TcpStream) {
    let set = wire::sockopt::set_int(
        conn,
        libc::IPPROTO_TCP,
        libc::TCP_NOTSENT_LOWAT,
        UNSENT_LIMIT,
    );
    if let Err(e) = set {
        tracing::debug!(error = %e, "TCP_NOTSENT_LOWAT not set");
    }
}

/// Reads the file on a blocking thread, converting line endings if
/// `ascii`, and writes it to `conn`.
async fn send_buffered(
    file: File,
    offset: u64,
    ascii: bool,
    conn: &mut MaybeTls,
    ctl: &TransferControl,
) -> Result<u64, TransferError> {
    let (tx, mut rx) = mpsc::channel::<io::Result<Vec<u8>>>(2);
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        if let Err(e) = file.seek(SeekFrom::Start(offset)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let mut raw = vec![0u8; READ_CHUNK];
        let mut prev_cr = false;
        loop {
            match file.read(&mut raw) {
                Ok(0) => return,
                Ok(n) => {
                    let out = if ascii {
                        let mut out = Vec::with_capacity(n + n / 8);
                        to_crlf(&raw[..n], &mut prev_cr, &mut out);
                        out
                    } else {
                        raw[..n].to_vec()
                    };
                    if tx.blocking_send(Ok(out)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let mut sent = 0u64;
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk.map_err(|e| TransferError::Storage(e.into()))?;
        ctl.guard(conn.write_all(&chunk)).await?;
        sent += chunk.len() as u64;
        ctl.add(chunk.len());
        ctl.pace(chunk.len()).await;
    }
    Ok(sent)
}

/// Copies a stream (an object store's ranged read) to `conn`, converting
/// line endings if `ascii`, then closes the connection. A read that
/// stalls is a stalled transfer, like a write.
async fn send_stream(
    mut reader: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    ascii: bool,
    mut conn: MaybeTls,
    ctl: &TransferControl,
) -> Result<u64, TransferError> {
    let mut raw = vec![0u8; READ_CHUNK];
    let mut converted = Vec::new();
    let mut prev_cr = false;
    let mut sent = 0u64;
    loop {
        let n = match ctl.guard(reader.read(&mut raw)).await {
            Ok(n) => n,
            Err(TransferError::Network(e)) => return Err(TransferError::Storage(e.into())),
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        let chunk = if ascii {
            converted.clear();
            to_crlf(&raw[..n], &mut prev_cr, &mut converted);
            &converted[..]
        } else {
            &raw[..n]
        };
        ctl.guard(conn.write_all(chunk)).await?;
        sent += chunk.len() as u64;
        ctl.add(chunk.len());
        ctl.pace(chunk.len()).await;
    }
    ctl.guard(conn.shutdown()).await?;
    Ok(sent)
}

/// Sends a listing produced in chunks, then closes the connection.
pub async fn send_chunks(
    mut chunks: ListChunks,
    mut conn: MaybeTls,
    ctl: &TransferControl,
) -> Result<u64, TransferError> {
    let mut sent = 0u64;
    while let Some(chunk) = chunks.recv().await {
        // A listing the storage could not finish is a failed transfer.
        let chunk = chunk.map_err(TransferError::Storage)?;
        ctl.guard(conn.write_all(&chunk)).await?;
        sent += chunk.len() as u64;
        ctl.add(chunk.len());
    }
    ctl.guard(conn.shutdown()).await?;
    Ok(sent)
}

/// After a refused write (quota, full disk) the rest of an upload is read
/// and thrown away, up to this much, so that the client finishes sending
/// and reads the refusal instead of a reset connection.
const DRAIN_LIMIT: u64 = 64 << 20;

/// Receives into `upload` until the client closes the data connection.
/// The caller commits or aborts the upload.
pub async fn receive(
    upload: &mut Upload,
    ascii: bool,
    conn: MaybeTls,
    ctl: &TransferControl,
) -> Result<u64, TransferError> {
    let mut conn = match conn {
        MaybeTls::Plain(stream) if !ascii && ctl.limit().is_none() => {
            match spliced_upload::receive(upload, stream, ctl).await {
                Spliced::Done(result) => return result,
                Spliced::NotTaken(stream) => MaybeTls::Plain(stream),
            }
        }
        conn => conn,
    };
    // Buffers are filled through `read_buf`, into their spare capacity, so
    // nothing is zeroed per chunk; two of them alternate (see Upload::write).
    let mut buf: Vec<u8> = Vec::with_capacity(UPLOAD_BUF);
    let mut converted = Vec::new();
    let mut pending_cr = false;
    let mut received = 0u64;
    loop {
        // Fill at least half the buffer before going to disk.
        buf.clear();
        if buf.capacity() < UPLOAD_BUF {
            buf.reserve_exact(UPLOAD_BUF);
        }
        let mut eof = false;
        while buf.len() < UPLOAD_BUF / 2 {
            let n = ctl.guard(conn.read_buf(&mut buf)).await?;
            if n == 0 {
                eof = true;
                break;
            }
            ctl.add(n);
            ctl.pace(n).await;
        }
        received += buf.len() as u64;
        if ascii {
            converted.clear();
            from_crlf(&buf, &mut pending_cr, &mut converted);
            if eof && pending_cr {
                converted.push(b'\r');
            }
            let out = std::mem::take(&mut converted);
            let (back, result) = upload.write(out).await;
            converted = back;
            if let Err(e) = result {
                return Err(refuse(e, eof, &mut conn, ctl).await);
            }
        } else if !buf.is_empty() {
            let (back, result) = upload.write(buf).await;
            buf = back;
            if let Err(e) = result {
                return Err(refuse(e, eof, &mut conn, ctl).await);
            }
        }
        if eof {
            // Answer the client's close_notify with ours: clients that
            // shut TLS down both ways (Python's unwrap) wait for it.
            let _ = ctl.guard(conn.shutdown()).await;
            return Ok(received);
        }
        if ctl.cancelled() {
            return Err(TransferError::Aborted);
        }
    }
}

/// Drains what the client is still sending (see [`DRAIN_LIMIT`]) and
/// returns the error to report.
async fn refuse(
    err: StorageError,
    eof: bool,
    conn: &mut MaybeTls,
    ctl: &TransferControl,
) -> TransferError {
    let mut buf = vec![0u8; 64 * 1024];
    let mut drained = 0u64;
    while !eof && drained < DRAIN_LIMIT {
        match ctl.guard(conn.read(&mut buf)).await {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n as u64,
        }
    }
    TransferError::Storage(err)
}

/// LF to CRLF, leaving existing CRLF pairs alone. `prev_cr` carries the
/// state across chunks.
pub fn to_crlf(input: &[u8], prev_cr: &mut bool, out: &mut Vec<u8>) {
    for &b in input {
        if b == b'\n' && !*prev_cr {
            out.push(b'\r');
        }
        out.push(b);
        *prev_cr = b == b'\r';
    }
}

/// CRLF to LF; a CR not followed by LF stays. `pending_cr` carries a CR
/// that ended the previous chunk.
pub fn from_crlf(input: &[u8], pending_cr: &mut bool, out: &mut Vec<u8>) {
    for &b in input {
        if *pending_cr {
            *pending_cr = false;
            if b != b'\n' {
                out.push(b'\r');
            }
        }
        if b == b'\r' {
            *pending_cr = true;
        } else {
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn conv(f: fn(&[u8], &mut bool, &mut Vec<u8>), chunks: &[&[u8]]) -> Vec<u8> {
        let mut state = false;
        let mut out = Vec::new();
        for c in chunks {
            f(c, &mut state, &mut out);
        }
        out
    }

    fn inbound(chunks: &[&[u8]]) -> Vec<u8> {
        let mut pending = false;
        let mut out = Vec::new();
        for c in chunks {
            from_crlf(c, &mut pending, &mut out);
        }
        if pending {
            out.push(b'\r');
        }
        out
    }

    #[test]
    fn line_endings() {
        assert_eq!(conv(to_crlf, &[b"a\nb\r\nc"]), b"a\r\nb\r\nc");
        assert_eq!(conv(to_crlf, &[b"a\r", b"\nb\n"]), b"a\r\nb\r\n");
        assert_eq!(inbound(&[b"a\r\nb\rc\n"]), b"a\nb\rc\n");
        assert_eq!(inbound(&[b"a\r", b"\nb\r"]), b"a\nb\r");
    }

    proptest! {
        #[test]
        fn ascii_round_trip(text in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'x')], 0..200), split in 0usize..200) {
            // Text without CR survives LF -> CRLF -> LF, however it is split.
            let split = split.min(text.len());
            let wire = conv(to_crlf, &[&text[..split], &text[split..]]);
            let back = inbound(&[&wire[..split.min(wire.len())], &wire[split.min(wire.len())..]]);
            prop_assert_eq!(back, text);
        }
    }
}
