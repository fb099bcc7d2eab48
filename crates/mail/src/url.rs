//! Mail URLs: `smtp://`, `smtps://` (RFC 8314 implicit TLS, port 465),
//! `submission://` (port 587), `pop3://`/`pop://`, `pop3s://` (RFC 2384,
//! port 110/995), `imap://`, `imaps://` (RFC 5092, port 143/993).
//!
//! Everything but the path is read by the one URL parser every client
//! shares ([`wire::url`]): `user:password@` percent-encoded, `;AUTH=...`
//! after the user. What follows the host (a mailbox, a message number) is
//! kept here as `path`, decoded.

use crate::conn::TlsPolicy;
use wire::url::{decode_text, Part, Url, UrlError};
use wire::Secret;

pub use wire::url::Protocol;

/// The protocols a mail URL may name.
const MAIL: &[Protocol] = &[Protocol::Smtp, Protocol::Pop3, Protocol::Imap];

/// A parsed mail URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailUrl {
    /// [`Protocol::Smtp`], [`Protocol::Pop3`] or [`Protocol::Imap`].
    pub protocol: Protocol,
    /// [`TlsPolicy::Implicit`] for the `s` schemes, else [`TlsPolicy::Plain`].
    pub security: TlsPolicy,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// The `;AUTH=` mechanism named after the user, upper-cased.
    pub auth: Option<String>,
    /// The path after the host, percent-decoded, without its leading `/`.
    pub path: String,
}

impl MailUrl {
    pub fn parse(text: &str) -> Result<MailUrl, UrlError> {
        let url = Url::parse(text, MAIL)?;
        let path = decode_text(url.path.trim_start_matches('/'), Part::Path)
            .map_err(|kind| UrlError::new(text, kind))?;
        Ok(MailUrl {
            protocol: url.scheme.protocol,
            security: url.tls(),
            host: url.host,
            port: url.port,
            user: url.user,
            password: url.password,
            auth: url.auth,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_ports_and_userinfo() {
        let u = MailUrl::parse("smtps://a%40b:p%3Aw+x@mx.example/").unwrap();
        assert_eq!(
            (u.protocol, u.security, u.port),
            (Protocol::Smtp, TlsPolicy::Implicit, 465)
        );
        assert_eq!(u.user.as_deref(), Some("a@b"));
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("p:w+x"));
        let u = MailUrl::parse("pop3://bob;AUTH=apop@[::1]:1110/3").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 1110));
        assert_eq!(
            (u.user.as_deref(), u.auth.as_deref(), u.path.as_str()),
            (Some("bob"), Some("APOP"), "3")
        );
        assert_eq!(MailUrl::parse("pop3s://h").unwrap().port, 995);
        assert_eq!(MailUrl::parse("submission://h").unwrap().port, 587);
        assert_eq!(
            MailUrl::parse("imap://h/Sent%20Items").unwrap().path,
            "Sent Items"
        );
        assert!(MailUrl::parse("ftp://h/").is_err());
        assert!(MailUrl::parse("smtp:///").is_err());
        assert!(MailUrl::parse("pop3://u;x=1@h/").is_err());
    }
}
