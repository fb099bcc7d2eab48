//! [`ApiError`]: a refusal with its HTTP status, answered as
//! `{"error": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ftp_server::accounts::admin::AdminError;
use ftp_server::accounts::group_admin::GroupError;
use ftp_server::accounts::AccountError;
use ftp_server::folders::FolderError;

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

impl From<GroupError> for ApiError {
    fn from(e: GroupError) -> Self {
        match e {
            GroupError::Store(inner) => inner.into(),
            GroupError::Account(inner) => inner.into(),
            GroupError::BadName { .. } | GroupError::BadPolicy(_) => {
                ApiError::bad_request(e.to_string())
            }
            GroupError::HasMembers { .. } => ApiError::new(
                StatusCode::CONFLICT,
                format!("{e}; move them out first, or remove it with force"),
            ),
            GroupError::NotMember { .. } => ApiError::not_found(e.to_string()),
        }
    }
}

impl From<FolderError> for ApiError {
    fn from(e: FolderError) -> Self {
        match e {
            FolderError::Store(inner) => inner.into(),
            FolderError::BadName(..) | FolderError::RelativeDir(_) => {
                ApiError::bad_request(e.to_string())
            }
            FolderError::Exists(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            FolderError::NotFound(_) => ApiError::not_found(e.to_string()),
            FolderError::Mounted { .. } => ApiError::new(
                StatusCode::CONFLICT,
                format!("{e}; unmount it first, or remove it with force"),
            ),
            FolderError::Dir { .. } => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}
