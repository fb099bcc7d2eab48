//! Data connections: passive listeners, active connects, and the RFC 2577
//! rules that keep the data channel with the client on the control
//! connection — a PORT/EPRT target must be the client's own address and an
//! unprivileged port (no bounce attacks), and a passive listener serves
//! only a connection from the client's address (no theft of a transfer).
//! Behind a load balancer speaking the PROXY protocol, a passive
//! connection from a trusted proxy must carry a header naming that same
//! client (see [`crate::proxy`]).
//!
//! A passive listener is a port of a possibly narrow range, so it is held
//! only briefly: one per session (a new PASV replaces it), a few per client
//! address across sessions ([`crate::limits::PassivePerIp`]), and closed if
//! no transfer has used it within the data-connection timeout
//! ([`DataSetup::passive_expiry`]).

use crate::ephemeral::EphemeralPorts;
use crate::limits::Slot;
use crate::proxy::ProxyProtocol;
use ftp_proto::reply::code;
use ftp_proto::Reply;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::{timeout_at, Instant};

/// How the next transfer gets its data connection.
#[derive(Debug, Default)]
pub enum DataSetup {
    /// No PORT/PASV yet (or it was used up).
    #[default]
    None,
    /// PASV/EPSV: the client connects to this listener.
    Passive(PassiveListener),
    /// PORT/EPRT: the server connects to this address.
    Active(SocketAddr),
}

impl DataSetup {
    /// When the passive listener closes if no transfer uses it first.
    pub fn passive_expiry(&self) -> Option<Instant> {
        match self {
            DataSetup::Passive(p) => Some(p.expires),
            _ => None,
        }
    }
}

/// A passive listener waiting for a transfer command, with its place in
/// the per-address count (given back when it is dropped).
#[derive(Debug)]
pub struct PassiveListener {
    listener: TcpListener,
    expires: Instant,
    _slot: Slot,
}

