//! A bounded, cancel-safe line reader.
//!
//! The buffer belongs to the reader, so bytes that arrive after a line
//! (pipelined commands) wait for the next call instead of being lost, and
//! cancelling a pending [`LineReader::read_line`] (for example in a
//! `tokio::select!`) loses nothing: bytes are only taken out of the buffer
//! once a whole line is there.
//!
//! A line longer than the cap is reported once as [`LineError::TooLong`]
//! and the rest of it, up to the next LF, is skipped, so the connection can
//! carry on with the next line (the FTP server answers 500 and goes on).

use std::io;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Most bytes one read adds room for.
const CHUNK: usize = 4096;
/// Least room a read is given; also the buffer an idle connection keeps.
const MIN_READ: usize = 256;

/// Why no line came back.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The peer sent more than the cap without a line end. The rest of the
    /// line is discarded; the next call starts with the following line.
    #[error("line longer than {0} bytes")]
    TooLong(usize),
    /// The peer closed the connection between lines.
    #[error("connection closed")]
    Closed,
    /// The peer closed the connection in the middle of a line.
    #[error("connection closed in the middle of a line")]
    Truncated,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads LF-terminated lines (a CR before the LF is dropped) of at most
/// `max_line` bytes from `inner`.
#[derive(Debug)]
pub struct LineReader<S> {
    inner: S,
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned for LF, so a slow sender does not
    /// make us rescan the same bytes for every byte it adds.
    scanned: usize,
    max_line: usize,
    discarding: bool,
}

