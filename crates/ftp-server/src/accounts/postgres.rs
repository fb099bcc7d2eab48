//! [`PgStore`]: accounts, registrations and quota usage in PostgreSQL, so
//! that several `wharfd` instances share them. Every read goes to the
//! database, so an approval, a new password or a quota change made through
//! any instance (or `wharfd users … --accounts postgres://…`) is seen by
//! all at their next login or upload, without a restart.
//!
//! The schema is versioned in `wharf_schema` and migrated forward at open,
//! inside a transaction holding an advisory lock, so two instances starting
//! at once migrate it exactly once; a database newer than this program is
//! refused rather than guessed at.
//!
//! Serving instances also hold a lease in `wharf_instances` and reserve
//! upload space in `wharf_reservations` (see [`SharedReservations`] and the
//! `quota` module for the design): a reservation counts only while its
//! instance's lease is alive, so the space an instance killed mid-upload
//! had reserved comes back by itself once its lease expires.

use super::board::{board_tables, hostname, BoardSession, SessionBoard};
use super::group_sql::{group_queries, GROUPS_STEP};
use super::operators::AdminStore;
use super::rejection_sql::rejection_queries;
use super::sql::{backend, change_account, clamp_i64, policy_from};
use super::totp::TOTP_STEP;
use super::transfers::{transfer_queries, transfers_table};
use super::{Account, AccountError, AccountStatus, AccountStore, Policy, SharedReservations};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::Row;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Schema steps; step `i` takes the database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE accounts (
        name TEXT PRIMARY KEY NOT NULL,
        password_hash TEXT NOT NULL,
        home TEXT,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        registered_from TEXT,
        quota_bytes BIGINT,
        used_bytes BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE wharf_instances (
        id TEXT PRIMARY KEY NOT NULL,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE wharf_reservations (
        instance TEXT NOT NULL REFERENCES wharf_instances(id) ON DELETE CASCADE,
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        bytes BIGINT NOT NULL CHECK (bytes >= 0),
        PRIMARY KEY (instance, account)
    );",
    // Each account's permissions and limits (`crate::policy::text`);
    // existing accounts get none of their own.
    "ALTER TABLE accounts ADD COLUMN policy TEXT NOT NULL DEFAULT '';",
    // Each account's SSH public keys (`authorized_keys` lines).
    "ALTER TABLE accounts ADD COLUMN ssh_keys TEXT NOT NULL DEFAULT '';",
    // Groups of accounts and their policies.
    GROUPS_STEP,
    // Admin console: admin accounts, their API tokens and the audit log
    // (`super::operators`).
    "CREATE TABLE admins (
        name TEXT PRIMARY KEY NOT NULL,
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE admin_tokens (
        digest TEXT PRIMARY KEY NOT NULL,
        admin TEXT NOT NULL,
        scope TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE admin_audit (
        id BIGSERIAL PRIMARY KEY,
        at BIGINT NOT NULL,
        admin TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        client TEXT NOT NULL
    )",
    // Registration outcomes (events, issue 15): the mail address a
    // registrant gave, and the rejections a registrant may still learn of.
    "ALTER TABLE accounts ADD COLUMN contact TEXT;",
    "CREATE TABLE rejections (
        name TEXT PRIMARY KEY NOT NULL,
        password_hash TEXT NOT NULL,
        reason TEXT NOT NULL,
        rejected_at BIGINT NOT NULL,
        contact TEXT
    );",
    // The live sessions of serving instances (`super::board`) and the
    // transfer history (`super::transfers`).
    concat!(board_tables!(), transfers_table!("BIGSERIAL PRIMARY KEY")),
    // A TOTP second factor for admins (`super::totp`).
    TOTP_STEP,
];

/// The key of the advisory lock that serialises migrations ("wharfmig").
const MIGRATION_LOCK: i64 = 0x7768_6172_666d_6967;

/// How long a query may wait for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The shared account store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// `postgres://user@host:port/db`, without the password.
    display: String,
    lease: Option<Arc<Lease>>,
}

/// This instance's lease: while it is renewed, its reservations count.
#[derive(Debug)]
struct Lease {
    id: String,
    period: Duration,
    /// Set when a renewal found the lease already expired: from then on
    /// reservations are refused (fail closed) until a restart.
    lost: AtomicBool,
}

/// `postgres://user:secret@host/db` with the password replaced by `***`.
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{masked}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

