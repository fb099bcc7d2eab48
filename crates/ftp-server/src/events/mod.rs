//! Events: what the server tells the operator's programs about, as they
//! happen (a registration, a login, an upload…), in one stable JSON shape
//! ([`Event`], version 1, documented in docs/events.md).
//!
//! Emitting never waits: events go into a bounded queue ([`Events`]);
//! when it is full the event is dropped and counted
//! (`wharf_events_dropped_total`), so a slow or hung sink can never slow a
//! transfer or a login. One task takes events off the queue and hands each
//! to every sink whose filter matches ([`filter`]); a sink that fails or
//! times out is logged and counted (`wharf_event_sink_failures_total`).
//!
//! - [`filter`]: which events a sink wants (kinds, accounts, path globs);
//! - [`command`]: the command sink, a program run per event;
//! - [`mail`]: the mail sink, a message per event to the operator;
//! - [`webhook`]: the webhook sink, a signed HTTP POST per event from a
//!   persistent queue ([`spool`]), signed as [`signing`] says.

pub mod command;
pub mod filter;
pub mod mail;
pub mod signing;
pub mod spool;
pub mod webhook;

/// Where events go: a program, mail, or an HTTP endpoint.
#[derive(Debug, Clone)]
pub enum Sink {
    Command(Arc<command::CommandSink>),
    Mail(Arc<mail::MailSink>),
    Webhook(Arc<webhook::WebhookSink>),
}

impl Sink {
    fn wants(&self, event: &Event) -> bool {
        match self {
            Sink::Command(c) => c.wants(event),
            Sink::Mail(m) => m.wants(event),
            Sink::Webhook(w) => w.wants(event),
        }
    }

    fn busy(&self) -> bool {
        match self {
            Sink::Command(c) => c.busy(),
            Sink::Mail(m) => m.busy(),
            Sink::Webhook(w) => w.busy(),
        }
    }
}

/// The sinks `options` configure (webhook queues in its data directory).
pub fn sinks(options: &ServerOptions) -> Result<Vec<Sink>, webhook::WebhookError> {
    let mut sinks: Vec<Sink> = options
        .event_commands
        .iter()
        .map(|c| Sink::Command(Arc::new(command::CommandSink::from(c))))
        .chain(options.event_mails.iter().map(|m| {
            Sink::Mail(Arc::new(mail::MailSink::new(
                m.target.clone(),
                m.filter.clone(),
                m.timeout,
            )))
        }))
        .collect();
    for hook in &options.event_webhooks {
        let sink = webhook::WebhookSink::open(hook, &options.data_dir)?;
        sinks.push(Sink::Webhook(Arc::new(sink)));
    }
    Ok(sinks)
}

use crate::accounts::GroupStore;
use crate::metrics::Metrics;
use crate::options::ServerOptions;
use ftp_proto::time::UtcTime;
use serde::Serialize;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The version of the JSON shape; a field is only ever added.
pub const EVENT_VERSION: u32 = 1;

/// Events waiting for the sinks before new ones are dropped.
pub const QUEUE: usize = 4096;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    RegistrationRequested,
    RegistrationApproved,
    RegistrationRejected,
    LoginOk,
    LoginFailed,
    LoginLocked,
    UploadDone,
    UploadFailed,
    DownloadDone,
    Delete,
    Rename,
    Mkdir,
    Rmdir,
    QuotaThreshold,
    ServerStart,
    ServerStop,
}

impl EventKind {
    pub const ALL: [EventKind; 16] = [
        EventKind::RegistrationRequested,
        EventKind::RegistrationApproved,
        EventKind::RegistrationRejected,
        EventKind::LoginOk,
        EventKind::LoginFailed,
        EventKind::LoginLocked,
        EventKind::UploadDone,
        EventKind::UploadFailed,
        EventKind::DownloadDone,
        EventKind::Delete,
        EventKind::Rename,
        EventKind::Mkdir,
        EventKind::Rmdir,
        EventKind::QuotaThreshold,
        EventKind::ServerStart,
        EventKind::ServerStop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::RegistrationRequested => "registration.requested",
            EventKind::RegistrationApproved => "registration.approved",
            EventKind::RegistrationRejected => "registration.rejected",
            EventKind::LoginOk => "login.ok",
            EventKind::LoginFailed => "login.failed",
            EventKind::LoginLocked => "login.locked",
            EventKind::UploadDone => "upload.done",
            EventKind::UploadFailed => "upload.failed",
            EventKind::DownloadDone => "download.done",
            EventKind::Delete => "delete",
            EventKind::Rename => "rename",
            EventKind::Mkdir => "mkdir",
            EventKind::Rmdir => "rmdir",
            EventKind::QuotaThreshold => "quota.threshold",
            EventKind::ServerStart => "server.start",
            EventKind::ServerStop => "server.stop",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == text)
    }
}

