//! [`ImapError`]: what can go wrong talking to an IMAP server, keeping the
//! text (and response code) of a tagged NO or BAD.

use crate::response::StatusText;
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The server answered the command with NO: it understood but refused.
    #[error("server refused: {}", show(.0))]
    No(StatusText),
    /// The server answered with BAD: it did not accept the command.
    #[error("server rejected the command: {}", show(.0))]
    Bad(StatusText),
    /// The server closed the session (`* BYE`).
    #[error("server closed the session: {0}")]
    Bye(String),
    /// The login was refused (a NO to LOGIN or AUTHENTICATE).
    #[error("login refused: {}", show(.0))]
    AuthRefused(StatusText),
    /// The server lacks something the command needs.
    #[error("{0}")]
    Unsupported(String),
    #[error("bad response from the server: {0}")]
    Protocol(String),
    #[error(
        "the server announced a literal of {size} bytes, more than the limit of {limit} bytes"
    )]
    LiteralTooLarge { size: u64, limit: u64 },
    #[error("the server sent more than {0} bytes in answer to one command")]
    ResponseTooLarge(u64),
    #[error(transparent)]
    Line(#[from] wire::LineError),
    /// The I/O error is the source, so a chain of causes shows it once.
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
    #[error("{0}")]
    Argument(#[from] crate::command::ArgError),
}

fn show(s: &StatusText) -> String {
    match &s.code {
        Some(code) => format!("[{code}] {}", s.text),
        None => s.text.clone(),
    }
}

impl From<wire::TlsError> for ImapError {
    fn from(e: wire::TlsError) -> Self {
        ImapError::Tls(e.0)
    }
}

impl From<wire::connect::DialError> for ImapError {
    fn from(e: wire::connect::DialError) -> Self {
        match e {
            wire::connect::DialError::Timeout => ImapError::Timeout("connecting"),
            wire::connect::DialError::Connect(source) => ImapError::Io {
                context: "cannot connect",
                source,
            },
            wire::connect::DialError::Tls(e) => e.into(),
        }
    }
}

impl ImapError {
    /// The tagged NO/BAD the server sent, if that is what this is.
    pub fn status(&self) -> Option<&StatusText> {
        match self {
            ImapError::No(s) | ImapError::Bad(s) | ImapError::AuthRefused(s) => Some(s),
            _ => None,
        }
    }

    /// A refusal that trying again as is will not change.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ImapError::No(_) | ImapError::Bad(_) | ImapError::Unsupported(_)
        )
    }

    /// A network failure, a timeout or a closed session.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ImapError::Io { .. } | ImapError::Timeout(_) | ImapError::Line(_) | ImapError::Bye(_)
        )
    }
}

pub type Result<T> = std::result::Result<T, ImapError>;
