//! `tls-send` / `tls-recv`: the FTPS benchmark's rustls limit line.
//!
//! This module owns the two halves of "the big file through one TLS
//! connection between two processes", both on rustls with the ring
//! provider, so `bench/ftps_bench.py` can show the ceiling for a server and
//! a client that are both on rustls (its other limit line, a Python sender
//! and receiver on OpenSSL, bounds what the Python FTPS client can take).
//!
//! * `tls-send` is the server: it listens on 127.0.0.1:0, prints its port
//!   (one line), accepts one connection, sends the file (read from the page
//!   cache in `--block-kb` blocks, 64 KiB, as a server reads a file), sends
//!   close_notify, waits for the peer to close, and prints one JSON line
//!   with its own CPU seconds.
//! * `tls-recv` is the client: it connects, reads everything into a 1 MiB
//!   buffer (a copy, as a client writing a file must) and prints one JSON
//!   line: bytes, seconds, MB/s, the negotiated version and suite, its own
//!   CPU seconds.
//!
//! Both are plain blocking sockets with `rustls::StreamOwned`: one
//! connection, one thread, nothing for a runtime to add.
//!
//! Versions and suites are chosen on both sides alike (`--tls 1.3|1.2`,
//! `--suite NAME`): TLS 1.3 with `TLS13_AES_128_GCM_SHA256` (default) or
//! `TLS13_AES_256_GCM_SHA384`; TLS 1.2 with AES-128-GCM, the ECDHE_RSA or
//! ECDHE_ECDSA suite (both are offered unless `--suite` names one; the
//! server takes the one its key can sign).

use std::io::{self, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, ServerConfig, ServerConnection, StreamOwned,
    SupportedCipherSuite,
};

use crate::{check_expected, cpu_secs, err, Json, Opts, RECV_BUF};

static TLS13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
static TLS12: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
const TLS13_SUITES: [&str; 2] = ["TLS13_AES_128_GCM_SHA256", "TLS13_AES_256_GCM_SHA384"];
const TLS12_SUITES: [&str; 2] = [
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
];

/// The TLS side of both halves: version and suites from `--tls` / `--suite`.
struct Choice {
    versions: &'static [&'static rustls::SupportedProtocolVersion],
    provider: Arc<CryptoProvider>,
}

impl Choice {
    fn from(o: &Opts) -> io::Result<Choice> {
        let (versions, allowed): (
            &'static [&'static rustls::SupportedProtocolVersion],
            &[&str],
        ) = match o.str("tls", "1.3").as_str() {
            "1.3" => (&TLS13, &TLS13_SUITES),
            "1.2" => (&TLS12, &TLS12_SUITES),
            v => return Err(err(format!("--tls {v}: 1.3 or 1.2"))),
        };
        let wanted: Vec<&str> = match o.kv.get("suite") {
            Some(s) if allowed.contains(&s.as_str()) => vec![s.as_str()],
            Some(s) => return Err(err(format!("--suite {s}: one of {}", allowed.join(", ")))),
            // TLS 1.3: AES-128-GCM; TLS 1.2: both AES-128-GCM suites.
            None if versions[0].version == rustls::ProtocolVersion::TLSv1_3 => vec![allowed[0]],
            None => allowed.to_vec(),
        };
        let suites: Vec<SupportedCipherSuite> = ring::ALL_CIPHER_SUITES
            .iter()
            .copied()
            .filter(|s| wanted.contains(&suite_name(s).as_str()))
            .collect();
        let provider = CryptoProvider {
            cipher_suites: suites,
            ..ring::default_provider()
        };
        Ok(Choice {
            versions,
            provider: Arc::new(provider),
        })
    }
}

fn suite_name(s: &SupportedCipherSuite) -> String {
    format!("{:?}", s.suite())
}

pub(crate) fn tls_err(e: rustls::Error) -> io::Error {
    err(format!("TLS: {e}"))
}

/// "TLSv1.3 TLS13_AES_128_GCM_SHA256" of an established connection.
fn negotiated(c: &rustls::CommonState) -> (String, String) {
    let version = match c.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        v => format!("{v:?}"),
    };
    (
        version,
        c.negotiated_cipher_suite()
            .map(|s| suite_name(&s))
            .unwrap_or_default(),
    )
}

/// The receiving socket: reads go through a `--sock-buf-kb` buffer
/// (0: straight to the socket), writes straight to the socket.
///
/// rustls asks its reader for about 4 KiB at a time (its deframer's read
/// size), so without a buffer the client makes one recv(2) per 4 KiB.
struct Sock(BufReader<TcpStream>);

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.get_mut().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.get_mut().flush()
    }
}

