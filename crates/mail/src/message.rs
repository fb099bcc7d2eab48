//! Messages (RFC 5322, MIME): composed with `mail-builder` (plain text, an
//! HTML alternative, attachments, RFC 2047 subjects and display names) and
//! read with `mail-parser` (headers decoded, parts walked). Only the glue
//! is here; the MIME grammar is theirs.

use mail_builder::headers::address::Address;
use mail_builder::MessageBuilder;
use mail_parser::{MessageParser, MimeHeaders};

/// A file to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name the recipient sees.
    pub name: String,
    /// A MIME type such as `application/pdf`.
    pub content_type: String,
    pub data: Vec<u8>,
}

/// What to put in a new message. Addresses are `addr@host` or
/// `Display Name <addr@host>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// Splits `Name <addr>` into its display name and address; a bare
/// address has no name. Quotes around the name are dropped.
pub fn split_address(text: &str) -> (Option<&str>, &str) {
    let text = text.trim();
    if let (Some(open), true) = (text.rfind('<'), text.ends_with('>')) {
        let name = text[..open].trim().trim_matches('"').trim();
        let addr = text[open + 1..text.len() - 1].trim();
        return ((!name.is_empty()).then_some(name), addr);
    }
    (None, text)
}

fn address(text: &str) -> Address<'_> {
    match split_address(text) {
        (Some(name), addr) => Address::new_address(Some(name), addr),
        (None, addr) => Address::new_address(None::<&str>, addr),
    }
}

fn address_list(list: &[String]) -> Address<'_> {
    Address::new_list(list.iter().map(|a| address(a)).collect())
}

impl Draft {
    /// The message as RFC 5322 bytes (CRLF line ends), with Date,
    /// Message-ID and MIME-Version added.
    pub fn compose(&self) -> std::io::Result<Vec<u8>> {
        let mut b = MessageBuilder::new().from(address(&self.from));
        if !self.to.is_empty() {
            b = b.to(address_list(&self.to));
        }
        if !self.cc.is_empty() {
            b = b.cc(address_list(&self.cc));
        }
        if let Some(subject) = &self.subject {
            b = b.subject(subject.as_str());
        }
        match (&self.text, &self.html) {
            (Some(text), html) => {
                b = b.text_body(text.as_str());
                if let Some(html) = html {
                    b = b.html_body(html.as_str());
                }
            }
            (None, Some(html)) => b = b.html_body(html.as_str()),
            (None, None) => b = b.text_body(""),
        }
        for a in &self.attachments {
            b = b.attachment(a.content_type.as_str(), a.name.as_str(), a.data.as_slice());
        }
        b.write_to_vec()
    }
}

/// One MIME part of a received message, as [`summarize`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// `type/subtype`.
    pub content_type: String,
    /// The attachment's file name, decoded.
    pub name: Option<String>,
    /// Decoded size in bytes.
    pub size: usize,
}

/// What a reader wants to know about a message first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Decoded, `Name <addr>` or `addr`.
    pub from: Option<String>,
    pub to: Vec<String>,
    pub subject: Option<String>,
    /// RFC 5322 form.
    pub date: Option<String>,
    pub message_id: Option<String>,
    /// The leaf parts (multipart containers left out), in order.
    pub parts: Vec<PartInfo>,
    /// The first text/plain body, decoded to UTF-8.
    pub text: Option<String>,
}

fn show(addr: &mail_parser::Addr<'_>) -> String {
    match (addr.name(), addr.address()) {
        (Some(n), Some(a)) => format!("{n} <{a}>"),
        (None, Some(a)) => a.to_string(),
        (Some(n), None) => n.to_string(),
        (None, None) => String::new(),
    }
}

/// Parses a message (or just its headers: TOP n 0) and decodes what a
/// summary shows. `None` when the bytes do not look like a message.
pub fn summarize(raw: &[u8]) -> Option<Summary> {
    let msg = MessageParser::default().parse(raw)?;
    let parts = msg
        .parts
        .iter()
        .filter(|p| !p.is_multipart())
        .map(|p| PartInfo {
            content_type: p
                .content_type()
                .map(|c| match c.subtype() {
                    Some(sub) => format!("{}/{sub}", c.ctype()),
                    None => c.ctype().to_string(),
                })
                .unwrap_or_else(|| "text/plain".into()),
            name: p.attachment_name().map(str::to_string),
            size: p.len(),
        })
        .collect();
    Some(Summary {
        from: msg.from().and_then(|a| a.first()).map(show),
        to: msg
            .to()
            .map(|a| a.iter().map(show).collect())
            .unwrap_or_default(),
        subject: msg.subject().map(str::to_string),
        date: msg.date().map(|d| d.to_rfc822()),
        message_id: msg.message_id().map(str::to_string),
        parts,
        text: msg.body_text(0).map(|t| t.into_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(split_address("a@b"), (None, "a@b"));
        assert_eq!(split_address(" René <r@x> "), (Some("René"), "r@x"));
        assert_eq!(
            split_address("\"Dupont, René\" <r@x>"),
            (Some("Dupont, René"), "r@x")
        );
        assert_eq!(split_address("<r@x>"), (None, "r@x"));
    }

    #[test]
    fn compose_then_parse_round_trip() {
        let draft = Draft {
            from: "Zoë Ünïcode <zoe@example.com>".into(),
            to: vec!["bob@example.com".into(), "Ann <ann@example.com>".into()],
            cc: vec!["cc@example.com".into()],
            subject: Some(
                "Grüße — a UTF-8 subject that is long enough to be folded over lines".into(),
            ),
            text: Some("Hello\n.\n..leading dots\nnaïve\n".into()),
            html: Some("<p>Hello</p>".into()),
            attachments: vec![Attachment {
                name: "données.bin".into(),
                content_type: "application/octet-stream".into(),
                data: (0..=255u8).cycle().take(5000).collect(),
            }],
        };
        let raw = draft.compose().unwrap();
        assert!(raw.is_ascii(), "headers and bodies are encoded");
        let s = summarize(&raw).unwrap();
        assert_eq!(s.from.as_deref(), Some("Zoë Ünïcode <zoe@example.com>"));
        assert_eq!(s.to, ["bob@example.com", "Ann <ann@example.com>"]);
        assert_eq!(s.subject, draft.subject);
        assert!(s.date.is_some() && s.message_id.is_some());
        assert_eq!(
            s.text.as_deref().map(|t| t.replace("\r\n", "\n")),
            draft.text
        );
        let names: Vec<_> = s.parts.iter().map(|p| p.content_type.as_str()).collect();
        assert_eq!(
            names,
            ["text/plain", "text/html", "application/octet-stream"]
        );
        let att = &s.parts[2];
        assert_eq!((att.name.as_deref(), att.size), (Some("données.bin"), 5000));
    }

    #[test]
    fn headers_only_and_garbage() {
        let s = summarize(b"Subject: =?UTF-8?B?w6lsw6h2ZQ==?=\r\nFrom: a@b\r\n\r\n").unwrap();
        assert_eq!(s.subject.as_deref(), Some("élève"));
        assert_eq!(s.from.as_deref(), Some("a@b"));
        assert_eq!(summarize(b""), None);
    }
}
