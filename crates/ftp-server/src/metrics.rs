//! Counters for operators, rendered in the Prometheus text format, and
//! the health check. The `admin-http` crate serves them as `GET /metrics`
//! and `GET /health`.
//!
//! `/health` runs every [`HealthProbe`] (one per backend: `accounts`, and
//! `storage` where a storage backend adds one) with a timeout and answers
//! JSON — `{"status":"ok","backends":{"accounts":{"ok":true,"detail":"…"}}}`
//! — with 200 when all are ok and 503 otherwise.

use crate::accounts::AccountStore;
use crate::storage::StorageBackend;
use async_trait::async_trait;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Reply codes counted one by one: 400 to 599.
const CODES: usize = 200;

/// The server's counters.
#[derive(Debug)]
pub struct Metrics {
    pub sessions_active: AtomicI64,
    pub sessions_total: AtomicU64,
    pub control_tls_total: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub transfers_in_ok: AtomicU64,
    pub transfers_in_failed: AtomicU64,
    pub transfers_out_ok: AtomicU64,
    pub transfers_out_failed: AtomicU64,
    pub data_tls: AtomicU64,
    pub data_plain: AtomicU64,
    /// Events dropped because the queue to the sinks was full.
    pub events_dropped: AtomicU64,
    /// Event sink runs that failed or timed out.
    pub event_sink_failures: AtomicU64,
    /// Transfer-history records dropped (the store fell behind or failed).
    pub history_dropped: AtomicU64,
    /// Pre-login and pre-upload checks, by verdict.
    pub prechecks_allowed: AtomicU64,
    pub prechecks_denied: AtomicU64,
    /// Checks that gave no answer (`on_timeout` decided).
    pub prechecks_unanswered: AtomicU64,
    errors: Vec<AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            sessions_active: AtomicI64::new(0),
            sessions_total: AtomicU64::new(0),
            control_tls_total: AtomicU64::new(0),
            logins_ok: AtomicU64::new(0),
            logins_failed: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            transfers_in_ok: AtomicU64::new(0),
            transfers_in_failed: AtomicU64::new(0),
            transfers_out_ok: AtomicU64::new(0),
            transfers_out_failed: AtomicU64::new(0),
            data_tls: AtomicU64::new(0),
            data_plain: AtomicU64::new(0),
            events_dropped: AtomicU64::new(0),
            event_sink_failures: AtomicU64::new(0),
            history_dropped: AtomicU64::new(0),
            prechecks_allowed: AtomicU64::new(0),
            prechecks_denied: AtomicU64::new(0),
            prechecks_unanswered: AtomicU64::new(0),
            errors: (0..CODES).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        bump(counter);
    }

    /// Counts a reply if it is an error (4xx or 5xx).
    pub fn reply(&self, code: u16) {
        if let Some(slot) = usize::from(code)
            .checked_sub(400)
            .and_then(|i| self.errors.get(i))
        {
            bump(slot);
        }
    }

    /// Counts a finished transfer.
    pub fn transfer(&self, incoming: bool, ok: bool, bytes: u64) {
        let (bytes_counter, counter) = match (incoming, ok) {
            (true, true) => (&self.bytes_in, &self.transfers_in_ok),
            (true, false) => (&self.bytes_in, &self.transfers_in_failed),
            (false, true) => (&self.bytes_out, &self.transfers_out_ok),
            (false, false) => (&self.bytes_out, &self.transfers_out_failed),
        };
        bytes_counter.fetch_add(bytes, Ordering::Relaxed);
        bump(counter);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let active = self.sessions_active.load(Ordering::Relaxed).max(0) as u64;
        metric(
            "wharf_sessions_active",
            "gauge",
            "Control connections open now.",
            &[("", active)],
        );
        metric(
            "wharf_sessions_total",
            "counter",
            "Control connections accepted.",
            &[("", get(&self.sessions_total))],
        );
        metric(
            "wharf_control_tls_total",
            "counter",
            "Control connections that turned TLS on.",
            &[("", get(&self.control_tls_total))],
        );
        metric(
            "wharf_logins_total",
            "counter",
            "Login attempts by result.",
            &[
                ("{result=\"ok\"}", get(&self.logins_ok)),
                ("{result=\"failed\"}", get(&self.logins_failed)),
            ],
        );
        metric(
            "wharf_events_dropped_total",
            "counter",
            "Events dropped because the sinks fell behind.",
            &[("", get(&self.events_dropped))],
        );
        metric(
            "wharf_event_sink_failures_total",
            "counter",
            "Event sink runs that failed or timed out.",
            &[("", get(&self.event_sink_failures))],
        );
        metric(
            "wharf_history_dropped_total",
            "counter",
            "Transfer-history records dropped because the account store fell behind or failed.",
            &[("", get(&self.history_dropped))],
        );
        metric(
            "wharf_prechecks_total",
            "counter",
            "Pre-login and pre-upload checks by outcome (no_answer: on_timeout decided).",
            &[
                ("{outcome=\"allow\"}", get(&self.prechecks_allowed)),
                ("{outcome=\"deny\"}", get(&self.prechecks_denied)),
                ("{outcome=\"no_answer\"}", get(&self.prechecks_unanswered)),
            ],
        );
        metric(
            "wharf_bytes_total",
            "counter",
            "Bytes moved over data connections.",
            &[
                ("{direction=\"in\"}", get(&self.bytes_in)),
                ("{direction=\"out\"}", get(&self.bytes_out)),
            ],
        );
        metric(
            "wharf_transfers_total",
            "counter",
            "Transfers by direction and result.",
            &[
                (
                    "{direction=\"in\",result=\"complete\"}",
                    get(&self.transfers_in_ok),
                ),
                (
                    "{direction=\"in\",result=\"failed\"}",
                    get(&self.transfers_in_failed),
                ),
                (
                    "{direction=\"out\",result=\"complete\"}",
                    get(&self.transfers_out_ok),
                ),
                (
                    "{direction=\"out\",result=\"failed\"}",
                    get(&self.transfers_out_failed),
                ),
            ],
        );
        metric(
            "wharf_data_connections_total",
            "counter",
            "Data connections by protection.",
            &[
                ("{tls=\"on\"}", get(&self.data_tls)),
                ("{tls=\"off\"}", get(&self.data_plain)),
            ],
        );
        let labels: Vec<(String, u64)> = self
            .errors
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("{{code=\"{}\"}}", 400 + i), get(c)))
            .filter(|(_, v)| *v > 0)
            .collect();
        let samples: Vec<(&str, u64)> = labels.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        metric(
            "wharf_error_replies_total",
            "counter",
            "Error replies (4xx, 5xx) by code.",
            &samples,
        );
        out
    }
}

