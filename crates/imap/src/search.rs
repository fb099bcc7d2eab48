//! The search query language of `wharf imap search`, mapped to SEARCH
//! criteria (RFC 3501 §6.4.4).
//!
//! A query is written as IMAP search keys are (`FROM alice SINCE
//! 1-Jan-2026 UNSEEN`, `OR FROM a FROM b`, `NOT SEEN`, parentheses), in any
//! letter case, with two conveniences: dates may also be written
//! `2026-01-31`, and sizes `10K` or `2M`. Every key is checked against the
//! grammar and every argument re-encoded (quoted, or as a literal with
//! `CHARSET UTF-8` when it is not ASCII), so a query can never smuggle a
//! second command or a bare CRLF to the server.

use crate::command::{valid_flag, valid_set, ArgError, Command};

const NO_ARG: &[&str] = &[
    "ALL",
    "ANSWERED",
    "DELETED",
    "DRAFT",
    "FLAGGED",
    "NEW",
    "OLD",
    "RECENT",
    "SEEN",
    "UNANSWERED",
    "UNDELETED",
    "UNDRAFT",
    "UNFLAGGED",
    "UNSEEN",
];
const STRING_ARG: &[&str] = &["BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"];
const DATE_ARG: &[&str] = &["BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// Deepest nesting of parentheses, NOT and OR.
const MAX_DEPTH: usize = 32;

/// How many string arguments follow `key` (in any case) in a query: 1
/// for FROM, SUBJECT and the like, 2 for HEADER, 0 for any other word.
pub fn string_args(key: &str) -> usize {
    let k = key.to_ascii_uppercase();
    if STRING_ARG.contains(&k.as_str()) {
        1
    } else if k == "HEADER" {
        2
    } else {
        0
    }
}

fn err(msg: impl Into<String>) -> ArgError {
    ArgError(msg.into())
}

/// Splits a query into words; `"..."` keeps spaces, parentheses stand alone.
fn tokenize(query: &str) -> Result<Vec<String>, ArgError> {
    let mut out = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' || c == ')' {
            out.push(c.to_string());
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut word = String::new();
            loop {
                match chars.next() {
                    None => return Err(err("a quoted word in the query is not closed")),
                    Some('"') => break,
                    Some('\\') => word.extend(chars.next()),
                    Some(c) => word.push(c),
                }
            }
            out.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '(' || c == ')' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

/// An IMAP date (`1-Jan-2026`) from `1-Jan-2026` or `2026-01-01`.
fn date(word: &str) -> Result<String, ArgError> {
    let bad = || {
        err(format!(
            "{word:?} is not a date; write 31-Jan-2026 or 2026-01-31"
        ))
    };
    let parts: Vec<&str> = word.split('-').collect();
    let [a, b, c] = parts.as_slice() else {
        return Err(bad());
    };
    let num = |s: &str, max: u32| {
        s.parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n) && s.bytes().all(|b| b.is_ascii_digit()))
    };
    let (day, month, year) = if a.len() == 4 {
        let month = num(b, 12).ok_or_else(bad)?;
        (
            num(c, 31).ok_or_else(bad)?,
            month,
            num(a, 9999).ok_or_else(bad)?,
        )
    } else {
        let month = MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(b))
            .ok_or_else(bad)?;
        (
            num(a, 31).ok_or_else(bad)?,
            month as u32 + 1,
            num(c, 9999).ok_or_else(bad)?,
        )
    };
    Ok(format!("{day}-{}-{year:04}", MONTHS[month as usize - 1]))
}

/// A size in bytes from `1000`, `10K` or `2M`.
fn size(word: &str) -> Result<u64, ArgError> {
    let upper = word.to_ascii_uppercase();
    let (digits, unit) = match upper.strip_suffix('K') {
        Some(d) => (d, 1024),
        None => match upper.strip_suffix('M') {
            Some(d) => (d, 1024 * 1024),
            None => (upper.as_str(), 1),
        },
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|&n| n <= u64::from(u32::MAX))
        .ok_or_else(|| err(format!("{word:?} is not a size; write 1000, 10K or 2M")))
}

/// A piece of the criteria before it is encoded.
enum Tok {
    Key(String),
    Str(String),
    Open,
    Close,
}

struct Builder {
    words: std::vec::IntoIter<String>,
    out: Vec<Tok>,
}

impl Builder {
    fn next(&mut self, after: &str) -> Result<String, ArgError> {
        self.words
            .next()
            .ok_or_else(|| err(format!("{after} needs an argument")))
    }

    fn strings(&mut self, key: &str, count: usize) -> Result<(), ArgError> {
        self.out.push(Tok::Key(key.to_string()));
        for _ in 0..count {
            let value = self.next(key)?;
            self.out.push(Tok::Str(value));
        }
        Ok(())
    }

