//! Modified UTF-7 for mailbox names (RFC 3501 §5.1.3): printable ASCII
//! stands for itself except `&`, which is written `&-`; anything else is
//! UTF-16 in a modified base64 (`,` for `/`, no padding) between `&` and `-`.

use base64::alphabet::Alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

fn engine() -> Option<GeneralPurpose> {
    let alphabet =
        Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").ok()?;
    let config = GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false);
    Some(GeneralPurpose::new(&alphabet, config))
}

/// Encodes a mailbox name for the wire.
pub fn encode(name: &str) -> String {
    let Some(engine) = engine() else {
        return name.to_string();
    };
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&engine.encode(bytes));
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a mailbox name from the wire; `None` if it is not valid
/// modified UTF-7 (the caller then shows it as it came).
pub fn decode(wire: &[u8]) -> Option<String> {
    let engine = engine()?;
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some((&b, tail)) = rest.split_first() {
        if !(0x20..=0x7e).contains(&b) {
            return None;
        }
        if b != b'&' {
            out.push(char::from(b));
            rest = tail;
            continue;
        }
        let end = tail.iter().position(|&c| c == b'-')?;
        let (chunk, after) = (&tail[..end], &tail[end + 1..]);
        if chunk.is_empty() {
            out.push('&');
        } else {
            let bytes = engine.decode(chunk).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            let text = String::from_utf16(&units).ok()?;
            if text.chars().any(|c| (' '..='~').contains(&c)) {
                // Printable ASCII must stand for itself (RFC 3501 §5.1.3).
                return None;
            }
            out.push_str(&text);
        }
        rest = after;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_examples() {
        // RFC 3501 §5.1.3.
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(encode("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(decode(b"Entw&APw-rfe").as_deref(), Some("Entwürfe"));
        assert_eq!(decode(b"&-").as_deref(), Some("&"));
        assert_eq!(decode(b"INBOX").as_deref(), Some("INBOX"));
    }

    #[test]
    fn rejects_bad_forms() {
        assert_eq!(decode(b"&U,BTFw"), None); // no closing '-'
        assert_eq!(decode(b"&AGE-"), None); // "a" must not be encoded
        assert_eq!(decode(b"caf\xc3\xa9"), None); // raw 8-bit
        assert_eq!(decode(b"&Jjo!-"), None);
    }

    proptest! {
        #[test]
        fn round_trip(name in "\\PC{0,20}") {
            prop_assert_eq!(decode(encode(&name).as_bytes()), Some(name));
        }
    }
}
