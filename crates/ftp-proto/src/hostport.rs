//! The address arguments of the data-connection commands: PORT and the PASV
//! reply (RFC 959 `h1,h2,h3,h4,p1,p2`), EPRT (`|af|addr|port|`) and the EPSV
//! argument and reply (RFC 2428).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// What went wrong reading an address argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPortError {
    /// The argument does not follow the grammar.
    Syntax,
    /// EPRT named an address family other than 1 (IPv4) or 2 (IPv6).
    UnknownFamily,
}

/// Parses a PORT argument, `h1,h2,h3,h4,p1,p2`, each a decimal byte.
pub fn parse_port(arg: &[u8]) -> Result<SocketAddrV4, HostPortError> {
    let text = std::str::from_utf8(arg).map_err(|_| HostPortError::Syntax)?;
    let mut nums = [0u8; 6];
    let mut parts = text.trim().split(',');
    for slot in &mut nums {
        let part = parts.next().ok_or(HostPortError::Syntax)?.trim();
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HostPortError::Syntax);
        }
        *slot = part.parse().map_err(|_| HostPortError::Syntax)?;
    }
    if parts.next().is_some() {
        return Err(HostPortError::Syntax);
    }
    let ip = Ipv4Addr::new(nums[0], nums[1], nums[2], nums[3]);
    Ok(SocketAddrV4::new(
        ip,
        u16::from_be_bytes([nums[4], nums[5]]),
    ))
}

/// Formats `h1,h2,h3,h4,p1,p2` for PORT or the PASV reply.
pub fn format_port(addr: SocketAddrV4) -> String {
    let [a, b, c, d] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("{a},{b},{c},{d},{p1},{p2}")
}

/// The text of a 227 reply for a passive listener at `addr`.
pub fn pasv_reply_text(addr: SocketAddrV4) -> String {
    format!("Entering Passive Mode ({}).", format_port(addr))
}

/// Finds the `h1,...,p2` group in a 227 reply text. Servers differ in what
/// surrounds it (parentheses or not), so this takes the first run of six
/// comma-separated numbers.
pub fn parse_pasv_reply(text: &[u8]) -> Result<SocketAddrV4, HostPortError> {
    let start = text
        .iter()
        .position(u8::is_ascii_digit)
        .ok_or(HostPortError::Syntax)?;
    let rest = &text[start..];
    let end = rest
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b',' || *b == b' '))
        .unwrap_or(rest.len());
    parse_port(&rest[..end])
}

/// Parses an EPRT argument: `<d>af<d>addr<d>port<d>` where `<d>` is any
/// printable ASCII character other than a digit (RFC 2428 §2).
pub fn parse_eprt(arg: &[u8]) -> Result<SocketAddr, HostPortError> {
    let text = std::str::from_utf8(arg).map_err(|_| HostPortError::Syntax)?;
    let delim = text.chars().next().ok_or(HostPortError::Syntax)?;
    if !(delim.is_ascii_graphic()) || delim.is_ascii_digit() {
        return Err(HostPortError::Syntax);
    }
    let fields: Vec<&str> = text.split(delim).collect();
    // "", af, addr, port, ""
    if fields.len() != 5 || !fields[0].is_empty() || !fields[4].is_empty() {
        return Err(HostPortError::Syntax);
    }
    let port: u16 = parse_decimal(fields[3])?;
    let ip: IpAddr = match fields[1] {
        "1" => IpAddr::V4(
            fields[2]
                .parse::<Ipv4Addr>()
                .map_err(|_| HostPortError::Syntax)?,
        ),
        "2" => IpAddr::V6(
            fields[2]
                .parse::<Ipv6Addr>()
                .map_err(|_| HostPortError::Syntax)?,
        ),
        other if other.bytes().all(|b| b.is_ascii_digit()) && !other.is_empty() => {
            return Err(HostPortError::UnknownFamily)
        }
        _ => return Err(HostPortError::Syntax),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Formats an EPRT argument for `addr`.
pub fn format_eprt(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => format!("|1|{ip}|{}|", addr.port()),
        IpAddr::V6(ip) => format!("|2|{ip}|{}|", addr.port()),
    }
}

/// The argument of EPSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    /// No argument: use the control connection's protocol.
    Any,
    /// A network protocol number: 1 for IPv4, 2 for IPv6, others unknown.
    Protocol(u8),
    /// `EPSV ALL`: from now on only EPSV may set up data connections.
    All,
}

/// Parses the EPSV argument (empty, a protocol number, or `ALL`).
pub fn parse_epsv(arg: &[u8]) -> Result<EpsvArg, HostPortError> {
    let text = std::str::from_utf8(arg)
        .map_err(|_| HostPortError::Syntax)?
        .trim();
    if text.is_empty() {
        Ok(EpsvArg::Any)
    } else if text.eq_ignore_ascii_case("ALL") {
        Ok(EpsvArg::All)
    } else {
        parse_decimal::<u8>(text).map(EpsvArg::Protocol)
    }
}

/// The text of a 229 reply for a passive listener on `port`.
pub fn epsv_reply_text(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|)")
}

