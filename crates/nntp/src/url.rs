//! `nntp://` and `nntps://` URLs (RFC 5538): `nntp://user:pass@host:port/group`
//! and an optional article number after it (`/group/123`). `nntps://` is
//! implicit TLS on port 563.

use crate::client::TlsPolicy;

/// A parsed news URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewsUrl {
    pub tls: TlsPolicy,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub group: Option<String>,
    pub article: Option<String>,
}

impl NewsUrl {
    pub fn parse(text: &str) -> Result<NewsUrl, String> {
        let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        let (tls, port) = match url.scheme() {
            "nntp" | "news" => (TlsPolicy::Plain, 119),
            "nntps" => (TlsPolicy::Implicit, 563),
            other => return Err(format!("{text:?}: {other}:// is not nntp:// or nntps://")),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{text:?} names no host"))?
            .trim_matches(['[', ']'])
            .to_string();
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let mut parts = url
            .path()
            .trim_start_matches('/')
            .split('/')
            .filter(|p| !p.is_empty());
        Ok(NewsUrl {
            tls,
            host,
            port: url.port().unwrap_or(port),
            user: (!url.username().is_empty()).then(|| decode(url.username())),
            password: url.password().map(decode),
            group: parts.next().map(str::to_string),
            article: parts.next().map(str::to_string),
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
        assert_eq!(u.password.as_deref(), Some("pw!"));
        assert_eq!(u.group.as_deref(), Some("comp.lang.rust"));
        assert_eq!(u.article.as_deref(), Some("42"));
        let u = NewsUrl::parse("nntps://h/").unwrap();
        assert_eq!((u.tls, u.port, u.group), (TlsPolicy::Implicit, 563, None));
        assert!(NewsUrl::parse("ftp://h/").is_err());
    }
}
