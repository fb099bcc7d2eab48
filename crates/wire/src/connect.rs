//! What every client connection shares, whatever its protocol (FTP, SMTP,
//! POP3, IMAP, NNTP): the one TLS policy ([`TlsPolicy`]), opening the
//! connection ([`dial`]: TCP within a deadline, then TLS from the first
//! byte when the policy says so), and the one transcript of the dialogue
//! ([`Transcript`], lines as they were sent or received, secrets already
//! masked), and the one TLS upgrade ([`start_tls`]) that every protocol
//! runs once its server has agreed to AUTH TLS, STARTTLS or STLS, with the
//! [`ClientTls`] that [`dial`] returns. The command and its reply stay
//! with each protocol; what happens to the socket is decided here.

use crate::{ClientError, ClientTls, LineReader, MaybeTls, TlsError};
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

/// Runs the TLS handshake on `conn` once the server has agreed to it
/// (`after` names the command it agreed to: `AUTH TLS`, `STARTTLS`,
/// `STLS`), verifying the certificate for `host` within `wait`.
///
/// Bytes already buffered when the server said go ahead were sent in
/// plaintext after it agreed: they could be a man in the middle's
/// injected replies, which would then pass for replies sent over TLS. So
/// the upgrade is refused before the handshake and the bytes are never
/// read as replies. A connection that already
/// carries TLS is refused too. If the handshake itself fails, `conn` is
/// left closed ([`MaybeTls::Closed`]).
pub async fn start_tls(
    conn: &mut LineReader<MaybeTls>,
    tls: &ClientTls,
    host: &str,
    wait: Duration,
    after: &str,
) -> Result<(), ClientError> {
    if !conn.buffered().is_empty() {
        return Err(ClientError::Protocol(format!(
            "the server sent plaintext after agreeing to TLS ({after})"
        )));
    }
    let max_line = conn.max_line();
    let old = std::mem::replace(conn, LineReader::new(MaybeTls::Closed, max_line));
    let tcp = match old.into_inner() {
        MaybeTls::Plain(tcp) => tcp,
        other => {
            // Put it back as it was (nothing was buffered to lose).
            let why = if other.is_tls() {
                "TLS is already on"
            } else {
                "the connection is closed"
            };
            *conn = LineReader::new(other, max_line);
            return Err(ClientError::Protocol(why.into()));
        }
    };
    let stream = tls.connect(host, tcp, wait).await?;
    *conn = LineReader::new(MaybeTls::Tls(Box::new(stream.into())), max_line);
    Ok(())
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

    /// A loopback connection: the client's end in a line reader, and the
    /// server's end.
    async fn pair() -> (LineReader<MaybeTls>, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let (server, _) = accepted.unwrap();
        (
            LineReader::new(MaybeTls::Plain(client.unwrap()), 512),
            server,
        )
    }

    /// A TLS server configuration for `localhost`, and a client that
    /// trusts it (its certificate in `dir`).
    fn tls_pair(dir: &Path) -> (tokio_rustls::TlsAcceptor, ClientTls) {
        use rustls_pki_types::pem::PemObject;
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert_pem = made.cert.pem();
        std::fs::write(dir.join("ca.pem"), &cert_pem).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(
            made.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![made.cert.der().clone()], key)
            .unwrap();
        let client = ClientTls::new(Some(&dir.join("ca.pem")), true).unwrap();
        (tokio_rustls::TlsAcceptor::from(Arc::new(config)), client)
    }

    #[tokio::test]
    async fn plaintext_after_the_go_ahead_refuses_the_upgrade() {
        use tokio::io::AsyncWriteExt;
        let dir = tempfile::tempdir().unwrap();
        let (_, tls) = tls_pair(dir.path());
        let (mut conn, mut server) = pair().await;
        let sent = b"220 go ahead\r\n250 injected\r\n";
        server.write_all(sent).await.unwrap();
        // Wait until both lines are in the socket, so that one read takes
        // them together, as an injection arrives.
        let mut peek = [0u8; 64];
        while conn.get_ref().tcp().unwrap().peek(&mut peek).await.unwrap() < sent.len() {
            tokio::task::yield_now().await;
        }
        assert_eq!(conn.read_line().await.unwrap(), b"220 go ahead");
        let wait = Duration::from_secs(5);
        let err = start_tls(&mut conn, &tls, "localhost", wait, "STARTTLS")
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad response from the server: \
             the server sent plaintext after agreeing to TLS (STARTTLS)"
        );
        // Refused before the handshake: nothing was taken or sent.
        assert!(matches!(conn.get_ref(), MaybeTls::Plain(_)));
        assert_eq!(conn.buffered(), b"250 injected\r\n");
    }

    #[tokio::test]
    async fn an_upgrade_runs_once_and_tls_already_on_is_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let (acceptor, tls) = tls_pair(dir.path());
        let (mut conn, server) = pair().await;
        let serve = tokio::spawn(async move {
            let mut tls = acceptor.accept(server).await.unwrap();
            tls.write_all(b"250 over TLS\r\n").await.unwrap();
            let mut rest = Vec::new();
            tls.read_to_end(&mut rest).await.unwrap();
        });
        let wait = Duration::from_secs(5);
        start_tls(&mut conn, &tls, "localhost", wait, "AUTH TLS")
            .await
            .unwrap();
        assert!(conn.get_ref().is_tls());
        let again = start_tls(&mut conn, &tls, "localhost", wait, "AUTH TLS").await;
        assert_eq!(
            again.unwrap_err().to_string(),
            "bad response from the server: TLS is already on"
        );
        // The refusal left the TLS connection in place and working.
        assert!(conn.get_ref().is_tls());
        assert_eq!(conn.read_line().await.unwrap(), b"250 over TLS");
        conn.get_mut().shutdown().await.unwrap();
        serve.await.unwrap();
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
