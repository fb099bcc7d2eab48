//! What every client connection shares, whatever its protocol (FTP, SMTP,
//! POP3, IMAP, NNTP): the one TLS policy ([`TlsPolicy`]) and the one
//! transcript of the dialogue ([`Transcript`], lines as they were sent or
//! received, secrets already masked).

use std::sync::Arc;

/// Whether and how a connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// Plaintext all along.
    #[default]
    Plain,
    /// Plaintext greeting, then the protocol's upgrade (FTP `AUTH TLS`,
    /// SMTP/IMAP/NNTP `STARTTLS`, POP3 `STLS`); a server that refuses it
    /// is an error, never a fallback to plaintext.
    StartTls,
    /// TLS from the first byte (ftps, smtps, pop3s, imaps, nntps).
    Implicit,
}

impl TlsPolicy {
    /// This policy (a URL's), made at least STARTTLS when the user
    /// `demands` TLS (`--tls`); implicit TLS stays as it is.
    pub fn demanding(self, demands: bool) -> TlsPolicy {
        match (self, demands) {
            (TlsPolicy::Implicit, _) => TlsPolicy::Implicit,
            (_, true) => TlsPolicy::StartTls,
            (policy, false) => policy,
        }
    }
}

/// Which way a line of the dialogue went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

impl Direction {
    /// `>` for a line sent, `<` for one received, as `-v` shows them.
    pub fn arrow(self) -> char {
        match self {
            Direction::Sent => '>',
            Direction::Received => '<',
        }
    }
}

/// Receives every line of a dialogue; passwords and authentication
/// exchanges arrive already masked.
pub type Transcript = Arc<dyn Fn(Direction, &str) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows_and_the_default_policy() {
        assert_eq!(Direction::Sent.arrow(), '>');
        assert_eq!(Direction::Received.arrow(), '<');
        assert_eq!(TlsPolicy::default(), TlsPolicy::Plain);
        assert_eq!(TlsPolicy::Plain.demanding(true), TlsPolicy::StartTls);
        assert_eq!(TlsPolicy::Plain.demanding(false), TlsPolicy::Plain);
        assert_eq!(TlsPolicy::Implicit.demanding(true), TlsPolicy::Implicit);
        assert_eq!(TlsPolicy::Implicit.demanding(false), TlsPolicy::Implicit);
    }
}
