//! The client side of TLS for every Wharf client (FTPS, SMTP, POP3, IMAP,
//! NNTP): a rustls configuration that verifies the server's certificate
//! against the system's roots, or only against the certificates in a file
//! (`--cacert`, as curl names it), and that keeps TLS sessions so that an
//! FTPS data connection resumes the control connection's session (vsftpd,
//! ProFTPD and FileZilla Server refuse data connections that do not).

use rustls::client::{
    ClientSessionStore, Resumption, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, NamedGroup, ProtocolVersion, RootCertStore};
use rustls_pki_types::pem::PemObject;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

/// TLS 1.2 only, the default for FTPS: a TLS 1.2 session can be resumed
/// by any number of data connections, and uploads over TLS 1.3 to
/// pure-ftpd lose their last few kilobytes (the server still answers 226).
static V12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
/// TLS 1.3 preferred, 1.2 allowed (`--tls13`).
static V13: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// A TLS client configuration for one server (its sessions are shared by
/// the control connection and every data connection).
#[derive(Debug, Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    store: Arc<TicketStore>,
}

impl ClientTls {
    /// Trusts the system's roots, or only the certificates in `cacert`;
    /// offers TLS 1.3 only if `allow_tls13`.
    pub fn new(cacert: Option<&Path>, allow_tls13: bool) -> Result<ClientTls, TlsError> {
        let mut roots = RootCertStore::empty();
        match cacert {
            Some(path) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .map_err(|e| TlsError(format!("cannot read {}: {e}", path.display())))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| TlsError(format!("bad certificate in {}: {e}", path.display())))?;
                if certs.is_empty() {
                    return Err(TlsError(format!("{} holds no certificate", path.display())));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        TlsError(format!("unusable certificate in {}: {e}", path.display()))
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    let _ = roots.add(cert);
                }
                if roots.is_empty() {
                    return Err(TlsError(
                        "no trusted root certificates found on this system; give --cacert FILE"
                            .into(),
                    ));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(if allow_tls13 { V13 } else { V12 })
            .map_err(|e| TlsError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let store = Arc::new(TicketStore::default());
        config.resumption = Resumption::store(store.clone());
        Ok(ClientTls {
            config: Arc::new(config),
            store,
        })
    }

    /// Whether a new connection to `host`, after one that negotiated
    /// `version`, can resume a session: TLS 1.2 sessions can be resumed
    /// any number of times, TLS 1.3 tickets once each.
    pub fn can_resume(&self, host: &str, version: Option<ProtocolVersion>) -> bool {
        if version != Some(ProtocolVersion::TLSv1_3) {
            return true;
        }
        ServerName::try_from(host.to_string()).is_ok_and(|name| self.store.tickets(&name) > 0)
    }

    /// Runs the handshake on `tcp`, verifying the certificate for `host`.
    pub async fn connect(
        &self,
        host: &str,
        tcp: TcpStream,
        wait: Duration,
    ) -> Result<TlsStream<TcpStream>, TlsError> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| TlsError(format!("{host:?} is not a valid server name")))?;
        let connector = TlsConnector::from(self.config.clone());
        tokio::time::timeout(wait, connector.connect(name, tcp))
            .await
            .map_err(|_| TlsError("timed out in the TLS handshake".into()))?
            .map_err(|e| TlsError(format!("handshake with {host} failed: {e}")))
    }
}

/// Most TLS 1.3 tickets kept per server.
const MAX_TICKETS: usize = 64;

/// Session memory shared by the control and the data connections.
///
/// Like rustls's own in-memory store, but it keeps more TLS 1.3 tickets
/// per server (a server may hand several out on the control connection,
/// and each data connection spends one) and can say how many are left.
#[derive(Debug, Default)]
struct TicketStore {
    servers: Mutex<HashMap<ServerName<'static>, Remembered>>,
}

#[derive(Debug, Default)]
struct Remembered {
    kx_hint: Option<NamedGroup>,
    tls12: Option<Tls12ClientSessionValue>,
    tls13: VecDeque<Tls13ClientSessionValue>,
}

impl TicketStore {
    fn tickets(&self, name: &ServerName<'static>) -> usize {
        self.servers
            .lock()
            .map(|s| s.get(name).map_or(0, |r| r.tls13.len()))
            .unwrap_or(0)
    }

    fn with<T>(&self, name: &ServerName<'_>, f: impl FnOnce(&mut Remembered) -> T) -> Option<T> {
        let mut servers = self.servers.lock().ok()?;
        Some(f(servers.entry(name.to_owned()).or_default()))
    }
}

impl ClientSessionStore for TicketStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.with(&name, |r| r.kx_hint = Some(group));
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.with(name, |r| r.kx_hint).flatten()
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.with(&name, |r| r.tls12 = Some(value));
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.with(name, |r| r.tls12.clone()).flatten()
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.with(name, |r| r.tls12 = None);
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.with(&name, |r| {
            if r.tls13.len() >= MAX_TICKETS {
                r.tls13.pop_front();
            }
            r.tls13.push_back(value);
        });
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.with(name, |r| r.tls13.pop_back()).flatten()
    }
}
