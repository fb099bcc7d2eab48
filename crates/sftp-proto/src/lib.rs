//! SFTP version 3, as OpenSSH, paramiko, lftp and curl speak it
//! (draft-ietf-secsh-filexfer-02, plus the `@openssh.com` extensions),
//! without any I/O: bytes of a client's packet in, a typed [`Request`]
//! out; a typed [`Response`] in, bytes for the client out.
//!
//! - [`wire`]: the SSH encodings every packet is made of (`uint32`,
//!   `uint64`, `string`), read without ever trusting a length;
//! - [`attrs`]: the ATTRS structure (size, owner, permissions, times);
//! - [`frame`]: [`Framer`], which cuts a stream fed in chunks into
//!   packet bodies;
//! - [`request`]: every request a client may send, decoded from one
//!   packet, with [`frame_len`] to find where a packet ends;
//! - [`response`]: every reply the server sends, encoded with its length.
//!
//! Strings are bytes: SFTP v3 does not say what a file name's encoding
//! is, and a server must hand back exactly the names it stores.

pub mod attrs;
pub mod frame;
pub mod request;
pub mod response;
pub mod wire;

pub use attrs::Attrs;
pub use frame::Framer;
pub use request::{frame_len, Extended, OpenFlags, Request};
pub use response::{DataReply, NameEntry, Response, Status, StatusCode};
pub use wire::DecodeError;

/// The protocol version this crate speaks.
pub const VERSION: u32 = 3;

/// The longest packet a client may send, in bytes (after the length
/// field): a 256 KiB write plus its header, as OpenSSH's `sftp-server`.
pub const MAX_PACKET: u32 = 256 * 1024 + 1024;

/// The most data one READ returns and one WRITE should carry (advertised
/// in `limits@openssh.com`).
pub const MAX_DATA: u32 = 256 * 1024;
