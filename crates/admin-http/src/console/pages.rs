//! The console's pages and forms. Each form posts to its own route, which
//! checks the CSRF field, runs the action and redirects back (303) with a
//! notice, so a reload never repeats it; a refusal is shown on a page
//! with the API's status code and message.

use super::html::{csrf_field, esc, page, seg, when, Frame};
use super::Operator;
use crate::actions::{self, show_quota, Update};
use crate::auth;
use crate::error::ApiError;
use crate::state::AdminState;
use axum::extract::{Form, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ftp_server::accounts::admin::AccountQuery;
use ftp_server::quota::size::format_size;
use serde::Deserialize;
use std::fmt::Write as _;

/// The notice a redirect carries.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
    #[serde(default)]
    q: String,
}

/// Back to `to` with `message` shown.
fn back(to: &str, message: &str) -> Response {
    Redirect::to(&format!("{to}?done={}", seg(message))).into_response()
}

/// A refusal as a page.
fn refused(state_pending: usize, op: &Operator, e: ApiError) -> Response {
    let frame = Frame {
        who: Some((&op.caller.admin, &op.csrf)),
        pending: state_pending,
        error: Some(&e.message),
        ..Frame::default()
    };
    page(
        e.status,
        "Not done",
        &frame,
        "<p><a href=\"/console/\">Back to the dashboard</a></p>",
    )
}

async fn pending_count(state: &AdminState) -> usize {
    actions::pending(state).await.map_or(0, |p| p.len())
}

/// Renders one console page for `op`, or the refusal.
async fn render(
    state: &AdminState,
    op: &Operator,
    title: &str,
    done: &Done,
    body: Result<String, ApiError>,
) -> Response {
    let pending = pending_count(state).await;
    match body {
        Ok(body) => {
            let frame = Frame {
                who: Some((&op.caller.admin, &op.csrf)),
                pending,
                notice: done.done.as_deref(),
                error: None,
            };
            page(StatusCode::OK, title, &frame, &body)
        }
        Err(e) => refused(pending, op, e),
    }
}

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    let frame = Frame {
        error,
        ..Frame::default()
    };
    page(
        status,
        "Log in",
        &frame,
        "<form method=\"post\" action=\"/console/login\">\
<p><label for=\"name\">Admin name</label><br><input id=\"name\" name=\"name\" autocomplete=\"username\" required></p>\
<p><label for=\"password\">Password</label><br><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\
<p><button type=\"submit\">Log in</button></p></form>",
    )
}

pub async fn login_form() -> Response {
    login_page(StatusCode::OK, None)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

pub async fn login(
    State(state): State<AdminState>,
    parts: Parts,
    Form(f): Form<LoginForm>,
) -> Response {
    match auth::login(&state, &f.name, &f.password, auth::client_ip(&parts)).await {
        Ok(session) => (
            [(header::SET_COOKIE, auth::cookie(&session.id, state.secure))],
            Redirect::to("/console/"),
        )
            .into_response(),
        Err(e) => login_page(e.status, Some(&e.message)),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AdminState>,
    op: Operator,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(e) = op.caller.may_change(Some(&f.csrf)) {
        return refused(0, &op, e);
    }
    if let Some(id) = &op.caller.session {
        state.logins.end(id);
    }
    (
        [(header::SET_COOKIE, auth::cookie("", state.secure))],
        Redirect::to("/console/login"),
    )
        .into_response()
}

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
<div class=\"card\"><strong>{}</strong><a href=\"/console/pending\">pending registrations</a></div>\
<div class=\"card\"><strong>{}</strong>accounts</div>\
<div class=\"card\"><strong>{}</strong>received</div>\
<div class=\"card\"><strong>{}</strong>sent</div>\
<div class=\"card\"><strong>{}</strong>health</div></div>",
            s.sessions,
            s.pending,
            s.accounts,
            format_size(s.bytes_in),
            format_size(s.bytes_out),
            if s.healthy { "ok" } else { "failing" }
        );
        out.push_str("<h2>Most space used</h2><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Account</th><th scope=\"col\">Used</th><th scope=\"col\">Quota</th></tr></thead><tbody>");
        for u in usage.iter().take(10) {
            let _ = write!(
                out,
                "<tr><td><a href=\"/console/accounts/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                seg(&u.name),
                esc(&u.name),
                format_size(u.used_bytes),
                show_quota(u.quota_bytes)
            );
        }
        out.push_str("</tbody></table></div>");
        Ok(out)
    }
    .await;
    render(&state, &op, "Dashboard", &done, body).await
}

