//! [`Server`]: the accept loop, the connection limits, and graceful
//! shutdown.
//!
//! The library takes listeners that the caller bound and a future that
//! resolves when the server should stop, so tests bind port 0 and the
//! binary owns signals. On shutdown the server stops accepting, idle
//! sessions are told 421 and closed, running transfers may finish within
//! the grace period, and whatever is still running after it is cancelled
//! (an unfinished upload then removes its temporary file).

use crate::accounts::{AccountStore, Authenticator, BoundedStore};
use crate::bandwidth::Bandwidth;
use crate::digest::HashLimit;
use crate::events::{Delivery, Event, EventKind, Events};
use crate::limits::{PassivePerIp, SessionsPerIp, SessionsPerUser};
use crate::metrics::Metrics;
use crate::options::ServerOptions;
use crate::quota::QuotaLedger;
use crate::registration::Registrar;
use crate::session::control::Control;
use crate::session::Session;
use crate::throttle::LoginThrottle;
use crate::tls::{SessionTls, TlsContext, TlsOptions};
use crate::xferlog::XferLog;
use ftp_proto::reply::code;
use ftp_proto::Reply;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use wire::MaybeTls;

/// A bound socket and what its connections speak.
#[derive(Debug)]
pub struct Listener {
    socket: TcpListener,
    kind: ListenerKind,
}

/// What a listener's connections speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListenerKind {
    /// FTP, with AUTH TLS when TLS is configured.
    Ftp,
    /// FTPS with TLS from the first byte.
    ImplicitTls,
    /// SSH, serving SFTP.
    Sftp,
}

/// Connections the kernel holds for the accept loop (capped by
/// `net.core.somaxconn`). The standard library's 128 drops SYNs when a
/// thousand clients connect at once; each drop costs its client a second
/// (the SYN retransmit timer).
const LISTEN_BACKLOG: i32 = 4096;

/// How long a hash waits for one of the `max_hash_jobs` slots before it
/// is refused with 450.
const HASH_SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Binds a control-connection socket on `addr` with a deep accept queue
/// (see [`LISTEN_BACKLOG`]).
pub fn bind_control(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::from_std(bind_control_std(addr)?)
}

