//! What every client connection shares, whatever its protocol (FTP, SMTP,
//! POP3, IMAP, NNTP): the one TLS policy ([`TlsPolicy`]), opening the
//! connection ([`dial`]: TCP within a deadline, then TLS from the first
//! byte when the policy says so), and the one transcript of the dialogue
//! ([`Transcript`], lines as they were sent or received, secrets already
//! masked). The protocols' own upgrades (AUTH TLS, STARTTLS, STLS) run
//! the [`ClientTls`] that [`dial`] returns.

use crate::{ClientTls, MaybeTls, TlsError};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

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

/// A connection as a protocol starts on it.
#[derive(Debug)]
pub struct Dialed {
    pub stream: MaybeTls,
    /// The verifier for TLS now (implicit) or later (the protocol's
    /// upgrade); `None` under [`TlsPolicy::Plain`].
    pub tls: Option<ClientTls>,
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("timed out connecting")]
    Timeout,
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Where and how to connect.
#[derive(Debug, Clone, Copy)]
pub struct Dial<'a> {
    pub host: &'a str,
    pub port: u16,
    pub policy: TlsPolicy,
    /// Trust only these certificates (PEM) instead of the system's.
    pub cacert: Option<&'a Path>,
    /// Offer TLS 1.3 as well as 1.2.
    pub tls13: bool,
    /// For the TCP connection and the TLS handshake each.
    pub timeout: Duration,
}

/// Opens the connection `d` describes: TCP (no Nagle delay) within its
/// timeout, and the TLS handshake at once under [`TlsPolicy::Implicit`].
pub async fn dial(d: Dial<'_>) -> Result<Dialed, DialError> {
    let tcp = tokio::time::timeout(d.timeout, TcpStream::connect((d.host, d.port)))
        .await
        .map_err(|_| DialError::Timeout)?
        .map_err(DialError::Connect)?;
    tcp.set_nodelay(true).map_err(DialError::Connect)?;
    let peer = tcp.peer_addr().map_err(DialError::Connect)?;
    let local = tcp.local_addr().map_err(DialError::Connect)?;
    let tls = match d.policy {
        TlsPolicy::Plain => None,
        _ => Some(ClientTls::new(d.cacert, d.tls13)?),
    };
    let stream = match (&tls, d.policy) {
        (Some(tls), TlsPolicy::Implicit) => {
            MaybeTls::Tls(Box::new(tls.connect(d.host, tcp, d.timeout).await?.into()))
        }
        _ => MaybeTls::Plain(tcp),
    };
    Ok(Dialed {
        stream,
        tls,
        peer,
        local,
    })
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

    #[tokio::test]
    async fn dialing_a_closed_port_is_a_connect_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let d = Dial {
            host: "127.0.0.1",
            port,
            policy: TlsPolicy::Plain,
            cacert: None,
            tls13: true,
            timeout: Duration::from_secs(5),
        };
        assert!(matches!(dial(d).await, Err(DialError::Connect(_))));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let d = Dial {
            port: listener.local_addr().unwrap().port(),
            ..d
        };
        let dialed = dial(d).await.unwrap();
        assert!(dialed.tls.is_none() && !dialed.stream.is_tls());
        assert_eq!(dialed.peer, listener.local_addr().unwrap());
    }

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
