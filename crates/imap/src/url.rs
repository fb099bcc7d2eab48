//! `imap://` and `imaps://` URLs (RFC 5092):
//! `imap://user;AUTH=PLAIN@host:port/Mailbox;UIDVALIDITY=7/;UID=20`.
//! `imaps://` is implicit TLS on port 993. Only the shapes a command line
//! needs are read: user (and password, as curl allows), `;AUTH=`, mailbox,
//! `;UIDVALIDITY=` and `/;UID=`.

use crate::client::TlsPolicy;

/// A parsed IMAP URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    pub tls: TlsPolicy,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    /// The `;AUTH=` mechanism, upper-cased (`*` means any).
    pub auth: Option<String>,
    pub mailbox: Option<String>,
    pub uid_validity: Option<u32>,
    pub uid: Option<u32>,
}

fn decode(s: &str) -> Result<String, String> {
    let bytes = percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    String::from_utf8(bytes).map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

impl ImapUrl {
    pub fn parse(text: &str) -> Result<ImapUrl, String> {
        let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        let (tls, port) = match url.scheme() {
            "imap" => (TlsPolicy::Plain, 143),
            "imaps" => (TlsPolicy::Implicit, 993),
            other => return Err(format!("{text:?}: {other}:// is not imap:// or imaps://")),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{text:?} names no host"))?
            .trim_matches(['[', ']'])
            .to_string();
        // The url crate keeps ';' in the user part percent-encoded.
        let userinfo = decode(url.username())?;
        let (user, auth) = match userinfo.split_once(';') {
            _ if userinfo.is_empty() => (None, None),
            Some((name, params)) => {
                let mech = params
                    .split_once('=')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("AUTH"))
                    .map(|(_, v)| v.to_ascii_uppercase())
                    .ok_or_else(|| format!("{text:?}: only ;AUTH= may follow the user"))?;
                ((!name.is_empty()).then(|| name.to_string()), Some(mech))
            }
            None => (Some(userinfo.clone()), None),
        };
        let path = url.path().trim_start_matches('/');
        let (mailbox_part, uid_part) = match path.split_once("/;") {
            Some((m, u)) => (m, Some(u)),
            None => (path.trim_end_matches('/'), None),
        };
        let (mailbox, uid_validity) = match mailbox_part.split_once(';') {
            Some((m, param)) => {
                let v = param
                    .split_once('=')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("UIDVALIDITY"))
                    .and_then(|(_, v)| v.parse().ok())
                    .ok_or_else(|| format!("{text:?}: bad ;UIDVALIDITY="))?;
                (m, Some(v))
            }
            None => (mailbox_part, None),
        };
        let uid = match uid_part {
            None => None,
            Some(u) => Some(
                u.split_once('=')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("UID"))
                    .and_then(|(_, v)| v.trim_end_matches('/').parse().ok())
                    .ok_or_else(|| format!("{text:?}: bad /;UID= (write /;UID=20)"))?,
            ),
        };
        Ok(ImapUrl {
            tls,
            host,
            port: url.port().unwrap_or(port),
            user,
            password: url.password().map(decode).transpose()?,
            auth,
            mailbox: (!mailbox.is_empty()).then(|| decode(mailbox)).transpose()?,
            uid_validity,
            uid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5092_shapes() {
        let u = ImapUrl::parse("imap://michael@example.org/INBOX").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.tls),
            ("example.org", 143, TlsPolicy::Plain)
        );
        assert_eq!(u.user.as_deref(), Some("michael"));
        assert_eq!(u.mailbox.as_deref(), Some("INBOX"));
        let u = ImapUrl::parse(
            "imap://bob;AUTH=plain@h:1143/gray%20council;UIDVALIDITY=385759045/;UID=20",
        )
        .unwrap();
        assert_eq!(u.auth.as_deref(), Some("PLAIN"));
        assert_eq!(u.port, 1143);
        assert_eq!(u.mailbox.as_deref(), Some("gray council"));
        assert_eq!((u.uid_validity, u.uid), (Some(385759045), Some(20)));
        let u = ImapUrl::parse("imaps://a:p%40ss@[::1]/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.tls),
            ("::1", 993, TlsPolicy::Implicit)
        );
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!(u.mailbox, None);
        let u = ImapUrl::parse("imap://h/Entw%C3%BCrfe/Sub").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("Entwürfe/Sub"));
        for bad in [
            "pop3://h/",
            "imap:///INBOX",
            "imap://h/INBOX/;UID=x",
            "imap://u;X=1@h/",
            "imap://h/%FF",
        ] {
            assert!(ImapUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
