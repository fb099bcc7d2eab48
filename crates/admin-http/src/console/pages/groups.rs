//! Groups (their members and policies) and shared folders (their usage),
//! to look at; they are changed with the API or `wharfd groups|folders`.

use super::common::{render, Done};
use crate::console::html::{esc, table};
use crate::console::Operator;
use crate::groups::{all_folders, all_groups};
use crate::state::AdminState;
use axum::extract::{Query, State};
use axum::response::Response;
use ftp_server::quota::size::format_size;

pub async fn groups(
    State(state): State<AdminState>,
    op: Operator,
    Query(done): Query<Done>,
) -> Response {
    let store = state.store.as_ref();
    let body = async {
        let mut out = String::from("<h2>Groups</h2>");
        let groups = all_groups(store).await?;
        if groups.is_empty() {
            out.push_str("<p>No groups. Add one with <code>wharfd groups add NAME</code>.</p>");
        } else {
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    let policy = if g.policy.is_empty() {
                        "(nothing of its own)".to_string()
                    } else {
                        format!("<pre>{}</pre>", esc(&g.policy))
                    };
                    vec![esc(&g.name), esc(&g.members.join(", ")), policy]
                })
                .collect();
            out.push_str(&table(&["Group", "Members", "Policy"], &rows));
        }
        out.push_str("<h2>Shared folders</h2>");
        let folders = all_folders(store).await?;
        if folders.is_empty() {
            out.push_str(
                "<p>No shared folders. Add one with <code>wharfd folders add NAME --dir DIR</code>.</p>",
            );
        } else {
            let rows: Vec<Vec<String>> = folders
                .iter()
                .map(|f| {
                    vec![
                        esc(&f.name),
                        esc(&f.dir),
                        format_size(f.used_bytes),
                        f.quota_bytes.map_or_else(|| "none".into(), format_size),
                    ]
                })
                .collect();
            out.push_str(&table(&["Folder", "Directory", "Used", "Quota"], &rows));
        }
        Ok(out)
    }
    .await;
    render(&state, &op, "Groups and folders", &done, body).await
}
