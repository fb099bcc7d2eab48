//! Who is calling. An admin logs in with name and password
//! (`POST /api/login` or the console's form) and gets a session cookie —
//! `HttpOnly`, `SameSite=Strict`, `Secure` under TLS — plus a CSRF token
//! that every state-changing request of that session must carry (the
//! `X-CSRF-Token` header, or a `csrf` form field in the console). Scripts
//! send `Authorization: Bearer TOKEN` instead; a `read` token may change
//! nothing. After [`MAX_FAILURES`] wrong passwords for one name from one
//! address, that pair is locked out for [`LOCKOUT`].

use crate::error::ApiError;
use crate::state::AdminState;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use ftp_server::accounts::operators::{self, random_hex, token_owner, verify_admin, Scope};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Wrong passwords before a name is locked out from an address.
pub const MAX_FAILURES: u32 = 5;
/// How long a lockout lasts (and how long failures are remembered).
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// How long a console session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Console sessions kept at once; the oldest goes first past it.
const MAX_SESSIONS: usize = 1000;
/// The session cookie's name.
pub const COOKIE: &str = "wharf_admin";
/// (address, name) pairs whose failures are remembered at once; past it
/// the stalest is forgotten.
const MAX_TRACKED: usize = 10_000;
/// The header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

struct CookieSession {
    admin: String,
    csrf: String,
    expires: Instant,
}

#[derive(Debug)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Console sessions and failed-login counts, in memory, and the cap on
/// password checks at once (each is an Argon2 hash: memory and a core).
/// Its `Debug` shows counts, never a session id or CSRF token.
pub struct Logins {
    sessions: Mutex<HashMap<String, CookieSession>>,
    failures: Mutex<HashMap<(IpAddr, String), Failures>>,
    hashing: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logins")
            .field("sessions", &lock(&self.sessions).len())
            .field("tracked_failures", &lock(&self.failures).len())
            .finish()
    }
}

impl Default for Logins {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Logins {
            sessions: Mutex::default(),
            failures: Mutex::default(),
            hashing: tokio::sync::Semaphore::new(cores),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A new console session: the cookie's value and its CSRF token.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id: String,
    pub csrf: String,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewSession(/* redacted */)")
    }
}

impl Logins {
    /// Seconds left on a lockout of `name` from `ip`, if locked.
    fn locked(&self, ip: IpAddr, name: &str) -> Option<u64> {
        let mut failures = lock(&self.failures);
        let key = (ip, name.to_string());
        let f = failures.get(&key)?;
        let since = f.last.elapsed();
        if since >= LOCKOUT {
            failures.remove(&key);
            return None;
        }
        (f.count >= MAX_FAILURES).then(|| (LOCKOUT - since).as_secs().max(1))
    }

    fn failed(&self, ip: IpAddr, name: &str) {
        let mut failures = lock(&self.failures);
        failures.retain(|_, f| f.last.elapsed() < LOCKOUT);
        if failures.len() >= MAX_TRACKED {
            if let Some(stalest) = failures
                .iter()
                .min_by_key(|(_, f)| f.last)
                .map(|(k, _)| k.clone())
            {
                failures.remove(&stalest);
            }
        }
        let f = failures.entry((ip, name.to_string())).or_insert(Failures {
            count: 0,
            last: Instant::now(),
        });
        f.count += 1;
        f.last = Instant::now();
    }

    fn start(&self, admin: &str, ip: IpAddr) -> NewSession {
        lock(&self.failures).remove(&(ip, admin.to_string()));
        let new = NewSession {
            id: random_hex(32),
            csrf: random_hex(32),
        };
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, s| s.expires > Instant::now());
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            new.id.clone(),
            CookieSession {
                admin: admin.to_string(),
                csrf: new.csrf.clone(),
                expires: Instant::now() + SESSION_TTL,
            },
        );
        new
    }

    /// The admin and CSRF token of session `id`, if it is live.
    pub fn session(&self, id: &str) -> Option<(String, String)> {
        let sessions = lock(&self.sessions);
        sessions
            .get(id)
            .filter(|s| s.expires > Instant::now())
            .map(|s| (s.admin.clone(), s.csrf.clone()))
    }

    /// Ends session `id`.
    pub fn end(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }
}

