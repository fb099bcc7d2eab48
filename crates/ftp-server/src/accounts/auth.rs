//! [`Authenticator`]: USER/PASS in, an account out.
//!
//! Every failure (unknown name, wrong password, disabled account) costs the
//! same Argon2 verification and produces the same [`LoginError::Invalid`],
//! so neither the reply nor its timing tells an attacker whether a name
//! exists. Only after the right password may a pending account learn that
//! it waits for approval. Verifications run on the [`VerifierPool`]'s
//! threads (one per core by default), each with its own Argon2 memory;
//! logins beyond that wait their turn.
//!
//! A right password for an active account is remembered in the
//! [`CredentialCache`] (keyed on the stored hash, so any change to it
//! misses), and the same login again skips Argon2; logins with the same
//! credentials at the same time share one verification. Only right
//! passwords of active accounts are ever cached, so every failure of an
//! unknown name or an inactive account still costs a full verification.

use super::credcache::{CacheSettings, CredentialCache, Lookup};
use super::keys::AuthorizedKeys;
use super::password::{hash_password, MAX_PASSWORD};
use super::verifier::{PoolError, VerifierPool};
use super::{Account, AccountError, AccountStatus, AccountStore};
use std::sync::Arc;
use std::time::Instant;

/// How passwords are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSettings {
    /// Verifier threads: Argon2 verifications at once.
    pub threads: usize,
    pub cache: CacheSettings,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            cache: CacheSettings::default(),
        }
    }
}

/// Why an [`Authenticator`] could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("{0}")]
    Decoy(String),
}

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
    verifiers: VerifierPool,
    cache: CredentialCache,
    /// A hash of a random password, verified when the name is unknown so
    /// that an unknown name costs as much as a wrong password.
    decoy_hash: String,
}

impl Authenticator {
    pub fn new(
        store: Arc<dyn AccountStore>,
        settings: AuthSettings,
    ) -> Result<Self, AuthSetupError> {
        let decoy = format!("{:032x}", rand::random::<u128>());
        Ok(Authenticator {
            store,
            verifiers: VerifierPool::start(settings.threads)?,
            cache: CredentialCache::new(settings.cache),
            decoy_hash: hash_password(decoy.as_bytes()).map_err(AuthSetupError::Decoy)?,
        })
    }

    /// Drops what the credential cache holds for `name` (it was locked
    /// out): its next login pays the full verification.
    pub fn forget(&self, name: &[u8]) {
        if let Ok(name) = std::str::from_utf8(name) {
            self.cache.forget(name);
        }
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
        let matched = match account
            .as_ref()
            .filter(|a| a.status == AccountStatus::Active)
        {
            Some(a) => self.verify_active(a, password).await?,
            None => {
                let hash = account.as_ref().map(|a| a.password_hash.clone());
                self.verify(hash, password).await?
            }
        };
        match account {
            Some(account) if matched => match account.status {
                AccountStatus::Active => Ok(account),
                AccountStatus::Pending => Err(LoginError::Pending),
                AccountStatus::Disabled | AccountStatus::Folder => Err(LoginError::Invalid),
            },
            _ => Err(LoginError::Invalid),
        }
    }

    /// Whether `password` is the active account `a`'s: from the cache, from
    /// a verification of the same credentials under way, or verified here.
    async fn verify_active(&self, a: &Account, password: &[u8]) -> Result<bool, LoginError> {
        let hash = &a.password_hash;
        let flight = match self.cache.lookup(&a.name, hash, password, Instant::now()) {
            Lookup::Hit => {
                tracing::debug!(user = %a.name, "password matched the credential cache");
                return Ok(true);
            }
            Lookup::Wait(waiter) => match waiter.answer().await {
                Some(matched) => return Ok(matched),
                None => None,
            },
            Lookup::Verify(flight) => Some(flight),
        };
        let matched = self.verify(Some(hash.clone()), password).await?;
        if let Some(flight) = flight {
            flight.land(matched, Instant::now());
        }
        Ok(matched)
    }

