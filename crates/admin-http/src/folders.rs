//! `/api/folders`: shared folders (their directory, usage and quota), on
//! the same library calls as `wharfd folders` ([`ftp_server::folders`]).
//! The actions here, each audited, are what the API and the console both
//! run; a quota change is seen by running sessions at their next upload.

use crate::actions::{audit, quota};
use crate::api::{Body, Params};
use crate::auth::{Caller, Writer};
use crate::error::ApiError;
use crate::groups::Force;
use crate::state::AdminState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ftp_server::accounts::AccountStore;
use ftp_server::folders::{self, Folder};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::PathBuf;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/folders", get(list_route).post(add_route))
        .route(
            "/api/folders/{name}",
            get(show_route).patch(quota_route).delete(remove_route),
        )
}

/// A shared folder as the API and the console show it.
#[derive(Debug, Serialize)]
pub struct FolderView {
    pub name: String,
    pub dir: String,
    pub quota_bytes: Option<u64>,
    pub used_bytes: u64,
}

impl From<Folder> for FolderView {
    fn from(f: Folder) -> Self {
        FolderView {
            name: f.name,
            dir: f.dir.display().to_string(),
            quota_bytes: f.quota,
            used_bytes: f.used,
        }
    }
}

/// Every shared folder, by name.
pub async fn all_folders(store: &dyn AccountStore) -> Result<Vec<FolderView>, ApiError> {
    let all = folders::list(store).await?;
    Ok(all.into_iter().map(FolderView::from).collect())
}

/// Adds folder `name` over `dir` (made if missing) with a quota given as
/// text (`500M`, `none`; absent: none), as `wharfd folders add`; audited.
pub async fn add_folder(
    state: &AdminState,
    who: &Caller,
    name: &str,
    dir: &str,
    quota_text: Option<&str>,
) -> Result<FolderView, ApiError> {
    let quota = quota_text.map(quota).transpose()?.flatten();
    let store = state.store.as_ref();
    folders::add(store, name, PathBuf::from(dir), quota).await?;
    audit(state, who, "folders.add", name).await?;
    Ok(folders::find(store, name).await?.into())
}

/// Sets folder `name`'s quota (`500M`, `none`); audited.
pub async fn set_folder_quota(
    state: &AdminState,
    who: &Caller,
    name: &str,
    quota_text: &str,
) -> Result<FolderView, ApiError> {
    let store = state.store.as_ref();
    folders::set_quota(store, name, quota(quota_text)?).await?;
    audit(state, who, "folders.quota", name).await?;
    Ok(folders::find(store, name).await?.into())
}

/// Removes folder `name` (its files stay); a mounted one only if
/// `force`; audited.
pub async fn remove_folder(
    state: &AdminState,
    who: &Caller,
    name: &str,
    force: bool,
) -> Result<(), ApiError> {
    folders::remove(state.store.as_ref(), name, force).await?;
    audit(state, who, "folders.remove", name).await
}

async fn list_route(State(state): State<AdminState>, _: Caller) -> Result<Response, ApiError> {
    let folders = all_folders(state.store.as_ref()).await?;
    Ok(Json(json!({ "folders": folders })).into_response())
}

async fn show_route(
    State(state): State<AdminState>,
    _: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let folder: FolderView = folders::find(state.store.as_ref(), &name).await?.into();
    Ok(Json(folder).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    name: String,
    dir: String,
    quota: Option<String>,
}

async fn add_route(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Body(b): Body<AddBody>,
) -> Result<Response, ApiError> {
    let made = add_folder(&state, &who, &b.name, &b.dir, b.quota.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaBody {
    quota: String,
}

async fn quota_route(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path(name): Path<String>,
    Body(b): Body<QuotaBody>,
) -> Result<Response, ApiError> {
    Ok(Json(set_folder_quota(&state, &who, &name, &b.quota).await?).into_response())
}

async fn remove_route(
    State(state): State<AdminState>,
    Writer(who): Writer,
    Path(name): Path<String>,
    Params(p): Params<Force>,
) -> Result<Response, ApiError> {
    remove_folder(&state, &who, &name, p.force).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
