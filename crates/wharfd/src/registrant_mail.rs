//! `[registrant_mail]`: when the operator approves or rejects a
//! registration (`wharfd users approve|reject`) whose registrant gave a
//! mail address (`SITE REGISTER name password address`), the registrant
//! is told by mail through this relay. A message that cannot be sent is
//! reported and never undoes the decision.

use crate::cli::Location;
use crate::config::FileConfig;
use crate::event_config::mail_target;
use anyhow::Result;
use ftp_server::events::mail::{send, MailTarget};
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
    pub from: String,
    /// How the server is named in the message, e.g. `ftp.example.org`.
    pub site: Option<String>,
    /// Seconds the message may take [default: 30].
    pub timeout: Option<u64>,
}

/// The relay, checked (with no recipient yet), the site's name and the
/// time limit; `None` when the table is absent.
pub fn check(file: &FileConfig) -> Result<Option<(MailTarget, String, Duration)>> {
    let Some(m) = &file.registrant_mail else {
        return Ok(None);
    };
    let target = mail_target(
        &m.server,
        m.security.as_deref(),
        m.cacert.as_ref(),
        &m.from,
        Vec::new(),
        "registrant_mail",
    )?;
    let site = m.site.clone().unwrap_or_else(|| "the Wharf server".into());
    Ok(Some((
        target,
        site,
        Duration::from_secs(m.timeout.unwrap_or(30).max(1)),
    )))
}

/// The operator's decision on `name`, for the message.
#[derive(Debug)]
pub enum Decision<'a> {
    Approved,
    Rejected(&'a str),
}

/// Mails `contact` (if any, and if `[registrant_mail]` is configured) the
/// decision on `name`; problems are reported on stderr.
pub async fn tell(location: &Location, name: &str, contact: Option<&str>, decision: Decision<'_>) {
    let Some(contact) = contact else {
        return;
    };
    let configured = FileConfig::load(location).and_then(|f| check(&f));
    let (mut target, site, timeout) = match configured {
        Ok(Some(configured)) => configured,
        Ok(None) => return,
        Err(e) => {
            eprintln!("wharfd: the registrant was not mailed: {e:#}");
            return;
        }
    };
    target.to = vec![contact.to_string()];
    let (subject, body) = message(name, &site, &decision);
    match tokio::time::timeout(timeout, send(&target, subject, body, timeout)).await {
        Ok(Ok(())) => println!("mailed the answer to {contact}"),
        Ok(Err(e)) => eprintln!("wharfd: the registrant was not mailed: {e}"),
        Err(_) => eprintln!(
            "wharfd: the registrant was not mailed: no answer from the relay within {} s",
            timeout.as_secs()
        ),
    }
}

/// The subject and body telling the registrant of `name` the decision.
fn message(name: &str, site: &str, decision: &Decision<'_>) -> (String, String) {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let site = clean(site);
    match decision {
        Decision::Approved => (
            format!("Your registration as {name} on {site} was approved"),
            format!(
                "The operator of {site} approved your registration as {name}.\n\
                 Log in with that name and the password you chose.\n"
            ),
        ),
        Decision::Rejected(reason) => (
            format!("Your registration as {name} on {site} was rejected"),
            format!(
                "The operator of {site} rejected your registration as {name}.\n\
                 Reason: {}\n",
                clean(reason)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_says_the_decision_and_keeps_headers_whole() {
        let (subject, body) = message("carol", "ftp.example.org", &Decision::Approved);
        assert_eq!(
            subject,
            "Your registration as carol on ftp.example.org was approved"
        );
        assert!(body.contains("Log in"));
        let (subject, body) = message("dave", "x\r\nBcc: y", &Decision::Rejected("no\nreally"));
        assert!(
            !subject.contains('\n') && !subject.contains('\r'),
            "{subject}"
        );
        assert!(body.contains("Reason: no really"), "{body}");
    }
}
