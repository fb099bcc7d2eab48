//! The group forms of the console: create, set the policy, add and take
//! out members, remove — each the same audited action as the API's
//! ([`crate::groups`]), then back to the page with a notice.

use super::common::{given, outcome, CsrfForm};
use crate::console::html::seg;
use crate::console::Operator;
use crate::error::ApiError;
use crate::groups;
use crate::secret::Secret;
use crate::state::AdminState;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

fn group_page(name: &str) -> String {
    format!("/console/groups/{}", seg(name))
}

#[derive(Debug, Deserialize)]
pub struct NewGroupForm {
    #[serde(default)]
    csrf: Secret,
    #[serde(default)]
    name: String,
    #[serde(default)]
    policy: String,
}

pub async fn create_group(
    State(state): State<AdminState>,
    op: Operator,
    Form(f): Form<NewGroupForm>,
) -> Response {
    let name = f.name.trim();
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        // A new group only: an existing one is changed on its own page.
        if groups::view(state.store.as_ref(), name).await.is_ok() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("group {name} already exists; change it on its page"),
            ));
        }
        groups::put_group(&state, &op.caller, name, given(&f.policy)).await?;
        Ok((group_page(name), format!("created group {name}")))
    }
    .await;
    outcome(&state, &op, done).await
}

#[derive(Debug, Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    csrf: Secret,
    #[serde(default)]
    policy: String,
}

pub async fn set_policy(
    State(state): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
    Form(f): Form<PolicyForm>,
) -> Response {
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        groups::view(state.store.as_ref(), &name).await?;
        groups::put_group(&state, &op.caller, &name, Some(f.policy.trim())).await?;
        Ok((group_page(&name), format!("saved the policy of {name}")))
    }
    .await;
    outcome(&state, &op, done).await
}

#[derive(Debug, Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    csrf: Secret,
    #[serde(default)]
    account: String,
}

pub async fn add_member(
    State(state): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
    Form(f): Form<MemberForm>,
) -> Response {
    let account = f.account.trim();
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        groups::add_member(&state, &op.caller, &name, account).await?;
        Ok((
            group_page(&name),
            format!("{account} is a member of {name}"),
        ))
    }
    .await;
    outcome(&state, &op, done).await
}

pub async fn remove_member(
    State(state): State<AdminState>,
    op: Operator,
    Path((name, account)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        groups::remove_member(&state, &op.caller, &name, &account).await?;
        Ok((group_page(&name), format!("took {account} out of {name}")))
    }
    .await;
    outcome(&state, &op, done).await
}

/// A removal, with its "force" checkbox.
#[derive(Debug, Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    pub csrf: Secret,
    /// Present (`true`) when the box is ticked.
    #[serde(default)]
    pub force: Option<String>,
}

impl RemoveForm {
    pub fn force(&self) -> bool {
        self.force.is_some()
    }
}

pub async fn remove_group(
    State(state): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
    Form(f): Form<RemoveForm>,
) -> Response {
    let done = async {
        op.caller.may_change(Some(f.csrf.expose()))?;
        groups::remove_group(&state, &op.caller, &name, f.force()).await?;
        Ok((
            "/console/groups".to_string(),
            format!("removed group {name}"),
        ))
    }
    .await;
    outcome(&state, &op, done).await
}
