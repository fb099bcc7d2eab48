//! Mail URLs: `smtp://`, `smtps://` (RFC 8314 implicit TLS, port 465),
//! `pop3://`/`pop://`, `pop3s://` (RFC 2384, port 110/995), `imap://`,
//! `imaps://` (RFC 5092, port 143/993). `user:password@` may be given,
//! percent-encoded; `;AUTH=...` after the user (RFC 2384) is split off.
//! What follows the host (a mailbox, a message number) is kept as `path`.

use crate::conn::TlsPolicy;

/// Which protocol a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Smtp,
    Pop3,
    Imap,
}

/// A parsed mail URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailUrl {
    pub protocol: Protocol,
    /// [`TlsPolicy::Implicit`] for the `s` schemes, else [`TlsPolicy::Plain`].
    pub security: TlsPolicy,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    /// The `;AUTH=` mechanism named after the user, upper-cased.
    pub auth: Option<String>,
    /// The path after the host, percent-decoded, without its leading `/`.
    pub path: String,
}

impl MailUrl {
    pub fn parse(text: &str) -> Result<MailUrl, String> {
        let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        let (protocol, security, port) = match url.scheme() {
            "smtp" => (Protocol::Smtp, TlsPolicy::Plain, 25),
            "smtps" => (Protocol::Smtp, TlsPolicy::Implicit, 465),
            "pop3" | "pop" => (Protocol::Pop3, TlsPolicy::Plain, 110),
            "pop3s" | "pops" => (Protocol::Pop3, TlsPolicy::Implicit, 995),
            "imap" => (Protocol::Imap, TlsPolicy::Plain, 143),
            "imaps" => (Protocol::Imap, TlsPolicy::Implicit, 993),
            other => {
                return Err(format!(
                    "{text:?}: {other}:// is not a mail URL (smtp, smtps, pop3, pop3s, imap, imaps)"
                ))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{text:?} names no host"))?
            .trim_matches(['[', ']'])
            .to_string();
        // The url crate keeps ";" percent-encoded in the user part.
        let raw_user = decode(url.username());
        let (user, auth) = match raw_user.split_once(';') {
            _ if raw_user.is_empty() => (None, None),
            Some((u, opt)) => {
                let mech = opt
                    .get(..5)
                    .filter(|k| k.eq_ignore_ascii_case("auth="))
                    .map(|_| opt[5..].to_ascii_uppercase())
                    .ok_or_else(|| format!("{text:?}: unknown option ;{opt}"))?;
                ((!u.is_empty()).then(|| u.to_string()), Some(mech))
            }
            None => (Some(raw_user.clone()), None),
        };
        Ok(MailUrl {
            protocol,
            security,
            host,
            port: url.port().unwrap_or(port),
            user,
            password: url.password().map(decode),
            auth,
            path: decode(url.path().trim_start_matches('/')),
        })
    }
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
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
        assert_eq!(u.password.as_deref(), Some("p:w+x"));
        let u = MailUrl::parse("pop3://bob;AUTH=apop@[::1]:1110/3").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 1110));
        assert_eq!(
            (u.user.as_deref(), u.auth.as_deref(), u.path.as_str()),
            (Some("bob"), Some("APOP"), "3")
        );
        assert_eq!(MailUrl::parse("pop3s://h").unwrap().port, 995);
        assert_eq!(
            MailUrl::parse("imap://h/Sent%20Items").unwrap().path,
            "Sent Items"
        );
        assert!(MailUrl::parse("ftp://h/").is_err());
        assert!(MailUrl::parse("smtp:///").is_err());
        assert!(MailUrl::parse("pop3://u;x=1@h/").is_err());
    }
}
