//! Logging in and out of the console.

use super::common::{refused, CsrfForm};
use crate::auth;
use crate::console::html::{page, Frame};
use crate::console::Operator;
use crate::secret::Secret;
use crate::state::AdminState;
use axum::extract::{Form, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

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
<p><label for=\"code\">Code from your authenticator app (if two-factor login is on)</label><br>\
<input id=\"code\" name=\"code\" inputmode=\"numeric\" pattern=\"[0-9]{6}\" maxlength=\"6\" autocomplete=\"one-time-code\"></p>\
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
    password: Secret,
    #[serde(default)]
    code: Secret,
}

pub async fn login(
    State(state): State<AdminState>,
    parts: Parts,
    Form(f): Form<LoginForm>,
) -> Response {
    match auth::login(
        &state,
        &f.name,
        f.password.expose(),
        Some(f.code.expose()),
        auth::client_ip(&parts),
    )
    .await
    {
        Ok(session) => (
            [(header::SET_COOKIE, auth::cookie(&session.id, state.secure))],
            Redirect::to("/console/"),
        )
            .into_response(),
        Err(e) => login_page(e.status, Some(&e.message)),
    }
}

pub async fn logout(
    State(state): State<AdminState>,
    op: Operator,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(e) = op.caller.may_change(Some(f.csrf.expose())) {
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
