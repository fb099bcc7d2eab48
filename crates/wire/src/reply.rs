//! Three-digit replies as FTP, SMTP and NNTP servers send them, read with
//! hard bounds.
//!
//! A reply is one line `CODE SP text`, or several: FTP opens with
//! `CODE-text` and closes at the first line that starts with the same code
//! and a space (the lines between are free text, RFC 959 §4.2); SMTP
//! repeats `CODE-` on every line but the last (RFC 5321 §4.2.1). Both are
//! read the same way here. Everything a server sends is bounded: line
//! length by the [`LineReader`], and the number of lines and the total
//! bytes of one reply here.

use crate::line::{LineError, LineReader};
use tokio::io::AsyncRead;

/// Bounds on one reply.
#[derive(Debug, Clone, Copy)]
pub struct ReplyLimits {
    pub max_lines: usize,
    pub max_bytes: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            max_lines: 1000,
            max_bytes: 64 * 1024,
        }
    }
}

/// A reply as read: the code and every line's text (without the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReply {
    pub code: u16,
    /// The text of each line, code and separator removed from the first
    /// and last (and from middle lines that carry them, as SMTP's do).
    pub lines: Vec<Vec<u8>>,
}

impl RawReply {
    /// The text of all lines joined with newlines, lossily decoded, for
    /// messages.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first line's text.
    pub fn first_line(&self) -> &[u8] {
        self.lines.first().map_or(&[], Vec::as_slice)
    }

    /// 1xx.
    pub fn is_preliminary(&self) -> bool {
        (100..200).contains(&self.code)
    }

    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx.
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4xx.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }
}

/// Why no reply could be read.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("malformed reply line: {0:?}")]
    Malformed(String),
    #[error("reply longer than {0} lines")]
    TooManyLines(usize),
    #[error("reply longer than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Line(#[from] LineError),
}

/// Splits `CODE` and the separator (` `, `-` or end of line) off a line.
fn split_code(line: &[u8]) -> Option<(u16, u8, &[u8])> {
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = u16::from(line[0] - b'0') * 100
        + u16::from(line[1] - b'0') * 10
        + u16::from(line[2] - b'0');
    match line.get(3) {
        None => Some((code, b' ', &[])),
        Some(&sep @ (b' ' | b'-')) => Some((code, sep, &line[4..])),
        Some(_) => None,
    }
}

/// Reads one complete reply.
pub async fn read_reply<S: AsyncRead + Unpin>(
    reader: &mut LineReader<S>,
    limits: ReplyLimits,
) -> Result<RawReply, ReplyError> {
    let first = reader.read_line().await?;
    let Some((code, sep, text)) = split_code(&first) else {
        return Err(ReplyError::Malformed(
            String::from_utf8_lossy(&first).into_owned(),
        ));
    };
    if !(100..600).contains(&code) {
        return Err(ReplyError::Malformed(
            String::from_utf8_lossy(&first).into_owned(),
        ));
    }
    let mut reply = RawReply {
        code,
        lines: vec![text.to_vec()],
    };
    let mut total = first.len();
    if sep == b' ' {
        return Ok(reply);
    }
    loop {
        let line = reader.read_line().await?;
        total += line.len();
        if total > limits.max_bytes {
            return Err(ReplyError::TooLarge(limits.max_bytes));
        }
        if reply.lines.len() >= limits.max_lines {
            return Err(ReplyError::TooManyLines(limits.max_lines));
        }
        match split_code(&line) {
            Some((c, b' ', text)) if c == code => {
                reply.lines.push(text.to_vec());
                return Ok(reply);
            }
            Some((c, b'-', text)) if c == code => reply.lines.push(text.to_vec()),
            _ => reply.lines.push(line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(input: &[u8]) -> Result<RawReply, ReplyError> {
        let mut reader = LineReader::new(input, 8192);
        read_reply(&mut reader, ReplyLimits::default()).await
    }

    #[tokio::test]
    async fn single_and_multi_line() {
        let r = parse(b"220 ready\r\n").await.unwrap();
        assert_eq!((r.code, r.text()), (220, "ready".to_string()));
        let r = parse(b"211-Features:\r\n MDTM\r\n211 End\r\n")
            .await
            .unwrap();
        assert_eq!(
            r.lines,
            vec![b"Features:".to_vec(), b" MDTM".to_vec(), b"End".to_vec()]
        );
        // SMTP style: the code on every line.
        let r = parse(b"250-mx.example\r\n250-SIZE 100\r\n250 8BITMIME\r\n")
            .await
            .unwrap();
        assert_eq!(
            r.lines,
            vec![
                b"mx.example".to_vec(),
                b"SIZE 100".to_vec(),
                b"8BITMIME".to_vec()
            ]
        );
        // A bare code.
        assert_eq!(parse(b"200\r\n").await.unwrap().code, 200);
        // Another code inside does not end it.
        let r = parse(b"230-Hi\r\n220 not the end\r\n230 done\r\n")
            .await
            .unwrap();
        assert_eq!(r.lines.len(), 3);
    }

    #[tokio::test]
    async fn hostile_replies_are_bounded() {
        assert!(matches!(
            parse(b"hello\r\n").await,
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"999 x\r\n").await,
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"22x\r\n").await,
            Err(ReplyError::Malformed(_))
        ));
        let mut endless = b"211-start\r\n".to_vec();
        for _ in 0..2000 {
            endless.extend_from_slice(b"x\r\n");
        }
        assert!(matches!(
            parse(&endless).await,
            Err(ReplyError::TooManyLines(1000))
        ));
        let mut big = b"211-start\r\n".to_vec();
        for _ in 0..100 {
            big.extend_from_slice(&[b'y'; 1000]);
            big.extend_from_slice(b"\r\n");
        }
        assert!(matches!(parse(&big).await, Err(ReplyError::TooLarge(_))));
        // No final CRLF: the reply never completes.
        assert!(matches!(
            parse(b"220 ready").await,
            Err(ReplyError::Line(LineError::Truncated))
        ));
    }
}
