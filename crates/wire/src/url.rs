//! The one parser of client URLs, for every protocol: `SCHEME://[USER[;AUTH=MECH][:PASSWORD]@]HOST[:PORT][/PATH]`.
//!
//! It owns what the schemes share: the [scheme table](SCHEMES) (protocol,
//! default port, implicit TLS), the user and password (percent-decoded,
//! the password into a [`Secret`]), the `;AUTH=` option the mail schemes
//! allow after the user (RFC 2384, RFC 5092), IPv6 literals in brackets,
//! the port, and percent-decoding. What the path means (FTP `;type=`, an
//! IMAP mailbox and UID, a news group and article) belongs to each
//! protocol crate, which reads [`Url::path`] and reports its own faults
//! as [`UrlErrorKind::Path`].
//!
//! Syntax (scheme, authority, dot segments, `?query` and `#fragment`,
//! which no protocol here uses) is left to the `url` crate; every error
//! it finds comes back as a [`UrlError`] that names the URL with its
//! password masked.

use crate::{Secret, TlsPolicy};

/// The protocol a scheme names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Ftp,
    Smtp,
    Pop3,
    Imap,
    Nntp,
}

impl Protocol {
    /// Every protocol, for a caller that takes any URL.
    pub const ALL: &'static [Protocol] = &[
        Protocol::Ftp,
        Protocol::Smtp,
        Protocol::Pop3,
        Protocol::Imap,
        Protocol::Nntp,
    ];

    /// The mail protocols take `;AUTH=MECH` after the user (RFC 2384 for
    /// POP3, RFC 5092 for IMAP, and the same for SMTP); elsewhere a `;` is
    /// part of the user name.
    fn takes_auth_option(self) -> bool {
        matches!(self, Protocol::Smtp | Protocol::Pop3 | Protocol::Imap)
    }
}

/// One URL scheme: the protocol it names, its port and its TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    pub name: &'static str,
    pub protocol: Protocol,
    /// The port when the URL names none.
    pub default_port: u16,
    /// TLS from the first byte (the `s` schemes).
    pub implicit_tls: bool,
}

const fn scheme(name: &'static str, protocol: Protocol, port: u16, tls: bool) -> Scheme {
    Scheme {
        name,
        protocol,
        default_port: port,
        implicit_tls: tls,
    }
}

/// Every scheme a client understands.
pub const SCHEMES: &[Scheme] = &[
    scheme("ftp", Protocol::Ftp, 21, false),
    scheme("ftps", Protocol::Ftp, 990, true),
    scheme("smtp", Protocol::Smtp, 25, false),
    scheme("smtps", Protocol::Smtp, 465, true),
    scheme("submission", Protocol::Smtp, 587, false),
    scheme("pop3", Protocol::Pop3, 110, false),
    scheme("pop", Protocol::Pop3, 110, false),
    scheme("pop3s", Protocol::Pop3, 995, true),
    scheme("pops", Protocol::Pop3, 995, true),
    scheme("imap", Protocol::Imap, 143, false),
    scheme("imaps", Protocol::Imap, 993, true),
    scheme("nntp", Protocol::Nntp, 119, false),
    scheme("news", Protocol::Nntp, 119, false),
    scheme("nntps", Protocol::Nntp, 563, true),
    scheme("snews", Protocol::Nntp, 563, true),
];

impl Scheme {
    /// The scheme called `name` (lower case), if there is one.
    pub fn named(name: &str) -> Option<&'static Scheme> {
        SCHEMES.iter().find(|s| s.name == name)
    }

    /// [`TlsPolicy::Implicit`] for the `s` schemes, else [`TlsPolicy::Plain`].
    pub fn tls(&self) -> TlsPolicy {
        if self.implicit_tls {
            TlsPolicy::Implicit
        } else {
            TlsPolicy::Plain
        }
    }
}

