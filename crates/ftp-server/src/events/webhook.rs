//! The webhook sink: each event it wants is queued durably ([`Spool`], in
//! `DATA/events/webhook-NAME/`) and then POSTed, oldest first, as JSON to
//! the operator's URL, signed ([`super::signing`]) and with its queue id
//! in `X-Wharf-Event-Id` (a receiver that saw an id may ignore it again:
//! a crash between the answer and the removal sends it twice).
//!
//! A 2xx answer removes the event. A 5xx or 429 answer, a timeout or a
//! connection error keeps it and retries after a delay that doubles from
//! `retry_initial` up to `retry_max`, with random jitter (half to all of
//! it); events wait behind it, so order is kept. Any other answer (4xx,
//! 3xx: redirects are not followed) removes it as refused. Every failed
//! attempt is logged and counted (`wharf_event_sink_failures_total`);
//! events pushed out of a full queue count as dropped.
//!
//! Certificates are verified (against the system's roots, or only those
//! in `cacert`).

use super::filter::EventFilter;
use super::signing::{self, Secret};
use super::spool::{Spool, SpoolError};
use super::Event;
use crate::metrics::Metrics;
use rand::Rng;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The header with the event's queue id.
pub const EVENT_ID_HEADER: &str = "X-Wharf-Event-Id";

/// How often an idle sender looks for events other processes queued.
const RESCAN: Duration = Duration::from_secs(1);

/// A webhook as configured.
#[derive(Debug, Clone)]
pub struct EventWebhook {
    /// Names the queue's directory; stable across restarts.
    pub name: String,
    pub url: url::Url,
    pub secret: Secret,
    /// Trust only these certificates (else the system's).
    pub cacert: Option<PathBuf>,
    pub filter: EventFilter,
    /// For one request.
    pub timeout: Duration,
    /// Events kept before the oldest is dropped.
    pub queue: usize,
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

/// Why a webhook could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("cannot read the CA file {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the CA file {} holds no usable PEM certificate: {source}", path.display())]
    CaCerts {
        path: PathBuf,
        source: reqwest::Error,
    },
    #[error("cannot set up the HTTP client: {0}")]
    Client(reqwest::Error),
}

/// An HTTPS client that verifies certificates against the system's roots
/// or only those in `cacert`, follows no redirect and gives up after
/// `timeout`.
pub fn http_client(
    cacert: Option<&Path>,
    timeout: Duration,
) -> Result<reqwest::Client, WebhookError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("wharfd/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = cacert {
        let pem = std::fs::read(path).map_err(|source| WebhookError::CaFile {
            path: path.to_path_buf(),
            source,
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
            WebhookError::CaCerts {
                path: path.to_path_buf(),
                source,
            }
        })?;
        if certs.is_empty() {
            return Err(WebhookError::CaFile {
                path: path.to_path_buf(),
                source: std::io::Error::other("no certificate in it"),
            });
        }
        builder = builder.tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(WebhookError::Client)
}

/// A webhook: its queue and its sender.
#[derive(Debug)]
pub struct WebhookSink {
    hook: EventWebhook,
    spool: Arc<Spool>,
    client: reqwest::Client,
    /// Rung when an event is queued.
    wake: Notify,
    /// This process sends (the server does; `wharfd users` only queues).
    sending: AtomicBool,
    /// The oldest event waits for its retry.
    backing_off: AtomicBool,
}

/// What one POST came to.
enum Attempt {
    Delivered,
    /// Not to be sent again.
    Refused(String),
    /// To be sent again later.
    Failed(String),
}

impl WebhookSink {
    /// The sink of `hook`, its queue in `data_dir`.
    pub fn open(hook: &EventWebhook, data_dir: &Path) -> Result<WebhookSink, WebhookError> {
        let dir = data_dir
            .join("events")
            .join(format!("webhook-{}", hook.name));
        Ok(WebhookSink {
            spool: Arc::new(Spool::open(&dir, hook.queue)?),
            client: http_client(hook.cacert.as_deref(), hook.timeout)?,
            hook: hook.clone(),
            wake: Notify::new(),
            sending: AtomicBool::new(false),
            backing_off: AtomicBool::new(false),
        })
    }

    pub fn wants(&self, event: &Event) -> bool {
        self.hook.filter.matches(event)
    }

    /// Whether a send is under way or due at once.
    pub fn busy(&self) -> bool {
        self.sending.load(Ordering::Relaxed)
            && !self.backing_off.load(Ordering::Relaxed)
            && !self.spool.is_empty()
    }

