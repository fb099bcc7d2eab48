//! Mail clients for Wharf: SMTP to send, POP3 to fetch, and messages
//! composed and parsed.
//!
//! Both clients read through the `wire` crate's bounded line reader, so a
//! hostile server cannot make them hold more than a line (64 KiB by
//! default) and a block limit in memory, and every wait has a deadline.
//! Errors are one type, [`MailError`], which keeps the server's code and
//! text.
//!
//! # Layout
//! - [`conn`]: TCP, implicit TLS or STARTTLS/STLS, deadlines, the
//!   `--verbose` transcript.
//! - [`smtp`]: the SMTP session and its grammar ([`smtp::proto`], sans-IO).
//! - [`pop3`]: the POP3 session and its grammar ([`pop3::proto`], sans-IO).
//! - [`sasl`]: PLAIN, LOGIN, CRAM-MD5 and APOP.
//! - [`message`]: compose (mail-builder) and summarize (mail-parser).
//! - [`url`]: `smtp[s]://`, `pop3[s]://` and `imap[s]://` URLs.
//! - [`error`]: the one error type, [`MailError`].

pub mod conn;
pub mod error;
pub mod message;
pub mod pop3;
pub mod sasl;
pub mod smtp;
pub mod url;

pub use conn::{Direction, Options, TlsPolicy, Transcript};
pub use error::{MailError, Refusal, Result};
pub use pop3::Pop3Client;
pub use smtp::SmtpClient;
pub use url::{MailUrl, Protocol};
pub use wire::error::{Classify, ClientError, Failure};
