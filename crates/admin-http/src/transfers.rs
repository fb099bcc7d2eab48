//! `/api/transfers` and `/api/transfers/hourly`: the transfer history
//! every instance records in the shared account store
//! ([`ftp_server::accounts::transfers`]), searched by account, direction,
//! protocol, outcome, path and time, paged by id; and per-hour totals,
//! every hour present (zero when nothing moved), for charts. The console's
//! transfers page and dashboard charts read the same functions.

use crate::api::Params;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AdminState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ftp_server::accounts::operators::unix_now;
use ftp_server::accounts::transfers::{
    HourTotals, ListedTransfer, TransferQuery, TransferStore, MAX_TRANSFER_PAGE,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The most hours one chart covers (30 days).
pub const MAX_HOURS: u32 = 720;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/transfers", get(list))
        .route("/api/transfers/hourly", get(hourly))
}

/// The filters, as the API's query and the console's form give them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    pub account: Option<String>,
    /// `upload` or `download`.
    pub direction: Option<String>,
    pub protocol: Option<String>,
    /// `ok` or `failed`.
    pub status: Option<String>,
    /// Paths starting with this.
    pub path: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// The `next` of the previous page.
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

/// An empty form field means "any".
fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

impl Filters {
    /// The store's query, or a 400 saying which filter is wrong.
    pub fn query(&self) -> Result<TransferQuery, ApiError> {
        let upload = match given(&self.direction).as_deref() {
            None => None,
            Some("upload") => Some(true),
            Some("download") => Some(false),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "direction {other:?}: say upload or download"
                )))
            }
        };
        let failed = match given(&self.status).as_deref() {
            None => None,
            Some("ok") => Some(false),
            Some("failed") => Some(true),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "status {other:?}: say ok or failed"
                )))
            }
        };
        let limit = self.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_TRANSFER_PAGE {
            return Err(ApiError::bad_request(format!(
                "limit {limit}: give 1 to {MAX_TRANSFER_PAGE}"
            )));
        }
        Ok(TransferQuery {
            account: given(&self.account),
            upload,
            protocol: given(&self.protocol),
            failed,
            path_prefix: given(&self.path),
            since: self.since,
            until: self.until,
            before_id: self.before,
            limit,
        })
    }
}

/// A transfer as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TransferView {
    pub id: i64,
    /// When it ended, Unix seconds.
    pub at: i64,
    pub instance: String,
    pub account: String,
    pub protocol: String,
    pub client: String,
    pub path: String,
    pub direction: &'static str,
    pub bytes: u64,
    pub millis: u64,
    /// Why it failed; `null` when it completed.
    pub error: Option<String>,
}

impl From<ListedTransfer> for TransferView {
    fn from(t: ListedTransfer) -> Self {
        let r = t.record;
        TransferView {
            id: t.id,
            at: r.at,
            instance: r.instance,
            account: r.account,
            protocol: r.protocol,
            client: r.client,
            path: r.path,
            direction: if r.upload { "upload" } else { "download" },
            bytes: r.bytes,
            millis: r.millis,
            error: r.error,
        }
    }
}

/// A page of transfers, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct TransferPage {
    pub transfers: Vec<TransferView>,
    /// `before` for the next (older) page; `null` on the last one.
    pub next: Option<i64>,
}

fn history(state: &AdminState) -> Result<&dyn TransferStore, ApiError> {
    state
        .store
        .transfers()
        .ok_or_else(|| ApiError::unavailable("this account store keeps no transfer history"))
}

/// The transfers `filters` select.
pub async fn search(state: &AdminState, filters: &Filters) -> Result<TransferPage, ApiError> {
    let query = filters.query()?;
    let found = history(state)?.transfers_list(&query).await?;
    let full = found.len() == query.limit as usize;
    let next = found.last().filter(|_| full).map(|t| t.id);
    Ok(TransferPage {
        transfers: found.into_iter().map(TransferView::from).collect(),
        next,
    })
}

/// Totals for each of the last `hours` hours (the current one last),
/// zero where nothing moved.
pub async fn per_hour(state: &AdminState, hours: u32) -> Result<Vec<HourTotals>, ApiError> {
    if hours == 0 || hours > MAX_HOURS {
        return Err(ApiError::bad_request(format!(
            "hours {hours}: give 1 to {MAX_HOURS}"
        )));
    }
    let current = unix_now() / 3600 * 3600;
    let first = current - (i64::from(hours) - 1) * 3600;
    let found = history(state)?.transfers_hourly(first).await?;
    Ok(fill_hours(first, hours, &found))
}

/// `hours` consecutive hours from `first`, with `found`'s totals where
/// it has them.
fn fill_hours(first: i64, hours: u32, found: &[HourTotals]) -> Vec<HourTotals> {
    (0..i64::from(hours))
        .map(|i| {
            let hour = first + i * 3600;
            found
                .iter()
                .find(|t| t.hour == hour)
                .copied()
                .unwrap_or(HourTotals {
                    hour,
                    ..HourTotals::default()
                })
        })
        .collect()
}

async fn list(
    State(state): State<AdminState>,
    _: Caller,
    Params(filters): Params<Filters>,
) -> Result<Response, ApiError> {
    Ok(Json(search(&state, &filters).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HourParams {
    hours: Option<u32>,
}

async fn hourly(
    State(state): State<AdminState>,
    _: Caller,
    Params(p): Params<HourParams>,
) -> Result<Response, ApiError> {
    let hours: Vec<_> = per_hour(&state, p.hours.unwrap_or(24))
        .await?
        .into_iter()
        .map(|h| {
            json!({
                "hour": h.hour,
                "uploads": h.uploads,
                "downloads": h.downloads,
                "bytes_in": h.bytes_in,
                "bytes_out": h.bytes_out,
                "failed": h.failed,
            })
        })
        .collect();
    Ok(Json(json!({ "hours": hours })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_say_what_is_wrong() {
        let bad = |f: Filters| f.query().unwrap_err().message;
        assert!(bad(Filters {
            direction: Some("sideways".into()),
            ..Filters::default()
        })
        .contains("upload or download"));
        assert!(bad(Filters {
            status: Some("maybe".into()),
            ..Filters::default()
        })
        .contains("ok or failed"));
        assert!(bad(Filters {
            limit: Some(501),
            ..Filters::default()
        })
        .contains("1 to 500"));
        // Empty form fields mean "any".
        let q = Filters {
            account: Some(" ".into()),
            direction: Some(String::new()),
            status: Some("failed".into()),
            ..Filters::default()
        }
        .query()
        .unwrap();
        assert_eq!(
            (q.account, q.upload, q.failed, q.limit),
            (None, None, Some(true), 100)
        );
    }

    #[test]
    fn every_hour_is_present() {
        let found = [HourTotals {
            hour: 7200,
            uploads: 3,
            ..HourTotals::default()
        }];
        let filled = fill_hours(3600, 3, &found);
        let hours: Vec<i64> = filled.iter().map(|h| h.hour).collect();
        assert_eq!(hours, vec![3600, 7200, 10800]);
        assert_eq!(
            filled.iter().map(|h| h.uploads).collect::<Vec<_>>(),
            vec![0, 3, 0]
        );
    }
}
