//! Accounts: search, create, and one account's page with its quota,
//! password and access forms.

use super::common::{back, given, pending_count, refused, render, Done};
use crate::actions::{self, show_quota, Update};
use crate::console::html::{csrf_field, esc, seg, table};
use crate::console::Operator;
use crate::secret::Secret;
use crate::state::AdminState;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use ftp_server::accounts::admin::AccountQuery;
use ftp_server::quota::size::format_size;
use serde::Deserialize;
use std::fmt::Write as _;

/// Accounts one console page lists.
const PAGE: usize = 50;

/// Links to the pages before and after the one at `offset`.
fn paging(q: &str, offset: usize, total: usize) -> String {
    let link = |at: usize, text: &str| {
        format!(
            "<a href=\"/console/accounts?q={}&amp;offset={at}\">{text}</a>",
            seg(q)
        )
    };
    let mut out = String::from("<nav aria-label=\"Pages\"><p>");
    if offset > 0 {
        out.push_str(&link(offset.saturating_sub(PAGE), "Previous page"));
        out.push(' ');
    }
    if offset + PAGE < total {
        out.push_str(&link(offset + PAGE, "Next page"));
    }
    out.push_str("</p></nav>");
    out
}

pub async fn accounts(
    State(state): State<AdminState>,
    op: Operator,
    Query(done): Query<Done>,
) -> Response {
    let query = AccountQuery {
        name: done.q.clone(),
        offset: done.offset,
        limit: Some(PAGE),
        ..AccountQuery::default()
    };
    let body = actions::list(&state, &query).await.map(|page| {
        let mut out = String::new();
        let _ = write!(
            out,
            "<form method=\"get\" action=\"/console/accounts\" role=\"search\">\
<label for=\"q\">Name contains</label><input id=\"q\" name=\"q\" value=\"{}\"> <button type=\"submit\">Search</button></form>\
<p>{} to {} of {} accounts.</p>",
            esc(&done.q),
            (done.offset + 1).min(page.total),
            done.offset + page.accounts.len(),
            page.total
        );
        let rows: Vec<Vec<String>> = page
            .accounts
            .iter()
            .map(|a| {
                vec![
                    format!(
                        "<a href=\"/console/accounts/{}\">{}</a>",
                        seg(&a.name),
                        esc(&a.name)
                    ),
                    a.status.to_string(),
                    format_size(a.used_bytes),
                    show_quota(a.quota_bytes),
                ]
            })
            .collect();
        out.push_str(&table(&["Name", "Status", "Used", "Quota"], &rows));
        out.push_str(&paging(&done.q, done.offset, page.total));
        let _ = write!(
            out,
            "<h2>New account</h2>\
<form method=\"post\" action=\"/console/accounts\">{}\
<p><label for=\"new-name\">Name</label><input id=\"new-name\" name=\"name\" required></p>\
<p><label for=\"new-password\">Password</label><input id=\"new-password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required></p>\
<p><label for=\"new-quota\">Quota</label><input id=\"new-quota\" name=\"quota\" placeholder=\"{}\"></p>\
<p><button type=\"submit\">Create account</button></p></form>",
            csrf_field(&op.csrf),
            show_quota(state.options.default_quota)
        );
        out
    });
    render(&state, &op, "Accounts", &done, body).await
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: Secret,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: Secret,
    #[serde(default)]
    quota: String,
}

pub async fn create(
    State(state): State<AdminState>,
    op: Operator,
    Form(f): Form<CreateForm>,
) -> Response {
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        actions::create(
            &state,
            &op.caller,
            &f.name,
            f.password.expose(),
            given(&f.quota),
        )
        .await
    }
    .await;
    match done {
        Ok(a) => back(
            &format!("/console/accounts/{}", seg(&a.name)),
            &format!("created {}", a.name),
        ),
        Err(e) => refused(pending_count(&state).await, &op, e),
    }
}

pub async fn account(
    State(state): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let body = actions::show(&state, &name).await.map(|d| {
        let a = &d.account;
        let n = seg(&a.name);
        let csrf = csrf_field(&op.csrf);
        let (toggle, label) = if a.status == "disabled" {
            ("active", "Enable")
        } else {
            ("disabled", "Disable")
        };
        format!(
            "<dl><dt>Status</dt><dd>{status}</dd><dt>Home</dt><dd>{home}</dd>\
<dt>Used</dt><dd>{used}</dd><dt>Quota</dt><dd>{quota}</dd>\
<dt>Own permissions and limits</dt><dd>{policy}</dd></dl>\
<h2>Quota</h2><form method=\"post\" action=\"/console/accounts/{n}\">{csrf}\
<label for=\"quota\">New quota (e.g. 500M, 2G, none)</label><input id=\"quota\" name=\"quota\" required>\
<button type=\"submit\">Set quota</button></form>\
<h2>Password</h2><form method=\"post\" action=\"/console/accounts/{n}\">{csrf}\
<label for=\"password\">New password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required>\
<button type=\"submit\">Reset password</button></form>\
<h2>Access</h2><form method=\"post\" action=\"/console/accounts/{n}\">{csrf}\
<input type=\"hidden\" name=\"status\" value=\"{toggle}\"><button type=\"submit\" class=\"danger\">{label} {name}</button></form>",
            status = a.status,
            home = esc(&a.home),
            used = format_size(a.used_bytes),
            quota = show_quota(a.quota_bytes),
            policy = if d.policy.is_empty() {
                "none (the server's defaults)".to_string()
            } else {
                esc(&d.policy)
            },
            name = esc(&a.name),
        )
    });
    render(&state, &op, &format!("Account {name}"), &done, body).await
}

#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    csrf: Secret,
    #[serde(default)]
    quota: String,
    #[serde(default)]
    password: Secret,
    #[serde(default)]
    status: String,
}

pub async fn update(
    State(state): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
    Form(f): Form<UpdateForm>,
) -> Response {
    let change = Update {
        quota: given(&f.quota),
        password: (!f.password.expose().is_empty()).then_some(f.password.expose()),
        status: given(&f.status),
        policy: None,
    };
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        actions::update(&state, &op.caller, &name, change).await
    }
    .await;
    match done {
        Ok(d) => back(
            &format!("/console/accounts/{}", seg(&name)),
            &format!(
                "{} is {} with a quota of {}",
                d.account.name,
                d.account.status,
                show_quota(d.account.quota_bytes)
            ),
        ),
        Err(e) => refused(pending_count(&state).await, &op, e),
    }
}
