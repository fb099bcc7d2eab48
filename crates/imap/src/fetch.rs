//! FETCH data (RFC 3501 §7.4.2): flags, UID, size, internal date,
//! ENVELOPE, BODYSTRUCTURE and body sections, read from the item list of
//! one `* n FETCH (...)` response.

use crate::response::ParseError;
use crate::value::Value;

/// One address of an envelope: `(name adl mailbox host)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub name: Option<String>,
    pub mailbox: Option<String>,
    pub host: Option<String>,
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addr = format!(
            "{}@{}",
            self.mailbox.as_deref().unwrap_or(""),
            self.host.as_deref().unwrap_or("")
        );
        match &self.name {
            Some(name) if !name.is_empty() => write!(f, "{name} <{addr}>"),
            _ => f.write_str(&addr),
        }
    }
}

/// The ENVELOPE of a message. Strings are as the server sent them (header
/// values may still be RFC 2047 encoded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    pub date: Option<String>,
    pub subject: Option<String>,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// The MIME structure of a message (BODYSTRUCTURE), the basic fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStructure {
    Single {
        /// e.g. `text/plain`, lower-cased.
        mime_type: String,
        params: Vec<(String, String)>,
        encoding: Option<String>,
        size: u64,
    },
    Multipart {
        /// e.g. `mixed`, lower-cased.
        subtype: String,
        parts: Vec<BodyStructure>,
    },
}

impl BodyStructure {
    fn parse(v: &Value) -> Option<BodyStructure> {
        let items = v.list()?;
        if matches!(items.first(), Some(Value::List(_))) {
            let parts: Vec<BodyStructure> = items
                .iter()
                .take_while(|i| matches!(i, Value::List(_)))
                .map(BodyStructure::parse)
                .collect::<Option<_>>()?;
            let subtype = items.get(parts.len()).and_then(Value::text)?;
            return Some(BodyStructure::Multipart {
                subtype: subtype.to_ascii_lowercase(),
                parts,
            });
        }
        let kind = items.first()?.text()?;
        let subtype = items.get(1)?.text()?;
        let params = items
            .get(2)
            .and_then(Value::list)
            .map(|p| {
                p.chunks(2)
                    .filter_map(|kv| Some((kv.first()?.text()?, kv.get(1)?.text()?)))
                    .collect()
            })
            .unwrap_or_default();
        Some(BodyStructure::Single {
            mime_type: format!("{kind}/{subtype}").to_ascii_lowercase(),
            params,
            encoding: items.get(5).and_then(Value::text),
            size: items.get(6).and_then(Value::number).unwrap_or(0),
        })
    }

    /// Every leaf part with its section number (`1`, `2.1`, ...).
    pub fn leaves(&self) -> Vec<(String, &BodyStructure)> {
        let mut out = Vec::new();
        self.collect_leaves("", &mut out);
        out
    }

    fn collect_leaves<'a>(&'a self, prefix: &str, out: &mut Vec<(String, &'a BodyStructure)>) {
        match self {
            BodyStructure::Single { .. } => {
                let section = if prefix.is_empty() { "1" } else { prefix };
                out.push((section.to_string(), self));
            }
            BodyStructure::Multipart { parts, .. } => {
                for (i, part) in parts.iter().enumerate() {
                    let section = if prefix.is_empty() {
                        (i + 1).to_string()
                    } else {
                        format!("{prefix}.{}", i + 1)
                    };
                    part.collect_leaves(&section, out);
                }
            }
        }
    }
}

/// What one FETCH response said about one message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fetch {
    /// The message sequence number.
    pub seq: u32,
    pub uid: Option<u32>,
    pub flags: Option<Vec<String>>,
    pub size: Option<u64>,
    pub internal_date: Option<String>,
    pub envelope: Option<Envelope>,
    pub body_structure: Option<BodyStructure>,
    /// Body sections by their key as sent (`BODY[HEADER]`, `BODY[]<0>`);
    /// `None` for NIL or a section that was streamed elsewhere.
    pub sections: Vec<(String, Option<Vec<u8>>)>,
}

impl Fetch {
    /// The first section whose key starts with `prefix` (e.g. `BODY[HEADER`).
    pub fn section(&self, prefix: &str) -> Option<&[u8]> {
        self.sections
            .iter()
            .find(|(k, _)| {
                k.to_ascii_uppercase()
                    .starts_with(&prefix.to_ascii_uppercase())
            })
            .and_then(|(_, v)| v.as_deref())
    }

