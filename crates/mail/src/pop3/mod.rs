//! POP3: [`proto`] holds the grammar without I/O, [`client`] the session.

pub mod client;
pub mod proto;

pub use client::Pop3Client;
