//! `ftp://` and `ftps://` URLs (RFC 1738 §3.2, with curl's conventions):
//! `ftp://user:password@host:port/path;type=i`.
//!
//! The scheme, user, password, host and port are read by the one URL
//! parser every client shares ([`wire::url`]); this module reads what the
//! path means to FTP. The path is relative to the directory the login
//! lands in; a path that starts with `%2F` is absolute. Percent-escapes
//! decode to bytes, so any file name can be written. `ftps://` means
//! implicit TLS (port 990 by default); `ftp://` is plain unless the caller
//! asks for explicit TLS. A path that ends in `/` names a directory.

use crate::options::TlsPolicy;
use ftp_proto::command::TransferType;
use wire::url::{percent_decode, Protocol, Url, UrlError, UrlErrorKind};
use wire::Secret;

/// A parsed FTP URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpUrl {
    pub tls: TlsPolicy,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// Decoded path bytes, relative to the login directory unless it
    /// starts with `/`. Empty for the login directory itself.
    pub path: Vec<u8>,
    /// `;type=a` or `;type=i`.
    pub transfer_type: Option<TransferType>,
    /// The path ended in `/`.
    pub is_dir: bool,
}

impl FtpUrl {
    pub fn parse(text: &str) -> Result<FtpUrl, UrlError> {
        let url = Url::parse(text, &[Protocol::Ftp])?;
        let (path, transfer_type) = match url.path.rsplit_once(";type=") {
            Some((p, "a" | "A")) => (p, Some(TransferType::Ascii)),
            Some((p, "i" | "I")) => (p, Some(TransferType::Image)),
            Some((_, other)) => {
                let why = format!(";type={other} is not a or i");
                return Err(UrlError::new(text, UrlErrorKind::Path(why)));
            }
            None => (url.path.as_str(), None),
        };
        let is_dir = path.is_empty() || path.ends_with('/');
        let path = percent_decode(path.as_bytes());
        Ok(FtpUrl {
            tls: url.tls(),
            host: url.host,
            port: url.port,
            user: url.user,
            password: url.password,
            path,
            transfer_type,
            is_dir,
        })
    }

    /// The last path component (the file name), if the URL names a file.
    pub fn file_name(&self) -> Option<&[u8]> {
        if self.is_dir {
            return None;
        }
        self.path
            .rsplit(|&b| b == b'/')
            .next()
            .filter(|n| !n.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let u = FtpUrl::parse("ftp://bob:p%40ss@example.org:2121/dir/a%20b.txt;type=a").unwrap();
        assert_eq!(u.tls, TlsPolicy::Plain);
        assert_eq!(u.host, "example.org");
        assert_eq!(u.port, 2121);
        assert_eq!(u.user.as_deref(), Some("bob"));
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("p@ss"));
        assert_eq!(u.path, b"dir/a b.txt");
        assert_eq!(u.transfer_type, Some(TransferType::Ascii));
        assert_eq!(u.file_name(), Some(&b"a b.txt"[..]));
    }

    #[test]
    fn defaults_and_dirs() {
        let u = FtpUrl::parse("ftps://[::1]/pub/").unwrap();
        assert_eq!(
            (u.tls, u.port, u.host.as_str()),
            (TlsPolicy::Implicit, 990, "::1")
        );
        assert!(u.is_dir);
        assert_eq!(u.file_name(), None);
        let u = FtpUrl::parse("ftp://h").unwrap();
        assert!(u.is_dir && u.path.is_empty() && u.user.is_none());
        let u = FtpUrl::parse("ftp://h/%2Fetc/x%FF").unwrap();
        assert_eq!(u.path, b"/etc/x\xff");
        let u = FtpUrl::parse("ftp://h/a b;type=I").unwrap();
        assert_eq!(
            (u.path.as_slice(), u.transfer_type),
            (&b"a b"[..], Some(TransferType::Image))
        );
        assert!(FtpUrl::parse("http://h/").is_err());
        let e = FtpUrl::parse("ftp://h/x;type=z").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#""ftp://h/x;type=z": ;type=z is not a or i"#
        );
    }
}
