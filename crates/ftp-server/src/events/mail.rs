//! The mail sink: a message per event it wants, sent through the
//! project's own SMTP client (the `mail` crate) to the operator. The
//! subject says what happened and what to do (`carol registered from
//! 198.51.100.7: approve with wharfd users approve carol`); the body holds
//! the same and the event's JSON. Each message has the sink's time limit;
//! messages go one at a time, in order.

use super::filter::EventFilter;
use super::{Event, EventKind};
use crate::metrics::Metrics;
use mail::smtp::proto::{MailOptions, RcptOptions};
use mail::{Options, SmtpClient, TlsPolicy};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Where and to whom event mail goes.
#[derive(Debug, Clone)]
pub struct MailTarget {
    pub host: String,
    pub port: u16,
    pub security: TlsPolicy,
    /// Trust only these certificates (else the system's).
    pub cacert: Option<std::path::PathBuf>,
    pub from: String,
    pub to: Vec<String>,
    /// SMTP AUTH with the relay, after STARTTLS when it is used.
    pub login: Option<MailLogin>,
}

/// A relay account: a name and a password whose `Debug` never prints it.
#[derive(Clone)]
pub struct MailLogin {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for MailLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailLogin")
            .field("user", &self.user)
            .field("password", &"****")
            .finish()
    }
}

/// A mail sink.
#[derive(Debug)]
pub struct MailSink {
    pub target: MailTarget,
    pub filter: EventFilter,
    pub timeout: Duration,
    /// One message at a time, in the order of the events.
    turn: Arc<Mutex<()>>,
}

impl MailSink {
    pub fn new(target: MailTarget, filter: EventFilter, timeout: Duration) -> Self {
        MailSink {
            target,
            filter,
            timeout,
            turn: Arc::default(),
        }
    }

    pub fn wants(&self, event: &Event) -> bool {
        self.filter.matches(event)
    }

    pub fn busy(&self) -> bool {
        self.turn.try_lock().is_err()
    }

    /// Sends the message for `event` in the background.
    pub async fn deliver(self: Arc<Self>, event: Arc<Event>, metrics: Arc<Metrics>) {
        let turn = self.turn.clone().lock_owned().await;
        tokio::spawn(async move {
            let sent = tokio::time::timeout(self.timeout, self.send(&event)).await;
            let why = match sent {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!("no answer within {:?}", self.timeout)),
            };
            if let Some(why) = why {
                Metrics::inc(&metrics.event_sink_failures);
                tracing::warn!(host = %self.target.host, event = event.kind, %why, "event mail not sent");
            }
            drop(turn);
        });
    }

    async fn send(&self, event: &Event) -> mail::Result<()> {
        let subject = subject(event);
        let body = format!("{subject}\n\nThe event, as JSON:\n{}\n", event.to_json());
        send(&self.target, subject, body, self.timeout).await
    }
}

/// Sends one plain-text message through `target`'s relay to its `to`.
pub async fn send(
    target: &MailTarget,
    subject: String,
    body: String,
    timeout: Duration,
) -> mail::Result<()> {
    let t = target;
    let opts = Options {
        timeout,
        security: t.security,
        cacert: t.cacert.clone(),
        ..Options::default()
    };
    let message = mail::message::Draft {
        from: t.from.clone(),
        to: t.to.clone(),
        subject: Some(subject),
        text: Some(body),
        ..Default::default()
    }
    .compose()
    .map_err(|source| mail::ClientError::Io {
        context: "composing the message",
        source,
    })?;
    let mut client = SmtpClient::connect(&t.host, t.port, opts).await?;
    if let Some(login) = &t.login {
        client.login(&login.user, &login.password, None).await?;
    }
    let to: Vec<&str> =
        t.to.iter()
            .map(|a| mail::message::split_address(a).1)
            .collect();
    let from = mail::message::split_address(&t.from).1;
    client
        .send_mail(
            from,
            &to,
            &message[..],
            &MailOptions::default(),
            &RcptOptions::default(),
        )
        .await?;
    client.quit().await
}

/// One line saying what happened, and for a registration what to do.
pub fn subject(event: &Event) -> String {
    let who = event.account.as_deref().unwrap_or("-");
    let from = event
        .client
        .as_deref()
        .map(|c| format!(" from {c}"))
        .unwrap_or_default();
    let what = match EventKind::parse(event.kind) {
        Some(EventKind::RegistrationRequested) => {
            return format!(
                "wharf: {who} registered{from}: approve with `wharfd users approve {who}` (or reject)"
            );
        }
        _ => event.kind,
    };
    let path = event
        .path
        .as_deref()
        .map(|p| format!(" {p}"))
        .unwrap_or_default();
    let size = event
        .size
        .map(|s| format!(" ({s} bytes)"))
        .unwrap_or_default();
    // Names come from clients: no line breaks reach the header.
    format!("wharf: {what} by {who}{from}{path}{size}")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_says_what_to_do() {
        let e = Event::new(EventKind::RegistrationRequested)
            .account("carol")
            .client("198.51.100.7".parse().unwrap());
        assert_eq!(
            subject(&e),
            "wharf: carol registered from 198.51.100.7: approve with `wharfd users approve carol` (or reject)"
        );
    }

    #[test]
    fn client_names_cannot_break_the_header() {
        let e = Event::new(EventKind::UploadDone)
            .account("alice")
            .path(b"/a\r\nBcc: x@y")
            .size(3);
        let s = subject(&e);
        assert!(!s.contains('\r') && !s.contains('\n'), "{s}");
        assert!(
            s.starts_with("wharf: upload.done by alice /a  Bcc: x@y (3 bytes)"),
            "{s}"
        );
    }
}
