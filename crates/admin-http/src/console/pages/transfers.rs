//! Transfer history: every instance's finished and failed transfers,
//! filtered by a plain GET form (so a filtered view is a link to share),
//! newest first, a page at a time.

use super::common::{render, Done};
use crate::console::html::{esc, seg, table, when};
use crate::console::Operator;
use crate::state::AdminState;
use crate::transfers::{search, Filters};
use axum::extract::{Query, State};
use axum::response::Response;
use ftp_server::quota::size::format_size;
use std::fmt::Write as _;

/// Transfers one page lists.
const PAGE: u32 = 100;

/// A `<select>` of `options` (value, label) named `name`, `current` chosen.
fn select(name: &str, label: &str, options: &[(&str, &str)], current: Option<&str>) -> String {
    let mut out =
        format!("<label for=\"f-{name}\">{label}</label><select id=\"f-{name}\" name=\"{name}\">");
    for (value, text) in options {
        let chosen = if current.unwrap_or("") == *value {
            " selected"
        } else {
            ""
        };
        let _ = write!(out, "<option value=\"{value}\"{chosen}>{text}</option>");
    }
    out.push_str("</select> ");
    out
}

/// The filter form, filled in with `f`.
fn form(f: &Filters) -> String {
    let text = |name: &str, label: &str, value: &Option<String>| {
        format!(
            "<label for=\"f-{name}\">{label}</label><input id=\"f-{name}\" name=\"{name}\" value=\"{}\"> ",
            esc(value.as_deref().unwrap_or(""))
        )
    };
    let mut out = String::from(
        "<form method=\"get\" action=\"/console/transfers\" role=\"search\" aria-label=\"Filter transfers\"><p>",
    );
    out.push_str(&text("account", "Account", &f.account));
    out.push_str(&text("path", "Path starts with", &f.path));
    out.push_str(&select(
        "direction",
        "Direction",
        &[
            ("", "any"),
            ("upload", "uploads"),
            ("download", "downloads"),
        ],
        f.direction.as_deref(),
    ));
    out.push_str(&select(
        "protocol",
        "Protocol",
        &[
            ("", "any"),
            ("ftp", "FTP"),
            ("ftps", "FTPS"),
            ("sftp", "SFTP"),
        ],
        f.protocol.as_deref(),
    ));
    out.push_str(&select(
        "status",
        "Outcome",
        &[("", "any"), ("ok", "completed"), ("failed", "failed")],
        f.status.as_deref(),
    ));
    out.push_str("<button type=\"submit\">Filter</button></p></form>");
    out
}

/// The link to the page after this one: the same filters, older rows.
fn older(f: &Filters, before: i64) -> String {
    let mut query = format!("before={before}");
    for (name, value) in [
        ("account", &f.account),
        ("path", &f.path),
        ("direction", &f.direction),
        ("protocol", &f.protocol),
        ("status", &f.status),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            let _ = write!(query, "&amp;{name}={}", seg(v));
        }
    }
    format!("<nav aria-label=\"Pages\"><p><a href=\"/console/transfers?{query}\">Older transfers</a></p></nav>")
}

pub async fn transfers(
    State(state): State<AdminState>,
    op: Operator,
    Query(mut filters): Query<Filters>,
) -> Response {
    filters.limit = Some(PAGE);
    let body = search(&state, &filters).await.map(|page| {
        let mut out = form(&filters);
        if page.transfers.is_empty() {
            out.push_str("<p>No transfers match.</p>");
        }
        let rows: Vec<Vec<String>> = page
            .transfers
            .iter()
            .map(|t| {
                let secs = (t.millis as f64 / 1000.0).max(0.001);
                vec![
                    when(t.at),
                    format!(
                        "<a href=\"/console/accounts/{}\">{}</a>",
                        seg(&t.account),
                        esc(&t.account)
                    ),
                    t.direction.to_string(),
                    esc(&t.path),
                    format_size(t.bytes),
                    format!("{}/s", format_size((t.bytes as f64 / secs) as u64)),
                    esc(&t.protocol),
                    esc(&t.client),
                    esc(&t.instance),
                    t.error.as_deref().map_or_else(
                        || "completed".to_string(),
                        |e| format!("failed: {}", esc(e)),
                    ),
                ]
            })
            .collect();
        if !rows.is_empty() {
            out.push_str(&table(
                &[
                    "Ended (UTC)",
                    "Account",
                    "Direction",
                    "Path",
                    "Size",
                    "Rate",
                    "Protocol",
                    "Client",
                    "Instance",
                    "Outcome",
                ],
                &rows,
            ));
        }
        if let Some(before) = page.next {
            out.push_str(&older(&filters, before));
        }
        out
    });
    render(&state, &op, "Transfers", &Done::default(), body).await
}
