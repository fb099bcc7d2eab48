//! USER and PASS (RFC 959 §4.1.1): the login exchange.
//!
//! `anonymous` and `ftp` log in with any password, read-only, inside the
//! public directory, when anonymous access is on. Everyone else is checked
//! by the [`Authenticator`](crate::accounts::Authenticator), then by its
//! limits ([`crate::policy::check_login`]: expiry, protocol, client
//! network), which speak only after the right password, so they tell a
//! stranger nothing. A failed login is answered after a fixed delay,
//! identical for every kind of failure, and after too many failures the
//! session is closed with 421.

use super::Outcome;
use crate::accounts::LoginError;
use crate::admission::{admit, journal};
use crate::events::{Event, EventKind};
use crate::folders;
use crate::metrics::Metrics;
use crate::options::ANON_INCOMING;
use crate::policy::live::Rules;
use crate::policy::{Layers, PermSet, Policy, Protocol};
use crate::service::{FileService, Identity};
use crate::session::state::{Login, Principal};
use crate::session::Session;
use crate::storage::backend::Root;
use ftp_proto::reply::code;
use ftp_proto::{Reply, VirtualPath};

/// Names that mean anonymous access (RFC 1635).
fn is_anonymous(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"anonymous") || name.eq_ignore_ascii_case(b"ftp")
}

pub fn user(s: &mut Session, name: Vec<u8>) -> Outcome {
    if s.state.logged_in() {
        return Reply::new(
            code::NOT_LOGGED_IN,
            "Already logged in; cannot change user.",
        )
        .into();
    }
    let tls_required = s
        .shared
        .options
        .tls
        .as_ref()
        .is_some_and(|t| t.require_login);
    if tls_required && !s.control.is_tls() && !is_anonymous(&name) {
        return Reply::new(
            code::NOT_LOGGED_IN,
            "This server requires TLS for account logins: send AUTH TLS first (curl --ssl-reqd, lftp set ftp:ssl-force true).",
        )
        .into();
    }
    let text = if is_anonymous(&name) {
        "Anonymous login: send your e-mail address as password."
    } else {
        "Please specify the password."
    };
    s.state.login = Login::NeedPassword(name);
    Reply::new(code::NEED_PASSWORD, text).into()
}

pub async fn pass(s: &mut Session, password: Vec<u8>) -> Outcome {
    let name = match std::mem::take(&mut s.state.login) {
        Login::NeedPassword(name) => name,
        other => {
            let logged_in = matches!(other, Login::LoggedIn(_));
            s.state.login = other;
            return if logged_in {
                Reply::new(code::LOGGED_IN, "Already logged in.").into()
            } else {
                Reply::new(code::BAD_SEQUENCE, "Login with USER first.").into()
            };
        }
    };
    let peer = s.control.peer;
    // Checked before any hashing: a locked-out flood costs nothing.
    if let Some(wait) = s.shared.throttle.locked(peer.ip(), &name) {
        tracing::warn!(%peer, user = %String::from_utf8_lossy(&name), "login refused: locked out");
        s.shared.events.emit(
            Event::new(EventKind::LoginLocked)
                .account(&String::from_utf8_lossy(&name))
                .client(peer.ip())
                .protocol(protocol(s).name()),
        );
        return Outcome::Close(Reply::new(
            code::NOT_AVAILABLE,
            format!(
                "Too many failed logins; try again in {} s.",
                wait.as_secs().max(1)
            ),
        ));
    }
    match check(s, &name, &password).await {
        Ok(admitted) => logged_in(s, &name, admitted),
        Err(LoginError::Store(e)) => {
            tracing::error!(error = %e, "account store failed during login");
            Outcome::Close(Reply::new(
                code::NOT_AVAILABLE,
                "Login unavailable: account store error. Try again later.",
            ))
        }
        Err(e) => failed(s, &name, e).await,
    }
}

/// A login that passed: who, their files, and how many sessions the
/// account may have at once.
struct Admitted {
    principal: Principal,
    files: FileService,
    max_sessions: usize,
}

/// Checks the credentials and the account's limits, and opens the
/// session's root.
/// What anonymous sessions may do: list and download, and, with an
/// incoming folder, upload new files there and nothing else.
fn anonymous_policy(incoming: Option<&str>) -> Policy {
    let mut policy = Policy {
        permissions: Some(PermSet::READ_ONLY),
        ..Policy::default()
    };
    if let Some(folder) = incoming {
        let at = VirtualPath::root()
            .join(ANON_INCOMING.as_bytes())
            .unwrap_or_else(|_| VirtualPath::root());
        if policy
            .set_mount(at.clone(), Some(folder.to_string()))
            .is_ok()
        {
            policy.set_path(at, Some(PermSet::UPLOAD_ONLY));
        }
    }
    policy
}

