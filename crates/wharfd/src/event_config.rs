//! The `[[event_command]]`, `[[event_mail]]` and `[[event_webhook]]`
//! tables of the config file (docs/events.md), checked into the server's
//! event sinks: a bad program, address, URL, secret or CA file stops
//! `wharfd` at startup with a message naming the table.

use crate::config::FileConfig;
use anyhow::{bail, Context, Result};
use ftp_server::events::filter::EventFilter;
use ftp_server::events::mail::{MailLogin, MailTarget};
use ftp_server::events::signing::Secret;
use ftp_server::events::webhook::{http_client, EventWebhook};
use ftp_server::events::EventKind;
use ftp_server::options::{EventCommand, EventMail};
use ftp_server::ServerOptions;
use mail::TlsPolicy;
use serde::Deserialize;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

/// Sets the event sinks of `options` from `file`.
pub fn apply(file: &FileConfig, options: &mut ServerOptions) -> Result<()> {
    options.event_commands = event_commands(file)?;
    options.event_mails = event_mails(file)?;
    options.event_webhooks = event_webhooks(file)?;
    Ok(())
}

/// One `[[event_command]]` table (docs/events.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventCommandConfig {
    /// An absolute path: no shell and no PATH search are involved.
    pub program: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    /// Event kinds (`upload.done`, …); none means all.
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Events of members of these groups only.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Path globs (`/incoming/**`).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Seconds a run may take before it is killed [default: 30].
    pub timeout: Option<u64>,
    /// Runs at once [default: 4].
    pub concurrency: Option<usize>,
}

/// One `[[event_mail]]` table (docs/events.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventMailConfig {
    /// The SMTP server, HOST:PORT.
    pub server: String,
    /// `starttls` (the default), `tls` (from the first byte) or `plain`.
    pub security: Option<String>,
    /// PEM certificates to trust instead of the system's.
    pub cacert: Option<PathBuf>,
    /// SMTP AUTH: the relay account, and a file holding its password.
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub from: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Events of members of these groups only.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    /// Seconds one message may take [default: 30].
    pub timeout: Option<u64>,
}

/// Event kinds named in a sink's table.
fn event_kinds(names: &[String], table: &str) -> Result<Vec<EventKind>> {
    names
        .iter()
        .map(|name| {
            EventKind::parse(name).with_context(|| {
                let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown event {name:?} in {table} (known: {})",
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// The sinks of the `[[event_mail]]` tables, checked.
fn event_mails(file: &FileConfig) -> Result<Vec<EventMail>> {
    let mut sinks = Vec::new();
    for m in file.event_mail.iter().flatten() {
        if m.to.is_empty() {
            bail!("event_mail needs at least one address in `to`");
        }
        sinks.push(EventMail {
            target: mail_target(
                Relay {
                    server: &m.server,
                    security: m.security.as_deref(),
                    cacert: m.cacert.as_ref(),
                    username: m.username.as_ref(),
                    password_file: m.password_file.as_ref(),
                    from: &m.from,
                },
                m.to.clone(),
                "event_mail",
            )?,
            filter: EventFilter {
                kinds: event_kinds(&m.events, "event_mail")?,
                accounts: m.accounts.clone(),
                groups: m.groups.clone(),
                paths: m.paths.clone(),
            },
            timeout: Duration::from_secs(m.timeout.unwrap_or(30).max(1)),
        });
    }
    Ok(sinks)
}

/// A relay (`HOST:PORT`, `starttls`|`tls`|`plain`) and its sender, checked.
/// How a mail table reaches its relay.
pub struct Relay<'a> {
    pub server: &'a str,
    pub security: Option<&'a str>,
    pub cacert: Option<&'a PathBuf>,
    pub username: Option<&'a String>,
    pub password_file: Option<&'a PathBuf>,
    pub from: &'a str,
}

/// The relay and sender of a mail table, checked; `to` the recipients.
pub fn mail_target(relay: Relay<'_>, to: Vec<String>, table: &str) -> Result<MailTarget> {
    let Relay {
        server,
        security,
        cacert,
        username,
        password_file,
        from,
    } = relay;
    let (host, port) = server
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(|c| c == '[' || c == ']'), p.parse().ok()?)))
        .with_context(|| format!("{table} server {server:?} is not HOST:PORT"))?;
    let security = match security.unwrap_or("starttls") {
        "starttls" => TlsPolicy::StartTls,
        "tls" => TlsPolicy::Implicit,
        "plain" => TlsPolicy::Plain,
        other => bail!("{table} security {other:?}: use starttls, tls or plain"),
    };
    let login = match (username, password_file) {
        (None, None) => None,
        (Some(user), Some(file)) => {
            let text = std::fs::read_to_string(file).with_context(|| {
                format!("{table} password_file {}: cannot read it", file.display())
            })?;
            let password = text.trim_end_matches(['\r', '\n']).to_string();
            if password.is_empty() {
                bail!("{table} password_file {} is empty", file.display());
            }
            if security == TlsPolicy::Plain {
                bail!("{table}: a password is sent only over TLS; use security = \"starttls\" or \"tls\"");
            }
            Some(MailLogin {
                user: user.clone(),
                password,
            })
        }
        _ => bail!("{table}: give both username and password_file, or neither"),
    };
    Ok(MailTarget {
        host: host.to_string(),
        port,
        security,
        cacert: cacert.cloned(),
        from: from.to_string(),
        to,
        login,
    })
}

/// The sinks of the `[[event_command]]` tables, checked.
fn event_commands(file: &FileConfig) -> Result<Vec<EventCommand>> {
    let mut sinks = Vec::new();
    for c in file.event_command.iter().flatten() {
        program(&c.program, "event_command")?;
        let kinds = event_kinds(&c.events, "event_command")?;
        sinks.push(EventCommand {
            program: c.program.clone(),
            args: c.args.clone(),
            filter: EventFilter {
                kinds,
                accounts: c.accounts.clone(),
                groups: c.groups.clone(),
                paths: c.paths.clone(),
            },
            timeout: Duration::from_secs(c.timeout.unwrap_or(30).max(1)),
            concurrency: c.concurrency.unwrap_or(4).max(1),
        });
    }
    Ok(sinks)
}

/// One `[[event_webhook]]` table (docs/events.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventWebhookConfig {
    /// `https://…` (or `http://`) to POST each event to.
    pub url: String,
    /// The HMAC key, or
    pub secret: Option<String>,
    /// a file holding it (one line).
    pub secret_file: Option<PathBuf>,
    /// Names the queue directory (`DATA/events/webhook-NAME`) [default:
    /// derived from the URL].
    pub name: Option<String>,
    /// PEM certificates to trust instead of the system's.
    pub cacert: Option<PathBuf>,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Events of members of these groups only.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    /// Seconds one request may take [default: 10].
    pub timeout: Option<u64>,
    /// Events kept while the endpoint is unreachable [default: 10000].
    pub queue: Option<usize>,
    /// Milliseconds before the first retry [default: 1000].
    pub retry_initial_ms: Option<u64>,
    /// Seconds the retry delay grows to at most [default: 300].
    pub retry_max: Option<u64>,
}