/// Finds the port in a 229 reply text: `(<d><d><d>port<d>)`.
pub fn parse_epsv_reply(text: &[u8]) -> Result<u16, HostPortError> {
    let open = text
        .iter()
        .position(|&b| b == b'(')
        .ok_or(HostPortError::Syntax)?;
    let close = text[open..]
        .iter()
        .position(|&b| b == b')')
        .ok_or(HostPortError::Syntax)?;
    let inner =
        std::str::from_utf8(&text[open + 1..open + close]).map_err(|_| HostPortError::Syntax)?;
    let delim = inner.chars().next().ok_or(HostPortError::Syntax)?;
    let fields: Vec<&str> = inner.split(delim).collect();
    if fields.len() != 5 || !fields[1].is_empty() || !fields[2].is_empty() {
        return Err(HostPortError::Syntax);
    }
    parse_decimal(fields[3])
}

fn parse_decimal<T: std::str::FromStr>(text: &str) -> Result<T, HostPortError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostPortError::Syntax);
    }
    text.parse().map_err(|_| HostPortError::Syntax)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn port_parses_and_formats() {
        let addr = parse_port(b"127,0,0,1,4,1").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            addr,
            "127.0.0.1:1025".parse().unwrap_or_else(|e| panic!("{e:?}"))
        );
        assert_eq!(format_port(addr), "127,0,0,1,4,1");
    }

    #[test]
    fn port_rejects_bad_input() {
        for bad in [
            &b""[..],
            b"127,0,0,1,4",
            b"127,0,0,1,4,1,9",
            b"256,0,0,1,4,1",
            b"127,0,0,1,4,-1",
            b"127,,0,1,4,1",
            b"1270,0,0,1,4,1",
            b"\xff",
        ] {
            assert_eq!(parse_port(bad), Err(HostPortError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn pasv_reply_variants() {
        let want: SocketAddrV4 = "10.1.2.3:1027".parse().unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            parse_pasv_reply(b"Entering Passive Mode (10,1,2,3,4,3)."),
            Ok(want)
        );
        assert_eq!(
            parse_pasv_reply(b"Entering Passive Mode 10,1,2,3,4,3"),
            Ok(want)
        );
        assert_eq!(parse_pasv_reply(b"=10,1,2,3,4,3"), Ok(want));
        assert!(parse_pasv_reply(b"nothing here").is_err());
    }

    #[test]
    fn eprt_both_families() {
        assert_eq!(
            parse_eprt(b"|1|132.235.1.2|6275|"),
            Ok("132.235.1.2:6275"
                .parse()
                .unwrap_or_else(|e| panic!("{e:?}")))
        );
        assert_eq!(
            parse_eprt(b"|2|1080::8:800:200C:417A|5282|"),
            Ok("[1080::8:800:200C:417A]:5282"
                .parse()
                .unwrap_or_else(|e| panic!("{e:?}")))
        );
        assert_eq!(parse_eprt(b"!1!127.0.0.1!80!").map(|a| a.port()), Ok(80));
        assert_eq!(
            parse_eprt(b"|3|1.2.3.4|5|"),
            Err(HostPortError::UnknownFamily)
        );
        assert_eq!(parse_eprt(b"|1|::1|5|"), Err(HostPortError::Syntax));
        assert_eq!(parse_eprt(b"|1|1.2.3.4|70000|"), Err(HostPortError::Syntax));
        assert_eq!(parse_eprt(b"1|1|1.2.3.4|7|"), Err(HostPortError::Syntax));
        assert_eq!(parse_eprt(b""), Err(HostPortError::Syntax));
    }

    #[test]
    fn epsv_args_and_reply() {
        assert_eq!(parse_epsv(b""), Ok(EpsvArg::Any));
        assert_eq!(parse_epsv(b"all"), Ok(EpsvArg::All));
        assert_eq!(parse_epsv(b"2"), Ok(EpsvArg::Protocol(2)));
        assert!(parse_epsv(b"x").is_err());
        assert_eq!(
            parse_epsv_reply(epsv_reply_text(50123).as_bytes()),
            Ok(50123)
        );
        assert!(parse_epsv_reply(b"Entering (|1|2|3|)").is_err());
    }

    proptest! {
        #[test]
        fn port_round_trip(a: u8, b: u8, c: u8, d: u8, port: u16) {
            let addr = SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port);
            prop_assert_eq!(parse_port(format_port(addr).as_bytes()), Ok(addr));
            prop_assert_eq!(parse_pasv_reply(pasv_reply_text(addr).as_bytes()), Ok(addr));
        }

        #[test]
        fn eprt_round_trip(v6: bool, raw: u128, port: u16) {
            let ip = if v6 { IpAddr::V6(Ipv6Addr::from(raw)) } else { IpAddr::V4(Ipv4Addr::from(raw as u32)) };
            let addr = SocketAddr::new(ip, port);
            prop_assert_eq!(parse_eprt(format_eprt(addr).as_bytes()), Ok(addr));
        }

        #[test]
        fn parsers_never_panic(bytes: Vec<u8>) {
            let _ = parse_port(&bytes);
            let _ = parse_eprt(&bytes);
            let _ = parse_epsv(&bytes);
            let _ = parse_pasv_reply(&bytes);
            let _ = parse_epsv_reply(&bytes);
        }
    }
}
