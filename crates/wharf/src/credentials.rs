//! Who to log in as, for every protocol (FTP, NNTP, SMTP, POP3, IMAP).
//!
//! One order for every URL: the user and password in the URL, then
//! `~/.netrc` (`$NETRC`), then the `WHARF_PASSWORD` environment variable,
//! then a prompt that does not echo — only when standard input is a
//! terminal. A URL without a user takes both from `~/.netrc`; with no entry
//! there, there is no login at all (the caller decides whether that is
//! fine: sending mail to a local relay, yes; reading a mailbox, no; FTP
//! logs in anonymously). `--oauth2-token-cmd` replaces the password with
//! a token for mail ([`oauth_login`]).

use anyhow::{bail, Context, Result};
use ftp_client::netrc::{self, Credentials};
use std::io::IsTerminal;
use wire::oauth::Bearer;
use wire::Secret;

/// The environment variable that carries a password.
pub const PASSWORD_VAR: &str = "WHARF_PASSWORD";

/// A user name and its password. The password is [`Secret`]: `{:?}`
/// never prints it, and its text is taken out ([`Secret::expose`]) only
/// where it is handed to a protocol's login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password: Secret,
}

/// The user (from the URL, else `~/.netrc`) and the OAuth 2.0 token that
/// `command` prints, for `--oauth2-token-cmd`.
pub fn oauth_login(host: &str, user: Option<&str>, command: &str) -> Result<(String, Bearer)> {
    let user = match user {
        Some(u) => u.to_string(),
        None => match netrc::credentials_for(host) {
            Some(c) => c.login,
            None => bail!(
                "--oauth2-token-cmd needs a user: write the URL as SCHEME://USER@{host}/ (or put the host in ~/.netrc)"
            ),
        },
    };
    Ok((user, token_from(command)?))
}

/// Runs `command` with /bin/sh; its first line of output is the token.
fn token_from(command: &str) -> Result<Bearer> {
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .output()
        .context("--oauth2-token-cmd: cannot run /bin/sh")?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        bail!(
            "--oauth2-token-cmd `{command}` failed ({}): {}",
            out.status,
            why.trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().and_then(Bearer::new).with_context(|| {
        format!("--oauth2-token-cmd `{command}` printed no token on its first line")
    })
}

/// Where a password can come from, besides the URL and netrc.
struct Sources {
    env: Option<Secret>,
    terminal: bool,
}

/// The login for `host`, given the user and password a URL named.
pub fn login_for(
    host: &str,
    user: Option<&str>,
    password: Option<&Secret>,
) -> Result<Option<Login>> {
    let sources = Sources {
        env: std::env::var(PASSWORD_VAR)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Secret::new),
        terminal: std::io::stdin().is_terminal(),
    };
    let netrc = if user.is_some() && password.is_some() {
        None
    } else {
        netrc::credentials_for(host)
    };
    match decide(host, user, password, netrc, &sources)? {
        Decision::Known(login) => Ok(Some(login)),
        Decision::Anonymous => Ok(None),
        Decision::Ask(user) => {
            let password = rpassword::prompt_password(format!("Password for {user}@{host}: "))?;
            Ok(Some(Login {
                user,
                password: Secret::new(password),
            }))
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Known(Login),
    Anonymous,
    /// Prompt for this user's password.
    Ask(String),
}

fn decide(
    host: &str,
    user: Option<&str>,
    password: Option<&Secret>,
    netrc: Option<Credentials>,
    sources: &Sources,
) -> Result<Decision> {
    let known = |user: &str, password: Secret| {
        Decision::Known(Login {
            user: user.to_string(),
            password,
        })
    };
    let user = match (user, password, netrc) {
        (Some(u), Some(p), _) => return Ok(known(u, p.clone())),
        (Some(u), None, netrc) => {
            let same_user = netrc.filter(|c| c.login == u);
            if let Some(p) = same_user.and_then(|c| c.password) {
                return Ok(known(u, p));
            }
            u.to_string()
        }
        (None, _, Some(Credentials { login, password })) if !login.is_empty() => match password {
            Some(p) => return Ok(known(&login, p)),
            None => login,
        },
        (None, _, _) => return Ok(Decision::Anonymous),
    };
    if let Some(p) = &sources.env {
        return Ok(known(&user, p.clone()));
    }
    if sources.terminal {
        return Ok(Decision::Ask(user));
    }
    bail!(
        "no password for {user}@{host}: put it in the URL (user:password@), in ~/.netrc, \
         or in the {PASSWORD_VAR} environment variable, or run on a terminal to be asked"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(login: &str, password: Option<&str>) -> Option<Credentials> {
        Some(Credentials {
            login: login.into(),
            password: password.map(Secret::new),
        })
    }

    fn quiet(env: Option<&str>) -> Sources {
        Sources {
            env: env.map(Secret::new),
            terminal: false,
        }
    }

    fn login(user: &str, password: &str) -> Decision {
        Decision::Known(Login {
            user: user.into(),
            password: Secret::new(password),
        })
    }

    #[test]
    fn url_first_then_netrc_then_env_then_prompt() {
        let net = || entry("bob", Some("netrc-pw"));
        let d = |u, p, n, s: &Sources| decide("h", u, p, n, s).unwrap();
        let url_pw = Secret::new("url-pw");
        assert_eq!(
            d(Some("bob"), Some(&url_pw), net(), &quiet(Some("env"))),
            login("bob", "url-pw")
        );
        assert_eq!(
            d(Some("bob"), None, net(), &quiet(Some("env"))),
            login("bob", "netrc-pw")
        );
        // netrc's entry is for someone else: the environment decides.
        assert_eq!(
            d(Some("amy"), None, net(), &quiet(Some("env"))),
            login("amy", "env")
        );
        assert_eq!(d(None, None, net(), &quiet(None)), login("bob", "netrc-pw"));
        assert_eq!(
            d(None, None, entry("bob", None), &quiet(Some("e"))),
            login("bob", "e")
        );
        assert_eq!(d(None, None, None, &quiet(Some("e"))), Decision::Anonymous);
        let tty = Sources {
            env: None,
            terminal: true,
        };
        assert_eq!(
            d(Some("amy"), None, None, &tty),
            Decision::Ask("amy".into())
        );
    }

    #[test]
    fn no_password_anywhere_says_where_to_put_one() {
        let e = decide("mx", Some("amy"), None, None, &quiet(None)).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("amy@mx") && text.contains(PASSWORD_VAR),
            "{text}"
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let l = Login {
            user: "u".into(),
            password: Secret::new("secret"),
        };
        assert!(!format!("{l:?}").contains("secret"));
        assert!(!format!("{l:#?}").contains("secret"));
        assert!(format!("{l:?}").contains("\"u\""));
        // Every way a login can be decided keeps the password hidden.
        let net = entry("bob", Some("netrc-pw"));
        let d = decide("h", Some("bob"), None, net, &quiet(None)).unwrap();
        assert!(!format!("{d:?}").contains("netrc-pw"));
    }
}
