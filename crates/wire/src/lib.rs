//! Bytes on a socket, shared by the Wharf server and every client.
//!
//! Nothing in here knows a protocol verb. It owns the one bounded line
//! reader, the one reply reader and the one plain-or-TLS stream that the
//! FTP server and every client read through, so that every peer's bytes
//! are capped and handled the same way.
//!
//! # Layout
//! - [`connect`]: what every client connection shares: the one TLS
//!   policy, the one TLS upgrade after AUTH TLS/STARTTLS/STLS, and the
//!   one transcript of the dialogue.
//! - [`url`]: the one parser of client URLs (scheme table, user,
//!   password, host, port, percent-decoding), for every protocol.
//! - [`secret`]: [`Secret`], a password whose `Debug` never prints it.
//! - [`error`]: [`ClientError`], the failures every client shares, and
//!   [`Failure`], how a caller should treat one.
//! - [`line`]: [`LineReader`], a cancel-safe reader of CRLF (or bare LF)
//!   terminated lines with a hard length cap.
//! - [`stream`]: [`MaybeTls`], a TCP stream that is plain or carries TLS.
//! - [`tls`]: [`ClientTls`], certificate verification and session reuse
//!   for every client.
//! - [`dot`]: dot-stuffed blocks (NNTP, POP3, SMTP), read and written.
//! - [`proxy_header`]: the PROXY protocol v1/v2 header a load balancer
//!   sends first, parsed sans-IO so that exactly the header is read.
//! - [`reply`]: three-digit replies (FTP, SMTP, NNTP), single- and
//!   multi-line, with bounds on lines and bytes.
//! - [`splice`]: a plain TCP stream into a file inside the kernel.
//! - [`sendfile`]: a file into a plain TCP stream inside the kernel.
//! - [`sockopt`]: integer socket options the standard library lacks.
//! - [`rate`]: [`rate::TokenBucket`], a byte rate shared by transfers.
//! - [`oauth`]: OAuth 2.0 bearer tokens as SASL mechanisms (OAUTHBEARER,
//!   XOAUTH2) for the mail clients.

pub mod client_hello;
pub mod connect;
pub mod dot;
pub mod error;
pub mod line;
pub mod oauth;
pub mod proxy_header;
pub mod rate;
pub mod reply;
pub mod secret;
pub mod sendfile;
pub mod sockopt;
pub mod splice;
pub mod stream;
pub mod tls;
pub mod url;

pub use connect::{dial, start_tls, Dial, DialError, Dialed, Direction, TlsPolicy, Transcript};
pub use dot::{DotError, DotReader, Stuffer};
pub use error::{ClientError, Failure};
pub use line::{LineError, LineReader};
pub use reply::{read_reply, RawReply, ReplyError, ReplyLimits};
pub use secret::Secret;
pub use stream::MaybeTls;
pub use tls::{ClientTls, TlsError};
