//! [`SqliteStore`]: accounts in an embedded SQLite database (WAL mode), the
//! default store. Its schema is versioned with `PRAGMA user_version` and
//! migrated forward when the store opens; a database newer than this
//! program is refused rather than guessed at. A serving instance also runs
//! `PRAGMA quick_check` first and refuses a damaged file, naming it: a
//! corrupt store never means "no accounts" or "usage 0".
//!
//! Commits wait for the disk (`synchronous = FULL`), except the usage
//! counters' (`add_used`, on connections of their own with `NORMAL`):
//! those change with every upload, and a serving instance recounts usage
//! from the files after any unclean stop (power loss included), so
//! waiting for the disk there would add a WAL fsync to every upload (1–2
//! ms here) and protect nothing.

use super::group_sql::{group_queries, GROUPS_STEP};
use super::operators::AdminStore;
use super::rejection_sql::rejection_queries;
use super::sql::{backend, change_account, clamp_i64, policy_from};
use super::totp::TOTP_STEP;
use super::transfers::{transfer_queries, transfers_table};
use super::{Account, AccountError, AccountStatus, AccountStore, Policy};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Schema steps; step `i` takes the database from version `i` to `i + 1`.
/// Version 2 adds each account's permissions and limits
/// ([`crate::policy::text`]); existing accounts get none of their own, so
/// they keep doing what they did, under the server's defaults.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE accounts (
        name TEXT PRIMARY KEY NOT NULL,
        password_hash TEXT NOT NULL,
        home TEXT,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        registered_from TEXT,
        quota_bytes INTEGER,
        used_bytes INTEGER NOT NULL DEFAULT 0
    )",
    "ALTER TABLE accounts ADD COLUMN policy TEXT NOT NULL DEFAULT ''",
    // Each account's SSH public keys (`authorized_keys` lines).
    "ALTER TABLE accounts ADD COLUMN ssh_keys TEXT NOT NULL DEFAULT ''",
    // Groups of accounts and their policies.
    GROUPS_STEP,
    // Admin console: admin accounts, their API tokens and the audit log
    // (`super::operators`).
    "CREATE TABLE admins (
        name TEXT PRIMARY KEY NOT NULL,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE admin_tokens (
        digest TEXT PRIMARY KEY NOT NULL,
        admin TEXT NOT NULL,
        scope TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE admin_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        admin TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        client TEXT NOT NULL
    )",
    // Registration outcomes (events, issue 15): the mail address a
    // registrant gave, and the rejections a registrant may still learn of.
    "ALTER TABLE accounts ADD COLUMN contact TEXT",
    "CREATE TABLE rejections (
        name TEXT PRIMARY KEY NOT NULL,
        password_hash TEXT NOT NULL,
        reason TEXT NOT NULL,
        rejected_at INTEGER NOT NULL,
        contact TEXT
    )",
    // The transfer history (`super::transfers`).
    transfers_table!("INTEGER PRIMARY KEY AUTOINCREMENT"),
    // A TOTP second factor for admins (`super::totp`).
    TOTP_STEP,
];

/// The embedded account store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// For the usage counters: commits that do not wait for the disk.
    meter: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self, AccountError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let cannot_open =
            |e: sqlx::Error| AccountError::Backend(format!("cannot open {}: {e}", path.display()));
        // No ping before each use: an embedded database has no connection
        // that can die, and sqlx's default test costs a round trip to the
        // connection's worker thread per query (two per upload).
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(cannot_open)?;
        // Lazily: the first use comes after the migration below.
        let meter = SqlitePoolOptions::new()
            .max_connections(2)
            .test_before_acquire(false)
            .connect_lazy_with(options.synchronous(SqliteSynchronous::Normal));
        let store = SqliteStore {
            pool,
            meter,
            path: path.to_path_buf(),
        };
        store.migrate().await.map_err(|e| store.named(e))?;
        Ok(store)
    }

    /// Like [`SqliteStore::open`], for a serving instance: refuses a
    /// database that fails SQLite's `PRAGMA quick_check`.
    pub async fn open_serving(path: &Path) -> Result<Self, AccountError> {
        let store = SqliteStore::open(path).await?;
        store.check_integrity().await?;
        Ok(store)
    }

    /// Runs `PRAGMA quick_check`; any answer but a single `ok` is damage.
    async fn check_integrity(&self) -> Result<(), AccountError> {
        let problems: Vec<String> = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.corrupt(&e.to_string()))?;
        match problems.as_slice() {
            [ok] if ok == "ok" => Ok(()),
            _ => Err(self.corrupt(
                &problems
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
        }
    }

    fn corrupt(&self, detail: &str) -> AccountError {
        AccountError::Backend(format!(
            "{} is damaged (PRAGMA quick_check: {detail}); refusing to serve from it: restore it from a backup",
            self.path.display()
        ))
    }

    /// An error with the database file's name in it.
    fn named(&self, e: AccountError) -> AccountError {
        match e {
            AccountError::Backend(m) => {
                AccountError::Backend(format!("{}: {m}", self.path.display()))
            }
            other => other,
        }
    }

    /// Brings the schema up to date. Every `wharfd users …` command opens
    /// the store while a server may be writing it: an up-to-date schema
    /// is only read, and a migration takes the write lock up front
    /// (`BEGIN IMMEDIATE`, which waits `busy_timeout`), since a read that
    /// turns into a write in a deferred transaction fails at once with
    /// "database is locked" when another connection wrote meanwhile.
    async fn migrate(&self) -> Result<(), AccountError> {
        let current: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        if usize::try_from(current).is_ok_and(|v| v == MIGRATIONS.len()) {
            return Ok(());
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(AccountError::Backend(format!(
                "{} has schema version {version}, newer than this wharfd understands ({})",
                self.path.display(),
                MIGRATIONS.len()
            )));
        }
        for step in &MIGRATIONS[version..] {
            sqlx::query(step).execute(&mut *tx).await.map_err(backend)?;
        }
        sqlx::query(&format!("PRAGMA user_version = {}", MIGRATIONS.len()))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }
}