/// `tls-send --cert CHAIN --key KEY --file F [--tls 1.3|1.2] [--suite S]
/// [--block-kb 64] [--buffer-kb 64]`.
pub(crate) fn mode_tls_send(o: &Opts) -> io::Result<()> {
    let choice = Choice::from(o)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(o.req("cert"))
        .and_then(|it| it.collect())
        .map_err(|e| err(format!("--cert: {e}")))?;
    let key = PrivateKeyDer::from_pem_file(o.req("key")).map_err(|e| err(format!("--key: {e}")))?;
    let config = ServerConfig::builder_with_provider(choice.provider)
        .with_protocol_versions(choice.versions)
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(tls_err)?;
    let mut file = std::fs::File::open(o.req("file"))?;
    // Read and encrypt 64 KiB at a time, with rustls's own 64 KiB limit on
    // its queue of encrypted records: each block is encrypted while it is
    // still in the cache and leaves in one writev(2) of 4 records. Tried on
    // 2 shared cores, 256 MiB, TLS 1.3 AES-128-GCM, medians of 5 to 9 runs
    // (MB/s, sender CPU s): 1 MiB blocks with no queue limit (the larger
    // write buffer: one writev of 64 records per block) 549-612, 0.28 s;
    // 1 MiB blocks, 64 KiB queue 736-874, 0.16-0.19 s; 256 KiB blocks
    // 803-899, 0.15-0.16 s; 64 KiB blocks 944-954, 0.14-0.15 s. So the
    // smaller unit is kept; --block-kb and --buffer-kb (0: no limit)
    // repeat the comparison.
    let block = (o.num("block-kb", 64).clamp(16, 64 << 10) * 1024) as usize;
    let limit = o.num("buffer-kb", 64);

    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
    println!("{}", listener.local_addr()?.port());
    io::stdout().flush()?;
    let (sock, _) = listener.accept()?;
    drop(listener);
    let c0 = cpu_secs();
    let t0 = Instant::now();
    sock.set_nodelay(true)?;
    let mut conn = ServerConnection::new(Arc::new(config)).map_err(tls_err)?;
    conn.set_buffer_limit(if limit == 0 {
        None
    } else {
        Some((limit * 1024) as usize)
    });
    let mut tls = StreamOwned::new(conn, sock);
    let mut buf = vec![0u8; block];
    let mut sent = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        tls.write_all(&buf[..n])?;
        sent += n as u64;
    }
    tls.conn.send_close_notify();
    tls.flush()?;
    tls.sock.shutdown(std::net::Shutdown::Write)?;
    // Wait for the client to close, so that exiting cannot reset a
    // connection whose last bytes are still unread.
    let mut sink = [0u8; 4096];
    while tls.sock.read(&mut sink)? > 0 {}
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - c0;
    let (version, suite) = negotiated(&tls.conn);
    Json::default()
        .str("mode", "tls-send")
        .int("bytes", sent)
        .str("version", &version)
        .str("suite", &suite)
        .int("block_kb", (block / 1024) as u64)
        .int("buffer_kb", limit)
        .num("wall_s", wall)
        .num("cpu_s", cpu)
        .print();
    Ok(())
}

/// A client's TLS settings from `--ca`, `--tls`, `--suite` and
/// `--server-name` (default localhost): the server's certificate checked.
pub(crate) fn client_config(o: &Opts) -> io::Result<(ClientConfig, ServerName<'static>)> {
    let choice = Choice::from(o)?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(o.req("ca")).map_err(|e| err(format!("--ca: {e}")))? {
        roots
            .add(ca.map_err(|e| err(format!("--ca: {e}")))?)
            .map_err(tls_err)?;
    }
    let config = ClientConfig::builder_with_provider(choice.provider)
        .with_protocol_versions(choice.versions)
        .map_err(tls_err)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name =
        ServerName::try_from(o.str("server-name", "localhost")).map_err(|e| err(e.to_string()))?;
    Ok((config, name))
}

/// `tls-recv --port P --ca CA [--tls 1.3|1.2] [--suite S] [--server-name
/// localhost] [--expect-bytes N] [--sock-buf-kb 0]`.
pub(crate) fn mode_tls_recv(o: &Opts) -> io::Result<()> {
    let (config, name) = client_config(o)?;
    let port: u16 = o
        .req("port")
        .parse()
        .map_err(|_| err("--port wants a number"))?;
    let sock_buf = (o.num("sock-buf-kb", 0).min(64 << 10) * 1024) as usize;
    let mut buf = vec![0u8; RECV_BUF];

    let c0 = cpu_secs();
    let t0 = Instant::now();
    let sock = TcpStream::connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))?;
    sock.set_nodelay(true)?;
    let conn = ClientConnection::new(Arc::new(config), name).map_err(tls_err)?;
    let mut tls = StreamOwned::new(conn, Sock(BufReader::with_capacity(sock_buf, sock)));
    let mut got = 0u64;
    loop {
        let n = tls.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - c0;
    let (version, suite) = negotiated(&tls.conn);
    drop(tls);
    check_expected(o, got)?;
    Json::default()
        .str("mode", "tls-recv")
        .int("bytes", got)
        .num("wall_s", wall)
        .num("mb_s", got as f64 / wall / 1e6)
        .str("version", &version)
        .str("suite", &suite)
        .int("sock_buf_kb", (sock_buf / 1024) as u64)
        .num("cpu_s", cpu)
        .num("cpu_pct", if wall > 0.0 { 100.0 * cpu / wall } else { 0.0 })
        .print();
    Ok(())
}

/// The TLS client of the async modes (`idle --ca CA`, `burst --ca CA`):
/// the same configuration as `tls-recv`'s.
pub(crate) struct AsyncTls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl AsyncTls {
    /// `None` without `--ca`.
    pub(crate) fn from(o: &Opts) -> io::Result<Option<AsyncTls>> {
        if !o.kv.contains_key("ca") {
            return Ok(None);
        }
        let (config, name) = client_config(o)?;
        Ok(Some(AsyncTls {
            config: Arc::new(config),
            name,
        }))
    }

    /// The same client with a session cache of its own, as a new FTPS
    /// client has: its data connections resume its control connection's
    /// session, never another client's.
    pub(crate) fn fresh(&self) -> AsyncTls {
        let mut config = (*self.config).clone();
        config.resumption = Resumption::store(Arc::new(ClientSessionMemoryCache::new(4)));
        AsyncTls {
            config: Arc::new(config),
            name: self.name.clone(),
        }
    }

    pub(crate) async fn connect(
        &self,
        tcp: tokio::net::TcpStream,
    ) -> io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(self.name.clone(), tcp)
            .await
    }
}
