//! Bytes on a socket, shared by the Wharf server and every client.
//!
//! Nothing in here knows a protocol verb. It owns the one bounded line
//! reader that the FTP control connection (and later SMTP, POP3, IMAP and
//! NNTP) read through, so that every peer's lines are capped the same way.
//!
//! # Layout
//! - [`line`]: [`LineReader`], a cancel-safe reader of CRLF (or bare LF)
//!   terminated lines with a hard length cap.

pub mod line;

pub use line::{LineError, LineReader};