/// The sinks of the `[[event_webhook]]` tables, checked.
fn event_webhooks(file: &FileConfig) -> Result<Vec<EventWebhook>> {
    let mut hooks: Vec<EventWebhook> = Vec::new();
    for w in file.event_webhook.iter().flatten() {
        let table = format!("event_webhook {}", w.url);
        let url = http_url(&w.url, "event_webhook")?;
        let secret =
            secret(w.secret.as_deref(), w.secret_file.as_deref(), &table)?.with_context(|| {
                format!(
                    "{table}: give `secret` or `secret_file` (the HMAC key receivers verify with)"
                )
            })?;
        let timeout = Duration::from_secs(w.timeout.unwrap_or(10).max(1));
        // The CA file is read now, so a bad one stops the start.
        http_client(w.cacert.as_deref(), timeout)
            .with_context(|| format!("event_webhook {}", w.url))?;
        let name = match &w.name {
            Some(name) => {
                let ok = !name.is_empty()
                    && name.len() <= 64
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    bail!("event_webhook name {name:?}: use 1 to 64 letters, digits, - or _");
                }
                name.clone()
            }
            None => url_name(&url),
        };
        if hooks.iter().any(|h| h.name == name) {
            bail!(
                "two event_webhook tables share the queue name {name:?}: give each its own `name`"
            );
        }
        let retry_initial = Duration::from_millis(w.retry_initial_ms.unwrap_or(1000).max(10));
        hooks.push(EventWebhook {
            name,
            url,
            secret,
            cacert: w.cacert.clone(),
            filter: EventFilter {
                kinds: event_kinds(&w.events, "event_webhook")?,
                accounts: w.accounts.clone(),
                groups: w.groups.clone(),
                paths: w.paths.clone(),
            },
            timeout,
            queue: w.queue.unwrap_or(10_000).max(1),
            retry_initial,
            retry_max: Duration::from_secs(w.retry_max.unwrap_or(300)).max(retry_initial),
        });
    }
    Ok(hooks)
}

/// A queue name for `url`: the first 16 hex digits of its SHA-256, so it
/// stays the same across restarts and differs between URLs.
fn url_name(url: &url::Url) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, url.as_str().as_bytes());
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `path` as a program to run: absolute and executable.
pub fn program(path: &std::path::Path, table: &str) -> Result<()> {
    if !path.is_absolute() {
        bail!(
            "{table} program {path:?} must be an absolute path (no shell or PATH search is used)"
        );
    }
    let runnable = std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    if !runnable {
        bail!(
            "{table} program {} is not an executable file",
            path.display()
        );
    }
    Ok(())
}

/// `text` as an http(s) URL with a host.
pub fn http_url(text: &str, table: &str) -> Result<url::Url> {
    let url =
        url::Url::parse(text).with_context(|| format!("{table} url {text:?} is not a URL"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        bail!("{table} url {text:?}: give an https:// (or http://) URL with a host");
    }
    Ok(url)
}

/// The HMAC secret given inline or in a file (never both), if any.
pub fn secret(
    inline: Option<&str>,
    file: Option<&std::path::Path>,
    table: &str,
) -> Result<Option<Secret>> {
    let text = match (inline, file) {
        (None, None) => return Ok(None),
        (Some(s), None) => s.to_string(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("{table} secret_file {}: cannot read it", path.display()))?,
        (Some(_), Some(_)) => {
            bail!("{table}: give exactly one of `secret` and `secret_file`, not both")
        }
    };
    Ok(Some(
        Secret::new(&text).with_context(|| format!("{table} secret"))?,
    ))
}
