//! Dot-stuffed blocks: the multi-line bodies of NNTP (ARTICLE, OVER,
//! POST), POP3 (RETR, LIST) and SMTP (DATA).
//!
//! On the wire a block is lines ended by CRLF, closed by a line holding
//! a single `.`; a line that starts with `.` is sent with one more `.` in
//! front (RFC 3977 §3.1.1, RFC 1939 §3, RFC 5321 §4.5.2). Reading goes
//! through the bounded [`LineReader`] one line at a time, so a block of
//! any size streams in bounded memory, and a block larger than its limit,
//! or one cut off before its `.`, is an error rather than a hang or a
//! silent truncation. Writing normalises bare CR and LF to CRLF first.

use crate::line::{LineError, LineReader};
use tokio::io::AsyncRead;

/// Why a block could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DotError {
    #[error("block larger than {0} bytes")]
    TooLarge(u64),
    #[error("connection closed before the end of the block")]
    Unterminated,
    #[error(transparent)]
    Line(LineError),
}

/// Reads one dot-terminated block, a line at a time.
#[derive(Debug)]
pub struct DotReader<'a, S> {
    reader: &'a mut LineReader<S>,
    limit: u64,
    read: u64,
    done: bool,
}

impl<'a, S: AsyncRead + Unpin> DotReader<'a, S> {
    /// A block of at most `limit` bytes.
    pub fn new(reader: &'a mut LineReader<S>, limit: u64) -> Self {
        DotReader {
            reader,
            limit,
            read: 0,
            done: false,
        }
    }

    /// The next line, unstuffed and without its CRLF; `None` at the end.
    pub async fn next_line(&mut self) -> Result<Option<Vec<u8>>, DotError> {
        if self.done {
            return Ok(None);
        }
        let mut line = match self.reader.read_line().await {
            Ok(line) => line,
            Err(LineError::Closed | LineError::Truncated) => return Err(DotError::Unterminated),
            Err(e) => return Err(DotError::Line(e)),
        };
        self.read += line.len() as u64 + 2;
        if self.read > self.limit {
            return Err(DotError::TooLarge(self.limit));
        }
        if line == b"." {
            self.done = true;
            return Ok(None);
        }
        if line.first() == Some(&b'.') {
            line.remove(0);
        }
        Ok(Some(line))
    }

    /// The whole block, lines joined with `\n`.
    pub async fn read_all(mut self) -> Result<Vec<u8>, DotError> {
        let mut out = Vec::new();
        while let Some(line) = self.next_line().await? {
            out.extend_from_slice(&line);
            out.push(b'\n');
        }
        Ok(out)
    }
}

/// Encodes `body` as a block: line ends become CRLF (a bare CR or LF
/// counts as one), lines starting with `.` get another, and the closing
/// `.` line is appended. A body without a final line end gets one.
pub fn stuff(body: &[u8], out: &mut Vec<u8>) {
    let mut stuffer = Stuffer::default();
    stuffer.push(body, out);
    stuffer.finish(out);
}

/// [`stuff`] for a body that arrives in pieces (an SMTP DATA streamed
/// from a file): the state between pieces is whether the next byte
/// starts a line and whether the last one was a CR (so a CRLF split
/// across two pieces stays one line end).
#[derive(Debug)]
pub struct Stuffer {
    at_line_start: bool,
    after_cr: bool,
}

impl Default for Stuffer {
    fn default() -> Self {
        Stuffer {
            at_line_start: true,
            after_cr: false,
        }
    }
}

impl Stuffer {
    /// Appends the encoding of `chunk` to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + chunk.len() / 32);
        for &b in chunk {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            match b {
                b'\r' | b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    self.at_line_start = true;
                    self.after_cr = b == b'\r';
                }
                _ => {
                    if self.at_line_start && b == b'.' {
                        out.push(b'.');
                    }
                    out.push(b);
                    self.at_line_start = false;
                }
            }
        }
    }

    /// Ends the last line if it is open and appends the closing `.` line.
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    async fn read(input: &[u8], limit: u64) -> Result<Vec<u8>, DotError> {
        let mut lines = LineReader::new(input, 1024);
        DotReader::new(&mut lines, limit).read_all().await
    }

    #[test]
    fn stuffing() {
        let mut out = Vec::new();
        stuff(b".a\n..b\r\nc\rd", &mut out);
        assert_eq!(out, b"..a\r\n...b\r\nc\r\nd\r\n.\r\n");
        let mut out = Vec::new();
        stuff(b"", &mut out);
        assert_eq!(out, b".\r\n");
        let mut out = Vec::new();
        stuff(b".", &mut out);
        assert_eq!(out, b"..\r\n.\r\n");
    }

    #[tokio::test]
    async fn reading() {
        assert_eq!(
            read(b"..a\r\nb\r\n.\r\nrest", 100).await.unwrap(),
            b".a\nb\n"
        );
        assert!(matches!(
            read(b"a\r\nb\r\n", 100).await,
            Err(DotError::Unterminated)
        ));
        assert!(matches!(
            read(b"aaaaaaaaaa\r\n.\r\n", 5).await,
            Err(DotError::TooLarge(5))
        ));
    }

    #[test]
    fn stuffing_in_pieces_matches_stuffing_whole() {
        let body = b"a\r\n.b\r\r\n..\n.\rx";
        let mut whole = Vec::new();
        stuff(body, &mut whole);
        for split in 0..body.len() {
            let mut s = Stuffer::default();
            let mut out = Vec::new();
            s.push(&body[..split], &mut out);
            s.push(&body[split..], &mut out);
            s.finish(&mut out);
            assert_eq!(out, whole, "split at {split}");
        }
        assert_eq!(whole, b"a\r\n..b\r\n\r\n...\r\n..\r\nx\r\n.\r\n");
    }

    proptest! {
        #[test]
        fn round_trip(lines in proptest::collection::vec("[.a-z ]{0,8}", 0..8)) {
            let body: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
            let mut wire = Vec::new();
            stuff(&body, &mut wire);
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let back = rt.block_on(read(&wire, 1 << 20)).unwrap();
            prop_assert_eq!(back, body);
        }
    }
}
