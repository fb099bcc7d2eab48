//! The pending-registrations queue: approve with a quota, reject with
//! a reason. The table is kept up to date without a reload by
//! `console/live.js` (rows keyed by name).

use super::common::{back, given, pending_count, refused, render, Done};
use crate::actions::{self, show_quota};
use crate::console::html::{csrf_field, esc, live_table, seg, when};
use crate::console::Operator;
use crate::secret::Secret;
use crate::state::AdminState;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

pub async fn pending(
    State(state): State<AdminState>,
    op: Operator,
    Query(done): Query<Done>,
) -> Response {
    let body = actions::pending(&state).await.map(|list| {
        let rows: Vec<(String, Vec<String>)> = list
            .iter()
            .map(|a| {
                let n = seg(&a.name);
                let name = esc(&a.name);
                let decision = format!(
                    "<form class=\"inline\" method=\"post\" action=\"/console/pending/{n}/approve\">{csrf}\
<label for=\"quota-{n}\">Quota</label><input id=\"quota-{n}\" name=\"quota\" size=\"6\" placeholder=\"{q}\">\
<button type=\"submit\">Approve {name}</button></form> \
<form class=\"inline\" method=\"post\" action=\"/console/pending/{n}/reject\">{csrf}\
<label for=\"reason-{n}\">Reason</label><input id=\"reason-{n}\" name=\"reason\" size=\"12\">\
<button type=\"submit\" class=\"danger\">Reject {name}</button></form>",
                    csrf = csrf_field(&op.csrf),
                    q = show_quota(a.quota_bytes),
                );
                let cells = vec![
                    name,
                    when(a.created_at),
                    esc(a.registered_from.as_deref().unwrap_or("-")),
                    decision,
                ];
                (a.name.clone(), cells)
            })
            .collect();
        // Both are always there, one hidden, so that live.js can add and
        // remove rows as registrations come and go.
        let hidden = if rows.is_empty() { "" } else { " hidden" };
        format!(
            "<p id=\"pending-empty\"{hidden}>No registrations are waiting.</p>{}\
<p>New registrations appear here as they arrive (with JavaScript; otherwise reload).</p>",
            live_table(
                "pending",
                &["Name", "Registered (UTC)", "From", "Decision"],
                &rows
            )
        )
    });
    render(&state, &op, "Pending registrations", &done, body).await
}

#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    #[serde(default)]
    csrf: Secret,
    #[serde(default)]
    quota: String,
}

pub async fn approve(
    State(state): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
    Form(f): Form<ApproveForm>,
) -> Response {
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        actions::approve(&state, &op.caller, &name, given(&f.quota)).await
    }
    .await;
    match done {
        Ok(a) => back(
            "/console/pending",
            &format!(
                "approved {} with a quota of {}",
                a.name,
                show_quota(a.quota_bytes)
            ),
        ),
        Err(e) => refused(pending_count(&state).await, &op, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    csrf: Secret,
    #[serde(default)]
    reason: String,
}

pub async fn reject(
    State(state): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
    Form(f): Form<RejectForm>,
) -> Response {
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        actions::reject(&state, &op.caller, &name, f.reason.trim()).await
    }
    .await;
    match done {
        Ok(()) => back("/console/pending", &format!("rejected {name}")),
        Err(e) => refused(pending_count(&state).await, &op, e),
    }
}
