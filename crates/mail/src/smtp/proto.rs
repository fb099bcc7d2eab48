//! SMTP without I/O: what EHLO says the server can do (RFC 5321 §4.1.1.1),
//! and the MAIL FROM / RCPT TO lines with their ESMTP parameters — SIZE
//! (RFC 1870), BODY=8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531) and DSN's
//! RET, ENVID, NOTIFY and ORCPT (RFC 3461, with its xtext encoding).

use crate::error::{MailError, Result};
use std::collections::BTreeMap;

/// The service extensions an EHLO reply lists: keyword (upper case) to
/// its parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    map: BTreeMap<String, Vec<String>>,
}

impl Extensions {
    /// From the text of an EHLO reply's lines (the first is the greeting).
    pub fn parse<L: AsRef<[u8]>>(lines: &[L]) -> Extensions {
        let mut map = BTreeMap::new();
        for line in lines.iter().skip(1) {
            let text = String::from_utf8_lossy(line.as_ref());
            let mut words = text.split_ascii_whitespace();
            if let Some(keyword) = words.next() {
                map.insert(
                    keyword.to_ascii_uppercase(),
                    words.map(str::to_string).collect(),
                );
            }
        }
        Extensions { map }
    }

    pub fn has(&self, keyword: &str) -> bool {
        self.map.contains_key(&keyword.to_ascii_uppercase())
    }

    pub fn params(&self, keyword: &str) -> &[String] {
        self.map
            .get(&keyword.to_ascii_uppercase())
            .map_or(&[], Vec::as_slice)
    }

    /// The SIZE limit; `None` when not announced or announced as 0 (no limit).
    pub fn size_limit(&self) -> Option<u64> {
        if !self.has("SIZE") {
            return None;
        }
        self.params("SIZE")
            .first()
            .and_then(|n| n.parse().ok())
            .filter(|&n| n > 0)
    }

    /// The SASL mechanisms offered (`AUTH PLAIN LOGIN ...`).
    pub fn auth_mechanisms(&self) -> impl Iterator<Item = &str> {
        self.params("AUTH").iter().map(String::as_str)
    }

    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }
}

/// DSN: what the report returns of the message (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Headers,
}

/// DSN: when to report on a recipient (RFC 3461 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

impl Notify {
    fn param(self) -> String {
        let mut parts = Vec::new();
        for (on, name) in [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ] {
            if on {
                parts.push(name);
            }
        }
        if parts.is_empty() {
            "NEVER".into()
        } else {
            parts.join(",")
        }
    }
}

/// Parameters of MAIL FROM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailOptions {
    /// The message's size in bytes: checked against SIZE before anything
    /// is sent, and declared as `SIZE=`.
    pub size: Option<u64>,
    /// The message has 8-bit bytes: `BODY=8BITMIME`.
    pub eight_bit: bool,
    /// DSN: how much of the message a report returns.
    pub ret: Option<Ret>,
    /// DSN: the envelope identifier reports carry.
    pub envid: Option<String>,
}

/// Parameters of each RCPT TO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptOptions {
    /// DSN: when to report.
    pub notify: Option<Notify>,
    /// DSN: send `ORCPT=rfc822;ADDRESS`.
    pub orcpt: bool,
}

impl MailOptions {
    fn wants_dsn(&self) -> bool {
        self.ret.is_some() || self.envid.is_some()
    }
}

impl RcptOptions {
    fn wants_dsn(&self) -> bool {
        self.notify.is_some() || self.orcpt
    }
}

/// RFC 3461 §4: bytes outside `!`..`~`, and `+` and `=`, become `+HH`.
pub fn xtext(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// An envelope address must not break the command line or the `<>`.
fn check_address(addr: &str) -> Result<()> {
    if addr.contains(['\r', '\n', '\0', '<', '>']) || addr.contains(char::is_whitespace) {
        return Err(MailError::Invalid(format!(
            "{addr:?} is not a usable mail address"
        )));
    }
    Ok(())
}

/// Whether the envelope needs SMTPUTF8 (a non-ASCII address).
pub fn needs_smtputf8<'a>(addresses: impl IntoIterator<Item = &'a str>) -> bool {
    addresses.into_iter().any(|a| !a.is_ascii())
}

fn require(ext: &Extensions, keyword: &str, why: &str) -> Result<()> {
    if ext.has(keyword) {
        Ok(())
    } else {
        Err(MailError::NotSupported(format!(
            "the server does not offer {keyword}, needed {why}"
        )))
    }
}

