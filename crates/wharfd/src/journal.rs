//! Logging straight to the systemd journal (its native protocol, written by
//! hand): one datagram per event to `/run/systemd/journal/socket`, made of
//! `FIELD=value` lines (a value holding a newline is sent as `FIELD`, a
//! newline, its 64-bit little-endian length, the bytes and a newline).
//!
//! Each entry has `MESSAGE` (the message followed by its fields as
//! `key=value`, as the text log shows it), `PRIORITY` (syslog: 3 error … 7
//! debug), `SYSLOG_IDENTIFIER=wharfd`, and every field of the event as a
//! journal field of its own, upper-cased (`PEER`, `USER`, `PATH`, `BYTES`,
//! …), so `journalctl -u wharfd USER=alice` finds a user's lines. An entry
//! the journal does not take (too large, journald gone) is written to
//! standard error instead.

use std::fmt::{self, Write as _};
use std::io;
use std::os::unix::net::UnixDatagram;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Where journald listens for native entries.
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// A [`Layer`] that sends each event to the journal.
#[derive(Debug)]
pub struct JournalLayer {
    socket: UnixDatagram,
}

impl JournalLayer {
    /// Connects to journald; an error when it does not listen.
    pub fn connect() -> io::Result<JournalLayer> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(JOURNAL_SOCKET)?;
        Ok(JournalLayer { socket })
    }
}

impl<S: Subscriber> Layer<S> for JournalLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut message = fields.message;
        for (name, value) in &fields.rest {
            // `write!` into a String cannot fail.
            let _ = write!(message, " {name}={value}");
        }
        let mut entry = Vec::with_capacity(256);
        put(
            &mut entry,
            "PRIORITY",
            &priority(*event.metadata().level()).to_string(),
        );
        put(&mut entry, "SYSLOG_IDENTIFIER", "wharfd");
        put(&mut entry, "MESSAGE", &message);
        for (name, value) in &fields.rest {
            put(&mut entry, &field_name(name), value);
        }
        if self.socket.send(&entry).is_err() {
            eprintln!("<{}>{message}", priority(*event.metadata().level()));
        }
    }
}

/// The syslog priority of a tracing level.
pub fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// An event's message and its other fields, as text.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.rest.push((field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.rest.push((field.name(), format!("{value:?}")));
        }
    }
}

/// A journal field name: upper-case letters, digits and `_`, not starting
/// with `_` or a digit (those are the journal's own).
fn field_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c == '_' || c.is_ascii_digit()) {
        out.insert(0, 'F');
    }
    out.truncate(64);
    out
}

/// Appends one field in the native protocol's form.
fn put(entry: &mut Vec<u8>, name: &str, value: &str) {
    entry.extend_from_slice(name.as_bytes());
    if value.contains('\n') {
        entry.push(b'\n');
        entry.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        entry.push(b'=');
    }
    entry.extend_from_slice(value.as_bytes());
    entry.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_in_the_native_form() {
        let mut entry = Vec::new();
        put(&mut entry, "MESSAGE", "one line");
        put(&mut entry, "MESSAGE", "two\nlines");
        let mut want = b"MESSAGE=one line\nMESSAGE\n".to_vec();
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(b"two\nlines\n");
        assert_eq!(entry, want);
        assert_eq!(field_name("mb_per_s"), "MB_PER_S");
        assert_eq!(field_name("_secret"), "F_SECRET");
        assert_eq!(field_name("peer.addr"), "PEER_ADDR");
    }
}
