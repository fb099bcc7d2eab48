//! From a mail URL and the shared server flags to library options: which
//! protocol the URL must name, TLS (the `s` schemes, or `--tls` for
//! STARTTLS/STLS), `--cacert`, `--timeout` and the `--verbose` transcript.

use crate::cli::ServerConn;
use anyhow::Result;
use mail::{ClientError, MailError, MailUrl, Options, Protocol};
use wire::oauth::OAuthMechanism;

/// Parses `text` and checks that it names `want` (`what` says how to
/// write one).
pub fn parse(text: &str, want: Protocol, what: &str) -> Result<MailUrl> {
    let url = MailUrl::parse(text)?;
    if url.protocol != want {
        crate::usage!("{text:?} is not a {what} URL");
    }
    Ok(url)
}

pub fn options(url: &MailUrl, conn: &ServerConn) -> Options {
    let security = url.security.demanding(conn.tls);
    Options {
        timeout: conn.wait(),
        security,
        cacert: conn.cacert.clone(),
        transcript: conn.transcript(),
        ..Options::default()
    }
}

/// Why a session could not start, with what to do about a certificate
/// that no trusted root signed.
pub fn cannot_start(e: MailError, protocol: &str, url: &MailUrl) -> anyhow::Error {
    let hint = match &e {
        MailError::Wire(ClientError::Tls(t)) if t.0.contains("certificate") => {
            " (if a private CA signed the server's certificate, trust it with --cacert FILE)"
        }
        _ => "",
    };
    anyhow::Error::new(e).context(format!(
        "cannot start {protocol} session with {}:{}{hint}",
        url.host, url.port
    ))
}

/// The OAuth mechanism a URL's `;AUTH=` names (`None`: the best offered).
pub fn oauth_mechanism(auth: Option<&str>) -> Result<Option<OAuthMechanism>> {
    match auth {
        None | Some("*") => Ok(None),
        Some(name) => match OAuthMechanism::from_name(name) {
            Some(m) => Ok(Some(m)),
            None => crate::usage!(
                "with --oauth2-token-cmd, ;AUTH= is XOAUTH2 or OAUTHBEARER (or left out), not {name}"
            ),
        },
    }
}
