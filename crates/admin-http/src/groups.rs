//! `/api/groups`, `/api/accounts/{name}/groups` and `/api/folders`: groups
//! of accounts (their policies and members) and the shared folders, on the
//! same library calls as `wharfd groups`, `wharfd users groups` and
//! `wharfd folders`. Changes take effect as the CLI's do: running sessions
//! see a group's policy within a second, a membership at once.

use crate::actions::audit;
use crate::api::Body;
use crate::auth::{Caller, Writer};
use crate::error::ApiError;
use crate::state::AdminState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use ftp_server::accounts::{validate_name, AccountError, AccountStore};
use ftp_server::folders;
use ftp_server::policy::Policy;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/groups", get(list_groups))
        .route(
            "/api/groups/{name}",
            get(show_group).put(put_group).delete(remove_group),
        )
        .route("/api/accounts/{name}/groups", put(set_groups))
        .route("/api/folders", get(list_folders))
}

/// A group as the API and the console show it.
#[derive(Debug, Serialize)]
pub struct GroupView {
    pub name: String,
    /// The stored policy text (as `PATCH /api/accounts/{name}` takes it).
    pub policy: String,
    pub members: Vec<String>,
}

/// A shared folder as the API and the console show it.
#[derive(Debug, Serialize)]
pub struct FolderView {
    pub name: String,
    pub dir: String,
    pub quota_bytes: Option<u64>,
    pub used_bytes: u64,
}

/// Every group, by name.
pub async fn all_groups(store: &dyn AccountStore) -> Result<Vec<GroupView>, ApiError> {
    let mut groups = Vec::new();
    for g in store.groups().await? {
        groups.push(view(store, &g.name).await?);
    }
    Ok(groups)
}

/// Every shared folder, by name.
pub async fn all_folders(store: &dyn AccountStore) -> Result<Vec<FolderView>, ApiError> {
    let all = folders::list(store)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(all
        .into_iter()
        .map(|f| FolderView {
            name: f.name,
            dir: f.dir.display().to_string(),
            quota_bytes: f.quota,
            used_bytes: f.used,
        })
        .collect())
}

async fn view(store: &dyn AccountStore, name: &str) -> Result<GroupView, ApiError> {
    let group = store
        .groups()
        .await?
        .into_iter()
        .find(|g| g.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no group named {name:?}")))?;
    Ok(GroupView {
        members: store.group_members(name).await?,
        policy: group.policy.to_text(),
        name: group.name,
    })
}

async fn list_groups(State(state): State<AdminState>, _: Caller) -> Result<Response, ApiError> {
    let groups = all_groups(state.store.as_ref()).await?;
    Ok(Json(json!({ "groups": groups })).into_response())
}

async fn show_group(
    State(state): State<AdminState>,
    _: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(view(state.store.as_ref(), &name).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    /// The policy text; absent leaves it as it is (a new group: empty).
    policy: Option<String>,
}

/// Creates the group if it does not exist, and sets its policy if given.
async fn put_group(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path(name): Path<String>,
    Body(body): Body<GroupBody>,
) -> Result<Response, ApiError> {
    validate_name(&name).map_err(|e| ApiError::bad_request(format!("group name {name:?}: {e}")))?;
    let policy = body
        .policy
        .as_deref()
        .map(Policy::from_text)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("policy: {e}")))?;
    let created = match state.store.create_group(&name).await {
        Ok(()) => true,
        Err(AccountError::GroupExists(_)) => false,
        Err(e) => return Err(e.into()),
    };
    if let Some(policy) = &policy {
        state.store.set_group_policy(&name, policy).await?;
    }
    audit(&state, &who, "groups.put", &name).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(state.store.as_ref(), &name).await?)).into_response())
}

/// Removes a group that has no members (409 names them otherwise).
async fn remove_group(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let members = state.store.group_members(&name).await?;
    if !members.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "group {name} still has members ({}); move them out first",
                members.join(", ")
            ),
        ));
    }
    state.store.remove_group(&name).await?;
    audit(&state, &who, "groups.remove", &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MembershipBody {
    /// First (primary) to last.
    groups: Vec<String>,
}

async fn set_groups(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path(name): Path<String>,
    Body(body): Body<MembershipBody>,
) -> Result<Response, ApiError> {
    state.store.set_member_of(&name, &body.groups).await?;
    audit(&state, &who, "accounts.groups", &name).await?;
    let groups: Vec<String> = state
        .store
        .member_of(&name)
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    Ok(Json(json!({ "name": name, "groups": groups })).into_response())
}

async fn list_folders(State(state): State<AdminState>, _: Caller) -> Result<Response, ApiError> {
    let folders = all_folders(state.store.as_ref()).await?;
    Ok(Json(json!({ "folders": folders })).into_response())
}
