//! Accounts: who may log in, with which password, into which home.
//!
//! The [`AccountStore`] trait is what the server needs of an account
//! database and nothing more; it imports nothing from the session code, so
//! a store (the embedded SQLite one, or PostgreSQL shared by several
//! instances) plugs in without knowing about FTP.
//!
//! # Layout
//! - [`admin`]: adding, approving and removing accounts with their homes,
//!   so that a name never silently inherits an earlier owner's files.
//! - [`name`]: the one rule for account names.
//! - [`password`]: Argon2 hashing and verification.
//! - [`operators`]: admin-console operators, their API tokens and the
//!   audit log ([`AdminStore`]).
//! - [`totp`]: the admins' TOTP second factor (RFC 6238).
//! - [`sqlite`]: [`SqliteStore`], the embedded store.
//! - [`postgres`]: [`PgStore`], the store several instances share.
//! - `sql`: what the two SQL stores share (error mapping, setters).
//! - [`group_admin`]: creating and removing groups, their policies and
//!   members, as the CLI, the API and the console do it.
//! - `group_sql`: the group tables and queries of both SQL stores.
//! - `rejection_sql`: the rejected registrations' queries of both SQL stores.
//! - [`location`]: which store a setting names, and opening it.
//! - [`bounded`]: [`BoundedStore`], a serving process's store whose every
//!   call answers within `backend_timeout`.
//! - [`auth`]: [`Authenticator`], which turns USER/PASS into an account
//!   with equal work for every kind of failure.
//! - [`board`]: [`SessionBoard`], the live sessions of the instances
//!   sharing a PostgreSQL store.
//! - [`transfers`]: [`TransferStore`], the transfer history.
//! - [`credcache`]: [`CredentialCache`], the credentials verified lately.
//! - [`verifier`]: [`VerifierPool`], the Argon2 threads with their memory.
//! - [`workmem`]: Argon2 working memory that goes back to the system.

pub mod admin;
pub mod auth;
pub mod board;
pub mod bounded;
pub mod credcache;
pub mod group_admin;
mod group_sql;
pub mod keys;
pub mod location;
pub mod name;
pub mod operators;
pub mod password;
pub mod postgres;
mod rejection_sql;
mod sql;
pub mod sqlite;
pub mod totp;
pub mod transfers;
pub mod verifier;
pub mod workmem;

pub use auth::{AuthSettings, Authenticator, LoginError, RegistrationAnswer};
pub use board::SessionBoard;
pub use bounded::BoundedStore;
pub use credcache::{CacheSettings, CredentialCache};
pub use location::StoreLocation;
pub use name::{validate_name, NameError};
pub use operators::AdminStore;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use transfers::TransferStore;
pub use verifier::VerifierPool;

use crate::policy::{Group, Layers, Policy};
use async_trait::async_trait;
use std::fmt;
use std::path::PathBuf;

/// Whether an account may log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Disabled,
    /// Registered, waiting for the operator's approval.
    Pending,
    /// Not an account: the usage ledger of a shared folder
    /// ([`crate::folders`]); it never logs in.
    Folder,
}

impl AccountStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Disabled => "disabled",
            AccountStatus::Pending => "pending",
            AccountStatus::Folder => "folder",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(AccountStatus::Active),
            "disabled" => Some(AccountStatus::Disabled),
            "pending" => Some(AccountStatus::Pending),
            "folder" => Some(AccountStatus::Folder),
            _ => None,
        }
    }
}

/// One account as the store keeps it.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    /// Argon2 PHC string; never the password itself.
    pub password_hash: String,
    /// The home directory, if set explicitly; otherwise `DATA/home/NAME`.
    pub home: Option<PathBuf>,
    pub status: AccountStatus,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// Where a self-registration came from (client address), if it did.
    pub registered_from: Option<String>,
    /// The mail address a registrant gave to hear the operator's answer.
    pub contact: Option<String>,
    /// Quota in bytes; `None` means unlimited.
    pub quota_bytes: Option<u64>,
    /// Bytes the account's files take, as last accounted.
    pub used_bytes: u64,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("password_hash", &"/* redacted */")
            .field("home", &self.home)
            .field("status", &self.status)
            .field("contact", &self.contact)
            .field("quota_bytes", &self.quota_bytes)
            .field("used_bytes", &self.used_bytes)
            .finish()
    }
}

/// A registration the operator rejected, kept so that its registrant
/// (who proves it with the password) can learn the answer and the reason.
#[derive(Clone, PartialEq, Eq)]
pub struct Rejection {
    pub name: String,
    /// The registration's Argon2 hash, to check the registrant's password.
    pub password_hash: String,
    pub reason: String,
    /// Seconds since the Unix epoch.
    pub rejected_at: i64,
    pub contact: Option<String>,
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejection")
            .field("name", &self.name)
            .field("password_hash", &"/* redacted */")
            .field("reason", &self.reason)
            .field("rejected_at", &self.rejected_at)
            .finish()
    }
}

/// How long a rejection is kept for its registrant to learn of it.
pub const REJECTION_KEPT_SECS: i64 = 30 * 24 * 3600;

/// What can go wrong talking to a store.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("account {0:?} already exists")]
    Exists(String),
    #[error("no account named {0:?}")]
    NotFound(String),
    #[error("group {0:?} already exists")]
    GroupExists(String),
    #[error("no group named {0:?}; see: wharfd groups list")]
    NoGroup(String),
    #[error("account store: {0}")]
    Backend(String),
}

