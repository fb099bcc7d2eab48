//! Commands as they go on the wire (RFC 3501 §6, §9): atoms, quoted
//! strings and literals chosen per argument so that no argument can break
//! out of its place (CR, LF and NUL never travel outside a literal, and
//! NUL never at all).

use crate::utf7;

/// A piece of a command: text sent as is, or a literal announced as
/// `{N}` and sent once the server agrees (or at once with LITERAL+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(Vec<u8>),
    Literal(Vec<u8>),
}

/// A command under construction, without its tag.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    parts: Vec<Part>,
    /// Text of the command as shown in a transcript, when it must hide a secret.
    masked: Option<String>,
}

/// Why an argument cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArgError(pub String);

fn is_atom_char(b: u8) -> bool {
    // RFC 3501 ATOM-CHAR, plus ']' which astring allows.
    b > 0x20 && b < 0x7f && !b"(){%*\"\\".contains(&b)
}

impl Command {
    /// Starts a command with its verb (one or more atoms, e.g. `UID FETCH`).
    pub fn new(verb: &str) -> Command {
        Command {
            parts: vec![Part::Text(verb.as_bytes().to_vec())],
            masked: None,
        }
    }

    fn push_text(&mut self, bytes: &[u8]) {
        match self.parts.last_mut() {
            Some(Part::Text(t)) => t.extend_from_slice(bytes),
            _ => self.parts.push(Part::Text(bytes.to_vec())),
        }
    }

    /// Appends text the caller built from checked pieces (a number, a
    /// sequence set, a fixed keyword, an item list), after a space.
    pub fn raw(mut self, text: &str) -> Command {
        self.push_text(b" ");
        self.push_text(text.as_bytes());
        self
    }

    /// Appends text with no space before it (a closing parenthesis).
    pub fn glued(mut self, text: &str) -> Command {
        self.push_text(text.as_bytes());
        self
    }

    /// Appends a string argument (astring): an atom when it can be, a
    /// quoted string when it is 7-bit, a literal otherwise.
    pub fn string(mut self, value: &[u8]) -> Result<Command, ArgError> {
        if value.contains(&0) {
            return Err(ArgError("an argument may not contain a NUL byte".into()));
        }
        self.push_text(b" ");
        if !value.is_empty() && value.iter().all(|&b| is_atom_char(b)) {
            self.push_text(value);
        } else if value
            .iter()
            .all(|&b| b.is_ascii() && b != b'\r' && b != b'\n')
        {
            let mut q = Vec::with_capacity(value.len() + 2);
            q.push(b'"');
            for &b in value {
                if b == b'"' || b == b'\\' {
                    q.push(b'\\');
                }
                q.push(b);
            }
            q.push(b'"');
            self.push_text(&q);
        } else {
            self.parts.push(Part::Literal(value.to_vec()));
        }
        Ok(self)
    }

    /// Appends a mailbox name, encoded in modified UTF-7.
    pub fn mailbox(self, name: &str) -> Result<Command, ArgError> {
        let encoded = utf7::encode(name);
        self.string(encoded.as_bytes())
    }

    /// Appends a literal whatever the content (an APPEND message).
    pub fn literal(mut self, bytes: Vec<u8>) -> Command {
        self.push_text(b" ");
        self.parts.push(Part::Literal(bytes));
        self
    }

    /// Hides the command in transcripts: `shown` is printed instead.
    pub fn masked(mut self, shown: &str) -> Command {
        self.masked = Some(shown.to_string());
        self
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The command as a transcript shows it: secrets masked, literals
    /// replaced by their size.
    pub fn shown(&self) -> String {
        if let Some(m) = &self.masked {
            return m.clone();
        }
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => String::from_utf8_lossy(t).into_owned(),
                Part::Literal(l) => format!("{{{}}} <{} bytes>", l.len(), l.len()),
            })
            .collect()
    }
}

/// Checks a message sequence or UID set (`1`, `2:5`, `7,9:*`) before it
/// goes into a command.
pub fn valid_set(set: &str) -> bool {
    !set.is_empty()
        && set.split(',').all(|range| {
            let mut ends = range.splitn(2, ':');
            ends.all(|n| {
                n == "*"
                    || (!n.is_empty() && n.len() <= 10 && n.bytes().all(|b| b.is_ascii_digit()))
            })
        })
}

