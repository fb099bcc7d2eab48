//! FTPS (RFC 4217) with rustls: the certificate, the TLS settings, and the
//! per-session server configuration that makes "data connections resume the
//! control connection's TLS session" checkable.
//!
//! Every FTP session that turns TLS on gets its own rustls configuration
//! with its own, small session cache. A data connection's handshake can
//! then only resume a session that this FTP session's own control
//! connection established, so a resumed handshake proves that the data
//! connection comes from the same client — a third party who races for a
//! passive port cannot have that session (vsftpd's `require_ssl_reuse`).
//! That check is on whenever TLS is configured, unless the operator turns
//! it off. Only TLS 1.2 and 1.3 are offered; only TLS 1.2 when data
//! connections must resume the control connection's session (see
//! [`TlsContext`]).
//!
//! Every configuration announces the ALPN protocol `ftp` (RFC 7301 §6
//! registry): a client whose ClientHello offers ALPN without `ftp` — a
//! browser talking HTTPS to an FTP port, as in the ALPACA cross-protocol
//! attack — is refused with a `no_application_protocol` alert. A client
//! that offers no ALPN at all, as most FTP clients, is served.

use rustls::crypto::CryptoProvider;
use rustls::server::{ServerConfig, ServerSessionMemoryCache, StoresServerSessions};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// FTPS settings.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Account logins need TLS on the control connection (anonymous may
    /// stay plain).
    pub require_login: bool,
    /// Accounts' data connections need `PROT P`.
    pub require_protected_data: bool,
    /// A protected data connection must resume the control connection's
    /// TLS session (on by default).
    pub require_session_reuse: bool,
    /// Time allowed for a TLS handshake.
    pub handshake_timeout: Duration,
}

impl TlsOptions {
    /// TLS offered but not required: plain and protected sessions both
    /// work, and a protected data connection must resume the control
    /// connection's TLS session.
    pub fn new(cert: PathBuf, key: PathBuf) -> Self {
        TlsOptions {
            cert,
            key,
            require_login: false,
            require_protected_data: false,
            require_session_reuse: true,
            handshake_timeout: Duration::from_secs(10),
        }
    }

    /// TLS required for account logins and their data connections.
    pub fn required(mut self) -> Self {
        self.require_login = true;
        self.require_protected_data = true;
        self
    }
}

/// The loaded certificate, ready to make per-session configurations. It
/// can be replaced while the server runs ([`TlsContext::reload`]): each
/// FTP session reads the current one when it turns TLS on and keeps it, so
/// running sessions and their transfers are not disturbed.
#[derive(Debug)]
pub struct TlsContext {
    key: RwLock<Arc<CertifiedKey>>,
    provider: Arc<CryptoProvider>,
    versions: &'static [&'static rustls::SupportedProtocolVersion],
}

/// With session reuse required, TLS 1.2 only: its sessions can be resumed
/// any number of times and need nothing sent after the handshake, while a
/// TLS 1.3 ticket is spent by most clients (curl, OpenSSL) on one data
/// connection, and new tickets sent on an upload's data connection go
/// unread and make the client's kernel reset the connection, cutting the
/// upload short (curl/curl#6149).
static REUSE_VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
static ALL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

impl TlsContext {
    /// Loads and checks the certificate chain and key for `opts`.
    pub fn load(opts: &TlsOptions) -> Result<TlsContext, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(TlsContext {
            key: RwLock::new(load_key(opts, &provider)?),
            provider,
            versions: if opts.require_session_reuse {
                REUSE_VERSIONS
            } else {
                ALL_VERSIONS
            },
        })
    }

    /// Loads the certificate and key `opts` names (again) and makes them
    /// the ones new sessions get; sessions already running keep theirs.
    /// On an error nothing changes. The protocol versions stay those of
    /// [`TlsContext::load`].
    pub fn reload(&self, opts: &TlsOptions) -> Result<(), String> {
        let key = load_key(opts, &self.provider)?;
        *self.key.write().unwrap_or_else(PoisonError::into_inner) = key;
        Ok(())
    }

    /// The certificate and key new sessions get.
    fn current_key(&self) -> Arc<CertifiedKey> {
        self.key
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The configurations for one FTP session, with session caches of
    /// their own.
    pub fn session_configs(&self) -> Result<SessionTls, rustls::Error> {
        let key = self.current_key();
        let pinned = ServerSessionMemoryCache::new(CONTROL_SESSIONS);
        let recent = ServerSessionMemoryCache::new(DATA_SESSIONS);
        let make = |storage: Arc<dyn StoresServerSessions>,
                    tickets: usize|
         -> Result<Arc<ServerConfig>, rustls::Error> {
            let mut config = ServerConfig::builder_with_provider(self.provider.clone())
                .with_protocol_versions(self.versions)?
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(SingleCertAndKey::from(key.clone())));
            config.session_storage = storage;
            config.send_tls13_tickets = tickets;
            config.alpn_protocols = vec![ALPN_FTP.to_vec()];
            Ok(Arc::new(config))
        };
        let layered: Arc<dyn StoresServerSessions> = Arc::new(Layered {
            pinned: pinned.clone(),
            recent,
        });
        Ok(SessionTls {
            control: make(Arc::new(Reusable(pinned)), CONTROL_TICKETS)?,
            data_out: make(layered.clone(), TICKETS)?,
            data_in: make(layered, 0)?,
        })
    }
}