pub async fn pending(
    State(state): State<AdminState>,
    op: Operator,
    Query(done): Query<Done>,
) -> Response {
    let body = actions::pending(&state).await.map(|list| {
        if list.is_empty() {
            return "<p>No registrations are waiting.</p>".to_string();
        }
        let mut out = String::from("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Registered (UTC)</th><th scope=\"col\">From</th><th scope=\"col\">Decision</th></tr></thead><tbody>");
        for a in list {
            let n = seg(&a.name);
            let _ = write!(
                out,
                "<tr><td>{name}</td><td>{at}</td><td>{from}</td><td>\
<form class=\"inline\" method=\"post\" action=\"/console/pending/{n}/approve\">{csrf}\
<label for=\"quota-{n}\">Quota</label><input id=\"quota-{n}\" name=\"quota\" size=\"6\" placeholder=\"{q}\">\
<button type=\"submit\">Approve {name}</button></form> \
<form class=\"inline\" method=\"post\" action=\"/console/pending/{n}/reject\">{csrf}\
<label for=\"reason-{n}\">Reason</label><input id=\"reason-{n}\" name=\"reason\" size=\"12\">\
<button type=\"submit\" class=\"danger\">Reject {name}</button></form></td></tr>",
                name = esc(&a.name),
                at = when(a.created_at),
                from = esc(a.registered_from.as_deref().unwrap_or("-")),
                csrf = csrf_field(&op.csrf),
                q = show_quota(a.quota_bytes),
            );
        }
        out.push_str("</tbody></table></div>");
        out
    });
    render(&state, &op, "Pending registrations", &done, body).await
}

#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    quota: String,
}

/// An empty field means "leave it".
fn given(text: &str) -> Option<&str> {
    let t = text.trim();
    (!t.is_empty()).then_some(t)
}

pub async fn approve(
    State(state): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
    Form(f): Form<ApproveForm>,
) -> Response {
    let done = async {
        op.caller.may_change(Some(&f.csrf))?;
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
    csrf: String,
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
        op.caller.may_change(Some(&f.csrf))?;
        actions::reject(&state, &op.caller, &name, f.reason.trim()).await
    }
    .await;
    match done {
        Ok(()) => back("/console/pending", &format!("rejected {name}")),
        Err(e) => refused(pending_count(&state).await, &op, e),
    }
}

pub async fn accounts(
    State(state): State<AdminState>,
    op: Operator,
    Query(done): Query<Done>,
) -> Response {
    let query = AccountQuery {
        name: done.q.clone(),
        limit: Some(actions::MAX_PAGE),
        ..AccountQuery::default()
    };
    let body = actions::list(&state, &query).await.map(|page| {
        let mut out = String::new();
        let _ = write!(
            out,
            "<form method=\"get\" action=\"/console/accounts\" role=\"search\">\
<label for=\"q\">Name contains</label><input id=\"q\" name=\"q\" value=\"{}\"> <button type=\"submit\">Search</button></form>\
<p>{} of {} accounts shown.</p><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Status</th><th scope=\"col\">Used</th><th scope=\"col\">Quota</th></tr></thead><tbody>",
            esc(&done.q),
            page.accounts.len(),
            page.total
        );
        for a in &page.accounts {
            let _ = write!(
                out,
                "<tr><td><a href=\"/console/accounts/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                seg(&a.name),
                esc(&a.name),
                a.status,
                format_size(a.used_bytes),
                show_quota(a.quota_bytes)
            );
        }
        let _ = write!(
            out,
            "</tbody></table></div><h2>New account</h2>\
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
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    quota: String,
}

pub async fn create(
    State(state): State<AdminState>,
    op: Operator,
    Form(f): Form<CreateForm>,
) -> Response {
    let done = async {
        op.caller.may_change(Some(&f.csrf))?;
        actions::create(&state, &op.caller, &f.name, &f.password, given(&f.quota)).await
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
    csrf: String,
    #[serde(default)]
    quota: String,
    #[serde(default)]
    password: String,
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
        password: (!f.password.is_empty()).then_some(f.password.as_str()),
        status: given(&f.status),
        policy: None,
    };
    let done = async {
        op.caller.may_change(Some(&f.csrf))?;
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

pub async fn audit(
    State(state): State<AdminState>,
    op: Operator,
    Query(done): Query<Done>,
) -> Response {
    let body = actions::audit_log(&state, 0, 200).await.map(|entries| {
        let mut out = String::from("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">When (UTC)</th><th scope=\"col\">Admin</th><th scope=\"col\">Action</th><th scope=\"col\">Target</th><th scope=\"col\">From</th></tr></thead><tbody>");
        for e in entries {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                when(e.at),
                esc(&e.admin),
                esc(&e.action),
                esc(&e.target),
                esc(&e.client)
            );
        }
        out.push_str("</tbody></table></div>");
        out
    });
    render(&state, &op, "Audit log", &done, body).await
}
