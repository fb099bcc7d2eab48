//! Live sessions of every instance, with a disconnect button each.

use super::common::{back, pending_count, refused, render, Done};
use crate::actions;
use crate::console::html::{csrf_field, esc, table, when};
use crate::console::Operator;
use crate::secret::Secret;
use crate::state::AdminState;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use ftp_server::quota::size::format_size;
use serde::Deserialize;

pub async fn sessions(
    State(state): State<AdminState>,
    op: Operator,
    Query(done): Query<Done>,
) -> Response {
    let view = actions::sessions(&state).await;
    let list = view.sessions;
    let mut out = String::new();
    if let Some(why) = &view.unreachable {
        out.push_str(&format!(
            "<p class=\"error\" role=\"alert\">Other instances' sessions are missing: {}</p>",
            esc(why)
        ));
    }
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
<input type=\"hidden\" name=\"instance\" value=\"{instance}\">\
<button type=\"submit\" class=\"danger\">Disconnect {user} ({id})</button></form>",
                id = s.id,
                csrf = csrf_field(&op.csrf),
                instance = esc(&s.instance),
            );
            let instance = if s.local {
                format!("{} (this one)", esc(&s.instance))
            } else {
                esc(&s.instance)
            };
            rows.push(vec![
                user,
                instance,
                esc(&s.client),
                esc(&s.protocol),
                if s.tls { "yes" } else { "no" }.to_string(),
                when(s.since),
                transfer,
                action,
            ]);
        }
        out.push_str(&table(
            &[
                "Account",
                "Instance",
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

/// The disconnect form: its CSRF token and the session's instance.
#[derive(Debug, Deserialize)]
pub struct DisconnectForm {
    #[serde(default)]
    csrf: Secret,
    instance: Option<String>,
}

pub async fn disconnect(
    State(state): State<AdminState>,
    op: Operator,
    Path(id): Path<u64>,
    Form(f): Form<DisconnectForm>,
) -> Response {
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        actions::disconnect(&state, &op.caller, f.instance.as_deref(), id).await
    }
    .await;
    match done {
        Ok(()) => back("/console/sessions", &format!("disconnected session {id}")),
        Err(e) => refused(pending_count(&state).await, &op, e),
    }
}
