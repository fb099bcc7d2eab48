//! [`MailError`]: the one error type of the SMTP and POP3 clients. A
//! refusal keeps the server's code (SMTP) and text, so that a caller can
//! tell a permanent refusal from a temporary one.

use wire::error::{Classify, Failure};
use wire::ClientError;

pub type Result<T, E = MailError> = std::result::Result<T, E>;

/// One recipient the server would not take, as `RCPT TO` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub recipient: String,
    pub code: u16,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// What every client can meet: connecting, TLS, I/O, timeouts,
    /// unreadable lines and blocks, answers that break the protocol, a
    /// refused login (SMTP 535 and friends, POP3 -ERR to PASS/APOP/AUTH).
    #[error(transparent)]
    Wire(#[from] ClientError),
    /// The SMTP server answered a command with a 4xx or 5xx reply.
    #[error("{command} refused: {code} {text}")]
    Smtp {
        command: String,
        code: u16,
        text: String,
    },
    /// The POP3 server answered `-ERR`.
    #[error("{command} refused: -ERR {text}")]
    Pop3 { command: String, text: String },
    /// Not one recipient was accepted: nothing was sent.
    #[error("every recipient was refused: {}", list(.0))]
    AllRecipientsRefused(Vec<Refusal>),
    /// The message is larger than the server's SIZE limit (RFC 1870).
    #[error("the message is {size} bytes; the server takes at most {limit}")]
    TooLarge { size: u64, limit: u64 },
    /// The server lacks something this operation needs.
    #[error("{0}")]
    NotSupported(String),
    /// A command argument that cannot be sent (CR, LF, ...).
    #[error("{0}")]
    Invalid(String),
}

wire::from_client_errors!(MailError);

fn list(refused: &[Refusal]) -> String {
    refused
        .iter()
        .map(|r| format!("{} ({} {})", r.recipient, r.code, r.text))
        .collect::<Vec<_>>()
        .join("; ")
}

impl MailError {
    /// The SMTP reply code, when the server sent one.
    pub fn code(&self) -> Option<u16> {
        match self {
            MailError::Smtp { code, .. } => Some(*code),
            MailError::Wire(ClientError::AuthRefused { code, .. }) => *code,
            MailError::AllRecipientsRefused(r) => r.first().map(|r| r.code),
            _ => None,
        }
    }
}

impl Classify for MailError {
    /// Permanent: 5xx, -ERR, too large, every recipient refused for good.
    /// Transient: 4xx, timeouts, dropped connections.
    fn failure(&self) -> Failure {
        match self {
            MailError::Wire(e) => e.failure(),
            MailError::Pop3 { .. } | MailError::TooLarge { .. } => Failure::Permanent,
            MailError::AllRecipientsRefused(r) if r.iter().all(|r| r.code >= 500) => {
                Failure::Permanent
            }
            _ => self.code().map_or(Failure::Other, Failure::of_code),
        }
    }
}
