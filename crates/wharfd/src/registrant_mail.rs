//! The `[registrant_mail]` table (the relay that tells registrants the
//! operator's answer, see `ftp_server::registrant_mail`), checked, and
//! `wharfd users approve|reject`'s use of it.

use crate::cli::Location;
use crate::config::FileConfig;
use crate::event_config::{mail_target, Relay};
use anyhow::Result;
pub use ftp_server::registrant_mail::Decision;
use ftp_server::registrant_mail::RegistrantMail;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The `[registrant_mail]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrantMailConfig {
    /// The SMTP relay, HOST:PORT.
    pub server: String,
    /// `starttls` (the default), `tls` or `plain`.
    pub security: Option<String>,
    /// PEM certificates to trust instead of the system's.
    pub cacert: Option<PathBuf>,
    /// SMTP AUTH: the relay account, and a file holding its password.
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub from: String,
    /// How the server is named in the message, e.g. `ftp.example.org`.
    pub site: Option<String>,
    /// Seconds the message may take [default: 30].
    pub timeout: Option<u64>,
}

/// The relay, checked (with no recipient yet); `None` when the table is
/// absent.
pub fn check(file: &FileConfig) -> Result<Option<RegistrantMail>> {
    let Some(m) = &file.registrant_mail else {
        return Ok(None);
    };
    let target = mail_target(
        Relay {
            server: &m.server,
            security: m.security.as_deref(),
            cacert: m.cacert.as_ref(),
            username: m.username.as_ref(),
            password_file: m.password_file.as_ref(),
            from: &m.from,
        },
        Vec::new(),
        "registrant_mail",
    )?;
    Ok(Some(RegistrantMail {
        target,
        site: m.site.clone().unwrap_or_else(|| "the Wharf server".into()),
        timeout: Duration::from_secs(m.timeout.unwrap_or(30).max(1)),
    }))
}

/// Mails `contact` (if any, and if `[registrant_mail]` is configured) the
/// decision on `name`; problems are reported on stderr.
pub async fn tell(location: &Location, name: &str, contact: Option<&str>, decision: Decision<'_>) {
    let Some(contact) = contact else {
        return;
    };
    let relay = match FileConfig::load(location).and_then(|f| check(&f)) {
        Ok(Some(relay)) => relay,
        Ok(None) => return,
        Err(e) => {
            eprintln!("wharfd: the registrant was not mailed: {e:#}");
            return;
        }
    };
    match relay.tell(name, contact, decision).await {
        Ok(()) => println!("mailed the answer to {contact}"),
        Err(e) => eprintln!("wharfd: the registrant was not mailed: {e}"),
    }
}
