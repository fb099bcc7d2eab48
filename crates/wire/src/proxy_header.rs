//! The PROXY protocol header (haproxy's `proxy-protocol.txt`, versions 1
//! and 2) that a load balancer puts in front of the bytes it forwards, to
//! say who the client really is. Sans-IO: [`parse`] looks at the bytes read
//! so far and says either how many bytes it needs in all, or what the
//! header says and how long it was — so the caller reads exactly the
//! header and never a byte of what follows it.
//!
//! - Version 1 is one text line: `PROXY TCP4 SRC DST SPORT DPORT\r\n`
//!   (or `TCP6`, or `PROXY UNKNOWN…\r\n`), at most 107 bytes.
//! - Version 2 is binary: a 12-byte signature, a version/command byte, a
//!   family/transport byte, a 16-bit length, then the addresses and
//!   optional TLVs (skipped here). Headers longer than [`MAX_V2_BODY`] are
//!   refused rather than read.
//!
//! A header that carries no usable address (v1 `UNKNOWN`, v2 `LOCAL`, v2
//! `UNSPEC` or `AF_UNIX`) yields `client: None`: the connection's own
//! endpoints stand, as the specification says.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Longest v1 line, CRLF included (from the specification).
pub const MAX_V1_LEN: usize = 107;
/// Longest v2 body (after the 16 fixed bytes) accepted: the addresses plus
/// room for ordinary TLVs.
pub const MAX_V2_BODY: usize = 1024;
const V1_PREFIX: &[u8] = b"PROXY ";
/// Shortest v1 header: `PROXY UNKNOWN\r\n`.
const MIN_V1_LEN: usize = 15;

/// What a complete header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// 1 or 2.
    pub version: u8,
    /// The client's address and port; `None` when the header carries none.
    pub client: Option<SocketAddr>,
    /// The address the client connected to (the proxy's front end).
    pub destination: Option<SocketAddr>,
}

/// The outcome of looking at the bytes read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// Not complete: read until the buffer holds this many bytes in all.
    Need(usize),
    /// A complete header of `len` bytes.
    Done { header: ProxyHeader, len: usize },
}

/// Why the bytes are not a valid header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("not a PROXY protocol header")]
    NotProxy,
    #[error("PROXY v1 line longer than {MAX_V1_LEN} bytes")]
    V1TooLong,
    #[error("malformed PROXY v1 line: {0}")]
    V1Syntax(&'static str),
    #[error("unsupported PROXY v2 version or command byte {0:#04x}")]
    V2Command(u8),
    #[error("PROXY v2 header of {0} bytes is over the {MAX_V2_BODY}-byte limit")]
    V2TooLong(usize),
    #[error("PROXY v2 address block too short for its family")]
    V2Short,
    #[error("unsupported PROXY v2 family/transport byte {0:#04x}")]
    V2Family(u8),
}

/// Looks at `buf` (the bytes read so far from the start of the connection).
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if buf.is_empty() {
        return Ok(Parsed::Need(MIN_V1_LEN));
    }
    let v2_prefix = buf.len().min(V2_SIGNATURE.len());
    let v1_prefix = buf.len().min(V1_PREFIX.len());
    if buf[..v2_prefix] == V2_SIGNATURE[..v2_prefix] {
        parse_v2(buf)
    } else if buf[..v1_prefix] == V1_PREFIX[..v1_prefix] {
        parse_v1(buf)
    } else {
        Err(ProxyError::NotProxy)
    }
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= MAX_V1_LEN {
            return Err(ProxyError::V1TooLong);
        }
        // Never read past the line: one byte at a time once the shortest
        // possible header is in.
        return Ok(Parsed::Need((buf.len() + 1).max(MIN_V1_LEN)));
    };
    let len = end + 2;
    if len > MAX_V1_LEN {
        return Err(ProxyError::V1TooLong);
    }
    let line = std::str::from_utf8(&buf[V1_PREFIX.len()..end])
        .map_err(|_| ProxyError::V1Syntax("not ASCII"))?;
    let mut fields = line.split(' ');
    let protocol = fields.next().unwrap_or("");
    if protocol == "UNKNOWN" {
        let header = ProxyHeader {
            version: 1,
            client: None,
            destination: None,
        };
        return Ok(Parsed::Done { header, len });
    }
    let v6 = match protocol {
        "TCP4" => false,
        "TCP6" => true,
        _ => {
            return Err(ProxyError::V1Syntax(
                "protocol is not TCP4, TCP6 or UNKNOWN",
            ))
        }
    };
    let mut next = || fields.next().ok_or(ProxyError::V1Syntax("missing field"));
    let (src, dst, sport, dport) = (next()?, next()?, next()?, next()?);
    if fields.next().is_some() {
        return Err(ProxyError::V1Syntax("extra field"));
    }
    let src = v1_address(src, v6)?;
    let dst = v1_address(dst, v6)?;
    let header = ProxyHeader {
        version: 1,
        client: Some(SocketAddr::new(src, v1_port(sport)?)),
        destination: Some(SocketAddr::new(dst, v1_port(dport)?)),
    };
    Ok(Parsed::Done { header, len })
}

