//! From a mail URL and the shared server flags to library options: which
//! protocol the URL must name, TLS (the `s` schemes, or `--tls` for
//! STARTTLS/STLS), `--cacert`, `--timeout` and the `--verbose` transcript.

use crate::cli::ServerConn;
use anyhow::{bail, Result};
use mail::{MailUrl, Options, Protocol, Security};

/// Parses `text` and checks that it names `want` (`what` says how to
/// write one).
pub fn parse(text: &str, want: Protocol, what: &str) -> Result<MailUrl> {
    let url = MailUrl::parse(text).map_err(anyhow::Error::msg)?;
    if url.protocol != want {
        bail!("{text:?} is not a {what} URL");
    }
    Ok(url)
}

pub fn options(url: &MailUrl, conn: &ServerConn) -> Options {
    let security = match (url.security, conn.tls) {
        (Security::Implicit, _) => Security::Implicit,
        (_, true) => Security::StartTls,
        _ => Security::Plain,
    };
    Options {
        timeout: conn.wait(),
        security,
        cacert: conn.cacert.clone(),
        transcript: conn.transcript(),
        ..Options::default()
    }
}
