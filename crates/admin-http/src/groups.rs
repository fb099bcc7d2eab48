//! `/api/groups` and `/api/accounts/{name}/groups`: groups of accounts
//! (their policies and members), on the same library calls as `wharfd
//! groups` and `wharfd users groups` ([`group_admin`]). The actions here,
//! each audited, are what the API and the console both run. Changes take
//! effect as the CLI's do: running sessions see a group's policy within a
//! second, a membership at once.

use crate::actions::audit;
use crate::api::Body;
use crate::api::Params;
use crate::auth::{Caller, Writer};
use crate::error::ApiError;
use crate::state::AdminState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use ftp_server::accounts::group_admin;
use ftp_server::accounts::AccountStore;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/groups", get(list_groups))
        .route(
            "/api/groups/{name}",
            get(show_group).put(put_route).delete(remove_route),
        )
        .route(
            "/api/groups/{name}/members/{account}",
            put(add_member_route).delete(remove_member_route),
        )
        .route("/api/accounts/{name}/groups", put(set_groups))
}

/// A group as the API and the console show it.
#[derive(Debug, Serialize)]
pub struct GroupView {
    pub name: String,
    /// The stored policy text (as `PATCH /api/accounts/{name}` takes it).
    pub policy: String,
    pub members: Vec<String>,
}

/// Every group, by name.
pub async fn all_groups(store: &dyn AccountStore) -> Result<Vec<GroupView>, ApiError> {
    let mut groups = Vec::new();
    for g in store.groups().await? {
        groups.push(view(store, &g.name).await?);
    }
    Ok(groups)
}

/// Group `name` with its members.
pub async fn view(store: &dyn AccountStore, name: &str) -> Result<GroupView, ApiError> {
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

/// Makes group `name` if missing and sets its policy if given
/// ([`group_admin::put`]); audited. Returns whether it was made.
pub async fn put_group(
    state: &AdminState,
    who: &Caller,
    name: &str,
    policy: Option<&str>,
) -> Result<bool, ApiError> {
    let made = group_admin::put(state.store.as_ref(), name, policy).await?;
    audit(state, who, "groups.put", name).await?;
    Ok(made)
}

/// Removes group `name`; one with members only if `force`; audited.
pub async fn remove_group(
    state: &AdminState,
    who: &Caller,
    name: &str,
    force: bool,
) -> Result<(), ApiError> {
    group_admin::remove(state.store.as_ref(), name, force).await?;
    audit(state, who, "groups.remove", name).await
}

/// Makes `account` a member of group `name` (its last group); audited.
pub async fn add_member(
    state: &AdminState,
    who: &Caller,
    name: &str,
    account: &str,
) -> Result<(), ApiError> {
    group_admin::add_member(state.store.as_ref(), name, account).await?;
    audit(
        state,
        who,
        "groups.members.add",
        &format!("{name}: {account}"),
    )
    .await
}

/// Takes `account` out of group `name`; audited.
pub async fn remove_member(
    state: &AdminState,
    who: &Caller,
    name: &str,
    account: &str,
) -> Result<(), ApiError> {
    group_admin::remove_member(state.store.as_ref(), name, account).await?;
    audit(
        state,
        who,
        "groups.members.remove",
        &format!("{name}: {account}"),
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    /// The policy text; absent leaves it as it is (a new group: empty).
    policy: Option<String>,
}

async fn put_route(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path(name): Path<String>,
    Body(body): Body<GroupBody>,
) -> Result<Response, ApiError> {
    let made = put_group(&state, &who, &name, body.policy.as_deref()).await?;
    let status = if made {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(state.store.as_ref(), &name).await?)).into_response())
}

/// `?force=true`: remove even a group with members, or a mounted folder.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Force {
    #[serde(default)]
    pub force: bool,
}

async fn remove_route(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path(name): Path<String>,
    Params(p): Params<Force>,
) -> Result<Response, ApiError> {
    remove_group(&state, &who, &name, p.force).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn add_member_route(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path((name, account)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    add_member(&state, &who, &name, &account).await?;
    Ok(Json(view(state.store.as_ref(), &name).await?).into_response())
}

async fn remove_member_route(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path((name, account)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    remove_member(&state, &who, &name, &account).await?;
    Ok(Json(view(state.store.as_ref(), &name).await?).into_response())
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
