//! `imap://` and `imaps://` URLs (RFC 5092):
//! `imap://user;AUTH=PLAIN@host:port/Mailbox;UIDVALIDITY=7/;UID=20`.
//! `imaps://` is implicit TLS on port 993.
//!
//! The user (and password, as curl allows), `;AUTH=`, host and port are
//! read by the one URL parser every client shares ([`wire::url`]); this
//! module reads the path shapes a command line needs: mailbox,
//! `;UIDVALIDITY=` and `/;UID=`.

use crate::client::TlsPolicy;
use wire::url::{decode_text, Part, Protocol, Url, UrlError, UrlErrorKind};
use wire::Secret;

/// A parsed IMAP URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    pub tls: TlsPolicy,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// The `;AUTH=` mechanism, upper-cased (`*` means any).
    pub auth: Option<String>,
    pub mailbox: Option<String>,
    pub uid_validity: Option<u32>,
    pub uid: Option<u32>,
}

impl ImapUrl {
    pub fn parse(text: &str) -> Result<ImapUrl, UrlError> {
        let url = Url::parse(text, &[Protocol::Imap])?;
        let (mailbox, uid_validity, uid) =
            mailbox_and_uids(&url.path).map_err(|kind| UrlError::new(text, kind))?;
        Ok(ImapUrl {
            tls: url.tls(),
            host: url.host,
            port: url.port,
            user: url.user,
            password: url.password,
            auth: url.auth,
            mailbox,
            uid_validity,
            uid,
        })
    }
}

/// The mailbox (decoded), `;UIDVALIDITY=` and `/;UID=` of an IMAP path.
type MailboxAndUids = (Option<String>, Option<u32>, Option<u32>);

fn mailbox_and_uids(path: &str) -> Result<MailboxAndUids, UrlErrorKind> {
    let path = path.trim_start_matches('/');
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
                .ok_or_else(|| UrlErrorKind::Path(format!("bad ;{param}")))?;
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
                .ok_or_else(|| UrlErrorKind::Path(format!("bad /;{u} (write /;UID=20)")))?,
        ),
    };
    let mailbox = (!mailbox.is_empty())
        .then(|| decode_text(mailbox, Part::Path))
        .transpose()?;
    Ok((mailbox, uid_validity, uid))
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
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("p@ss"));
        assert_eq!(u.mailbox, None);
        let u = ImapUrl::parse("imap://h/Entw%C3%BCrfe/Sub").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("Entwürfe/Sub"));
        for bad in [
            "pop3://h/",
            "imap:///INBOX",
            "imap://h/INBOX/;UID=x",
            "imap://h/INBOX;UIDVALIDITY=x",
            "imap://u;X=1@h/",
            "imap://h/%FF",
        ] {
            assert!(ImapUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
