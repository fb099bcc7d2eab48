//! [`FtpError`]: everything that can go wrong talking to an FTP server,
//! keeping the server's own reply code and text where there is one.

use std::io;
use wire::error::{Classify, Failure};
use wire::ClientError;

/// An FTP client error.
#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    /// What every client can meet: connecting, TLS, I/O, timeouts,
    /// unreadable replies, replies that break the protocol.
    #[error(transparent)]
    Wire(#[from] ClientError),
    /// The server refused: its reply code and text, as it sent them.
    #[error("server replied {code} {text}")]
    Reply { code: u16, text: String },
    /// A download did not match the size the server announced (SIZE, or a
    /// listing): it ended short, or it ran past the size and was stopped.
    /// Sizes count from the start of the file, resumed bytes included.
    #[error("the server announced {expected} bytes and {}", sent_text(*.received, *.expected))]
    SizeMismatch { expected: u64, received: u64 },
}

wire::from_client_errors!(FtpError);

impl FtpError {
    pub(crate) fn io(context: &'static str) -> impl FnOnce(io::Error) -> FtpError {
        move |source| ClientError::Io { context, source }.into()
    }

    /// The server's reply code, if the error is a reply.
    pub fn code(&self) -> Option<u16> {
        match self {
            FtpError::Reply { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl Classify for FtpError {
    /// A 5xx reply is permanent; a 4xx reply, a network failure (the
    /// control connection closed or reset included) or a short download
    /// is transient.
    fn failure(&self) -> Failure {
        match self {
            FtpError::Wire(e) => e.failure(),
            FtpError::Reply { code, .. } => Failure::of_code(*code),
            FtpError::SizeMismatch { .. } => Failure::Transient,
        }
    }
}

fn sent_text(received: u64, expected: u64) -> String {
    if received > expected {
        "sent more; the download was stopped".into()
    } else {
        format!("sent {received}")
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, FtpError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_short_downloads() {
        let reply = |code| FtpError::Reply {
            code,
            text: "x".into(),
        };
        assert!(reply(550).is_permanent() && !reply(550).is_transient());
        assert!(reply(421).is_transient());
        let short = FtpError::SizeMismatch {
            expected: 2,
            received: 1,
        };
        assert!(short.is_transient());
        let lost = FtpError::from(wire::ReplyError::Line(wire::LineError::Closed));
        assert!(lost.is_transient());
    }
}
