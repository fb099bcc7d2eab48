//! The public registration page (`--public-register`, off by default):
//! `/register`, where a visitor asks for an account, and
//! `/register/status`, where they learn, with their name and password,
//! whether it is pending, approved or rejected. Not under the admin
//! login. Both run the server's own
//! [`RegistrationDesk`](ftp_server::registration_desk::RegistrationDesk),
//! the one SITE REGISTER and SITE REGSTATUS use: the same name rules,
//! password length, per-address limit, pending cap, approval flow, event,
//! and — for a status check with a wrong password — the same failure delay
//! and lockout, with one answer whether or not the name exists.
//!
//! There is no cookie, so nothing to ride on; still, a form posted from
//! another site is refused (`Sec-Fetch-Site` / `Origin` must be this
//! origin), so no page elsewhere can register in a visitor's name, and the
//! pages may not be framed.

use crate::auth::client_ip;
use crate::console::html::{esc, page, Frame};
use crate::secret::Secret;
use crate::state::AdminState;
use axum::extract::{Form, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use ftp_server::accounts::{AccountStatus, RegistrationAnswer};
use ftp_server::registration::RegisterError;
use ftp_server::registration_desk::{RegistrationDesk, StatusError};
use serde::Deserialize;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/register", get(form).post(register))
        .route("/register/status", get(status_form).post(status))
}

/// A public page: never framed, never cached.
fn public_page(status: StatusCode, title: &str, error: Option<&str>, body: &str) -> Response {
    let frame = Frame {
        error,
        banner: Some("Wharf: ask for an account"),
        ..Frame::default()
    };
    let mut response = page(status, title, &frame, body);
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The answer while the page is off.
fn off() -> Response {
    public_page(
        StatusCode::NOT_FOUND,
        "Not found",
        Some("Registration from the web is off on this server."),
        "",
    )
}

/// The answer to a form posted from another site.
fn cross_site() -> Response {
    public_page(
        StatusCode::FORBIDDEN,
        "Refused",
        Some("This form may only be sent from this server's own page."),
        "<p><a href=\"/register\">Register here</a></p>",
    )
}

/// Whether a form comes from this server's own page: a browser says where
/// a request comes from (`Sec-Fetch-Site`, `Origin`); a client that says
/// nothing (curl, a script) is no one's browser to abuse.
fn same_origin(parts: &Parts) -> bool {
    let headers = &parts.headers;
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    if let Some(origin) = text(header::ORIGIN) {
        let host = text(header::HOST).unwrap_or_default();
        let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
        if host.is_empty() || origin_host != host {
            return false;
        }
    }
    true
}

/// The registration form, with `name` and `contact` kept after a refusal.
fn register_page(
    desk: &RegistrationDesk,
    status: StatusCode,
    error: Option<&str>,
    name: &str,
    contact: &str,
) -> Response {
    let body = format!(
        "<p>Ask for an account on this server. {decides}</p>\
<form method=\"post\" action=\"/register\">\
<p><label for=\"name\">Name</label><br><input id=\"name\" name=\"name\" value=\"{name}\" autocomplete=\"username\" required maxlength=\"32\" aria-describedby=\"name-rule\"><br>\
<span id=\"name-rule\">Lower-case letters, digits, dot, underscore and hyphen; not starting with a dot or hyphen.</span></p>\
<p><label for=\"password\">Password</label><br><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required minlength=\"{min}\" maxlength=\"128\" aria-describedby=\"password-rule\"><br>\
<span id=\"password-rule\">At least {min} characters.</span></p>\
<p><label for=\"again\">Password again</label><br><input id=\"again\" name=\"again\" type=\"password\" autocomplete=\"new-password\" required></p>\
<p><label for=\"contact\">Mail address (optional: to hear the operator's answer)</label><br><input id=\"contact\" name=\"contact\" type=\"email\" value=\"{contact}\" autocomplete=\"email\"></p>\
<p><button type=\"submit\">Register</button></p></form>\
<p><a href=\"/register/status\">Asked already? See whether it was approved.</a></p>",
        decides = match desk.policy() {
            ftp_server::registration::RegistrationPolicy::Open => "The account works at once.",
            _ => "The operator approves each account.",
        },
        name = esc(name),
        contact = esc(contact),
        min = desk.min_password_len(),
    );
    public_page(status, "Register", error, &body)
}

async fn form(State(state): State<AdminState>) -> Response {
    match &state.registration {
        Some(desk) => register_page(desk, StatusCode::OK, None, "", ""),
        None => off(),
    }
}

#[derive(Debug, Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: Secret,
    #[serde(default)]
    again: Secret,
    #[serde(default)]
    contact: String,
}

/// The HTTP status of a refused registration, and what it says (the
/// words SITE REGISTER uses).
fn refusal(e: &RegisterError) -> (StatusCode, String) {
    let status = match e {
        RegisterError::Taken => StatusCode::CONFLICT,
        RegisterError::TooMany | RegisterError::QueueFull => StatusCode::TOO_MANY_REQUESTS,
        RegisterError::Disabled | RegisterError::Store(_) | RegisterError::Home(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let reply = e.reply();
    let words: Vec<String> = reply
        .lines()
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    (status, words.join(" "))
}

/// The registration desk for a form post: a 404 when the page is off, a
/// 403 for a form posted from another site.
/// (The refusal is the function that answers it.)
fn desk_for<'a>(
    state: &'a AdminState,
    parts: &Parts,
) -> Result<&'a RegistrationDesk, fn() -> Response> {
    let Some(desk) = &state.registration else {
        return Err(off);
    };
    if !same_origin(parts) {
        return Err(cross_site);
    }
    Ok(desk)
}

