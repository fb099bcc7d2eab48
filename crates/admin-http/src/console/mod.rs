//! The web console under `/console/`: server-rendered HTML, embedded in
//! the binary, with plain forms that work without JavaScript. Pages need
//! a console login (the session cookie); every form that changes
//! something carries the session's CSRF token in a hidden `csrf` field,
//! and runs the same [`crate::actions`] as the API.
//!
//! # Layout
//! - [`html`]: escaping and the page frame (viewport, CSS, navigation).
//! - [`chart`]: the per-hour bar charts, as inline SVG.
//! - [`pages`]: the handlers, one module per page with its forms.
//! - `live.js`: the one script, embedded: the pending badge and queue
//!   updated without a reload (pages work without it).

pub mod chart;
pub mod html;
pub mod pages;

use crate::auth::{self, Caller};
use crate::state::AdminState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use ftp_server::accounts::operators::Scope;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/login", get(pages::login_form).post(pages::login))
        .route("/console/logout", post(pages::logout))
        .route("/console/live.js", get(live_js))
        .route("/console/", get(pages::dashboard))
        .route("/console/pending", get(pages::pending))
        .route("/console/pending/{name}/approve", post(pages::approve))
        .route("/console/pending/{name}/reject", post(pages::reject))
        .route(
            "/console/accounts",
            get(pages::accounts).post(pages::create),
        )
        .route(
            "/console/accounts/{name}",
            get(pages::account).post(pages::update),
        )
        .route("/console/sessions", get(pages::sessions))
        .route("/console/sessions/{id}/disconnect", post(pages::disconnect))
        .route(
            "/console/groups",
            get(pages::groups).post(pages::group_forms::create_group),
        )
        .route("/console/groups/{name}", get(pages::group))
        .route(
            "/console/groups/{name}/policy",
            post(pages::group_forms::set_policy),
        )
        .route(
            "/console/groups/{name}/members",
            post(pages::group_forms::add_member),
        )
        .route(
            "/console/groups/{name}/members/{account}/remove",
            post(pages::group_forms::remove_member),
        )
        .route(
            "/console/groups/{name}/remove",
            post(pages::group_forms::remove_group),
        )
        .route("/console/folders", post(pages::folder_forms::add_folder))
        .route(
            "/console/folders/{name}/quota",
            post(pages::folder_forms::set_quota),
        )
        .route(
            "/console/folders/{name}/remove",
            post(pages::folder_forms::remove_folder),
        )
        .route("/console/transfers", get(pages::transfers))
        .route("/console/audit", get(pages::audit))
}

/// The script that keeps the pending badge and queue up to date (no
/// secrets in it, so it needs no login).
const LIVE_JS: &str = include_str!("live.js");

async fn live_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        LIVE_JS,
    )
        .into_response()
}

/// A logged-in console user; anyone else is sent to the login page.
#[derive(Clone)]
pub struct Operator {
    pub caller: Caller,
    pub csrf: String,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

impl FromRequestParts<AdminState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/console/login").into_response();
        let id = auth::session_id(parts).ok_or_else(to_login)?;
        let (admin, csrf) = state.logins.session(&id).ok_or_else(to_login)?;
        Ok(Operator {
            caller: Caller {
                admin,
                scope: Scope::Admin,
                csrf: Some(csrf.clone()),
                session: Some(id),
                client: auth::client_ip(parts),
            },
            csrf,
        })
    }
}
