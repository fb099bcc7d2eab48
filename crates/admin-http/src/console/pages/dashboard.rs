//! The dashboard (counts, the last day's transfers per hour, the
//! accounts using most space) and the audit log.

use super::common::{render, Done};
use crate::actions::{self, show_quota};
use crate::console::chart;
use crate::console::html::{esc, seg, table, when};
use crate::console::Operator;
use crate::state::AdminState;
use crate::transfers::per_hour;
use axum::extract::{Query, State};
use axum::response::Response;
use ftp_server::quota::size::format_size;
use std::fmt::Write as _;

pub async fn dashboard(
    State(state): State<AdminState>,
    op: Operator,
    Query(done): Query<Done>,
) -> Response {
    let body = async {
        let s = actions::status(&state).await?;
        let mut usage = actions::usage(&state).await?;
        usage.sort_by_key(|u| std::cmp::Reverse(u.used_bytes));
        let mut out = String::new();
        let _ = write!(
            out,
            "<div class=\"cards\">\
<div class=\"card\"><strong>{}</strong>sessions now</div>\
<div class=\"card\"><strong id=\"pending-count\">{}</strong><a href=\"/console/pending\">pending registrations</a></div>\
<div class=\"card\"><strong>{}</strong>accounts</div>\
<div class=\"card\"><strong>{}</strong>received</div>\
<div class=\"card\"><strong>{}</strong>sent</div>\
<div class=\"card\"><strong>{}</strong>health</div>{}</div>",
            s.sessions,
            s.pending,
            s.accounts,
            format_size(s.bytes_in),
            format_size(s.bytes_out),
            if s.healthy { "ok" } else { "failing" },
            s.disk.as_ref().map_or_else(String::new, |d| format!(
                "<div class=\"card\"><strong>{}</strong>free of {} on the data disk</div>",
                format_size(d.free_bytes),
                format_size(d.total_bytes)
            ))
        );
        let rows: Vec<Vec<String>> = usage
            .iter()
            .take(10)
            .map(|u| {
                vec![
                    format!(
                        "<a href=\"/console/accounts/{}\">{}</a>",
                        seg(&u.name),
                        esc(&u.name)
                    ),
                    format_size(u.used_bytes),
                    show_quota(u.quota_bytes),
                ]
            })
            .collect();
        out.push_str("<h2>The last 24 hours</h2>");
        out.push_str(&chart::hourly(&per_hour(&state, 24).await?));
        out.push_str("<p><a href=\"/console/transfers\">Every transfer</a></p>");
        out.push_str("<h2>Most space used</h2>");
        out.push_str(&table(&["Account", "Used", "Quota"], &rows));
        Ok(out)
    }
    .await;
    render(&state, &op, "Dashboard", &done, body).await
}

pub async fn audit(
    State(state): State<AdminState>,
    op: Operator,
    Query(done): Query<Done>,
) -> Response {
    let body = actions::audit_log(&state, 0, 200).await.map(|entries| {
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                vec![
                    when(e.at),
                    esc(&e.admin),
                    esc(&e.action),
                    esc(&e.target),
                    esc(&e.client),
                ]
            })
            .collect();
        table(&["When (UTC)", "Admin", "Action", "Target", "From"], &rows)
    });
    render(&state, &op, "Audit log", &done, body).await
}
