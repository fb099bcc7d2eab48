//! OAuth 2.0 bearer tokens as SASL mechanisms, for mail clients (SMTP,
//! POP3, IMAP): `OAUTHBEARER` (RFC 7628) and Google's and Microsoft's
//! `XOAUTH2`. Sans-IO: the initial response to send, the answer that ends
//! an exchange the server failed (it sends a JSON error as a challenge
//! first), and that error made readable. The token is a [`Bearer`],
//! whose `Debug` never shows it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// An OAuth 2.0 access token.
#[derive(Clone, PartialEq, Eq)]
pub struct Bearer(String);

impl Bearer {
    /// A token; `None` when it is empty or holds characters no token has
    /// (control characters, spaces).
    pub fn new(token: &str) -> Option<Bearer> {
        let token = token.trim();
        (!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()))
            .then(|| Bearer(token.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(****)")
    }
}

/// A SASL mechanism that carries a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthMechanism {
    /// RFC 7628, the standard.
    OAuthBearer,
    /// Google's and Microsoft's, older and more widely offered.
    XOAuth2,
}

impl OAuthMechanism {
    pub fn name(self) -> &'static str {
        match self {
            OAuthMechanism::OAuthBearer => "OAUTHBEARER",
            OAuthMechanism::XOAuth2 => "XOAUTH2",
        }
    }

    pub fn from_name(name: &str) -> Option<OAuthMechanism> {
        [OAuthMechanism::OAuthBearer, OAuthMechanism::XOAuth2]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// The one to use of those a server offers: OAUTHBEARER first.
    pub fn choose<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<OAuthMechanism> {
        let offered: Vec<OAuthMechanism> =
            offered.into_iter().filter_map(Self::from_name).collect();
        [OAuthMechanism::OAuthBearer, OAuthMechanism::XOAuth2]
            .into_iter()
            .find(|m| offered.contains(m))
    }

    /// The initial client response, base64: who, and the token.
    pub fn initial_response(self, user: &str, token: &Bearer) -> String {
        let token = token.expose();
        let text = match self {
            OAuthMechanism::OAuthBearer => {
                format!("n,a={},\x01auth=Bearer {token}\x01\x01", saslname(user))
            }
            OAuthMechanism::XOAuth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
        };
        STANDARD.encode(text)
    }

    /// What the client sends after the server's error challenge, so that
    /// the server ends the exchange with its failure reply.
    pub fn after_error(self) -> &'static str {
        match self {
            // RFC 7628 §3.2.3: a single %x01, base64.
            OAuthMechanism::OAuthBearer => "AQ==",
            // An empty response.
            OAuthMechanism::XOAuth2 => "",
        }
    }
}

/// RFC 5801's saslname: `,` and `=` escaped.
fn saslname(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// The server's error challenge (base64 of a JSON object such as
/// `{"status":"invalid_token"}`), as text to show; the raw challenge when
/// it is not base64 of UTF-8.
pub fn error_detail(challenge: &str) -> String {
    STANDARD
        .decode(challenge.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(|s| s.chars().filter(|c| !c.is_control()).collect())
        .unwrap_or_else(|| challenge.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(b64: &str) -> String {
        String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
    }

    #[test]
    fn initial_responses_as_the_specifications_show() {
        // Google's XOAUTH2 documentation example.
        let token = Bearer::new("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg").unwrap();
        assert_eq!(
            OAuthMechanism::XOAuth2.initial_response("someuser@example.com", &token),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
        // RFC 7628 §4.1, without the optional host and port.
        let token = Bearer::new("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==").unwrap();
        assert_eq!(
            decoded(&OAuthMechanism::OAuthBearer.initial_response("user@example.com", &token)),
            "n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        assert_eq!(saslname("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(decoded(OAuthMechanism::OAuthBearer.after_error()), "\x01");
    }

    #[test]
    fn choosing_tokens_and_errors() {
        assert_eq!(
            OAuthMechanism::choose(["PLAIN", "XOAUTH2", "OAUTHBEARER"]),
            Some(OAuthMechanism::OAuthBearer)
        );
        assert_eq!(
            OAuthMechanism::choose(["plain", "xoauth2"]),
            Some(OAuthMechanism::XOAuth2)
        );
        assert_eq!(OAuthMechanism::choose(["PLAIN", "LOGIN"]), None);
        assert!(Bearer::new("  ").is_none());
        assert!(Bearer::new("a b").is_none());
        assert!(Bearer::new("a\x01b").is_none());
        assert_eq!(Bearer::new(" tok\n").unwrap().expose(), "tok");
        assert_eq!(
            format!("{:?}", Bearer::new("secret").unwrap()),
            "Bearer(****)"
        );
        let json = STANDARD.encode(r#"{"status":"invalid_token"}"#);
        assert_eq!(error_detail(&json), r#"{"status":"invalid_token"}"#);
        assert_eq!(error_detail("not base64!"), "not base64!");
    }
}
