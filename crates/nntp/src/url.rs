//! `nntp://` and `nntps://` URLs (RFC 5538): `nntp://user:pass@host:port/group`
//! and an optional article number after it (`/group/123`). `nntps://`
//! (and `snews://`) is implicit TLS on port 563.
//!
//! The scheme, user, password, host and port are read by the one URL
//! parser every client shares ([`wire::url`]); this module reads the group
//! and the article from the path.

use crate::client::TlsPolicy;
use wire::url::{decode_text, Part, Protocol, Url, UrlError};
use wire::Secret;

/// A parsed news URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewsUrl {
    pub tls: TlsPolicy,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub group: Option<String>,
    pub article: Option<String>,
}

impl NewsUrl {
    pub fn parse(text: &str) -> Result<NewsUrl, UrlError> {
        let url = Url::parse(text, &[Protocol::Nntp])?;
        let mut parts = url
            .path
            .split('/')
            .filter(|p| !p.is_empty())
            .map(|p| decode_text(p, Part::Path).map_err(|kind| UrlError::new(text, kind)));
        let group = parts.next().transpose()?;
        let article = parts.next().transpose()?;
        Ok(NewsUrl {
            tls: url.tls(),
            host: url.host,
            port: url.port,
            user: url.user,
            password: url.password,
            group,
            article,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = NewsUrl::parse("nntp://bob:pw%21@news.example:1119/comp.lang.rust/42").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("news.example", 1119));
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("pw!"));
        assert_eq!(u.group.as_deref(), Some("comp.lang.rust"));
        assert_eq!(u.article.as_deref(), Some("42"));
        let u = NewsUrl::parse("nntps://h/").unwrap();
        assert_eq!((u.tls, u.port, u.group), (TlsPolicy::Implicit, 563, None));
        let u = NewsUrl::parse("news://h//g//%3C1@x%3E").unwrap();
        assert_eq!(
            (u.group.as_deref(), u.article.as_deref()),
            (Some("g"), Some("<1@x>"))
        );
        assert!(NewsUrl::parse("ftp://h/").is_err());
        assert!(NewsUrl::parse("nntp://h/%FF").is_err());
    }
}