impl PgStore {
    /// Connects to `url` and migrates the schema. For admin commands: no
    /// lease, so no reservations.
    pub async fn open(url: &str) -> Result<Self, AccountError> {
        let display = mask_password(url);
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| AccountError::Backend(format!("bad PostgreSQL URL {display}: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| AccountError::Backend(format!("cannot connect to {display}: {e}")))?;
        let store = PgStore {
            pool,
            display,
            lease: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Like [`PgStore::open`], for a serving instance: registers a lease of
    /// `period` and renews it in the background until the process ends or
    /// [`AccountStore::close`] is called.
    pub async fn open_serving(url: &str, period: Duration) -> Result<Self, AccountError> {
        let mut store = PgStore::open(url).await?;
        let id = format!(
            "{}-{}-{:016x}",
            hostname(),
            std::process::id(),
            rand::random::<u64>()
        );
        sqlx::query(
            "INSERT INTO wharf_instances (id, expires_at) VALUES ($1, now() + make_interval(secs => $2))",
        )
        .bind(&id)
        .bind(period.as_secs_f64())
        .execute(&store.pool)
        .await
        .map_err(backend)?;
        let lease = Arc::new(Lease {
            id,
            period,
            lost: AtomicBool::new(false),
        });
        tokio::spawn(renew(store.pool.clone(), lease.clone()));
        store.lease = Some(lease);
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), AccountError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("CREATE TABLE IF NOT EXISTS wharf_schema (version INTEGER NOT NULL)")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let version: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM wharf_schema")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        let version = usize::try_from(version.unwrap_or(0)).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(AccountError::Backend(format!(
                "{} has schema version {version}, newer than this wharfd understands ({})",
                self.display,
                MIGRATIONS.len()
            )));
        }
        for step in &MIGRATIONS[version..] {
            sqlx::raw_sql(step)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        if version < MIGRATIONS.len() {
            sqlx::query("DELETE FROM wharf_schema")
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query("INSERT INTO wharf_schema (version) VALUES ($1)")
                .bind(MIGRATIONS.len() as i32)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            tracing::info!(
                store = %self.display,
                from = version,
                to = MIGRATIONS.len(),
                "account schema migrated"
            );
        }
        tx.commit().await.map_err(backend)
    }

    fn lease(&self) -> Result<&Lease, AccountError> {
        let lease = self.lease.as_deref().ok_or_else(|| {
            AccountError::Backend("this store was opened without an instance lease".into())
        })?;
        if lease.lost.load(Ordering::Relaxed) {
            return Err(AccountError::Backend(
                "this instance's lease in the account store expired; restart wharfd".into(),
            ));
        }
        Ok(lease)
    }
}

