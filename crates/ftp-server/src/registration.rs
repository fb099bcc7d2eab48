//! Self-registration: `SITE REGISTER <name> <password> [<mail address>]`
//! before login. The address, if given, is kept with the account so the
//! registrant can hear the operator's answer; a password followed by a
//! space and something that looks like an address is read that way.
//!
//! The operator's policy decides what a registration does: nothing
//! (`off`), a *pending* account that waits for `wharfd users approve`
//! (`approval`, the default), or an active account at once (`open`).
//! Names follow [`validate_name`]; passwords have a minimum length; each
//! client address may register only a few times an hour, and the number of
//! pending accounts is capped, so nobody can flood the store. Limits are
//! checked before the Argon2 hash is computed. A name whose home still
//! holds an earlier account's files is refused exactly like a taken name
//! (see [`crate::accounts::admin`]).

use crate::accounts::admin::{home_in_use, AdminError};
use crate::accounts::password::{hash_password, MAX_PASSWORD};
use crate::accounts::{
    validate_name, Account, AccountError, AccountStatus, AccountStore, NameError,
};
use crate::options::ServerOptions;
use ftp_proto::reply::code;
use ftp_proto::Reply;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What `SITE REGISTER` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationPolicy {
    /// Refused with 502.
    Off,
    /// The account waits for the operator's approval.
    Approval,
    /// The account is active at once.
    Open,
}

impl FromStr for RegistrationPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Ok(RegistrationPolicy::Off),
            "approval" => Ok(RegistrationPolicy::Approval),
            "open" => Ok(RegistrationPolicy::Open),
            other => Err(format!(
                "registration policy {other:?} is not one of off, approval, open"
            )),
        }
    }
}

impl fmt::Display for RegistrationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegistrationPolicy::Off => "off",
            RegistrationPolicy::Approval => "approval",
            RegistrationPolicy::Open => "open",
        })
    }
}

/// The window the per-address registration limit counts over.
const WINDOW: Duration = Duration::from_secs(3600);

/// Why a registration was refused.
#[derive(Debug)]
pub enum RegisterError {
    Disabled,
    Syntax,
    BadName(NameError),
    /// The mail address is not a plain `local@domain.tld`.
    BadAddress,
    Taken,
    WeakPassword(usize),
    TooMany,
    QueueFull,
    Store(AccountError),
    /// The home could not be looked at.
    Home(AdminError),
}

impl RegisterError {
    pub fn reply(&self) -> Reply {
        match self {
            RegisterError::Disabled => Reply::new(
                code::NOT_IMPLEMENTED,
                "Registration is disabled on this server.",
            ),
            RegisterError::Syntax => Reply::new(
                code::ARGUMENT_ERROR,
                "Usage: SITE REGISTER <name> <password> [<mail address>]",
            ),
            RegisterError::BadName(NameError::Reserved) => Reply::new(
                code::FILE_UNAVAILABLE,
                "That name is reserved; choose another.",
            ),
            RegisterError::BadName(e) => {
                Reply::new(code::NAME_NOT_ALLOWED, format!("Bad name: {e}."))
            }
            RegisterError::BadAddress => Reply::new(
                code::ARGUMENT_ERROR,
                "Bad mail address: give a plain local@domain.tld, or none.",
            ),
            RegisterError::Taken => Reply::new(
                code::FILE_UNAVAILABLE,
                "That name is already taken; choose another.",
            ),
            RegisterError::WeakPassword(min) => Reply::new(
                code::ARGUMENT_ERROR,
                format!(
                    "Password too short: use at least {min} characters (at most {MAX_PASSWORD})."
                ),
            ),
            RegisterError::TooMany => Reply::new(
                code::FILE_BUSY,
                "Too many registrations from your address; try again later.",
            ),
            RegisterError::QueueFull => Reply::new(
                code::FILE_BUSY,
                "Too many registrations await approval; try again later.",
            ),
            RegisterError::Store(e) => {
                tracing::error!(error = %e, "account store failed during registration");
                Reply::new(
                    code::LOCAL_ERROR,
                    "Registration failed: account store error. Try again later.",
                )
            }
            RegisterError::Home(e) => {
                tracing::error!(error = %e, "cannot check a home during registration");
                Reply::new(
                    code::LOCAL_ERROR,
                    "Registration failed: storage error. Try again later.",
                )
            }
        }
    }
}

