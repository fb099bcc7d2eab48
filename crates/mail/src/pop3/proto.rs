//! POP3 without I/O (RFC 1939, 2449): status lines (`+OK`, `-ERR`, and
//! `+ ` continuations during AUTH), their response codes (`[AUTH]`,
//! `[IN-USE]`, ...), the APOP timestamp in the greeting, and the lines of
//! STAT, LIST and UIDL.

/// A status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok(String),
    Err(String),
    /// `+ ` (or a bare `+`): a SASL challenge (RFC 5034).
    Continue(String),
}

impl Status {
    /// `None` when the line is not a status line.
    pub fn parse(line: &[u8]) -> Option<Status> {
        let text = String::from_utf8_lossy(line);
        let rest = |n: usize| {
            text[n..]
                .strip_prefix(' ')
                .unwrap_or(&text[n..])
                .to_string()
        };
        let upper = text.get(..4).map(str::to_ascii_uppercase);
        if upper.as_deref() == Some("-ERR") {
            Some(Status::Err(rest(4)))
        } else if text.get(..3).map(str::to_ascii_uppercase).as_deref() == Some("+OK") {
            Some(Status::Ok(rest(3)))
        } else if text == "+" || text.starts_with("+ ") {
            Some(Status::Continue(rest(1)))
        } else {
            None
        }
    }
}

/// The response code at the start of a status text (RFC 2449 §8):
/// `[IN-USE] mailbox locked` gives `IN-USE`.
pub fn resp_code(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(&inner[..end])
}

/// The `<...@...>` timestamp of an APOP-capable greeting (RFC 1939 §7).
pub fn apop_timestamp(greeting: &str) -> Option<&str> {
    let start = greeting.find('<')?;
    let end = start + greeting[start..].find('>')?;
    let stamp = &greeting[start..=end];
    stamp.contains('@').then_some(stamp)
}

/// `count size` of a STAT answer (or a one-message LIST: `n size`).
pub fn two_numbers(text: &str) -> Option<(u64, u64)> {
    let mut words = text.split_ascii_whitespace();
    let a = words.next()?.parse().ok()?;
    let b = words.next()?.parse().ok()?;
    Some((a, b))
}

/// One line of a LIST block: message number and size in octets.
pub fn list_entry(line: &[u8]) -> Option<(u32, u64)> {
    let (n, size) = two_numbers(std::str::from_utf8(line).ok()?)?;
    Some((u32::try_from(n).ok()?, size))
}

/// One line of a UIDL block (or a one-message UIDL answer): number and
/// unique id (1–70 printable characters, RFC 1939 §7).
pub fn uidl_entry(text: &str) -> Option<(u32, String)> {
    let mut words = text.split_ascii_whitespace();
    let n = words.next()?.parse().ok()?;
    let uid = words.next()?;
    let printable = uid.len() <= 70 && uid.bytes().all(|b| (0x21..=0x7e).contains(&b));
    printable.then(|| (n, uid.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            Status::parse(b"+OK 2 320"),
            Some(Status::Ok("2 320".into()))
        );
        assert_eq!(Status::parse(b"+ok"), Some(Status::Ok(String::new())));
        assert_eq!(
            Status::parse(b"-ERR [IN-USE] locked"),
            Some(Status::Err("[IN-USE] locked".into()))
        );
        assert_eq!(Status::parse(b"+ "), Some(Status::Continue(String::new())));
        assert_eq!(
            Status::parse(b"+ PDE4OTY+"),
            Some(Status::Continue("PDE4OTY+".into()))
        );
        assert_eq!(Status::parse(b"+"), Some(Status::Continue(String::new())));
        for bad in [&b""[..], b"OK", b"-ER", b"\xff\xfe", b"220 smtp"] {
            assert_eq!(Status::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn codes_stamps_and_listings() {
        assert_eq!(resp_code("[AUTH] bad password"), Some("AUTH"));
        assert_eq!(resp_code("no code"), None);
        assert_eq!(resp_code("[unclosed"), None);
        assert_eq!(
            apop_timestamp("POP3 ready <1896.697170952@dbc.mtview.ca.us>"),
            Some("<1896.697170952@dbc.mtview.ca.us>")
        );
        assert_eq!(apop_timestamp("ready <no-at-sign>"), None);
        assert_eq!(apop_timestamp("ready <unclosed@x"), None);
        assert_eq!(two_numbers("2 320 octets"), Some((2, 320)));
        assert_eq!(two_numbers("2"), None);
        assert_eq!(list_entry(b"1 120"), Some((1, 120)));
        assert_eq!(list_entry(b"99999999999 1"), None);
        assert_eq!(
            uidl_entry("1 whqtswO00WBw418f9t5JxYwZ"),
            Some((1, "whqtswO00WBw418f9t5JxYwZ".into()))
        );
        assert_eq!(uidl_entry("1"), None);
        assert_eq!(uidl_entry(&format!("1 {}", "x".repeat(71))), None);
    }
}
