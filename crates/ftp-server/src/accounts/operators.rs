//! Operators of the admin console: admin accounts (kept apart from FTP
//! accounts), their API tokens with scopes, and the audit log of every
//! admin action. [`AdminStore`] is what the account store keeps of them;
//! the functions here are the one path the `wharfd admins` commands and
//! the HTTP admin server both take.
//!
//! Admin passwords are Argon2 hashes ([`super::password`]). An API token
//! is shown once, when made; the store keeps only its SHA-256, so a leaked
//! database does not leak usable tokens.

use super::password::{hash_password, verify_password, MAX_PASSWORD};
use super::{validate_name, AccountError, NameError};
use async_trait::async_trait;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Look, change nothing.
    Read,
    /// Everything an admin may do.
    Admin,
}

impl Scope {
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// One admin account.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminRecord {
    pub name: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// The TOTP secret in base32 when a second factor is on
    /// ([`super::totp`]).
    pub totp_secret: Option<String>,
}

impl fmt::Debug for AdminRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminRecord")
            .field("name", &self.name)
            .field("password_hash", &"/* redacted */")
            .field("created_at", &self.created_at)
            .field("totp", &self.totp_secret.is_some())
            .finish()
    }
}

/// An API token as the store keeps it: its digest, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Lower-case hex SHA-256 of the token.
    pub digest: String,
    pub admin: String,
    pub scope: Scope,
    pub created_at: i64,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Seconds since the Unix epoch.
    pub at: i64,
    /// The admin who acted.
    pub admin: String,
    /// What was done, e.g. `accounts.approve`.
    pub action: String,
    /// What it was done to (an account name, a session id), or empty.
    pub target: String,
    /// Where the admin was: a client address, or `cli`.
    pub client: String,
}

/// The admin tables of an account store.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Adds an admin; [`AccountError::Exists`] if the name is taken.
    async fn admin_create(&self, admin: &AdminRecord) -> Result<(), AccountError>;
    async fn admin_find(&self, name: &str) -> Result<Option<AdminRecord>, AccountError>;
    /// All admins, by name.
    async fn admin_list(&self) -> Result<Vec<AdminRecord>, AccountError>;
    /// Removes an admin and its tokens.
    async fn admin_remove(&self, name: &str) -> Result<(), AccountError>;
    /// Sets (or, with `None`, clears) an admin's TOTP secret, forgetting
    /// the last step used; [`AccountError::NotFound`] for no such admin.
    async fn admin_set_totp(&self, name: &str, secret: Option<&str>) -> Result<(), AccountError>;
    /// Records that admin `name` used the code of TOTP step `step`, unless
    /// that step or a later one was used already: `false` then (a replay).
    /// Atomic, so two instances cannot both accept one code.
    async fn admin_totp_use(&self, name: &str, step: i64) -> Result<bool, AccountError>;
    async fn token_create(&self, token: &TokenRecord) -> Result<(), AccountError>;
    async fn token_find(&self, digest: &str) -> Result<Option<TokenRecord>, AccountError>;
    async fn audit_append(&self, entry: &AuditEntry) -> Result<(), AccountError>;
    /// The newest `limit` entries, newest first, skipping `offset`.
    async fn audit_list(&self, offset: u64, limit: u64) -> Result<Vec<AuditEntry>, AccountError>;
}

/// Why an operator change was refused.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("bad admin name {name:?}: {source}")]
    BadName { name: String, source: NameError },
    #[error("empty password refused")]
    EmptyPassword,
    #[error("password longer than {} bytes refused", MAX_PASSWORD)]
    PasswordTooLong,
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("no admin named {0:?}")]
    NoAdmin(String),
    #[error(transparent)]
    Store(#[from] AccountError),
}

/// An API token in clear, shown once; its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(/* redacted */)")
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes from the OS generator, in hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

