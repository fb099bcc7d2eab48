//! Server responses (RFC 3501 §7, RFC 9051 §7): tagged completions,
//! untagged data and continuation requests, parsed from one whole
//! response (literals inline). Sans-IO.

use crate::fetch::Fetch;
use crate::utf7;
use crate::value::{Cursor, SyntaxError, Value};

/// The status word of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    PreAuth,
    Bye,
}

impl Status {
    fn parse(word: &[u8]) -> Option<Status> {
        Some(match word.to_ascii_uppercase().as_slice() {
            b"OK" => Status::Ok,
            b"NO" => Status::No,
            b"BAD" => Status::Bad,
            b"PREAUTH" => Status::PreAuth,
            b"BYE" => Status::Bye,
            _ => return None,
        })
    }
}

/// The status word, response code and text of a status response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusText {
    pub status: Status,
    /// What was inside `[...]`, e.g. `UIDVALIDITY 3` or `COPYUID 1 2 3`.
    pub code: Option<String>,
    pub text: String,
}

impl StatusText {
    /// The response code's name, upper-cased (`UIDNEXT`).
    pub fn code_name(&self) -> Option<String> {
        self.code
            .as_deref()
            .and_then(|c| c.split(' ').next())
            .map(str::to_ascii_uppercase)
    }

    /// The response code's argument (`5` in `UIDNEXT 5`).
    pub fn code_arg(&self) -> Option<&str> {
        self.code
            .as_deref()
            .and_then(|c| c.split_once(' '))
            .map(|(_, a)| a)
    }
}

/// One mailbox of a LIST reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Name attributes, e.g. `\HasNoChildren`, `\Noselect`.
    pub attributes: Vec<String>,
    pub delimiter: Option<char>,
    /// The name decoded from modified UTF-7 (as sent, if it is not valid).
    pub name: String,
}

impl ListEntry {
    /// Whether the mailbox can be selected.
    pub fn selectable(&self) -> bool {
        !self.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        })
    }
}

/// Untagged data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untagged {
    Status(StatusText),
    Capability(Vec<String>),
    List(ListEntry),
    /// `* STATUS mailbox (MESSAGES 3 UNSEEN 1)`.
    MailboxStatus {
        mailbox: String,
        items: Vec<(String, u64)>,
    },
    Search(Vec<u32>),
    Flags(Vec<String>),
    Exists(u32),
    Recent(u32),
    Expunge(u32),
    Fetch(Box<Fetch>),
    /// Anything else (ENABLED, ID, NAMESPACE, ...), as sent.
    Other(Vec<u8>),
}

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Tagged {
        tag: String,
        status: StatusText,
    },
    Untagged(Untagged),
    /// `+ text`: the server waits for more of the command.
    Continue(String),
}

/// Why a response could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    #[error("{0}")]
    Shape(String),
}

fn shape(what: &str, input: &[u8]) -> ParseError {
    let mut shown = String::from_utf8_lossy(&input[..input.len().min(200)]).into_owned();
    if input.len() > 200 {
        shown.push('…');
    }
    ParseError::Shape(format!("{what}: {shown:?}"))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn status_text(status: Status, c: &mut Cursor<'_>) -> StatusText {
    let code = c.response_code().map(lossy);
    c.skip_spaces();
    StatusText {
        status,
        code,
        text: lossy(c.rest()),
    }
}

fn atoms(values: &[Value]) -> Vec<String> {
    values.iter().filter_map(Value::text).collect()
}

fn number_u32(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::number)
        .and_then(|n| u32::try_from(n).ok())
}

/// Parses one whole response (without its final CRLF).
pub fn parse(input: &[u8]) -> Result<Response, ParseError> {
    let mut c = Cursor::new(input);
    let tag = c.word();
    match tag {
        b"+" => {
            c.skip_spaces();
            Ok(Response::Continue(lossy(c.rest())))
        }
        b"*" => untagged(&mut c, input).map(Response::Untagged),
        b"" => Err(shape("empty response", input)),
        _ => {
            let word = c.word();
            let status = Status::parse(word)
                .filter(|s| matches!(s, Status::Ok | Status::No | Status::Bad))
                .ok_or_else(|| shape("tagged response without OK/NO/BAD", input))?;
            Ok(Response::Tagged {
                tag: lossy(tag),
                status: status_text(status, &mut c),
            })
        }
    }
}

