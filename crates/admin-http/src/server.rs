//! The accept loop: each connection, after a TLS handshake when a
//! certificate is configured, is served HTTP/1.1 by hyper with the axum
//! router, the client's address attached for the audit log and lockouts.
//! At most [`MAX_CONNECTIONS`] are served at once; a request head must
//! arrive within [`HEADER_WITHIN`].

use axum::extract::connect_info::ConnectInfo;
use axum::Router;
use ftp_server::tls::TlsContext;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

/// How long a TLS handshake may take.
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);
/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 256;
/// How long a request head may take to arrive.
const HEADER_WITHIN: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until the task is dropped; with `tls`,
/// every connection speaks HTTPS with the server's current certificate.
pub async fn serve(listener: TcpListener, router: Router, tls: Option<Arc<TlsContext>>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "admin HTTP: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, peer, router, tls).await {
                tracing::debug!(%peer, error = %e, "admin HTTP connection ended");
            }
            drop(slot);
        });
    }
}

/// Why one connection ended early.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("TLS setup: {0}")]
    Config(#[from] rustls::Error),
    #[error("TLS handshake: {0}")]
    Handshake(std::io::Error),
    #[error("TLS handshake took longer than {0:?}")]
    Slow(Duration),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    tls: Option<Arc<TlsContext>>,
) -> Result<(), ConnectionError> {
    let service = router.map_request(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let service = TowerToHyperService::new(service);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_WITHIN);
    match tls {
        None => http.serve_connection(TokioIo::new(stream), service).await?,
        Some(ctx) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(ctx.https_config()?);
            let stream = tokio::time::timeout(HANDSHAKE_WITHIN, acceptor.accept(stream))
                .await
                .map_err(|_| ConnectionError::Slow(HANDSHAKE_WITHIN))?
                .map_err(ConnectionError::Handshake)?;
            http.serve_connection(TokioIo::new(stream), service).await?
        }
    }
    Ok(())
}
