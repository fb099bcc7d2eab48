//! `GET /metrics` (Prometheus text, [`ftp_server::metrics::Metrics::render`])
//! and `GET /health` (JSON, 200 or 503). Neither needs a login: they
//! reveal counters only, and monitoring systems scrape them.

use crate::state::AdminState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

async fn health(State(state): State<AdminState>) -> impl IntoResponse {
    let (ok, body) = state.health.check().await;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}
