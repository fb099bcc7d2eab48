//! Synchronous pre-checks: the one place where the operator's program or
//! HTTP endpoint decides, while the client waits, whether a login
//! (`[pre_login_check]`) or an upload (`[pre_upload_check]`) may go on.
//! Opt-in; everything else about events is asynchronous.
//!
//! A check is asked with a [`CheckRequest`] (JSON: the account, client
//! address, protocol and, for an upload, the path) and answers
//! [`Verdict::Allow`] or [`Verdict::Deny`] with a reason the client is
//! shown (FTP 530 or 550, SFTP's status message). A check that does not
//! answer within its `timeout`, cannot be run or answers something else
//! gets the configured `on_timeout` verdict (deny by default: when in
//! doubt, fail closed). At most [`CONCURRENCY`] runs of one check go on at
//! once; waiting for a slot counts against the timeout.
//!
//! - [`command`]: a program, the request on stdin, exit status decides;
//! - [`http`]: a signed POST, the status code decides.

pub mod command;
pub mod http;

use crate::events::signing::Secret;
use crate::metrics::Metrics;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Runs of one check at once.
pub const CONCURRENCY: usize = 32;
/// The longest reason passed on to a client, in characters.
pub const MAX_REASON: usize = 200;

/// What a check asks, as configured.
#[derive(Debug, Clone)]
pub enum CheckVia {
    /// A program (absolute path) and its fixed arguments.
    Command { program: PathBuf, args: Vec<String> },
    /// An HTTP(S) endpoint; requests are signed when a secret is given.
    Http {
        url: url::Url,
        secret: Option<Secret>,
        cacert: Option<PathBuf>,
    },
}

/// A pre-check as configured.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    pub via: CheckVia,
    pub timeout: Duration,
    /// The verdict when no answer came in time (or none could be had).
    pub allow_on_timeout: bool,
}

/// What is being checked.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRequest {
    pub version: u32,
    /// `login` or `upload`.
    pub check: &'static str,
    pub account: String,
    pub client: String,
    pub protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl CheckRequest {
    pub fn login(account: &str, client: std::net::IpAddr, protocol: &'static str) -> Self {
        CheckRequest {
            version: 1,
            check: "login",
            account: account.to_string(),
            client: client.to_canonical().to_string(),
            protocol,
            path: None,
        }
    }

    pub fn upload(
        account: &str,
        client: std::net::IpAddr,
        protocol: &'static str,
        path: &[u8],
    ) -> Self {
        CheckRequest {
            check: "upload",
            path: Some(String::from_utf8_lossy(path).into_owned()),
            ..CheckRequest::login(account, client, protocol)
        }
    }

    pub fn to_json(&self) -> String {
        // Strings and a number always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A check's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Refused, with the reason the client sees.
    Deny(String),
}

/// Why a check gave no decision (then `on_timeout` decides).
#[derive(Debug, thiserror::Error)]
pub enum NoAnswer {
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("the program was ended by {0}")]
    Killed(std::process::ExitStatus),
    #[error("the endpoint answered {0}")]
    Status(u16),
    #[error("the request failed: {0}")]
    Http(String),
}

/// A pre-check ready to run.
#[derive(Debug)]
pub struct PreCheck {
    asker: Asker,
    metrics: Arc<Metrics>,
    timeout: Duration,
    allow_on_timeout: bool,
    slots: Semaphore,
}

/// Whom a check asks, set up.
#[derive(Debug)]
enum Asker {
    Command {
        program: PathBuf,
        args: Vec<String>,
    },
    Http {
        client: reqwest::Client,
        url: url::Url,
        secret: Option<Secret>,
    },
}

impl PreCheck {
    /// Sets up `config` (an HTTP check's client and CA file).
    pub fn new(
        config: CheckConfig,
        metrics: Arc<Metrics>,
    ) -> Result<PreCheck, crate::events::webhook::WebhookError> {
        let asker = match config.via {
            CheckVia::Command { program, args } => Asker::Command { program, args },
            CheckVia::Http {
                url,
                secret,
                cacert,
            } => Asker::Http {
                client: crate::events::webhook::http_client(cacert.as_deref(), config.timeout)?,
                url,
                secret,
            },
        };
        Ok(PreCheck {
            asker,
            metrics,
            timeout: config.timeout,
            allow_on_timeout: config.allow_on_timeout,
            slots: Semaphore::new(CONCURRENCY),
        })
    }

