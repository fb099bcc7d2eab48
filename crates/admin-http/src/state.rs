//! [`AdminState`]: what the handlers share — the account store, the
//! server's options, counters, health probes and live sessions, and the
//! console's login sessions, and the public registration page's desk.

use crate::auth::Logins;
use ftp_server::accounts::{AccountStore, AdminStore};
use ftp_server::cluster::Cluster;
use ftp_server::events::Events;
use ftp_server::metrics::{Health, Metrics};
use ftp_server::registration_desk::RegistrationDesk;
use ftp_server::ServerOptions;
use std::sync::Arc;

/// Shared by every request.
#[derive(Debug, Clone)]
pub struct AdminState {
    pub store: Arc<dyn AccountStore>,
    pub options: Arc<ServerOptions>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// Every instance's live sessions.
    pub cluster: Arc<Cluster>,
    /// The server's events (registration approved or rejected).
    pub events: Events,
    pub logins: Arc<Logins>,
    /// Cookies get `Secure` (the server speaks TLS).
    pub secure: bool,
    /// The public registration page's way in (`--public-register`);
    /// `None`: the page is off.
    pub registration: Option<RegistrationDesk>,
}

impl AdminState {
    /// The admin tables; every store wharfd opens has them.
    pub fn admins(&self) -> Result<&dyn AdminStore, crate::error::ApiError> {
        self.store.admins().ok_or_else(|| {
            crate::error::ApiError::unavailable("this account store keeps no admin accounts")
        })
    }
}
