//! From a URL and the connection flags to a logged-in client: credentials
//! from the URL, then `~/.netrc`, then a prompt that does not echo (or
//! anonymous when no user is named anywhere).

use crate::cli::Connection;
use crate::exit::LoginFailed;
use anyhow::{bail, Context, Result};
use ftp_client::{ClientOptions, FtpClient, FtpUrl};
use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wire::rate::TokenBucket;

/// Who to log in as.
#[derive(Clone)]
pub struct Login {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login({}, ****)", self.user)
    }
}

/// Decides the login for `url`, prompting at most once.
pub fn login_for(url: &FtpUrl) -> Result<Login> {
    let netrc = ftp_client::netrc::credentials_for(&url.host);
    let (user, password) = match (&url.user, &url.password) {
        (Some(u), Some(p)) => (u.clone(), Some(p.clone())),
        (Some(u), None) => {
            let from_netrc = netrc.filter(|c| &c.login == u).and_then(|c| c.password);
            (u.clone(), from_netrc)
        }
        (None, _) => match netrc {
            Some(c) => (c.login, c.password),
            None => {
                return Ok(Login {
                    user: "anonymous".into(),
                    password: "wharf@".into(),
                })
            }
        },
    };
    let password = match password {
        Some(p) => p,
        None if user == "anonymous" || user == "ftp" => "wharf@".into(),
        None if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("Password for {user}@{}: ", url.host))
                .context("cannot read the password")?
        }
        None => bail!(
            "no password for {user}@{}: put it in the URL, in ~/.netrc, or run on a terminal to be asked",
            url.host
        ),
    };
    Ok(Login { user, password })
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
    if let Err(e) = client.login(&login.user, &login.password).await {
        if e.code() == Some(530) {
            return Err(LoginFailed(format!("login as {} refused: {e}", login.user)).into());
        }
        return Err(e).context("login failed");
    }
    Ok(client)
}