/// A parsed client URL, its path still percent-encoded for the protocol
/// to split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: &'static Scheme,
    /// A name, an IPv4 address, or an IPv6 address without its brackets.
    pub host: String,
    /// The URL's port, else the scheme's.
    pub port: u16,
    /// Percent-decoded; `None` when the URL names none.
    pub user: Option<String>,
    /// The `;AUTH=` mechanism after the user, upper-cased (mail schemes only).
    pub auth: Option<String>,
    pub password: Option<Secret>,
    /// The path after the host without its first `/`, still
    /// percent-encoded (decode it with [`percent_decode`] or
    /// [`decode_text`] once the protocol has split it).
    pub path: String,
}

impl Url {
    /// Parses `text`, which must name one of `protocols`.
    pub fn parse(text: &str, protocols: &'static [Protocol]) -> Result<Url, UrlError> {
        parse(text, protocols).map_err(|kind| UrlError::new(text, kind))
    }

    /// The TLS policy the scheme implies.
    pub fn tls(&self) -> TlsPolicy {
        self.scheme.tls()
    }
}

fn parse(text: &str, protocols: &'static [Protocol]) -> Result<Url, UrlErrorKind> {
    let url = url::Url::parse(text).map_err(syntax)?;
    let scheme = Scheme::named(url.scheme())
        .filter(|s| protocols.contains(&s.protocol))
        .ok_or_else(|| UrlErrorKind::Scheme {
            found: url.scheme().to_string(),
            expected: protocols,
        })?;
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        _ => return Err(UrlErrorKind::NoHost),
    };
    // The url crate keeps `;` (and much else) percent-encoded in the user.
    let userinfo = decode_text(url.username(), Part::User)?;
    let (user, auth) = match userinfo.split_once(';') {
        _ if userinfo.is_empty() => (None, None),
        Some((name, option)) if scheme.protocol.takes_auth_option() => {
            let mechanism = option
                .split_once('=')
                .filter(|(key, _)| key.eq_ignore_ascii_case("AUTH"))
                .map(|(_, mech)| mech.to_ascii_uppercase())
                .ok_or_else(|| UrlErrorKind::UserOption(option.to_string()))?;
            (
                (!name.is_empty()).then(|| name.to_string()),
                Some(mechanism),
            )
        }
        _ => (Some(userinfo), None),
    };
    let password = url
        .password()
        .map(|p| decode_text(p, Part::Password).map(Secret::from))
        .transpose()?;
    let path = url.path();
    Ok(Url {
        scheme,
        host,
        port: url.port().unwrap_or(scheme.default_port),
        user,
        auth,
        password,
        path: path.strip_prefix('/').unwrap_or(path).to_string(),
    })
}

/// The url crate's syntax errors, in this module's terms.
fn syntax(e: url::ParseError) -> UrlErrorKind {
    use url::ParseError as E;
    match e {
        E::RelativeUrlWithoutBase | E::RelativeUrlWithCannotBeABaseBase => UrlErrorKind::NotUrl,
        E::EmptyHost => UrlErrorKind::NoHost,
        E::InvalidPort => UrlErrorKind::Port,
        other => UrlErrorKind::Host(other.to_string()),
    }
}

/// Which part of a URL a decoding fault is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    User,
    Password,
    Path,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::User => "user",
            Part::Password => "password",
            Part::Path => "path",
        })
    }
}

/// Decodes `%XX` escapes into bytes; a malformed escape stays as it is.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if let [b'%', h, l, ..] = input[i..] {
            if let (Some(h), Some(l)) = (hex(h), hex(l)) {
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

/// Decodes `%XX` escapes in `encoded` (part `part` of a URL), which must
/// then be UTF-8.
pub fn decode_text(encoded: &str, part: Part) -> Result<String, UrlErrorKind> {
    String::from_utf8(percent_decode(encoded.as_bytes())).map_err(|_| UrlErrorKind::NotUtf8(part))
}

/// Encodes every byte but the unreserved ones (RFC 3986: letters,
/// digits, `-._~`) as `%XX`, so that the result is one URL component.
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A URL that cannot be used, shown with its password masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url:?}: {kind}")]
pub struct UrlError {
    /// The URL as given, with its password replaced by `****`.
    pub url: String,
    pub kind: UrlErrorKind,
}

impl UrlError {
    /// The error `kind` in the URL `text` (the password is masked here).
    pub fn new(text: &str, kind: UrlErrorKind) -> UrlError {
        UrlError {
            url: masked(text),
            kind,
        }
    }
}

