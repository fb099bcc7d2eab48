//! Which TLS versions a client offers, read from the first bytes of its
//! connection (its ClientHello) before a TLS library takes them: the
//! `supported_versions` extension (RFC 8446 §4.2.1), or, without it, the
//! hello's own version field (a client that knows only TLS 1.2 or older).
//!
//! The FTPS server needs this to choose a version before the handshake
//! starts; rustls shows a ClientHello's cipher suites but not its versions,
//! and cipher suites do not tell (rustls clients list TLS 1.2 suites even
//! when they offer only TLS 1.3). Only reading: nothing here answers the
//! client, and bytes that are not a well-formed ClientHello are
//! [`Hello::Unreadable`], for the TLS library to refuse.

/// What the first bytes of a connection say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hello {
    /// A ClientHello offering these versions.
    Offers { tls12: bool, tls13: bool },
    /// The bytes so far are the start of a ClientHello record; more must
    /// arrive.
    Incomplete,
    /// Not a ClientHello this reader understands (not TLS, malformed, or a
    /// hello spread over several records).
    Unreadable,
}

/// TLS record type of handshake messages.
const HANDSHAKE: u8 = 22;
/// Handshake message type of ClientHello.
const CLIENT_HELLO: u8 = 1;
/// Extension number of supported_versions.
const SUPPORTED_VERSIONS: u16 = 43;
/// The largest record a peer may send (RFC 8446 §5.1).
pub const MAX_RECORD: usize = 5 + (1 << 14);
const TLS12: u16 = 0x0303;
const TLS13: u16 = 0x0304;

/// Reads the versions the ClientHello at the start of `bytes` offers.
pub fn offered_versions(bytes: &[u8]) -> Hello {
    let Some(header) = bytes.get(..5) else {
        return if bytes.first().is_none_or(|&t| t == HANDSHAKE) {
            Hello::Incomplete
        } else {
            Hello::Unreadable
        };
    };
    let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
    if header[0] != HANDSHAKE || 5 + length > MAX_RECORD {
        return Hello::Unreadable;
    }
    let Some(record) = bytes.get(5..5 + length) else {
        return Hello::Incomplete;
    };
    read_hello(record).unwrap_or(Hello::Unreadable)
}

/// The ClientHello in one record's body; `None` when malformed.
fn read_hello(record: &[u8]) -> Option<Hello> {
    let mut r = Reader(record);
    if r.u8()? != CLIENT_HELLO {
        return None;
    }
    let length = r.u24()?;
    let mut hello = Reader(r.take(length)?);
    let legacy_version = hello.u16()?;
    hello.take(32)?; // random
    let session_id = usize::from(hello.u8()?);
    hello.take(session_id)?;
    let suites = usize::from(hello.u16()?);
    hello.take(suites)?;
    let compression = usize::from(hello.u8()?);
    hello.take(compression)?;
    if hello.0.is_empty() {
        return Some(legacy(legacy_version)); // no extensions at all
    }
    let all = usize::from(hello.u16()?);
    let mut extensions = Reader(hello.take(all)?);
    while !extensions.0.is_empty() {
        let kind = extensions.u16()?;
        let size = usize::from(extensions.u16()?);
        let body = extensions.take(size)?;
        if kind == SUPPORTED_VERSIONS {
            return supported_versions(body);
        }
    }
    Some(legacy(legacy_version))
}

/// A hello without supported_versions: the version it names, TLS 1.2 at
/// most.
fn legacy(version: u16) -> Hello {
    Hello::Offers {
        tls12: version >= TLS12,
        tls13: false,
    }
}

/// The body of a supported_versions extension.
fn supported_versions(body: &[u8]) -> Option<Hello> {
    let mut r = Reader(body);
    let length = usize::from(r.u8()?);
    let list = r.take(length)?;
    if length % 2 != 0 || !r.0.is_empty() {
        return None;
    }
    let versions: Vec<u16> = list
        .chunks_exact(2)
        .map(|v| u16::from_be_bytes([v[0], v[1]]))
        .collect();
    Some(Hello::Offers {
        tls12: versions.contains(&TLS12),
        tls13: versions.contains(&TLS13),
    })
}

