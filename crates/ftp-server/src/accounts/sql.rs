//! What the two SQL account stores ([`super::sqlite`], [`super::postgres`])
//! share: how a database error and a missing row become an
//! [`AccountError`], the clamp of counters into SQL's signed integers, and
//! the one-account UPDATE/DELETE every setter runs, reading a stored
//! policy. Only the SQL text (its
//! placeholders and functions) differs between the engines.

use super::AccountError;
use crate::policy::Policy;

/// A database failure, as the account layer reports it.
pub(super) fn backend(err: sqlx::Error) -> AccountError {
    AccountError::Backend(err.to_string())
}

/// The stored policy text of `name` (`None`: no such account), read.
pub(super) fn policy_from(name: &str, text: Option<String>) -> Result<Policy, AccountError> {
    let text = text.ok_or_else(|| AccountError::NotFound(name.to_string()))?;
    Policy::from_text(&text).map_err(|e| {
        AccountError::Backend(format!("account {name:?} has an unreadable policy: {e}"))
    })
}

/// A change that touched no row named an account that does not exist.
pub(super) fn updated(name: &str, rows: u64) -> Result<(), AccountError> {
    if rows == 0 {
        Err(AccountError::NotFound(name.to_string()))
    } else {
        Ok(())
    }
}

/// A byte count as SQL's BIGINT holds it.
pub(super) fn clamp_i64(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// Runs `$sql` with the binds given, in order, on `$pool`, and answers
/// `$missing(name)` when no row changed: the body of every setter.
macro_rules! change_row {
    ($missing:path, $pool:expr, $name:expr, $sql:expr $(, $bind:expr)* $(,)?) => {{
        let done = sqlx::query($sql)
            $(.bind($bind))*
            .execute($pool)
            .await
            .map_err($crate::accounts::sql::backend)?;
        if done.rows_affected() == 0 {
            Err($missing($name.to_string()))
        } else {
            Ok(())
        }
    }};
}
pub(super) use change_row;

/// [`change_row!`] of one account.
macro_rules! change_account {
    ($pool:expr, $name:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        $crate::accounts::sql::change_row!(
            $crate::accounts::AccountError::NotFound, $pool, $name, $sql $(, $bind)*
        )
    };
}
pub(super) use change_account;
