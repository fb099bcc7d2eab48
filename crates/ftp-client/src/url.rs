//! `ftp://` and `ftps://` URLs (RFC 1738 §3.2, with curl's conventions):
//! `ftp://user:password@host:port/path;type=i`.
//!
//! The path is relative to the directory the login lands in; a path that
//! starts with `%2F` is absolute. Percent-escapes decode to bytes, so any
//! file name can be written. `ftps://` means implicit TLS (port 990 by
//! default); `ftp://` is plain unless the caller asks for explicit TLS. A
//! path that ends in `/` names a directory.

use crate::options::TlsPolicy;
use ftp_proto::command::TransferType;

/// A parsed FTP URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpUrl {
    pub tls: TlsPolicy,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Decoded path bytes, relative to the login directory unless it
    /// starts with `/`. Empty for the login directory itself.
    pub path: Vec<u8>,
    /// `;type=a` or `;type=i`.
    pub transfer_type: Option<TransferType>,
    /// The path ended in `/`.
    pub is_dir: bool,
}

impl FtpUrl {
    pub fn parse(text: &str) -> Result<FtpUrl, String> {
        let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        let (tls, default_port) = match url.scheme() {
            "ftp" => (TlsPolicy::Plain, 21),
            "ftps" => (TlsPolicy::Implicit, 990),
            other => {
                return Err(format!(
                    "{text:?}: scheme {other}:// is not ftp:// or ftps://"
                ))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{text:?} names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let decode = |s: &str| String::from_utf8_lossy(&percent_decode(s.as_bytes())).into_owned();
        let user = (!url.username().is_empty()).then(|| decode(url.username()));
        let password = url.password().map(decode);
        let raw_path = url.path();
        let (raw_path, transfer_type) = match raw_path.rsplit_once(";type=") {
            Some((p, "a" | "A")) => (p, Some(TransferType::Ascii)),
            Some((p, "i" | "I")) => (p, Some(TransferType::Image)),
            Some((_, other)) => return Err(format!("{text:?}: ;type={other} is not a or i")),
            None => (raw_path, None),
        };
        let relative = raw_path.strip_prefix('/').unwrap_or(raw_path);
        Ok(FtpUrl {
            tls,
            host,
            port: url.port().unwrap_or(default_port),
            user,
            password,
            is_dir: relative.is_empty() || relative.ends_with('/'),
            path: percent_decode(relative.as_bytes()),
            transfer_type,
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

/// Decodes `%XX` escapes into bytes; a malformed escape stays as it is.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
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
        assert_eq!(u.password.as_deref(), Some("p@ss"));
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
        assert!(FtpUrl::parse("http://h/").is_err());
        assert!(FtpUrl::parse("ftp://h/x;type=z").is_err());
    }

    #[test]
    fn percent_decoding_is_tolerant() {
        assert_eq!(percent_decode(b"%41%zz%4"), b"A%zz%4");
        assert_eq!(percent_decode(b"%"), b"%");
    }
}
