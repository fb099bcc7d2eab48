//! [`SessionBoard`]: where the instances sharing an account store publish
//! their logged-in sessions, so that the admin console of any of them
//! lists every instance's sessions and disconnects one wherever it runs.
//!
//! Each serving instance replaces its rows on every heartbeat
//! ([`crate::cluster`]) and marks them fresh for a few heartbeats; rows
//! whose instance stopped publishing are no longer listed once that time
//! passes, and go with the instance's lease. A disconnect asked of another
//! instance is a row in `wharf_session_kills` that the instance collects
//! (and acts on) at its next heartbeat.
//!
//! Only PostgreSQL keeps a board: the embedded SQLite store has one
//! serving process, whose sessions the console sees directly.

use super::sql::backend;
use super::AccountError;
use async_trait::async_trait;
use std::time::Duration;

/// This machine's name, for instance ids.
pub fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "wharfd".into())
}

/// One session as published: what the console shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardSession {
    /// The session's number within its instance.
    pub id: u64,
    pub user: String,
    /// The client, `ADDR:PORT`.
    pub peer: String,
    /// `ftp`, `ftps` or `sftp`.
    pub protocol: String,
    pub tls: bool,
    /// Login time, seconds since the Unix epoch.
    pub since: i64,
    pub transfer: Option<BoardTransfer>,
}

/// A session's running transfer as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardTransfer {
    pub path: String,
    pub upload: bool,
    pub bytes: u64,
    /// Bytes per second since it started.
    pub rate: u64,
}

/// The shared board of live sessions.
#[async_trait]
pub trait SessionBoard: Send + Sync {
    /// This instance's id (its lease in the store).
    fn instance(&self) -> &str;
    /// Replaces this instance's published sessions with `sessions`, fresh
    /// for `fresh_for`, and returns (forgetting them) the ids of sessions
    /// an operator asked to disconnect.
    async fn publish(
        &self,
        sessions: &[BoardSession],
        fresh_for: Duration,
    ) -> Result<Vec<u64>, AccountError>;
    /// The fresh sessions of every other instance, as (instance, session),
    /// oldest login first.
    async fn others(&self) -> Result<Vec<(String, BoardSession)>, AccountError>;
    /// Asks `instance` to disconnect its session `id`; `false` when that
    /// instance publishes no such session.
    async fn request_disconnect(&self, instance: &str, id: u64) -> Result<bool, AccountError>;
}

/// The board's tables, for PostgreSQL's schema step.
macro_rules! board_tables {
    () => {
        "
    ALTER TABLE wharf_instances ADD COLUMN sessions_fresh_until TIMESTAMPTZ;
    CREATE TABLE wharf_live_sessions (
        instance TEXT NOT NULL REFERENCES wharf_instances(id) ON DELETE CASCADE,
        id BIGINT NOT NULL,
        account TEXT NOT NULL,
        peer TEXT NOT NULL,
        protocol TEXT NOT NULL,
        tls BOOLEAN NOT NULL,
        since BIGINT NOT NULL,
        transfer_path TEXT,
        transfer_upload BOOLEAN,
        transfer_bytes BIGINT,
        transfer_rate BIGINT,
        PRIMARY KEY (instance, id)
    );
    CREATE TABLE wharf_session_kills (
        instance TEXT NOT NULL REFERENCES wharf_instances(id) ON DELETE CASCADE,
        id BIGINT NOT NULL,
        PRIMARY KEY (instance, id)
    );"
    };
}
pub(super) use board_tables;

/// The rows of a publication, column by column (PostgreSQL arrays).
#[derive(Default)]
struct Columns {
    id: Vec<i64>,
    account: Vec<String>,
    peer: Vec<String>,
    protocol: Vec<String>,
    tls: Vec<bool>,
    since: Vec<i64>,
    path: Vec<Option<String>>,
    upload: Vec<Option<bool>>,
    bytes: Vec<Option<i64>>,
    rate: Vec<Option<i64>>,
}

