//! Remote text on a person's terminal. Servers choose file names, reply
//! texts, news headers and mail subjects, and a control character in
//! them is a command to the terminal (`ESC ] 0 ; … BEL` sets the window
//! title, `ESC [ 2 J` clears the screen, some terminals answer queries
//! into their input). Everything `wharf` prints goes through here:
//!
//! - [`escape`] writes every C0 control, DEL and C1 control (`U+0080` to
//!   `U+009F`, and the raw bytes `0x80`–`0x9F`, which are not UTF-8) as a
//!   visible escape (`\x1b`, `\u{9b}`), and any byte that is not UTF-8 as
//!   `\xNN`; [`escape_text`] does the same but keeps line breaks and tabs.
//! - [`stdout`] and [`stderr`] escape (as [`escape_text`]) only when they
//!   are a terminal: piped, the bytes are passed on exactly as the server
//!   sent them, so `wharf ls -1 URL | …` still sees the real names.
//! - [`outln!`](crate::outln) and [`errln!`](crate::errln) are `println!`
//!   and `eprintln!` through them.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};

/// `bytes` for display on one line: every control character escaped.
pub fn escape(bytes: &[u8]) -> String {
    escape_with(bytes, false)
}

/// `bytes` for display as text: controls escaped, but `\n` and `\t` kept.
pub fn escape_text(bytes: &[u8]) -> String {
    escape_with(bytes, true)
}

fn escape_with(bytes: &[u8], layout: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' | '\t' if layout => out.push(c),
                '\0'..='\x1f' | '\x7f' => {
                    let _ = write!(out, "\\x{:02x}", u32::from(c));
                }
                '\u{80}'..='\u{9f}' => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// A writer that escapes what it is given when `tty` is set (see
/// [`escape_text`]). Each write is escaped on its own, so a character must
/// not be split across two writes (no caller here does).
#[derive(Debug)]
pub struct Screen<W: Write> {
    inner: W,
    tty: bool,
}

impl<W: Write> Write for Screen<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.tty {
            self.inner.write_all(escape_text(buf).as_bytes())?;
        } else {
            self.inner.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Standard output, escaped when it is a terminal.
pub fn stdout() -> Screen<io::Stdout> {
    let out = io::stdout();
    Screen {
        tty: out.is_terminal(),
        inner: out,
    }
}

/// Standard error, escaped when it is a terminal.
pub fn stderr() -> Screen<io::Stderr> {
    let err = io::stderr();
    Screen {
        tty: err.is_terminal(),
        inner: err,
    }
}

/// `println!` through [`stdout`]; a closed output is not an error here.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!($crate::term::stdout(), $($arg)*);
    }};
}

/// `eprintln!` through [`stderr`].
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!($crate::term::stderr(), $($arg)*);
    }};
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escape_sequences_become_visible() {
        let hostile = b"evil\x1b]0;title\x07\x1b[2J\xc2\x9b31m\x9b.txt";
        assert_eq!(
            escape(hostile),
            "evil\\x1b]0;title\\x07\\x1b[2J\\u{9b}31m\\x9b.txt"
        );
        assert_eq!(escape(b"a\nb\tc\x7f"), "a\\x0ab\\x09c\\x7f");
        assert_eq!(escape_text(b"a\r\nb\tc"), "a\\x0d\nb\tc");
        assert_eq!(escape("Grüße ✓ 日本".as_bytes()), "Grüße ✓ 日本");
        assert_eq!(escape(b"caf\xe9"), "caf\\xe9");
    }

    #[test]
    fn a_screen_escapes_only_a_terminal() {
        let mut tty = Screen {
            inner: Vec::new(),
            tty: true,
        };
        let mut pipe = Screen {
            inner: Vec::new(),
            tty: false,
        };
        for s in [&mut tty, &mut pipe] {
            writeln!(s, "x\x1b[2J").unwrap();
        }
        assert_eq!(tty.inner, b"x\\x1b[2J\n");
        assert_eq!(pipe.inner, b"x\x1b[2J\n");
    }

    fn is_terminal_control(c: char) -> bool {
        c.is_control() && c != '\n' && c != '\t'
    }

    proptest! {
        #[test]
        fn no_control_survives(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let line = escape(&bytes);
            prop_assert!(!line.chars().any(char::is_control), "{line:?}");
            let text = escape_text(&bytes);
            prop_assert!(!text.chars().any(is_terminal_control), "{text:?}");
            prop_assert_eq!(text.matches('\n').count(), bytes.iter().filter(|&&b| b == b'\n').count());
        }

        #[test]
        fn escaping_twice_changes_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let once = escape(&bytes);
            prop_assert_eq!(escape(once.as_bytes()), once.clone());
            let text = escape_text(&bytes);
            prop_assert_eq!(escape_text(text.as_bytes()), text.clone());
        }

        #[test]
        fn printable_text_is_left_alone(s in "[^\\p{Cc}]{0,80}") {
            prop_assert_eq!(escape(s.as_bytes()), s.clone());
        }
    }
}
