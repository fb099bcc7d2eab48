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
//! - [`second_factor`]: the TOTP code an admin with it on must give.
//! - [`secret`]: [`secret::Secret`], passwords and tokens that `Debug` hides.
//! - [`actions`]: the admin actions both front-ends run, each audited.
//! - [`api`]: the JSON routes.
//! - [`groups`], [`folders`]: groups and shared folders, their JSON routes
//!   and the actions the console shares.
//! - [`transfers`]: the transfer history and its per-hour totals.
//! - [`console`]: the HTML routes.
//! - [`monitor`]: `/metrics` and `/health`.
//! - [`public`]: the public registration page (off unless configured).

pub mod actions;
pub mod api;
pub mod auth;
pub mod console;
pub mod error;
pub mod folders;
pub mod groups;
pub mod monitor;
pub mod public;
pub mod second_factor;
pub mod secret;
pub mod server;
pub mod state;
pub mod transfers;

pub use server::serve;
pub use state::AdminState;

use axum::Router;

/// Every route: monitoring, the API and the console.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .merge(monitor::routes())
        .merge(api::routes())
        .merge(groups::routes())
        .merge(folders::routes())
        .merge(transfers::routes())
        .merge(console::routes())
        .merge(public::routes())
        .with_state(state)
}

/// Only `/metrics` and `/health` (for `--metrics-listen`).
pub fn monitor_router(state: AdminState) -> Router {
    monitor::routes().with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use ftp_server::accounts::SqliteStore;
    use ftp_server::metrics::{Health, Metrics};
    use ftp_server::ServerOptions;
    use std::sync::Arc;
    use tower::ServiceExt as _;

    async fn state(dir: &std::path::Path) -> AdminState {
        let store: Arc<dyn ftp_server::accounts::AccountStore> =
            Arc::new(SqliteStore::open(&dir.join("w.db")).await.unwrap());
        let metrics = Arc::new(Metrics::default());
        AdminState {
            store: store.clone(),
            options: Arc::new(ServerOptions::new(dir.to_path_buf())),
            metrics: metrics.clone(),
            health: Arc::new(Health::default()),
            cluster: Arc::new(ftp_server::cluster::Cluster::new(
                Arc::default(),
                store.clone(),
            )),
            events: ftp_server::events::Events::running(Vec::new(), metrics, None),
            logins: Arc::default(),
            secure: false,
            registration: None,
        }
    }

    async fn get(router: Router, path: &str) -> (StatusCode, String, Vec<u8>) {
        let req = Request::get(path).body(Body::empty()).unwrap();
        let resp = router.oneshot(req).await.unwrap();
        let status = resp.status();
        let kind = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, kind, body.to_vec())
    }

    #[tokio::test]
    async fn metrics_are_the_renderers_text_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path()).await;
        state.metrics.reply(550);
        state.metrics.transfer(false, true, 1234);
        let want = state.metrics.render();
        for router in [router(state.clone()), monitor_router(state.clone())] {
            let (status, kind, body) = get(router, "/metrics").await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(kind, "text/plain; version=0.0.4");
            assert_eq!(body, want.as_bytes());
        }
        let (status, _, _) = get(monitor_router(state), "/api/status").await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "the metrics listener serves no API"
        );
    }

    #[tokio::test]
    async fn the_api_answers_401_as_json_and_the_console_sends_to_login() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path()).await;
        let (status, kind, body) = get(router(state.clone()), "/api/accounts").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(kind, "application/json");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(json["error"].as_str().unwrap().contains("log in"), "{json}");
        let req = Request::get("/console/accounts")
            .body(Body::empty())
            .unwrap();
        let resp = router(state).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()["location"], "/console/login");
    }
}