impl TlsContext {
    /// A configuration for one HTTPS connection of the admin server, with
    /// the current certificate and ALPN `http/1.1`.
    pub fn https_config(&self) -> Result<Arc<ServerConfig>, rustls::Error> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(ALL_VERSIONS)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(self.current_key())));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Reads and checks the certificate chain and key `opts` names.
fn load_key(opts: &TlsOptions, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, String> {
    let (cert, key) = (opts.cert.as_path(), opts.key.as_path());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad certificate in {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the private key {}: {e}", key.display()))?;
    let certified = CertifiedKey::from_der(chain, private, provider).map_err(|e| {
        format!(
            "certificate {} and key {} do not fit: {e}",
            cert.display(),
            key.display()
        )
    })?;
    Ok(Arc::new(certified))
}

/// The ALPN protocol name of FTP (IANA registry, RFC 7301), the only one
/// announced; see the module doc (ALPACA).
pub const ALPN_FTP: &[u8] = b"ftp";

/// Sessions the control connection establishes (TLS 1.2 session and the
/// TLS 1.3 tickets it hands out).
const CONTROL_SESSIONS: usize = 16;
/// Sessions data connections establish, most recent kept.
const DATA_SESSIONS: usize = 32;
/// TLS 1.3 tickets a download data connection hands out.
const TICKETS: usize = 2;
/// TLS 1.3 tickets the control connection hands out: clients whose
/// tickets are single-use (rustls) spend one per data connection.
const CONTROL_TICKETS: usize = 8;

/// One FTP session's TLS configurations. The control connection's sessions
/// are kept apart and never evicted, so a client that resumes the control
/// connection's session for every data connection (OpenSSL, GnuTLS and
/// Python all do) can do so for any number of transfers; a client that
/// resumes each data connection from the last one's ticket (rustls does)
/// finds those in the data connections' own bounded cache.
///
/// Upload data connections hand out no tickets: a client that only sends
/// never reads them, and closing a socket with unread data makes the
/// kernel answer with a reset, which can destroy the end of the upload.
#[derive(Debug, Clone)]
pub struct SessionTls {
    pub control: Arc<ServerConfig>,
    /// Downloads and listings (the client reads).
    pub data_out: Arc<ServerConfig>,
    /// Uploads (the client only writes).
    pub data_in: Arc<ServerConfig>,
}

/// The control connection's cache, whose TLS 1.3 tickets can be used more
/// than once.
///
/// rustls makes a stateful TLS 1.3 ticket single-use, but FTP clients offer
/// the control connection's session for every data connection. Early data
/// (0-RTT), the reason for single use, is never accepted here, and
/// resumption still runs an ephemeral key exchange (psk_dhe_ke); the cache
/// belongs to one FTP session, so a ticket can only ever resume that
/// session's own connections.
#[derive(Debug)]
struct Reusable(Arc<ServerSessionMemoryCache>);

impl StoresServerSessions for Reusable {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.0.put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// The data connections' view: the control connection's sessions (read
/// only, reusable) over a bounded cache of their own.
#[derive(Debug)]
struct Layered {
    pinned: Arc<ServerSessionMemoryCache>,
    recent: Arc<ServerSessionMemoryCache>,
}

impl StoresServerSessions for Layered {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.recent.put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.pinned.get(key).or_else(|| self.recent.get(key))
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.pinned.get(key).or_else(|| self.recent.take(key))
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// A self-signed certificate and its key, both PEM, for `names` (host
/// names or IP addresses). The certificate is an end-entity certificate
/// (not a CA), which strict verifiers such as webpki require.
pub fn self_signed(names: &[String]) -> Result<(String, String), String> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| format!("cannot make a certificate: {e}"))?;
    Ok((certified.cert.pem(), certified.signing_key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::ServerName;

    /// A loaded context and a client configuration that trusts it.
    fn context_and_client(alpn: &[&[u8]]) -> (TlsContext, rustls::ClientConfig) {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(&["localhost".into()]).unwrap();
        std::fs::write(dir.path().join("c.pem"), &cert).unwrap();
        std::fs::write(dir.path().join("k.pem"), key).unwrap();
        let opts = TlsOptions::new(dir.path().join("c.pem"), dir.path().join("k.pem"));
        let ctx = TlsContext::load(&opts).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(cert.as_bytes()).unwrap())
            .unwrap();
        let mut client = rustls::ClientConfig::builder_with_provider(ctx.provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        (ctx, client)
    }

    /// One handshake in memory: the server's outcome (the ALPN protocol
    /// chosen, or the error).
    async fn handshake(
        server: Arc<ServerConfig>,
        client: rustls::ClientConfig,
    ) -> Result<Option<Vec<u8>>, std::io::Error> {
        let (a, b) = tokio::io::duplex(1 << 16);
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let name = ServerName::try_from("localhost").unwrap();
        let (_client, served) = tokio::join!(
            connector.connect(name, a),
            tokio_rustls::TlsAcceptor::from(server).accept(b)
        );
        served.map(|tls| tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec))
    }

    #[test]
    fn session_reuse_is_required_by_default() {
        let opts = TlsOptions::new("c.pem".into(), "k.pem".into());
        assert!(opts.require_session_reuse);
        assert!(!opts.require_login);
        assert!(opts.clone().required().require_session_reuse);
    }

    // ALPACA: a client that offers ALPN without "ftp" is refused on every
    // configuration (control, implicit TLS, both kinds of data connection);
    // one offering "ftp", or no ALPN at all, is served.
    #[tokio::test]
    async fn alpn_without_ftp_is_refused() {
        for (offer, want) in [
            (&[b"http/1.1".as_slice()][..], None),
            (&[b"h2".as_slice(), b"http/1.1".as_slice()][..], None),
            (
                &[b"http/1.1".as_slice(), b"ftp".as_slice()][..],
                Some(Some(b"ftp".to_vec())),
            ),
            (&[][..], Some(None)),
        ] {
            let (ctx, client) = context_and_client(offer);
            let configs = ctx.session_configs().unwrap();
            for server in [configs.control, configs.data_out, configs.data_in] {
                let got = handshake(server, client.clone()).await;
                match (&want, got) {
                    (Some(alpn), Ok(chosen)) => assert_eq!(&chosen, alpn, "{offer:?}"),
                    (None, Err(e)) => {
                        let inner = e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
                        assert_eq!(inner, Some(&rustls::Error::NoApplicationProtocol), "{e}");
                    }
                    (want, got) => panic!("offer {offer:?}: wanted {want:?}, got {got:?}"),
                }
            }
        }
    }

    #[tokio::test]
    async fn reload_replaces_the_certificate_of_new_sessions_only() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str| {
            let (cert, key) = self_signed(&[name.into()]).unwrap();
            std::fs::write(dir.path().join("c.pem"), &cert).unwrap();
            std::fs::write(dir.path().join("k.pem"), key).unwrap();
            CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()
        };
        let first = write("localhost");
        let opts = TlsOptions::new(dir.path().join("c.pem"), dir.path().join("k.pem"));
        let ctx = TlsContext::load(&opts).unwrap();
        let running = ctx.session_configs().unwrap();
        let second = write("localhost");
        ctx.reload(&opts).unwrap();
        assert_eq!(ctx.current_key().cert[0], second);
        // a client that trusts only the first certificate: the running
        // session still shows it, a new session shows the second
        let mut roots = rustls::RootCertStore::empty();
        roots.add(first).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(ctx.provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        assert!(handshake(running.control, client.clone()).await.is_ok());
        let fresh = ctx.session_configs().unwrap();
        assert!(handshake(fresh.control, client).await.is_err());
        // a broken pair is refused and the loaded one stays
        std::fs::write(dir.path().join("k.pem"), "not a key").unwrap();
        assert!(ctx.reload(&opts).is_err());
        assert_eq!(ctx.current_key().cert[0], second);
    }

    #[test]
    fn self_signed_pair_loads() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        std::fs::write(dir.path().join("c.pem"), cert).unwrap();
        std::fs::write(dir.path().join("k.pem"), key).unwrap();
        let opts = |c: &str, k: &str| TlsOptions::new(dir.path().join(c), dir.path().join(k));
        let ctx = TlsContext::load(&opts("c.pem", "k.pem")).unwrap();
        ctx.session_configs().unwrap();
        assert!(TlsContext::load(&opts("k.pem", "k.pem")).is_err());
        assert!(TlsContext::load(&opts("none", "k.pem")).is_err());
    }
}
