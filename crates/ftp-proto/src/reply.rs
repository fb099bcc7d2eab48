//! FTP replies: the three-digit codes of RFC 959, 2228, 2428 and 3659, and
//! the reply format on the wire.
//!
//! A single-line reply is `CODE SP text CRLF`. A multi-line reply opens with
//! `CODE-text`, ends with `CODE SP text`, and its middle lines are free
//! text; RFC 959 §4.2 asks that a middle line which happens to begin with
//! three digits be indented so that no client mistakes it for the end.

use std::fmt;

/// Named reply codes. The comment on each says when it is sent.
pub mod code {
    /// Restart marker reply (REST accepted).
    pub const RESTART_MARKER: u16 = 350;
    /// File status okay; about to open data connection.
    pub const OPENING_DATA: u16 = 150;
    /// Command okay.
    pub const OK: u16 = 200;
    /// Command superfluous (ALLO).
    pub const SUPERFLUOUS: u16 = 202;
    /// System status, or system help reply (STAT, FEAT).
    pub const SYSTEM_STATUS: u16 = 211;
    /// Directory status (STAT of a directory).
    pub const DIRECTORY_STATUS: u16 = 212;
    /// File status (SIZE, MDTM, STAT of a file).
    pub const FILE_STATUS: u16 = 213;
    /// Help message.
    pub const HELP: u16 = 214;
    /// NAME system type.
    pub const SYSTEM_TYPE: u16 = 215;
    /// Service ready for new user.
    pub const READY: u16 = 220;
    /// Service closing control connection.
    pub const CLOSING: u16 = 221;
    /// Data connection open; no transfer in progress.
    pub const DATA_OPEN: u16 = 225;
    /// Closing data connection; requested file action successful.
    pub const TRANSFER_COMPLETE: u16 = 226;
    /// Entering Passive Mode (h1,h2,h3,h4,p1,p2).
    pub const PASSIVE: u16 = 227;
    /// Entering Extended Passive Mode (|||port|).
    pub const EXTENDED_PASSIVE: u16 = 229;
    /// User logged in, proceed.
    pub const LOGGED_IN: u16 = 230;
    /// Security data exchange complete (AUTH TLS).
    pub const AUTH_OK: u16 = 234;
    /// Requested file action okay, completed.
    pub const FILE_ACTION_OK: u16 = 250;
    /// "PATHNAME" created, or current directory.
    pub const PATHNAME: u16 = 257;
    /// User name okay, need password.
    pub const NEED_PASSWORD: u16 = 331;
    /// Requested file action pending further information (RNFR).
    pub const PENDING_INFO: u16 = 350;
    /// Service not available, closing control connection.
    pub const NOT_AVAILABLE: u16 = 421;
    /// Can't open data connection.
    pub const CANT_OPEN_DATA: u16 = 425;
    /// Connection closed; transfer aborted.
    pub const TRANSFER_ABORTED: u16 = 426;
    /// Requested file action not taken (file busy).
    pub const FILE_BUSY: u16 = 450;
    /// Requested action aborted: local error in processing.
    pub const LOCAL_ERROR: u16 = 451;
    /// Requested action not taken: insufficient storage space.
    pub const INSUFFICIENT_STORAGE: u16 = 452;
    /// Syntax error, command unrecognized (or line too long).
    pub const SYNTAX_ERROR: u16 = 500;
    /// Syntax error in parameters or arguments.
    pub const ARGUMENT_ERROR: u16 = 501;
    /// Command not implemented.
    pub const NOT_IMPLEMENTED: u16 = 502;
    /// Bad sequence of commands.
    pub const BAD_SEQUENCE: u16 = 503;
    /// Command not implemented for that parameter.
    pub const PARAMETER_NOT_IMPLEMENTED: u16 = 504;
    /// Not logged in.
    pub const NOT_LOGGED_IN: u16 = 530;
    /// Requested action not taken: file unavailable (not found, no access).
    pub const FILE_UNAVAILABLE: u16 = 550;
    /// Requested action aborted: page type unknown.
    pub const PAGE_TYPE_UNKNOWN: u16 = 551;
    /// Requested file action aborted: exceeded storage allocation (quota).
    pub const QUOTA_EXCEEDED: u16 = 552;
    /// Requested action not taken: file name not allowed.
    pub const NAME_NOT_ALLOWED: u16 = 553;
    /// Requested action not taken: invalid REST parameter (RFC 3659).
    pub const INVALID_RESTART: u16 = 554;
    /// Data connection cannot be opened with this PROT setting (RFC 4217).
    pub const PROT_REQUIRED: u16 = 521;
    /// Requested PROT level not supported by mechanism (RFC 2228).
    pub const PROT_LEVEL_NOT_SUPPORTED: u16 = 536;
    /// Cannot set up security now (RFC 2228).
    pub const SECURITY_UNAVAILABLE: u16 = 431;
    /// Network protocol not supported (EPRT/EPSV); also TLS failures on
    /// a data connection.
    pub const PROTOCOL_NOT_SUPPORTED: u16 = 522;
    /// Request denied for policy reasons (RFC 2228, e.g. TLS required).
    pub const POLICY_DENIED: u16 = 534;
}

