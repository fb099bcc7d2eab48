//! From a URL and the connection flags to a logged-in client: credentials
//! from the URL, then `~/.netrc`, then a prompt that does not echo (or
//! anonymous when no user is named anywhere).

use crate::cli::Connection;
use crate::exit::LoginFailed;
use anyhow::{Context, Result};
use ftp_client::{ClientOptions, FtpClient, FtpUrl};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wire::rate::TokenBucket;
use wire::Secret;

pub use crate::credentials::Login;

/// The password anonymous logins send.
const ANONYMOUS_PASSWORD: &str = "wharf@";

/// The login for `url`, found as for every protocol
/// ([`crate::credentials::login_for`]: the URL, `~/.netrc`,
/// `WHARF_PASSWORD`, a prompt), and anonymous when no user is named
/// anywhere (or the user is `anonymous` or `ftp` without a password).
pub fn login_for(url: &FtpUrl) -> Result<Login> {
    let anonymous = |user: &str| Login {
        user: user.to_string(),
        password: Secret::new(ANONYMOUS_PASSWORD),
    };
    match (url.user.as_deref(), url.password.as_ref()) {
        (Some(user @ ("anonymous" | "ftp")), None) => Ok(anonymous(user)),
        (user, password) => Ok(crate::credentials::login_for(&url.host, user, password)?
            .unwrap_or_else(|| anonymous("anonymous"))),
    }
}

/// Client options for `url` and the flags.
pub fn options(url: &FtpUrl, conn: &Connection) -> ClientOptions {
    let tls = url.tls.demanding(conn.tls);
    let transcript = crate::cli::transcript(conn.verbose);
    ClientOptions {
        rate_limit: conn.limit_rate.map(shared_rate),
        timeout: Duration::from_secs(conn.timeout.max(1)),
        tls,
        cacert: conn.cacert.clone(),
        tls13: conn.tls13,
        active: conn.active,
        transcript,
        durable_downloads: conn.fsync,
        ..ClientOptions::default()
    }
}

/// One bucket for every connection of the command, so `--limit-rate`
/// caps them together (a wharf process runs one command).
fn shared_rate(rate: u64) -> Arc<TokenBucket> {
    static BUCKET: OnceLock<Arc<TokenBucket>> = OnceLock::new();
    BUCKET
        .get_or_init(|| Arc::new(TokenBucket::new(rate)))
        .clone()
}

/// Connects and logs in.
pub async fn open(url: &FtpUrl, conn: &Connection, login: &Login) -> Result<FtpClient> {
    let mut client = FtpClient::connect(&url.host, url.port, options(url, conn))
        .await
        .with_context(|| format!("cannot connect to {}:{}", url.host, url.port))?;
    if let Err(e) = client.login(&login.user, login.password.expose()).await {
        if e.code() == Some(530) {
            return Err(LoginFailed(format!("login as {} refused: {e}", login.user)).into());
        }
        return Err(e).context("login failed");
    }
    Ok(client)
}