impl PassiveListener {
    /// Wraps `listener`, which closes at `expires` unless a transfer
    /// starts waiting on it before.
    pub fn new(listener: TcpListener, slot: Slot, expires: Instant) -> Self {
        PassiveListener {
            listener,
            expires,
            _slot: slot,
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Compares addresses with IPv4-mapped IPv6 addresses seen as IPv4.
pub fn same_host(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// Checks a PORT/EPRT target: the control peer's address, port ≥ 1024.
pub fn check_active_target(target: SocketAddr, control_peer: IpAddr) -> Result<(), Reply> {
    if !same_host(target.ip(), control_peer) {
        return Err(Reply::new(
            code::SYNTAX_ERROR,
            "Illegal PORT command: the address must be your own.",
        ));
    }
    if target.port() < 1024 {
        return Err(Reply::new(
            code::SYNTAX_ERROR,
            "Illegal PORT command: ports below 1024 are refused.",
        ));
    }
    Ok(())
}

/// Why no passive listener could be opened.
#[derive(Debug, thiserror::Error)]
pub enum PassiveError {
    #[error("no free passive port among {count} tried in {lo}-{hi}")]
    Exhausted { lo: u16, hi: u16, count: u32 },
    #[error("cannot open a passive port: {0}")]
    Io(#[from] io::Error),
}

/// Ports tried by number in the ephemeral range before the kernel is
/// asked for any port.
const EPHEMERAL_TRIES: u32 = 256;

/// Opens a passive listener on `local_ip`, in `range` if one is set
/// (trying every port of it once, from a random start).
///
/// Without a range, ports of the host's ephemeral range are asked for by
/// number from a random start, as vsftpd does, rather than letting the
/// kernel pick: its search walks every port it could give and checks each
/// against the connections holding it, which after thousands of short
/// transfers (many in TIME_WAIT, which a listener with SO_REUSEADDR may
/// share) made bind the server's largest cost, and at worst found nothing.
/// Only if the tries all fail is the kernel asked.
pub async fn open_passive(
    local_ip: IpAddr,
    range: Option<&RangeInclusive<u16>>,
) -> Result<TcpListener, PassiveError> {
    let Some(range) = range else {
        let ports = EphemeralPorts::of_this_host();
        return match bind_in(local_ip, ports.range(), EPHEMERAL_TRIES, |port| {
            ports.allows(port)
        })
        .await
        {
            Err(PassiveError::Exhausted { .. }) => Ok(TcpListener::bind((local_ip, 0)).await?),
            bound => bound,
        };
    };
    let span = u32::from(*range.end() - *range.start()) + 1;
    bind_in(local_ip, range, span, |_| true).await
}

/// A listener on the first free port of `range` that `allowed` accepts,
/// among `tries` from a random start.
async fn bind_in(
    local_ip: IpAddr,
    range: &RangeInclusive<u16>,
    tries: u32,
    allowed: impl Fn(u16) -> bool,
) -> Result<TcpListener, PassiveError> {
    let span = u32::from(*range.end() - *range.start()) + 1;
    let start = rand::random::<u32>() % span;
    for i in 0..tries.min(span) {
        let port = (*range.start() as u32 + (start + i) % span) as u16;
        if !allowed(port) {
            continue;
        }
        match TcpListener::bind((local_ip, port)).await {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(PassiveError::Exhausted {
        lo: *range.start(),
        hi: *range.end(),
        count: tries.min(span),
    })
}

/// Why no data connection came up.
#[derive(Debug, thiserror::Error)]
pub enum DataConnectError {
    #[error("Use PORT, PASV, EPRT or EPSV first.")]
    NotSetUp,
    #[error("Timed out waiting for the data connection.")]
    TimedOut,
    #[error("Failed to establish connection: {0}")]
    Io(#[from] io::Error),
}

/// Establishes the data connection set up by PORT/PASV. `proxy` is the
/// PROXY protocol setting, when it is on.
pub async fn connect(
    setup: DataSetup,
    control_peer: IpAddr,
    local_ip: IpAddr,
    wait: Duration,
    proxy: Option<&ProxyProtocol>,
) -> Result<TcpStream, DataConnectError> {
    let deadline = Instant::now() + wait;
    match setup {
        DataSetup::None => Err(DataConnectError::NotSetUp),
        DataSetup::Passive(passive) => loop {
            let (mut stream, from) = timeout_at(deadline, passive.listener.accept())
                .await
                .map_err(|_| DataConnectError::TimedOut)??;
            let client = match proxy {
                Some(proxy) => match proxy.client_of(&mut stream, from).await {
                    Ok(client) => client,
                    Err(e) => {
                        tracing::warn!(%from, error = %e, "refused a passive data connection from a trusted proxy without a valid PROXY header");
                        continue;
                    }
                },
                None => from,
            };
            if same_host(client.ip(), control_peer) {
                return Ok(stream);
            }
            tracing::warn!(%from, %client, %control_peer, "refused a passive data connection from a foreign address");
        },
        DataSetup::Active(target) => {
            let socket = if target.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            if same_host(local_ip, target.ip()) || local_ip.is_ipv4() == target.is_ipv4() {
                // The port is picked at connect, by the whole address pair,
                // not at bind by a search of every port (see open_passive);
                // a kernel without the option picks it at bind as before.
                let _ =
                    wire::sockopt::set_int(&socket, libc::SOL_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1);
                socket.bind(SocketAddr::new(local_ip, 0))?;
            }
            timeout_at(deadline, socket.connect(target))
                .await
                .map_err(|_| DataConnectError::TimedOut)?
                .map_err(DataConnectError::Io)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_targets_refused() {
        let me: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(check_active_target("127.0.0.1:2000".parse().unwrap(), me).is_ok());
        assert!(check_active_target("127.0.0.2:2000".parse().unwrap(), me).is_err());
        assert!(check_active_target("127.0.0.1:25".parse().unwrap(), me).is_err());
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(check_active_target("127.0.0.1:2000".parse().unwrap(), mapped).is_ok());
    }

    #[tokio::test]
    async fn passive_range_is_respected_and_exhaustion_named() {
        let range = 40000..=40100;
        let l = open_passive("127.0.0.1".parse().unwrap(), Some(&range))
            .await
            .unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(range.contains(&port));
        let one = port..=port;
        let err = open_passive("127.0.0.1".parse().unwrap(), Some(&one))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("no free passive port among 1 tried in {port}-{port}")
        );
    }

    #[tokio::test]
    async fn without_a_range_passive_ports_are_ephemeral_ones() {
        let ports = EphemeralPorts::of_this_host();
        for _ in 0..20 {
            let l = open_passive("127.0.0.1".parse().unwrap(), None)
                .await
                .unwrap();
            assert!(ports.allows(l.local_addr().unwrap().port()));
        }
    }

    #[tokio::test]
    async fn a_port_whose_connection_waits_in_time_wait_is_taken_again_by_number() {
        use tokio::io::AsyncReadExt;
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let range = 40200..=40300;
        let l = open_passive(ip, Some(&range)).await.unwrap();
        let port = l.local_addr().unwrap().port();
        let mut client = tokio::net::TcpStream::connect((ip, port)).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        // The server closes first, as after a download: its side of the
        // connection waits in TIME_WAIT on the listener's port.
        drop(server);
        let mut buf = [0u8; 1];
        assert_eq!(client.read(&mut buf).await.unwrap(), 0);
        drop(client);
        drop(l);
        let again = bind_in(ip, &(port..=port), 1, |_| true).await.unwrap();
        assert_eq!(again.local_addr().unwrap().port(), port);
    }

    #[tokio::test]
    async fn passive_ignores_foreign_hosts() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let foreign = tokio::spawn(async move {
            let s = TcpSocket::new_v4().unwrap();
            s.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            let _c = s.connect(addr).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let good = tokio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
        let me: IpAddr = "127.0.0.1".parse().unwrap();
        let slot = crate::limits::PassivePerIp::default()
            .try_acquire(me, usize::MAX, 1)
            .unwrap();
        let passive = PassiveListener::new(listener, slot, Instant::now() + Duration::from_secs(5));
        let stream = connect(
            DataSetup::Passive(passive),
            me,
            me,
            Duration::from_secs(5),
            None,
        )
        .await
        .unwrap();
        assert_eq!(stream.peer_addr().unwrap().ip(), me);
        good.await.unwrap();
        foreign.await.unwrap();
    }
}