    /// Queues `event` (durably) for the sender.
    pub async fn deliver(self: Arc<Self>, event: Arc<Event>, metrics: Arc<Metrics>) {
        let spool = self.spool.clone();
        let body = event.to_json();
        let pushed = tokio::task::spawn_blocking(move || spool.push(body.as_bytes())).await;
        match pushed {
            Ok(Ok(dropped)) => {
                for _ in 0..dropped {
                    Metrics::inc(&metrics.events_dropped);
                }
                if dropped > 0 {
                    tracing::warn!(url = %self.hook.url, dropped, "webhook queue full: oldest events dropped");
                }
            }
            Ok(Err(e)) => {
                Metrics::inc(&metrics.events_dropped);
                tracing::warn!(error = %e, event = event.kind, "event not queued for the webhook");
            }
            Err(e) => {
                Metrics::inc(&metrics.events_dropped);
                tracing::warn!(error = %e, "event not queued for the webhook");
            }
        }
        self.wake.notify_one();
    }

    /// Starts sending queued events, in the background, for as long as the
    /// runtime runs.
    pub fn start_sending(self: Arc<Self>, metrics: Arc<Metrics>) {
        self.sending.store(true, Ordering::Relaxed);
        tokio::spawn(self.send_loop(metrics));
    }

    async fn send_loop(self: Arc<Self>, metrics: Arc<Metrics>) {
        let mut delay = self.hook.retry_initial;
        loop {
            let spool = self.spool.clone();
            let next = tokio::task::spawn_blocking(move || {
                if spool.is_empty() {
                    spool.rescan()?;
                }
                spool.oldest()
            })
            .await;
            let (id, body) = match next {
                Ok(Ok(Some(next))) => next,
                Ok(Ok(None)) => {
                    let _ = tokio::time::timeout(RESCAN, self.wake.notified()).await;
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "webhook queue unreadable");
                    self.back_off(delay).await;
                    delay = (delay * 2).min(self.hook.retry_max);
                    continue;
                }
                // The runtime is shutting down.
                Err(_) => return,
            };
            match self.post(&id, body).await {
                Attempt::Delivered => {
                    self.forget(&id).await;
                    delay = self.hook.retry_initial;
                }
                Attempt::Refused(why) => {
                    Metrics::inc(&metrics.event_sink_failures);
                    tracing::warn!(url = %self.hook.url, id, %why, "webhook refused an event; it is not sent again");
                    self.forget(&id).await;
                    delay = self.hook.retry_initial;
                }
                Attempt::Failed(why) => {
                    Metrics::inc(&metrics.event_sink_failures);
                    tracing::warn!(url = %self.hook.url, id, %why, retry_in = ?delay, "webhook failed; will retry");
                    self.back_off(delay).await;
                    delay = (delay * 2).min(self.hook.retry_max);
                }
            }
        }
    }

    async fn back_off(&self, delay: Duration) {
        self.backing_off.store(true, Ordering::Relaxed);
        tokio::time::sleep(jitter(delay)).await;
        self.backing_off.store(false, Ordering::Relaxed);
    }

    async fn forget(&self, id: &str) {
        let (spool, id) = (self.spool.clone(), id.to_string());
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || spool.remove(&id)).await {
            tracing::warn!(error = %e, "cannot remove a delivered event from the webhook queue");
        }
    }

    async fn post(&self, id: &str, body: Vec<u8>) -> Attempt {
        let now = signing::unix_now();
        let signature = self.hook.secret.sign(now, &body);
        let sent = self
            .client
            .post(self.hook.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, id)
            .header(signing::TIMESTAMP_HEADER, now.to_string())
            .header(signing::SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(answer) => {
                let status = answer.status();
                if status.is_success() {
                    Attempt::Delivered
                } else if status.is_server_error() || status.as_u16() == 429 {
                    Attempt::Failed(format!("answered {status}"))
                } else {
                    Attempt::Refused(format!("answered {status}"))
                }
            }
            Err(e) => Attempt::Failed(error_chain(&e)),
        }
    }
}

/// An error with its causes (reqwest's own message says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Somewhere between half of `delay` and all of it, so that many servers
/// that lost one receiver do not come back to it all at once.
fn jitter(delay: Duration) -> Duration {
    let half = delay / 2;
    half + half.mul_f64(rand::thread_rng().gen::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_between_half_and_all_of_the_delay() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(8));
            assert!(
                d >= Duration::from_secs(4) && d <= Duration::from_secs(8),
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = http_client(Some(&path), Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("ca.pem"), "{err}");
    }
}