fn account_from_row(row: &SqliteRow) -> Result<Account, AccountError> {
    let status: String = row.try_get("status").map_err(backend)?;
    let quota: Option<i64> = row.try_get("quota_bytes").map_err(backend)?;
    let used: i64 = row.try_get("used_bytes").map_err(backend)?;
    let home: Option<String> = row.try_get("home").map_err(backend)?;
    Ok(Account {
        name: row.try_get("name").map_err(backend)?,
        password_hash: row.try_get("password_hash").map_err(backend)?,
        home: home.map(PathBuf::from),
        status: AccountStatus::parse(&status)
            .ok_or_else(|| AccountError::Backend(format!("unknown account status {status:?}")))?,
        created_at: row.try_get("created_at").map_err(backend)?,
        registered_from: row.try_get("registered_from").map_err(backend)?,
        contact: row.try_get("contact").map_err(backend)?,
        quota_bytes: quota.map(|q| q.max(0) as u64),
        used_bytes: used.max(0) as u64,
    })
}

group_queries!(SqliteStore);
rejection_queries!(SqliteStore);
transfer_queries!(SqliteStore, sqlx::Sqlite);
super::operators::admin_store_sql!(SqliteStore);

#[async_trait]
impl AccountStore for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn admins(&self) -> Option<&dyn AdminStore> {
        Some(self)
    }

    fn transfers(&self) -> Option<&dyn super::TransferStore> {
        Some(self)
    }

    async fn find(&self, name: &str) -> Result<Option<Account>, AccountError> {
        let row = sqlx::query("SELECT * FROM accounts WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn create(&self, a: &Account) -> Result<(), AccountError> {
        let result = sqlx::query(
            "INSERT INTO accounts (name, password_hash, home, status, created_at, registered_from, quota_bytes, used_bytes, contact)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.name)
        .bind(&a.password_hash)
        .bind(a.home.as_ref().map(|h| h.to_string_lossy().into_owned()))
        .bind(a.status.as_str())
        .bind(a.created_at)
        .bind(&a.registered_from)
        .bind(a.quota_bytes.map(clamp_i64))
        .bind(clamp_i64(a.used_bytes))
        .bind(&a.contact)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(AccountError::Exists(a.name.clone()))
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn list(&self) -> Result<Vec<Account>, AccountError> {
        let rows = sqlx::query("SELECT * FROM accounts ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(account_from_row).collect()
    }

    async fn set_password_hash(&self, name: &str, hash: &str) -> Result<(), AccountError> {
        change_account!(
            &self.pool,
            name,
            "UPDATE accounts SET password_hash = ? WHERE name = ?",
            hash,
            name,
        )
    }

    async fn set_status(&self, name: &str, status: AccountStatus) -> Result<(), AccountError> {
        change_account!(
            &self.pool,
            name,
            "UPDATE accounts SET status = ? WHERE name = ?",
            status.as_str(),
            name,
        )
    }

    async fn remove(&self, name: &str) -> Result<(), AccountError> {
        change_account!(
            &self.pool,
            name,
            "DELETE FROM accounts WHERE name = ?",
            name,
        )
    }

    async fn set_quota(&self, name: &str, quota: Option<u64>) -> Result<(), AccountError> {
        change_account!(
            &self.pool,
            name,
            "UPDATE accounts SET quota_bytes = ? WHERE name = ?",
            quota.map(clamp_i64),
            name,
        )
    }

    async fn add_used(&self, name: &str, delta: i64) -> Result<u64, AccountError> {
        let row: Option<i64> = sqlx::query_scalar(
            "UPDATE accounts SET used_bytes = MAX(0, used_bytes + ?) WHERE name = ? RETURNING used_bytes",
        )
        .bind(delta)
        .bind(name)
        .fetch_optional(&self.meter)
        .await
        .map_err(backend)?;
        row.map(|v| v.max(0) as u64)
            .ok_or_else(|| AccountError::NotFound(name.to_string()))
    }

    async fn set_used(&self, name: &str, used: u64) -> Result<(), AccountError> {
        change_account!(
            &self.pool,
            name,
            "UPDATE accounts SET used_bytes = ? WHERE name = ?",
            clamp_i64(used),
            name,
        )
    }

    async fn policy(&self, name: &str) -> Result<Policy, AccountError> {
        let text: Option<String> = sqlx::query_scalar("SELECT policy FROM accounts WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        policy_from(name, text)
    }

    async fn set_policy(&self, name: &str, policy: &Policy) -> Result<(), AccountError> {
        change_account!(
            &self.pool,
            name,
            "UPDATE accounts SET policy = ? WHERE name = ?",
            policy.to_text(),
            name,
        )
    }

    async fn ssh_keys(&self, name: &str) -> Result<String, AccountError> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT ssh_keys FROM accounts WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        text.ok_or_else(|| AccountError::NotFound(name.to_string()))
    }

    async fn set_ssh_keys(&self, name: &str, keys: &str) -> Result<(), AccountError> {
        change_account!(
            &self.pool,
            name,
            "UPDATE accounts SET ssh_keys = ? WHERE name = ?",
            keys,
            name,
        )
    }

    async fn count_pending(&self) -> Result<u64, AccountError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE status = 'pending'")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{RejectionStore, REJECTION_KEPT_SECS};

    fn account(name: &str) -> Account {
        Account {
            name: name.into(),
            password_hash: "h".into(),
            home: None,
            status: AccountStatus::Active,
            created_at: 1,
            registered_from: None,
            contact: None,
            quota_bytes: Some(1000),
            used_bytes: 0,
        }
    }

    #[tokio::test]
    async fn crud_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let store = SqliteStore::open(&path).await.unwrap();
        store.create(&account("bob")).await.unwrap();
        assert!(matches!(
            store.create(&account("bob")).await,
            Err(AccountError::Exists(_))
        ));
        store
            .set_status("bob", AccountStatus::Disabled)
            .await
            .unwrap();
        assert!(matches!(
            store.set_status("nobody", AccountStatus::Active).await,
            Err(AccountError::NotFound(_))
        ));
        drop(store);
        let store = SqliteStore::open(&path).await.unwrap();
        let bob = store.find("bob").await.unwrap().unwrap();
        assert_eq!(bob.status, AccountStatus::Disabled);
        assert_eq!(bob.quota_bytes, Some(1000));
        assert_eq!(store.list().await.unwrap().len(), 1);
        assert_eq!(store.add_used("bob", 700).await.unwrap(), 700);
        assert_eq!(store.add_used("bob", -1000).await.unwrap(), 0);
        store.set_quota("bob", None).await.unwrap();
        assert_eq!(store.find("bob").await.unwrap().unwrap().quota_bytes, None);
        assert_eq!(store.count_pending().await.unwrap(), 0);
        store.remove("bob").await.unwrap();
        assert!(store.find("bob").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_rejection_replaces_the_pending_account_and_is_kept_a_while() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("a.db")).await.unwrap();
        let mut carol = account("carol");
        carol.status = AccountStatus::Pending;
        carol.contact = Some("carol@example.org".into());
        store.create(&carol).await.unwrap();
        store.create(&account("active")).await.unwrap();
        let day = 24 * 3600;
        // only a pending account can be rejected
        assert!(matches!(
            store.reject("active", "no", day).await,
            Err(AccountError::NotFound(_))
        ));
        assert!(store.find("active").await.unwrap().is_some());
        store.reject("carol", "not this week", day).await.unwrap();
        assert!(store.find("carol").await.unwrap().is_none());
        let kept = store.rejection("carol").await.unwrap().unwrap();
        assert_eq!(
            (
                kept.reason.as_str(),
                kept.rejected_at,
                kept.contact.as_deref()
            ),
            ("not this week", day, Some("carol@example.org"))
        );
        assert_eq!(kept.password_hash, "h");
        assert!(!format!("{kept:?}").contains("\"h\""));
        // a later rejection forgets those past the time they are kept
        let mut dave = account("dave");
        dave.status = AccountStatus::Pending;
        store.create(&dave).await.unwrap();
        store
            .reject("dave", "no", day + REJECTION_KEPT_SECS + 1)
            .await
            .unwrap();
        assert!(store.rejection("carol").await.unwrap().is_none());
        assert!(store.rejection("dave").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn serving_refuses_a_corrupt_file_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let store = SqliteStore::open(&path).await.unwrap();
        for i in 0..300 {
            let mut a = account(&format!("user{i}"));
            a.password_hash = "h".repeat(200);
            store.create(&a).await.unwrap();
        }
        store.pool.close().await;
        // A sound file serves; then everything goes from the WAL into it.
        let store = SqliteStore::open_serving(&path).await.unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&store.pool)
            .await
            .unwrap();
        store.pool.close().await;
        // Page 1 (the header) stays; pages 3 to 6 become noise.
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 6 * 4096, "{} bytes", bytes.len());
        for (i, b) in bytes[2 * 4096..6 * 4096].iter_mut().enumerate() {
            *b = (i * 7 % 251) as u8;
        }
        std::fs::write(&path, bytes).unwrap();
        let err = SqliteStore::open_serving(&path).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("damaged"), "{text}");
    }

    #[tokio::test]
    async fn a_store_from_the_previous_release_keeps_every_account() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let hash = crate::accounts::password::hash_password(b"old-password").unwrap();
        {
            let old = SqlitePoolOptions::new()
                .connect_with(
                    SqliteConnectOptions::new()
                        .filename(&path)
                        .create_if_missing(true),
                )
                .await
                .unwrap();
            // The release before permissions: the first migration step, which
            // is never edited once released.
            sqlx::query(MIGRATIONS[0]).execute(&old).await.unwrap();
            for (name, status, quota, used) in [
                ("ann", "active", Some(5000), 1234),
                ("ben", "pending", None, 0),
                ("cid", "disabled", Some(1), 0),
            ] {
                sqlx::query("INSERT INTO accounts VALUES (?, ?, NULL, ?, 7, '192.0.2.9', ?, ?)")
                    .bind(name)
                    .bind(&hash)
                    .bind(status)
                    .bind(quota)
                    .bind(used)
                    .execute(&old)
                    .await
                    .unwrap();
            }
            sqlx::query("PRAGMA user_version = 1")
                .execute(&old)
                .await
                .unwrap();
            old.close().await;
        }
        let store = SqliteStore::open_serving(&path).await.unwrap();
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
        let all = store.list().await.unwrap();
        assert_eq!(all.len(), 3);
        let ann = store.find("ann").await.unwrap().unwrap();
        assert_eq!((ann.quota_bytes, ann.used_bytes), (Some(5000), 1234));
        assert_eq!(ann.status, AccountStatus::Active);
        assert_eq!(
            store.find("ben").await.unwrap().unwrap().status,
            AccountStatus::Pending
        );
        // Logins still check the old hashes.
        let auth = crate::accounts::Authenticator::new(
            std::sync::Arc::new(store.clone()),
            crate::accounts::AuthSettings::default(),
        )
        .unwrap();
        assert!(auth.authenticate(b"ann", b"old-password").await.is_ok());
        assert!(auth.authenticate(b"ann", b"wrong").await.is_err());
        // Old accounts have no policy of their own: the server's defaults.
        for a in &all {
            assert_eq!(store.policy(&a.name).await.unwrap(), Policy::default());
        }
        let mut p = Policy::default();
        p.limits.max_sessions = Some(3);
        store.set_policy("ann", &p).await.unwrap();
        assert_eq!(store.policy("ann").await.unwrap(), p);
        assert_eq!(store.add_used("ann", 66).await.unwrap(), 1300);
        assert!(matches!(
            store.policy("nobody").await,
            Err(AccountError::NotFound(_))
        ));
        // Opening again migrates nothing more.
        drop(store);
        let again = SqliteStore::open(&path).await.unwrap();
        assert_eq!(again.policy("ann").await.unwrap(), p);
        // The migrated store keeps groups.
        crate::accounts::group_sql::exercise(&again, "cid").await;
        // … and a transfer history.
        crate::accounts::transfers::exercise(&again).await;
    }

    #[tokio::test]
    async fn an_unreadable_policy_is_an_error_not_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("a.db")).await.unwrap();
        store.create(&account("bob")).await.unwrap();
        sqlx::query("UPDATE accounts SET policy = 'permissions everything'")
            .execute(&store.pool)
            .await
            .unwrap();
        assert!(matches!(
            store.policy("bob").await,
            Err(AccountError::Backend(_))
        ));
    }

    #[tokio::test]
    async fn refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let store = SqliteStore::open(&path).await.unwrap();
        sqlx::query("PRAGMA user_version = 99")
            .execute(&store.pool)
            .await
            .unwrap();
        drop(store);
        assert!(SqliteStore::open(&path).await.is_err());
    }
}