impl<S> LineReader<S> {
    pub fn new(inner: S, max_line: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::with_capacity(MIN_READ),
            scanned: 0,
            max_line,
            discarding: false,
        }
    }

    /// The stream, for writing replies.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Whether part of a line has arrived but not its end. A server uses
    /// this to run a per-line deadline against slow senders.
    pub fn has_partial_line(&self) -> bool {
        !self.buf.is_empty() || self.discarding
    }

    /// The longest line this reader accepts.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Bytes received but not yet returned as lines. A TLS upgrade must
    /// start from an empty buffer: anything here was sent in plaintext
    /// after the upgrade command.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Gives back the stream; any buffered bytes are dropped.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Takes a complete line out of the buffer, if there is one.
    fn take_line(&mut self) -> Option<Result<Vec<u8>, LineError>> {
        loop {
            let lf = self.buf[self.scanned..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| i + self.scanned);
            match lf {
                Some(end) => {
                    let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                    self.scanned = 0;
                    if self.buf.is_empty() && self.buf.capacity() > CHUNK {
                        // A burst of long lines is over: give the memory back.
                        self.buf.shrink_to(MIN_READ);
                    }
                    if self.discarding {
                        self.discarding = false;
                        continue;
                    }
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if line.len() > self.max_line {
                        return Some(Err(LineError::TooLong(self.max_line)));
                    }
                    return Some(Ok(line));
                }
                None if self.discarding => {
                    self.buf.clear();
                    self.scanned = 0;
                    return None;
                }
                None if self.buf.len() > self.max_line => {
                    self.buf.clear();
                    self.scanned = 0;
                    self.discarding = true;
                    return Some(Err(LineError::TooLong(self.max_line)));
                }
                None => {
                    self.scanned = self.buf.len();
                    return None;
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> LineReader<S> {
    /// Reads the next line, without its line end.
    pub async fn read_line(&mut self) -> Result<Vec<u8>, LineError> {
        loop {
            if let Some(result) = self.take_line() {
                return result;
            }
            // Read straight into the buffer's spare room (no array on the
            // future's stack, so an idle connection waiting here holds only
            // its small buffer). `read_buf` is cancel-safe: if this future
            // is dropped here, no bytes were consumed.
            if self.buf.capacity() - self.buf.len() < MIN_READ {
                self.buf.reserve(self.buf.len().clamp(MIN_READ, CHUNK));
            }
            let n = self.inner.read_buf(&mut self.buf).await?;
            if n == 0 {
                return Err(if self.buf.is_empty() && !self.discarding {
                    LineError::Closed
                } else {
                    LineError::Truncated
                });
            }
        }
    }
}

impl<S: AsyncRead + Unpin> LineReader<S> {
    /// Reads raw bytes (an IMAP literal, say) into `out`: first what is
    /// already buffered, then from the stream. Returns 0 only at the end of
    /// the stream. Call it only between lines.
    pub async fn read_raw(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if !self.buf.is_empty() {
            let n = out.len().min(self.buf.len());
            out[..n].copy_from_slice(&self.buf[..n]);
            self.buf.drain(..n);
            self.scanned = 0;
            return Ok(n);
        }
        self.inner.read(out).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    async fn lines_of(input: &[u8], max: usize) -> Vec<Result<Vec<u8>, String>> {
        let mut reader = LineReader::new(input, max);
        let mut out = Vec::new();
        loop {
            match reader.read_line().await {
                Ok(l) => out.push(Ok(l)),
                Err(LineError::Closed) => return out,
                Err(e) => {
                    let fatal = !matches!(e, LineError::TooLong(_));
                    out.push(Err(e.to_string()));
                    if fatal {
                        return out;
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn splits_crlf_and_lf() {
        let got = lines_of(b"USER a\r\nPASS b\nQUIT\r\n", 100).await;
        assert_eq!(
            got,
            vec![
                Ok(b"USER a".to_vec()),
                Ok(b"PASS b".to_vec()),
                Ok(b"QUIT".to_vec())
            ]
        );
    }

    #[tokio::test]
    async fn overlong_line_is_reported_once_and_skipped() {
        let mut input = vec![b'x'; 100_000];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        let got = lines_of(&input, 4096).await;
        assert_eq!(
            got,
            vec![
                Err("line longer than 4096 bytes".into()),
                Ok(b"NOOP".to_vec())
            ]
        );
    }

    #[tokio::test]
    async fn raw_bytes_between_lines() {
        let mut reader = LineReader::new(&b"A {5}\r\nhello)\r\nB\r\n"[..], 100);
        assert_eq!(reader.read_line().await.unwrap(), b"A {5}");
        let mut out = [0u8; 5];
        let mut got = 0;
        while got < 5 {
            got += reader.read_raw(&mut out[got..]).await.unwrap();
        }
        assert_eq!(&out, b"hello");
        assert_eq!(reader.read_line().await.unwrap(), b")");
        assert_eq!(reader.read_line().await.unwrap(), b"B");
    }

    #[tokio::test]
    async fn truncated_at_eof() {
        let got = lines_of(b"NOOP\r\nQU", 100).await;
        assert_eq!(
            got,
            vec![
                Ok(b"NOOP".to_vec()),
                Err("connection closed in the middle of a line".into())
            ]
        );
    }

    #[tokio::test]
    async fn cancelled_read_loses_nothing() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut reader = LineReader::new(server, 100);
        use tokio::io::AsyncWriteExt;
        client.write_all(b"NO").await.unwrap();
        let timed_out =
            tokio::time::timeout(std::time::Duration::from_millis(20), reader.read_line()).await;
        assert!(timed_out.is_err());
        assert!(reader.has_partial_line());
        client.write_all(b"OP\r\nQUIT\r\n").await.unwrap();
        assert_eq!(reader.read_line().await.unwrap(), b"NOOP");
        assert_eq!(reader.buffered(), b"QUIT\r\n");
        assert_eq!(reader.read_line().await.unwrap(), b"QUIT");
    }

    proptest! {
        #[test]
        fn lines_never_exceed_cap(input in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..2000), max in 1usize..64) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            for line in rt.block_on(lines_of(&input, max)).into_iter().flatten() {
                prop_assert!(line.len() <= max);
                prop_assert!(!line.contains(&b'\n'));
            }
        }
    }
}
