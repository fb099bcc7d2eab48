//! The control connection of one session: replies out, command lines in,
//! with the idle deadline between commands and the per-line deadline that
//! cuts off a client trickling one byte at a time (slowloris).

use crate::metrics::Metrics;
use crate::tls::{SessionTls, TlsContext};
use ftp_proto::Reply;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use wire::MaybeTls;
use wire::{LineError, LineReader};

/// How often a pending line is checked against its deadline, as a
/// fraction of that deadline.
const LINE_CHECKS_PER_DEADLINE: u32 = 4;

/// Why no command line came.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("idle timeout")]
    Idle,
    #[error("a command line took too long to arrive")]
    SlowLine,
    #[error(transparent)]
    Line(#[from] LineError),
}

/// One client's control connection.
#[derive(Debug)]
pub struct Control {
    pub(crate) reader: LineReader<MaybeTls>,
    /// The client: the TCP peer, or whom a trusted proxy's header named.
    pub peer: SocketAddr,
    pub local: SocketAddr,
    max_line: usize,
    metrics: Arc<Metrics>,
}

impl Control {
    /// `peer` is the client's address: the TCP peer's, or the one a
    /// trusted proxy's PROXY header named.
    pub fn new(
        stream: MaybeTls,
        peer: SocketAddr,
        max_line: usize,
        metrics: Arc<Metrics>,
    ) -> io::Result<Self> {
        let tcp = stream
            .tcp()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let local = tcp.local_addr()?;
        tcp.set_nodelay(true)?;
        set_oob_inline(tcp);
        Ok(Control {
            reader: LineReader::new(stream, max_line),
            peer,
            local,
            max_line,
            metrics,
        })
    }

    pub fn is_tls(&self) -> bool {
        self.reader.get_ref().is_tls()
    }

    /// Turns the connection into TLS (after `234` for AUTH TLS) and returns
    /// the session's TLS configurations for its data connections. Bytes the
    /// client sent in plaintext after its AUTH command are thrown away,
    /// never read as commands; their count is returned for the log.
    pub async fn start_tls(
        &mut self,
        ctx: &TlsContext,
        wait: Duration,
    ) -> io::Result<(usize, SessionTls)> {
        let discarded = self.reader.buffered().len();
        let old = std::mem::replace(
            &mut self.reader,
            LineReader::new(MaybeTls::Closed, self.max_line),
        );
        let MaybeTls::Plain(tcp) = old.into_inner() else {
            return Err(io::Error::other("TLS is already on"));
        };
        let (tls, session) = ctx.accept_control(tcp, wait).await?;
        self.reader = LineReader::new(MaybeTls::Tls(Box::new(tls.into())), self.max_line);
        Metrics::inc(&self.metrics.control_tls_total);
        Ok((discarded, session))
    }

    /// Sends one reply.
    pub async fn send(&mut self, reply: &Reply) -> io::Result<()> {
        tracing::trace!(reply = ?reply, "sent");
        self.metrics.reply(reply.code());
        let stream = self.reader.get_mut();
        stream.write_all(&reply.to_bytes()).await?;
        stream.flush().await
    }

    /// Reads the next command line. `idle` bounds the wait for a line to
    /// begin; `per_line` bounds how long a begun line may take.
    pub async fn next_line(
        &mut self,
        idle: Duration,
        per_line: Duration,
    ) -> Result<Vec<u8>, ReadError> {
        let idle_deadline = Instant::now() + idle;
        let tick = (per_line / LINE_CHECKS_PER_DEADLINE).max(Duration::from_millis(10));
        let mut partial_since: Option<Instant> = None;
        loop {
            let until_idle = idle_deadline.saturating_duration_since(Instant::now());
            let wait = tick.min(until_idle).max(Duration::from_millis(1));
            if let Ok(result) = timeout(wait, self.reader.read_line()).await {
                return result.map_err(ReadError::from);
            }
            let now = Instant::now();
            if self.reader.has_partial_line() {
                let since = *partial_since.get_or_insert(now);
                if now.duration_since(since) + tick >= per_line {
                    return Err(ReadError::SlowLine);
                }
            } else {
                partial_since = None;
                if now >= idle_deadline {
                    return Err(ReadError::Idle);
                }
            }
        }
    }
}

/// Keeps TCP urgent data in the stream: clients send ABOR's Telnet
/// "synch" as urgent data (Python's ftplib sends the whole ABOR line with
/// MSG_OOB), and without SO_OOBINLINE its last byte would vanish from the
/// stream and the line would never end.
fn set_oob_inline(stream: &TcpStream) {
    if let Err(e) = wire::sockopt::set_int(stream, libc::SOL_SOCKET, libc::SO_OOBINLINE, 1) {
        tracing::debug!(error = %e, "SO_OOBINLINE not set");
    }
}