/// One backend the health check asks.
#[async_trait]
pub trait HealthProbe: Send + Sync + std::fmt::Debug {
    /// The backend's name in the answer: `accounts`, `storage`.
    fn name(&self) -> &str;
    /// Ok with a short description, or a short reason it failed.
    async fn check(&self) -> Result<String, String>;
}

/// The account store answers a trivial query.
#[derive(Debug)]
pub struct AccountsProbe(pub Arc<dyn AccountStore>);

#[async_trait]
impl HealthProbe for AccountsProbe {
    fn name(&self) -> &str {
        "accounts"
    }

    async fn check(&self) -> Result<String, String> {
        self.0
            .ping()
            .await
            .map(|()| self.0.describe())
            .map_err(|e| e.to_string())
    }
}

/// The storage answers: the local filesystem always; a bucket lists one key.
#[derive(Debug)]
pub struct StorageProbe(pub StorageBackend);

#[async_trait]
impl HealthProbe for StorageProbe {
    fn name(&self) -> &str {
        "storage"
    }

    async fn check(&self) -> Result<String, String> {
        self.0
            .check(PROBE_TIMEOUT)
            .await
            .map(|()| self.0.describe())
    }
}

/// How long one probe may take before it counts as failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The probes behind `/health`.
#[derive(Debug, Default)]
pub struct Health {
    pub probes: Vec<Box<dyn HealthProbe>>,
}

impl Health {
    /// Runs every probe in turn, each under [`PROBE_TIMEOUT`]; returns
    /// whether all are ok and the JSON answer.
    pub async fn check(&self) -> (bool, String) {
        let mut results = Vec::with_capacity(self.probes.len());
        for p in &self.probes {
            let result = match tokio::time::timeout(PROBE_TIMEOUT, p.check()).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
            };
            results.push((p.name(), result));
        }
        let all_ok = results.iter().all(|(_, r)| r.is_ok());
        let mut out = String::from("{\"status\":");
        out.push_str(if all_ok { "\"ok\"" } else { "\"error\"" });
        out.push_str(",\"backends\":{");
        for (i, (name, result)) in results.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let (ok, detail) = match result {
                Ok(d) => (true, d),
                Err(d) => (false, d),
            };
            let _ = write!(
                out,
                "{}:{{\"ok\":{ok},\"detail\":{}}}",
                json_string(name),
                json_string(detail)
            );
        }
        out.push_str("}}\n");
        (all_ok, out)
    }
}

/// A JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        m.reply(550);
        m.reply(226);
        m.transfer(true, true, 100);
        let text = m.render();
        assert!(text.contains("wharf_error_replies_total{code=\"550\"} 1"));
        assert!(!text.contains("code=\"226\""));
        assert!(text.contains("wharf_bytes_total{direction=\"in\"} 100"));
        assert!(text.contains("# TYPE wharf_sessions_active gauge"));
    }

    #[derive(Debug)]
    struct Fixed(&'static str, Result<String, String>);

    #[async_trait]
    impl HealthProbe for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        async fn check(&self) -> Result<String, String> {
            self.1.clone()
        }
    }

    #[tokio::test]
    async fn health_is_json_and_fails_on_any_backend() {
        let mut health = Health::default();
        health
            .probes
            .push(Box::new(Fixed("accounts", Ok("sqlite:x".into()))));
        let (ok, body) = health.check().await;
        assert!(ok);
        assert_eq!(
            body,
            "{\"status\":\"ok\",\"backends\":{\"accounts\":{\"ok\":true,\"detail\":\"sqlite:x\"}}}\n"
        );
        health
            .probes
            .push(Box::new(Fixed("storage", Err("no \"bucket\"\n".into()))));
        let (ok, body) = health.check().await;
        assert!(!ok);
        assert!(body.starts_with("{\"status\":\"error\""), "{body}");
        assert!(
            body.contains("\"storage\":{\"ok\":false,\"detail\":\"no \\\"bucket\\\"\\u000a\"}"),
            "{body}"
        );
    }
}
