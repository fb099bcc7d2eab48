//! HTML building blocks: escaping, tables, and the frame every page
//! shares — a viewport for phones, a small stylesheet, the navigation with
//! the pending badge, a notice line for the outcome of the last form, and
//! (when logged in) the live-update script with its `aria-live` region.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use std::fmt::Write as _;

/// `text` safe inside HTML text and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` safe inside a URL path segment.
pub fn seg(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#1a1a1a;background:#fff;line-height:1.4}
header{background:#0b3d60;color:#fff;padding:.5rem 1rem}
header a{color:#fff}
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem 1rem}
main{padding:1rem;max-width:60rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border-bottom:1px solid #bbb;padding:.35rem;text-align:left;vertical-align:top}
dd{margin-left:1rem;overflow-wrap:anywhere}
input{max-width:100%;box-sizing:border-box}
.scroll{overflow-x:auto}
form.inline{display:inline-flex;flex-wrap:wrap;gap:.25rem;align-items:center;margin:.1rem 0}
input,select,button{font:inherit;padding:.3rem;min-height:2rem}
button{background:#0b3d60;color:#fff;border:1px solid #0b3d60;border-radius:3px;cursor:pointer}
button.danger{background:#9b1c1c;border-color:#9b1c1c}
.notice{background:#e6f4ea;border:1px solid #1e7b34;padding:.5rem}
.error{background:#fdecea;border:1px solid #9b1c1c;padding:.5rem}
.badge{background:#9b1c1c;color:#fff;border-radius:1rem;padding:0 .5rem}
.cards{display:flex;flex-wrap:wrap;gap:1rem}
.card{border:1px solid #bbb;border-radius:4px;padding:.5rem 1rem;min-width:8rem}
.card strong{font-size:1.5rem;display:block}
label{display:inline-block;margin-right:.25rem}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:40rem){
table.stack thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table.stack tr{display:block;border-bottom:1px solid #bbb;padding:.25rem 0}
table.stack td{display:block;border:0;padding:.15rem .35rem}
table.stack td::before{content:attr(data-label) \": \";font-weight:bold}
}
";

/// What the frame shows besides the page's own content.
#[derive(Debug, Clone, Default)]
pub struct Frame<'a> {
    /// The logged-in admin and the session's CSRF token (none on the
    /// login page).
    pub who: Option<(&'a str, &'a str)>,
    /// Pending registrations, for the badge.
    pub pending: usize,
    /// The outcome of the last form.
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
    /// What the header says when no one is logged in (default: "Wharf
    /// console").
    pub banner: Option<&'a str>,
}

/// A whole page.
pub fn page(status: StatusCode, title: &str, frame: &Frame<'_>, body: &str) -> Response {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} · Wharf console</title><style>{STYLE}</style></head><body><header>",
        esc(title)
    );
    if let Some((admin, csrf)) = frame.who {
        // Always there (hidden at 0) so that live.js can update it.
        let badge = format!(
            " <span id=\"pending-badge\" class=\"badge\" aria-label=\"{n} pending\"{hidden}>{n}</span>",
            n = frame.pending,
            hidden = if frame.pending == 0 { " hidden" } else { "" }
        );
        let _ = write!(
            out,
            "<nav aria-label=\"Console\"><ul>\
<li><a href=\"/console/\">Dashboard</a></li>\
<li><a id=\"pending-link\" href=\"/console/pending\">Pending{badge}</a></li>\
<li><a href=\"/console/accounts\">Accounts</a></li>\
<li><a href=\"/console/sessions\">Sessions</a></li>\
<li><a href=\"/console/transfers\">Transfers</a></li>\
<li><a href=\"/console/groups\">Groups and folders</a></li>\
<li><a href=\"/console/audit\">Audit log</a></li>\
<li><form class=\"inline\" method=\"post\" action=\"/console/logout\">{}\
<button type=\"submit\">Log out {}</button></form></li></ul></nav>",
            csrf_field(csrf),
            esc(admin)
        );
    } else {
        let _ = write!(
            out,
            "<p>{}</p>",
            esc(frame.banner.unwrap_or("Wharf console"))
        );
    }
    let _ = write!(out, "</header><main><h1>{}</h1>", esc(title));
    if let Some(n) = frame.notice {
        let _ = write!(out, "<p class=\"notice\" role=\"status\">{}</p>", esc(n));
    }
    if let Some(e) = frame.error {
        let _ = write!(out, "<p class=\"error\" role=\"alert\">{}</p>", esc(e));
    }
    out.push_str(body);
    out.push_str("</main>");
    if frame.who.is_some() {
        // What live.js announces (new registrations); the script is
        // deferred and optional: without it a reload shows the same.
        out.push_str(
            "<div id=\"live-status\" class=\"visually-hidden\" role=\"status\" aria-live=\"polite\"></div>\
<script src=\"/console/live.js\" defer></script>",
        );
    }
    out.push_str("</body></html>");
    (status, Html(out)).into_response()
}

/// A table of `rows` (each cell already HTML) under `headers`; on a
/// narrow screen each row stacks into a card whose cells carry their
/// header as a label.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<div class=\"scroll\">");
    table_into(&mut out, headers, rows.iter().map(|r| (None, r)), None);
    out.push_str("</div>");
    out
}

/// Like [`table`], for a table a script keeps up to date: the wrapper has
/// id `id` (and is `hidden` when there are no rows), the body `id-rows`,
/// and each row a `data-key` (the first of each pair).
pub fn live_table(id: &str, headers: &[&str], rows: &[(String, Vec<String>)]) -> String {
    let hidden = if rows.is_empty() { " hidden" } else { "" };
    let mut out = format!("<div class=\"scroll\" id=\"{}\"{hidden}>", esc(id));
    let body = format!("{id}-rows");
    table_into(
        &mut out,
        headers,
        rows.iter().map(|(k, r)| (Some(k.as_str()), r)),
        Some(&body),
    );
    out.push_str("</div>");
    out
}

fn table_into<'a>(
    out: &mut String,
    headers: &[&str],
    rows: impl Iterator<Item = (Option<&'a str>, &'a Vec<String>)>,
    body_id: Option<&str>,
) {
    out.push_str("<table class=\"stack\"><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody");
    if let Some(id) = body_id {
        let _ = write!(out, " id=\"{}\"", esc(id));
    }
    out.push('>');
    for (key, row) in rows {
        match key {
            Some(k) => {
                let _ = write!(out, "<tr data-key=\"{}\">", esc(k));
            }
            None => out.push_str("<tr>"),
        }
        for (h, cell) in headers.iter().zip(row) {
            let _ = write!(out, "<td data-label=\"{}\">{cell}</td>", esc(h));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// The hidden CSRF field of a form.
pub fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    )
}

/// A date and time (UTC) from Unix seconds.
pub fn when(unix: i64) -> String {
    let t = ftp_proto::time::UtcTime::from_unix(unix);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_paths() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn table_cells_carry_their_headers() {
        let html = table(&["Name", "Used"], &[vec!["<b>x</b>".into(), "1 B".into()]]);
        assert!(html.contains("<th scope=\"col\">Name</th>"), "{html}");
        assert!(
            html.contains("<td data-label=\"Name\"><b>x</b></td><td data-label=\"Used\">1 B</td>"),
            "{html}"
        );
    }
}
