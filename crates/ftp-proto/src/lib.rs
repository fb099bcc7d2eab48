//! Sans-IO FTP grammar shared by the Wharf server and client.
//!
//! Nothing in this crate touches a socket or a filesystem: bytes go in,
//! values come out, and values format back into bytes. That keeps every
//! parser testable without I/O and makes each one a fuzz target.
//!
//! # Layout
//! - [`command`]: the [`Command`] enum, its parser and its wire encoding.
//! - [`reply`]: reply codes and the single- and multi-line reply format.
//! - [`hash`]: hash algorithms and the arguments of HASH, RANG and the
//!   X-hash verbs.
//! - [`hostport`]: the arguments of PORT, PASV, EPRT and EPSV.
//! - [`path`]: protocol paths as bytes, normalised inside a virtual root.
//! - [`listing`]: `ls -l` and MLSx line formats.
//! - [`time`]: the UTC timestamp formats MDTM, MLSx and `ls -l` use.

pub mod command;
pub mod hash;
pub mod hostport;
pub mod listing;
pub mod path;
pub mod reply;
pub mod time;

pub use command::{Command, ParseError};
pub use path::{PathError, VirtualPath};
pub use reply::Reply;
