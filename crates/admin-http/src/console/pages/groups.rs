//! The Groups and folders page (every group with its members and policy,
//! every shared folder with its usage and quota, and the forms that add
//! them) and one group's page (its policy, members and removal). The
//! forms post to [`super::group_forms`] and [`super::folder_forms`].

use super::common::{render, Done};
use crate::actions::show_quota;
use crate::console::html::{csrf_field, esc, seg, table};
use crate::console::Operator;
use crate::folders::all_folders;
use crate::groups::{all_groups, view};
use crate::state::AdminState;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use ftp_server::quota::size::format_size;
use std::fmt::Write as _;

/// The policy text as a page shows it.
fn policy_cell(policy: &str) -> String {
    if policy.is_empty() {
        "(nothing of its own)".to_string()
    } else {
        format!("<pre>{}</pre>", esc(policy))
    }
}

/// A "remove" form with a "force" checkbox (for a group with members or
/// a mounted folder), posting to `action`.
fn remove_form(action: &str, id: &str, csrf: &str, what: &str, force_label: &str) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{action}\">{csrf}\
<input type=\"checkbox\" id=\"{id}\" name=\"force\" value=\"true\"><label for=\"{id}\">{force_label}</label>\
<button type=\"submit\" class=\"danger\">Remove {what}</button></form>",
        csrf = csrf_field(csrf),
        what = esc(what),
    )
}

pub async fn groups(
    State(state): State<AdminState>,
    op: Operator,
    Query(done): Query<Done>,
) -> Response {
    let store = state.store.as_ref();
    let csrf = csrf_field(&op.csrf);
    let body = async {
        let mut out = String::from("<h2>Groups</h2>");
        let groups = all_groups(store).await?;
        if groups.is_empty() {
            out.push_str("<p>No groups yet.</p>");
        } else {
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    vec![
                        format!(
                            "<a href=\"/console/groups/{}\">{}</a>",
                            seg(&g.name),
                            esc(&g.name)
                        ),
                        esc(&g.members.join(", ")),
                        policy_cell(&g.policy),
                    ]
                })
                .collect();
            out.push_str(&table(&["Group", "Members", "Policy"], &rows));
        }
        let _ = write!(
            out,
            "<h3>New group</h3><form method=\"post\" action=\"/console/groups\">{csrf}\
<p><label for=\"group-name\">Name</label><input id=\"group-name\" name=\"name\" required></p>\
<p><label for=\"group-policy\">Policy (optional; one setting a line, e.g. <code>permissions list,download</code>, <code>mount team /team</code>, <code>max-sessions 2</code>)</label><br>\
<textarea id=\"group-policy\" name=\"policy\" rows=\"3\" cols=\"40\"></textarea></p>\
<p><button type=\"submit\">Create group</button></p></form>"
        );
        out.push_str("<h2>Shared folders</h2>");
        let folders = all_folders(store).await?;
        if folders.is_empty() {
            out.push_str("<p>No shared folders yet.</p>");
        } else {
            let rows: Vec<Vec<String>> = folders
                .iter()
                .map(|f| {
                    let n = seg(&f.name);
                    let change = format!(
                        "<form class=\"inline\" method=\"post\" action=\"/console/folders/{n}/quota\">{csrf}\
<label for=\"folder-quota-{n}\">New quota</label><input id=\"folder-quota-{n}\" name=\"quota\" size=\"6\" required>\
<button type=\"submit\">Set quota of {name}</button></form> {remove}",
                        name = esc(&f.name),
                        remove = remove_form(
                            &format!("/console/folders/{n}/remove"),
                            &format!("folder-force-{n}"),
                            &op.csrf,
                            &f.name,
                            "even if mounted",
                        ),
                    );
                    vec![
                        esc(&f.name),
                        esc(&f.dir),
                        format_size(f.used_bytes),
                        show_quota(f.quota_bytes),
                        change,
                    ]
                })
                .collect();
            out.push_str(&table(
                &["Folder", "Directory", "Used", "Quota", "Change"],
                &rows,
            ));
        }
        let _ = write!(
            out,
            "<h3>New shared folder</h3><form method=\"post\" action=\"/console/folders\">{csrf}\
<p><label for=\"folder-name\">Name</label><input id=\"folder-name\" name=\"name\" required></p>\
<p><label for=\"folder-dir\">Directory (absolute; made if missing)</label><input id=\"folder-dir\" name=\"dir\" required></p>\
<p><label for=\"folder-quota\">Quota (e.g. 500M, 2G; empty: none)</label><input id=\"folder-quota\" name=\"quota\"></p>\
<p><button type=\"submit\">Add folder</button></p></form>\
<p>Accounts and groups mount a folder with a <code>mount NAME /PATH</code> line in their policy.</p>"
        );
        Ok(out)
    }
    .await;
    render(&state, &op, "Groups and folders", &done, body).await
}

pub async fn group(
    State(state): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let csrf = csrf_field(&op.csrf);
    let body = view(state.store.as_ref(), &name).await.map(|g| {
        let n = seg(&g.name);
        let mut out = String::from("<h2>Members</h2>");
        if g.members.is_empty() {
            out.push_str("<p>No members.</p>");
        } else {
            out.push_str("<ul>");
            for m in &g.members {
                let _ = write!(
                    out,
                    "<li>{member} <form class=\"inline\" method=\"post\" action=\"/console/groups/{n}/members/{m}/remove\">{csrf}\
<button type=\"submit\" class=\"danger\">Take {member} out</button></form></li>",
                    member = esc(m),
                    m = seg(m),
                );
            }
            out.push_str("</ul>");
        }
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/console/groups/{n}/members\">{csrf}\
<p><label for=\"member\">Account to add</label><input id=\"member\" name=\"account\" required>\
<button type=\"submit\">Add member</button></p></form>\
<h2>Policy</h2><p>Now: {now}</p>\
<form method=\"post\" action=\"/console/groups/{n}/policy\">{csrf}\
<p><label for=\"policy\">Policy (one setting a line; empty: nothing of its own)</label><br>\
<textarea id=\"policy\" name=\"policy\" rows=\"6\" cols=\"40\">{policy}</textarea></p>\
<p><button type=\"submit\">Save policy</button></p></form>\
<h2>Remove</h2>{remove}\
<p><a href=\"/console/groups\">All groups and folders</a></p>",
            now = policy_cell(&g.policy),
            policy = esc(&g.policy),
            remove = remove_form(
                &format!("/console/groups/{n}/remove"),
                "group-force",
                &op.csrf,
                &format!("group {}", g.name),
                "even with members",
            ),
        );
        out
    });
    render(&state, &op, &format!("Group {name}"), &done, body).await
}
