//! The generic shape of IMAP response data (RFC 3501 §9): atoms, numbers,
//! quoted strings, literals, NIL and parenthesised lists, parsed from one
//! whole response whose literals sit inline as `{N}\r\n` + N bytes.
//!
//! Everything here is sans-IO and bounded by its input: a literal that
//! announces more bytes than the input holds is an error, never an
//! allocation.

/// One datum of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An atom or number, including section keys such as
    /// `BODY[HEADER.FIELDS (FROM)]<0>` and flags such as `\Seen`.
    Atom(Vec<u8>),
    /// A quoted string or a literal, unescaped.
    Str(Vec<u8>),
    Nil,
    List(Vec<Value>),
}

/// Deepest list nesting accepted (a hostile BODYSTRUCTURE could nest forever).
const MAX_DEPTH: usize = 64;

impl Value {
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Atom(b) | Value::Str(b) => Some(b),
            _ => None,
        }
    }

    /// The value as text (lossy), `None` for NIL and lists.
    pub fn text(&self) -> Option<String> {
        self.as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    pub fn number(&self) -> Option<u64> {
        match self {
            Value::Atom(b) if !b.is_empty() && b.iter().all(u8::is_ascii_digit) => {
                std::str::from_utf8(b).ok()?.parse().ok()
            }
            _ => None,
        }
    }

    pub fn list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// Whether this is the atom `word`, ignoring case.
    pub fn is_atom(&self, word: &str) -> bool {
        matches!(self, Value::Atom(b) if b.eq_ignore_ascii_case(word.as_bytes()))
    }
}

/// Why response data could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed response data at byte {at}: {what}")]
pub struct SyntaxError {
    pub at: usize,
    pub what: &'static str,
}

