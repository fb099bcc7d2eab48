//! The upload fast path: a plain binary upload into a local file moves
//! socket → pipe → file with `splice(2)` on a blocking thread
//! ([`wire::splice`]): one copy in the kernel and no hand-off between
//! threads per chunk, where the buffered path copies every byte twice.
//!
//! Each chunk is metered against the quota while it sits in the pipe,
//! before it reaches the file. ABOR, a vanished control connection or the
//! session ending shuts the socket down, which ends the blocking splice at
//! once; the upload then goes back to its owner to be aborted. At most
//! [`SLOTS`] such uploads hold a blocking thread at a time, so they can
//! never take the whole blocking pool from the file operations of other
//! sessions; the rest take the buffered path.

use super::{until_set, TransferControl, TransferError, DRAIN_LIMIT};
use crate::storage::Upload;
use std::io::{self, Read};
use std::net::{Shutdown, TcpStream as StdTcpStream};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use wire::splice::{blocking_socket, copy_into_file, CopyError, FileHints};

/// Uploads reserve their blocks ahead of the writes (see [`FileHints`]),
/// and durable ones, which the commit fsyncs, write behind: a 1 GiB
/// STOR's fsync then finds little left to write.
fn hints(durable: bool) -> FileHints {
    FileHints {
        write_behind: durable,
        reserve: true,
    }
}

/// Uploads that may run on the fast path at once.
const SLOTS: usize = 32;
static RUNNING: Semaphore = Semaphore::const_new(SLOTS);

/// What [`receive`] did with an upload.
pub enum Spliced {
    /// The fast path does not apply (no slot free, or the backend has no
    /// local file); the caller receives as usual.
    NotTaken(TcpStream),
    /// The upload ran to its end here (the caller commits or aborts it).
    Done(Result<u64, TransferError>),
}

/// Receives `upload` over `stream` by splice if a slot is free and the
/// backend writes a local file.
pub async fn receive(upload: &mut Upload, stream: TcpStream, ctl: &TransferControl) -> Spliced {
    let Ok(slot) = RUNNING.try_acquire() else {
        return Spliced::NotTaken(stream);
    };
    let file = match upload.direct_file() {
        None => return Spliced::NotTaken(stream),
        Some(Err(e)) => return Spliced::Done(Err(TransferError::Storage(e.into()))),
        Some(Ok(file)) => file,
    };
    let socket = match blocking_socket(stream, ctl.stall) {
        Ok(socket) => Arc::new(socket),
        Err(e) => return Spliced::Done(Err(TransferError::Network(e))),
    };
    // From here on, leaving this function any way shuts the socket down,
    // which ends the blocking copy.
    let stopper = ShutdownOnDrop(socket.clone());
    let runtime = tokio::runtime::Handle::current();
    let progress = ctl.progress.clone();
    let hints = hints(upload.durable());
    let mut meter = upload.lend_meter();
    let mut copy = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let mut gate = |n| meter.take_blocking(&runtime, n);
        let copied = copy_into_file(&socket, &file, &mut gate, &progress, hints);
        if let Err(CopyError::Store(_) | CopyError::Refused(_)) = copied {
            drain(&socket);
        }
        (meter, copied)
    });
    let mut cancel = ctl.cancel.clone();
    let (finished, aborted) = tokio::select! {
        biased;
        done = &mut copy => (done, false),
        _ = until_set(&mut cancel) => {
            drop(stopper);
            (copy.await, true)
        }
    };
    let (meter, result) = match finished {
        Ok(done) => done,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down; the meter gave its bytes back.
        Err(_) => return Spliced::Done(Err(TransferError::Aborted)),
    };
    upload.return_meter(meter);
    Spliced::Done(match result {
        _ if aborted => Err(TransferError::Aborted),
        Ok(n) => {
            upload.wrote_directly(n);
            Ok(n)
        }
        Err(CopyError::Receive(e)) if e.kind() == io::ErrorKind::TimedOut => {
            Err(TransferError::Stalled(ctl.stall))
        }
        Err(CopyError::Receive(e)) => Err(TransferError::Network(e)),
        Err(CopyError::Store(e)) => Err(TransferError::Storage(e.into())),
        Err(CopyError::Refused(e)) => Err(TransferError::Storage(e)),
    })
}

/// Reads and discards what the client is still sending after a refusal,
/// up to [`DRAIN_LIMIT`], so that it reads the refusal instead of a reset.
fn drain(mut socket: &StdTcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut drained = 0u64;
    while drained < DRAIN_LIMIT {
        match socket.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n as u64,
        }
    }
}

/// Shuts a socket down both ways when dropped.
struct ShutdownOnDrop(Arc<StdTcpStream>);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}
