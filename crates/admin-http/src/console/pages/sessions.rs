//! Live sessions, with a disconnect button each.

use super::common::{back, pending_count, refused, render, CsrfForm, Done};
use crate::actions;
use crate::console::html::{csrf_field, esc, when};
use crate::console::Operator;
use crate::state::AdminState;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use ftp_server::quota::size::format_size;
use std::fmt::Write as _;

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
        out.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Account</th><th scope=\"col\">From</th><th scope=\"col\">Protocol</th><th scope=\"col\">Encrypted</th><th scope=\"col\">Since (UTC)</th><th scope=\"col\">Transfer</th><th scope=\"col\">Action</th></tr></thead><tbody>");
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
            let _ = write!(
                out,
                "<tr><td>{user}</td><td>{from}</td><td>{proto}</td><td>{tls}</td><td>{since}</td><td>{transfer}</td><td>\
<form class=\"inline\" method=\"post\" action=\"/console/sessions/{id}/disconnect\">{csrf}\
<button type=\"submit\" class=\"danger\">Disconnect {user} ({id})</button></form></td></tr>",
                user = esc(&s.user),
                from = esc(&s.client),
                proto = s.protocol,
                tls = if s.tls { "yes" } else { "no" },
                since = when(s.since),
                id = s.id,
                csrf = csrf_field(&op.csrf),
            );
        }
        out.push_str("</tbody></table></div>");
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
        op.caller.may_change(Some(&f.csrf))?;
        actions::disconnect(&state, &op.caller, id).await
    }
    .await;
    match done {
        Ok(()) => back("/console/sessions", &format!("disconnected session {id}")),
        Err(e) => refused(pending_count(&state).await, &op, e),
    }
}
