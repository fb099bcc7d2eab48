//! An account's SSH public keys, kept as OpenSSH `authorized_keys` lines
//! (`ssh-ed25519 AAAA… comment`), and the checks a key login makes with
//! them. Options before the key type (`from=…`, `command=…`) are not
//! accepted: SFTP logins need none, and a line this server cannot honour
//! in full is refused rather than half applied.

use russh::keys::{HashAlg, PublicKey};

/// Why a key line was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not an OpenSSH public key line (ssh-ed25519 AAAA… comment): {0}")]
    Unreadable(String),
    #[error("this key is already on the account ({0})")]
    Duplicate(String),
    #[error("no key on the account matches {0:?} (give its SHA256: fingerprint or its comment)")]
    NoSuchKey(String),
}

/// The keys of one account.
#[derive(Debug, Clone, Default)]
pub struct AuthorizedKeys {
    keys: Vec<PublicKey>,
}

impl AuthorizedKeys {
    /// Reads the stored text; lines that do not parse (written by a newer
    /// version, or by hand) are skipped, never half trusted.
    pub fn from_text(text: &str) -> Self {
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| PublicKey::from_openssh(l).ok())
            .collect();
        AuthorizedKeys { keys }
    }

    pub fn to_text(&self) -> String {
        self.keys
            .iter()
            .filter_map(|k| k.to_openssh().ok())
            .map(|line| line + "\n")
            .collect()
    }

    /// Adds the key on `line`; returns its fingerprint.
    pub fn add(&mut self, line: &str) -> Result<String, KeyError> {
        let key = PublicKey::from_openssh(line.trim())
            .map_err(|e| KeyError::Unreadable(e.to_string()))?;
        let fingerprint = fingerprint(&key);
        if self.contains(&key) {
            return Err(KeyError::Duplicate(fingerprint));
        }
        self.keys.push(key);
        Ok(fingerprint)
    }

    /// Removes the keys whose fingerprint or comment is `which`; returns
    /// how many.
    pub fn remove(&mut self, which: &str) -> Result<usize, KeyError> {
        let before = self.keys.len();
        self.keys
            .retain(|k| fingerprint(k) != which && k.comment().as_str_lossy() != which);
        match before - self.keys.len() {
            0 => Err(KeyError::NoSuchKey(which.to_string())),
            n => Ok(n),
        }
    }

    /// Whether `key` is one of the account's (its key material; the
    /// comment does not matter).
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.keys.iter().any(|k| k.key_data() == key.key_data())
    }

    /// One line per key: fingerprint, algorithm, comment.
    pub fn describe(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| {
                let comment = k.comment().as_str_lossy();
                format!("{} {} {comment}", fingerprint(k), k.algorithm().as_str())
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqvGOyJvRNk7t9jHMhb8PR5XE3ORMEh8kT4DCnWi/X6 carol@laptop";

    #[test]
    fn keys_are_added_once_listed_and_removed_by_fingerprint_or_comment() {
        let mut keys = AuthorizedKeys::default();
        let fp = keys.add(ED).unwrap();
        assert!(fp.starts_with("SHA256:"));
        assert!(matches!(keys.add(ED), Err(KeyError::Duplicate(_))));
        let again = AuthorizedKeys::from_text(&keys.to_text());
        assert_eq!(again.describe(), keys.describe());
        assert!(again.describe()[0].ends_with("ssh-ed25519 carol@laptop"));
        assert_eq!(keys.clone().remove("carol@laptop").unwrap(), 1);
        assert_eq!(keys.remove(&fp).unwrap(), 1);
        assert!(keys.is_empty());
        assert!(matches!(keys.remove(&fp), Err(KeyError::NoSuchKey(_))));
    }

    #[test]
    fn junk_and_options_are_refused_and_skipped() {
        let mut keys = AuthorizedKeys::default();
        assert!(matches!(keys.add("hello"), Err(KeyError::Unreadable(_))));
        assert!(keys.add(&format!("command=\"/bin/sh\" {ED}")).is_err());
        let read = AuthorizedKeys::from_text(&format!("# mine\njunk line\n{ED}\n"));
        assert_eq!(read.describe().len(), 1);
    }
}