    /// Whether `password` matches `hash` (or, with none, the decoy: the
    /// same work), once a verifier thread is free.
    async fn verify(&self, hash: Option<String>, password: &[u8]) -> Result<bool, LoginError> {
        let hash = hash.unwrap_or_else(|| self.decoy_hash.clone());
        Ok(self.verifiers.verify(hash, password.to_vec()).await)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::SqliteStore;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A stored hash no password matches: a login with it succeeds only
    /// through the cache.
    const NEVER: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    async fn setup(
        cache: bool,
        hash: &str,
    ) -> (tempfile::TempDir, Arc<SqliteStore>, Authenticator) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("a.db")).await.unwrap());
        store
            .create(&Account {
                name: "ann".into(),
                password_hash: hash.into(),
                home: None,
                status: AccountStatus::Active,
                created_at: 0,
                registered_from: None,
                contact: None,
                quota_bytes: None,
                used_bytes: 0,
            })
            .await
            .unwrap();
        let settings = AuthSettings {
            threads: 2,
            cache: CacheSettings {
                enabled: cache,
                ..CacheSettings::default()
            },
        };
        let auth = Authenticator::new(store.clone(), settings).unwrap();
        (dir, store, auth)
    }

    fn invalid(r: Result<Account, LoginError>) -> bool {
        matches!(r, Err(LoginError::Invalid))
    }

    #[tokio::test]
    async fn a_cached_login_skips_argon2_until_the_hash_changes() {
        let (_dir, store, auth) = setup(true, NEVER).await;
        assert!(invalid(auth.authenticate(b"ann", b"pw").await));
        auth.cache.insert("ann", NEVER, b"pw", Instant::now());
        assert_eq!(auth.authenticate(b"ann", b"pw").await.unwrap().name, "ann");
        assert!(invalid(auth.authenticate(b"ann", b"px").await));
        // A password change (here or on another instance: the store is
        // read at every login) makes the old password miss.
        store
            .set_password_hash("ann", &hash_password(b"new").unwrap())
            .await
            .unwrap();
        assert!(invalid(auth.authenticate(b"ann", b"pw").await));
        assert!(auth.authenticate(b"ann", b"new").await.is_ok());
    }

    #[tokio::test]
    async fn a_verified_login_is_cached_and_disable_or_removal_refuse_at_once() {
        let (_dir, store, auth) = setup(true, &hash_password(b"pw").unwrap()).await;
        assert!(auth.authenticate(b"ann", b"pw").await.is_ok());
        assert_eq!(auth.cache.len(), 1);
        assert!(auth.authenticate(b"ann", b"wrong").await.is_err());
        assert_eq!(auth.cache.len(), 1, "failures are never cached");
        store
            .set_status("ann", AccountStatus::Disabled)
            .await
            .unwrap();
        assert!(invalid(auth.authenticate(b"ann", b"pw").await));
        store
            .set_status("ann", AccountStatus::Pending)
            .await
            .unwrap();
        assert!(matches!(
            auth.authenticate(b"ann", b"pw").await,
            Err(LoginError::Pending)
        ));
        store
            .set_status("ann", AccountStatus::Active)
            .await
            .unwrap();
        assert!(auth.authenticate(b"ann", b"pw").await.is_ok());
        store.remove("ann").await.unwrap();
        assert!(invalid(auth.authenticate(b"ann", b"pw").await));
    }

    #[tokio::test]
    async fn a_lockout_forgets_and_off_means_off() {
        let (_dir, _store, auth) = setup(true, NEVER).await;
        auth.cache.insert("ann", NEVER, b"pw", Instant::now());
        auth.forget(b"ann");
        assert!(invalid(auth.authenticate(b"ann", b"pw").await));
        let (_dir, _store, auth) = setup(false, NEVER).await;
        auth.cache.insert("ann", NEVER, b"pw", Instant::now());
        assert!(invalid(auth.authenticate(b"ann", b"pw").await));
    }

    /// A parallel mirror's connections logging in at once: all get in, and
    /// one entry is cached.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn simultaneous_logins_with_the_same_credentials() {
        let (_dir, _store, auth) = setup(true, &hash_password(b"pw").unwrap()).await;
        let auth = Arc::new(auth);
        let logins: Vec<_> = (0..8)
            .map(|i| {
                let auth = auth.clone();
                let pw: &'static [u8] = if i == 7 { b"wrong" } else { b"pw" };
                tokio::spawn(async move { auth.authenticate(b"ann", pw).await.is_ok() })
            })
            .collect();
        let mut ok = 0;
        for l in logins {
            ok += usize::from(l.await.unwrap());
        }
        assert_eq!(ok, 7);
        assert_eq!(auth.cache.len(), 1);
    }

    /// Twin: two sessions log in again and again with the old password
    /// while it changes; every login that starts after the change has
    /// returned is refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logins_racing_a_password_change() {
        let (_dir, store, auth) = setup(true, &hash_password(b"old").unwrap()).await;
        let auth = Arc::new(auth);
        let changed = Arc::new(AtomicBool::new(false));
        let sessions: Vec<_> = (0..2)
            .map(|_| {
                let (auth, changed) = (auth.clone(), changed.clone());
                tokio::spawn(async move {
                    let (mut before_ok, mut after) = (0, 0);
                    let deadline = Instant::now() + std::time::Duration::from_secs(20);
                    while Instant::now() < deadline {
                        let started_after = changed.load(Ordering::SeqCst);
                        let ok = auth.authenticate(b"ann", b"old").await.is_ok();
                        if started_after {
                            assert!(!ok, "old password accepted after the change");
                            after += 1;
                        } else if ok {
                            before_ok += 1;
                        }
                        if after >= 2 {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                    (before_ok, after)
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let new_hash = tokio::task::spawn_blocking(|| hash_password(b"new").unwrap())
            .await
            .unwrap();
        store.set_password_hash("ann", &new_hash).await.unwrap();
        changed.store(true, Ordering::SeqCst);
        let mut cached_before = 0;
        for s in sessions {
            let (before_ok, after) = s.await.unwrap();
            assert!(after >= 2, "logins went on after the change");
            cached_before += before_ok;
        }
        assert!(cached_before >= 2, "the old password worked before");
        assert!(auth.authenticate(b"ann", b"new").await.is_ok());
    }
}