/// Checks a flag (`\Seen`, `$Junk`, `Work`) before it goes into a command.
pub fn valid_flag(flag: &str) -> bool {
    let name = flag.strip_prefix('\\').unwrap_or(flag);
    !name.is_empty() && name.bytes().all(|b| is_atom_char(b) && b != b']')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(c: &Command) -> Vec<Part> {
        c.parts().to_vec()
    }

    #[test]
    fn string_forms() {
        let c = Command::new("LOGIN")
            .string(b"alice")
            .unwrap()
            .string(b"p w\"\\")
            .unwrap();
        assert_eq!(
            text(&c),
            vec![Part::Text(b"LOGIN alice \"p w\\\"\\\\\"".to_vec())]
        );
        let c = Command::new("SELECT").string(b"").unwrap();
        assert_eq!(text(&c), vec![Part::Text(b"SELECT \"\"".to_vec())]);
        let c = Command::new("X")
            .string("café".as_bytes())
            .unwrap()
            .raw("Y");
        assert_eq!(
            text(&c),
            vec![
                Part::Text(b"X ".to_vec()),
                Part::Literal("café".as_bytes().to_vec()),
                Part::Text(b" Y".to_vec())
            ]
        );
        let c = Command::new("X").string(b"a\r\nb").unwrap();
        assert_eq!(c.parts()[1], Part::Literal(b"a\r\nb".to_vec()));
        assert!(Command::new("X").string(b"a\0").is_err());
        assert_eq!(Command::new("X").string(b"a*").unwrap().shown(), "X \"a*\"");
    }

    #[test]
    fn mailboxes_and_masking() {
        let c = Command::new("SELECT").mailbox("Entwürfe").unwrap();
        assert_eq!(c.shown(), "SELECT Entw&APw-rfe");
        let c = Command::new("LOGIN")
            .string(b"a")
            .unwrap()
            .string(b"secret")
            .unwrap()
            .masked("LOGIN a ****");
        assert_eq!(c.shown(), "LOGIN a ****");
        let c = Command::new("APPEND INBOX").literal(b"hello".to_vec());
        assert_eq!(c.shown(), "APPEND INBOX {5} <5 bytes>");
    }

    #[test]
    fn sets_and_flags() {
        for ok in ["1", "2:5", "7,9:*", "*", "1:*"] {
            assert!(valid_set(ok), "{ok}");
        }
        for bad in ["", "a", "1 2", "1,", "1:2:3", "1\r\n", "12345678901"] {
            assert!(!valid_set(bad), "{bad}");
        }
        for ok in ["\\Seen", "$Junk", "Work"] {
            assert!(valid_flag(ok), "{ok}");
        }
        for bad in ["", "\\", "a b", "(x)", "a]", "\\Seen\r\n"] {
            assert!(!valid_flag(bad), "{bad}");
        }
    }
}

#[cfg(test)]
mod round_trip {
    use super::*;
    use crate::value::{Cursor, Value};
    use proptest::prelude::*;

    proptest! {
        /// Whatever form `string` picks, the server's grammar reads back
        /// the same bytes (a literal goes on the wire as `{N}\r\n` + bytes).
        #[test]
        fn strings_read_back(value in proptest::collection::vec(1u8..=255, 0..64)) {
            let cmd = Command::new("X").string(&value).unwrap();
            let mut wire = Vec::new();
            for part in cmd.parts() {
                match part {
                    Part::Text(t) => wire.extend_from_slice(t),
                    Part::Literal(l) => {
                        wire.extend_from_slice(format!("{{{}}}\r\n", l.len()).as_bytes());
                        wire.extend_from_slice(l);
                    }
                }
            }
            let values = Cursor::new(&wire).values().unwrap();
            prop_assert_eq!(values.len(), 2);
            let got = match &values[1] {
                Value::Atom(b) | Value::Str(b) => b.clone(),
                Value::Nil => b"NIL".to_vec(),
                Value::List(_) => panic!("a list"),
            };
            prop_assert_eq!(got, value);
        }

        #[test]
        fn parser_never_panics(input in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = crate::response::parse(&input);
        }
    }
}
