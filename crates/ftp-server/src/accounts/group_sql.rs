//! The SQL of account groups, the same text for both SQL stores (SQLite
//! reads `$N` placeholders as PostgreSQL does): [`group_queries!`] writes
//! [`super::GroupStore`] for a store with a `pool` field.
//!
//! Tables (the schema step "groups" of each store): `account_groups`
//! (name, policy text) and `account_group_members` (account, group,
//! position: the account's order of its groups), both cleared by
//! `ON DELETE CASCADE` when an account or a group goes.

use super::AccountError;
use crate::policy::{Group, Policy};

/// Stored group rows (name, policy text), read.
pub(super) fn groups_from(rows: Vec<(String, String)>) -> Result<Vec<Group>, AccountError> {
    rows.into_iter()
        .map(|(name, text)| {
            let policy = Policy::from_text(&text).map_err(|e| {
                AccountError::Backend(format!("group {name:?} has an unreadable policy: {e}"))
            })?;
            Ok(Group { name, policy })
        })
        .collect()
}

/// Returns `$missing(name)` from the enclosing function unless `$sql`
/// (a `SELECT name … WHERE name = $1`) finds the row named `name`.
macro_rules! require_row {
    ($ex:expr, $sql:expr, $name:expr, $missing:path) => {{
        let known: Option<String> = sqlx::query_scalar($sql)
            .bind($name)
            .fetch_optional($ex)
            .await
            .map_err(backend)?;
        if known.is_none() {
            return Err($missing($name.to_string()));
        }
    }};
}
pub(super) use require_row;

macro_rules! group_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl super::GroupStore for $store {
            async fn groups(&self) -> Result<Vec<$crate::policy::Group>, AccountError> {
                let rows: Vec<(String, String)> =
                    sqlx::query_as("SELECT name, policy FROM account_groups ORDER BY name")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                super::group_sql::groups_from(rows)
            }

            async fn create_group(&self, name: &str) -> Result<(), AccountError> {
                match sqlx::query("INSERT INTO account_groups (name, policy) VALUES ($1, '')")
                    .bind(name)
                    .execute(&self.pool)
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        Err(AccountError::GroupExists(name.to_string()))
                    }
                    Err(e) => Err(backend(e)),
                }
            }

            async fn remove_group(&self, name: &str) -> Result<(), AccountError> {
                $crate::accounts::sql::change_row!(
                    AccountError::NoGroup,
                    &self.pool,
                    name,
                    "DELETE FROM account_groups WHERE name = $1",
                    name,
                )
            }

            async fn set_group_policy(
                &self,
                name: &str,
                policy: &$crate::policy::Policy,
            ) -> Result<(), AccountError> {
                $crate::accounts::sql::change_row!(
                    AccountError::NoGroup,
                    &self.pool,
                    name,
                    "UPDATE account_groups SET policy = $1 WHERE name = $2",
                    policy.to_text(),
                    name,
                )
            }

            async fn member_of(
                &self,
                account: &str,
            ) -> Result<Vec<$crate::policy::Group>, AccountError> {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT g.name, g.policy FROM account_group_members m
                     JOIN account_groups g ON g.name = m.grp
                     WHERE m.account = $1 ORDER BY m.position",
                )
                .bind(account)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
                super::group_sql::groups_from(rows)
            }

            async fn set_member_of(
                &self,
                account: &str,
                groups: &[String],
            ) -> Result<(), AccountError> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                super::group_sql::require_row!(
                    &mut *tx,
                    "SELECT name FROM accounts WHERE name = $1",
                    account,
                    AccountError::NotFound
                );
                sqlx::query("DELETE FROM account_group_members WHERE account = $1")
                    .bind(account)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                for (position, group) in groups.iter().enumerate() {
                    super::group_sql::require_row!(
                        &mut *tx,
                        "SELECT name FROM account_groups WHERE name = $1",
                        group,
                        AccountError::NoGroup
                    );
                    sqlx::query(
                        "INSERT INTO account_group_members (account, grp, position)
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    )
                    .bind(account)
                    .bind(group)
                    .bind(i64::try_from(position).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
                tx.commit().await.map_err(backend)
            }

            async fn group_members(&self, group: &str) -> Result<Vec<String>, AccountError> {
                super::group_sql::require_row!(
                    &self.pool,
                    "SELECT name FROM account_groups WHERE name = $1",
                    group,
                    AccountError::NoGroup
                );
                sqlx::query_scalar(
                    "SELECT account FROM account_group_members WHERE grp = $1 ORDER BY account",
                )
                .bind(group)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)
            }
        }
    };
}
pub(super) use group_queries;

/// The schema step that adds groups, for both stores.
pub(super) const GROUPS_STEP: &str = "CREATE TABLE account_groups (
        name TEXT PRIMARY KEY NOT NULL,
        policy TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE account_group_members (
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        grp TEXT NOT NULL REFERENCES account_groups(name) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        PRIMARY KEY (account, grp)
    );
    CREATE INDEX account_group_members_grp ON account_group_members (grp);";

/// Groups in a store that holds the account `member` (and no groups):
/// the same checks for both SQL stores.
#[cfg(test)]
pub(super) async fn exercise(store: &dyn super::AccountStore, member: &str) {
    use crate::policy::PermSet;
    assert!(store.groups().await.unwrap().is_empty());
    store.create_group("staff").await.unwrap();
    store.create_group("drop").await.unwrap();
    assert!(matches!(
        store.create_group("staff").await,
        Err(AccountError::GroupExists(_))
    ));
    let mut p = Policy {
        permissions: Some(PermSet::READ_ONLY),
        ..Policy::default()
    };
    p.limits.max_sessions = Some(2);
    store.set_group_policy("staff", &p).await.unwrap();
    assert!(matches!(
        store.set_group_policy("nobody", &p).await,
        Err(AccountError::NoGroup(_))
    ));
    // Order is the account's, not the names'.
    let wanted = ["staff".to_string(), "drop".to_string()];
    store.set_member_of(member, &wanted).await.unwrap();
    let layers = store.layers(member).await.unwrap();
    let names: Vec<&str> = layers.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["staff", "drop"]);
    assert_eq!(layers.groups[0].policy, p);
    assert_eq!(store.group_members("staff").await.unwrap(), [member]);
    // An unknown group changes nothing.
    assert!(matches!(
        store.set_member_of(member, &["staff".into(), "ghost".into()]).await,
        Err(AccountError::NoGroup(g)) if g == "ghost"
    ));
    assert_eq!(store.member_of(member).await.unwrap().len(), 2);
    assert!(matches!(
        store.set_member_of("nobody", &wanted).await,
        Err(AccountError::NotFound(_))
    ));
    // Removing a group drops its memberships.
    store.remove_group("staff").await.unwrap();
    let left: Vec<String> = store
        .member_of(member)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(left, ["drop"]);
    assert!(matches!(
        store.group_members("staff").await,
        Err(AccountError::NoGroup(_))
    ));
    // Removing the account drops its memberships.
    store.remove(member).await.unwrap();
    assert!(store.group_members("drop").await.unwrap().is_empty());
    store.remove_group("drop").await.unwrap();
    assert!(matches!(
        store.remove_group("drop").await,
        Err(AccountError::NoGroup(_))
    ));
}
