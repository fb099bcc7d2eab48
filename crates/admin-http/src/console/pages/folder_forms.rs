//! The shared-folder forms of the console: add, set the quota, remove —
//! each the same audited action as the API's ([`crate::folders`]), then
//! back to the Groups and folders page with a notice.

use super::common::{given, outcome};
use super::group_forms::RemoveForm;
use crate::actions::show_quota;
use crate::console::Operator;
use crate::folders;
use crate::secret::Secret;
use crate::state::AdminState;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use serde::Deserialize;

const PAGE: &str = "/console/groups";

#[derive(Debug, Deserialize)]
pub struct NewFolderForm {
    #[serde(default)]
    csrf: Secret,
    #[serde(default)]
    name: String,
    #[serde(default)]
    dir: String,
    #[serde(default)]
    quota: String,
}

pub async fn add_folder(
    State(state): State<AdminState>,
    op: Operator,
    Form(f): Form<NewFolderForm>,
) -> Response {
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        let made = folders::add_folder(
            &state,
            &op.caller,
            f.name.trim(),
            f.dir.trim(),
            given(&f.quota),
        )
        .await?;
        Ok((
            PAGE.to_string(),
            format!(
                "added folder {} over {} with a quota of {}",
                made.name,
                made.dir,
                show_quota(made.quota_bytes)
            ),
        ))
    }
    .await;
    outcome(&state, &op, done).await
}

#[derive(Debug, Deserialize)]
pub struct QuotaForm {
    #[serde(default)]
    csrf: Secret,
    #[serde(default)]
    quota: String,
}

pub async fn set_quota(
    State(state): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
    Form(f): Form<QuotaForm>,
) -> Response {
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        let f = folders::set_folder_quota(&state, &op.caller, &name, f.quota.trim()).await?;
        Ok((
            PAGE.to_string(),
            format!(
                "folder {} has a quota of {}",
                f.name,
                show_quota(f.quota_bytes)
            ),
        ))
    }
    .await;
    outcome(&state, &op, done).await
}

pub async fn remove_folder(
    State(state): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
    Form(f): Form<RemoveForm>,
) -> Response {
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        folders::remove_folder(&state, &op.caller, &name, f.force()).await?;
        Ok((
            PAGE.to_string(),
            format!("removed folder {name}; its files stay in its directory"),
        ))
    }
    .await;
    outcome(&state, &op, done).await
}