/// Checks `name`, `password` and, for an admin with TOTP on, `code`
/// ([`crate::second_factor`]), with lockout, and starts a console session;
/// every attempt is audited. Every failure gets the same answer.
pub async fn login(
    state: &AdminState,
    name: &str,
    password: &str,
    code: Option<&str>,
    client: IpAddr,
) -> Result<NewSession, ApiError> {
    let admins = state.admins()?;
    if let Some(left) = state.logins.locked(client, name) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins for {name:?} from {client}; try again in {left} s"),
        ));
    }
    let record = admins.admin_find(name).await?;
    let password = password.as_bytes().to_vec();
    let _slot = state
        .logins
        .hashing
        .acquire()
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let checked = record.clone();
    let ok = tokio::task::spawn_blocking(move || verify_admin(checked.as_ref(), &password))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let ok = ok && crate::second_factor::passes(admins, record.as_ref(), code).await?;
    let ip = client.to_string();
    if !ok {
        state.logins.failed(client, name);
        operators::audit(admins, name, "login.failed", "", &ip).await?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            crate::second_factor::REFUSED,
        ));
    }
    operators::audit(admins, name, "login", "", &ip).await?;
    Ok(state.logins.start(name, client))
}

/// The `Set-Cookie` value that carries session `id` (empty: clears it).
pub fn cookie(id: &str, secure: bool) -> String {
    let age = if id.is_empty() {
        0
    } else {
        SESSION_TTL.as_secs()
    };
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={age}{secure}")
}

/// The console session id in a request's cookies.
pub fn session_id(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The client's address, as the connection says.
pub fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// An authenticated caller.
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    pub admin: String,
    pub scope: Scope,
    /// The session's CSRF token, for a cookie session; `None` for a token.
    pub csrf: Option<String>,
    /// The session id, for a cookie session.
    pub session: Option<String>,
    pub client: IpAddr,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("admin", &self.admin)
            .field("scope", &self.scope)
            .field("client", &self.client)
            .finish()
    }
}

impl Caller {
    /// Refuses a caller that may not change anything, or a cookie session
    /// whose request does not carry its CSRF token `given`.
    pub fn may_change(&self, given: Option<&str>) -> Result<(), ApiError> {
        if self.scope != Scope::Admin {
            return Err(ApiError::forbidden(
                "this token has the read scope and may change nothing",
            ));
        }
        match &self.csrf {
            None => Ok(()),
            Some(expected) if given.is_some_and(|g| constant_eq(g, expected)) => Ok(()),
            Some(_) => Err(ApiError::forbidden(
                "missing or wrong CSRF token (send the X-CSRF-Token header from POST /api/login)",
            )),
        }
    }

    /// The client address as the audit log records it.
    pub fn from(&self) -> String {
        self.client.to_string()
    }
}

/// Compares without stopping at the first difference.
fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl FromRequestParts<AdminState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let client = client_ip(parts);
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some(token) = bearer {
            let (admin, scope) = token_owner(state.admins()?, token.trim())
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            return Ok(Caller {
                admin,
                scope,
                csrf: None,
                session: None,
                client,
            });
        }
        let id = session_id(parts).ok_or_else(ApiError::unauthorized)?;
        let (admin, csrf) = state
            .logins
            .session(&id)
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Caller {
            admin,
            scope: Scope::Admin,
            csrf: Some(csrf),
            session: Some(id),
            client,
        })
    }
}

/// A caller allowed to change things: an `admin` token, or a cookie
/// session whose request carries the CSRF header. Safe methods pass as
/// for [`Caller`].
#[derive(Debug, Clone)]
pub struct Writer(pub Caller);

impl FromRequestParts<AdminState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if parts.method != Method::GET && parts.method != Method::HEAD {
            let given = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            caller.may_change(given)?;
        }
        Ok(Writer(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_after_max_failures_for_that_pair_only() {
        let logins = Logins::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..MAX_FAILURES - 1 {
            logins.failed(ip, "opal");
        }
        assert_eq!(logins.locked(ip, "opal"), None);
        logins.failed(ip, "opal");
        assert!(logins.locked(ip, "opal").is_some());
        assert_eq!(logins.locked(other, "opal"), None);
        assert_eq!(logins.locked(ip, "ruby"), None);
    }

    #[test]
    fn sessions_carry_their_csrf_and_end() {
        let logins = Logins::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let s = logins.start("opal", ip);
        assert_eq!(logins.session(&s.id), Some(("opal".into(), s.csrf.clone())));
        logins.end(&s.id);
        assert_eq!(logins.session(&s.id), None);
    }

    #[test]
    fn csrf_and_scope_checks() {
        let mut c = Caller {
            admin: "opal".into(),
            scope: Scope::Admin,
            csrf: Some("abc".into()),
            session: Some("id".into()),
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        assert!(c.may_change(Some("abc")).is_ok());
        assert!(c.may_change(Some("abd")).is_err());
        assert!(c.may_change(None).is_err());
        c.csrf = None;
        assert!(c.may_change(None).is_ok());
        c.scope = Scope::Read;
        assert_eq!(
            c.may_change(None).map_err(|e| e.status),
            Err(StatusCode::FORBIDDEN)
        );
    }
}
