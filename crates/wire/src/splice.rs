//! A plain TCP stream into a file without copying through user space:
//! the download fast path of the clients and the upload fast path of the
//! server (Linux `splice(2)`).
//!
//! The bytes go socket → pipe → file inside the kernel: the socket's pages
//! move into a pipe, and from there into the file's page cache, which is
//! one copy instead of the three a read/write loop through a buffer and
//! tokio's file makes. The loop runs on a blocking thread with the socket
//! in blocking mode and `SO_RCVTIMEO` as the stall limit. Each chunk passes
//! a gate (a quota) while it sits in the pipe, before it reaches the file.
//! Where the kernel refuses to splice into the file (a file system without
//! `splice_write`, or a file opened for append), the loop carries on with
//! plain reads and writes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Bytes asked of one `splice` call, and the pipe size asked for.
const CHUNK: usize = 1 << 20;

/// With write-behind, disk writes start each time this much more has been
/// written.
pub const WRITE_BEHIND: u64 = 8 << 20;

/// With reservation, the file's blocks are reserved as far ahead as the
/// file is long, at most this far: a few calls for a large file, and a
/// file that ends soon after frees little.
const RESERVE_STEP: u64 = 64 << 20;

/// Reservation starts once the file is this long. Reserving 64 MiB for a
/// 4 KiB upload and freeing it at the end cost ext4 7 ms here, more than
/// the rest of the upload.
const RESERVE_FROM: u64 = 1 << 20;

/// What [`copy_into_file`] does for the file beyond writing it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileHints {
    /// Start the disk writes of what is written as the copy goes, for a
    /// caller that fsyncs the file at the end: the disk then works while
    /// the network does.
    pub write_behind: bool,
    /// Reserve the file's blocks ahead of the writes (`fallocate(2)`,
    /// keeping the size) once the file passes [`RESERVE_FROM`]: writing
    /// into reserved blocks costs the file system much less CPU than
    /// allocating them page by page (ext4 here: 0.11 instead of 0.20 s per
    /// GiB). What is reserved and not used is freed when the copy ends,
    /// however it ends.
    pub reserve: bool,
}

/// How often the progress callback hears the running count.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Why [`copy_into_file`] stopped before the end of the stream.
#[derive(Debug)]
pub enum CopyError<E> {
    /// Receiving failed; a stall shows as [`io::ErrorKind::TimedOut`].
    Receive(io::Error),
    /// Writing the file failed.
    Store(io::Error),
    /// The gate refused a chunk, which was not written.
    Refused(E),
}

/// A stream ran past the byte count it was allowed: the chunk that crossed
/// the limit was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("more than {limit} bytes arrived")]
pub struct PastLimit {
    pub limit: u64,
}

/// Copies everything `stream` delivers until end of stream into `file` at
/// its current position and returns the byte count. A read that waits
/// longer than `stall` fails with [`io::ErrorKind::TimedOut`]. With a
/// `limit`, the copy stops with [`CopyError::Refused`] as soon as more
/// than `limit` bytes have arrived, and the file holds at most `limit`
/// of them. The stream is closed when this returns. Dropping the future
/// before it completes leaves the copy running on its thread until the
/// peer closes or stalls.
pub async fn stream_to_file(
    stream: TcpStream,
    file: File,
    stall: Duration,
    limit: Option<u64>,
    write_behind: bool,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<u64, CopyError<PastLimit>> {
    let socket = blocking_socket(stream, stall).map_err(CopyError::Receive)?;
    let count = Arc::new(AtomicU64::new(0));
    let shared = count.clone();
    let mut copy = tokio::task::spawn_blocking(move || {
        let mut arrived = 0u64;
        let mut within = |n: u64| {
            arrived += n;
            match limit {
                Some(limit) if arrived > limit => Err(PastLimit { limit }),
                _ => Ok(()),
            }
        };
        let hints = FileHints {
            write_behind,
            reserve: true,
        };
        copy_into_file(&socket, &file, &mut within, &shared, hints)
    });
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tokio::select! {
            done = &mut copy => {
                progress(count.load(Ordering::Relaxed));
                return done.map_err(|e| CopyError::Receive(io::Error::other(e)))?;
            }
            _ = tick.tick() => progress(count.load(Ordering::Relaxed)),
        }
    }
}

/// Whether a file of `size` bytes is a large part of the machine's memory
/// (a quarter or more), so that leaving all of it to the page cache would
/// only stall the writer later, all at once.
pub fn outgrows_page_cache(size: u64) -> bool {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_total(&text));
    total.is_some_and(|bytes| size >= bytes / 4)
}