/// A cursor over one response.
#[derive(Debug)]
pub struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Cursor { input, pos: 0 }
    }

    fn err(&self, what: &'static str) -> SyntaxError {
        SyntaxError { at: self.pos, what }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// What has not been consumed yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.input[self.pos.min(self.input.len())..]
    }

    pub fn skip_spaces(&mut self) {
        while self.input.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Reads a word up to the next space (for tags, status words, verbs).
    pub fn word(&mut self) -> &'a [u8] {
        self.skip_spaces();
        let start = self.pos;
        while self.peek().is_some_and(|b| b != b' ') {
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    /// Reads a bracketed response code (`[UIDVALIDITY 3]`), if one is next,
    /// returning what is inside the brackets.
    pub fn response_code(&mut self) -> Option<&'a [u8]> {
        self.skip_spaces();
        if self.peek() != Some(b'[') {
            return None;
        }
        let start = self.pos + 1;
        let end = start + self.input[start..].iter().position(|&b| b == b']')?;
        self.pos = end + 1;
        Some(&self.input[start..end])
    }

    /// Reads every remaining value.
    pub fn values(&mut self) -> Result<Vec<Value>, SyntaxError> {
        let mut out = Vec::new();
        loop {
            self.skip_spaces();
            if self.at_end() {
                return Ok(out);
            }
            out.push(self.value(0)?);
        }
    }

    /// Reads one value.
    pub fn value(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        self.skip_spaces();
        match self.peek() {
            None => Err(self.err("value expected")),
            Some(b'(') => {
                if depth >= MAX_DEPTH {
                    return Err(self.err("lists nested too deeply"));
                }
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_spaces();
                    match self.peek() {
                        None => return Err(self.err("unclosed list")),
                        Some(b')') => {
                            self.pos += 1;
                            return Ok(Value::List(items));
                        }
                        Some(_) => items.push(self.value(depth + 1)?),
                    }
                }
            }
            Some(b')') => Err(self.err("unexpected ')'")),
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            Some(b'~') if self.input.get(self.pos + 1) == Some(&b'{') => {
                self.pos += 1;
                self.literal()
            }
            Some(_) => Ok(self.atom()),
        }
    }

    fn quoted(&mut self) -> Result<Value, SyntaxError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Value::Str(out));
                }
                Some(b'\\') => {
                    let escaped = self
                        .input
                        .get(self.pos + 1)
                        .copied()
                        .ok_or_else(|| self.err("unterminated string"))?;
                    out.push(escaped);
                    self.pos += 2;
                }
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Result<Value, SyntaxError> {
        self.pos += 1;
        let digits_start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let len: usize = std::str::from_utf8(&self.input[digits_start..self.pos])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| self.err("bad literal length"))?;
        if self.peek() == Some(b'+') {
            self.pos += 1;
        }
        if self.input.get(self.pos..self.pos + 3) != Some(b"}\r\n") {
            return Err(self.err("bad literal header"));
        }
        self.pos += 3;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.input.len())
            .ok_or_else(|| self.err("literal longer than the response"))?;
        let bytes = self.input[self.pos..end].to_vec();
        self.pos = end;
        Ok(Value::Str(bytes))
    }

    /// An atom; brackets (with spaces and lists inside) and a following
    /// `<partial>` belong to it, as in `BODY[HEADER.FIELDS (DATE)]<0>`.
    fn atom(&mut self) -> Value {
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'[' => depth += 1,
                b']' if depth > 0 => depth -= 1,
                b'\r' | b'\n' => break,
                b' ' | b'(' | b')' | b'"' | b'{' if depth == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        if self.pos == start {
            // A stray byte that starts no value: take it as a one-byte atom
            // so parsing always moves on.
            self.pos += 1;
        }
        let word = &self.input[start..self.pos];
        if word.eq_ignore_ascii_case(b"NIL") {
            Value::Nil
        } else {
            Value::Atom(word.to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<Vec<Value>, SyntaxError> {
        Cursor::new(input).values()
    }

    fn atom(s: &str) -> Value {
        Value::Atom(s.as_bytes().to_vec())
    }

    fn s(text: &str) -> Value {
        Value::Str(text.as_bytes().to_vec())
    }

    #[test]
    fn table() {
        type Case = (&'static [u8], Result<Vec<Value>, &'static str>);
        let cases: &[Case] = &[
            (b"", Ok(vec![])),
            (b"NIL nil 12", Ok(vec![Value::Nil, Value::Nil, atom("12")])),
            (br#""a \"b\" \\c""#, Ok(vec![s(r#"a "b" \c"#)])),
            (
                b"(\\Seen \\Answered) ()",
                Ok(vec![
                    Value::List(vec![atom("\\Seen"), atom("\\Answered")]),
                    Value::List(vec![]),
                ]),
            ),
            (b"{5}\r\nhe)lo x", Ok(vec![s("he)lo"), atom("x")])),
            (b"~{2}\r\n\0\x01", Ok(vec![Value::Str(vec![0, 1])])),
            (
                b"BODY[HEADER.FIELDS (FROM TO)]<0> {2}\r\nab",
                Ok(vec![atom("BODY[HEADER.FIELDS (FROM TO)]<0>"), s("ab")]),
            ),
            (
                b"(a (b (c)))",
                Ok(vec![Value::List(vec![
                    atom("a"),
                    Value::List(vec![atom("b"), Value::List(vec![atom("c")])]),
                ])]),
            ),
            (b"\"abc", Err("unterminated string")),
            (b"(a b", Err("unclosed list")),
            (b")", Err("unexpected ')'")),
            (
                b"{999999999999}\r\nab",
                Err("literal longer than the response"),
            ),
            (b"{99999999999999999999999}\r\n", Err("bad literal length")),
            (b"{3}ab", Err("bad literal header")),
        ];
        for (input, want) in cases {
            let got = parse(input).map_err(|e| e.what);
            assert_eq!(&got, want, "input {:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "(".repeat(100) + &")".repeat(100);
        assert_eq!(
            parse(deep.as_bytes()).map_err(|e| e.what),
            Err("lists nested too deeply")
        );
    }

    #[test]
    fn numbers_and_codes() {
        assert_eq!(atom("42").number(), Some(42));
        assert_eq!(atom("4x").number(), None);
        let mut c = Cursor::new(b"[UIDNEXT 5] Predicted");
        assert_eq!(c.response_code(), Some(&b"UIDNEXT 5"[..]));
        assert_eq!(c.rest(), b" Predicted");
    }
}