async fn check(s: &mut Session, name: &[u8], password: &[u8]) -> Result<Admitted, LoginError> {
    let opts = &s.shared.options;
    let defaults = opts.policy_defaults();
    if is_anonymous(name) {
        if !opts.anonymous {
            // Anonymous access is off. Spend what a wrong password costs,
            // so nothing tells the two apart.
            let _ = s.shared.auth.authenticate(b"", password).await;
            return Err(LoginError::Invalid);
        }
        let storage = opts
            .storage
            .open(
                Root::Public {
                    dir: &opts.anon_root,
                },
                false,
                opts.backend_timeout,
            )
            .map_err(|e| {
                tracing::error!(error = %e, root = %opts.anon_root.display(), "anonymous root unusable");
                LoginError::Invalid
            })?;
        let policy = anonymous_policy(opts.anon_incoming.as_deref());
        let mounts = folders::mount(
            &Layers::alone(policy.clone()),
            opts,
            s.shared.auth.store().as_ref(),
            &s.shared.quota,
            storage.as_ref(),
        )
        .await;
        let rules = Rules::fixed(policy, defaults);
        let files = FileService::new(
            storage,
            None,
            identity(s, "anonymous", true),
            journal(&s.shared),
            rules,
        )
        .with_mounts(mounts);
        return Ok(Admitted {
            principal: Principal::Anonymous,
            files,
            max_sessions: usize::MAX,
        });
    }
    let account = s.shared.auth.authenticate(name, password).await?;
    let admitted = admit(&s.shared, account, s.control.peer, protocol(s)).await?;
    Ok(Admitted {
        principal: Principal::User(admitted.user),
        files: admitted.files,
        max_sessions: admitted.max_sessions,
    })
}

fn protocol(s: &Session) -> Protocol {
    if s.control.is_tls() {
        Protocol::Ftps
    } else {
        Protocol::Ftp
    }
}

fn identity(s: &Session, user: &str, anonymous: bool) -> Identity {
    Identity {
        user: user.to_string(),
        anonymous,
        peer: s.control.peer,
        protocol: protocol(s).name(),
    }
}

fn logged_in(s: &mut Session, name: &[u8], admitted: Admitted) -> Outcome {
    let Admitted {
        principal,
        files,
        max_sessions: max,
    } = admitted;
    let peer = s.control.peer;
    s.shared.throttle.succeeded(peer.ip(), name);
    if let Principal::User(user) = &principal {
        match s
            .shared
            .user_sessions
            .try_acquire(user.clone(), usize::MAX, max)
        {
            Some(slot) => s.state.user_slot = Some(slot),
            None => {
                tracing::warn!(%peer, user, "login refused: too many sessions for the account");
                return Reply::new(
                    code::NOT_LOGGED_IN,
                    format!("Too many sessions for {user} (limit {max}); close one and try again."),
                )
                .into();
            }
        }
    }
    tracing::info!(%peer, user = principal.name(), "login");
    s.shared.events.emit(
        Event::new(EventKind::LoginOk)
            .account(principal.name())
            .client(peer.ip())
            .protocol(protocol(s).name()),
    );
    Metrics::inc(&s.shared.metrics.logins_ok);
    let text = match principal {
        Principal::Anonymous => "Login successful (anonymous, read-only).",
        Principal::User(_) => "Login successful.",
    };
    let proto = protocol(s);
    s.state.live = Some(s.shared.live.register(
        principal.name(),
        peer,
        proto.name(),
        s.control.is_tls(),
        tokio_util::sync::CancellationToken::new(),
    ));
    s.state.login = Login::LoggedIn(principal);
    s.state.files = Some(files);
    s.state.cwd = VirtualPath::root();
    s.state.failed_logins = 0;
    Reply::new(code::LOGGED_IN, text).into()
}

/// Every failure is answered after the same delay and counted, in the
/// session and across sessions.
async fn failed(s: &mut Session, name: &[u8], err: LoginError) -> Outcome {
    let peer = s.control.peer;
    let opts = &s.shared.options;
    s.state.failed_logins += 1;
    Metrics::inc(&s.shared.metrics.logins_failed);
    s.shared.login_failed(peer.ip(), name);
    match &err {
        LoginError::Refused(reason) => {
            tracing::warn!(%peer, user = %String::from_utf8_lossy(name), %reason, "login refused by the account's limits")
        }
        _ => {
            tracing::info!(%peer, user = %String::from_utf8_lossy(name), failures = s.state.failed_logins, "login failed")
        }
    }
    s.shared.events.emit(
        Event::new(EventKind::LoginFailed)
            .account(&String::from_utf8_lossy(name))
            .client(peer.ip())
            .protocol(protocol(s).name())
            .failed(&err),
    );
    tokio::time::sleep(opts.login_fail_delay).await;
    if s.state.failed_logins >= opts.max_login_failures {
        return Outcome::Close(Reply::new(
            code::NOT_AVAILABLE,
            "Too many failed logins; closing.",
        ));
    }
    let text = match err {
        LoginError::Pending => "Login refused: account not approved yet.".to_string(),
        LoginError::Refused(reason) => reason.to_string(),
        _ => "Login incorrect.".to_string(),
    };
    Reply::new(code::NOT_LOGGED_IN, text).into()
}
