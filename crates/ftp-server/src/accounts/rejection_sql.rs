//! The SQL of rejected registrations, the same text for both SQL stores
//! (`$N` placeholders): [`rejection_queries!`] writes
//! [`super::RejectionStore`] for a store with a `pool` field.
//!
//! Table (the schema step "registration outcomes" of each store):
//! `rejections` (name, password hash, reason, when, contact), one row per
//! name, rows older than [`super::REJECTION_KEPT_SECS`] forgotten at the
//! next rejection.

/// A stored row: (name, password_hash, reason, rejected_at, contact).
pub(super) type Row = (String, String, String, i64, Option<String>);

pub(super) fn rejection_from(row: Row) -> super::Rejection {
    let (name, password_hash, reason, rejected_at, contact) = row;
    super::Rejection {
        name,
        password_hash,
        reason,
        rejected_at,
        contact,
    }
}

macro_rules! rejection_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl super::RejectionStore for $store {
            async fn reject(&self, name: &str, reason: &str, at: i64) -> Result<(), AccountError> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                sqlx::query("DELETE FROM rejections WHERE name = $1 OR rejected_at < $2")
                    .bind(name)
                    .bind(at.saturating_sub(super::REJECTION_KEPT_SECS))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                let kept = sqlx::query(
                    "INSERT INTO rejections (name, password_hash, reason, rejected_at, contact)
                     SELECT name, password_hash, $1, $2, contact FROM accounts
                     WHERE name = $3 AND status = 'pending'",
                )
                .bind(reason)
                .bind(at)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                $crate::accounts::sql::updated(name, kept.rows_affected())?;
                sqlx::query("DELETE FROM accounts WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)
            }

            async fn rejection(
                &self,
                name: &str,
            ) -> Result<Option<super::Rejection>, AccountError> {
                let row: Option<super::rejection_sql::Row> = sqlx::query_as(
                    "SELECT name, password_hash, reason, rejected_at, contact
                     FROM rejections WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                Ok(row.map(super::rejection_sql::rejection_from))
            }
        }
    };
}
pub(super) use rejection_queries;
