//! An async NNTP client: reading and posting news (RFC 3977), with
//! AUTHINFO (RFC 4643), STARTTLS (RFC 4642) and implicit TLS, and the
//! XOVER/XHDR of RFC 2980 for older servers.
//!
//! Multi-line blocks are read through a bounded, dot-unstuffing reader,
//! so an endless article or one cut off before its terminating `.` is an
//! error, never a hang or a silent truncation. Header values are decoded
//! from RFC 2047 for display by [`headers::decode`].
//!
//! # Layout
//! - [`proto`]: status lines, GROUP/LIST/OVER formats, article references.
//! - [`client`]: [`NntpClient`], one connection.
//! - [`headers`]: RFC 2047 decoding and encoding.
//! - [`url`]: `nntp://` and `nntps://` URLs.
//! - [`error`]: [`NntpError`], with the server's status.

pub mod client;
pub mod error;
pub mod headers;
pub mod proto;
pub mod url;

pub use client::{Article, Direction, NntpClient, NntpOptions, TlsPolicy, Transcript};
pub use error::{NntpError, Result};
pub use proto::{ActiveGroup, ArticleRef, GroupInfo, Overview};
pub use url::NewsUrl;
pub use wire::error::{Classify, ClientError, Failure};