    /// Asks the check about `request`; never takes longer than the
    /// configured timeout.
    pub async fn ask(&self, request: &CheckRequest) -> Verdict {
        let timeout = self.timeout;
        let started = tokio::time::Instant::now();
        let asked = match tokio::time::timeout(timeout, self.slots.acquire()).await {
            Ok(slot) => {
                let left = timeout.saturating_sub(started.elapsed());
                let answer = match &self.asker {
                    Asker::Command { program, args } => {
                        command::ask(program, args, request, left).await
                    }
                    Asker::Http {
                        client,
                        url,
                        secret,
                    } => {
                        tokio::time::timeout(left, http::ask(client, url, secret.as_ref(), request))
                            .await
                            .unwrap_or(Err(NoAnswer::TimedOut(timeout)))
                    }
                };
                drop(slot);
                answer
            }
            Err(_) => Err(NoAnswer::TimedOut(timeout)),
        };
        match asked {
            Ok(verdict) => {
                let counter = match verdict {
                    Verdict::Allow => &self.metrics.prechecks_allowed,
                    Verdict::Deny(_) => &self.metrics.prechecks_denied,
                };
                Metrics::inc(counter);
                verdict
            }
            Err(why) => {
                Metrics::inc(&self.metrics.prechecks_unanswered);
                let allow = self.allow_on_timeout;
                tracing::warn!(check = request.check, account = %request.account, %why,
                    verdict = if allow { "allow" } else { "deny" }, "pre-check gave no answer; on_timeout decides");
                if allow {
                    Verdict::Allow
                } else {
                    Verdict::Deny(format!("the {} check did not answer", request.check))
                }
            }
        }
    }
}

/// `text`'s first line, without control characters, at most
/// [`MAX_REASON`] characters; a default when nothing is left.
pub fn reason(text: &str) -> String {
    let line: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_REASON)
        .collect();
    let line = line.trim();
    if line.is_empty() {
        "refused by the server's check".to_string()
    } else {
        line.to_string()
    }
}

/// The checks the options configure.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    pub login: Option<Arc<PreCheck>>,
    pub upload: Option<Arc<PreCheck>>,
}

impl Checks {
    pub fn new(
        login: Option<&CheckConfig>,
        upload: Option<&CheckConfig>,
        metrics: &Arc<Metrics>,
    ) -> Result<Checks, crate::events::webhook::WebhookError> {
        let make = |c: Option<&CheckConfig>| {
            c.cloned()
                .map(|c| PreCheck::new(c, metrics.clone()))
                .transpose()
        };
        Ok(Checks {
            login: make(login)?.map(Arc::new),
            upload: make(upload)?.map(Arc::new),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_one_clean_bounded_line() {
        assert_eq!(reason("too big\r\nsecond"), "too big");
        assert_eq!(reason("a\u{1b}[31mred"), "a[31mred");
        assert_eq!(reason(""), "refused by the server's check");
        assert_eq!(reason(&"x".repeat(500)).len(), MAX_REASON);
    }

    #[test]
    fn the_request_names_what_is_checked() {
        let r = CheckRequest::upload("alice", "::ffff:10.0.0.1".parse().unwrap(), "sftp", b"/a b");
        assert_eq!(
            r.to_json(),
            r#"{"version":1,"check":"upload","account":"alice","client":"10.0.0.1","protocol":"sftp","path":"/a b"}"#
        );
    }

    fn command_check(
        script: &str,
        timeout_ms: u64,
        allow_on_timeout: bool,
    ) -> (PreCheck, tempfile::TempDir) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("check.sh");
        std::fs::write(&program, script).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = CheckConfig {
            via: CheckVia::Command {
                program,
                args: Vec::new(),
            },
            timeout: Duration::from_millis(timeout_ms),
            allow_on_timeout,
        };
        (
            PreCheck::new(config, Arc::new(Metrics::default())).unwrap(),
            dir,
        )
    }

    #[tokio::test]
    async fn a_program_allows_with_exit_0_and_refuses_with_its_first_line() {
        let login = CheckRequest::login("alice", "127.0.0.1".parse().unwrap(), "ftp");
        let (allow, _d1) = command_check("#!/bin/sh\ncat >/dev/null\nexit 0\n", 5000, false);
        assert_eq!(allow.ask(&login).await, Verdict::Allow);
        let (deny, _d2) = command_check(
            "#!/bin/sh\ngrep -q '\"account\":\"alice\"' && echo \"no $WHARF_ACCOUNT today\"\nexit 1\n",
            5000,
            true,
        );
        assert_eq!(
            deny.ask(&login).await,
            Verdict::Deny("no alice today".into())
        );
    }

    #[tokio::test]
    async fn a_slow_program_gets_the_on_timeout_verdict() {
        let login = CheckRequest::login("alice", "127.0.0.1".parse().unwrap(), "ftp");
        let (deny, _d1) = command_check("#!/bin/sh\nexec sleep 30\n", 200, false);
        let started = std::time::Instant::now();
        assert!(matches!(deny.ask(&login).await, Verdict::Deny(_)));
        assert!(started.elapsed() < Duration::from_secs(5));
        let (allow, _d2) = command_check("#!/bin/sh\nexec sleep 30\n", 200, true);
        assert_eq!(allow.ask(&login).await, Verdict::Allow);
    }
}