    fn key(&mut self, depth: usize) -> Result<(), ArgError> {
        if depth > MAX_DEPTH {
            return Err(err("the query nests too deeply"));
        }
        let word = self
            .words
            .next()
            .ok_or_else(|| err("the query ends where a search key was expected"))?;
        let upper = word.to_ascii_uppercase();
        let k = upper.as_str();
        let key = |text: String| Tok::Key(text);
        if k == "(" {
            self.out.push(Tok::Open);
            self.key(depth + 1)?;
            loop {
                match self.words.as_slice().first().map(String::as_str) {
                    Some(")") => {
                        self.words.next();
                        break;
                    }
                    Some(_) => self.key(depth + 1)?,
                    None => return Err(err("a '(' in the query is not closed")),
                }
            }
            self.out.push(Tok::Close);
        } else if NO_ARG.contains(&k) {
            self.out.push(key(upper));
        } else if k == "NOT" {
            self.out.push(key(upper));
            self.key(depth + 1)?;
        } else if k == "OR" {
            self.out.push(key(upper));
            self.key(depth + 1)?;
            self.key(depth + 1)?;
        } else if STRING_ARG.contains(&k) {
            self.strings(k, 1)?;
        } else if k == "HEADER" {
            self.strings(k, 2)?;
        } else if DATE_ARG.contains(&k) {
            let d = date(&self.next(k)?)?;
            self.out.push(key(format!("{k} {d}")));
        } else if k == "LARGER" || k == "SMALLER" {
            let n = size(&self.next(k)?)?;
            self.out.push(key(format!("{k} {n}")));
        } else if k == "KEYWORD" || k == "UNKEYWORD" {
            let flag = self.next(k)?;
            if !valid_flag(&flag) || flag.starts_with('\\') {
                return Err(err(format!("{flag:?} is not a keyword")));
            }
            self.out.push(key(format!("{k} {flag}")));
        } else if k == "UID" {
            let set = self.next(k)?;
            if !valid_set(&set) {
                return Err(err(format!(
                    "{set:?} is not a UID set; write 5, 1:10 or 3,7:*"
                )));
            }
            self.out.push(key(format!("UID {set}")));
        } else if valid_set(k) {
            self.out.push(key(upper));
        } else if k == ")" {
            return Err(err("a ')' in the query has no '('"));
        } else {
            return Err(err(format!(
                "{word:?} is not a search key; use e.g. FROM, TO, SUBJECT, TEXT, SINCE, BEFORE, \
                 SEEN, UNSEEN, FLAGGED, LARGER, OR, NOT (see wharf imap search --help)"
            )));
        }
        Ok(())
    }
}

/// Builds `SEARCH` (or `UID SEARCH` when `uid`) for a query.
pub fn build(query: &str, uid: bool) -> Result<Command, ArgError> {
    let mut b = Builder {
        words: tokenize(query)?.into_iter(),
        out: Vec::new(),
    };
    if b.words.as_slice().is_empty() {
        b.out.push(Tok::Key("ALL".into()));
    }
    while !b.words.as_slice().is_empty() {
        b.key(0)?;
    }
    let mut cmd = Command::new(if uid { "UID SEARCH" } else { "SEARCH" });
    if b.out
        .iter()
        .any(|t| matches!(t, Tok::Str(s) if !s.is_ascii()))
    {
        cmd = cmd.raw("CHARSET UTF-8");
    }
    let mut after_open = false;
    for tok in b.out {
        cmd = match tok {
            Tok::Key(k) if after_open => cmd.glued(&k),
            Tok::Key(k) => cmd.raw(&k),
            Tok::Str(s) => cmd.string(s.as_bytes())?,
            Tok::Open => cmd.raw("("),
            Tok::Close => cmd.glued(")"),
        };
        after_open =
            matches!(cmd.parts().last(), Some(crate::command::Part::Text(t)) if t.ends_with(b"("));
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Part;

    fn shown(q: &str) -> String {
        build(q, true)
            .map(|c| c.shown())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn queries() {
        let cases = [
            ("", "UID SEARCH ALL"),
            ("unseen", "UID SEARCH UNSEEN"),
            (
                "FROM alice SINCE 1-jan-2026 UNSEEN",
                "UID SEARCH FROM alice SINCE 1-Jan-2026 UNSEEN",
            ),
            ("since 2026-02-03", "UID SEARCH SINCE 3-Feb-2026"),
            (
                "subject \"hello world\"",
                "UID SEARCH SUBJECT \"hello world\"",
            ),
            ("or from a from b", "UID SEARCH OR FROM a FROM b"),
            ("not (seen flagged)", "UID SEARCH NOT (SEEN FLAGGED)"),
            ("larger 10K", "UID SEARCH LARGER 10240"),
            ("header X-Spam yes", "UID SEARCH HEADER X-Spam yes"),
            ("uid 1:* 5", "UID SEARCH UID 1:* 5"),
            ("keyword $Work", "UID SEARCH KEYWORD $Work"),
            ("subject \"a\\\"b\"", "UID SEARCH SUBJECT \"a\\\"b\""),
        ];
        for (q, want) in cases {
            assert_eq!(shown(q), want, "query {q:?}");
        }
    }

    #[test]
    fn non_ascii_goes_as_literal_with_charset() {
        let c = build("subject Grüße", false).unwrap();
        assert_eq!(
            c.parts(),
            &[
                Part::Text(b"SEARCH CHARSET UTF-8 SUBJECT ".to_vec()),
                Part::Literal("Grüße".as_bytes().to_vec())
            ]
        );
    }

    #[test]
    fn refusals() {
        for q in [
            "FROM",
            "FOO bar",
            "since 32-Jan-2026",
            "since 2026-13-01",
            "since yesterday",
            "larger lots",
            "(seen",
            "seen)",
            "uid 1:x",
            "\"unclosed",
            "keyword \\Seen",
            "subject \"a\rb\" ALL\r\nA2 LOGOUT",
        ] {
            let r = build(q, true);
            let ok = match &r {
                Ok(c) => c.parts().iter().all(|p| match p {
                    Part::Text(t) => !t.contains(&b'\r') && !t.contains(&b'\n'),
                    Part::Literal(_) => true,
                }),
                Err(_) => true,
            };
            assert!(ok, "query {q:?} gave {r:?}");
            if !q.starts_with("subject") {
                assert!(r.is_err(), "query {q:?} gave {r:?}");
            }
        }
        assert!(shown(&"NOT ".repeat(40)).contains("nests too deeply"));
    }
}