async fn register(
    State(state): State<AdminState>,
    parts: Parts,
    Form(f): Form<RegisterForm>,
) -> Response {
    let desk = match desk_for(&state, &parts) {
        Ok(desk) => desk,
        Err(refused) => return refused(),
    };
    let name = f.name.trim();
    let contact = f.contact.trim();
    if f.password.expose() != f.again.expose() {
        return register_page(
            desk,
            StatusCode::BAD_REQUEST,
            Some("The two passwords differ; type the same one twice."),
            name,
            contact,
        );
    }
    let protocol = if state.secure { "https" } else { "http" };
    let contact_given = (!contact.is_empty()).then_some(contact);
    match desk
        .register(
            name,
            f.password.expose(),
            contact_given,
            client_ip(&parts),
            protocol,
        )
        .await
    {
        Ok(AccountStatus::Active) => Redirect::to("/register/status?sent=active").into_response(),
        Ok(_) => Redirect::to("/register/status?sent=pending").into_response(),
        Err(e) => {
            let (status, message) = refusal(&e);
            register_page(desk, status, Some(&message), name, contact)
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Sent {
    /// `pending` or `active`: what the registration just sent did.
    sent: Option<String>,
}

fn status_page(status: StatusCode, notice: Option<&str>, error: Option<&str>) -> Response {
    let notice = notice.map_or_else(String::new, |n| {
        format!("<p class=\"notice\" role=\"status\">{}</p>", esc(n))
    });
    let body = format!(
        "{notice}<p>Give the name and password you registered with.</p>\
<form method=\"post\" action=\"/register/status\">\
<p><label for=\"name\">Name</label><br><input id=\"name\" name=\"name\" autocomplete=\"username\" required></p>\
<p><label for=\"password\">Password</label><br><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\
<p><button type=\"submit\">Show status</button></p></form>\
<p><a href=\"/register\">Register</a></p>"
    );
    public_page(status, "Registration status", error, &body)
}

async fn status_form(State(state): State<AdminState>, Query(q): Query<Sent>) -> Response {
    if state.registration.is_none() {
        return off();
    }
    let notice = match q.sent.as_deref() {
        Some("pending") => {
            Some("Registration received; it awaits the operator's approval. Look here again later.")
        }
        Some("active") => Some("Account created; log in with your name and password."),
        _ => None,
    };
    status_page(StatusCode::OK, notice, None)
}

#[derive(Debug, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: Secret,
}

async fn status(
    State(state): State<AdminState>,
    parts: Parts,
    Form(f): Form<StatusForm>,
) -> Response {
    let desk = match desk_for(&state, &parts) {
        Ok(desk) => desk,
        Err(refused) => return refused(),
    };
    let name = f.name.trim();
    match desk
        .status(name, f.password.expose(), client_ip(&parts))
        .await
    {
        Ok(answer) => {
            let said = match answer {
                RegistrationAnswer::Pending => {
                    "pending: the operator has not decided yet; look again later.".to_string()
                }
                RegistrationAnswer::Approved => {
                    "approved: log in with your name and password.".to_string()
                }
                RegistrationAnswer::Rejected(reason) => format!("rejected: {reason}"),
            };
            let body = format!(
                "<p class=\"notice\" role=\"status\" id=\"answer\">{} — {}</p>\
<p><a href=\"/register/status\">Ask again</a></p>",
                esc(name),
                esc(&said)
            );
            public_page(StatusCode::OK, "Registration status", None, &body)
        }
        Err(StatusError::Invalid) => status_page(
            StatusCode::UNAUTHORIZED,
            None,
            Some("No registration with that name and password."),
        ),
        Err(StatusError::Locked(wait)) => status_page(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some(&format!(
                "Too many failed tries; try again in {} s.",
                wait.as_secs().max(1)
            )),
        ),
        Err(StatusError::Store(e)) => {
            tracing::error!(error = %e, "account store failed during a registration status check");
            status_page(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                Some("Cannot look right now; try again later."),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut req = Request::post("/register");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn only_this_origin_or_no_browser_may_post() {
        assert!(same_origin(&parts(&[])));
        assert!(same_origin(&parts(&[
            ("host", "h:8080"),
            ("origin", "http://h:8080")
        ])));
        assert!(same_origin(&parts(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&parts(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&parts(&[("sec-fetch-site", "same-site")])));
        assert!(!same_origin(&parts(&[
            ("host", "h:8080"),
            ("origin", "http://evil:8080")
        ])));
        assert!(!same_origin(&parts(&[
            ("host", "h:8080"),
            ("origin", "null")
        ])));
        assert!(!same_origin(&parts(&[("origin", "http://h:8080")])));
    }
}