/// MemTotal from `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Takes `stream` off the async reactor for [`copy_into_file`]: blocking
/// mode, with `stall` as the longest wait for data.
pub fn blocking_socket(stream: TcpStream, stall: Duration) -> io::Result<StdTcpStream> {
    let socket = stream.into_std()?;
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(stall))?;
    Ok(socket)
}

/// The blocking loop: copies from `socket` (see [`blocking_socket`]) into
/// `file` until end of stream and returns the byte count. Every chunk is
/// shown to `gate` after it is received and before it is written; `count`
/// grows as chunks are written. Splices while the kernel lets it, then
/// reads and writes. See [`FileHints`] for `hints`.
pub fn copy_into_file<E>(
    socket: &StdTcpStream,
    file: &File,
    gate: &mut dyn FnMut(u64) -> Result<(), E>,
    count: &AtomicU64,
    hints: FileHints,
) -> Result<u64, CopyError<E>> {
    let mut total = 0u64;
    let mut place = Placement::new(file, hints);
    let Ok(pipe) = Pipe::new() else {
        return copy_buffered(socket, file, gate, count, total, &mut place);
    };
    loop {
        let n = match splice(socket.as_raw_fd(), pipe.write.as_raw_fd(), CHUNK) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) => return Err(CopyError::Receive(stalled_or(e))),
        };
        gate(n as u64).map_err(CopyError::Refused)?;
        place.before_write(n as u64);
        if let Err(e) = pipe.drain_into(file, n) {
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(CopyError::Store(e));
            }
            // The file refuses splice: move what the pipe holds by hand and
            // go on without the pipe.
            total += pipe.copy_out(file, n).map_err(CopyError::Store)?;
            count.fetch_add(n as u64, Ordering::Relaxed);
            place.wrote(n as u64);
            return copy_buffered(socket, file, gate, count, total, &mut place);
        }
        total += n as u64;
        count.fetch_add(n as u64, Ordering::Relaxed);
        place.wrote(n as u64);
    }
}

/// A read/write loop for files that refuse splice.
fn copy_buffered<E>(
    mut socket: &StdTcpStream,
    mut file: &File,
    gate: &mut dyn FnMut(u64) -> Result<(), E>,
    count: &AtomicU64,
    mut total: u64,
    place: &mut Placement,
) -> Result<u64, CopyError<E>> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match socket.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Receive(stalled_or(e))),
        };
        gate(n as u64).map_err(CopyError::Refused)?;
        place.before_write(n as u64);
        file.write_all(&buf[..n]).map_err(CopyError::Store)?;
        total += n as u64;
        count.fetch_add(n as u64, Ordering::Relaxed);
        place.wrote(n as u64);
    }
}

/// Where the copy stands in the file, and what [`FileHints`] asked for:
/// blocks reserved ahead of the writes, and disk writes started behind
/// them. Dropping it frees the reserved blocks left unused past the end
/// of the file.
struct Placement<'a> {
    file: &'a File,
    /// The file position the next write goes to.
    at: u64,
    /// Blocks are reserved up to here (when reserving).
    reserved: Option<u64>,
    /// Start of the written range not yet handed to the disk (when
    /// writing behind).
    unsynced: Option<u64>,
}

impl<'a> Placement<'a> {
    fn new(mut file: &'a File, hints: FileHints) -> Placement<'a> {
        // Without a position (not a regular file) neither hint applies.
        let at = io::Seek::stream_position(&mut file).ok();
        Placement {
            file,
            at: at.unwrap_or(0),
            reserved: at.filter(|_| hints.reserve),
            unsynced: at.filter(|_| hints.write_behind),
        }
    }

    /// Reserves blocks for the next `n` bytes if they are not yet; stops
    /// reserving if the file system cannot (no space, no support).
    fn before_write(&mut self, n: u64) {
        let Some(end) = self.reserved else { return };
        if self.at + n <= end || self.at < RESERVE_FROM {
            return;
        }
        let end = end.max(self.at);
        let len = self.at.min(RESERVE_STEP).max(n);
        let (Ok(offset), Ok(len_off)) = (libc::off_t::try_from(end), libc::off_t::try_from(len))
        else {
            self.reserved = None;
            return;
        };
        // SAFETY: the descriptor belongs to a file borrowed for the whole
        // copy; KEEP_SIZE leaves the file's size alone.
        let rc = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_KEEP_SIZE,
                offset,
                len_off,
            )
        };
        self.reserved = (rc == 0).then_some(end + len);
    }

    /// `n` bytes were written at the position.
    fn wrote(&mut self, n: u64) {
        self.at += n;
        let Some(from) = self.unsynced else { return };
        if self.at - from < WRITE_BEHIND {
            return;
        }
        start_writeback(self.file, from, self.at - from);
        self.unsynced = Some(self.at);
    }
}