/// Bounds-checked reading from the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A ClientHello record with these extensions (type, body).
    fn hello(legacy_version: u16, extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = legacy_version.to_be_bytes().to_vec();
        body.extend([7u8; 32]); // random
        body.extend([3, 1, 2, 3]); // session id
        body.extend([0, 4, 0x13, 0x01, 0xc0, 0x2f]); // two suites
        body.extend([1, 0]); // null compression
        if !extensions.is_empty() {
            let mut all = Vec::new();
            for (kind, data) in extensions {
                all.extend(kind.to_be_bytes());
                all.extend((data.len() as u16).to_be_bytes());
                all.extend(data);
            }
            body.extend((all.len() as u16).to_be_bytes());
            body.extend(all);
        }
        let mut message = vec![CLIENT_HELLO];
        message.extend(&(body.len() as u32).to_be_bytes()[1..]);
        message.extend(body);
        let mut record = vec![HANDSHAKE, 3, 1];
        record.extend((message.len() as u16).to_be_bytes());
        record.extend(message);
        record
    }

    fn versions(list: &[u16]) -> (u16, Vec<u8>) {
        let mut data = vec![(list.len() * 2) as u8];
        for v in list {
            data.extend(v.to_be_bytes());
        }
        (SUPPORTED_VERSIONS, data)
    }

    #[test]
    fn supported_versions_decide() {
        let sni = (0u16, vec![0, 0]);
        for (list, tls12, tls13) in [
            (&[TLS13, TLS12][..], true, true),
            (&[TLS13][..], false, true),
            (&[TLS12][..], true, false),
            (&[0x7a7a, TLS13][..], false, true), // GREASE is ignored
        ] {
            let bytes = hello(TLS12, &[sni.clone(), versions(list)]);
            assert_eq!(
                offered_versions(&bytes),
                Hello::Offers { tls12, tls13 },
                "{list:x?}"
            );
        }
    }

    #[test]
    fn without_supported_versions_the_legacy_field_decides() {
        assert_eq!(
            offered_versions(&hello(TLS12, &[(0, vec![0, 0])])),
            Hello::Offers {
                tls12: true,
                tls13: false
            }
        );
        assert_eq!(
            offered_versions(&hello(0x0301, &[])),
            Hello::Offers {
                tls12: false,
                tls13: false
            }
        );
    }

    #[test]
    fn every_prefix_is_incomplete_and_trailing_bytes_do_not_matter() {
        let mut bytes = hello(TLS12, &[versions(&[TLS13])]);
        for n in 0..bytes.len() {
            assert_eq!(offered_versions(&bytes[..n]), Hello::Incomplete, "{n}");
        }
        bytes.extend(b"next record");
        assert_eq!(
            offered_versions(&bytes),
            Hello::Offers {
                tls12: false,
                tls13: true
            }
        );
    }

    #[test]
    fn other_bytes_are_unreadable() {
        assert_eq!(offered_versions(b"USER alice\r\n"), Hello::Unreadable);
        assert_eq!(offered_versions(b"GET / HTTP/1.1\r\n"), Hello::Unreadable);
        // an alert record, and a handshake record holding a ServerHello
        assert_eq!(
            offered_versions(&[21, 3, 3, 0, 2, 2, 40]),
            Hello::Unreadable
        );
        let mut server_hello = hello(TLS12, &[]);
        server_hello[5] = 2;
        assert_eq!(offered_versions(&server_hello), Hello::Unreadable);
        // a hello longer than its record, and a record over the limit
        let mut long = hello(TLS12, &[versions(&[TLS13])]);
        long[8] += 1;
        assert_eq!(offered_versions(&long), Hello::Unreadable);
        assert_eq!(offered_versions(&[22, 3, 3, 0x40, 1]), Hello::Unreadable);
        // an odd-length version list
        let odd = hello(TLS12, &[(SUPPORTED_VERSIONS, vec![3, 3, 4, 3])]);
        assert_eq!(offered_versions(&odd), Hello::Unreadable);
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = offered_versions(&bytes);
        }

        #[test]
        fn a_record_header_then_anything_never_panics(
            len in 0u16..2000,
            body in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let mut bytes = vec![HANDSHAKE, 3, 1];
            bytes.extend(len.to_be_bytes());
            bytes.push(CLIENT_HELLO);
            bytes.extend(body);
            let _ = offered_versions(&bytes);
        }
    }
}