/// The account database the server and the admin commands use.
#[async_trait]
pub trait AccountStore: GroupStore + RejectionStore + Send + Sync + fmt::Debug {
    /// A short name for logs, such as `sqlite:/srv/wharf/wharf.db`; never
    /// a password.
    fn describe(&self) -> String;
    /// Upload-space reservations kept in the store, when several server
    /// processes share it; `None` when this process is the only user (the
    /// quota ledger then reserves in memory).
    fn reservations(&self) -> Option<&dyn SharedReservations> {
        None
    }
    /// The admin-console tables (admins, tokens, audit log), when the
    /// store keeps them.
    fn admins(&self) -> Option<&dyn AdminStore> {
        None
    }
    /// The board of live sessions, when several serving instances share
    /// the store and this is one of them.
    fn board(&self) -> Option<&dyn SessionBoard> {
        None
    }
    /// The transfer history, when the store keeps one.
    fn transfers(&self) -> Option<&dyn TransferStore> {
        None
    }
    /// A trivial round trip, for the health endpoint.
    async fn ping(&self) -> Result<(), AccountError> {
        self.count_pending().await.map(|_| ())
    }
    /// Gives back what this process holds in the store (its lease, its
    /// reservations) at a clean stop.
    async fn close(&self) {}
    async fn find(&self, name: &str) -> Result<Option<Account>, AccountError>;
    /// Adds an account; fails with [`AccountError::Exists`] if the name is taken.
    async fn create(&self, account: &Account) -> Result<(), AccountError>;
    /// All accounts, ordered by name.
    async fn list(&self) -> Result<Vec<Account>, AccountError>;
    async fn set_password_hash(&self, name: &str, hash: &str) -> Result<(), AccountError>;
    async fn set_status(&self, name: &str, status: AccountStatus) -> Result<(), AccountError>;
    async fn remove(&self, name: &str) -> Result<(), AccountError>;
    /// Sets the quota in bytes (`None`: unlimited).
    async fn set_quota(&self, name: &str, quota: Option<u64>) -> Result<(), AccountError>;
    /// Adds `delta` (which may be negative) to the recorded usage, never
    /// going below zero, and returns the new usage. Atomic in the store, so
    /// concurrent updates are never lost.
    async fn add_used(&self, name: &str, delta: i64) -> Result<u64, AccountError>;
    /// Replaces the recorded usage (after a recount).
    async fn set_used(&self, name: &str, used: u64) -> Result<(), AccountError>;
    /// The account's permissions and limits (an empty [`Policy`] when it
    /// has none of its own). A stored policy this program cannot read is
    /// an error, never an empty one.
    async fn policy(&self, name: &str) -> Result<Policy, AccountError>;
    async fn set_policy(&self, name: &str, policy: &Policy) -> Result<(), AccountError>;
    /// The account's policy over its groups' (see [`crate::policy::layers`]).
    async fn layers(&self, account: &str) -> Result<Layers, AccountError> {
        Ok(Layers {
            own: self.policy(account).await?,
            groups: self.member_of(account).await?,
        })
    }
    /// How many accounts wait for approval (registration is refused past
    /// a configured number).
    async fn count_pending(&self) -> Result<u64, AccountError>;
    /// The account's SSH public keys, one OpenSSH `authorized_keys` line
    /// each (see [`keys`]).
    async fn ssh_keys(&self, name: &str) -> Result<String, AccountError>;
    async fn set_ssh_keys(&self, name: &str, keys: &str) -> Result<(), AccountError>;
}

/// The rejected registrations an account store keeps, so that a
/// registrant learns the answer (the SQL of both stores:
/// `rejection_sql`).
#[async_trait]
pub trait RejectionStore: Send + Sync {
    /// Rejects the *pending* account `name` at `at` (Unix seconds): removes
    /// it and keeps a [`Rejection`] with `reason`, replacing an earlier
    /// one of the name and forgetting those older than
    /// [`REJECTION_KEPT_SECS`]. [`AccountError::NotFound`] if no pending
    /// account has the name.
    async fn reject(&self, name: &str, reason: &str, at: i64) -> Result<(), AccountError>;
    /// The kept rejection of `name`, if any.
    async fn rejection(&self, name: &str) -> Result<Option<Rejection>, AccountError>;
}

/// The groups of an account store: named policies that accounts inherit
/// (see [`crate::policy::layers`]).
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// All groups with their policies, ordered by name.
    async fn groups(&self) -> Result<Vec<Group>, AccountError>;
    /// Adds an empty group; [`AccountError::GroupExists`] if the name is taken.
    async fn create_group(&self, name: &str) -> Result<(), AccountError>;
    /// Removes a group; its members simply stop inheriting from it.
    async fn remove_group(&self, name: &str) -> Result<(), AccountError>;
    async fn set_group_policy(&self, name: &str, policy: &Policy) -> Result<(), AccountError>;
    /// The groups an account belongs to, first (primary) to last.
    async fn member_of(&self, account: &str) -> Result<Vec<Group>, AccountError>;
    /// Replaces an account's groups with `groups`, in that order; every
    /// one must exist ([`AccountError::NoGroup`]).
    async fn set_member_of(&self, account: &str, groups: &[String]) -> Result<(), AccountError>;
    /// The accounts in a group, ordered by name.
    async fn group_members(&self, group: &str) -> Result<Vec<String>, AccountError>;
}

/// Upload space reserved in a store that several server processes share,
/// so that together they never pass an account's quota (see [`crate::quota`]).
#[async_trait]
pub trait SharedReservations: Send + Sync {
    /// Reserves `bytes` more for this process's uploads to `name` if the
    /// committed usage plus every live reservation plus `bytes` stays
    /// within the quota; `false` if not.
    async fn reserve(&self, name: &str, bytes: u64) -> Result<bool, AccountError>;
    /// Atomically adds `delta` to the committed usage and gives back
    /// `reserved` bytes of this process's reservation; returns the new usage.
    async fn settle(&self, name: &str, reserved: u64, delta: i64) -> Result<u64, AccountError>;
}
