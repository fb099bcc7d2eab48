//! [`ClientError`]: the failures every client shares, whatever its
//! protocol (connecting, TLS, I/O with what was being done, timeouts,
//! lines too long or cut off, replies that break the protocol, a refused
//! login), and [`Failure`], how a caller should treat an error.
//!
//! Each protocol's error wraps a `ClientError` (`#[error(transparent)]
//! Wire(#[from] ClientError)`) beside the variants only that protocol has
//! (an FTP reply code, an IMAP `NO`), and says through [`Classify`] which
//! [`Failure`] it is, so that exit codes and retries are decided in one
//! place for every protocol. [`from_client_errors!`](crate::from_client_errors)
//! gives such an error the `From` conversions `?` needs.

use crate::connect::DialError;
use crate::{DotError, LineError, ReplyError, TlsError};
use std::io;

/// What can go wrong the same way in every client.
///
/// Messages carry the detail of the error inside them; only [`Io`] has a
/// source, shown after its context by `{:#}` and error reporters.
///
/// [`Io`]: ClientError::Io
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A network error, with what was being done.
    #[error("{context}")]
    Io {
        context: &'static str,
        #[source]
        source: io::Error,
    },
    /// A wait ran out (`what` was being done).
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// TLS could not be set up or failed.
    #[error("TLS: {0}")]
    Tls(TlsError),
    /// A line could not be read: too long, cut off, or the connection closed.
    #[error("reading the server's reply: {0}")]
    Line(LineError),
    /// A three-digit reply could not be read.
    #[error("bad reply from the server: {0}")]
    Reply(ReplyError),
    /// A dot-terminated block could not be read.
    #[error("reading a multi-line answer: {0}")]
    Block(DotError),
    /// The server answered in a way the protocol does not allow.
    #[error("bad response from the server: {0}")]
    Protocol(String),
    /// The server refused the login (with its reply code, if it has codes).
    #[error("login refused: {text}")]
    AuthRefused { code: Option<u16>, text: String },
}

impl ClientError {
    /// Makes an [`Io`](ClientError::Io) error of an I/O error, saying what
    /// was being done.
    pub fn io(context: &'static str) -> impl FnOnce(io::Error) -> ClientError {
        move |source| ClientError::Io { context, source }
    }
}

impl From<TlsError> for ClientError {
    fn from(e: TlsError) -> Self {
        ClientError::Tls(e)
    }
}

impl From<LineError> for ClientError {
    fn from(e: LineError) -> Self {
        ClientError::Line(e)
    }
}

impl From<ReplyError> for ClientError {
    fn from(e: ReplyError) -> Self {
        ClientError::Reply(e)
    }
}

impl From<DotError> for ClientError {
    fn from(e: DotError) -> Self {
        ClientError::Block(e)
    }
}

impl From<DialError> for ClientError {
    fn from(e: DialError) -> Self {
        match e {
            DialError::Timeout => ClientError::Timeout("connecting"),
            DialError::Connect(source) => ClientError::Io {
                context: "cannot connect",
                source,
            },
            DialError::Tls(e) => ClientError::Tls(e),
        }
    }
}

/// How a caller should treat an error (the exit code of `wharf`, whether
/// a mirror tries again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server refused the login.
    Login,
    /// The server said no for good: trying again as is will not help.
    Permanent,
    /// A temporary refusal or a lost connection: trying again may help.
    Transient,
    /// Neither: a broken server, a bad argument, TLS that cannot work.
    Other,
}

impl Failure {
    /// A refusal with a three-digit reply `code` (FTP, SMTP, NNTP): 4xx is
    /// transient, 5xx permanent.
    pub fn of_code(code: u16) -> Failure {
        match code {
            400..=499 => Failure::Transient,
            500..=599 => Failure::Permanent,
            _ => Failure::Other,
        }
    }

    /// A line that could not be read: the connection lost is transient,
    /// a line too long is not.
    fn of_line(e: &LineError) -> Failure {
        match e {
            LineError::Closed | LineError::Truncated | LineError::Io(_) => Failure::Transient,
            LineError::TooLong(_) => Failure::Other,
        }
    }
}

/// An error that knows which [`Failure`] it is.
pub trait Classify {
    fn failure(&self) -> Failure;

    /// The server said no for good (see [`Failure::Permanent`]).
    fn is_permanent(&self) -> bool {
        self.failure() == Failure::Permanent
    }

    /// Trying again may help (see [`Failure::Transient`]).
    fn is_transient(&self) -> bool {
        self.failure() == Failure::Transient
    }
}

impl Classify for ClientError {
    fn failure(&self) -> Failure {
        match self {
            ClientError::Io { .. } | ClientError::Timeout(_) => Failure::Transient,
            ClientError::Line(line)
            | ClientError::Reply(ReplyError::Line(line))
            | ClientError::Block(DotError::Line(line)) => Failure::of_line(line),
            ClientError::Block(DotError::Unterminated) => Failure::Transient,
            ClientError::AuthRefused { .. } => Failure::Login,
            ClientError::Tls(_)
            | ClientError::Reply(_)
            | ClientError::Block(_)
            | ClientError::Protocol(_) => Failure::Other,
        }
    }
}

/// Implements `From` for wire's errors (TLS, line, reply, block, dial) on
/// a protocol error that has `From<ClientError>`, so that `?` converts
/// them through [`ClientError`].
#[macro_export]
macro_rules! from_client_errors {
    ($target:ty) => {
        $crate::from_client_errors!(
            $target: $crate::TlsError,
            $crate::LineError,
            $crate::ReplyError,
            $crate::DotError,
            $crate::connect::DialError
        );
    };
    ($target:ty: $($source:ty),+) => {
        $(
            impl From<$source> for $target {
                fn from(e: $source) -> Self {
                    <$target>::from($crate::ClientError::from(e))
                }
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_transient_a_garbled_reply_is_not() {
        let line = |e| ClientError::Reply(ReplyError::Line(e)).failure();
        assert_eq!(line(LineError::Closed), Failure::Transient);
        assert_eq!(line(LineError::Truncated), Failure::Transient);
        let reset = LineError::Io(io::ErrorKind::ConnectionReset.into());
        assert_eq!(line(reset), Failure::Transient);
        assert_eq!(line(LineError::TooLong(8192)), Failure::Other);
        let garbled = ClientError::Reply(ReplyError::Malformed("x".into()));
        assert!(!garbled.is_transient() && !garbled.is_permanent());
        assert!(ClientError::Timeout("x").is_transient());
        assert!(ClientError::from(DotError::Unterminated).is_transient());
        let refused = ClientError::AuthRefused {
            code: Some(535),
            text: "no".into(),
        };
        assert_eq!(refused.failure(), Failure::Login);
    }

    #[test]
    fn reply_codes_and_dial_errors() {
        assert_eq!(Failure::of_code(421), Failure::Transient);
        assert_eq!(Failure::of_code(550), Failure::Permanent);
        assert_eq!(Failure::of_code(250), Failure::Other);
        let e = ClientError::from(DialError::Timeout);
        assert_eq!(e.to_string(), "timed out connecting");
        let e = ClientError::from(DialError::Connect(io::ErrorKind::ConnectionRefused.into()));
        assert!(matches!(
            e,
            ClientError::Io {
                context: "cannot connect",
                ..
            }
        ));
        assert_eq!(
            ClientError::from(TlsError("bad".into())).to_string(),
            "TLS: bad"
        );
    }
}
