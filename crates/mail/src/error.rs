//! [`MailError`]: the one error type of the SMTP and POP3 clients. A
//! refusal keeps the server's code (SMTP) and text, so that a caller can
//! tell a permanent refusal from a temporary one.

use wire::{DotError, LineError, ReplyError, TlsError};

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
    /// Shown as the context alone: the I/O error follows as the source.
    #[error("{context}")]
    Io {
        context: &'static str,
        source: std::io::Error,
    },
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("reading the server's reply: {0}")]
    Line(#[from] LineError),
    #[error("reading the server's reply: {0}")]
    Reply(#[from] ReplyError),
    #[error("reading a multi-line answer: {0}")]
    Block(#[from] DotError),
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
    /// The login was refused (SMTP 535 and friends, POP3 -ERR to PASS/APOP/AUTH).
    #[error("login refused: {text}")]
    Auth { code: Option<u16>, text: String },
    /// Not one recipient was accepted: nothing was sent.
    #[error("every recipient was refused: {}", list(.0))]
    AllRecipientsRefused(Vec<Refusal>),
    /// The message is larger than the server's SIZE limit (RFC 1870).
    #[error("the message is {size} bytes; the server takes at most {limit}")]
    TooLarge { size: u64, limit: u64 },
    /// The server lacks something this operation needs.
    #[error("{0}")]
    NotSupported(String),
    /// The server broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A command argument that cannot be sent (CR, LF, ...).
    #[error("{0}")]
    Invalid(String),
}

fn list(refused: &[Refusal]) -> String {
    refused
        .iter()
        .map(|r| format!("{} ({} {})", r.recipient, r.code, r.text))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<wire::connect::DialError> for MailError {
    fn from(e: wire::connect::DialError) -> Self {
        match e {
            wire::connect::DialError::Timeout => MailError::Timeout("connecting"),
            wire::connect::DialError::Connect(source) => MailError::Io {
                context: "cannot connect",
                source,
            },
            wire::connect::DialError::Tls(e) => e.into(),
        }
    }
}

impl MailError {
    /// The SMTP reply code, when the server sent one.
    pub fn code(&self) -> Option<u16> {
        match self {
            MailError::Smtp { code, .. } => Some(*code),
            MailError::Auth { code, .. } => *code,
            MailError::AllRecipientsRefused(r) => r.first().map(|r| r.code),
            _ => None,
        }
    }

    /// The server said no for good (5xx, -ERR, too large, every recipient refused).
    pub fn is_permanent(&self) -> bool {
        match self {
            MailError::Pop3 { .. } | MailError::TooLarge { .. } => true,
            MailError::AllRecipientsRefused(r) => r.iter().all(|r| r.code >= 500),
            _ => self.code().is_some_and(|c| c >= 500),
        }
    }

    /// Trying again later may work (4xx, timeouts, dropped connections).
    pub fn is_transient(&self) -> bool {
        match self {
            MailError::Timeout(_) | MailError::Io { .. } | MailError::Line(_) => true,
            _ => self.code().is_some_and(|c| (400..500).contains(&c)),
        }
    }
}
