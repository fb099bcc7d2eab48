//! [`ApiError`]: a refusal with its HTTP status, answered as
//! `{"error": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ftp_server::accounts::admin::AdminError;
use ftp_server::accounts::AccountError;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "log in first (POST /api/login) or send Authorization: Bearer TOKEN",
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        (self.status, Json(body)).into_response()
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::NotFound(_) | AccountError::NoGroup(_) => {
                ApiError::not_found(e.to_string())
            }
            AccountError::Exists(_) | AccountError::GroupExists(_) => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
            AccountError::Backend(_) => {
                tracing::error!(error = %e, "admin API: account store failed");
                ApiError::unavailable(e.to_string())
            }
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Store(inner) => inner.into(),
            AdminError::NotFound(_) => ApiError::not_found(e.to_string()),
            AdminError::Exists(_)
            | AdminError::HomeInUse { .. }
            | AdminError::NotPending { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            AdminError::BadName { .. }
            | AdminError::EmptyPassword
            | AdminError::PasswordTooLong => ApiError::bad_request(e.to_string()),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
}
