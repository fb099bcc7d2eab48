//! placeholder
use crate::state::AdminState;
use axum::Router;
pub fn routes() -> Router<AdminState> {
    Router::new()
}
