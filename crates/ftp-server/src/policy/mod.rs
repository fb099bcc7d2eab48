//! What each account may do: permissions per account and per virtual path,
//! and per-account limits (sessions, rates, file size, protocols, expiry,
//! client networks), each falling back to the server's default.
//!
//! The rules are enforced in one place per kind, so every front-end gets
//! the same ones: file permissions and the file-size cap by the file
//! service ([`crate::service::FileService`]), login checks at login,
//! rates by the bandwidth buckets. An account's settings live in its
//! account store as one [`Policy`] (see [`text`] for how it is stored),
//! and a running session re-reads them at most [`live::POLICY_TTL`] after
//! they change.
//!
//! # Layout
//! - [`perms`]: [`Permission`], [`PermSet`], path rules and the
//!   longest-prefix resolution.
//! - [`access`]: login checks (expiry, protocol, networks) and the
//!   allow/deny lists the server also applies to every connection.
//! - [`date`]: expiry days.
//! - [`text`]: the stored form of a [`Policy`].
//! - [`live`]: a session's view of its account's policy, re-read briefly
//!   after it changes.
//! - [`size_cap`]: the maximum file size, enforced as bytes arrive.

pub mod access;
pub mod date;
pub mod live;
pub mod perms;
pub mod size_cap;
pub mod text;

pub use access::{check_login, NetRules, Protocol, Refusal};
pub use date::Date;
pub use perms::{PathRule, PermSet, Permission, Source};

use ftp_proto::VirtualPath;

/// A policy that cannot be read or written as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("unknown permission {0:?} (known: list, download, upload, overwrite, append, delete, rename, mkdir, rmdir, chmod; or all, none, read-only, upload-only)")]
    UnknownPermission(String),
    #[error("unknown protocol {0:?} (known: ftp, ftps, sftp)")]
    UnknownProtocol(String),
    #[error("{0:?} is not a date of the form YYYY-MM-DD")]
    BadDate(String),
    #[error("{0:?} is not a number")]
    BadNumber(String),
    #[error("bad address block: {0}")]
    BadNetwork(String),
    #[error("bad virtual path {0:?}: it must start with / and hold no line breaks")]
    BadPath(String),
    #[error("unreadable policy line {0:?}")]
    BadLine(String),
}

/// One account's own settings; anything unset falls back to [`Defaults`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The account's permissions where no path rule applies.
    pub permissions: Option<PermSet>,
    /// Per-path overrides, sorted by path, at most one per path.
    pub paths: Vec<PathRule>,
    pub limits: Limits,
}

/// An account's own limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Logged-in sessions at once.
    pub max_sessions: Option<usize>,
    /// Bytes per second, shared by all the account's sessions.
    pub upload_rate: Option<u64>,
    pub download_rate: Option<u64>,
    /// The largest file an upload may leave (APPE counts the whole file).
    pub max_file_size: Option<u64>,
    /// The only protocols it may log in with.
    pub protocols: Option<Vec<Protocol>>,
    /// The last day it may log in.
    pub expires: Option<Date>,
    /// Where it may log in from.
    pub networks: NetRules,
}

/// The server's defaults for what an account does not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    pub permissions: PermSet,
    pub max_sessions: usize,
    pub upload_rate: Option<u64>,
    pub download_rate: Option<u64>,
    pub max_file_size: Option<u64>,
}

/// An account value, or the server's default.
fn pick<T>(own: Option<T>, default: T) -> (T, Source) {
    match own {
        Some(v) => (v, Source::Account),
        None => (default, Source::Server),
    }
}

impl Policy {
    /// The permissions at `path`, and where they come from.
    pub fn permissions_at(&self, d: &Defaults, path: &VirtualPath) -> (PermSet, Source) {
        perms::resolve(&self.paths, self.permissions, d.permissions, path)
    }

    /// Sets (or, with `None`, removes) the rule for `path`.
    pub fn set_path(&mut self, path: VirtualPath, perms: Option<PermSet>) {
        self.paths.retain(|r| r.path != path);
        if let Some(perms) = perms {
            self.paths.push(PathRule { path, perms });
            self.paths.sort_by(|a, b| a.path.cmp(&b.path));
        }
    }

    /// Whether a rule applies to something strictly below `dir` (renaming
    /// `dir` would carry those files out from under their rule).
    pub fn has_rules_below(&self, dir: &VirtualPath) -> bool {
        self.paths
            .iter()
            .any(|r| r.path != *dir && perms::is_within(&r.path, dir))
    }

    pub fn max_sessions(&self, d: &Defaults) -> (usize, Source) {
        pick(self.limits.max_sessions, d.max_sessions)
    }

    pub fn upload_rate(&self, d: &Defaults) -> (Option<u64>, Source) {
        pick(self.limits.upload_rate.map(Some), d.upload_rate)
    }

    pub fn download_rate(&self, d: &Defaults) -> (Option<u64>, Source) {
        pick(self.limits.download_rate.map(Some), d.download_rate)
    }

    pub fn max_file_size(&self, d: &Defaults) -> (Option<u64>, Source) {
        pick(self.limits.max_file_size.map(Some), d.max_file_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            permissions: PermSet::ALL,
            max_sessions: 10,
            upload_rate: Some(1000),
            download_rate: None,
            max_file_size: None,
        }
    }

    fn path(text: &str) -> VirtualPath {
        VirtualPath::root().join(text.as_bytes()).unwrap()
    }

    #[test]
    fn unset_limits_fall_back_to_the_server_and_say_so() {
        let d = defaults();
        let mut p = Policy::default();
        assert_eq!(p.max_sessions(&d), (10, Source::Server));
        assert_eq!(p.upload_rate(&d), (Some(1000), Source::Server));
        assert_eq!(
            p.permissions_at(&d, &path("/x")),
            (PermSet::ALL, Source::Server)
        );
        p.limits.max_sessions = Some(1);
        p.limits.upload_rate = Some(50);
        p.limits.max_file_size = Some(7);
        assert_eq!(p.max_sessions(&d), (1, Source::Account));
        assert_eq!(p.upload_rate(&d), (Some(50), Source::Account));
        assert_eq!(p.max_file_size(&d), (Some(7), Source::Account));
        assert_eq!(p.download_rate(&d), (None, Source::Server));
    }

    #[test]
    fn path_rules_replace_and_go() {
        let mut p = Policy::default();
        p.set_path(path("/b"), Some(PermSet::READ_ONLY));
        p.set_path(path("/a"), Some(PermSet::UPLOAD_ONLY));
        p.set_path(path("/b"), Some(PermSet::ALL));
        assert_eq!(p.paths.len(), 2);
        assert_eq!(p.paths[0].path, path("/a"));
        assert_eq!(p.paths[1].perms, PermSet::ALL);
        assert!(p.has_rules_below(&VirtualPath::root()));
        assert!(!p.has_rules_below(&path("/a")));
        p.set_path(path("/a/deep"), Some(PermSet::NONE));
        assert!(p.has_rules_below(&path("/a")));
        p.set_path(path("/a"), None);
        p.set_path(path("/a/deep"), None);
        assert_eq!(p.paths.len(), 1);
    }
}