/// [`bind_control`] without an async runtime: a non-blocking standard
/// listener, for a program that binds its ports before it starts its
/// runtime (as root, before dropping privileges while it is still
/// single-threaded). Hand it to [`TcpListener::from_std`] inside the runtime.
pub fn bind_control_std(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

impl Listener {
    /// Plain FTP, with AUTH TLS if TLS is configured.
    pub fn plain(socket: TcpListener) -> Self {
        Listener {
            socket,
            kind: ListenerKind::Ftp,
        }
    }

    /// Implicit FTPS: TLS from the first byte (port 990 by tradition).
    pub fn implicit_tls(socket: TcpListener) -> Self {
        Listener {
            socket,
            kind: ListenerKind::ImplicitTls,
        }
    }

    /// SFTP over SSH, with the host keys in `ServerOptions::ssh_host_keys`.
    pub fn sftp(socket: TcpListener) -> Self {
        Listener {
            socket,
            kind: ListenerKind::Sftp,
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn is_implicit_tls(&self) -> bool {
        self.kind == ListenerKind::ImplicitTls
    }

    pub fn is_sftp(&self) -> bool {
        self.kind == ListenerKind::Sftp
    }
}

/// What every session of one server shares.
#[derive(Debug)]
pub struct Shared {
    pub options: ServerOptions,
    pub auth: Authenticator,
    pub xferlog: Option<Arc<XferLog>>,
    /// Live usage of the accounts with sessions.
    pub quota: QuotaLedger,
    pub registrar: Registrar,
    /// The certificate, when FTPS is configured.
    pub tls: Option<TlsContext>,
    pub metrics: Arc<Metrics>,
    /// Bandwidth buckets per account.
    pub bandwidth: Arc<Bandwidth>,
    /// Failed logins across sessions.
    pub throttle: LoginThrottle,
    /// Logged-in sessions per account.
    pub user_sessions: SessionsPerUser,
    /// Passive listeners waiting for a connection, per client address.
    pub passive_per_ip: PassivePerIp,
    /// The cap on file hashes computed at once.
    pub hash_limit: HashLimit,
    /// Where events go (see [`crate::events`]).
    pub events: Events,
    /// Logged-in sessions, for the admin console.
    pub live: Arc<crate::live::LiveSessions>,
    /// Every instance's sessions (this one's are `live`).
    pub cluster: Arc<crate::cluster::Cluster>,
    /// Where finished transfers are recorded for the console.
    pub history: Option<crate::history::History>,
    /// The pre-login and pre-upload checks (see [`crate::precheck`]).
    pub checks: crate::precheck::Checks,
    sessions_per_ip: SessionsPerIp,
    /// The SSH settings and host keys, once an SFTP listener runs.
    ssh: std::sync::OnceLock<Arc<russh::server::Config>>,
}

impl Shared {
    /// Counts a failed login of `name` from `ip` across sessions; when it
    /// locks the name out, the credential cache forgets the name too.
    pub fn login_failed(&self, ip: std::net::IpAddr, name: &[u8]) {
        if self.throttle.failed(ip, name, &self.options.lockout) {
            self.auth.forget(name);
        }
    }
}

/// Changes a running [`Server`] from outside (the binary's signal
/// handlers): a new certificate, a reopened transfer log.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl ServerHandle {
    /// Loads the certificate and key `opts` names for the sessions that
    /// start from now on (see [`TlsContext::reload`]).
    pub fn reload_tls(&self, opts: &TlsOptions) -> Result<(), String> {
        match &self.shared.tls {
            Some(ctx) => ctx.reload(opts),
            None => {
                Err("TLS was off when the server started; turning it on takes a restart".into())
            }
        }
    }

    /// Reopens the transfer log at its path; the path, or `None` when
    /// there is no transfer log.
    pub fn reopen_xferlog(&self) -> io::Result<Option<&std::path::Path>> {
        match &self.shared.xferlog {
            Some(log) => log.reopen().map(|()| Some(log.path())),
            None => Ok(None),
        }
    }
}

/// A configured server, ready to run.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    /// Started with the server.
    delivery: Delivery,
}

impl Server {
    /// Validates `options`, loads the certificate and prepares the data
    /// directory.
    pub fn new(options: ServerOptions, store: Arc<dyn AccountStore>) -> Result<Server, String> {
        let tls = match &options.tls {
            Some(t) => Some(TlsContext::load(t)?),
            None => None,
        };
        Server::with_tls(options, store, tls)
    }

    /// [`Server::new`] with the certificate already loaded from
    /// `options.tls`: a program started as root loads a key only root may
    /// read, drops its privileges, then builds the server.
    pub fn with_tls(
        options: ServerOptions,
        store: Arc<dyn AccountStore>,
        tls: Option<TlsContext>,
    ) -> Result<Server, String> {
        options.validate()?;
        if options.tls.is_some() != tls.is_some() {
            return Err("the TLS settings and the loaded certificate disagree".into());
        }
        if options.anonymous {
            std::fs::create_dir_all(&options.anon_root).map_err(|e| {
                format!(
                    "cannot create the anonymous root {}: {e}",
                    options.anon_root.display()
                )
            })?;
        }
        let xferlog = match &options.xferlog {
            Some(path) => Some(Arc::new(XferLog::open(path).map_err(|e| {
                format!("cannot open the transfer log {}: {e}", path.display())
            })?)),
            None => None,
        };
        let bandwidth = Arc::new(Bandwidth::default());
        // Every call a session makes to the store answers in time.
        let store = BoundedStore::wrap(store, options.backend_timeout);
        let metrics = Arc::new(Metrics::default());
        let sinks = crate::events::sinks(&options).map_err(|e| e.to_string())?;
        let groups: Arc<dyn crate::accounts::GroupStore> = store.clone();
        let (events, delivery) = Events::start(sinks, metrics.clone(), Some(groups));
        let checks = crate::precheck::Checks::new(
            options.pre_login_check.as_ref(),
            options.pre_upload_check.as_ref(),
            &metrics,
        )
        .map_err(|e| e.to_string())?;
        let quota = QuotaLedger::new(store.clone()).with_events(events.clone());
        let live: Arc<crate::live::LiveSessions> = Arc::default();
        let cluster = Arc::new(crate::cluster::Cluster::new(live.clone(), store.clone()));
        let history = crate::history::History::start(
            store.clone(),
            cluster.instance(),
            options.transfer_history,
            metrics.clone(),
        );
        let auth = Authenticator::new(store, options.auth).map_err(|e| e.to_string())?;
        let hash_limit = HashLimit::new(options.max_hash_jobs, HASH_SLOT_WAIT);
        Ok(Server {
            delivery,
            shared: Arc::new(Shared {
                options,
                auth,
                xferlog,
                quota,
                registrar: Registrar::default(),
                tls,
                throttle: LoginThrottle::default(),
                bandwidth,
                metrics,
                events,
                live,
                cluster,
                history,
                checks,
                user_sessions: SessionsPerUser::default(),
                passive_per_ip: PassivePerIp::default(),
                hash_limit,
                sessions_per_ip: SessionsPerIp::default(),
                ssh: std::sync::OnceLock::new(),
            }),
        })
    }

    /// A handle that changes the server while it runs.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: self.shared.clone(),
        }
    }

    /// The server's counters, for the `/metrics` endpoint.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// Where the server's events go, for admin actions taken elsewhere.
    pub fn events(&self) -> crate::events::Events {
        self.shared.events.clone()
    }

    /// Self-registration and its status, for the public registration
    /// page.
    pub fn registration_desk(&self) -> crate::registration_desk::RegistrationDesk {
        crate::registration_desk::RegistrationDesk::new(self.shared.clone())
    }

    /// Every instance's logged-in sessions, for the admin console.
    pub fn cluster(&self) -> Arc<crate::cluster::Cluster> {
        self.shared.cluster.clone()
    }

    pub fn options(&self) -> &ServerOptions {
        &self.shared.options
    }

    /// Serves on `listeners` until `shutdown` resolves, then shuts down
    /// gracefully.
    pub async fn run(
        self,
        listeners: Vec<Listener>,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        if self.shared.tls.is_none() && listeners.iter().any(|l| l.is_implicit_tls()) {
            return Err(io::Error::other(
                "an implicit-TLS listener needs a certificate",
            ));
        }
        if listeners.iter().any(|l| l.is_sftp()) && self.shared.ssh.get().is_none() {
            let dir = &self.shared.options.ssh_host_keys;
            let keys = crate::sftp::hostkey::load_or_create(dir).map_err(io::Error::other)?;
            let config = crate::sftp::ssh::config(keys, &self.shared.options);
            let _ = self.shared.ssh.set(Arc::new(config));
        }
        let Server { shared, delivery } = self;
        let this = Server {
            shared,
            delivery: Delivery::default(),
        };
        delivery.spawn();
        this.shared.events.emit(Event::new(EventKind::ServerStart));
        let heartbeat = tokio::spawn(this.shared.cluster.clone().heartbeat());
        let result = this.serve(listeners, shutdown).await;
        heartbeat.abort();
        this.shared.events.emit(Event::new(EventKind::ServerStop));
        this.shared
            .events
            .drained(std::time::Duration::from_secs(5))
            .await;
        result
    }

    async fn serve(
        &self,
        listeners: Vec<Listener>,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let (accepted_tx, mut accepted) = mpsc::channel::<Accepted>(64);
        let mut acceptors = JoinSet::new();
        for listener in listeners {
            let tx = accepted_tx.clone();
            acceptors.spawn(accept_loop(listener, tx));
        }
        drop(accepted_tx);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut sessions = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                next = accepted.recv() => match next {
                    Some(conn) => self.admit(conn, &mut sessions, &stop_rx),
                    None => break,
                },
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }
        acceptors.abort_all();
        let _ = stop_tx.send(true);
        let open = sessions.len();
        if open > 0 {
            tracing::info!(sessions = open, grace = ?self.shared.options.shutdown_grace, "shutting down; waiting for sessions");
        }
        let drained = tokio::time::timeout(self.shared.options.shutdown_grace, async {
            while sessions.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                sessions = sessions.len(),
                "grace period over; cancelling the remaining sessions"
            );
            sessions.abort_all();
            while sessions.join_next().await.is_some() {}
        }
        Ok(())
    }

    fn admit(&self, conn: Accepted, sessions: &mut JoinSet<()>, stop: &watch::Receiver<bool>) {
        let Accepted {
            mut stream,
            peer: tcp_peer,
            kind,
        } = conn;
        let shared = self.shared.clone();
        let stop = stop.clone();
        sessions.spawn(async move {
            // Behind a load balancer the client is whom its PROXY header
            // names; every limit below counts that address.
            let peer = match &shared.options.proxy_protocol {
                Some(proxy) => match proxy.client_of(&mut stream, tcp_peer).await {
                    Ok(client) => client,
                    Err(e) => {
                        tracing::warn!(peer = %tcp_peer, error = %e, "dropped a connection from a trusted proxy: no valid PROXY header");
                        return;
                    }
                },
                None => tcp_peer,
            };
            if peer != tcp_peer {
                tracing::debug!(%peer, proxy = %tcp_peer, "client address from the PROXY header");
            }
            let opts = &shared.options;
            let slot = shared.sessions_per_ip.try_acquire(
                peer.ip().to_canonical(),
                opts.max_sessions,
                opts.max_sessions_per_ip,
            );
            let locked = shared.throttle.address_locked(peer.ip());
            let refusal = match (&slot, locked) {
                _ if !opts.networks.permits(peer.ip()) => {
                    Some("Connections from your address are not accepted here.".to_string())
                }
                (None, _) => Some("Too many connections; try again later.".to_string()),
                (_, Some(wait)) => Some(format!(
                    "Too many failed logins from your address; try again in {} s.",
                    wait.as_secs().max(1)
                )),
                _ => None,
            };
            if let Some(text) = refusal {
                tracing::warn!(%peer, reason = %text, "connection refused");
                if kind != ListenerKind::Sftp {
                    let _ = stream
                        .write_all(&Reply::new(code::NOT_AVAILABLE, text).to_bytes())
                        .await;
                }
                return;
            }
            let _slot = slot;
            if kind == ListenerKind::Sftp {
                if let Some(config) = shared.ssh.get().cloned() {
                    // Boxed: an SSH session's future lives on the heap,
                    // not inline in every connection's task.
                    Box::pin(crate::sftp::ssh::serve(shared, config, stream, peer)).await;
                }
                return;
            }
            let (stream, tls_config) = if kind == ListenerKind::ImplicitTls {
                match Box::pin(implicit_handshake(&shared, stream)).await {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::info!(%peer, error = %e, "implicit TLS handshake failed");
                        return;
                    }
                }
            } else {
                (MaybeTls::Plain(stream), None)
            };
            match Control::new(stream, peer, shared.options.max_line, shared.metrics.clone()) {
                Ok(control) => {
                    let mut session = Session::new(control, shared, stop);
                    session.state.tls = tls_config;
                    session.run().await
                }
                Err(e) => tracing::debug!(%peer, error = %e, "connection lost before the greeting"),
            }
        });
    }
}

/// A connection the accept loop took.
#[derive(Debug)]
struct Accepted {
    stream: TcpStream,
    peer: SocketAddr,
    kind: ListenerKind,
}

/// Implicit FTPS: the TLS handshake comes before the greeting.
async fn implicit_handshake(
    shared: &Shared,
    stream: TcpStream,
) -> io::Result<(MaybeTls, Option<SessionTls>)> {
    let (Some(ctx), Some(opts)) = (&shared.tls, &shared.options.tls) else {
        return Err(io::Error::other("TLS is not configured"));
    };
    let (tls, session) = ctx.accept_control(stream, opts.handshake_timeout).await?;
    Ok((MaybeTls::Tls(Box::new(tls.into())), Some(session)))
}

async fn accept_loop(listener: Listener, tx: mpsc::Sender<Accepted>) {
    let kind = listener.kind;
    loop {
        match listener.socket.accept().await {
            Ok((stream, peer)) => {
                let conn = Accepted { stream, peer, kind };
                if tx.send(conn).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // Out of descriptors and similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