/// Accepts registrations and remembers, per client address, when.
#[derive(Debug, Default)]
pub struct Registrar {
    recent: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl Registrar {
    /// Counts an attempt from `from`; false once it is over the limit.
    fn admit(&self, from: IpAddr, per_hour: u32) -> bool {
        let now = Instant::now();
        let Ok(mut recent) = self.recent.lock() else {
            return false;
        };
        // Keep the table small: forget addresses whose window has passed.
        if recent.len() > 10_000 {
            recent.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < WINDOW)
            });
        }
        let times = recent.entry(from.to_canonical()).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            times.pop_front();
        }
        if times.len() >= per_hour as usize {
            return false;
        }
        times.push_back(now);
        true
    }

    /// Registers `name` with `password` and, if given, the mail address
    /// `contact` (refused unless [`is_address`]): the one path of SITE
    /// REGISTER and the public registration page (through
    /// [`crate::registration_desk::RegistrationDesk`]). Returns the new
    /// account's status.
    pub async fn register_fields(
        &self,
        opts: &ServerOptions,
        store: &dyn AccountStore,
        name: &str,
        password: &str,
        contact: Option<&str>,
        from: IpAddr,
    ) -> Result<AccountStatus, RegisterError> {
        let status = match opts.registration {
            RegistrationPolicy::Off => return Err(RegisterError::Disabled),
            RegistrationPolicy::Approval => AccountStatus::Pending,
            RegistrationPolicy::Open => AccountStatus::Active,
        };
        if contact.is_some_and(|c| !is_address(c)) {
            return Err(RegisterError::BadAddress);
        }
        validate_name(name).map_err(RegisterError::BadName)?;
        if password.chars().count() < opts.min_password_len || password.len() > MAX_PASSWORD {
            return Err(RegisterError::WeakPassword(opts.min_password_len));
        }
        if !self.admit(from, opts.registrations_per_ip_per_hour) {
            tracing::warn!(%from, "registration rate limit reached");
            return Err(RegisterError::TooMany);
        }
        if store
            .find(name)
            .await
            .map_err(RegisterError::Store)?
            .is_some()
        {
            return Err(RegisterError::Taken);
        }
        let home = opts.default_home(name);
        if let Some(in_use) = home_in_use(&opts.storage, name, &home)
            .await
            .map_err(RegisterError::Home)?
        {
            tracing::info!(%from, name, %in_use, "registration refused: the home still holds an earlier account's files");
            return Err(RegisterError::Taken);
        }
        if status == AccountStatus::Pending
            && store.count_pending().await.map_err(RegisterError::Store)? >= opts.max_pending
        {
            return Err(RegisterError::QueueFull);
        }
        let password = password.as_bytes().to_vec();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| RegisterError::Store(AccountError::Backend(e.to_string())))?
            .map_err(|e| RegisterError::Store(AccountError::Backend(e)))?;
        let account = Account {
            name: name.to_string(),
            password_hash: hash,
            home: None,
            status,
            created_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            registered_from: Some(from.to_canonical().to_string()),
            contact: contact.map(str::to_string),
            quota_bytes: opts.default_quota,
            used_bytes: 0,
        };
        match store.create(&account).await {
            Ok(()) => {}
            Err(AccountError::Exists(_)) => return Err(RegisterError::Taken),
            Err(e) => return Err(RegisterError::Store(e)),
        }
        if status == AccountStatus::Active {
            if let Err(e) = std::fs::create_dir_all(&home) {
                tracing::warn!(error = %e, home = %home.display(), "cannot create the home directory yet");
            }
        }
        tracing::info!(%from, name, status = status.as_str(), "registration");
        Ok(status)
    }
}

/// `name password [address]`: the name, the password and the address.
pub(crate) fn parse_request(args: &str) -> Result<(&str, &str, Option<&str>), RegisterError> {
    let (name, rest) = args
        .trim_start()
        .split_once(' ')
        .ok_or(RegisterError::Syntax)?;
    let rest = rest.trim_end_matches(['\r', '\n']);
    Ok(match rest.rsplit_once(' ') {
        Some((password, last)) if is_address(last) && !password.is_empty() => {
            (name, password, Some(last))
        }
        _ => (name, rest, None),
    })
}

/// Whether `text` is a plain mail address (`local@domain.tld`): nothing
/// that could break a mail header or name several recipients.
pub fn is_address(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
    };
    text.len() <= 254 && plain(local) && plain(domain) && domain.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_may_end_with_an_address() {
        let p = |a| parse_request(a).ok();
        assert_eq!(p("carol pw-1"), Some(("carol", "pw-1", None)));
        assert_eq!(
            p("carol pw-1 carol@example.org"),
            Some(("carol", "pw-1", Some("carol@example.org")))
        );
        assert_eq!(p("carol two words"), Some(("carol", "two words", None)));
        assert_eq!(p("carol a@b"), Some(("carol", "a@b", None)));
        assert!(p("carol").is_none());
        assert!(!is_address("a@b,c@d.org"));
        assert!(!is_address("<a@b.org>"));
        assert!(!is_address("a@b@c.org"));
    }

    #[test]
    fn policy_parses() {
        assert_eq!("Approval".parse(), Ok(RegistrationPolicy::Approval));
        assert!("maybe".parse::<RegistrationPolicy>().is_err());
    }

    #[test]
    fn rate_limit_per_address() {
        let r = Registrar::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(r.admit(a, 2));
        assert!(r.admit(a, 2));
        assert!(!r.admit(a, 2));
        assert!(r.admit(b, 2));
    }
}
