//! [`Server`]: the accept loop, the connection limits, and graceful
//! shutdown.
//!
//! The library takes listeners that the caller bound and a future that
//! resolves when the server should stop, so tests bind port 0 and the
//! binary owns signals. On shutdown the server stops accepting, idle
//! sessions are told 421 and closed, running transfers may finish within
//! the grace period, and whatever is still running after it is cancelled
//! (an unfinished upload then removes its temporary file).

use crate::accounts::{AccountStore, Authenticator};
use crate::options::ServerOptions;
use crate::quota::QuotaLedger;
use crate::registration::Registrar;
use crate::session::control::Control;
use crate::session::Session;
use crate::stream::MaybeTls;
use crate::tls::TlsContext;
use crate::xferlog::XferLog;
use ftp_proto::reply::code;
use ftp_proto::Reply;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// A bound socket and how its connections start.
#[derive(Debug)]
pub struct Listener {
    socket: TcpListener,
    implicit_tls: bool,
}

impl Listener {
    /// Plain FTP, with AUTH TLS if TLS is configured.
    pub fn plain(socket: TcpListener) -> Self {
        Listener {
            socket,
            implicit_tls: false,
        }
    }

    /// Implicit FTPS: TLS from the first byte (port 990 by tradition).
    pub fn implicit_tls(socket: TcpListener) -> Self {
        Listener {
            socket,
            implicit_tls: true,
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn is_implicit_tls(&self) -> bool {
        self.implicit_tls
    }
}

/// What every session of one server shares.
#[derive(Debug)]
pub struct Shared {
    pub options: ServerOptions,
    pub auth: Authenticator,
    pub xferlog: Option<XferLog>,
    /// Live usage of the accounts with sessions.
    pub quota: QuotaLedger,
    pub registrar: Registrar,
    /// The certificate, when FTPS is configured.
    pub tls: Option<TlsContext>,
    limits: ConnLimits,
}

/// A configured server, ready to run.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
}

impl Server {
    /// Validates `options` and prepares the data directory.
    pub fn new(options: ServerOptions, store: Arc<dyn AccountStore>) -> Result<Server, String> {
        options.validate()?;
        if options.anonymous {
            std::fs::create_dir_all(&options.anon_root).map_err(|e| {
                format!(
                    "cannot create the anonymous root {}: {e}",
                    options.anon_root.display()
                )
            })?;
        }
        let xferlog = match &options.xferlog {
            Some(path) => Some(
                XferLog::open(path)
                    .map_err(|e| format!("cannot open the transfer log {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let tls = match &options.tls {
            Some(t) => Some(TlsContext::load(&t.cert, &t.key)?),
            None => None,
        };
        let quota = QuotaLedger::new(store.clone());
        let auth = Authenticator::new(store)?;
        Ok(Server {
            shared: Arc::new(Shared {
                options,
                auth,
                xferlog,
                quota,
                registrar: Registrar::default(),
                tls,
                limits: ConnLimits::default(),
            }),
        })
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
        if self.shared.tls.is_none() && listeners.iter().any(|l| l.implicit_tls) {
            return Err(io::Error::other(
                "an implicit-TLS listener needs a certificate",
            ));
        }
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
            peer,
            implicit_tls,
        } = conn;
        let opts = &self.shared.options;
        let guard =
            self.shared
                .limits
                .try_acquire(peer.ip(), opts.max_sessions, opts.max_sessions_per_ip);
        let shared = self.shared.clone();
        let stop = stop.clone();
        sessions.spawn(async move {
            let Some(_guard) = guard else {
                tracing::warn!(%peer, "connection limit reached; refusing");
                let reply = Reply::new(
                    code::NOT_AVAILABLE,
                    "Too many connections; try again later.",
                );
                let _ = stream.write_all(&reply.to_bytes()).await;
                return;
            };
            let (stream, tls_config) = if implicit_tls {
                match implicit_handshake(&shared, stream).await {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::info!(%peer, error = %e, "implicit TLS handshake failed");
                        return;
                    }
                }
            } else {
                (MaybeTls::Plain(stream), None)
            };
            match Control::new(stream, shared.options.max_line) {
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
    implicit_tls: bool,
}

/// Implicit FTPS: the TLS handshake comes before the greeting.
async fn implicit_handshake(
    shared: &Shared,
    stream: TcpStream,
) -> io::Result<(MaybeTls, Option<Arc<rustls::ServerConfig>>)> {
    let (Some(ctx), Some(opts)) = (&shared.tls, &shared.options.tls) else {
        return Err(io::Error::other("TLS is not configured"));
    };
    let config = ctx.session_config().map_err(io::Error::other)?;
    let accept = tokio_rustls::TlsAcceptor::from(config.clone()).accept(stream);
    let tls = tokio::time::timeout(opts.handshake_timeout, accept)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
    Ok((MaybeTls::Tls(Box::new(tls)), Some(config)))
}

async fn accept_loop(listener: Listener, tx: mpsc::Sender<Accepted>) {
    let implicit_tls = listener.implicit_tls;
    loop {
        match listener.socket.accept().await {
            Ok((stream, peer)) => {
                let conn = Accepted {
                    stream,
                    peer,
                    implicit_tls,
                };
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

/// Counts sessions in all and per client address.
#[derive(Debug, Default)]
struct ConnLimits {
    counts: Arc<Mutex<Counts>>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl ConnLimits {
    fn try_acquire(&self, ip: IpAddr, max_total: usize, max_per_ip: usize) -> Option<ConnGuard> {
        let ip = ip.to_canonical();
        let mut counts = self.counts.lock().ok()?;
        let mine = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if counts.total >= max_total || mine >= max_per_ip {
            return None;
        }
        counts.total += 1;
        counts.per_ip.insert(ip, mine + 1);
        Some(ConnGuard {
            counts: self.counts.clone(),
            ip,
        })
    }
}

/// Gives a session's slot back when the session ends.
#[derive(Debug)]
struct ConnGuard {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.total = counts.total.saturating_sub(1);
            if let Some(n) = counts.per_ip.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    counts.per_ip.remove(&self.ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_per_ip_and_total() {
        let limits = ConnLimits::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let g1 = limits.try_acquire(a, 3, 2).unwrap();
        let _g2 = limits.try_acquire(a, 3, 2).unwrap();
        assert!(limits.try_acquire(a, 3, 2).is_none());
        let _g3 = limits.try_acquire(b, 3, 2).unwrap();
        assert!(limits.try_acquire(b, 3, 2).is_none());
        drop(g1);
        assert!(limits.try_acquire(a, 3, 2).is_some());
    }
}