/// What is wrong with a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlErrorKind {
    #[error("not a URL (write SCHEME://HOST/PATH)")]
    NotUrl,
    #[error("{found}:// is not {}", names(.expected))]
    Scheme {
        found: String,
        expected: &'static [Protocol],
    },
    #[error("names no host")]
    NoHost,
    #[error("bad host: {0}")]
    Host(String),
    #[error("bad port (write a number up to 65535)")]
    Port,
    #[error("the {0} is not UTF-8 once percent-decoded")]
    NotUtf8(Part),
    #[error("only ;AUTH= may follow the user, not ;{0}")]
    UserOption(String),
    /// The protocol's own part of the path (FTP `;type=`, IMAP `;UID=`, ...).
    #[error("{0}")]
    Path(String),
}

/// `ftp:// or ftps://`: the schemes of `protocols`, for a message.
fn names(protocols: &[Protocol]) -> String {
    let names: Vec<String> = SCHEMES
        .iter()
        .filter(|s| protocols.contains(&s.protocol))
        .map(|s| format!("{}://", s.name))
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => "a known scheme".into(),
    }
}

/// `text` with the password of its userinfo (if any) replaced by `****`.
fn masked(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_string();
    };
    let authority_end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| start + i);
    let Some(at) = text[start..authority_end].rfind('@').map(|i| start + i) else {
        return text.to_string();
    };
    match text[start..at].find(':').map(|i| start + i) {
        Some(colon) => format!("{}****{}", &text[..=colon], &text[at..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: &[Protocol] = Protocol::ALL;

    fn url(text: &str) -> Url {
        Url::parse(text, ALL).unwrap()
    }

    fn kind(text: &str, protocols: &'static [Protocol]) -> UrlErrorKind {
        Url::parse(text, protocols).unwrap_err().kind
    }

    #[test]
    fn schemes_ports_and_tls() {
        for (text, port, tls) in [
            ("ftp://h", 21, TlsPolicy::Plain),
            ("ftps://h", 990, TlsPolicy::Implicit),
            ("smtp://h", 25, TlsPolicy::Plain),
            ("smtps://h", 465, TlsPolicy::Implicit),
            ("submission://h", 587, TlsPolicy::Plain),
            ("pop://h", 110, TlsPolicy::Plain),
            ("pop3s://h", 995, TlsPolicy::Implicit),
            ("imap://h", 143, TlsPolicy::Plain),
            ("imaps://h", 993, TlsPolicy::Implicit),
            ("news://h", 119, TlsPolicy::Plain),
            ("snews://h", 563, TlsPolicy::Implicit),
            ("FTP://h:2121", 2121, TlsPolicy::Plain),
        ] {
            let u = url(text);
            assert_eq!(
                (u.port, u.tls(), u.host.as_str()),
                (port, tls, "h"),
                "{text}"
            );
        }
    }

    #[test]
    fn userinfo_is_decoded_and_the_password_kept_secret() {
        let u = url("ftp://bob:p%40ss@example.org:2121/dir/a%20b.txt;type=a");
        assert_eq!(u.user.as_deref(), Some("bob"));
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("p@ss"));
        assert_eq!(u.path, "dir/a%20b.txt;type=a");
        assert!(!format!("{u:?}").contains("p@ss"));
        let u = url("smtps://a%40b:p%3Aw+x@mx.example/");
        assert_eq!(u.user.as_deref(), Some("a@b"));
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("p:w+x"));
        let u = url("nntp://bob:pw%21@news.example/g");
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("pw!"));
        assert_eq!(url("ftp://h/").user, None);
    }

    #[test]
    fn auth_option_only_for_mail() {
        let u = url("pop3://bob;AUTH=apop@[::1]:1110/3");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 1110, "3")
        );
        assert_eq!(
            (u.user.as_deref(), u.auth.as_deref()),
            (Some("bob"), Some("APOP"))
        );
        let u = url("imap://;AUTH=*@h/");
        assert_eq!((u.user, u.auth.as_deref()), (None, Some("*")));
        let u = url("ftp://a;b@h/");
        assert_eq!((u.user.as_deref(), u.auth), (Some("a;b"), None));
        assert_eq!(
            kind("pop3://u;x=1@h/", ALL),
            UrlErrorKind::UserOption("x=1".into())
        );
    }

    #[test]
    fn hosts() {
        assert_eq!(url("ftps://[::1]/pub/").host, "::1");
        assert_eq!(url("imaps://a:p@[2001:db8::1]:9/").host, "2001:db8::1");
        assert_eq!(url("ftp://127.0.0.1/").host, "127.0.0.1");
        assert_eq!(kind("smtp:///", ALL), UrlErrorKind::NoHost);
        assert_eq!(kind("imap:///INBOX", ALL), UrlErrorKind::NoHost);
        assert!(matches!(kind("ftp://[::1/", ALL), UrlErrorKind::Host(_)));
        assert_eq!(kind("ftp://h:99999/", ALL), UrlErrorKind::Port);
    }

    #[test]
    fn errors_name_the_schemes_and_mask_the_password() {
        let e = Url::parse("http://u:hunter2@h/", &[Protocol::Ftp]).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#""http://u:****@h/": http:// is not ftp:// or ftps://"#
        );
        let e = Url::parse("h", &[Protocol::Nntp]).unwrap_err();
        assert_eq!(e.kind, UrlErrorKind::NotUrl);
        assert_eq!(
            names(&[Protocol::Smtp, Protocol::Pop3]),
            "smtp://, smtps://, submission://, pop3://, pop://, pop3s:// or pops://"
        );
        assert_eq!(
            kind("imap://h:p%FF@h/", ALL),
            UrlErrorKind::NotUtf8(Part::Password)
        );
        assert_eq!(masked("ftp://u:p@ss@h/x@y"), "ftp://u:****@h/x@y");
        assert_eq!(masked("ftp://u@h/"), "ftp://u@h/");
        assert_eq!(masked("not a url"), "not a url");
    }

    #[test]
    fn percent_decoding_is_tolerant() {
        assert_eq!(percent_decode(b"%41%zz%4"), b"A%zz%4");
        assert_eq!(percent_decode(b"%"), b"%");
        assert_eq!(percent_decode(b"x%FF%2f"), b"x\xff/");
        assert_eq!(
            decode_text("%FF", Part::Path),
            Err(UrlErrorKind::NotUtf8(Part::Path))
        );
        assert_eq!(percent_encode(b"a b/\xff~"), "a%20b%2F%FF~");
    }

    proptest! {
        #[test]
        fn percent_encoding_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(percent_decode(percent_encode(&bytes).as_bytes()), bytes);
        }

        #[test]
        fn userinfo_and_path_round_trip(
            user in "\\PC{1,12}",
            password in "\\PC{0,12}",
            path in proptest::collection::vec(any::<u8>(), 0..24),
        ) {
            // A dot segment is resolved away, as in any URL.
            prop_assume!(path != b"." && path != b"..");
            // ftp: a `;` in the user is part of the name.
            let text = format!(
                "ftp://{}:{}@h/{}",
                percent_encode(user.as_bytes()),
                percent_encode(password.as_bytes()),
                percent_encode(&path),
            );
            let u = Url::parse(&text, ALL).unwrap();
            prop_assert_eq!(u.user.as_deref(), Some(user.as_str()));
            // The url crate reads an empty password as none.
            prop_assert_eq!(u.password.as_ref().map_or("", Secret::expose), password.as_str());
            prop_assert_eq!(percent_decode(u.path.as_bytes()), path);
        }

        #[test]
        fn never_panics(text in "\\PC{0,64}") {
            let _ = Url::parse(&text, ALL);
            let _ = masked(&text);
        }

        #[test]
        fn never_panics_on_url_shapes(
            scheme in "(ftp|ftps|smtp|pop3|imap|nntp|news|x)",
            rest in "[a-z0-9:@;=%/\\[\\]._~?#-]{0,40}",
        ) {
            let _ = Url::parse(&format!("{scheme}://{rest}"), ALL);
        }
    }
}