/// One reply: a code and one or more lines of text.
///
/// Lines are bytes because some carry file names, which need not be UTF-8.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    lines: Vec<Vec<u8>>,
}

impl Reply {
    /// A single-line reply.
    pub fn new(code: u16, text: impl Into<Vec<u8>>) -> Self {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply. The first line opens it and the last one closes
    /// it; with a single line it is an ordinary reply.
    pub fn multi<I, L>(code: u16, lines: I) -> Self
    where
        I: IntoIterator<Item = L>,
        L: Into<Vec<u8>>,
    {
        let mut lines: Vec<Vec<u8>> = lines.into_iter().map(Into::into).collect();
        if lines.is_empty() {
            lines.push(Vec::new());
        }
        Reply { code, lines }
    }

    pub fn code(&self) -> u16 {
        self.code
    }

    pub fn lines(&self) -> &[Vec<u8>] {
        &self.lines
    }

    /// The reply as it goes on the wire, ending in CRLF.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.iter().map(|l| l.len() + 8).sum());
        self.write_to(&mut out);
        out
    }

    /// Appends the wire form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let code = self.code.to_string();
        let last = self.lines.len() - 1;
        for (i, line) in self.lines.iter().enumerate() {
            let line = strip_line_breaks(line);
            if i == 0 {
                out.extend_from_slice(code.as_bytes());
                out.push(if last == 0 { b' ' } else { b'-' });
            } else if i == last {
                out.extend_from_slice(code.as_bytes());
                out.push(b' ');
            } else if line.first().is_some_and(u8::is_ascii_digit) {
                out.push(b' ');
            }
            out.extend_from_slice(&line);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// A reply line must not carry its own line breaks: a name containing CR or
/// LF would otherwise let a file name forge a reply. Such bytes become
/// spaces, and a NUL (which RFC 2640 uses to escape a CR in a name) too.
fn strip_line_breaks(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if line.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        line.iter()
            .map(|&b| {
                if matches!(b, b'\r' | b'\n' | 0) {
                    b' '
                } else {
                    b
                }
            })
            .collect::<Vec<u8>>()
            .into()
    } else {
        line.into()
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            String::from_utf8_lossy(&self.to_bytes()).trim_end()
        )
    }
}

/// Quotes a path for a 257 reply: the name goes between double quotes and
/// each double quote inside it is doubled (RFC 959 appendix II).
pub fn quote_path(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 2);
    out.push(b'"');
    for &b in path {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line() {
        assert_eq!(Reply::new(200, "OK").to_bytes(), b"200 OK\r\n");
    }

    #[test]
    fn multi_line_marks_first_and_last() {
        let r = Reply::multi(211, ["Features:", "MDTM", "211 lookalike", "End"]);
        assert_eq!(
            r.to_bytes(),
            b"211-Features:\r\nMDTM\r\n 211 lookalike\r\n211 End\r\n".to_vec()
        );
    }

    #[test]
    fn names_cannot_inject_lines() {
        let r = Reply::new(550, b"x\r\n230 fake".to_vec());
        assert_eq!(r.to_bytes(), b"550 x  230 fake\r\n");
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_path(b"/a\"b"), b"\"/a\"\"b\"");
    }
}
