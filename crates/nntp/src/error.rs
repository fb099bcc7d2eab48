//! [`NntpError`]: what can go wrong talking to a news server, keeping the
//! server's status code and text where there is one.

use wire::error::{Classify, Failure};
use wire::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum NntpError {
    /// What every client can meet: connecting, TLS, I/O, timeouts,
    /// unreadable lines and blocks, responses that break the protocol,
    /// refused authentication (481, 482, 502 after AUTHINFO).
    #[error(transparent)]
    Wire(#[from] ClientError),
    /// The server refused: its status code and text.
    #[error("server replied {code} {text}")]
    Status { code: u16, text: String },
    /// A command argument that cannot be sent (CR, LF, NUL).
    #[error("{0}")]
    Invalid(String),
}

wire::from_client_errors!(NntpError);

impl NntpError {
    pub fn code(&self) -> Option<u16> {
        match self {
            NntpError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl Classify for NntpError {
    /// A 5xx status is permanent; a 4xx status or a network failure is
    /// transient.
    fn failure(&self) -> Failure {
        match self {
            NntpError::Wire(e) => e.failure(),
            NntpError::Status { code, .. } => Failure::of_code(*code),
            NntpError::Invalid(_) => Failure::Other,
        }
    }
}

pub type Result<T> = std::result::Result<T, NntpError>;
