//! The SSH host keys: an Ed25519 key, and an RSA key for old clients,
//! generated on first start into the key directory (mode 0600, as
//! OpenSSH's `ssh-keygen -A`), loaded on every start after, their
//! SHA-256 fingerprints logged so an operator can publish them.

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why the host keys could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("cannot read or write the host key {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("the host key {path} is not a valid OpenSSH private key: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("the host key {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")]
    Exposed { path: PathBuf, mode: u32 },
}

/// The key files, in the order they are offered.
pub const KEY_FILES: [&str; 2] = ["ssh_host_ed25519_key", "ssh_host_rsa_key"];

/// Loads the host keys from `dir`, generating the missing ones.
pub fn load_or_create(dir: &Path) -> Result<Vec<PrivateKey>, HostKeyError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HostKeyError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut keys = Vec::new();
    for file in KEY_FILES {
        let path = dir.join(file);
        let key = match fs::metadata(&path) {
            Ok(md) => {
                let mode = md.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(HostKeyError::Exposed { path, mode });
                }
                let text = fs::read(&path).map_err(io_err(&path))?;
                PrivateKey::from_openssh(&text).map_err(|e| HostKeyError::Invalid {
                    path: path.clone(),
                    reason: e.to_string(),
                })?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => generate(&path, file)?,
            Err(e) => return Err(io_err(&path)(e)),
        };
        tracing::info!(
            key = %path.display(),
            fingerprint = %key.fingerprint(HashAlg::Sha256),
            algorithm = %key.algorithm(),
            "SSH host key"
        );
        keys.push(key);
    }
    Ok(keys)
}

/// The fingerprints of the keys in `dir`, one line each, as `ssh-keygen
/// -l` shows them.
pub fn fingerprints(keys: &[PrivateKey]) -> Vec<String> {
    keys.iter()
        .map(|k| {
            format!(
                "{} {}",
                k.fingerprint(HashAlg::Sha256),
                k.algorithm().as_str()
            )
        })
        .collect()
}

fn generate(path: &Path, file: &str) -> Result<PrivateKey, HostKeyError> {
    let algorithm = if file.contains("rsa") {
        Algorithm::Rsa { hash: None }
    } else {
        Algorithm::Ed25519
    };
    let invalid = |e: russh::keys::ssh_key::Error| HostKeyError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let key = PrivateKey::random(&mut rand_ssh::rng(), algorithm).map_err(invalid)?;
    let text = key.to_openssh(LineEnding::LF).map_err(invalid)?;
    let write = || -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    };
    write().map_err(|source| HostKeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if let Ok(public) = key.public_key().to_openssh() {
        let _ = fs::write(path.with_extension("pub"), format!("{public}\n"));
    }
    tracing::info!(key = %path.display(), "generated a new SSH host key");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_once_private_and_then_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let first = load_or_create(tmp.path()).unwrap();
        assert_eq!(first.len(), 2);
        for file in KEY_FILES {
            let mode = fs::metadata(tmp.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        let again = load_or_create(tmp.path()).unwrap();
        assert_eq!(fingerprints(&first), fingerprints(&again));
        let key = tmp.path().join(KEY_FILES[0]);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load_or_create(tmp.path()),
            Err(HostKeyError::Exposed { .. })
        ));
    }
}
