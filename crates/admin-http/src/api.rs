//! The JSON admin API under `/api/`, documented in `docs/openapi.yaml`.
//! Reads need a caller ([`Caller`]); changes need a [`Writer`] (an
//! `admin` token, or a session cookie with its CSRF header). Bad input is
//! a 400 with `{"error": "..."}`, never a guess.

use crate::actions::{self, Update};
use crate::auth::{self, Caller, Writer};
use crate::error::ApiError;
use crate::secret::Secret;
use crate::state::AdminState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ftp_server::accounts::admin::AccountQuery;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/status", get(status))
        .route("/api/accounts", get(list).post(create))
        .route(
            "/api/accounts/{name}",
            get(show).patch(update).delete(remove),
        )
        .route("/api/registrations", get(pending))
        .route("/api/registrations/{name}/approve", post(approve))
        .route("/api/registrations/{name}/reject", post(reject))
        .route("/api/usage", get(usage))
        .route("/api/sessions", get(sessions))
        .route("/api/sessions/{id}", axum::routing::delete(disconnect))
        .route("/api/audit", get(audit))
}

/// A JSON body; a malformed one is a 400 saying why.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| Body(v))
            .map_err(|e: JsonRejection| {
                ApiError::bad_request(format!("bad JSON body: {}", e.body_text()))
            })
    }
}

/// Query parameters; malformed ones are a 400 saying why.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::bad_request(format!("bad query: {}", e.body_text()))
            })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    name: String,
    password: Secret,
    /// The TOTP code, for an admin with a second factor.
    code: Option<Secret>,
}

async fn login(
    State(state): State<AdminState>,
    parts: Parts,
    Body(body): Body<LoginBody>,
) -> Result<Response, ApiError> {
    let client = auth::client_ip(&parts);
    let code = body.code.as_ref().map(Secret::expose);
    let session = auth::login(&state, &body.name, body.password.expose(), code, client).await?;
    Ok((
        [(header::SET_COOKIE, auth::cookie(&session.id, state.secure))],
        Json(json!({ "admin": body.name, "csrf": session.csrf })),
    )
        .into_response())
}

async fn logout(State(state): State<AdminState>, Writer(who): Writer) -> Response {
    if let Some(id) = &who.session {
        state.logins.end(id);
    }
    (
        [(header::SET_COOKIE, auth::cookie("", state.secure))],
        StatusCode::NO_CONTENT,
    )
        .into_response()
}

async fn status(State(state): State<AdminState>, _: Caller) -> Result<Response, ApiError> {
    Ok(Json(actions::status(&state).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    #[serde(default)]
    q: String,
    status: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

async fn list(
    State(state): State<AdminState>,
    _: Caller,
    Params(p): Params<ListParams>,
) -> Result<Response, ApiError> {
    let query = AccountQuery {
        name: p.q,
        status: p
            .status
            .as_deref()
            .map(actions::account_status)
            .transpose()?,
        offset: p.offset,
        limit: Some(p.limit.unwrap_or(100)),
    };
    Ok(Json(actions::list(&state, &query).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    password: Secret,
    quota: Option<String>,
}

async fn create(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Body(b): Body<CreateBody>,
) -> Result<Response, ApiError> {
    let made = actions::create(
        &state,
        &who,
        &b.name,
        b.password.expose(),
        b.quota.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

async fn show(
    State(state): State<AdminState>,
    _: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(actions::show(&state, &name).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    quota: Option<String>,
    password: Option<Secret>,
    status: Option<String>,
    policy: Option<String>,
}

async fn update(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path(name): Path<String>,
    Body(b): Body<UpdateBody>,
) -> Result<Response, ApiError> {
    let change = Update {
        quota: b.quota.as_deref(),
        password: b.password.as_ref().map(Secret::expose),
        status: b.status.as_deref(),
        policy: b.policy.as_deref(),
    };
    Ok(Json(actions::update(&state, &who, &name, change).await?).into_response())
}

async fn remove(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    actions::remove(&state, &who, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pending(State(state): State<AdminState>, _: Caller) -> Result<Response, ApiError> {
    Ok(Json(json!({ "registrations": actions::pending(&state).await? })).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    quota: Option<String>,
}

async fn approve(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path(name): Path<String>,
    Body(b): Body<ApproveBody>,
) -> Result<Response, ApiError> {
    Ok(Json(actions::approve(&state, &who, &name, b.quota.as_deref()).await?).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    #[serde(default)]
    reason: String,
}

async fn reject(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path(name): Path<String>,
    Body(b): Body<RejectBody>,
) -> Result<StatusCode, ApiError> {
    actions::reject(&state, &who, &name, &b.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn usage(State(state): State<AdminState>, _: Caller) -> Result<Response, ApiError> {
    Ok(Json(json!({ "usage": actions::usage(&state).await? })).into_response())
}

async fn sessions(State(state): State<AdminState>, _: Caller) -> Response {
    Json(actions::sessions(&state).await).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisconnectParams {
    /// The instance holding the session; the answering one if absent.
    instance: Option<String>,
}

async fn disconnect(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path(id): Path<String>,
    Params(p): Params<DisconnectParams>,
) -> Result<StatusCode, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("bad session id {id:?}")))?;
    actions::disconnect(&state, &who, p.instance.as_deref(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    #[serde(default)]
    offset: u64,
    limit: Option<u64>,
}

async fn audit(
    State(state): State<AdminState>,
    _: Caller,
    Params(p): Params<AuditParams>,
) -> Result<Response, ApiError> {
    let entries = actions::audit_log(&state, p.offset, p.limit.unwrap_or(100)).await?;
    Ok(Json(json!({ "entries": entries })).into_response())
}
