//! The Wharf FTP server library.
//!
//! A program builds [`ServerOptions`], opens an [`accounts::AccountStore`],
//! binds its listeners and calls [`Server::run`] with a shutdown future;
//! the `wharfd` binary is a thin shell around exactly that.
//!
//! # Layout
//! - [`options`]: every setting, with the defaults docs/configuration.md documents.
//! - [`listener`]: [`Server`], the accept loop, connection limits and
//!   graceful shutdown.
//! - [`session`]: one control connection: reading commands, dispatching
//!   them, running transfers while still answering ABOR and STAT.
//! - [`commands`]: one module per group of verbs.
//! - [`datachan`]: passive and active data connections, with the RFC 2577
//!   address checks; [`ephemeral`]: the host's ephemeral ports, where
//!   passive listeners go without a configured range.
//! - [`transfer`]: moving bytes: sendfile for downloads, buffered uploads,
//!   ASCII line-ending conversion.
//! - [`service`]: [`service::FileService`], the protocol-neutral layer the
//!   commands call: jail, quota metering, usage accounting.
//! - [`digest`]: file hashes (HASH, XCRC…), streamed on blocking threads
//!   under a server-wide cap.
//! - [`storage`]: the `Storage` trait the file service uses, with the jailed
//!   local filesystem and S3-compatible object storage behind it; uploads
//!   that become visible only when complete, streamed listings.
//! - [`accounts`]: the account-store trait, its SQLite implementation,
//!   Argon2 passwords and the authenticator.
//! - [`policy`]: what each account may do: permissions per path and
//!   per-account limits, over the server's defaults.
//! - [`proxy`]: the PROXY protocol behind a load balancer: trusted
//!   proxies and the header that names the real client.
//! - [`quota`]: per-account quotas, reserved as bytes arrive.
//! - [`registrant_mail`]: the operator's answer mailed to a registrant.
//! - [`folders`]: shared folders mounted into several accounts' trees,
//!   with a usage ledger of their own.
//! - [`registration`]: `SITE REGISTER` and its limits.
//! - [`registration_desk`]: registering and asking the status, for SITE and
//!   the public registration page alike (shared limits, lockout, events).
//! - [`bandwidth`]: per-account bandwidth limits.
//! - [`limits`]: session counts in all, per address and per account.
//! - [`live`]: the registry of logged-in sessions the admin console lists
//!   and disconnects.
//! - [`cluster`]: every instance's sessions, published to a shared store
//!   with a heartbeat, and disconnects across instances.
//! - [`history`]: the transfer history, written to the account store in
//!   batches off the transfer path.
//! - [`throttle`]: failed-login lockouts across sessions.
//! - [`tls`]: FTPS: certificates and per-session TLS configuration.
//! - [`metrics`]: counters and the Prometheus endpoint.
//! - [`xferlog`]: the classic wu-ftpd/vsftpd transfer log.

pub mod accounts;
pub mod admission;
pub mod bandwidth;
pub mod cluster;
pub mod commands;
pub mod datachan;
pub mod digest;
pub mod ephemeral;
pub mod events;
pub mod folders;
pub mod history;
pub mod limits;
pub mod listener;
pub mod live;
pub mod metrics;
pub mod options;
pub mod policy;
pub mod precheck;
pub mod proxy;
pub mod quota;
pub mod registrant_mail;
pub mod registration;
pub mod registration_desk;
pub mod service;
pub mod session;
pub mod sftp;
pub mod storage;
pub mod throttle;
pub mod tls;
pub mod transfer;
pub mod xferlog;

pub use listener::{bind_control, bind_control_std, Listener, Server, ServerHandle};
pub use options::ServerOptions;