/// Starts the disk writes of `len` bytes of `file` from `offset` without
/// waiting for them (`sync_file_range(2)`), for a writer that fsyncs the
/// file at the end: the disk then works while the network does. Failure
/// is harmless (the final fsync still writes everything).
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    let (Ok(offset), Ok(len)) = (
        libc::off64_t::try_from(offset),
        libc::off64_t::try_from(len),
    ) else {
        return;
    };
    // SAFETY: the descriptor is open for as long as `file` is borrowed; the
    // call only starts writeback of the file's own pages.
    unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
}

impl Drop for Placement<'_> {
    fn drop(&mut self) {
        if self.reserved.is_some_and(|end| end > self.at) {
            // Cutting a file to its own size frees the blocks reserved past
            // its end; the data is untouched.
            if let Ok(md) = self.file.metadata() {
                let _ = self.file.set_len(md.len());
            }
        }
    }
}

/// A read timeout (`SO_RCVTIMEO`) shows as EAGAIN; name it a stall.
fn stalled_or(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => io::Error::new(
            io::ErrorKind::TimedOut,
            "no data arrived within the time limit",
        ),
        _ => e,
    }
}

/// Both ends of an anonymous pipe.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and ours.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // A bigger pipe means fewer calls; the default (64 KiB) still works.
        // SAFETY: F_SETPIPE_SZ on a pipe we own; failure is harmless.
        unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, CHUNK as libc::c_int) };
        Ok(Pipe { read, write })
    }

    /// Splices exactly `n` bytes from the pipe into `file`.
    fn drain_into(&self, file: &File, mut n: usize) -> io::Result<()> {
        while n > 0 {
            match splice(self.read.as_raw_fd(), file.as_raw_fd(), n)? {
                0 => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                m => n -= m,
            }
        }
        Ok(())
    }

    /// Reads `n` bytes out of the pipe and writes them to `file`.
    fn copy_out(&self, mut file: &File, n: usize) -> io::Result<u64> {
        let mut buf = vec![0u8; n];
        File::from(self.read.try_clone()?).read_exact(&mut buf)?;
        file.write_all(&buf)?;
        Ok(n as u64)
    }
}

