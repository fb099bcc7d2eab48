//! [`Authenticator`]: USER/PASS in, an account out.
//!
//! Every failure (unknown name, wrong password, disabled account) costs the
//! same Argon2 verification and produces the same [`LoginError::Invalid`],
//! so neither the reply nor its timing tells an attacker whether a name
//! exists. Only after the right password may a pending account learn that
//! it waits for approval. Verifications run on blocking threads, at most
//! one per two cores at once (and at least one), so a flood of password
//! logins leaves the other half of the machine to the sessions that move
//! data; logins beyond that wait their turn.

use super::keys::AuthorizedKeys;
use super::password::{hash_password, verify_password, MAX_PASSWORD};
use super::{Account, AccountError, AccountStatus, AccountStore};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong name or password, or a disabled account: all look alike.
    #[error("Login incorrect")]
    Invalid,
    /// The password was right, but the account awaits approval.
    #[error("Account not approved yet")]
    Pending,
    /// The password was right, but the account's limits refuse this
    /// login (expired, wrong protocol, address not allowed).
    #[error("{0}")]
    Refused(crate::policy::Refusal),
    #[error(transparent)]
    Store(#[from] AccountError),
}

/// What a registrant learns of a registration (`SITE REGSTATUS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationAnswer {
    /// Waiting for the operator.
    Pending,
    /// The account is active: log in.
    Approved,
    /// Rejected, for this reason.
    Rejected(String),
}

/// Checks passwords against an [`AccountStore`].
#[derive(Debug)]
pub struct Authenticator {
    store: Arc<dyn AccountStore>,
    permits: Semaphore,
    /// A hash of a random password, verified when the name is unknown so
    /// that an unknown name costs as much as a wrong password.
    decoy_hash: String,
}

impl Authenticator {
    pub fn new(store: Arc<dyn AccountStore>) -> Result<Self, String> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let verifiers = (cores / 2).max(1);
        let decoy = format!("{:032x}", rand::random::<u128>());
        Ok(Authenticator {
            store,
            permits: Semaphore::new(verifiers),
            decoy_hash: hash_password(decoy.as_bytes())?,
        })
    }

    pub fn store(&self) -> &Arc<dyn AccountStore> {
        &self.store
    }

    /// Verifies `name` and `password`.
    pub async fn authenticate(&self, name: &[u8], password: &[u8]) -> Result<Account, LoginError> {
        if password.len() > MAX_PASSWORD || name.len() > 128 {
            return Err(LoginError::Invalid);
        }
        let account = match std::str::from_utf8(name) {
            Ok(name) => self.store.find(name).await?,
            Err(_) => None,
        };
        let hash = account.as_ref().map(|a| a.password_hash.clone());
        let matched = self.verify(hash, password).await?;
        match account {
            Some(account) if matched => match account.status {
                AccountStatus::Active => Ok(account),
                AccountStatus::Pending => Err(LoginError::Pending),
                AccountStatus::Disabled | AccountStatus::Folder => Err(LoginError::Invalid),
            },
            _ => Err(LoginError::Invalid),
        }
    }

    /// Whether `password` matches `hash` (or, with none, the decoy: the
    /// same work), once a verification slot is free.
    async fn verify(&self, hash: Option<String>, password: &[u8]) -> Result<bool, LoginError> {
        let hash = hash.unwrap_or_else(|| self.decoy_hash.clone());
        let password = password.to_vec();
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| LoginError::Invalid)?;
        Ok(
            tokio::task::spawn_blocking(move || verify_password(&hash, &password))
                .await
                .unwrap_or(false),
        )
    }

    /// What the registrant of `name`, proving it with `password`, may
    /// learn of the registration. Anyone else gets
    /// [`LoginError::Invalid`], whether or not the name exists, after the
    /// same work: a password check against the account (or the decoy),
    /// then one against a kept rejection (or the decoy).
    pub async fn registration(
        &self,
        name: &[u8],
        password: &[u8],
    ) -> Result<RegistrationAnswer, LoginError> {
        match self.authenticate(name, password).await {
            Ok(_) => return Ok(RegistrationAnswer::Approved),
            Err(LoginError::Pending) => return Ok(RegistrationAnswer::Pending),
            Err(LoginError::Invalid) => {}
            Err(e) => return Err(e),
        }
        let rejection = match std::str::from_utf8(name) {
            Ok(name) if password.len() <= MAX_PASSWORD && name.len() <= 128 => {
                self.store.rejection(name).await?
            }
            _ => None,
        };
        let hash = rejection.as_ref().map(|r| r.password_hash.clone());
        match rejection {
            Some(r) if self.verify(hash, password).await? => {
                Ok(RegistrationAnswer::Rejected(r.reason))
            }
            Some(_) => Err(LoginError::Invalid),
            None => {
                self.verify(None, password).await?;
                Err(LoginError::Invalid)
            }
        }
    }

    /// The account `name` if `key` is one of its SSH keys (its ownership
    /// already proven by the SSH layer) and it may log in. A pending
    /// account learns it waits for approval only with a right key.
    pub async fn authenticate_key(
        &self,
        name: &str,
        key: &russh::keys::PublicKey,
    ) -> Result<Account, LoginError> {
        let Some(account) = self.store.find(name).await? else {
            return Err(LoginError::Invalid);
        };
        if !self.has_key(name, key).await? {
            return Err(LoginError::Invalid);
        }
        match account.status {
            AccountStatus::Active => Ok(account),
            AccountStatus::Pending => Err(LoginError::Pending),
            AccountStatus::Disabled | AccountStatus::Folder => Err(LoginError::Invalid),
        }
    }

    /// Whether `key` is one of `name`'s SSH keys (an unknown name has none).
    pub async fn has_key(
        &self,
        name: &str,
        key: &russh::keys::PublicKey,
    ) -> Result<bool, LoginError> {
        match self.store.ssh_keys(name).await {
            Ok(text) => Ok(AuthorizedKeys::from_text(&text).contains(key)),
            Err(AccountError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
