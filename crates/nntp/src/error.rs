//! [`NntpError`]: what can go wrong talking to a news server, keeping the
//! server's status code and text where there is one.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum NntpError {
    /// The server refused: its status code and text.
    #[error("server replied {code} {text}")]
    Status { code: u16, text: String },
    /// Authentication was refused (481, 482, 502 after AUTHINFO).
    #[error("authentication refused: {0}")]
    AuthRefused(String),
    #[error("bad response from the server: {0}")]
    Protocol(String),
    #[error(transparent)]
    Block(#[from] wire::DotError),
    #[error(transparent)]
    Line(#[from] wire::LineError),
    /// The cause is the source, shown by `{:#}` and error reporters, not
    /// repeated in this message.
    #[error("{context}")]
    Io {
        context: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("timed out {0}")]
    Timeout(&'static str),
}

impl From<wire::TlsError> for NntpError {
    fn from(e: wire::TlsError) -> Self {
        NntpError::Tls(e.0)
    }
}

impl From<wire::connect::DialError> for NntpError {
    fn from(e: wire::connect::DialError) -> Self {
        match e {
            wire::connect::DialError::Timeout => NntpError::Timeout("connecting"),
            wire::connect::DialError::Connect(source) => NntpError::Io {
                context: "cannot connect",
                source,
            },
            wire::connect::DialError::Tls(e) => e.into(),
        }
    }
}

impl NntpError {
    pub fn code(&self) -> Option<u16> {
        match self {
            NntpError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A 5xx status: trying again as is will not help.
    pub fn is_permanent(&self) -> bool {
        self.code().is_some_and(|c| c >= 500)
    }

    /// A 4xx status or a network failure.
    pub fn is_transient(&self) -> bool {
        match self {
            NntpError::Status { code, .. } => (400..500).contains(code),
            NntpError::Io { .. } | NntpError::Timeout(_) | NntpError::Line(_) => true,
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, NntpError>;