/// One `splice(2)` call between two descriptors at their current
/// positions, retried on EINTR.
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: both descriptors are open for the duration of the call;
        // null offsets mean "use and advance the descriptors' positions".
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_MORE,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_machine_memory() {
        let text = "MemTotal:       24576000 kB\nMemFree:  1 kB\n";
        assert_eq!(mem_total(text), Some(24_576_000 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB"), None);
        assert_eq!(mem_total("MemTotal: lots kB"), None);
    }
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    fn into_io(e: CopyError<PastLimit>) -> io::Error {
        match e {
            CopyError::Receive(e) | CopyError::Store(e) => e,
            CopyError::Refused(e) => io::Error::other(e),
        }
    }

    async fn send_and_receive(payload: Vec<u8>, file: File) -> io::Result<u64> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let sender = tokio::spawn(async move {
            let mut peer = tokio::net::TcpStream::connect(addr).await?;
            peer.write_all(&payload).await?;
            peer.shutdown().await
        });
        let (stream, _) = listener.accept().await?;
        let mut seen = 0;
        let n = stream_to_file(
            stream,
            file,
            Duration::from_secs(10),
            None,
            true,
            &mut |n| seen = n,
        )
        .await
        .map_err(into_io)?;
        sender.await.map_err(io::Error::other)??;
        assert_eq!(seen, n);
        Ok(n)
    }

    /// The blocks reserved ahead of the writes were given back: the file
    /// holds no more than its size (rounded up to a few blocks).
    fn assert_no_blocks_past_the_end(path: &std::path::Path) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(path)?;
        let held = md.blocks() * 512;
        assert!(
            held <= md.len() + 64 * 1024,
            "{held} bytes held for a {}-byte file",
            md.len()
        );
        Ok(())
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn moves_every_byte_into_the_file_at_its_position() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("down.bin");
        std::fs::write(&path, b"head:")?;
        let mut file = std::fs::OpenOptions::new().write(true).open(&path)?;
        std::io::Seek::seek(&mut file, io::SeekFrom::End(0))?;
        let payload = pattern(9 * CHUNK + 12345);
        let n = send_and_receive(payload.clone(), file).await?;
        assert_eq!(n, payload.len() as u64);
        let got = std::fs::read(&path)?;
        assert_eq!(&got[..5], b"head:");
        assert!(got[5..] == payload[..], "content differs");
        assert_no_blocks_past_the_end(&path)?;
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_past_its_limit_is_stopped() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("limited.bin");
        let file = File::create(&path)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // An endless sender: only the limit ends the copy.
        let sender = tokio::spawn(async move {
            let mut peer = tokio::net::TcpStream::connect(addr).await?;
            let block = pattern(CHUNK);
            while peer.write_all(&block).await.is_ok() {}
            Ok::<_, io::Error>(())
        });
        let (stream, _) = listener.accept().await?;
        let limit = 5 * CHUNK as u64 / 2;
        let got = stream_to_file(
            stream,
            file,
            Duration::from_secs(10),
            Some(limit),
            false,
            &mut |_| {},
        )
        .await;
        assert!(matches!(got, Err(CopyError::Refused(PastLimit { limit: l })) if l == limit));
        assert!(std::fs::metadata(&path)?.len() <= limit);
        sender.await.map_err(io::Error::other)??;
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_append_mode_file_falls_back_to_writes() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("append.bin");
        std::fs::write(&path, b"old")?;
        let file = std::fs::OpenOptions::new().append(true).open(&path)?;
        let payload = pattern(CHUNK / 2 + 7);
        send_and_receive(payload.clone(), file).await?;
        let got = std::fs::read(&path)?;
        assert_eq!(&got[..3], b"old");
        assert!(got[3..] == payload[..], "content differs");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_chunk_is_not_written() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("gated.bin");
        let file = File::create(&path)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let payload = pattern(4 * CHUNK);
        let sender = tokio::spawn(async move {
            let mut peer = tokio::net::TcpStream::connect(addr).await?;
            // The receiver stops early; a reset is expected.
            let _ = peer.write_all(&payload).await;
            Ok::<_, io::Error>(())
        });
        let (stream, _) = listener.accept().await?;
        let socket = blocking_socket(stream, Duration::from_secs(10))?;
        let written = tokio::task::spawn_blocking(move || {
            let count = AtomicU64::new(0);
            let mut allowed = 3 * CHUNK as u64 / 2;
            let mut gate = |n: u64| match allowed.checked_sub(n) {
                Some(left) => {
                    allowed = left;
                    Ok(())
                }
                None => Err("quota"),
            };
            let hints = FileHints {
                write_behind: false,
                reserve: true,
            };
            let result = copy_into_file(&socket, &file, &mut gate, &count, hints);
            assert!(matches!(result, Err(CopyError::Refused("quota"))));
            count.load(Ordering::Relaxed)
        })
        .await
        .map_err(io::Error::other)?;
        sender.await.map_err(io::Error::other)??;
        assert!(written > 0 && written <= 3 * CHUNK as u64 / 2);
        assert_eq!(std::fs::metadata(&path)?.len(), written);
        assert_no_blocks_past_the_end(&path)?;
        Ok(())
    }

    #[test]
    fn blocks_are_reserved_only_for_a_file_past_a_mebibyte() -> io::Result<()> {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let dir = tempfile::tempdir()?;
        let file = File::create(dir.path().join("grows.bin"))?;
        let held = |file: &File| file.metadata().map(|md| md.blocks() * 512);
        let hints = FileHints {
            write_behind: false,
            reserve: true,
        };
        let mut placement = Placement::new(&file, hints);
        let block = pattern(256 * 1024);
        for _ in 0..4 {
            placement.before_write(block.len() as u64);
            file.write_all_at(&block, placement.at)?;
            placement.wrote(block.len() as u64);
            assert!(
                held(&file)? <= placement.at + 64 * 1024,
                "reserved below 1 MiB"
            );
        }
        placement.before_write(block.len() as u64);
        // As far ahead as the file is long: 1 MiB more.
        assert!(held(&file)? >= 2 << 20, "{} held", held(&file)?);
        drop(placement);
        assert!(
            held(&file)? <= (1 << 20) + 64 * 1024,
            "the reservation was given back"
        );
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_peer_is_a_stall() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = File::create(dir.path().join("stall.bin"))?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let _quiet = tokio::net::TcpStream::connect(addr).await?;
        let (stream, _) = listener.accept().await?;
        let err = stream_to_file(
            stream,
            file,
            Duration::from_millis(200),
            None,
            false,
            &mut |_| {},
        )
        .await
        .err()
        .map(into_io);
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::TimedOut));
        Ok(())
    }
}
