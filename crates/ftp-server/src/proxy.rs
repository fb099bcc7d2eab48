//! Running behind a load balancer that speaks the PROXY protocol (v1 or
//! v2, see [`wire::proxy_header`]): which peers are trusted to send a
//! header, and reading that header off a fresh connection within a
//! deadline.
//!
//! When [`ProxyProtocol`] is configured, a connection from a trusted proxy
//! must begin with a valid header, complete within the deadline; if it
//! does not (no header, a malformed, truncated or oversized one) the
//! connection is dropped. The client address the header names is then
//! what the session uses everywhere: logs, the xferlog, per-address
//! limits, login lockouts, the registration rate limit and the passive
//! data-connection check. A connection from any other peer is served as
//! a direct client under its own address; bytes it sends that look like a
//! header are never honoured (they reach the FTP command parser and get
//! 500).
//!
//! Passive data connections behind a load balancer arrive from the proxy
//! too. The balancer must then forward each instance's passive port range
//! with a PROXY header as well (haproxy: `send-proxy-v2` on those
//! backends), and the data-connection check compares the address in that
//! header with the control connection's client.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use wire::proxy_header::{self, Parsed, ProxyError};

/// Default time a trusted proxy has to deliver its header.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// An address block such as `10.0.0.0/8` or `::1/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside the block (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_match(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if net[..full] != ip[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (net[full] & mask) == (ip[full] & mask)
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix)),
            None => (text, None),
        };
        let net: IpAddr = ip
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or ADDRESS/BITS block"))?;
        let net = net.to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { net, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// Parses `127.0.0.1/32,10.0.0.0/8,::1`.
pub fn parse_cidr_list(text: &str) -> Result<Vec<Cidr>, String> {
    let list: Vec<Cidr> = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err("the list of trusted proxies is empty".into());
    }
    Ok(list)
}

/// PROXY protocol settings: on when present in the server options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyProtocol {
    /// Peers whose connections must start with a header.
    pub trusted: Vec<Cidr>,
    /// Time a trusted peer has to deliver the whole header.
    pub header_timeout: Duration,
}

/// Why a connection from a trusted proxy was dropped.
#[derive(Debug, thiserror::Error)]
pub enum ProxyReadError {
    #[error("no complete PROXY header within {0:?}")]
    TimedOut(Duration),
    #[error("connection closed inside the PROXY header")]
    Closed,
    #[error(transparent)]
    Invalid(#[from] ProxyError),
    #[error("reading the PROXY header: {0}")]
    Io(#[from] io::Error),
}

impl ProxyProtocol {
    pub fn new(trusted: Vec<Cidr>) -> Self {
        ProxyProtocol {
            trusted,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
        }
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|c| c.contains(ip))
    }

    /// The client behind a connection from `peer`: read from the header
    /// when `peer` is a trusted proxy, `peer` itself otherwise. A header
    /// without an address (LOCAL, UNKNOWN) leaves `peer`.
    pub async fn client_of(
        &self,
        stream: &mut TcpStream,
        peer: SocketAddr,
    ) -> Result<SocketAddr, ProxyReadError> {
        if !self.trusts(peer.ip()) {
            return Ok(peer);
        }
        let read = read_header(stream);
        let header = tokio::time::timeout(self.header_timeout, read)
            .await
            .map_err(|_| ProxyReadError::TimedOut(self.header_timeout))??;
        Ok(header.client.unwrap_or(peer))
    }
}

/// Reads exactly one header from the start of `stream`, and not a byte more.
async fn read_header(stream: &mut TcpStream) -> Result<proxy_header::ProxyHeader, ProxyReadError> {
    let mut buf = Vec::with_capacity(64);
    loop {
        match proxy_header::parse(&buf)? {
            Parsed::Done { header, .. } => return Ok(header),
            Parsed::Need(total) => {
                let have = buf.len();
                buf.resize(total, 0);
                let mut filled = have;
                while filled < total {
                    let n = stream.read(&mut buf[filled..]).await?;
                    if n == 0 {
                        return Err(ProxyReadError::Closed);
                    }
                    filled += n;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks() {
        let list = parse_cidr_list("127.0.0.1/32, 10.0.0.0/8,2001:db8::/33,192.168.1.7").unwrap();
        assert!(list[0].contains(ip("127.0.0.1")));
        assert!(list[0].contains(ip("::ffff:127.0.0.1")));
        assert!(!list[0].contains(ip("127.0.0.2")));
        assert!(list[1].contains(ip("10.255.0.1")));
        assert!(!list[1].contains(ip("11.0.0.1")));
        assert!(list[2].contains(ip("2001:db8:7fff::1")));
        assert!(!list[2].contains(ip("2001:db8:8000::1")));
        assert!(list[3].contains(ip("192.168.1.7")));
        assert_eq!(list[3].to_string(), "192.168.1.7/32");
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
        assert!(parse_cidr_list(" , ").is_err());
    }

    async fn pair() -> (TcpStream, TcpStream, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, peer) = l.accept().await.unwrap();
        (c, s, peer)
    }

    #[tokio::test]
    async fn reads_exactly_the_header() {
        let policy = ProxyProtocol::new(parse_cidr_list("127.0.0.0/8").unwrap());
        let (mut c, mut s, peer) = pair().await;
        c.write_all(b"PROXY TCP4 192.0.2.9 127.0.0.1 5000 21\r\nUSER x\r\n")
            .await
            .unwrap();
        let client = policy.client_of(&mut s, peer).await.unwrap();
        assert_eq!(client, "192.0.2.9:5000".parse().unwrap());
        let mut rest = [0u8; 8];
        s.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"USER x\r\n");
    }

    #[tokio::test]
    async fn untrusted_peers_are_themselves_and_silence_times_out() {
        let (_c, mut s, peer) = pair().await;
        let other = ProxyProtocol::new(parse_cidr_list("10.0.0.0/8").unwrap());
        assert_eq!(other.client_of(&mut s, peer).await.unwrap(), peer);
        let mut policy = ProxyProtocol::new(parse_cidr_list("127.0.0.1").unwrap());
        policy.header_timeout = Duration::from_millis(50);
        assert!(matches!(
            policy.client_of(&mut s, peer).await,
            Err(ProxyReadError::TimedOut(_))
        ));
    }
}