fn v1_address(text: &str, v6: bool) -> Result<IpAddr, ProxyError> {
    let bad = ProxyError::V1Syntax("bad address");
    if v6 {
        text.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| bad)
    } else {
        text.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| bad)
    }
}

fn v1_port(text: &str) -> Result<u16, ProxyError> {
    let bad = ProxyError::V1Syntax("bad port");
    if text.is_empty()
        || text.len() > 5
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return Err(bad);
    }
    text.parse().map_err(|_| bad)
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if buf.len() < 16 {
        return Ok(Parsed::Need(16));
    }
    let command = buf[12];
    let local = match command {
        0x20 => true,
        0x21 => false,
        other => return Err(ProxyError::V2Command(other)),
    };
    let family = buf[13];
    let body_len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if body_len > MAX_V2_BODY {
        return Err(ProxyError::V2TooLong(16 + body_len));
    }
    let len = 16 + body_len;
    if buf.len() < len {
        return Ok(Parsed::Need(len));
    }
    let body = &buf[16..len];
    // LOCAL (the proxy's own health checks): the addresses are ignored.
    let addresses = match family {
        _ if local => None,
        // TCP over IPv4 / IPv6.
        0x11 => Some(v2_inet(body, 4)?),
        0x21 => Some(v2_inet(body, 16)?),
        // UNSPEC, and AF_UNIX stream: no IP address to take.
        0x00 | 0x31 => None,
        other => return Err(ProxyError::V2Family(other)),
    };
    let (client, destination) = match addresses {
        Some((c, d)) => (Some(c), Some(d)),
        None => (None, None),
    };
    let header = ProxyHeader {
        version: 2,
        client,
        destination,
    };
    Ok(Parsed::Done { header, len })
}

/// Source and destination from an AF_INET/AF_INET6 address block.
fn v2_inet(body: &[u8], width: usize) -> Result<(SocketAddr, SocketAddr), ProxyError> {
    if body.len() < 2 * width + 4 {
        return Err(ProxyError::V2Short);
    }
    let ip = |bytes: &[u8]| -> IpAddr {
        match <[u8; 4]>::try_from(bytes) {
            Ok(v4) => IpAddr::from(v4),
            Err(_) => {
                let mut v6 = [0u8; 16];
                v6.copy_from_slice(bytes);
                IpAddr::from(v6)
            }
        }
    };
    let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    let src = SocketAddr::new(ip(&body[..width]), port(2 * width));
    let dst = SocketAddr::new(ip(&body[width..2 * width]), port(2 * width + 2));
    Ok((src, dst))
}

/// Encodes a v1 header (for tests and tools); `None` gives `UNKNOWN`.
pub fn encode_v1(client: Option<(SocketAddr, SocketAddr)>) -> Vec<u8> {
    match client {
        Some((src, dst)) if src.is_ipv4() == dst.is_ipv4() => {
            let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
            format!(
                "PROXY {proto} {} {} {} {}\r\n",
                src.ip(),
                dst.ip(),
                src.port(),
                dst.port()
            )
            .into_bytes()
        }
        _ => b"PROXY UNKNOWN\r\n".to_vec(),
    }
}