/// One event, as sinks receive it (serialised as JSON).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    pub version: u32,
    pub kind: &'static str,
    /// When, as RFC 3339 UTC (`2026-12-07T04:05:06Z`).
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<&'static str>,
    /// The file or directory, as the client named it in its home.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A rename's new path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Bytes moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// `ok` or `failed`.
    pub result: &'static str,
    /// Why it failed, or what it awaits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The account's groups, first to last, as the store has them when
    /// the event is delivered (left out when it has none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl Event {
    /// An event of `kind` now, with nothing else said yet.
    pub fn new(kind: EventKind) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let t = UtcTime::from_unix(now);
        let failed = matches!(
            kind,
            EventKind::LoginFailed | EventKind::LoginLocked | EventKind::UploadFailed
        );
        Event {
            version: EVENT_VERSION,
            kind: kind.name(),
            time: format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year, t.month, t.day, t.hour, t.minute, t.second
            ),
            account: None,
            client: None,
            protocol: None,
            path: None,
            target: None,
            size: None,
            duration_ms: None,
            result: if failed { "failed" } else { "ok" },
            reason: None,
            groups: Vec::new(),
        }
    }

    pub fn account(mut self, name: &str) -> Self {
        self.account = Some(name.to_string());
        self
    }

    pub fn client(mut self, ip: IpAddr) -> Self {
        self.client = Some(ip.to_canonical().to_string());
        self
    }

    pub fn protocol(mut self, protocol: &'static str) -> Self {
        self.protocol = Some(protocol);
        self
    }

    pub fn path(mut self, path: &[u8]) -> Self {
        self.path = Some(String::from_utf8_lossy(path).into_owned());
        self
    }

    pub fn target(mut self, path: &[u8]) -> Self {
        self.target = Some(String::from_utf8_lossy(path).into_owned());
        self
    }

    pub fn size(mut self, bytes: u64) -> Self {
        self.size = Some(bytes);
        self
    }

    pub fn duration(mut self, elapsed: std::time::Duration) -> Self {
        self.duration_ms = Some(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        self
    }

    pub fn failed(mut self, reason: impl std::fmt::Display) -> Self {
        self.result = "failed";
        self.reason = Some(reason.to_string());
        self
    }

    pub fn reason(mut self, reason: impl std::fmt::Display) -> Self {
        self.reason = Some(reason.to_string());
        self
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Where events are emitted; cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct Events {
    tx: Option<mpsc::Sender<Event>>,
    sinks: Arc<Vec<Sink>>,
    metrics: Arc<Metrics>,
    /// Events emitted and not yet handed to every sink (queued, or being
    /// handed over: a webhook's durable write).
    unsent: Arc<AtomicUsize>,
}

impl Events {
    /// Events that go nowhere (no sink configured).
    pub fn off(metrics: Arc<Metrics>) -> Self {
        Events {
            tx: None,
            sinks: Arc::default(),
            metrics,
            unsent: Arc::default(),
        }
    }

    /// A queue for `sinks`, and the task that feeds them (see
    /// [`Delivery::spawn`]), which also starts the webhooks' senders;
    /// with no sink, events go nowhere.
    /// With `groups`, each event of an account names the account's groups
    /// (and group filters can match it).
    pub fn start(
        sinks: Vec<Sink>,
        metrics: Arc<Metrics>,
        groups: Option<Arc<dyn GroupStore>>,
    ) -> (Self, Delivery) {
        Events::start_with(sinks, metrics, groups, true)
    }

    fn start_with(
        sinks: Vec<Sink>,
        metrics: Arc<Metrics>,
        groups: Option<Arc<dyn GroupStore>>,
        send: bool,
    ) -> (Self, Delivery) {
        if sinks.is_empty() {
            return (Events::off(metrics), Delivery::default());
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let sinks = Arc::new(sinks);
        let unsent = Arc::new(AtomicUsize::new(0));
        let deliver = deliver(
            rx,
            sinks.clone(),
            metrics.clone(),
            groups,
            send,
            unsent.clone(),
        );
        (
            Events {
                tx: Some(tx),
                sinks,
                metrics,
                unsent,
            },
            Delivery(std::sync::Mutex::new(Some(Box::pin(deliver)))),
        )
    }

    /// `sinks` with a delivery already running: what a program other than
    /// the server (the admin CLI) emits through. Webhook events are only
    /// queued: the server sends them.
    pub fn running(
        sinks: Vec<Sink>,
        metrics: Arc<Metrics>,
        groups: Option<Arc<dyn GroupStore>>,
    ) -> Self {
        let (events, delivery) = Events::start_with(sinks, metrics, groups, false);
        delivery.spawn();
        events
    }

    /// Waits up to `limit` for every emitted event to be handed to its
    /// sinks (for a webhook: written to its queue) and every run to end
    /// (at shutdown, so `server.stop` is heard).
    pub async fn drained(&self, limit: std::time::Duration) {
        let Some(tx) = &self.tx else {
            return;
        };
        let end = tokio::time::Instant::now() + limit;
        let busy = || {
            !tx.is_closed() && self.unsent.load(Ordering::SeqCst) > 0
                || self.sinks.iter().any(|s| s.busy())
        };
        while busy() && tokio::time::Instant::now() < end {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub fn emit(&self, event: Event) {
        let Some(tx) = &self.tx else {
            return;
        };
        self.unsent.fetch_add(1, Ordering::SeqCst);
        if tx.try_send(event).is_err() {
            self.unsent.fetch_sub(1, Ordering::SeqCst);
            Metrics::inc(&self.metrics.events_dropped);
        }
    }
}

/// A task not started yet: sendable, and shareable (behind its lock).
type Task =
    std::sync::Mutex<Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>>;

/// The task that hands queued events to the sinks.
pub struct Delivery(Task);

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Delivery")
    }
}

impl Default for Delivery {
    /// No delivery (no sinks, or already spawned).
    fn default() -> Self {
        Delivery(std::sync::Mutex::new(None))
    }
}

impl Delivery {
    /// Runs the delivery in the background (in a runtime).
    pub fn spawn(self) {
        if let Some(task) = self.0.into_inner().ok().flatten() {
            tokio::spawn(task);
        }
    }
}

/// The names of `account`'s groups; none if the store cannot say (the
/// event still goes out, and only group filters miss it).
async fn member_of(store: &dyn GroupStore, account: &str) -> Vec<String> {
    match store.member_of(account).await {
        Ok(groups) => groups.into_iter().map(|g| g.name).collect(),
        Err(e) => {
            tracing::debug!(account, error = %e, "event: the account's groups are unknown");
            Vec::new()
        }
    }
}

/// Starts the webhooks' senders if `send`, then hands each event to every
/// sink that wants it, until the queue closes.
async fn deliver(
    mut rx: mpsc::Receiver<Event>,
    sinks: Arc<Vec<Sink>>,
    metrics: Arc<Metrics>,
    groups: Option<Arc<dyn GroupStore>>,
    send: bool,
    unsent: Arc<AtomicUsize>,
) {
    for sink in sinks.iter().filter(|_| send) {
        if let Sink::Webhook(w) = sink {
            w.clone().start_sending(metrics.clone());
        }
    }
    while let Some(mut event) = rx.recv().await {
        if let (Some(store), Some(account)) = (&groups, &event.account) {
            event.groups = member_of(store.as_ref(), account).await;
        }
        let event = Arc::new(event);
        for sink in sinks.iter().filter(|s| s.wants(&event)) {
            let (event, metrics) = (event.clone(), metrics.clone());
            match sink {
                Sink::Command(c) => c.clone().deliver(event, metrics).await,
                Sink::Mail(m) => m.clone().deliver(event, metrics).await,
                Sink::Webhook(w) => w.clone().deliver(event, metrics).await,
            }
        }
        unsent.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_shape_is_stable_and_leaves_out_what_was_not_said() {
        let mut e = Event::new(EventKind::UploadDone)
            .account("alice")
            .client("::ffff:127.0.0.1".parse().unwrap())
            .protocol("sftp")
            .path(b"/in/a b.txt")
            .size(42)
            .duration(std::time::Duration::from_millis(1500));
        e.time = "2026-12-07T04:05:06Z".into();
        assert_eq!(
            e.to_json(),
            r#"{"version":1,"kind":"upload.done","time":"2026-12-07T04:05:06Z","account":"alice","client":"127.0.0.1","protocol":"sftp","path":"/in/a b.txt","size":42,"duration_ms":1500,"result":"ok"}"#
        );
        let f = Event::new(EventKind::LoginFailed);
        assert_eq!(f.result, "failed");
        assert!(Event::new(EventKind::Delete)
            .failed("gone")
            .to_json()
            .contains(r#""reason":"gone""#));
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(EventKind::parse("upload"), None);
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let metrics = Arc::new(Metrics::default());
        let sink = command::CommandSink::new(
            "/bin/true".into(),
            Vec::new(),
            filter::EventFilter::default(),
            std::time::Duration::from_secs(1),
            1,
        );
        let (events, _delivery) =
            Events::start(vec![Sink::Command(Arc::new(sink))], metrics.clone(), None);
        for _ in 0..QUEUE + 10 {
            events.emit(Event::new(EventKind::Mkdir));
        }
        assert_eq!(
            metrics
                .events_dropped
                .load(std::sync::atomic::Ordering::Relaxed),
            10
        );
    }
}
