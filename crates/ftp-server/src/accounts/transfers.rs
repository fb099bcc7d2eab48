//! The transfer history an account store keeps for the admin console:
//! one [`TransferRecord`] per finished or failed transfer, whichever
//! instance and protocol moved it, searched with a [`TransferQuery`] and
//! summed per hour ([`HourTotals`]) for the dashboard's charts.
//!
//! [`TransferStore`] is what a store offers; [`transfer_queries!`] writes
//! it for both SQL stores with the same SQL text (`$N` placeholders, and
//! [`sqlx::QueryBuilder`] for the parts that depend on the query). The
//! server writes records in batches from one background task
//! ([`crate::history`]), never from a session.

use super::AccountError;
use async_trait::async_trait;

/// The most rows one [`TransferQuery`] returns.
pub const MAX_TRANSFER_PAGE: u32 = 500;

/// One transfer as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    /// When it ended, seconds since the Unix epoch.
    pub at: i64,
    /// The instance that served it.
    pub instance: String,
    pub account: String,
    /// `ftp`, `ftps` or `sftp`.
    pub protocol: String,
    /// The client's address.
    pub client: String,
    /// The virtual path.
    pub path: String,
    pub upload: bool,
    pub bytes: u64,
    pub millis: u64,
    /// Why it failed; `None` when it completed.
    pub error: Option<String>,
}

/// Which transfers to list, newest first; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferQuery {
    pub account: Option<String>,
    pub upload: Option<bool>,
    pub protocol: Option<String>,
    /// `Some(true)`: failed only; `Some(false)`: completed only.
    pub failed: Option<bool>,
    /// Paths starting with this.
    pub path_prefix: Option<String>,
    /// Ended at or after (Unix seconds).
    pub since: Option<i64>,
    /// Ended before (Unix seconds).
    pub until: Option<i64>,
    /// Older than the row with this id (the next page).
    pub before_id: Option<i64>,
    /// At most [`MAX_TRANSFER_PAGE`].
    pub limit: u32,
}

/// A transfer as listed, with its row id (for paging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTransfer {
    pub id: i64,
    pub record: TransferRecord,
}

/// What moved in one hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourTotals {
    /// The hour's start, seconds since the Unix epoch.
    pub hour: i64,
    pub uploads: u64,
    pub downloads: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub failed: u64,
}

/// The transfer history of an account store.
#[async_trait]
pub trait TransferStore: Send + Sync {
    /// Appends `records` in one transaction.
    async fn transfers_append(&self, records: &[TransferRecord]) -> Result<(), AccountError>;
    async fn transfers_list(&self, q: &TransferQuery) -> Result<Vec<ListedTransfer>, AccountError>;
    /// Totals for each hour from `since` on that saw a transfer, oldest
    /// first.
    async fn transfers_hourly(&self, since: i64) -> Result<Vec<HourTotals>, AccountError>;
    /// Forgets transfers that ended before `before`; returns how many.
    async fn transfers_prune(&self, before: i64) -> Result<u64, AccountError>;
}

/// The history's table, for the schema step of each store (`$ID` is the
/// store's auto-increment key type).
macro_rules! transfers_table {
    ($id:literal) => {
        concat!(
            "CREATE TABLE transfers (
                id ",
            $id,
            ",
                at BIGINT NOT NULL,
                instance TEXT NOT NULL,
                account TEXT NOT NULL,
                protocol TEXT NOT NULL,
                client TEXT NOT NULL,
                path TEXT NOT NULL,
                direction TEXT NOT NULL,
                bytes BIGINT NOT NULL,
                millis BIGINT NOT NULL,
                error TEXT
            );
            CREATE INDEX transfers_at ON transfers (at);
            CREATE INDEX transfers_account ON transfers (account, at);"
        )
    };
}
pub(super) use transfers_table;

/// The stored word for a direction.
pub(super) fn direction(upload: bool) -> &'static str {
    if upload {
        "upload"
    } else {
        "download"
    }
}

/// A stored row: (id, at, instance, account, protocol, client, path,
/// direction, bytes, millis, error).
pub(super) type Row = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
);

pub(super) fn listed(row: Row) -> ListedTransfer {
    let (id, at, instance, account, protocol, client, path, direction, bytes, millis, error) = row;
    ListedTransfer {
        id,
        record: TransferRecord {
            at,
            instance,
            account,
            protocol,
            client,
            path,
            upload: direction == "upload",
            bytes: bytes.max(0) as u64,
            millis: millis.max(0) as u64,
            error,
        },
    }
}

