//! [`FtpError`]: everything that can go wrong talking to an FTP server,
//! keeping the server's own reply code and text where there is one.

use std::io;
use wire::{LineError, ReplyError};

/// An FTP client error.
#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    /// The server refused: its reply code and text, as it sent them.
    #[error("server replied {code} {text}")]
    Reply { code: u16, text: String },
    /// The server's reply could not be read (malformed, too long, cut off).
    #[error("bad reply from the server: {0}")]
    BadReply(#[from] ReplyError),
    /// A network or file error, with what was being done.
    /// The cause is the source, shown by `{:#}` and error reporters, not
    /// repeated in this message.
    #[error("{context}")]
    Io {
        context: &'static str,
        #[source]
        source: io::Error,
    },
    /// TLS could not be set up or failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// A wait ran out.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// A download did not match the size the server announced (SIZE, or a
    /// listing): it ended short, or it ran past the size and was stopped.
    /// Sizes count from the start of the file, resumed bytes included.
    #[error("the server announced {expected} bytes and {}", sent_text(*.received, *.expected))]
    SizeMismatch { expected: u64, received: u64 },
    /// The server broke the protocol in a way not covered above.
    #[error("{0}")]
    Protocol(String),
}

impl From<wire::TlsError> for FtpError {
    fn from(e: wire::TlsError) -> Self {
        FtpError::Tls(e.0)
    }
}

impl From<wire::connect::DialError> for FtpError {
    fn from(e: wire::connect::DialError) -> Self {
        match e {
            wire::connect::DialError::Timeout => FtpError::Timeout("connecting"),
            wire::connect::DialError::Connect(source) => FtpError::Io {
                context: "cannot connect",
                source,
            },
            wire::connect::DialError::Tls(e) => e.into(),
        }
    }
}

impl FtpError {
    pub(crate) fn io(context: &'static str) -> impl FnOnce(io::Error) -> FtpError {
        move |source| FtpError::Io { context, source }
    }

    /// The server's reply code, if the error is a reply.
    pub fn code(&self) -> Option<u16> {
        match self {
            FtpError::Reply { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A 5xx reply: trying again as is will not help.
    pub fn is_permanent(&self) -> bool {
        self.code().is_some_and(|c| (500..600).contains(&c))
    }

    /// A 4xx reply or a network failure (the control connection closed or
    /// reset included): trying again may help.
    pub fn is_transient(&self) -> bool {
        match self {
            FtpError::Reply { code, .. } => (400..500).contains(code),
            FtpError::Io { .. } | FtpError::Timeout(_) | FtpError::SizeMismatch { .. } => true,
            FtpError::BadReply(ReplyError::Line(line)) => matches!(
                line,
                LineError::Closed | LineError::Truncated | LineError::Io(_)
            ),
            _ => false,
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
    fn a_lost_connection_is_transient_a_garbled_reply_is_not() {
        let lost = |e| FtpError::BadReply(ReplyError::Line(e));
        assert!(lost(LineError::Closed).is_transient());
        assert!(lost(LineError::Truncated).is_transient());
        assert!(lost(LineError::Io(io::ErrorKind::ConnectionReset.into())).is_transient());
        assert!(!lost(LineError::TooLong(8192)).is_transient());
        assert!(!FtpError::BadReply(ReplyError::Malformed("x".into())).is_transient());
    }
}
