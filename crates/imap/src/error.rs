//! [`ImapError`]: what can go wrong talking to an IMAP server, keeping the
//! text (and response code) of a tagged NO or BAD.

use crate::response::StatusText;
use wire::error::{Classify, Failure};
use wire::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// What every client can meet: connecting, TLS, I/O, timeouts,
    /// unreadable lines, responses that break the protocol, a refused
    /// login (a NO to LOGIN or AUTHENTICATE, with its response code).
    #[error(transparent)]
    Wire(#[from] ClientError),
    /// The server answered the command with NO: it understood but refused.
    #[error("server refused: {}", show(.0))]
    No(StatusText),
    /// The server answered with BAD: it did not accept the command.
    #[error("server rejected the command: {}", show(.0))]
    Bad(StatusText),
    /// The server closed the session (`* BYE`).
    #[error("server closed the session: {0}")]
    Bye(String),
    /// The server lacks something the command needs.
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "the server announced a literal of {size} bytes, more than the limit of {limit} bytes"
    )]
    LiteralTooLarge { size: u64, limit: u64 },
    #[error("the server sent more than {0} bytes in answer to one command")]
    ResponseTooLarge(u64),
    #[error("{0}")]
    Argument(#[from] crate::command::ArgError),
}

wire::from_client_errors!(ImapError);

/// A status as the server sent it: `[CODE] text`.
pub(crate) fn show(s: &StatusText) -> String {
    match &s.code {
        Some(code) => format!("[{code}] {}", s.text),
        None => s.text.clone(),
    }
}

impl ImapError {
    /// The tagged NO/BAD the server sent, if that is what this is.
    pub fn status(&self) -> Option<&StatusText> {
        match self {
            ImapError::No(s) | ImapError::Bad(s) => Some(s),
            _ => None,
        }
    }

    /// The login was refused, with the server's NO: the error for it.
    pub(crate) fn auth_refused(status: &StatusText) -> ImapError {
        ClientError::AuthRefused {
            code: None,
            text: show(status),
        }
        .into()
    }
}

impl Classify for ImapError {
    /// NO, BAD and a missing capability are permanent; a network failure,
    /// a timeout or a closed session is transient.
    fn failure(&self) -> Failure {
        match self {
            ImapError::Wire(e) => e.failure(),
            ImapError::No(_) | ImapError::Bad(_) | ImapError::Unsupported(_) => Failure::Permanent,
            ImapError::Bye(_) => Failure::Transient,
            _ => Failure::Other,
        }
    }
}

pub type Result<T> = std::result::Result<T, ImapError>;