fn untagged(c: &mut Cursor<'_>, input: &[u8]) -> Result<Untagged, ParseError> {
    let word = c.word();
    if let Some(status) = Status::parse(word) {
        return Ok(Untagged::Status(status_text(status, c)));
    }
    if !word.is_empty() && word.iter().all(u8::is_ascii_digit) {
        let n: u32 = lossy(word)
            .parse()
            .map_err(|_| shape("message number out of range", input))?;
        let kind = c.word().to_ascii_uppercase();
        return Ok(match kind.as_slice() {
            b"EXISTS" => Untagged::Exists(n),
            b"RECENT" => Untagged::Recent(n),
            b"EXPUNGE" => Untagged::Expunge(n),
            b"FETCH" => {
                let values = c.values()?;
                let [Value::List(items)] = values.as_slice() else {
                    return Err(shape("FETCH without one item list", input));
                };
                Untagged::Fetch(Box::new(Fetch::from_items(n, items)?))
            }
            _ => Untagged::Other(input.to_vec()),
        });
    }
    Ok(match word.to_ascii_uppercase().as_slice() {
        b"CAPABILITY" => Untagged::Capability(atoms(&c.values()?)),
        b"FLAGS" => match c.values()?.as_slice() {
            [Value::List(flags)] => Untagged::Flags(atoms(flags)),
            _ => return Err(shape("FLAGS without a list", input)),
        },
        b"SEARCH" => Untagged::Search(
            c.values()?
                .iter()
                .filter(|v| !matches!(v, Value::List(_))) // a CONDSTORE (MODSEQ n)
                .map(|v| number_u32(Some(v)))
                .collect::<Option<Vec<u32>>>()
                .ok_or_else(|| shape("SEARCH with a non-number", input))?,
        ),
        b"LIST" | b"LSUB" => Untagged::List(list_entry(&c.values()?, input)?),
        b"STATUS" => mailbox_status(&c.values()?, input)?,
        _ => Untagged::Other(input.to_vec()),
    })
}

fn mailbox_name(v: &Value) -> Option<String> {
    let raw = v.as_bytes()?;
    Some(utf7::decode(raw).unwrap_or_else(|| lossy(raw)))
}

fn list_entry(values: &[Value], input: &[u8]) -> Result<ListEntry, ParseError> {
    let (Some(Value::List(attrs)), Some(delim), Some(name)) =
        (values.first(), values.get(1), values.get(2))
    else {
        return Err(shape("LIST reply of the wrong shape", input));
    };
    Ok(ListEntry {
        attributes: atoms(attrs),
        delimiter: delim
            .as_bytes()
            .and_then(|d| d.first())
            .map(|&b| char::from(b)),
        name: mailbox_name(name).ok_or_else(|| shape("LIST reply without a name", input))?,
    })
}

fn mailbox_status(values: &[Value], input: &[u8]) -> Result<Untagged, ParseError> {
    let (Some(name), Some(Value::List(pairs))) = (values.first(), values.get(1)) else {
        return Err(shape("STATUS reply of the wrong shape", input));
    };
    let mut items = Vec::new();
    for pair in pairs.chunks(2) {
        if let [key, value] = pair {
            if let (Some(k), Some(v)) = (key.text(), value.number()) {
                items.push((k.to_ascii_uppercase(), v));
            }
        }
    }
    Ok(Untagged::MailboxStatus {
        mailbox: mailbox_name(name).ok_or_else(|| shape("STATUS reply without a name", input))?,
        items,
    })
}

/// If `line` (one line of a response, without CRLF) ends by announcing a
/// literal, its length: `{123}` or `{123+}` (or `~{123}`).
pub fn literal_announced(line: &[u8]) -> Option<Result<u64, ()>> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or(()),
    )
}

