//! What each account may do: permissions per account and per virtual path,
//! and per-account limits (sessions, rates, file size, protocols, expiry,
//! client networks), each falling back to the server's default.
//!
//! The rules are enforced in one place per kind, so every front-end gets
//! the same ones: file permissions and the file-size cap by the file
//! service ([`crate::service::FileService`]), login checks at login,
//! rates by the bandwidth buckets. An account's settings live in its
//! account store as one [`Policy`] (see [`text`] for how it is stored), and so do
//! its groups' ([`layers`]: the account's own settings beat its groups'),
//! and a running session re-reads them at most [`live::POLICY_TTL`] after
//! they change.
//!
//! # Layout
//! - [`perms`]: [`Permission`], [`PermSet`] and path rules.
//! - [`access`]: login checks (expiry, protocol, networks) and the
//!   allow/deny lists the server also applies to every connection.
//! - [`date`]: expiry days.
//! - [`layers`]: an account's policy over its groups' and the server's
//!   defaults, and where each effective value comes from.
//! - [`text`]: the stored form of a [`Policy`].
//! - [`live`]: a session's view of its account's policy, re-read briefly
//!   after it changes.
//! - [`size_cap`]: the maximum file size, enforced as bytes arrive.

pub mod access;
pub mod date;
pub mod layers;
pub mod live;
pub mod perms;
pub mod size_cap;
pub mod text;

pub use access::{check_login, NetRules, Protocol, Refusal};
pub use date::Date;
pub use layers::{Group, Layers, Source, UNLIMITED};
pub use perms::{PathRule, PermSet, Permission};

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
    #[error("a shared folder cannot be mounted at the root; pick a path such as /shared")]
    MountAtRoot,
    #[error("{0:?} cannot be denied: give FTP verbs such as SITE,DELE,MFMT (USER, PASS and QUIT always work)")]
    BadCommand(String),
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
    /// Shared folders mounted into the tree, sorted by path, at most one
    /// per path.
    pub mounts: Vec<Mount>,
    pub limits: Limits,
}

/// A shared folder (see [`crate::folders`]) seen at a virtual path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The folder's name.
    pub folder: String,
    /// Where it appears; never the root.
    pub at: VirtualPath,
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
    /// FTP commands it may not use (verbs, upper case).
    pub denied_commands: Option<Vec<String>>,
}

/// Commands every session keeps, whatever its account's list says.
pub const UNDENIABLE: [&str; 3] = ["USER", "PASS", "QUIT"];

/// Parses `SITE,DELE` into verbs an account may be denied (`none`: an
/// empty list, which overrides a group's).
pub fn parse_commands(text: &str) -> Result<Vec<String>, PolicyError> {
    let mut out: Vec<String> = Vec::new();
    if text.trim() == "none" {
        return Ok(out);
    }
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let verb = word.to_ascii_uppercase();
        let plausible =
            (3..=4).contains(&verb.len()) && verb.bytes().all(|b| b.is_ascii_uppercase());
        if !plausible || UNDENIABLE.contains(&verb.as_str()) {
            return Err(PolicyError::BadCommand(word.to_string()));
        }
        if !out.contains(&verb) {
            out.push(verb);
        }
    }
    Ok(out)
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

impl Policy {
    /// Mounts `folder` at `at` (replacing what was mounted there), or, with
    /// `None`, unmounts what is there.
    pub fn set_mount(
        &mut self,
        at: VirtualPath,
        folder: Option<String>,
    ) -> Result<(), PolicyError> {
        if at.is_root() {
            return Err(PolicyError::MountAtRoot);
        }
        self.mounts.retain(|m| m.at != at);
        if let Some(folder) = folder {
            self.mounts.push(Mount { folder, at });
            self.mounts.sort_by(|a, b| a.at.cmp(&b.at));
        }
        Ok(())
    }

    /// Sets (or, with `None`, removes) the rule for `path`.
    pub fn set_path(&mut self, path: VirtualPath, perms: Option<PermSet>) {
        self.paths.retain(|r| r.path != path);
        if let Some(perms) = perms {
            self.paths.push(PathRule { path, perms });
            self.paths.sort_by(|a, b| a.path.cmp(&b.path));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> VirtualPath {
        VirtualPath::root().join(text.as_bytes()).unwrap()
    }

    #[test]
    fn command_lists_take_verbs_but_never_the_login_or_quit() {
        assert_eq!(parse_commands("site, dele,SITE").unwrap(), ["SITE", "DELE"]);
        assert!(parse_commands("").unwrap().is_empty());
        assert!(parse_commands("none").unwrap().is_empty());
        for bad in ["QUIT", "pass", "STOR x", "S1TE", "SITEXYZ"] {
            assert!(parse_commands(bad).is_err(), "{bad}");
        }
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
        p.set_path(path("/a/deep"), Some(PermSet::NONE));
        p.set_path(path("/a"), None);
        p.set_path(path("/a/deep"), None);
        assert_eq!(p.paths.len(), 1);
    }
}
