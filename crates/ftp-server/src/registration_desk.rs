//! [`RegistrationDesk`]: self-registration and its status, as every
//! front-end takes them — `SITE REGISTER` / `SITE REGSTATUS` in an FTP
//! session and the admin HTTP server's public registration page. It holds
//! the running server's shared parts, so a registration from the web
//! counts towards the same per-address limit as one over FTP, a status
//! check with a wrong password towards the same login lockout, and both
//! announce a registration with the same event.

use crate::accounts::{AccountError, AccountStatus, LoginError, RegistrationAnswer};
use crate::events::{Event, EventKind};
use crate::listener::Shared;
use crate::registration::{parse_request, RegisterError, RegistrationPolicy};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Why a status check told nothing.
#[derive(Debug)]
pub enum StatusError {
    /// Too many failed logins for this name from this address: wait.
    Locked(Duration),
    /// No registration with that name and password (whether or not the
    /// name exists); counted as a failed login, after the failure delay.
    Invalid,
    Store(AccountError),
}

/// The registration counter of a running server.
#[derive(Debug, Clone)]
pub struct RegistrationDesk {
    shared: Arc<Shared>,
}

impl RegistrationDesk {
    pub fn new(shared: Arc<Shared>) -> Self {
        RegistrationDesk { shared }
    }

    /// What a registration does on this server.
    pub fn policy(&self) -> RegistrationPolicy {
        self.shared.options.registration
    }

    /// The shortest password a registration may have.
    pub fn min_password_len(&self) -> usize {
        self.shared.options.min_password_len
    }

    /// Registers `name` (see [`crate::registration::Registrar`]) for a
    /// client at `from` speaking `protocol`, and announces it.
    pub async fn register(
        &self,
        name: &str,
        password: &str,
        contact: Option<&str>,
        from: IpAddr,
        protocol: &'static str,
    ) -> Result<AccountStatus, RegisterError> {
        let shared = &self.shared;
        let status = shared
            .registrar
            .register_fields(
                &shared.options,
                shared.auth.store().as_ref(),
                name,
                password,
                contact,
                from,
            )
            .await?;
        self.announce(name, status, from, protocol);
        Ok(status)
    }

    /// Parses `name password [address]` (the argument of SITE REGISTER)
    /// and registers as [`RegistrationDesk::register`] does.
    pub async fn register_request(
        &self,
        args: &str,
        from: IpAddr,
        protocol: &'static str,
    ) -> Result<AccountStatus, RegisterError> {
        if self.policy() == RegistrationPolicy::Off {
            return Err(RegisterError::Disabled);
        }
        let (name, password, contact) = parse_request(args)?;
        self.register(name, password, contact, from, protocol).await
    }

    /// Emits the registration event of `name`.
    fn announce(&self, name: &str, status: AccountStatus, from: IpAddr, protocol: &'static str) {
        self.shared.events.emit(
            Event::new(EventKind::RegistrationRequested)
                .account(name)
                .client(from)
                .protocol(protocol)
                .reason(match status {
                    AccountStatus::Active => "created: registration is open".to_string(),
                    _ => format!("awaits approval: wharfd users approve {name}"),
                }),
        );
    }

    /// What the registrant of `name`, proving it with `password` from
    /// `from`, may learn: as a login, a locked-out pair costs no hashing,
    /// and a wrong name or password counts towards the lockout and waits
    /// the failure delay.
    pub async fn status(
        &self,
        name: &str,
        password: &str,
        from: IpAddr,
    ) -> Result<RegistrationAnswer, StatusError> {
        let shared = &self.shared;
        if let Some(wait) = shared.throttle.locked(from, name.as_bytes()) {
            return Err(StatusError::Locked(wait));
        }
        match shared
            .auth
            .registration(name.as_bytes(), password.as_bytes())
            .await
        {
            Ok(answer) => Ok(answer),
            Err(LoginError::Store(e)) => Err(StatusError::Store(e)),
            Err(_) => {
                let opts = &shared.options;
                shared.login_failed(from, name.as_bytes());
                tracing::info!(%from, user = name, "registration status asked with a wrong name or password");
                tokio::time::sleep(opts.login_fail_delay).await;
                Err(StatusError::Invalid)
            }
        }
    }
}
