//! Header values for people: RFC 2047 encoded words (`=?UTF-8?B?…?=`,
//! `=?ISO-8859-1?Q?…?=` and other charsets) decoded with the `mail-parser`
//! crate; and encoded for posting when a value is not ASCII.

use mail_parser::MessageParser;

/// Decodes the encoded words in an unstructured header value.
pub fn decode(value: &[u8]) -> String {
    let mut raw = b"Subject: ".to_vec();
    raw.extend_from_slice(value);
    raw.extend_from_slice(b"\r\n\r\n");
    let decoded = MessageParser::default()
        .parse_headers(&raw)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(value).into_owned());
    // Unstructured decoding pads an encoded word that touches a comment's
    // parenthesis; a comment keeps its parentheses tight.
    let mut fixed = decoded;
    if value.windows(3).any(|w| w == b"(=?") {
        fixed = fixed.replace("( ", "(");
    }
    if value.windows(3).any(|w| w == b"?=)") {
        fixed = fixed.replace(" )", ")");
    }
    fixed
}

/// Encodes a header value as RFC 2047 words if it is not plain ASCII.
pub fn encode(value: &str) -> String {
    if value.is_ascii() && !value.contains("=?") {
        return value.to_string();
    }
    // Encoded words are at most 75 characters; split the UTF-8 text on
    // character boundaries into pieces that fit.
    let mut words = Vec::new();
    let mut piece = String::new();
    for c in value.chars() {
        if (piece.len() + c.len_utf8()).div_ceil(3) * 4 > 45 {
            words.push(format!("=?UTF-8?B?{}?=", base64(piece.as_bytes())));
            piece.clear();
        }
        piece.push(c);
    }
    if !piece.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(piece.as_bytes())));
    }
    words.join("\r\n ")
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_encoded_words() {
        assert_eq!(decode(b"=?UTF-8?B?R3LDvMOfZQ==?="), "Grüße");
        assert_eq!(decode(b"=?ISO-8859-1?Q?Caf=E9?= au lait"), "Café au lait");
        assert_eq!(decode(b"plain text"), "plain text");
        assert_eq!(decode(b"r@x (=?UTF-8?B?UmVuw6k=?=)"), "r@x (René)");
    }

    #[test]
    fn encodes_what_is_not_ascii() {
        assert_eq!(encode("hello"), "hello");
        let e = encode("Grüße aus Köln, wie geht es dir heute an diesem schönen Tag?");
        assert!(e.starts_with("=?UTF-8?B?"));
        assert_eq!(
            decode(e.as_bytes()),
            "Grüße aus Köln, wie geht es dir heute an diesem schönen Tag?"
        );
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"M"), "TQ==");
    }
}
