//! NNTP grammar, sans-IO (RFC 3977): status lines, the GROUP and LIST
//! ACTIVE formats, overview lines, article numbers and message-ids, and
//! the date format of NEWGROUPS and NEWNEWS.

/// One status line: `CODE text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub code: u16,
    pub text: String,
}

impl Response {
    /// Parses a status line (RFC 3977 §3.2): three digits, then a space
    /// or the end.
    pub fn parse(line: &[u8]) -> Option<Response> {
        if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
            return None;
        }
        if line.len() > 3 && line[3] != b' ' {
            return None;
        }
        let code = String::from_utf8_lossy(&line[..3]).parse().ok()?;
        let text = String::from_utf8_lossy(line.get(4..).unwrap_or_default()).into_owned();
        Some(Response { code, text })
    }

    /// The space-separated words of the text.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.text.split_whitespace()
    }
}

/// What GROUP answers: `211 count low high name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub count: u64,
    pub low: u64,
    pub high: u64,
    pub name: String,
}

impl GroupInfo {
    pub fn parse(r: &Response) -> Option<GroupInfo> {
        let mut w = r.words();
        Some(GroupInfo {
            count: w.next()?.parse().ok()?,
            low: w.next()?.parse().ok()?,
            high: w.next()?.parse().ok()?,
            name: w.next()?.to_string(),
        })
    }
}

/// A line of LIST ACTIVE (and NEWGROUPS): `name high low status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveGroup {
    pub name: String,
    pub high: u64,
    pub low: u64,
    pub status: String,
}

impl ActiveGroup {
    pub fn parse(line: &[u8]) -> Option<ActiveGroup> {
        let text = String::from_utf8_lossy(line);
        let mut w = text.split_whitespace();
        Some(ActiveGroup {
            name: w.next()?.to_string(),
            high: w.next()?.parse().ok()?,
            low: w.next()?.parse().ok()?,
            status: w.next().unwrap_or("y").to_string(),
        })
    }
}

/// One overview line: the article number and its fields in the server's
/// OVERVIEW.FMT order (by default Subject, From, Date, Message-ID,
/// References, :bytes, :lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    pub number: u64,
    pub fields: Vec<Vec<u8>>,
}

impl Overview {
    pub fn parse(line: &[u8]) -> Option<Overview> {
        let mut parts = line.split(|&b| b == b'\t');
        let number = std::str::from_utf8(parts.next()?)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(Overview {
            number,
            fields: parts.map(<[u8]>::to_vec).collect(),
        })
    }

    /// Field `i` (0 is Subject in the default format).
    pub fn field(&self, i: usize) -> &[u8] {
        self.fields.get(i).map_or(&[], Vec::as_slice)
    }
}

/// Which article a command names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArticleRef {
    /// The current article of the selected group.
    Current,
    Number(u64),
    /// `<local@domain>`.
    MessageId(String),
}

impl ArticleRef {
    /// `123`, `<id@host>`, or nothing for the current article.
    pub fn parse(text: &str) -> Option<ArticleRef> {
        let t = text.trim();
        if t.is_empty() {
            return Some(ArticleRef::Current);
        }
        if t.starts_with('<') && t.ends_with('>') && t.len() > 2 && !t.contains(char::is_whitespace)
        {
            return Some(ArticleRef::MessageId(t.to_string()));
        }
        t.parse().ok().map(ArticleRef::Number)
    }

    /// The argument as sent (empty for the current article).
    pub fn arg(&self) -> String {
        match self {
            ArticleRef::Current => String::new(),
            ArticleRef::Number(n) => n.to_string(),
            ArticleRef::MessageId(id) => id.clone(),
        }
    }
}

/// What ARTICLE/HEAD/BODY/STAT answer: `22x number <message-id>`.
pub fn parse_article_status(r: &Response) -> Option<(u64, String)> {
    let mut w = r.words();
    let number = w.next()?.parse().ok()?;
    let id = w.next().unwrap_or("").to_string();
    Some((number, id))
}

/// A command argument must not break the line.
pub fn valid_arg(arg: &str) -> bool {
    !arg.contains(['\r', '\n', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let r = Response::parse(b"211 3 1 3 wharf.test").unwrap();
        assert_eq!(r.code, 211);
        assert_eq!(GroupInfo::parse(&r).unwrap().high, 3);
        assert_eq!(Response::parse(b"200").unwrap().text, "");
        assert!(Response::parse(b"20x oops").is_none());
        assert!(Response::parse(b"2000 x").is_none());
        assert!(GroupInfo::parse(&Response::parse(b"211 x").unwrap()).is_none());
    }

    #[test]
    fn lists_and_overviews() {
        let g = ActiveGroup::parse(b"wharf.test 0000000012 0000000001 y").unwrap();
        assert_eq!((g.high, g.low, g.status.as_str()), (12, 1, "y"));
        let o = Overview::parse(b"7\tSubj\tbob@x\tdate\t<id@x>\t\t123\t4").unwrap();
        assert_eq!(o.number, 7);
        assert_eq!(o.field(1), b"bob@x");
        assert_eq!(o.field(9), b"");
        assert!(Overview::parse(b"x\ty").is_none());
    }

    #[test]
    fn article_refs() {
        assert_eq!(ArticleRef::parse("12"), Some(ArticleRef::Number(12)));
        assert_eq!(
            ArticleRef::parse("<a@b>"),
            Some(ArticleRef::MessageId("<a@b>".into()))
        );
        assert_eq!(ArticleRef::parse(""), Some(ArticleRef::Current));
        assert_eq!(ArticleRef::parse("<a b>"), None);
        assert_eq!(ArticleRef::parse("x"), None);
        let r = Response::parse(b"222 5 <m@h> body follows").unwrap();
        assert_eq!(parse_article_status(&r), Some((5, "<m@h>".into())));
    }
}
