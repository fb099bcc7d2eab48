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
//! it off. TLS 1.2 and 1.3 are offered, nothing older. While data
//! connections must resume, a client that speaks TLS 1.2 gets it and one
//! that speaks only TLS 1.3 gets that (see [`TlsContext::accept_control`]);
//! under TLS 1.3 the session tickets can be used more than once (see
//! [`SessionTls`]).
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
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;
use tokio::net::TcpStream;
use wire::client_hello::{self, Hello};

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
    /// Data connections must resume the control connection's session.
    reuse_required: bool,
}

type Versions = &'static [&'static rustls::SupportedProtocolVersion];

/// The protocol versions offered.
static VERSIONS: Versions = &[&rustls::version::TLS13, &rustls::version::TLS12];
static ONLY_TLS12: Versions = &[&rustls::version::TLS12];
static ONLY_TLS13: Versions = &[&rustls::version::TLS13];

impl TlsContext {
    /// Loads and checks the certificate chain and key for `opts`.
    pub fn load(opts: &TlsOptions) -> Result<TlsContext, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(TlsContext {
            key: RwLock::new(load_key(opts, &provider)?),
            provider,
            reuse_required: opts.require_session_reuse,
        })
    }

    /// Loads the certificate and key `opts` names (again) and makes them
    /// the ones new sessions get; sessions already running keep theirs.
    /// On an error nothing changes.
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

    /// Runs the TLS handshake of a control connection (after AUTH TLS, or
    /// at once on an implicit listener) within `wait`; returns the stream
    /// and the FTP session's configurations for its data connections.
    ///
    /// While data connections must resume the control connection's session,
    /// the version is chosen for that: TLS 1.2 whenever the client offers
    /// it, TLS 1.3 when it offers only TLS 1.3, and the data connections
    /// speak the control connection's version only (a data connection
    /// offering TLS 1.3 along with a TLS 1.2 session would otherwise get a
    /// fresh TLS 1.3 handshake and be refused). Every client resumes one
    /// TLS 1.2 session on any number of data connections; under TLS 1.3,
    /// curl on OpenSSL offers each ticket once and takes new ones only on
    /// connections it reads, so after an upload (whose data connection
    /// must send none, see [`SessionTls`]) it has none left and its next
    /// transfer on the same control connection is refused.
    pub async fn accept_control(
        &self,
        tcp: TcpStream,
        wait: Duration,
    ) -> io::Result<(tokio_rustls::server::TlsStream<TcpStream>, SessionTls)> {
        let handshake = async {
            let versions = self.versions_for(&tcp).await?;
            let session = self.session_configs(versions).map_err(io::Error::other)?;
            let stream = tokio_rustls::TlsAcceptor::from(session.control.clone())
                .accept(tcp)
                .await?;
            let (tcp, conn) = stream.get_ref();
            let shown = |v: Option<String>| v.unwrap_or_else(|| "?".into());
            tracing::info!(
                peer = shown(tcp.peer_addr().ok().map(|a| a.to_string())),
                version = shown(conn.protocol_version().map(|v| format!("{v:?}"))),
                suite = shown(
                    conn.negotiated_cipher_suite()
                        .map(|s| format!("{:?}", s.suite()))
                ),
                "TLS on the control connection"
            );
            Ok((stream, session))
        };
        tokio::time::timeout(wait, handshake)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
    }

    /// The versions an FTP session speaks, from the ClientHello waiting on
    /// `tcp` (peeked, left for rustls); see [`TlsContext::accept_control`].
    /// A hello that cannot be read gets TLS 1.2, and rustls's refusal.
    async fn versions_for(&self, tcp: &TcpStream) -> io::Result<Versions> {
        if !self.reuse_required {
            return Ok(VERSIONS);
        }
        let mut first = vec![0u8; client_hello::MAX_RECORD];
        loop {
            let n = tcp.peek(&mut first).await?;
            match client_hello::offered_versions(&first[..n]) {
                Hello::Offers {
                    tls12: false,
                    tls13: true,
                } => return Ok(ONLY_TLS13),
                // more of the hello is on its way (peek does not wait for it)
                Hello::Incomplete if n > 0 => tokio::time::sleep(HELLO_PATIENCE).await,
                _ => return Ok(ONLY_TLS12),
            }
        }
    }

    /// The configurations for one FTP session speaking `versions`, with
    /// session caches of their own.
    fn session_configs(&self, versions: Versions) -> Result<SessionTls, rustls::Error> {
        let key = self.current_key();
        let pinned = ServerSessionMemoryCache::new(CONTROL_SESSIONS);
        let make = |storage: Arc<dyn StoresServerSessions>,
                    tickets: usize|
         -> Result<Arc<ServerConfig>, rustls::Error> {
            let mut config = ServerConfig::builder_with_provider(self.provider.clone())
                .with_protocol_versions(versions)?
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(SingleCertAndKey::from(key.clone())));
            config.session_storage = storage;
            config.send_tls13_tickets = tickets;
            config.alpn_protocols = vec![ALPN_FTP.to_vec()];
            Ok(Arc::new(config))
        };
        let layered: Arc<dyn StoresServerSessions> = Arc::new(Layered {
            pinned: pinned.clone(),
            recent: OnceLock::new(),
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
            .with_protocol_versions(VERSIONS)?
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

/// How long to wait before looking again at a ClientHello that has only
/// partly arrived.
const HELLO_PATIENCE: Duration = Duration::from_millis(5);

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
/// resumes each data connection from the last one's ticket (rustls) finds
/// those in the data connections' own bounded cache.
///
/// Under TLS 1.3 no ticket is single-use here: clients offer the control
/// connection's ticket for every data connection, and an upload's data
/// connection hands out no new one, so a client that resumed it from a
/// data connection's ticket may offer that same ticket again. Single use
/// guards against replayed early data (0-RTT), which
/// is never accepted; every resumption still runs an ephemeral key
/// exchange (psk_dhe_ke), and the caches belong to one FTP session, so a
/// ticket only ever resumes that session's own connections.
///
/// Upload data connections hand out no tickets: a client that only sends
/// never reads them, and closing a socket with unread data makes the
/// kernel answer with a reset, which can destroy the end of the upload
/// (curl/curl#6149).
#[derive(Debug, Clone)]
pub struct SessionTls {
    pub control: Arc<ServerConfig>,
    /// Downloads and listings (the client reads).
    pub data_out: Arc<ServerConfig>,
    /// Uploads (the client only writes).
    pub data_in: Arc<ServerConfig>,
}

/// The control connection's cache, whose TLS 1.3 tickets can be used more
/// than once (see [`SessionTls`]).
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
/// only) over a bounded cache of their own, all reusable.
#[derive(Debug)]
struct Layered {
    pinned: Arc<ServerSessionMemoryCache>,
    /// Made when a data connection first stores a session: an FTPS session
    /// that stays idle never does, and the cache takes about 4 KiB as soon
    /// as it exists (`bench/out/CHANGES.md`, session 11).
    recent: OnceLock<Arc<ServerSessionMemoryCache>>,
}

impl StoresServerSessions for Layered {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.recent
            .get_or_init(|| ServerSessionMemoryCache::new(DATA_SESSIONS))
            .put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.pinned.get(key).or_else(|| self.recent.get()?.get(key))
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
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
    use rustls::{HandshakeKind, ProtocolVersion};
    use rustls_pki_types::ServerName;

    /// A loaded context and a client configuration that trusts it.
    fn context_and_client(alpn: &[&[u8]]) -> (TlsContext, rustls::ClientConfig) {
        context_and_client_speaking(alpn, VERSIONS)
    }

    /// [`context_and_client`] with a client held to `versions`.
    fn context_and_client_speaking(
        alpn: &[&[u8]],
        versions: Versions,
    ) -> (TlsContext, rustls::ClientConfig) {
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
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        (ctx, client)
    }

    /// The control connection's handshake through
    /// [`TlsContext::accept_control`], then one data connection (`data_in`)
    /// from the same client: the versions each negotiated, and whether the
    /// data connection resumed.
    async fn control_then_data(
        ctx: &TlsContext,
        client: rustls::ClientConfig,
    ) -> (ProtocolVersion, ProtocolVersion, bool) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let name = ServerName::try_from("localhost").unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = listener.local_addr().unwrap();
        let (dialed, accepted) = tokio::join!(TcpStream::connect(to), listener.accept());
        let (client_side, served) = tokio::join!(
            connector.connect(name.clone(), dialed.unwrap()),
            ctx.accept_control(accepted.unwrap().0, Duration::from_secs(5))
        );
        let (mut client_side, (mut server_side, session)) = (client_side.unwrap(), served.unwrap());
        // the client reads the control connection (and so its tickets)
        server_side.write_all(b"220 ok\r\n").await.unwrap();
        let mut greeting = [0u8; 8];
        client_side.read_exact(&mut greeting).await.unwrap();
        let control = server_side.get_ref().1.protocol_version().unwrap();
        let (a, b) = tokio::io::duplex(1 << 16);
        let (_data_client, data) = tokio::join!(
            connector.connect(name, a),
            tokio_rustls::TlsAcceptor::from(session.data_in).accept(b)
        );
        let data = data.unwrap();
        let conn = data.get_ref().1;
        (
            control,
            conn.protocol_version().unwrap(),
            conn.handshake_kind() == Some(HandshakeKind::Resumed),
        )
    }

    // While data connections must resume: TLS 1.2 for a client that offers
    // it, TLS 1.3 for one that offers only that, and the data connection on
    // the control connection's version, resumed. Without the requirement,
    // the newest version both speak.
    #[tokio::test]
    async fn control_version_is_chosen_for_resumable_data_connections() {
        use ProtocolVersion::{TLSv1_2, TLSv1_3};
        for (client_speaks, reuse_required, want) in [
            (VERSIONS, true, TLSv1_2),
            (ONLY_TLS12, true, TLSv1_2),
            (ONLY_TLS13, true, TLSv1_3),
            (VERSIONS, false, TLSv1_3),
        ] {
            let (mut ctx, client) = context_and_client_speaking(&[], client_speaks);
            ctx.reuse_required = reuse_required;
            let (control, data, resumed) = control_then_data(&ctx, client).await;
            assert_eq!(
                (control, data),
                (want, want),
                "{client_speaks:?} {reuse_required}"
            );
            assert!(resumed, "{client_speaks:?} {reuse_required}");
        }
    }

    #[tokio::test]
    async fn a_silent_client_times_out_before_its_client_hello() {
        let (ctx, _) = context_and_client(&[]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = listener.local_addr().unwrap();
        let (_silent, accepted) = tokio::join!(TcpStream::connect(to), listener.accept());
        let err = ctx
            .accept_control(accepted.unwrap().0, Duration::from_millis(50))
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
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
            let configs = ctx.session_configs(VERSIONS).unwrap();
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
        let running = ctx.session_configs(VERSIONS).unwrap();
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
        let fresh = ctx.session_configs(VERSIONS).unwrap();
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
        ctx.session_configs(VERSIONS).unwrap();
        assert!(TlsContext::load(&opts("k.pem", "k.pem")).is_err());
        assert!(TlsContext::load(&opts("none", "k.pem")).is_err());
    }
}