/// Encodes a v2 PROXY (or, with `None`, LOCAL) header without TLVs.
pub fn encode_v2(client: Option<(SocketAddr, SocketAddr)>) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    let mut body = Vec::new();
    let (command, family) = match client {
        Some((SocketAddr::V4(s), SocketAddr::V4(d))) => {
            body.extend_from_slice(&s.ip().octets());
            body.extend_from_slice(&d.ip().octets());
            body.extend_from_slice(&s.port().to_be_bytes());
            body.extend_from_slice(&d.port().to_be_bytes());
            (0x21, 0x11)
        }
        Some((SocketAddr::V6(s), SocketAddr::V6(d))) => {
            body.extend_from_slice(&s.ip().octets());
            body.extend_from_slice(&d.ip().octets());
            body.extend_from_slice(&s.port().to_be_bytes());
            body.extend_from_slice(&d.port().to_be_bytes());
            (0x21, 0x21)
        }
        _ => (0x20, 0x00),
    };
    out.push(command);
    out.push(family);
    // The body is at most 36 bytes here.
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn done(buf: &[u8]) -> (ProxyHeader, usize) {
        match parse(buf) {
            Ok(Parsed::Done { header, len }) => (header, len),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v1_table() {
        let (h, len) = done(b"PROXY TCP4 192.0.2.7 10.0.0.1 56324 21\r\nUSER x\r\n");
        assert_eq!(len, 40);
        assert_eq!(h.client, Some(addr("192.0.2.7:56324")));
        assert_eq!(h.destination, Some(addr("10.0.0.1:21")));
        let (h, _) = done(b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n");
        assert_eq!(h.client, Some(addr("[2001:db8::1]:65535")));
        assert_eq!(done(b"PROXY UNKNOWN\r\n").0.client, None);
        assert_eq!(done(b"PROXY UNKNOWN ff 1 2 3\r\n").0.client, None);
        let bad: &[(&[u8], ProxyError)] = &[
            (b"GET / HTTP/1.0\r\n", ProxyError::NotProxy),
            (
                b"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n",
                ProxyError::V1Syntax("protocol is not TCP4, TCP6 or UNKNOWN"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n",
                ProxyError::V1Syntax("missing field"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n",
                ProxyError::V1Syntax("extra field"),
            ),
            (
                b"PROXY TCP4 ::1 1.2.3.4 1 2\r\n",
                ProxyError::V1Syntax("bad address"),
            ),
            (
                b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
                ProxyError::V1Syntax("bad address"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n",
                ProxyError::V1Syntax("bad port"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n",
                ProxyError::V1Syntax("bad port"),
            ),
            (
                b"PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n",
                ProxyError::V1Syntax("extra field"),
            ),
        ];
        for (input, err) in bad {
            assert_eq!(
                parse(input),
                Err(err.clone()),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(parse(&[b'P'; 1][..]), Ok(Parsed::Need(MIN_V1_LEN)));
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(MAX_V1_LEN, b'x');
        assert_eq!(parse(&long), Err(ProxyError::V1TooLong));
    }

    #[test]
    fn v2_table() {
        let pair = (addr("192.0.2.7:4000"), addr("10.0.0.1:21"));
        let bytes = encode_v2(Some(pair));
        let (h, len) = done(&bytes);
        assert_eq!((h.version, h.client, len), (2, Some(pair.0), 28));
        let local = encode_v2(None);
        assert_eq!(done(&local).0.client, None);
        assert_eq!(parse(&bytes[..5]), Ok(Parsed::Need(16)));
        assert_eq!(parse(&bytes[..20]), Ok(Parsed::Need(28)));
        let mut wrong = bytes.clone();
        wrong[12] = 0x31;
        assert_eq!(parse(&wrong), Err(ProxyError::V2Command(0x31)));
        let mut huge = bytes.clone();
        huge[14..16].copy_from_slice(&60000u16.to_be_bytes());
        assert_eq!(parse(&huge), Err(ProxyError::V2TooLong(60016)));
        let mut short = bytes.clone();
        short[15] = 4;
        assert_eq!(parse(&short[..20]), Err(ProxyError::V2Short));
        let mut dgram = bytes.clone();
        dgram[13] = 0x12;
        assert_eq!(parse(&dgram), Err(ProxyError::V2Family(0x12)));
        // TLVs after the addresses are skipped but counted.
        let mut tlv = bytes.clone();
        tlv[15] += 3;
        tlv.extend_from_slice(&[0x04, 0x00, 0x00]);
        assert_eq!(done(&tlv).1, 31);
    }

    fn socket_pair() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
        prop_oneof![
            (
                any::<[u8; 4]>(),
                any::<[u8; 4]>(),
                any::<u16>(),
                any::<u16>()
            )
                .prop_map(|(a, b, p, q)| (
                    SocketAddr::new(IpAddr::from(a), p),
                    SocketAddr::new(IpAddr::from(b), q)
                )),
            (
                any::<[u8; 16]>(),
                any::<[u8; 16]>(),
                any::<u16>(),
                any::<u16>()
            )
                .prop_map(|(a, b, p, q)| (
                    SocketAddr::new(IpAddr::from(a), p),
                    SocketAddr::new(IpAddr::from(b), q)
                )),
        ]
    }

    proptest! {
        #[test]
        fn round_trips_and_reads_exactly(pair in socket_pair(), v2 in any::<bool>(), tail in proptest::collection::vec(any::<u8>(), 0..32)) {
            let header = if v2 { encode_v2(Some(pair)) } else { encode_v1(Some(pair)) };
            // Fed as a reader would feed it: never more than asked for.
            let mut buf = Vec::new();
            let stream: Vec<u8> = header.iter().chain(&tail).copied().collect();
            let (h, len) = loop {
                match parse(&buf).unwrap() {
                    Parsed::Need(n) => {
                        prop_assert!(n > buf.len() && n <= header.len());
                        buf.extend_from_slice(&stream[buf.len()..n]);
                    }
                    Parsed::Done { header, len } => break (header, len),
                }
            };
            prop_assert_eq!(len, header.len());
            prop_assert_eq!(h.client, Some(pair.0));
            prop_assert_eq!(h.destination, Some(pair.1));
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(Parsed::Done { len, .. }) = parse(&bytes) {
                prop_assert!(len <= bytes.len());
            }
        }
    }
}
