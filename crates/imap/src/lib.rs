//! An async IMAP client (IMAP4rev1, RFC 3501, and what is easy of
//! IMAP4rev2, RFC 9051): LOGIN and AUTHENTICATE PLAIN, STARTTLS and
//! implicit TLS, LIST, SELECT/EXAMINE, STATUS, SEARCH, FETCH (flags,
//! envelope, body structure, sections, partial), the UID forms, STORE,
//! COPY, MOVE (RFC 6851), EXPUNGE, APPEND (LITERAL+ when offered), IDLE
//! (RFC 2177), NOOP, CLOSE and LOGOUT.
//!
//! Why not an IMAP grammar crate: the one that is well kept (`imap-codec`)
//! is still an alpha and wants a whole message in memory before parsing
//! it, while a body section here must be streamable to disk however large
//! it is. The grammar a client needs to *read* is small; it lives in
//! [`value`] and [`response`], bounded, unit-tested and fuzzed.
//!
//! # Layout
//! - [`value`]: atoms, strings, literals, NIL and lists (sans-IO).
//! - [`response`]: tagged, untagged and continuation responses (sans-IO).
//! - [`fetch`]: FETCH data: ENVELOPE, BODYSTRUCTURE, sections (sans-IO).
//! - [`command`]: commands with safely encoded arguments (sans-IO).
//! - [`search`]: the readable query language mapped to SEARCH (sans-IO).
//! - [`utf7`]: modified UTF-7 mailbox names (sans-IO).
//! - [`client`]: [`ImapClient`], one connection: TLS, tags, literals.
//! - [`session`]: the verbs.
//! - [`idle`]: waiting for new mail with IDLE.
//! - [`url`]: `imap://` and `imaps://` URLs (RFC 5092).
//! - [`error`]: [`ImapError`], keeping the server's NO/BAD text.

pub mod client;
pub mod command;
pub mod error;
pub mod fetch;
pub mod idle;
pub mod response;
pub mod search;
pub mod session;
pub mod url;
pub mod utf7;
pub mod value;

pub use client::{Direction, Done, ImapClient, ImapOptions, TlsPolicy, Transcript};
pub use error::{ImapError, Result};
pub use fetch::{Address, BodyStructure, Envelope, Fetch};
pub use response::{ListEntry, StatusText, Untagged};
pub use session::{By, Mailbox, StoreOp};
pub use url::ImapUrl;
pub use wire::error::{Classify, ClientError, Failure};
