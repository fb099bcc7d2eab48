//! The grammar of file hashes: HASH and OPTS HASH
//! (draft-bryan-ftpext-hash-02), RANG (draft-bryan-ftp-range-08) and the
//! older XCRC/XMD5/XSHA1/XSHA256/XSHA512 verbs.
//!
//! The draft names algorithms as in the IANA "Hash Function Textual
//! Names" registry (`SHA-256`, `MD5`), lists them in FEAT with a `*` on
//! the session's current one (`HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32`),
//! and answers `213 <algorithm> <start>-<end> <hex> <path>`.
//!
//! A range is kept here as `[start, end)`: RANG sends an inclusive end
//! (`RANG 0 49` is the first 50 bytes; `RANG 1 0` resets), the X-verbs an
//! exclusive one as ProFTPD's mod_digest and Serv-U take it
//! (`XCRC path 0 50`).

use std::fmt;

/// A hash algorithm a client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashAlgorithm {
    #[default]
    Sha256,
    Sha512,
    Sha1,
    Md5,
    Crc32,
}

impl HashAlgorithm {
    /// Every algorithm, in the order FEAT lists them.
    pub const ALL: [HashAlgorithm; 5] = [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha512,
        HashAlgorithm::Sha1,
        HashAlgorithm::Md5,
        HashAlgorithm::Crc32,
    ];