pub(super) const SELECT: &str = "SELECT id, at, instance, account, protocol, client, path, \
     direction, bytes, millis, error FROM transfers WHERE 1 = 1";

pub(super) const HOURLY: &str = "SELECT (at / 3600) * 3600 AS hour,
        CAST(SUM(CASE WHEN direction = 'upload' AND error IS NULL THEN 1 ELSE 0 END) AS BIGINT),
        CAST(SUM(CASE WHEN direction = 'download' AND error IS NULL THEN 1 ELSE 0 END) AS BIGINT),
        CAST(SUM(CASE WHEN direction = 'upload' THEN bytes ELSE 0 END) AS BIGINT),
        CAST(SUM(CASE WHEN direction = 'download' THEN bytes ELSE 0 END) AS BIGINT),
        CAST(SUM(CASE WHEN error IS NULL THEN 0 ELSE 1 END) AS BIGINT)
     FROM transfers WHERE at >= $1 GROUP BY (at / 3600) * 3600 ORDER BY hour";

pub(super) fn hour_from(
    (hour, uploads, downloads, bytes_in, bytes_out, failed): (i64, i64, i64, i64, i64, i64),
) -> HourTotals {
    let n = |v: i64| v.max(0) as u64;
    HourTotals {
        hour,
        uploads: n(uploads),
        downloads: n(downloads),
        bytes_in: n(bytes_in),
        bytes_out: n(bytes_out),
        failed: n(failed),
    }
}