/// Renews `lease` every third of its period, and removes the leases (with
/// their reservations) of instances that stopped renewing theirs.
async fn renew(pool: PgPool, lease: Arc<Lease>) {
    let mut tick = tokio::time::interval(lease.period / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let renewed = sqlx::query(
            "UPDATE wharf_instances SET expires_at = now() + make_interval(secs => $2)
             WHERE id = $1 AND expires_at > now()",
        )
        .bind(&lease.id)
        .bind(lease.period.as_secs_f64())
        .execute(&pool)
        .await;
        match renewed {
            Ok(done) if done.rows_affected() == 0 => {
                tracing::error!(instance = %lease.id, "the instance lease expired before it was renewed; uploads are refused until wharfd restarts");
                lease.lost.store(true, Ordering::Relaxed);
                return;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot renew the instance lease"),
        }
        let reaped = sqlx::query("DELETE FROM wharf_instances WHERE expires_at < now()")
            .execute(&pool)
            .await;
        if let Ok(done) = reaped {
            if done.rows_affected() > 0 {
                tracing::info!(
                    instances = done.rows_affected(),
                    "reclaimed the reservations of instances whose lease expired"
                );
            }
        }
    }
}

fn account_from_row(row: &PgRow) -> Result<Account, AccountError> {
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

const COLUMNS: &str =
    "name, password_hash, home, status, created_at, registered_from, quota_bytes, used_bytes, contact";

group_queries!(PgStore);
rejection_queries!(PgStore);
transfer_queries!(PgStore, sqlx::Postgres);

#[async_trait]
impl SessionBoard for PgStore {
    fn instance(&self) -> &str {
        self.lease.as_ref().map_or("", |l| l.id.as_str())
    }

    async fn publish(
        &self,
        sessions: &[BoardSession],
        fresh_for: Duration,
    ) -> Result<Vec<u64>, AccountError> {
        super::board::publish(&self.pool, &self.lease()?.id, sessions, fresh_for).await
    }

    async fn others(&self) -> Result<Vec<(String, BoardSession)>, AccountError> {
        super::board::others(&self.pool, self.instance()).await
    }

    async fn request_disconnect(&self, instance: &str, id: u64) -> Result<bool, AccountError> {
        super::board::request_disconnect(&self.pool, instance, id).await
    }
}
super::operators::admin_store_sql!(PgStore);

#[async_trait]
impl AccountStore for PgStore {
    fn describe(&self) -> String {
        self.display.clone()
    }

    fn admins(&self) -> Option<&dyn AdminStore> {
        Some(self)
    }

    fn board(&self) -> Option<&dyn SessionBoard> {
        self.lease.as_ref().map(|_| self as &dyn SessionBoard)
    }

    fn transfers(&self) -> Option<&dyn super::TransferStore> {
        Some(self)
    }

    fn reservations(&self) -> Option<&dyn SharedReservations> {
        self.lease.as_ref().map(|_| self as &dyn SharedReservations)
    }

    async fn ping(&self) -> Result<(), AccountError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn close(&self) {
        if let Some(lease) = &self.lease {
            let gone = sqlx::query("DELETE FROM wharf_instances WHERE id = $1")
                .bind(&lease.id)
                .execute(&self.pool)
                .await;
            if let Err(e) = gone {
                tracing::warn!(error = %e, "cannot end the instance lease; it expires by itself");
            }
        }
        self.pool.close().await;
    }

    async fn find(&self, name: &str) -> Result<Option<Account>, AccountError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM accounts WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn create(&self, a: &Account) -> Result<(), AccountError> {
        let result = sqlx::query(&format!(
            "INSERT INTO accounts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
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
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM accounts ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(account_from_row).collect()
    }

    async fn set_password_hash(&self, name: &str, hash: &str) -> Result<(), AccountError> {
        change_account!(
            &self.pool,
            name,
            "UPDATE accounts SET password_hash = $1 WHERE name = $2",
            hash,
            name,
        )
    }

    async fn set_status(&self, name: &str, status: AccountStatus) -> Result<(), AccountError> {
        change_account!(
            &self.pool,
            name,
            "UPDATE accounts SET status = $1 WHERE name = $2",
            status.as_str(),
            name,
        )
    }

    async fn remove(&self, name: &str) -> Result<(), AccountError> {
        change_account!(
            &self.pool,
            name,
            "DELETE FROM accounts WHERE name = $1",
            name,
        )
    }

    async fn set_quota(&self, name: &str, quota: Option<u64>) -> Result<(), AccountError> {
        change_account!(
            &self.pool,
            name,
            "UPDATE accounts SET quota_bytes = $1 WHERE name = $2",
            quota.map(clamp_i64),
            name,
        )
    }

    async fn add_used(&self, name: &str, delta: i64) -> Result<u64, AccountError> {
        let row: Option<i64> = sqlx::query_scalar(
            "UPDATE accounts SET used_bytes = GREATEST(0, used_bytes + $1) WHERE name = $2 RETURNING used_bytes",
        )
        .bind(delta)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|v| v.max(0) as u64)
            .ok_or_else(|| AccountError::NotFound(name.to_string()))
    }

    async fn set_used(&self, name: &str, used: u64) -> Result<(), AccountError> {
        change_account!(
            &self.pool,
            name,
            "UPDATE accounts SET used_bytes = $1 WHERE name = $2",
            clamp_i64(used),
            name,
        )
    }

    async fn policy(&self, name: &str) -> Result<Policy, AccountError> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT policy FROM accounts WHERE name = $1")
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
            "UPDATE accounts SET policy = $1 WHERE name = $2",
            policy.to_text(),
            name,
        )
    }

    async fn ssh_keys(&self, name: &str) -> Result<String, AccountError> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT ssh_keys FROM accounts WHERE name = $1")
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
            "UPDATE accounts SET ssh_keys = $1 WHERE name = $2",
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

#[async_trait]
impl SharedReservations for PgStore {
    async fn reserve(&self, name: &str, bytes: u64) -> Result<bool, AccountError> {
        let lease = self.lease()?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Our own lease must be alive, or others no longer count what we hold.
        let alive = sqlx::query(
            "UPDATE wharf_instances SET expires_at = now() + make_interval(secs => $2)
             WHERE id = $1 AND expires_at > now()",
        )
        .bind(&lease.id)
        .bind(lease.period.as_secs_f64())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if alive.rows_affected() == 0 {
            lease.lost.store(true, Ordering::Relaxed);
            return Err(AccountError::Backend(
                "this instance's lease in the account store expired; restart wharfd".into(),
            ));
        }
        // The account row lock serialises every reservation of one account.
        let row =
            sqlx::query("SELECT quota_bytes, used_bytes FROM accounts WHERE name = $1 FOR UPDATE")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?
                .ok_or_else(|| AccountError::NotFound(name.to_string()))?;
        let quota: Option<i64> = row.try_get("quota_bytes").map_err(backend)?;
        let used: i64 = row.try_get("used_bytes").map_err(backend)?;
        if let Some(quota) = quota {
            let held: i64 = sqlx::query_scalar(
                "SELECT COALESCE(SUM(r.bytes), 0)::BIGINT FROM wharf_reservations r
                 JOIN wharf_instances i ON i.id = r.instance
                 WHERE r.account = $1 AND i.expires_at > now()",
            )
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            let wanted = i128::from(used) + i128::from(held) + i128::from(bytes);
            if wanted > i128::from(quota) {
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO wharf_reservations (instance, account, bytes) VALUES ($1, $2, $3)
             ON CONFLICT (instance, account) DO UPDATE SET bytes = wharf_reservations.bytes + EXCLUDED.bytes",
        )
        .bind(&lease.id)
        .bind(name)
        .bind(clamp_i64(bytes))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn settle(&self, name: &str, reserved: u64, delta: i64) -> Result<u64, AccountError> {
        let id = self
            .lease
            .as_ref()
            .map(|l| l.id.clone())
            .ok_or_else(|| AccountError::Backend("no instance lease".into()))?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let used: i64 = sqlx::query_scalar(
            "UPDATE accounts SET used_bytes = GREATEST(0, used_bytes + $1) WHERE name = $2 RETURNING used_bytes",
        )
        .bind(delta)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .ok_or_else(|| AccountError::NotFound(name.to_string()))?;
        // Gone already if the lease expired and was reaped: then there is
        // nothing left to give back.
        sqlx::query(
            "UPDATE wharf_reservations SET bytes = GREATEST(0, bytes - $1) WHERE instance = $2 AND account = $3",
        )
        .bind(clamp_i64(reserved))
        .bind(&id)
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(used.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::RejectionStore;
    use crate::quota::QuotaLedger;
    use crate::storage::upload::SpaceMeter;
    use crate::storage::StorageError;

    /// The database the PostgreSQL tests use. They are `#[ignore]`d so that
    /// a plain `cargo test` needs no server; `tests/scale` starts one and
    /// runs them with this variable set. Run without it, they fail.
    fn url() -> String {
        std::env::var("WHARF_TEST_POSTGRES").unwrap_or_else(|_| {
            panic!("WHARF_TEST_POSTGRES is not set: these tests run from tests/scale (pytest), which starts PostgreSQL")
        })
    }

    fn account(name: &str, quota: Option<u64>) -> Account {
        Account {
            name: name.into(),
            password_hash: "h".into(),
            home: None,
            status: AccountStatus::Pending,
            created_at: 1,
            registered_from: Some("192.0.2.1".into()),
            contact: None,
            quota_bytes: quota,
            used_bytes: 0,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: run by tests/scale"]
    async fn pg_admins_tokens_and_audit() {
        let store = PgStore::open(&url()).await.unwrap();
        crate::accounts::operators::tests::exercise(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: run by tests/scale"]
    async fn pg_migrations_race_and_crud() {
        let url = url();
        // Several instances starting at once migrate exactly once.
        let (a, b, c, d) = tokio::join!(
            PgStore::open(&url),
            PgStore::open(&url),
            PgStore::open(&url),
            PgStore::open(&url)
        );
        let stores = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()];
        let store = &stores[0];
        let _ = store.remove("pgcrud").await;
        store.create(&account("pgcrud", Some(1000))).await.unwrap();
        assert!(matches!(
            stores[1].create(&account("pgcrud", None)).await,
            Err(AccountError::Exists(_))
        ));
        assert!(store.count_pending().await.unwrap() >= 1);
        stores[2]
            .set_status("pgcrud", AccountStatus::Active)
            .await
            .unwrap();
        let seen = stores[3].find("pgcrud").await.unwrap().unwrap();
        assert_eq!(seen.status, AccountStatus::Active);
        assert_eq!(seen.registered_from.as_deref(), Some("192.0.2.1"));
        assert_eq!(store.add_used("pgcrud", 700).await.unwrap(), 700);
        assert_eq!(store.add_used("pgcrud", -1000).await.unwrap(), 0);
        store.set_quota("pgcrud", None).await.unwrap();
        assert_eq!(
            store.find("pgcrud").await.unwrap().unwrap().quota_bytes,
            None
        );
        assert!(matches!(
            store.set_status("nobody", AccountStatus::Active).await,
            Err(AccountError::NotFound(_))
        ));
        store.ping().await.unwrap();
        // only a pending account is rejected; its rejection is kept
        assert!(matches!(
            store.reject("pgcrud", "no", 100).await,
            Err(AccountError::NotFound(_))
        ));
        let _ = store.remove("pgrejected").await;
        let mut rejected = account("pgrejected", None);
        rejected.contact = Some("r@example.org".into());
        store.create(&rejected).await.unwrap();
        stores[1]
            .reject("pgrejected", "not this week", 100)
            .await
            .unwrap();
        assert!(store.find("pgrejected").await.unwrap().is_none());
        let kept = stores[2].rejection("pgrejected").await.unwrap().unwrap();
        assert_eq!(
            (
                kept.reason.as_str(),
                kept.rejected_at,
                kept.contact.as_deref()
            ),
            ("not this week", 100, Some("r@example.org"))
        );
        store.remove("pgcrud").await.unwrap();
        assert!(store.find("pgcrud").await.unwrap().is_none());
        let version: i32 = sqlx::query_scalar("SELECT max(version) FROM wharf_schema")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
    }

    /// A database as the release before permissions left it (version 1):
    /// the first migration step (steps are never edited once released),
    /// the version mark, and one account.
    fn release_v1() -> String {
        format!(
            "CREATE TABLE wharf_schema (version INTEGER NOT NULL);
             INSERT INTO wharf_schema (version) VALUES (1);
             {};
             INSERT INTO accounts VALUES ('ann', 'h', NULL, 'active', 7, NULL, 5000, 1234);",
            MIGRATIONS[0]
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: run by tests/scale"]
    async fn pg_a_store_from_the_previous_release_keeps_every_account() {
        let url = url();
        // A schema of its own, so the shared test database stays as it is.
        let schema = format!("wharf_v1_{:08x}", rand::random::<u32>());
        let admin = PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        let scoped = format!("{url}{sep}options[search_path]={schema}");
        {
            let old = PgPool::connect(&scoped).await.unwrap();
            sqlx::raw_sql(&release_v1()).execute(&old).await.unwrap();
            old.close().await;
        }
        let store = PgStore::open(&scoped).await.unwrap();
        let ann = store.find("ann").await.unwrap().unwrap();
        assert_eq!((ann.quota_bytes, ann.used_bytes), (Some(5000), 1234));
        assert_eq!(store.policy("ann").await.unwrap(), Policy::default());
        let mut p = Policy::default();
        p.limits.max_file_size = Some(99);
        store.set_policy("ann", &p).await.unwrap();
        assert_eq!(store.policy("ann").await.unwrap(), p);
        assert_eq!(store.add_used("ann", 66).await.unwrap(), 1300);
        let version: i32 = sqlx::query_scalar("SELECT max(version) FROM wharf_schema")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
        crate::accounts::group_sql::exercise(&store, "ann").await;
        crate::accounts::transfers::exercise(&store).await;
        store.close().await;
        sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: run by tests/scale"]
    async fn pg_two_instances_never_pass_a_quota() {
        const QUOTA: u64 = 20 * (1 << 20) + 12_345;
        let url = url();
        let admin = PgStore::open(&url).await.unwrap();
        let _ = admin.remove("pgquota").await;
        admin
            .create(&account("pgquota", Some(QUOTA)))
            .await
            .unwrap();
        let mut ledgers = Vec::new();
        for _ in 0..2 {
            let store = PgStore::open_serving(&url, Duration::from_secs(10))
                .await
                .unwrap();
            ledgers.push(Arc::new(QuotaLedger::new(Arc::new(store))));
        }
        // Four uploads per instance, 100,000 bytes at a time, until refused.
        let mut uploads = Vec::new();
        for i in 0..8 {
            let ledger = ledgers[i % 2].clone();
            uploads.push(tokio::spawn(async move {
                let usage = ledger.account("pgquota").await.unwrap();
                let mut meter = Box::new(usage.meter(0));
                let mut taken = 0u64;
                loop {
                    match meter.take(100_000).await {
                        Ok(()) => taken += 100_000,
                        Err(StorageError::QuotaExceeded) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                // Odd uploads are undone, even ones commit what they took.
                if i % 2 == 1 {
                    meter.release();
                    0
                } else {
                    meter.record(taken as i64).await.unwrap();
                    taken
                }
            }));
        }
        let mut committed = 0;
        for u in uploads {
            committed += u.await.unwrap();
        }
        assert!(committed <= QUOTA, "{committed} > {QUOTA}");
        let used = admin.find("pgquota").await.unwrap().unwrap().used_bytes;
        assert_eq!(used, committed);
        // Every grant goes back once nothing is running.
        let mut held = -1i64;
        for _ in 0..50 {
            held = sqlx::query_scalar(
                "SELECT COALESCE(SUM(bytes), 0)::BIGINT FROM wharf_reservations WHERE account = 'pgquota'",
            )
            .fetch_one(&admin.pool)
            .await
            .unwrap();
            if held == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(held, 0);
        admin.remove("pgquota").await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: run by tests/scale"]
    async fn pg_instances_see_and_disconnect_each_others_sessions() {
        use crate::accounts::board::{BoardSession, BoardTransfer};
        let url = url();
        let a = PgStore::open_serving(&url, Duration::from_secs(10))
            .await
            .unwrap();
        let b = PgStore::open_serving(&url, Duration::from_secs(10))
            .await
            .unwrap();
        let session = |id: u64, user: &str| BoardSession {
            id,
            user: user.into(),
            peer: "127.0.0.2:40000".into(),
            protocol: "ftps".into(),
            tls: true,
            since: 1_700_000_000 + id as i64,
            transfer: None,
        };
        let mut busy = session(2, "bea");
        busy.transfer = Some(BoardTransfer {
            path: "/big.iso".into(),
            upload: true,
            bytes: 4096,
            rate: 1000,
        });
        let fresh = Duration::from_secs(5);
        let published = [session(1, "abe"), busy];
        assert!(a.publish(&published, fresh).await.unwrap().is_empty());
        let mine = |list: Vec<(String, BoardSession)>, of: &str| {
            list.into_iter()
                .filter(|(i, _)| i == of)
                .map(|(_, s)| s)
                .collect::<Vec<_>>()
        };
        // B sees A's sessions, A does not list its own.
        assert_eq!(mine(b.others().await.unwrap(), a.instance()), published);
        assert!(mine(a.others().await.unwrap(), a.instance()).is_empty());
        // A later publication replaces the earlier one.
        assert!(a.publish(&published[1..], fresh).await.unwrap().is_empty());
        assert_eq!(mine(b.others().await.unwrap(), a.instance()).len(), 1);
        // B asks A to disconnect session 2 (twice: one request), and one
        // that A does not publish.
        assert!(b.request_disconnect(a.instance(), 2).await.unwrap());
        assert!(b.request_disconnect(a.instance(), 2).await.unwrap());
        assert!(!b.request_disconnect(a.instance(), 1).await.unwrap());
        assert_eq!(a.publish(&published[1..], fresh).await.unwrap(), vec![2]);
        assert!(a.publish(&[], fresh).await.unwrap().is_empty());
        // A board that stops being published is no longer listed.
        a.publish(&published, Duration::from_millis(300))
            .await
            .unwrap();
        assert_eq!(mine(b.others().await.unwrap(), a.instance()).len(), 2);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(mine(b.others().await.unwrap(), a.instance()).is_empty());
        assert!(!b.request_disconnect(a.instance(), 1).await.unwrap());
        a.close().await;
        b.close().await;
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_password("postgres://wharf:s3cr:et@db.example:5432/wharf?sslmode=require"),
            "postgres://wharf:***@db.example:5432/wharf?sslmode=require"
        );
        assert_eq!(
            mask_password("postgres://wharf@db/wharf"),
            "postgres://wharf@db/wharf"
        );
        assert_eq!(
            mask_password("postgresql://db/wharf"),
            "postgresql://db/wharf"
        );
    }
}