    /// The IANA name the draft uses on the wire.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha512 => "SHA-512",
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Md5 => "MD5",
            HashAlgorithm::Crc32 => "CRC32",
        }
    }

    /// The algorithm a name (any case) stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The older verb that asks for this algorithm.
    pub fn x_verb(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "XSHA256",
            HashAlgorithm::Sha512 => "XSHA512",
            HashAlgorithm::Sha1 => "XSHA1",
            HashAlgorithm::Md5 => "XMD5",
            HashAlgorithm::Crc32 => "XCRC",
        }
    }

    /// The algorithm an older verb asks for (`XSHA` is ProFTPD's SHA-1).
    pub fn from_x_verb(verb: &str) -> Option<Self> {
        match verb {
            "XSHA" => Some(HashAlgorithm::Sha1),
            v => Self::ALL.into_iter().find(|a| a.x_verb() == v),
        }
    }

    /// The FEAT line, with `*` on `current`.
    pub fn feat_line(current: HashAlgorithm) -> String {
        let names: Vec<String> = Self::ALL
            .iter()
            .map(|&a| {
                let star = if a == current { "*" } else { "" };
                format!("{}{star}", a.name())
            })
            .collect();
        format!("HASH {}", names.join(";"))
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A byte range `[start, end)` of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A decimal number of digits only (no sign, no spaces).
fn number(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// RANG's argument: `start SP end`, both inclusive. `1 0` resets
/// (`Ok(None)`); a start past the end is an error.
pub fn parse_rang(arg: &[u8]) -> Option<Option<ByteRange>> {
    let text = arg.trim_ascii();
    let mut words = text.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let (start, last) = (number(words.next()?)?, number(words.next()?)?);
    if words.next().is_some() {
        return None;
    }
    match (start, last) {
        (1, 0) => Some(None),
        (s, l) if s <= l => Some(Some(ByteRange {
            start: s,
            end: l.checked_add(1)?,
        })),
        _ => None,
    }
}

/// RANG's argument for a range (inclusive end), or the reset.
pub fn format_rang(range: Option<ByteRange>) -> String {
    match range {
        Some(r) if !r.is_empty() => format!("{} {}", r.start, r.end - 1),
        _ => "1 0".into(),
    }
}

/// An X-verb's argument: `path [SP start SP end]`, the path optionally
/// in double quotes (for a name that ends in two numbers), the end
/// exclusive. Without quotes, two trailing numbers after a non-empty
/// path are the range.
/// An argument that reads two ways (a bare path that still ends in two
/// numbers after its range, with a quote inside) is refused: it has no
/// form that reads back as itself.
pub fn parse_x_args(arg: &[u8]) -> Option<(Vec<u8>, Option<ByteRange>)> {
    let (path, range) = read_x_args(arg)?;
    let again = read_x_args(&format_x_args(&path, range))?;
    (again == (path.clone(), range)).then_some((path, range))
}

fn read_x_args(arg: &[u8]) -> Option<(Vec<u8>, Option<ByteRange>)> {
    let (path, rest): (&[u8], &[u8]) = match arg.strip_prefix(b"\"") {
        Some(quoted) => {
            let close = quoted.iter().position(|&b| b == b'"')?;
            (&quoted[..close], &quoted[close + 1..])
        }
        None => split_trailing_range(arg),
    };
    if path.is_empty() {
        return None;
    }
    let range = if rest.trim_ascii().is_empty() {
        None
    } else {
        let mut words = rest.split(|&b| b == b' ').filter(|w| !w.is_empty());
        let start = number(words.next()?)?;
        let end = number(words.next()?)?;
        if words.next().is_some() || start > end {
            return None;
        }
        Some(ByteRange { start, end })
    };
    Some((path.to_vec(), range))
}

/// Splits `name start end` into the name and ` start end`; anything else
/// is all name.
fn split_trailing_range(arg: &[u8]) -> (&[u8], &[u8]) {
    let Some(second) = arg.iter().rposition(|&b| b == b' ') else {
        return (arg, &[]);
    };
    let Some(first) = arg[..second].iter().rposition(|&b| b == b' ') else {
        return (arg, &[]);
    };
    let numbers = number(&arg[first + 1..second]).is_some() && number(&arg[second + 1..]).is_some();
    if numbers && first > 0 {
        (&arg[..first], &arg[first..])
    } else {
        (arg, &[])
    }
}

/// An X-verb's argument back on the wire; the path is quoted where it
/// would not read back as itself bare (it ends in a line break, or in what
/// reads as a range).
pub fn format_x_args(path: &[u8], range: Option<ByteRange>) -> Vec<u8> {
    let bare_reads_back =
        !path.ends_with(b"\r") && !path.ends_with(b"\n") && split_trailing_range(path).1.is_empty();
    let mut out = if bare_reads_back {
        path.to_vec()
    } else {
        [&b"\""[..], path, b"\""].concat()
    };
    if let Some(r) = range {
        out.extend_from_slice(format!(" {} {}", r.start, r.end).as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_feat() {
        assert_eq!(
            HashAlgorithm::from_name("sha-512"),
            Some(HashAlgorithm::Sha512)
        );
        assert_eq!(
            HashAlgorithm::from_name(" crc32 "),
            Some(HashAlgorithm::Crc32)
        );
        assert_eq!(HashAlgorithm::from_name("SHA256"), None);
        assert_eq!(
            HashAlgorithm::feat_line(HashAlgorithm::Sha256),
            "HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32"
        );
        assert_eq!(
            HashAlgorithm::feat_line(HashAlgorithm::Md5),
            "HASH SHA-256;SHA-512;SHA-1;MD5*;CRC32"
        );
        assert_eq!(
            HashAlgorithm::from_x_verb("XSHA"),
            Some(HashAlgorithm::Sha1)
        );
        for a in HashAlgorithm::ALL {
            assert_eq!(HashAlgorithm::from_x_verb(a.x_verb()), Some(a));
            assert_eq!(HashAlgorithm::from_name(a.name()), Some(a));
        }
    }

    #[test]
    fn rang() {
        let r = |start, end| Some(Some(ByteRange { start, end }));
        assert_eq!(parse_rang(b"0 49"), r(0, 50));
        assert_eq!(parse_rang(b" 7  7 "), r(7, 8));
        assert_eq!(parse_rang(b"1 0"), Some(None));
        for bad in [
            &b"5 4"[..],
            b"1",
            b"",
            b"a b",
            b"-1 3",
            b"0 18446744073709551615",
            b"1 2 3",
        ] {
            assert_eq!(parse_rang(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(format_rang(Some(ByteRange { start: 0, end: 50 })), "0 49");
        assert_eq!(format_rang(None), "1 0");
    }

    #[test]
    fn x_args_that_need_quotes_read_back() {
        for path in [&b"a 1 2"[..], b"z\n\n", b"r\r"] {
            let wire = format_x_args(path, None);
            assert_eq!(parse_x_args(&wire), Some((path.to_vec(), None)), "{wire:?}");
        }
        let range = Some(ByteRange { start: 1, end: 2 });
        let wire = format_x_args(b"a 1 2", range);
        assert_eq!(parse_x_args(&wire), Some((b"a 1 2".to_vec(), range)));
        // Found by the fuzzer: no form of this path reads back as itself.
        assert_eq!(parse_x_args(b" HA \"za\"3 1 1 9 7 77"), None);
    }

    #[test]
    fn x_args() {
        let range = |start, end| Some(ByteRange { start, end });
        type Parsed<'a> = Option<(&'a [u8], Option<ByteRange>)>;
        let cases: Vec<(&[u8], Parsed<'_>)> = vec![
            (b"f.bin", Some((b"f.bin", None))),
            (b"f.bin 10 20", Some((b"f.bin", range(10, 20)))),
            (b"my file.bin", Some((b"my file.bin", None))),
            (b"my file 1 2", Some((b"my file", range(1, 2)))),
            (b"\"my file 1 2\"", Some((b"my file 1 2", None))),
            (b"\"my file\" 0 5", Some((b"my file", range(0, 5)))),
            (b"1 2", Some((b"1 2", None))),
            (b"f 9 3", None),
            (b"\"f\" x", None),
            (b"\"unclosed", None),
            (b"\"\"", None),
        ];
        for (arg, want) in cases {
            let got = parse_x_args(arg);
            let want = want.map(|(p, r)| (p.to_vec(), r));
            assert_eq!(got, want, "{}", String::from_utf8_lossy(arg));
        }
        assert_eq!(format_x_args(b"f", range(1, 2)), b"f 1 2");
    }
}
