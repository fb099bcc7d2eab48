//! What every console page and form shares: the notice a redirect
//! carries, the redirect back (or the refusal) after a form, a refusal
//! shown as a page, the page frame
//! with the pending badge, and the CSRF-only form.

use crate::actions;
use crate::console::html::{page, seg, Frame};
use crate::console::Operator;
use crate::error::ApiError;
use crate::secret::Secret;
use crate::state::AdminState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// The notice a redirect carries.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    pub done: Option<String>,
    #[serde(default)]
    pub q: String,
    /// The first account a page of accounts lists.
    #[serde(default)]
    pub offset: usize,
}

/// Back to `to` with `message` shown.
pub fn back(to: &str, message: &str) -> Response {
    Redirect::to(&format!("{to}?done={}", seg(message))).into_response()
}

/// A refusal as a page.
pub fn refused(state_pending: usize, op: &Operator, e: ApiError) -> Response {
    let frame = Frame {
        who: Some((&op.caller.admin, &op.csrf)),
        pending: state_pending,
        error: Some(&e.message),
        ..Frame::default()
    };
    page(
        e.status,
        "Not done",
        &frame,
        "<p><a href=\"/console/\">Back to the dashboard</a></p>",
    )
}

/// The end of a form: back to the page `to` with `message` (the first of
/// `done`), or the refusal as a page.
pub async fn outcome(
    state: &AdminState,
    op: &Operator,
    done: Result<(String, String), ApiError>,
) -> Response {
    match done {
        Ok((to, message)) => back(&to, &message),
        Err(e) => refused(pending_count(state).await, op, e),
    }
}

pub async fn pending_count(state: &AdminState) -> usize {
    actions::pending(state).await.map_or(0, |p| p.len())
}

/// Renders one console page for `op`, or the refusal.
pub async fn render(
    state: &AdminState,
    op: &Operator,
    title: &str,
    done: &Done,
    body: Result<String, ApiError>,
) -> Response {
    let pending = pending_count(state).await;
    match body {
        Ok(body) => {
            let frame = Frame {
                who: Some((&op.caller.admin, &op.csrf)),
                pending,
                notice: done.done.as_deref(),
                ..Frame::default()
            };
            page(StatusCode::OK, title, &frame, &body)
        }
        Err(e) => refused(pending, op, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: Secret,
}

/// An empty field means "leave it".
pub fn given(text: &str) -> Option<&str> {
    let t = text.trim();
    (!t.is_empty()).then_some(t)
}