    pub(crate) fn from_items(seq: u32, items: &[Value]) -> Result<Fetch, ParseError> {
        let bad = |what: &str| ParseError::Shape(format!("FETCH {seq}: {what}"));
        let mut out = Fetch {
            seq,
            ..Fetch::default()
        };
        for pair in items.chunks(2) {
            let [key, value] = pair else {
                return Err(bad("an item without a value"));
            };
            let key = key
                .text()
                .ok_or_else(|| bad("an item name that is not an atom"))?;
            let upper = key.to_ascii_uppercase();
            match upper.as_str() {
                "UID" => {
                    out.uid = Some(
                        value
                            .number()
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| bad("UID is not a number"))?,
                    )
                }
                "FLAGS" => {
                    let flags = value.list().ok_or_else(|| bad("FLAGS is not a list"))?;
                    out.flags = Some(flags.iter().filter_map(Value::text).collect());
                }
                "RFC822.SIZE" => out.size = value.number(),
                "INTERNALDATE" => out.internal_date = value.text(),
                "ENVELOPE" => {
                    out.envelope = Some(envelope(value).ok_or_else(|| bad("malformed ENVELOPE"))?)
                }
                "BODYSTRUCTURE" | "BODY" => {
                    out.body_structure = Some(
                        BodyStructure::parse(value)
                            .ok_or_else(|| bad("malformed BODYSTRUCTURE"))?,
                    )
                }
                _ if upper.starts_with("BODY[")
                    || upper.starts_with("BINARY[")
                    || upper.starts_with("RFC822") =>
                {
                    out.sections
                        .push((key, value.as_bytes().map(<[u8]>::to_vec)));
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

fn nstring(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::text)
}

fn addresses(v: Option<&Value>) -> Vec<Address> {
    v.and_then(Value::list)
        .map(|list| {
            list.iter()
                .filter_map(Value::list)
                .map(|a| Address {
                    name: nstring(a.first()),
                    mailbox: nstring(a.get(2)),
                    host: nstring(a.get(3)),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn envelope(v: &Value) -> Option<Envelope> {
    let f = v.list()?;
    if f.len() < 10 {
        return None;
    }
    Some(Envelope {
        date: nstring(f.first()),
        subject: nstring(f.get(1)),
        from: addresses(f.get(2)),
        sender: addresses(f.get(3)),
        reply_to: addresses(f.get(4)),
        to: addresses(f.get(5)),
        cc: addresses(f.get(6)),
        bcc: addresses(f.get(7)),
        in_reply_to: nstring(f.get(8)),
        message_id: nstring(f.get(9)),
    })
}

#[cfg(test)]
mod tests {
    use crate::response::{parse, Response, Untagged};

    use super::*;

    fn fetch_of(input: &[u8]) -> Fetch {
        match parse(input) {
            Ok(Response::Untagged(Untagged::Fetch(f))) => *f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rfc3501_example() {
        // RFC 3501 §8, the FETCH example (shortened).
        let f = fetch_of(
            b"* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" \
RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \
\"IMAP4rev1 WG mtg summary and minutes\" \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((NIL NIL \"imap\" \"cac.washington.edu\")) \
((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \
\"<B27397-0100000@cac.washington.edu>\") \
BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92) UID 7)",
        );
        assert_eq!(f.seq, 12);
        assert_eq!(f.uid, Some(7));
        assert_eq!(f.flags, Some(vec!["\\Seen".to_string()]));
        assert_eq!(f.size, Some(4286));
        let env = f.envelope.unwrap();
        assert_eq!(
            env.subject.as_deref(),
            Some("IMAP4rev1 WG mtg summary and minutes")
        );
        assert_eq!(
            env.from[0].to_string(),
            "Terry Gray <gray@cac.washington.edu>"
        );
        assert_eq!(env.cc.len(), 2);
        assert_eq!(env.cc[1].to_string(), "John Klensin <KLENSIN@MIT.EDU>");
        assert_eq!(
            f.body_structure,
            Some(BodyStructure::Single {
                mime_type: "text/plain".into(),
                params: vec![("CHARSET".into(), "US-ASCII".into())],
                encoding: Some("7BIT".into()),
                size: 3028
            })
        );
    }

    #[test]
    fn multipart_and_sections() {
        let f = fetch_of(
            b"* 1 FETCH (UID 9 BODYSTRUCTURE ((\"text\" \"plain\" NIL NIL NIL \"7bit\" 5 1)\
(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 100) \"mixed\") \
BODY[HEADER.FIELDS (SUBJECT)] {11}\r\nSubject: x\n BODY[]<0> NIL)",
        );
        let bs = f.body_structure.clone().unwrap();
        let leaves = bs.leaves();
        assert_eq!(leaves.len(), 2);
        assert_eq!(leaves[1].0, "2");
        assert_eq!(f.section("BODY[HEADER"), Some(&b"Subject: x\n"[..]));
        assert_eq!(f.sections[1], ("BODY[]<0>".to_string(), None));
    }

    #[test]
    fn bad_items() {
        assert!(parse(b"* 1 FETCH (UID)").is_err());
        assert!(parse(b"* 1 FETCH (UID x)").is_err());
        assert!(parse(b"* 1 FETCH (FLAGS x)").is_err());
        assert!(parse(b"* 1 FETCH (ENVELOPE (NIL))").is_err());
        assert!(parse(b"* 1 FETCH UID 3").is_err());
    }
}