fn digest_of(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn check_password(password: &[u8]) -> Result<(), OperatorError> {
    if password.is_empty() {
        return Err(OperatorError::EmptyPassword);
    }
    if password.len() > MAX_PASSWORD {
        return Err(OperatorError::PasswordTooLong);
    }
    Ok(())
}

/// Adds an admin (`wharfd admins add`).
pub async fn add_admin(
    store: &dyn AdminStore,
    name: &str,
    password: &[u8],
) -> Result<(), OperatorError> {
    // Admins have a namespace of their own: names reserved for FTP
    // accounts (admin, root…) are fine here.
    match validate_name(name) {
        Ok(()) | Err(NameError::Reserved) => {}
        Err(source) => {
            return Err(OperatorError::BadName {
                name: name.to_string(),
                source,
            })
        }
    }
    check_password(password)?;
    let password_hash = hash_password(password).map_err(OperatorError::Hash)?;
    store
        .admin_create(&AdminRecord {
            name: name.to_string(),
            password_hash,
            created_at: unix_now(),
            totp_secret: None,
        })
        .await?;
    Ok(())
}

/// A PHC string no password matches, verified against for unknown names so
/// that they cost the same work as a wrong password.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$2Vq2Q9yFJXcCz0mMOr3Ndaf2qkXh4Gd0pxWJ5ZpZyFQ";

/// The admin `name` if `password` is theirs; `None` for an unknown name or
/// a wrong password, after the same Argon2 work either way. Blocking: run
/// it off the async threads.
pub fn verify_admin(record: Option<&AdminRecord>, password: &[u8]) -> bool {
    if password.len() > MAX_PASSWORD {
        return false;
    }
    let hash = record.map_or(DECOY_HASH, |r| r.password_hash.as_str());
    verify_password(hash, password) && record.is_some()
}

/// Makes an API token for `admin` with `scope` (`wharfd admins token`).
pub async fn issue_token(
    store: &dyn AdminStore,
    admin: &str,
    scope: Scope,
) -> Result<ApiToken, OperatorError> {
    if store.admin_find(admin).await?.is_none() {
        return Err(OperatorError::NoAdmin(admin.to_string()));
    }
    let token = format!("wharf_{}", random_hex(32));
    store
        .token_create(&TokenRecord {
            digest: digest_of(&token),
            admin: admin.to_string(),
            scope,
            created_at: unix_now(),
        })
        .await?;
    Ok(ApiToken(token))
}

/// Whose token `token` is and with which scope; `None` if it is no token
/// (or its admin was removed).
pub async fn token_owner(
    store: &dyn AdminStore,
    token: &str,
) -> Result<Option<(String, Scope)>, AccountError> {
    if token.len() > 128 {
        return Ok(None);
    }
    Ok(store
        .token_find(&digest_of(token))
        .await?
        .map(|t| (t.admin, t.scope)))
}

/// Appends one admin action to the audit log, now.
pub async fn audit(
    store: &dyn AdminStore,
    admin: &str,
    action: &str,
    target: &str,
    client: &str,
) -> Result<(), AccountError> {
    store
        .audit_append(&AuditEntry {
            at: unix_now(),
            admin: admin.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            client: client.to_string(),
        })
        .await
}

/// The SQL both stores run for [`AdminStore`]; `$n` placeholders work in
/// SQLite and PostgreSQL alike. Expands to `impl AdminStore for $store`,
/// whose `pool` field is the connection pool.
macro_rules! admin_store_sql {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::accounts::operators::AdminStore for $store {
            async fn admin_create(
                &self,
                a: &$crate::accounts::operators::AdminRecord,
            ) -> Result<(), AccountError> {
                let result = sqlx::query(
                    "INSERT INTO admins (name, password_hash, created_at) VALUES ($1, $2, $3)",
                )
                .bind(&a.name)
                .bind(&a.password_hash)
                .bind(a.created_at)
                .execute(&self.pool)
                .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        Err(AccountError::Exists(a.name.clone()))
                    }
                    Err(e) => Err($crate::accounts::sql::backend(e)),
                }
            }

            async fn admin_find(
                &self,
                name: &str,
            ) -> Result<Option<$crate::accounts::operators::AdminRecord>, AccountError> {
                let row: Option<(String, String, i64, Option<String>)> = sqlx::query_as(
                    "SELECT name, password_hash, created_at, totp_secret FROM admins WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::accounts::sql::backend)?;
                Ok(row.map(|(name, password_hash, created_at, totp_secret)| {
                    $crate::accounts::operators::AdminRecord {
                        name,
                        password_hash,
                        created_at,
                        totp_secret,
                    }
                }))
            }

            async fn admin_list(
                &self,
            ) -> Result<Vec<$crate::accounts::operators::AdminRecord>, AccountError> {
                let rows: Vec<(String, String, i64, Option<String>)> = sqlx::query_as(
                    "SELECT name, password_hash, created_at, totp_secret FROM admins ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await
                .map_err($crate::accounts::sql::backend)?;
                Ok(rows
                    .into_iter()
                    .map(|(name, password_hash, created_at, totp_secret)| {
                        $crate::accounts::operators::AdminRecord {
                            name,
                            password_hash,
                            created_at,
                            totp_secret,
                        }
                    })
                    .collect())
            }

            async fn admin_remove(&self, name: &str) -> Result<(), AccountError> {
                sqlx::query("DELETE FROM admin_tokens WHERE admin = $1")
                    .bind(name)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::accounts::sql::backend)?;
                change_account!(&self.pool, name, "DELETE FROM admins WHERE name = $1", name)
            }

            async fn admin_set_totp(
                &self,
                name: &str,
                secret: Option<&str>,
            ) -> Result<(), AccountError> {
                change_account!(
                    &self.pool,
                    name,
                    "UPDATE admins SET totp_secret = $1, totp_last_step = NULL WHERE name = $2",
                    secret,
                    name
                )
            }

            async fn admin_totp_use(&self, name: &str, step: i64) -> Result<bool, AccountError> {
                let done = sqlx::query(
                    "UPDATE admins SET totp_last_step = $1 WHERE name = $2
                     AND (totp_last_step IS NULL OR totp_last_step < $1)",
                )
                .bind(step)
                .bind(name)
                .execute(&self.pool)
                .await
                .map_err($crate::accounts::sql::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn token_create(
                &self,
                t: &$crate::accounts::operators::TokenRecord,
            ) -> Result<(), AccountError> {
                sqlx::query(
                    "INSERT INTO admin_tokens (digest, admin, scope, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&t.digest)
                .bind(&t.admin)
                .bind(t.scope.as_str())
                .bind(t.created_at)
                .execute(&self.pool)
                .await
                .map_err($crate::accounts::sql::backend)?;
                Ok(())
            }

            async fn token_find(
                &self,
                digest: &str,
            ) -> Result<Option<$crate::accounts::operators::TokenRecord>, AccountError> {
                let row: Option<(String, String, String, i64)> = sqlx::query_as(
                    "SELECT t.digest, t.admin, t.scope, t.created_at FROM admin_tokens t
                     JOIN admins a ON a.name = t.admin WHERE t.digest = $1",
                )
                .bind(digest)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::accounts::sql::backend)?;
                row.map(|(digest, admin, scope, created_at)| {
                    let scope = $crate::accounts::operators::Scope::parse(&scope).ok_or_else(
                        || AccountError::Backend(format!("unknown token scope {scope:?}")),
                    )?;
                    Ok($crate::accounts::operators::TokenRecord {
                        digest,
                        admin,
                        scope,
                        created_at,
                    })
                })
                .transpose()
            }

            async fn audit_append(
                &self,
                e: &$crate::accounts::operators::AuditEntry,
            ) -> Result<(), AccountError> {
                sqlx::query(
                    "INSERT INTO admin_audit (at, admin, action, target, client) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(e.at)
                .bind(&e.admin)
                .bind(&e.action)
                .bind(&e.target)
                .bind(&e.client)
                .execute(&self.pool)
                .await
                .map_err($crate::accounts::sql::backend)?;
                Ok(())
            }

            async fn audit_list(
                &self,
                offset: u64,
                limit: u64,
            ) -> Result<Vec<$crate::accounts::operators::AuditEntry>, AccountError> {
                let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
                    "SELECT at, admin, action, target, client FROM admin_audit
                     ORDER BY id DESC LIMIT $1 OFFSET $2",
                )
                .bind(clamp_i64(limit))
                .bind(clamp_i64(offset))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::accounts::sql::backend)?;
                Ok(rows
                    .into_iter()
                    .map(|(at, admin, action, target, client)| {
                        $crate::accounts::operators::AuditEntry {
                            at,
                            admin,
                            action,
                            target,
                            client,
                        }
                    })
                    .collect())
            }
        }
    };
}
pub(super) use admin_store_sql;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::accounts::SqliteStore;

    #[tokio::test]
    async fn admins_tokens_and_audit_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("w.db")).await.unwrap();
        exercise(&store).await;
    }

    /// Admins, tokens and the audit log through `store`, which starts with
    /// none (the PostgreSQL tests run this too).
    pub(crate) async fn exercise(store: &dyn AdminStore) {
        add_admin(store, "opal", b"s3cret").await.unwrap();
        add_admin(store, "admin", b"s3cret").await.unwrap();
        assert!(matches!(
            add_admin(store, "opal", b"x").await,
            Err(OperatorError::Store(AccountError::Exists(_)))
        ));
        assert!(matches!(
            add_admin(store, "bad name", b"x").await,
            Err(OperatorError::BadName { .. })
        ));
        let found = store.admin_find("opal").await.unwrap();
        assert!(verify_admin(found.as_ref(), b"s3cret"));
        assert!(!verify_admin(found.as_ref(), b"wrong"));
        assert!(!verify_admin(None, b"s3cret"));

        let token = issue_token(store, "opal", Scope::Read).await.unwrap();
        assert_eq!(
            token_owner(store, token.expose()).await.unwrap(),
            Some(("opal".to_string(), Scope::Read))
        );
        assert_eq!(token_owner(store, "wharf_nope").await.unwrap(), None);
        assert!(matches!(
            issue_token(store, "ghost", Scope::Admin).await,
            Err(OperatorError::NoAdmin(_))
        ));

        audit(store, "opal", "accounts.approve", "bob", "127.0.0.1")
            .await
            .unwrap();
        audit(store, "opal", "accounts.disable", "bob", "cli")
            .await
            .unwrap();
        let log = store.audit_list(0, 10).await.unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].action, "accounts.disable");
        assert_eq!(
            store.audit_list(1, 10).await.unwrap()[0].action,
            "accounts.approve"
        );

        // TOTP: on, a code passes once, off again
        use crate::accounts::totp;
        let plain = store.admin_find("opal").await.unwrap().unwrap();
        assert!(totp::passes(store, &plain, None).await.unwrap());
        let on = totp::enrol(store, "opal").await.unwrap();
        let record = store.admin_find("opal").await.unwrap().unwrap();
        assert_eq!(record.totp_secret.as_deref(), Some(on.secret.as_str()));
        assert!(!totp::passes(store, &record, None).await.unwrap());
        assert!(!totp::passes(store, &record, Some("000000x")).await.unwrap());
        let secret = totp::unbase32(&on.secret).unwrap();
        let now = u64::try_from(unix_now()).unwrap();
        let code = format!("{:06}", totp::code_at(&secret, totp::step_of(now)));
        assert!(totp::passes(store, &record, Some(&code)).await.unwrap());
        assert!(
            !totp::passes(store, &record, Some(&code)).await.unwrap(),
            "a code is accepted once"
        );
        let earlier = format!("{:06}", totp::code_at(&secret, totp::step_of(now) - 1));
        assert!(!totp::passes(store, &record, Some(&earlier)).await.unwrap());
        assert!(store.admin_totp_use("opal", i64::MAX).await.unwrap());
        assert!(matches!(
            totp::enrol(store, "ghost").await,
            Err(OperatorError::NoAdmin(_))
        ));
        totp::disable(store, "opal").await.unwrap();
        assert_eq!(
            store.admin_find("opal").await.unwrap().unwrap().totp_secret,
            None
        );

        store.admin_remove("opal").await.unwrap();
        assert_eq!(token_owner(store, token.expose()).await.unwrap(), None);
        let left: Vec<String> = store
            .admin_list()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(left, ["admin"]);
    }
}