/// `MAIL FROM:<from>` with the parameters the options ask for. Asking for
/// something the server did not announce is an error here, before
/// anything is sent, except BODY=8BITMIME, which is only declared when
/// offered (RFC 6152 lets a client send 8-bit data to a server that does
/// not know the extension at its own risk).
pub fn mail_from(
    from: &str,
    opts: &MailOptions,
    smtputf8: bool,
    ext: &Extensions,
) -> Result<String> {
    check_address(from)?;
    let mut line = format!("MAIL FROM:<{from}>");
    if let (Some(size), true) = (opts.size, ext.has("SIZE")) {
        line.push_str(&format!(" SIZE={size}"));
    }
    if opts.eight_bit && ext.has("8BITMIME") {
        line.push_str(" BODY=8BITMIME");
    }
    if smtputf8 {
        require(ext, "SMTPUTF8", "for a non-ASCII address")?;
        line.push_str(" SMTPUTF8");
    }
    if opts.wants_dsn() {
        require(ext, "DSN", "for delivery status notifications")?;
    }
    if let Some(ret) = opts.ret {
        line.push_str(match ret {
            Ret::Full => " RET=FULL",
            Ret::Headers => " RET=HDRS",
        });
    }
    if let Some(envid) = &opts.envid {
        line.push_str(&format!(" ENVID={}", xtext(envid)));
    }
    Ok(line)
}

/// `RCPT TO:<to>` with the DSN parameters the options ask for.
pub fn rcpt_to(to: &str, opts: &RcptOptions, ext: &Extensions) -> Result<String> {
    check_address(to)?;
    let mut line = format!("RCPT TO:<{to}>");
    if opts.wants_dsn() {
        require(ext, "DSN", "for delivery status notifications")?;
    }
    if let Some(notify) = opts.notify {
        line.push_str(&format!(" NOTIFY={}", notify.param()));
    }
    if opts.orcpt {
        let kind = if to.is_ascii() { "rfc822" } else { "utf-8" };
        line.push_str(&format!(" ORCPT={kind};{}", xtext(to)));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(lines: &[&str]) -> Extensions {
        let mut all = vec!["mx.example greets you"];
        all.extend_from_slice(lines);
        Extensions::parse(&all)
    }

    #[test]
    fn extensions() {
        let e = ext(&[
            "PIPELINING",
            "size 1000",
            "AUTH PLAIN LOGIN",
            "8BITMIME",
            "  ",
        ]);
        assert!(e.has("pipelining") && e.has("8BITMIME") && !e.has("DSN"));
        assert_eq!(e.size_limit(), Some(1000));
        assert_eq!(e.auth_mechanisms().collect::<Vec<_>>(), ["PLAIN", "LOGIN"]);
        assert_eq!(ext(&["SIZE"]).size_limit(), None);
        assert_eq!(ext(&["SIZE 0"]).size_limit(), None);
        assert_eq!(ext(&["SIZE lots"]).size_limit(), None);
        assert_eq!(Extensions::parse::<&[u8]>(&[]), Extensions::default());
    }

    #[test]
    fn mail_and_rcpt_lines() {
        let all = ext(&["SIZE 100", "8BITMIME", "SMTPUTF8", "DSN"]);
        let opts = MailOptions {
            size: Some(42),
            eight_bit: true,
            ret: Some(Ret::Headers),
            envid: Some("id+1 x".into()),
        };
        assert_eq!(
            mail_from("a@b", &opts, true, &all).unwrap(),
            "MAIL FROM:<a@b> SIZE=42 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1+20x"
        );
        assert_eq!(
            mail_from("", &MailOptions::default(), false, &ext(&[])).unwrap(),
            "MAIL FROM:<>"
        );
        // 8BITMIME is declared only when offered; DSN and SMTPUTF8 are required.
        let bare = ext(&[]);
        let eight = MailOptions {
            eight_bit: true,
            ..MailOptions::default()
        };
        assert_eq!(
            mail_from("a@b", &eight, false, &bare).unwrap(),
            "MAIL FROM:<a@b>"
        );
        assert!(matches!(
            mail_from("a@b", &opts, false, &bare),
            Err(MailError::NotSupported(_))
        ));
        assert!(matches!(
            mail_from("ü@b", &MailOptions::default(), true, &bare),
            Err(MailError::NotSupported(_))
        ));
        let rcpt = RcptOptions {
            notify: Some(Notify {
                success: true,
                failure: true,
                delay: false,
            }),
            orcpt: true,
        };
        assert_eq!(
            rcpt_to("c=d@e", &rcpt, &all).unwrap(),
            "RCPT TO:<c=d@e> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+3Dd@e"
        );
        let never = RcptOptions {
            notify: Some(Notify::default()),
            orcpt: false,
        };
        assert_eq!(
            rcpt_to("x@y", &never, &all).unwrap(),
            "RCPT TO:<x@y> NOTIFY=NEVER"
        );
        for bad in ["a@b>\r\nDATA", "a b@c", "<a@b>"] {
            assert!(matches!(
                rcpt_to(bad, &RcptOptions::default(), &all),
                Err(MailError::Invalid(_))
            ));
        }
        assert!(needs_smtputf8(["a@b", "ü@b"]) && !needs_smtputf8(["a@b"]));
    }
}