/// Whether the literal announced at the end of `line` is the content of a
/// message or body section (`BODY[...]`, `BINARY[...]`, `RFC822...`), the
/// data a caller may want streamed rather than held.
pub fn announces_section(line: &[u8]) -> bool {
    let Some(open) = line.iter().rposition(|&b| b == b'{') else {
        return false;
    };
    let before = &line[..open];
    let before = before.strip_suffix(b"~").unwrap_or(before);
    let Some(mut key) = before.strip_suffix(b" ") else {
        return false;
    };
    for (close, open) in [(b'>', b'<'), (b']', b'[')] {
        if key.last() == Some(&close) {
            match key.iter().rposition(|&b| b == open) {
                Some(i) => key = &key[..i],
                None => return false,
            }
        }
    }
    let start = key
        .iter()
        .rposition(|&b| b == b' ' || b == b'(')
        .map_or(0, |i| i + 1);
    let name = key[start..].to_ascii_uppercase();
    name == b"BODY" || name == b"BINARY" || name.starts_with(b"RFC822")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn untagged_of(input: &[u8]) -> Untagged {
        match parse(input) {
            Ok(Response::Untagged(u)) => u,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tagged_and_continuation() {
        assert_eq!(
            parse(b"A1 NO [AUTHENTICATIONFAILED] Authentication failed.").unwrap(),
            Response::Tagged {
                tag: "A1".into(),
                status: StatusText {
                    status: Status::No,
                    code: Some("AUTHENTICATIONFAILED".into()),
                    text: "Authentication failed.".into()
                }
            }
        );
        assert_eq!(
            parse(b"+ idling").unwrap(),
            Response::Continue("idling".into())
        );
        assert_eq!(parse(b"+").unwrap(), Response::Continue(String::new()));
        assert!(parse(b"A1 MAYBE x").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn untagged_kinds() {
        let u = untagged_of(b"* OK [UIDVALIDITY 1700000000] UIDs valid");
        let Untagged::Status(st) = u else { panic!() };
        assert_eq!(st.code_name().as_deref(), Some("UIDVALIDITY"));
        assert_eq!(st.code_arg(), Some("1700000000"));
        assert_eq!(untagged_of(b"* 23 EXISTS"), Untagged::Exists(23));
        assert_eq!(untagged_of(b"* 2 expunge"), Untagged::Expunge(2));
        assert_eq!(
            untagged_of(b"* SEARCH 2 84 882"),
            Untagged::Search(vec![2, 84, 882])
        );
        assert_eq!(untagged_of(b"* SEARCH"), Untagged::Search(vec![]));
        assert_eq!(
            untagged_of(b"* CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN"),
            Untagged::Capability(vec!["IMAP4rev1".into(), "IDLE".into(), "AUTH=PLAIN".into()])
        );
        assert_eq!(
            untagged_of(b"* FLAGS (\\Answered \\Seen $Junk)"),
            Untagged::Flags(vec!["\\Answered".into(), "\\Seen".into(), "$Junk".into()])
        );
        assert_eq!(
            untagged_of(b"* LIST (\\HasNoChildren) \".\" \"Entw&APw-rfe\""),
            Untagged::List(ListEntry {
                attributes: vec!["\\HasNoChildren".into()],
                delimiter: Some('.'),
                name: "Entwürfe".into()
            })
        );
        assert_eq!(
            untagged_of(b"* LIST (\\Noselect) NIL {5}\r\na b c"),
            Untagged::List(ListEntry {
                attributes: vec!["\\Noselect".into()],
                delimiter: None,
                name: "a b c".into()
            })
        );
        assert_eq!(
            untagged_of(b"* STATUS INBOX (MESSAGES 17 UNSEEN 3)"),
            Untagged::MailboxStatus {
                mailbox: "INBOX".into(),
                items: vec![("MESSAGES".into(), 17), ("UNSEEN".into(), 3)]
            }
        );
        assert!(matches!(untagged_of(b"* ENABLED X"), Untagged::Other(_)));
        assert!(parse(b"* SEARCH 1 x").is_err());
        assert!(parse(b"* 99999999999 EXISTS").is_err());
        assert!(parse(b"* LIST").is_err());
    }

    #[test]
    fn literal_announcements() {
        assert_eq!(literal_announced(b"* 1 FETCH (BODY[] {12}"), Some(Ok(12)));
        assert_eq!(literal_announced(b"A APPEND x {3+}"), Some(Ok(3)));
        assert_eq!(
            literal_announced(b"* 1 FETCH (X {999999999999}"),
            Some(Ok(999_999_999_999))
        );
        assert_eq!(
            literal_announced(b"* 1 FETCH (X {99999999999999999999999}"),
            Some(Err(()))
        );
        assert_eq!(literal_announced(b"* OK {x}"), None);
        assert_eq!(literal_announced(b"* OK done"), None);
    }

    #[test]
    fn section_announcements() {
        assert!(announces_section(b"* 1 FETCH (UID 4 BODY[] {12}"));
        assert!(announces_section(b"* 1 FETCH (BODY[TEXT]<0> {12}"));
        assert!(announces_section(
            b"* 1 FETCH (UID 4 BODY[HEADER.FIELDS (FROM TO)] {12}"
        ));
        assert!(announces_section(b"* 1 FETCH (RFC822 {12}"));
        assert!(announces_section(b"* 1 FETCH (BINARY[1] ~{12}"));
        assert!(!announces_section(b"* 1 FETCH (ENVELOPE (NIL {12}"));
        assert!(!announces_section(b"* LIST () \"/\" {12}"));
    }
}
