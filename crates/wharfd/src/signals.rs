//! The signals a running `wharfd serve` answers:
//!
//! - SIGTERM / SIGINT: stop ([`shutdown`]); the server library stops
//!   accepting, tells idle sessions 421 and lets transfers run for
//!   `shutdown_grace`.
//! - SIGHUP: read the configuration again. A configuration that does not
//!   load (bad TOML, a bad value, a certificate or key that cannot be read
//!   or do not fit) is refused with an error line and the running one
//!   stays. Otherwise the certificate and key are replaced for new
//!   sessions (running sessions and transfers keep theirs); every other
//!   setting takes a restart, and a warning says so when one changed.
//! - SIGUSR1: reopen the transfer log (after logrotate moved it away).
//!
//! The handlers are installed as soon as the runtime runs, before the
//! account store is opened, so an early signal is never fatal. systemd
//! hears of each through [`crate::notify`]: `RELOADING=1` … `READY=1`,
//! `STOPPING=1`.

use crate::cli::ServeArgs;
use crate::config::{self, ServeConfig};
use crate::notify::Notifier;
use anyhow::{Context, Result};
use ftp_server::tls::{TlsContext, TlsOptions};
use ftp_server::ServerHandle;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Resolves at the first SIGTERM or SIGINT, telling systemd.
pub async fn shutdown(mut term: Signal, mut int: Signal, notifier: Notifier) {
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    tracing::info!("stop signal received");
    notifier.send("STOPPING=1\nSTATUS=stopping: waiting for running transfers");
}

/// The stop signals, installed now.
pub fn stop_signals() -> Result<(Signal, Signal)> {
    Ok((
        signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?,
        signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?,
    ))
}

/// What answers SIGHUP and SIGUSR1 ([`Controls::run`]).
#[derive(Debug)]
pub struct Controls {
    hangup: Signal,
    user1: Signal,
    server: ServerHandle,
    /// The admin console's TLS, when it speaks HTTPS.
    admin_tls: Option<Arc<TlsContext>>,
    args: ServeArgs,
    /// What the settings that take a restart were at start.
    restart_only: String,
    notifier: Notifier,
}

/// SIGHUP and SIGUSR1, installed now (their default action would end the
/// process); [`Controls::new`] takes them once the server exists.
pub fn control_signals() -> Result<(Signal, Signal)> {
    Ok((
        signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?,
        signal(SignalKind::user_defined1()).context("cannot install the SIGUSR1 handler")?,
    ))
}

impl Controls {
    pub fn new(
        (hangup, user1): (Signal, Signal),
        server: ServerHandle,
        admin_tls: Option<Arc<TlsContext>>,
        args: ServeArgs,
        running: &ServeConfig,
        notifier: Notifier,
    ) -> Self {
        Controls {
            hangup,
            user1,
            server,
            admin_tls,
            args,
            restart_only: restart_only(running),
            notifier,
        }
    }

    pub async fn run(mut self) {
        loop {
            tokio::select! {
                Some(()) = self.hangup.recv() => {
                    self.notifier.reloading();
                    self.reload();
                    self.notifier.send("READY=1\nSTATUS=accepting clients");
                }
                Some(()) = self.user1.recv() => self.reopen_logs(),
                else => return,
            }
        }
    }

    fn reload(&self) {
        tracing::info!("SIGHUP: reading the configuration again");
        let new = match config::resolve(&self.args) {
            Ok(new) => new,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "reload refused: the configuration does not load; the running one stays");
                return;
            }
        };
        let certificate = match &new.options.tls {
            Some(tls) => match self.server.reload_tls(tls) {
                Ok(()) => {
                    if let Some(admin) = &self.admin_tls {
                        // The same files just loaded; a failure here is a
                        // race with the files changing again.
                        if let Err(e) = admin.reload(tls) {
                            tracing::error!(error = %e, "the admin console keeps its certificate");
                        }
                    }
                    Some(tls.cert.clone())
                }
                Err(e) => {
                    tracing::error!(error = %e, "reload refused: the certificate does not load; the running one stays");
                    return;
                }
            },
            None => None,
        };
        if restart_only(&new) != self.restart_only {
            tracing::warn!("settings other than the certificate and key changed; they take effect at the next restart");
        }
        tracing::info!(
            certificate = %certificate.map_or_else(|| "none".to_string(), |c| c.display().to_string()),
            "configuration reloaded: new sessions use the certificate and key read now"
        );
    }

    fn reopen_logs(&self) {
        match self.server.reopen_xferlog() {
            Ok(Some(path)) => {
                tracing::info!(path = %path.display(), "SIGUSR1: reopened the transfer log")
            }
            Ok(None) => tracing::info!("SIGUSR1: no transfer log to reopen"),
            Err(e) => {
                tracing::error!(error = %e, "SIGUSR1: cannot reopen the transfer log; still writing the old file")
            }
        }
    }
}

/// The settings a reload does not apply, as one comparable text: all but
/// the certificate and key paths.
fn restart_only(cfg: &ServeConfig) -> String {
    let mut options = cfg.options.clone();
    options.tls = options.tls.map(|t| TlsOptions {
        cert: PathBuf::new(),
        key: PathBuf::new(),
        ..t
    });
    format!(
        "{:?}",
        (
            options,
            &cfg.listen,
            &cfg.implicit_listen,
            &cfg.metrics_listen,
            &cfg.admin_listen,
            &cfg.log,
            cfg.log_format,
            &cfg.accounts,
            cfg.accounts_lease,
            &cfg.user,
            &cfg.group
        )
    )
}
