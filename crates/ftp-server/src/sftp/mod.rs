//! SFTP: the second front-end on the same accounts, quotas, permissions,
//! storage and transfer log as FTP. The SSH transport is russh's (a
//! well-kept implementation whose cryptography comes from ring and
//! RustCrypto); the SFTP protocol is ours ([`sftp_proto`], sans-IO and
//! fuzzed), because what each request does to files is what this project
//! is: every request goes to the session's
//! [`FileService`](crate::service::FileService), exactly as an FTP verb.
//!
//! - [`hostkey`]: the host keys, generated on first start;
//! - [`ssh`]: the SSH connection: password login through the same
//!   authenticator, lockouts and limits as FTP; only the `sftp` subsystem
//!   is served (no shell, exec, or forwarding);
//! - [`session`]: the SFTP request loop;
//! - [`handles`]: open files and directories, and how SFTP writes map
//!   onto metered uploads;
//! - [`copy`]: `copy-data`, a copy between two handles made on the server;
//! - [`reply`]: attributes, long names and status codes.

pub mod copy;
pub mod handles;
pub mod hostkey;
pub mod reply;
pub mod session;
pub mod ssh;
