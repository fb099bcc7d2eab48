//! Live sessions, with a disconnect button each.

use super::common::{back, pending_count, refused, render, CsrfForm, Done};
use crate::actions;
use crate::console::html::{csrf_field, esc, table, when};
use crate::console::Operator;
use crate::state::AdminState;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use ftp_server::quota::size::format_size;

pub async fn sessions(
    State(state): State<AdminState>,
    op: Operator,
    Query(done): Query<Done>,
) -> Response {
    let list = actions::sessions(&state);
    let mut out = String::new();
    if list.is_empty() {
        out.push_str("<p>No one is logged in.</p>");
    } else {
        let mut rows = Vec::with_capacity(list.len());
        for s in list {
            let transfer = s.transfer.as_ref().map_or_else(
                || "-".to_string(),
                |t| {
                    format!(
                        "{} {}: {} at {}/s",
                        t.direction,
                        esc(&t.path),
                        format_size(t.bytes),
                        format_size(t.bytes_per_second)
                    )
                },
            );
            let user = esc(&s.user);
            let action = format!(
                "<form class=\"inline\" method=\"post\" action=\"/console/sessions/{id}/disconnect\">{csrf}\
<button type=\"submit\" class=\"danger\">Disconnect {user} ({id})</button></form>",
                id = s.id,
                csrf = csrf_field(&op.csrf),
            );
            rows.push(vec![
                user,
                esc(&s.client),
                s.protocol.to_string(),
                if s.tls { "yes" } else { "no" }.to_string(),
                when(s.since),
                transfer,
                action,
            ]);
        }
        out.push_str(&table(
            &[
                "Account",
                "From",
                "Protocol",
                "Encrypted",
                "Since (UTC)",
                "Transfer",
                "Action",
            ],
            &rows,
        ));
    }
    render(&state, &op, "Live sessions", &done, Ok(out)).await
}

pub async fn disconnect(
    State(state): State<AdminState>,
    op: Operator,
    Path(id): Path<u64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        actions::disconnect(&state, &op.caller, id).await
    }
    .await;
    match done {
        Ok(()) => back("/console/sessions", &format!("disconnected session {id}")),
        Err(e) => refused(pending_count(&state).await, &op, e),
    }
}
