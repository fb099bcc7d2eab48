//! SITE (RFC 959 §4.1.3): the server's own commands.
//!
//! - `SITE HELP`: lists them.
//! - `SITE REGISTER <name> <password> [<mail address>]`: self-registration,
//!   before login (see [`crate::registration`]).
//! - `SITE REGSTATUS <name> <password>`: the registrant asks whether the
//!   operator decided: `200 pending: …`, `200 approved: …` or
//!   `200 rejected: REASON`. Without the right password the answer is the
//!   same 530 whether or not the name exists, and it counts as a failed
//!   login (delay, per-session limit, lockout), so it is no password oracle.
//! - `SITE QUOTA`: the account's used and total space, as a sentence and
//!   as a `key=value;` line for scripts.

use super::Outcome;
use crate::accounts::{AccountStatus, LoginError, RegistrationAnswer};
use crate::events::{Event, EventKind};
use crate::quota::size::format_size;
use crate::session::Session;
use ftp_proto::reply::code;
use ftp_proto::Reply;

pub async fn site(s: &mut Session, arg: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(arg);
    let (verb, rest) = text.split_once(' ').unwrap_or((&text, ""));
    match verb.to_ascii_uppercase().as_str() {
        "HELP" => Reply::multi(
            code::HELP,
            [
                "SITE commands:",
                " SITE REGISTER <name> <password> [<mail address>]   ask for an account",
                " SITE REGSTATUS <name> <password>  has the operator decided?",
                " SITE QUOTA                        show used and total space",
                " SITE HELP                         this list",
                "End",
            ],
        )
        .into(),
        "REGISTER" => register(s, rest).await,
        "REGSTATUS" => regstatus(s, rest).await,
        "QUOTA" => quota(s).await,
        other => Reply::new(
            code::SYNTAX_ERROR,
            format!("Unknown SITE command {other}; try SITE HELP."),
        )
        .into(),
    }
}

async fn register(s: &mut Session, args: &str) -> Outcome {
    let shared = s.shared.clone();
    let result = shared
        .registrar
        .register(
            &shared.options,
            shared.auth.store().as_ref(),
            args,
            s.control.peer.ip(),
        )
        .await;
    if let Ok(status) = &result {
        let name = args.split_whitespace().next().unwrap_or_default();
        shared.events.emit(
            Event::new(EventKind::RegistrationRequested)
                .account(name)
                .client(s.control.peer.ip())
                .protocol(if s.control.is_tls() { "ftps" } else { "ftp" })
                .reason(match status {
                    AccountStatus::Active => "created: registration is open".to_string(),
                    _ => format!("awaits approval: wharfd users approve {name}"),
                }),
        );
    }
    match result {
        Ok(AccountStatus::Active) => {
            Reply::new(code::OK, "Account created; log in with USER and PASS.")
        }
        Ok(_) => Reply::new(
            code::OK,
            "Registration received; it awaits the operator's approval.",
        ),
        Err(e) => e.reply(),
    }
    .into()
}

async fn regstatus(s: &mut Session, args: &str) -> Outcome {
    let Some((name, password)) = args.trim_start().split_once(' ') else {
        return Reply::new(
            code::ARGUMENT_ERROR,
            "Usage: SITE REGSTATUS <name> <password>",
        )
        .into();
    };
    let password = password.trim_end_matches(['\r', '\n']);
    let (shared, peer) = (s.shared.clone(), s.control.peer);
    // As for a login: a locked-out flood costs no hashing.
    if let Some(wait) = shared.throttle.locked(peer.ip(), name.as_bytes()) {
        return Outcome::Close(Reply::new(
            code::NOT_AVAILABLE,
            format!(
                "Too many failed logins; try again in {} s.",
                wait.as_secs().max(1)
            ),
        ));
    }
    let answer = shared
        .auth
        .registration(name.as_bytes(), password.as_bytes())
        .await;
    match answer {
        Ok(RegistrationAnswer::Pending) => Reply::new(
            code::OK,
            "pending: the operator has not decided yet; ask again later.",
        ),
        Ok(RegistrationAnswer::Approved) => {
            Reply::new(code::OK, "approved: log in with USER and PASS.")
        }
        Ok(RegistrationAnswer::Rejected(reason)) => {
            Reply::new(code::OK, format!("rejected: {}", one_line(&reason)))
        }
        Err(LoginError::Store(e)) => {
            tracing::error!(error = %e, "account store failed during SITE REGSTATUS");
            Reply::new(code::LOCAL_ERROR, "Cannot look right now; try again later.")
        }
        Err(_) => {
            let opts = &shared.options;
            s.state.failed_logins += 1;
            shared.login_failed(peer.ip(), name.as_bytes());
            tracing::info!(%peer, user = name, "SITE REGSTATUS with a wrong name or password");
            tokio::time::sleep(opts.login_fail_delay).await;
            if s.state.failed_logins >= opts.max_login_failures {
                return Outcome::Close(Reply::new(
                    code::NOT_AVAILABLE,
                    "Too many failed logins; closing.",
                ));
            }
            Reply::new(
                code::NOT_LOGGED_IN,
                "No registration with that name and password.",
            )
        }
    }
    .into()
}

/// `text` as one reply line: control characters become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

async fn quota(s: &mut Session) -> Outcome {
    let Some(report) = s.state.files.as_ref().map(|f| f.quota()) else {
        return Reply::new(code::NOT_LOGGED_IN, "Please login with USER and PASS.").into();
    };
    let Some(report) = report.await else {
        return if s.state.logged_in() {
            Reply::new(
                code::FILE_UNAVAILABLE,
                "This session has no quota (anonymous, read-only).",
            )
        } else {
            Reply::new(code::NOT_LOGGED_IN, "Please login with USER and PASS.")
        }
        .into();
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot read quota");
            return Reply::new(
                code::LOCAL_ERROR,
                "Cannot read your quota right now; try again later.",
            )
            .into();
        }
    };
    let (human, machine) = match report.limit {
        Some(limit) => {
            let free = limit.saturating_sub(report.used + report.in_flight);
            let pct = if limit == 0 {
                100.0
            } else {
                report.used as f64 * 100.0 / limit as f64
            };
            (
                format!(
                    " Used {} of {} ({pct:.1}%); {} free.",
                    format_size(report.used),
                    format_size(limit),
                    format_size(free)
                ),
                format!(
                    " used={};limit={limit};free={free};in-flight={};",
                    report.used, report.in_flight
                ),
            )
        }
        None => (
            format!(" Used {}; no limit.", format_size(report.used)),
            format!(
                " used={};limit=none;free=none;in-flight={};",
                report.used, report.in_flight
            ),
        ),
    };
    Reply::multi(
        code::SYSTEM_STATUS,
        [
            format!("Quota for {}:", s.state.user_name()),
            human,
            machine,
            "End of quota.".into(),
        ],
    )
    .into()
}
