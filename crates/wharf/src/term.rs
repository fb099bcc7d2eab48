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
//! - [`stream_out`] is the same for a stream of any chunks (a message
//!   fetched to standard output), holding back a character split between
//!   two chunks until it is whole.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;

/// `bytes` for display on one line: every control character escaped.
pub fn escape(bytes: &[u8]) -> String {
    escape_with(bytes, false)
}

/// `bytes` for display as text: controls escaped, but `\n`, `\t` and the
/// `\r` of a `\r\n` kept (a lone `\r` would let text overwrite a line).
pub fn escape_text(bytes: &[u8]) -> String {
    escape_with(bytes, true)
}

fn escape_with(bytes: &[u8], layout: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        let mut chars = chunk.valid().chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\n' | '\t' if layout => out.push(c),
                '\r' if layout && chars.peek() == Some(&'\n') => out.push(c),
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

/// Standard output for a stream, escaped when it is a terminal.
pub fn stream_out() -> StreamScreen<tokio::io::Stdout> {
    StreamScreen {
        tty: io::stdout().is_terminal(),
        inner: tokio::io::stdout(),
        carry: Vec::new(),
        out: Vec::new(),
    }
}

/// An [`AsyncWrite`] that escapes what it is given when `tty` is set.
#[derive(Debug)]
pub struct StreamScreen<W> {
    inner: W,
    tty: bool,
    /// The start of a character whose end has not arrived yet.
    carry: Vec<u8>,
    /// Escaped bytes not yet taken by `inner`.
    out: Vec<u8>,
}

/// How many bytes at the end of `bytes` start a UTF-8 character that is
/// not complete yet (or are a `\r` that a `\n` may follow).
fn unfinished_tail(bytes: &[u8]) -> usize {
    if bytes.last() == Some(&b'\r') {
        return 1;
    }
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        let needs = match b {
            0x80..=0xbf => continue,
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return 0,
        };
        return if needs > back { back } else { 0 };
    }
    0
}

impl<W: AsyncWrite + Unpin> StreamScreen<W> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.out.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for StreamScreen<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if !this.tty {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        // Escaped bytes from an earlier call go first; `buf` is taken only
        // once they are gone, so a Pending here takes nothing.
        std::task::ready!(this.drain(cx))?;
        let mut whole = std::mem::take(&mut this.carry);
        whole.extend_from_slice(buf);
        let keep = unfinished_tail(&whole);
        this.carry = whole.split_off(whole.len() - keep);
        this.out = escape_text(&whole).into_bytes();
        // What is left of `out` is written by the next call or flush.
        let _ = this.drain(cx)?;
        Poll::Ready(Ok(buf.len()))
    }

    /// Writes everything, a character still unfinished as its bytes.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let carry = std::mem::take(&mut self.carry);
        self.out.extend_from_slice(escape_text(&carry).as_bytes());
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `println!` through [`stdout`]; a closed output is not an error here.
/// The line goes out in one write, so lines of parallel tasks never mix.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!("{}\n", format_args!($($arg)*));
        let _ = $crate::term::stdout().write_all(line.as_bytes());
    }};
}

/// `eprintln!` through [`stderr`], a line in one write as [`outln!`].
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!("{}\n", format_args!($($arg)*));
        let _ = $crate::term::stderr().write_all(line.as_bytes());
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
        assert_eq!(escape_text(b"a\r\nb\tc\rd\r"), "a\r\nb\tc\\x0dd\\x0d");
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

    #[tokio::test]
    async fn a_stream_keeps_split_characters_whole() {
        use tokio::io::AsyncWriteExt;
        let mut s = StreamScreen {
            inner: Vec::new(),
            tty: true,
            carry: Vec::new(),
            out: Vec::new(),
        };
        let text = "Grüße \x1b[2J ✓\r\n".as_bytes();
        for chunk in text.chunks(1) {
            s.write_all(chunk).await.unwrap();
        }
        s.write_all(b"\xe2\x9c").await.unwrap();
        s.flush().await.unwrap();
        assert_eq!(s.inner, "Grüße \\x1b[2J ✓\r\n\\xe2\\x9c".as_bytes());
        assert_eq!(unfinished_tail(b"a\xf0\x9f\x98"), 3);
        assert_eq!(unfinished_tail("a✓".as_bytes()), 0);
        assert_eq!(unfinished_tail(b"\x9b"), 0);
    }

    fn is_terminal_control(c: char) -> bool {
        c.is_control() && c != '\n' && c != '\t' && c != '\r'
    }

    proptest! {
        #[test]
        fn no_control_survives(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let line = escape(&bytes);
            prop_assert!(!line.chars().any(char::is_control), "{line:?}");
            let text = escape_text(&bytes);
            prop_assert!(!text.chars().any(is_terminal_control), "{text:?}");
            prop_assert!(!text.replace("\r\n", "\n").contains('\r'), "{text:?}");
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