pub(super) fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `LIKE` pattern matching what starts with `prefix` (`\` escapes).
pub(super) fn prefix_pattern(prefix: &str) -> String {
    let mut p = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Writes [`TransferStore`] for a store with a `pool` field of database
/// `$db` (`sqlx::Sqlite` or `sqlx::Postgres`).
macro_rules! transfer_queries {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::accounts::transfers::TransferStore for $store {
            async fn transfers_append(
                &self,
                records: &[$crate::accounts::transfers::TransferRecord],
            ) -> Result<(), AccountError> {
                use $crate::accounts::transfers::{clamp, direction};
                if records.is_empty() {
                    return Ok(());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO transfers (at, instance, account, protocol, client, path, \
                     direction, bytes, millis, error) ",
                );
                q.push_values(records, |mut b, r| {
                    b.push_bind(r.at)
                        .push_bind(r.instance.clone())
                        .push_bind(r.account.clone())
                        .push_bind(r.protocol.clone())
                        .push_bind(r.client.clone())
                        .push_bind(r.path.clone())
                        .push_bind(direction(r.upload))
                        .push_bind(clamp(r.bytes))
                        .push_bind(clamp(r.millis))
                        .push_bind(r.error.clone());
                });
                q.build()
                    .execute(&self.pool)
                    .await
                    .map(|_| ())
                    .map_err($crate::accounts::sql::backend)
            }

            async fn transfers_list(
                &self,
                query: &$crate::accounts::transfers::TransferQuery,
            ) -> Result<Vec<$crate::accounts::transfers::ListedTransfer>, AccountError> {
                use $crate::accounts::transfers::{direction, listed, prefix_pattern, Row, SELECT};
                let mut q = sqlx::QueryBuilder::<$db>::new(SELECT);
                if let Some(account) = &query.account {
                    q.push(" AND account = ").push_bind(account.clone());
                }
                if let Some(upload) = query.upload {
                    q.push(" AND direction = ").push_bind(direction(upload));
                }
                if let Some(protocol) = &query.protocol {
                    q.push(" AND protocol = ").push_bind(protocol.clone());
                }
                match query.failed {
                    Some(true) => {
                        q.push(" AND error IS NOT NULL");
                    }
                    Some(false) => {
                        q.push(" AND error IS NULL");
                    }
                    None => {}
                }
                if let Some(prefix) = &query.path_prefix {
                    q.push(" AND path LIKE ")
                        .push_bind(prefix_pattern(prefix))
                        .push(" ESCAPE '\\'");
                }
                if let Some(since) = query.since {
                    q.push(" AND at >= ").push_bind(since);
                }
                if let Some(until) = query.until {
                    q.push(" AND at < ").push_bind(until);
                }
                if let Some(before) = query.before_id {
                    q.push(" AND id < ").push_bind(before);
                }
                q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(
                    query
                        .limit
                        .min($crate::accounts::transfers::MAX_TRANSFER_PAGE),
                ));
                let rows: Vec<Row> = q
                    .build_query_as()
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::accounts::sql::backend)?;
                Ok(rows.into_iter().map(listed).collect())
            }

            async fn transfers_hourly(
                &self,
                since: i64,
            ) -> Result<Vec<$crate::accounts::transfers::HourTotals>, AccountError> {
                use $crate::accounts::transfers::{hour_from, HOURLY};
                let rows: Vec<(i64, i64, i64, i64, i64, i64)> = sqlx::query_as(HOURLY)
                    .bind(since)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::accounts::sql::backend)?;
                Ok(rows.into_iter().map(hour_from).collect())
            }

            async fn transfers_prune(&self, before: i64) -> Result<u64, AccountError> {
                sqlx::query("DELETE FROM transfers WHERE at < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await
                    .map(|done| done.rows_affected())
                    .map_err($crate::accounts::sql::backend)
            }
        }
    };
}
pub(super) use transfer_queries;

/// The checks both SQL stores pass.
#[cfg(test)]
pub(super) async fn exercise(store: &dyn TransferStore) {
    let record =
        |at: i64, account: &str, upload: bool, path: &str, error: Option<&str>| TransferRecord {
            at,
            instance: "i1".into(),
            account: account.into(),
            protocol: "ftp".into(),
            client: "127.0.0.1".into(),
            path: path.into(),
            upload,
            bytes: 1000,
            millis: 5,
            error: error.map(str::to_string),
        };
    store
        .transfers_append(&[
            record(3600, "ann", true, "/a_1%.bin", None),
            record(3700, "ann", false, "/a_1%.bin", None),
            record(7300, "bob", true, "/b.bin", Some("quota")),
            record(7400, "bob", true, "/a_1x.bin", None),
        ])
        .await
        .unwrap();
    let all = store
        .transfers_list(&TransferQuery {
            limit: 10,
            ..TransferQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].record.path, "/a_1x.bin", "newest first");
    assert_eq!(all[3].record, record(3600, "ann", true, "/a_1%.bin", None));
    let q = |f: fn(&mut TransferQuery)| {
        let mut q = TransferQuery {
            limit: 10,
            ..TransferQuery::default()
        };
        f(&mut q);
        q
    };
    let count = |q: TransferQuery| async move { store.transfers_list(&q).await.unwrap().len() };
    assert_eq!(count(q(|q| q.account = Some("bob".into()))).await, 2);
    assert_eq!(count(q(|q| q.upload = Some(false))).await, 1);
    assert_eq!(count(q(|q| q.failed = Some(true))).await, 1);
    assert_eq!(count(q(|q| q.failed = Some(false))).await, 3);
    assert_eq!(count(q(|q| q.protocol = Some("sftp".into()))).await, 0);
    // `%` and `_` in a prefix are themselves, not wildcards.
    assert_eq!(count(q(|q| q.path_prefix = Some("/a_1%".into()))).await, 2);
    assert_eq!(count(q(|q| q.since = Some(7300))).await, 2);
    assert_eq!(count(q(|q| q.until = Some(3700))).await, 1);
    let mut page = q(|q| q.limit = 3);
    assert_eq!(store.transfers_list(&page).await.unwrap().len(), 3);
    page.before_id = Some(all[2].id);
    assert_eq!(store.transfers_list(&page).await.unwrap()[0].id, all[3].id);

    let hours = store.transfers_hourly(0).await.unwrap();
    assert_eq!(
        hours,
        vec![
            HourTotals {
                hour: 3600,
                uploads: 1,
                downloads: 1,
                bytes_in: 1000,
                bytes_out: 1000,
                failed: 0
            },
            HourTotals {
                hour: 7200,
                uploads: 1,
                downloads: 0,
                bytes_in: 2000,
                bytes_out: 0,
                failed: 1
            },
        ]
    );
    assert_eq!(store.transfers_hourly(7200).await.unwrap().len(), 1);
    assert_eq!(store.transfers_prune(3701).await.unwrap(), 2);
    assert_eq!(count(q(|_| {})).await, 2);
}
