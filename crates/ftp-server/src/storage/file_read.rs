//! Reads of a local file at an offset, appended to a buffer's spare
//! capacity: no zero-filling first and no intermediate buffer. The bytes
//! the page cache holds are read on the calling task (`preadv2` with
//! `RWF_NOWAIT` never waits for the disk); only what the kernel would
//! have to fetch is left for [`read_at`] on a blocking thread. This is
//! how an SFTP READ of cached bytes is answered without a thread hop.

use super::StorageError;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

/// Appends up to `want` bytes of `file` at `offset` to `out` and returns
/// how many (fewer only at the end of the file): what the page cache
/// holds on this task, the rest on a blocking thread.
pub async fn read(
    file: &Arc<File>,
    offset: u64,
    want: usize,
    out: &mut Vec<u8>,
) -> Result<usize, StorageError> {
    let cached = match read_cached(file, offset, want, out) {
        Cached::Done(n) => return Ok(n),
        Cached::Partial(n) => n,
    };
    let file = file.clone();
    let (from, rest) = (offset + cached as u64, want - cached);
    let tail = super::blocking(move || {
        let mut tail = Vec::new();
        read_at(&file, from, rest, &mut tail)?;
        Ok(tail)
    })
    .await?;
    out.extend_from_slice(&tail);
    Ok(cached + tail.len())
}

/// How far a [`read_cached`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    /// Every byte asked for was read, or every byte up to the end of the
    /// file; the count appended.
    Done(usize),
    /// This many bytes were appended; the rest is not in the page cache
    /// (or the kernel cannot read without waiting): read it with
    /// [`read_at`] off the async threads.
    Partial(usize),
}

/// Appends up to `want` bytes of `file` at `offset` to `out`, as far as
/// the page cache holds them. Never blocks on the disk.
pub fn read_cached(file: &File, offset: u64, want: usize, out: &mut Vec<u8>) -> Cached {
    let mut got = 0;
    while got < want {
        match read_into_spare(file, offset + got as u64, want - got, out, libc::RWF_NOWAIT) {
            Ok(0) => return Cached::Done(got),
            Ok(n) => got += n,
            // EAGAIN (on disk), EOPNOTSUPP (a file system without
            // RWF_NOWAIT), or a real error that the blocking read will
            // meet and report.
            Err(_) => return Cached::Partial(got),
        }
    }
    Cached::Done(got)
}

/// Appends up to `want` bytes of `file` at `offset` to `out`, waiting for
/// the disk if need be (call it where blocking is allowed); fewer only at
/// the end of the file. Returns the count appended.
pub fn read_at(file: &File, offset: u64, want: usize, out: &mut Vec<u8>) -> io::Result<usize> {
    let mut got = 0;
    while got < want {
        match read_into_spare(file, offset + got as u64, want - got, out, 0) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// One `preadv2` of at most `max` bytes into `out`'s spare capacity.
fn read_into_spare(
    file: &File,
    offset: u64,
    max: usize,
    out: &mut Vec<u8>,
    flags: libc::c_int,
) -> io::Result<usize> {
    let offset = libc::off_t::try_from(offset).map_err(io::Error::other)?;
    out.reserve(max);
    let spare = out.spare_capacity_mut();
    let iov = libc::iovec {
        iov_base: spare.as_mut_ptr().cast(),
        iov_len: max.min(spare.len()),
    };
    // SAFETY: `iov` points at `iov_len` bytes of `out`'s allocation past
    // its length, which nothing else references while `out` is borrowed
    // mutably; the descriptor is open for the call.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, offset, flags) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    // SAFETY: the kernel wrote `n <= iov_len` bytes at the old length.
    unsafe { out.set_len(out.len() + n.min(iov.iov_len)) };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_of(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn reads_append_after_what_the_buffer_holds() {
        let f = file_of(b"0123456789");
        let mut out = b"head:".to_vec();
        assert_eq!(read_at(&f, 2, 4, &mut out).unwrap(), 4);
        assert_eq!(out, b"head:2345");
        // A cached read of a file just written comes from the page cache.
        assert_eq!(read_cached(&f, 6, 3, &mut out), Cached::Done(3));
        assert_eq!(out, b"head:2345678");
    }

    #[test]
    fn reads_stop_at_the_end_of_the_file() {
        let f = file_of(b"abc");
        let mut out = Vec::new();
        assert_eq!(read_at(&f, 1, 100, &mut out).unwrap(), 2);
        assert_eq!(read_cached(&f, 0, 100, &mut out), Cached::Done(3));
        assert_eq!(read_cached(&f, 3, 100, &mut out), Cached::Done(0));
        assert_eq!(read_at(&f, 50, 10, &mut out).unwrap(), 0);
        assert_eq!(out, b"bcabc");
    }

    #[test]
    fn large_reads_fill_exactly_what_was_asked() {
        let bytes: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        let f = file_of(&bytes);
        let mut out = Vec::new();
        let got = match read_cached(&f, 1000, 300_000, &mut out) {
            Cached::Done(n) | Cached::Partial(n) => n,
        };
        read_at(&f, 1000 + got as u64, 300_000 - got, &mut out).unwrap();
        assert_eq!(out, &bytes[1000..301_000]);
    }

    #[test]
    fn an_offset_beyond_what_the_kernel_takes_is_an_error_not_a_panic() {
        let f = file_of(b"abc");
        let mut out = Vec::new();
        assert!(read_at(&f, u64::MAX, 1, &mut out).is_err());
        assert_eq!(read_cached(&f, u64::MAX, 1, &mut out), Cached::Partial(0));
        assert!(out.is_empty());
    }
}
