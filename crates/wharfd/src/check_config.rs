//! The `[pre_login_check]` and `[pre_upload_check]` tables of the config
//! file (docs/events.md, "Pre-login and pre-upload checks"), checked into the
//! server's [`CheckConfig`]s: exactly one of `command` and `url`, a
//! timeout, and what a check that does not answer means.

use crate::config::FileConfig;
use crate::event_config::{http_url, program, secret};
use anyhow::{bail, Result};
use ftp_server::precheck::{CheckConfig, CheckVia};
use ftp_server::ServerOptions;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// A `[pre_login_check]` or `[pre_upload_check]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckTable {
    /// A program (absolute path), run directly; exit 0 allows.
    pub command: Option<PathBuf>,
    #[serde(default)]
    pub args: Vec<String>,
    /// Or an endpoint POSTed to; 2xx allows, 403 refuses.
    pub url: Option<String>,
    /// The HMAC key requests to `url` are signed with (or `secret_file`).
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// PEM certificates to trust instead of the system's.
    pub cacert: Option<PathBuf>,
    /// Seconds to wait for the answer [default: 5].
    pub timeout: Option<u64>,
    /// `deny` (the default) or `allow`: the verdict when no answer came.
    pub on_timeout: Option<String>,
}

/// Sets the pre-checks of `options` from `file`.
pub fn apply(file: &FileConfig, options: &mut ServerOptions) -> Result<()> {
    options.pre_login_check = file
        .pre_login_check
        .as_ref()
        .map(|t| check(t, "pre_login_check"))
        .transpose()?;
    options.pre_upload_check = file
        .pre_upload_check
        .as_ref()
        .map(|t| check(t, "pre_upload_check"))
        .transpose()?;
    Ok(())
}

fn check(t: &CheckTable, table: &str) -> Result<CheckConfig> {
    let timeout = Duration::from_secs(t.timeout.unwrap_or(5).max(1));
    let via = match (&t.command, &t.url) {
        (Some(command), None) => {
            program(command, table)?;
            if t.secret.is_some() || t.secret_file.is_some() || t.cacert.is_some() {
                bail!("{table}: `secret`, `secret_file` and `cacert` go with `url`, not `command`");
            }
            CheckVia::Command {
                program: command.clone(),
                args: t.args.clone(),
            }
        }
        (None, Some(url)) => {
            if !t.args.is_empty() {
                bail!("{table}: `args` goes with `command`, not `url`");
            }
            let via = CheckVia::Http {
                url: http_url(url, table)?,
                secret: secret(t.secret.as_deref(), t.secret_file.as_deref(), table)?,
                cacert: t.cacert.clone(),
            };
            // The CA file is read now, so a bad one stops the start.
            if let CheckVia::Http { cacert, .. } = &via {
                ftp_server::events::webhook::http_client(cacert.as_deref(), timeout)
                    .map_err(|e| anyhow::anyhow!("{table}: {e}"))?;
            }
            via
        }
        _ => bail!("{table}: give exactly one of `command` (a program) and `url` (an endpoint)"),
    };
    let allow_on_timeout = match t.on_timeout.as_deref().unwrap_or("deny") {
        "deny" => false,
        "allow" => true,
        other => bail!("{table} on_timeout {other:?}: use \"deny\" or \"allow\""),
    };
    Ok(CheckConfig {
        via,
        timeout,
        allow_on_timeout,
    })
}
