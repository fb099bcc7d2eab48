//! The authentication exchanges SMTP (RFC 4954) and POP3 (RFC 5034,
//! RFC 1939 APOP) share, sans-IO: PLAIN (RFC 4616), LOGIN, CRAM-MD5
//! (RFC 2195) and the APOP digest. Base64 in and out.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

/// A SASL mechanism this client can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
    CramMd5,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
        }
    }

    pub fn from_name(name: &str) -> Option<Mechanism> {
        [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// The best of the mechanisms a server offers: on TLS, PLAIN (one
    /// round trip, the password already protected); in the clear,
    /// CRAM-MD5 (the password never crosses the wire) before PLAIN and LOGIN.
    pub fn choose<'a>(offered: impl IntoIterator<Item = &'a str>, tls: bool) -> Option<Mechanism> {
        let offered: Vec<Mechanism> = offered
            .into_iter()
            .filter_map(Mechanism::from_name)
            .collect();
        let order: &[Mechanism] = if tls {
            &[Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]
        } else {
            &[Mechanism::CramMd5, Mechanism::Plain, Mechanism::Login]
        };
        order.iter().copied().find(|m| offered.contains(m))
    }
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// PLAIN's one message: authzid (empty), user and password.
pub fn plain(user: &str, password: &str) -> String {
    b64(format!("\0{user}\0{password}").as_bytes())
}

/// CRAM-MD5's answer to a base64 challenge: `user HMAC-MD5(password, challenge)`.
pub fn cram_md5(user: &str, password: &str, challenge_b64: &str) -> Option<String> {
    let challenge = STANDARD.decode(challenge_b64.trim()).ok()?;
    let mut mac = Hmac::<Md5>::new_from_slice(password.as_bytes()).ok()?;
    mac.update(&challenge);
    let digest = hex(&mac.finalize().into_bytes());
    Some(b64(format!("{user} {digest}").as_bytes()))
}

/// APOP's digest: MD5 of the greeting's timestamp and the password, in hex.
pub fn apop_digest(timestamp: &str, password: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(timestamp.as_bytes());
    md5.update(password.as_bytes());
    hex(&md5.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_examples() {
        // RFC 4616 §4
        assert_eq!(
            plain("tim", "tanstaaftanstaaf"),
            "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
        );
        // RFC 2195 §2
        let challenge = b64(b"<1896.697170952@postoffice.reston.mci.net>");
        assert_eq!(
            cram_md5("tim", "tanstaaftanstaaf", &challenge).unwrap(),
            b64(b"tim b913a602c7eda7a495b4e6e7334d3890")
        );
        assert_eq!(cram_md5("u", "p", "not base64!"), None);
        // RFC 1939 §7
        assert_eq!(
            apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
    }

    #[test]
    fn choosing() {
        let offered = ["LOGIN", "PLAIN", "CRAM-MD5", "XOAUTH2"];
        assert_eq!(Mechanism::choose(offered, true), Some(Mechanism::Plain));
        assert_eq!(Mechanism::choose(offered, false), Some(Mechanism::CramMd5));
        assert_eq!(Mechanism::choose(["login"], false), Some(Mechanism::Login));
        assert_eq!(Mechanism::choose(["GSSAPI"], true), None);
    }
}
