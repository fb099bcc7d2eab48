//! Telling a registrant the operator's answer by mail: when a registration
//! that gave a mail address (`SITE REGISTER name password address`) is
//! approved or rejected — from `wharfd users` or the admin console alike —
//! the registrant gets a short message through the `[registrant_mail]`
//! relay. A message that cannot be sent never undoes the decision.

use crate::events::mail::{send, MailTarget};
use std::time::Duration;

/// The relay, how the message names this server, and the time a message
/// may take.
#[derive(Debug, Clone)]
pub struct RegistrantMail {
    /// The relay and sender; the recipient is set per message.
    pub target: MailTarget,
    pub site: String,
    pub timeout: Duration,
}

/// The operator's decision on a registration.
#[derive(Debug, Clone, Copy)]
pub enum Decision<'a> {
    Approved,
    Rejected(&'a str),
}

/// Why the registrant was not told.
#[derive(Debug, thiserror::Error)]
pub enum RegistrantMailError {
    #[error("the relay refused or failed: {0}")]
    Relay(#[from] mail::MailError),
    #[error("no answer from the relay within {0:?}")]
    TimedOut(Duration),
}

impl RegistrantMail {
    /// Mails `contact` the decision on `name`.
    pub async fn tell(
        &self,
        name: &str,
        contact: &str,
        decision: Decision<'_>,
    ) -> Result<(), RegistrantMailError> {
        let mut target = self.target.clone();
        target.to = vec![contact.to_string()];
        let (subject, body) = message(name, &self.site, decision);
        match tokio::time::timeout(self.timeout, send(&target, subject, body, self.timeout)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(RegistrantMailError::TimedOut(self.timeout)),
        }
    }
}

/// The subject and body telling the registrant of `name` the decision.
fn message(name: &str, site: &str, decision: Decision<'_>) -> (String, String) {
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
        let (subject, body) = message("carol", "ftp.example.org", Decision::Approved);
        assert_eq!(
            subject,
            "Your registration as carol on ftp.example.org was approved"
        );
        assert!(body.contains("Log in"));
        let (subject, body) = message("dave", "x\r\nBcc: y", Decision::Rejected("no\nreally"));
        assert!(
            !subject.contains('\n') && !subject.contains('\r'),
            "{subject}"
        );
        assert!(body.contains("Reason: no really"), "{body}");
    }
}
