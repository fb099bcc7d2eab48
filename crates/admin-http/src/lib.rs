//! The admin HTTP server of `wharfd`: `/metrics` and `/health` for
//! monitoring, a JSON admin API under `/api/` and a server-rendered web
//! console under `/console/`, all on one axum router over hyper.
//!
//! The HTTP layer is thin: every change calls the same library function
//! the `wharfd users` commands call ([`ftp_server::accounts::admin`]), and
//! is written to the audit log ([`ftp_server::accounts::operators`]).
//!
//! # Layout
//! - [`server`]: the accept loop, plain or TLS.
//! - [`state`]: what every handler shares.
//! - [`auth`]: admin logins, cookie sessions with CSRF tokens, lockout,
//!   bearer tokens, and the [`auth::Caller`] extractor.
//! - [`error`]: [`error::ApiError`], every refusal as JSON.
//! - [`actions`]: the admin actions both front-ends run, each audited.
//! - [`api`]: the JSON routes.
//! - [`console`]: the HTML routes.
//! - [`monitor`]: `/metrics` and `/health`.

pub mod actions;
pub mod api;
pub mod auth;
pub mod console;
pub mod error;
pub mod monitor;
pub mod server;
pub mod state;

pub use server::serve;
pub use state::AdminState;

use axum::Router;

/// Every route: monitoring, the API and the console.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .merge(monitor::routes())
        .merge(api::routes())
        .merge(console::routes())
        .with_state(state)
}

/// Only `/metrics` and `/health` (for `--metrics-listen`).
pub fn monitor_router(state: AdminState) -> Router {
    monitor::routes().with_state(state)
}
