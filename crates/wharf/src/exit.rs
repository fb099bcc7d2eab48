//! Exit codes that scripts can rely on, derived from the error.

use ftp_client::FtpError;
use wire::error::{Classify, Failure};

pub const OK: u8 = 0;
pub const LOCAL: u8 = 1;
/// The command line asks for something impossible (as clap's own errors).
pub const USAGE: u8 = 2;
pub const REFUSED: u8 = 3;
pub const TRANSIENT: u8 = 4;
pub const LOGIN: u8 = 5;
/// Mail went out, but the server refused some recipients.
pub const PARTIAL: u8 = 6;

/// `wharf mail send` delivered to some recipients, not all.
#[derive(Debug, thiserror::Error)]
#[error("sent to {sent} recipient(s); {refused} refused")]
pub struct PartlySent {
    pub sent: usize,
    pub refused: usize,
}

/// The arguments cannot work: a missing or contradictory value that clap
/// could not see. Raised with [`usage!`](crate::usage).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// Returns a [`Usage`] error (exit code 2) from the enclosing function.
#[macro_export]
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err($crate::exit::Usage(format!($($arg)*)).into())
    };
}

/// The server refused the login.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoginFailed(pub String);

/// Chooses the exit code for an error.
pub fn code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<LoginFailed>().is_some() {
        return LOGIN;
    }
    if err.downcast_ref::<Usage>().is_some() {
        return USAGE;
    }
    if err.downcast_ref::<PartlySent>().is_some() {
        return PARTIAL;
    }
    for cause in err.chain() {
        if cause.is::<crate::mirror::HashMismatch>() {
            return TRANSIENT;
        }
        match client_failure(cause) {
            Some(Failure::Login) => return LOGIN,
            Some(Failure::Permanent) => return REFUSED,
            Some(Failure::Transient) => return TRANSIENT,
            Some(Failure::Other) | None => {}
        }
    }
    LOCAL
}

/// How a client library's error (any protocol's, or the connection
/// layer's they share) classifies itself, if `cause` is one.
fn client_failure(cause: &(dyn std::error::Error + 'static)) -> Option<Failure> {
    fn of<E: Classify + std::error::Error + 'static>(
        cause: &(dyn std::error::Error + 'static),
    ) -> Option<Failure> {
        cause.downcast_ref::<E>().map(E::failure)
    }
    of::<FtpError>(cause)
        .or_else(|| of::<mail::MailError>(cause))
        .or_else(|| of::<imap::ImapError>(cause))
        .or_else(|| of::<nntp::NntpError>(cause))
        .or_else(|| of::<wire::ClientError>(cause))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::ClientError;

    fn code_of(e: impl std::error::Error + Send + Sync + 'static) -> u8 {
        code(&anyhow::Error::new(e).context("while doing something"))
    }

    #[test]
    fn every_protocol_maps_through_its_failure() {
        let refused = || ClientError::AuthRefused {
            code: Some(535),
            text: "no".into(),
        };
        assert_eq!(code_of(mail::MailError::from(refused())), LOGIN);
        assert_eq!(code_of(nntp::NntpError::from(refused())), LOGIN);
        assert_eq!(code_of(imap::ImapError::from(refused())), LOGIN);
        let reply = |code| FtpError::Reply {
            code,
            text: "x".into(),
        };
        assert_eq!(code_of(reply(550)), REFUSED);
        assert_eq!(code_of(reply(421)), TRANSIENT);
        let status = nntp::NntpError::Status {
            code: 411,
            text: "no such group".into(),
        };
        assert_eq!(code_of(status), TRANSIENT);
        assert_eq!(code_of(ClientError::Timeout("connecting")), TRANSIENT);
        assert_eq!(
            code_of(imap::ImapError::from(wire::LineError::Closed)),
            TRANSIENT
        );
        let garbled = ClientError::Protocol("?".into());
        assert_eq!(code_of(FtpError::from(garbled)), LOCAL);
        assert_eq!(code_of(Usage("x".into())), USAGE);
    }
}