impl Columns {
    fn of(sessions: &[BoardSession]) -> Self {
        let mut c = Columns::default();
        for s in sessions {
            c.id.push(clamp(s.id));
            c.account.push(s.user.clone());
            c.peer.push(s.peer.clone());
            c.protocol.push(s.protocol.clone());
            c.tls.push(s.tls);
            c.since.push(s.since);
            let t = s.transfer.as_ref();
            c.path.push(t.map(|t| t.path.clone()));
            c.upload.push(t.map(|t| t.upload));
            c.bytes.push(t.map(|t| clamp(t.bytes)));
            c.rate.push(t.map(|t| clamp(t.rate)));
        }
        c
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

type Row = (
    String,
    i64,
    String,
    String,
    String,
    bool,
    i64,
    Option<String>,
    Option<bool>,
    Option<i64>,
    Option<i64>,
);

fn session_from(row: Row) -> (String, BoardSession) {
    let (instance, id, user, peer, protocol, tls, since, path, upload, bytes, rate) = row;
    let transfer = path.map(|path| BoardTransfer {
        path,
        upload: upload.unwrap_or(false),
        bytes: bytes.unwrap_or(0).max(0) as u64,
        rate: rate.unwrap_or(0).max(0) as u64,
    });
    let session = BoardSession {
        id: id.max(0) as u64,
        user,
        peer,
        protocol,
        tls,
        since,
        transfer,
    };
    (instance, session)
}

/// [`SessionBoard::publish`] for the instance `instance` (its lease id).
pub(super) async fn publish(
    pool: &sqlx::PgPool,
    instance: &str,
    sessions: &[BoardSession],
    fresh_for: Duration,
) -> Result<Vec<u64>, AccountError> {
    let c = Columns::of(sessions);
    let mut tx = pool.begin().await.map_err(backend)?;
    let marked = sqlx::query(
        "UPDATE wharf_instances SET sessions_fresh_until = now() + make_interval(secs => $2)
         WHERE id = $1",
    )
    .bind(instance)
    .bind(fresh_for.as_secs_f64())
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    if marked.rows_affected() == 0 {
        return Err(AccountError::Backend(
            "this instance's lease in the account store expired; restart wharfd".into(),
        ));
    }
    sqlx::query("DELETE FROM wharf_live_sessions WHERE instance = $1")
        .bind(instance)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    sqlx::query(
        "INSERT INTO wharf_live_sessions (instance, id, account, peer, protocol, tls, since,
             transfer_path, transfer_upload, transfer_bytes, transfer_rate)
         SELECT $1, * FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
             $6::BOOLEAN[], $7::BIGINT[], $8::TEXT[], $9::BOOLEAN[], $10::BIGINT[], $11::BIGINT[])",
    )
    .bind(instance)
    .bind(&c.id)
    .bind(&c.account)
    .bind(&c.peer)
    .bind(&c.protocol)
    .bind(&c.tls)
    .bind(&c.since)
    .bind(&c.path)
    .bind(&c.upload)
    .bind(&c.bytes)
    .bind(&c.rate)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    let kills: Vec<i64> =
        sqlx::query_scalar("DELETE FROM wharf_session_kills WHERE instance = $1 RETURNING id")
            .bind(instance)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
    tx.commit().await.map_err(backend)?;
    Ok(kills.into_iter().map(|id| id.max(0) as u64).collect())
}

pub(super) async fn others(
    pool: &sqlx::PgPool,
    instance: &str,
) -> Result<Vec<(String, BoardSession)>, AccountError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT s.instance, s.id, s.account, s.peer, s.protocol, s.tls, s.since,
                s.transfer_path, s.transfer_upload, s.transfer_bytes, s.transfer_rate
         FROM wharf_live_sessions s JOIN wharf_instances i ON i.id = s.instance
         WHERE s.instance <> $1 AND i.sessions_fresh_until > now()
         ORDER BY s.since, s.instance, s.id",
    )
    .bind(instance)
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    Ok(rows.into_iter().map(session_from).collect())
}

pub(super) async fn request_disconnect(
    pool: &sqlx::PgPool,
    instance: &str,
    id: u64,
) -> Result<bool, AccountError> {
    let asked = sqlx::query(
        "INSERT INTO wharf_session_kills (instance, id)
         SELECT s.instance, s.id FROM wharf_live_sessions s
         JOIN wharf_instances i ON i.id = s.instance
         WHERE s.instance = $1 AND s.id = $2 AND i.sessions_fresh_until > now()
         ON CONFLICT (instance, id) DO UPDATE SET id = EXCLUDED.id",
    )
    .bind(instance)
    .bind(clamp(id))
    .execute(pool)
    .await
    .map_err(backend)?;
    Ok(asked.rows_affected() > 0)
}
