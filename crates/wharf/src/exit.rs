//! Exit codes that scripts can rely on, derived from the error.

use ftp_client::FtpError;

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
        if let Some(e) = cause.downcast_ref::<mail::MailError>() {
            if matches!(e, mail::MailError::Auth { .. }) {
                return LOGIN;
            }
            if e.is_permanent() {
                return REFUSED;
            }
            if e.is_transient() {
                return TRANSIENT;
            }
        }
        if let Some(e) = cause.downcast_ref::<nntp::NntpError>() {
            if matches!(e, nntp::NntpError::AuthRefused(_)) {
                return LOGIN;
            }
            if e.is_permanent() {
                return REFUSED;
            }
            if e.is_transient() {
                return TRANSIENT;
            }
        }
        if let Some(e) = cause.downcast_ref::<imap::ImapError>() {
            if matches!(e, imap::ImapError::AuthRefused(_)) {
                return LOGIN;
            }
            if e.is_permanent() {
                return REFUSED;
            }
            if e.is_transient() {
                return TRANSIENT;
            }
        }
        if let Some(e) = cause.downcast_ref::<FtpError>() {
            if e.is_permanent() {
                return REFUSED;
            }
            if e.is_transient() {
                return TRANSIENT;
            }
        }
    }
    LOCAL
}
