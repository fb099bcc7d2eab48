//! The shell's `register NAME PASSWORD [ADDRESS] [--wait[=SECS]]`: asks a
//! Wharf server for an account (`SITE REGISTER`) and, with `--wait`, waits
//! for the operator's answer — the seed's "please wait for the server's
//! answer", over standard FTP. It asks `SITE REGSTATUS` politely: at once,
//! then after 2 s, the pause doubling up to 60 s, until the operator
//! approves or rejects or the wait (600 s unless given, at most a day)
//! ends, and says the answer. Approved is success; rejected, a wait that
//! ran out and an unknown registration are errors.

use anyhow::{bail, Context, Result};
use ftp_client::FtpClient;
use std::time::Duration;
use wire::Secret;

/// How long `--wait` waits unless told.
const DEFAULT_WAIT: Duration = Duration::from_secs(600);
/// The longest `--wait=SECS`.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);
const FIRST_PAUSE: Duration = Duration::from_secs(2);
const MAX_PAUSE: Duration = Duration::from_secs(60);

pub const USAGE: &str = "usage: register NAME PASSWORD [MAIL-ADDRESS] [--wait[=SECS]]";

/// A `register` command line (its `Debug` hides the password).
#[derive(Debug, PartialEq, Eq)]
pub struct Registration {
    pub name: String,
    pub password: Secret,
    pub contact: Option<String>,
    /// Wait this long for the operator's answer.
    pub wait: Option<Duration>,
}

impl Registration {
    pub fn parse(args: &[String]) -> Result<Registration> {
        let mut wait = None;
        let mut words = Vec::new();
        for arg in args {
            if arg == "--wait" {
                wait = Some(DEFAULT_WAIT);
            } else if let Some(secs) = arg.strip_prefix("--wait=") {
                let secs: u64 = secs
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .with_context(|| format!("--wait={secs}: give a number of seconds"))?;
                let asked = Duration::from_secs(secs);
                if asked > MAX_WAIT {
                    bail!("--wait={secs}: wait at most {} s", MAX_WAIT.as_secs());
                }
                wait = Some(asked);
            } else {
                words.push(arg.clone());
            }
        }
        match words.as_slice() {
            [name, password] => Ok(Registration {
                name: name.clone(),
                password: Secret::new(password.as_str()),
                contact: None,
                wait,
            }),
            [name, password, contact] => Ok(Registration {
                name: name.clone(),
                password: Secret::new(password.as_str()),
                contact: Some(contact.clone()),
                wait,
            }),
            _ => bail!(USAGE),
        }
    }
}

/// Registers and, if asked, waits for the answer; says what happened.
pub async fn register(client: &mut FtpClient, r: &Registration) -> Result<()> {
    let mut line = format!("REGISTER {} {}", r.name, r.password.expose());
    if let Some(contact) = &r.contact {
        line.push(' ');
        line.push_str(contact);
    }
    let reply = client.site(line.as_bytes()).await?;
    crate::outln!("{}", reply.text());
    let Some(wait) = r.wait else {
        return Ok(());
    };
    crate::outln!(
        "waiting up to {} s for the operator's answer...",
        wait.as_secs()
    );
    let end = tokio::time::Instant::now() + wait;
    let mut pause = FIRST_PAUSE;
    loop {
        let asked = format!("SITE REGSTATUS {} {}", r.name, r.password.expose());
        let reply = client.quote(asked.as_bytes()).await?;
        let text = reply.text();
        match (reply.code, text.split_once(':')) {
            (200, Some(("approved", _))) => {
                crate::outln!("{} was approved: log in with `user {}`", r.name, r.name);
                return Ok(());
            }
            (200, Some(("rejected", reason))) => {
                bail!("{} was rejected:{reason}", r.name)
            }
            (200, Some(("pending", _))) => {}
            (code, _) => bail!("the server answered {code} {text}"),
        }
        let now = tokio::time::Instant::now();
        if now >= end {
            bail!(
                "no answer from the operator within {} s; the registration still waits (ask again with `register ... --wait`, or try to log in later)",
                wait.as_secs()
            );
        }
        tokio::time::sleep(pause.min(end - now)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn the_command_line_names_who_and_how_long() {
        let r = Registration::parse(&words("carol pw-1 --wait")).unwrap();
        assert_eq!((r.contact.as_deref(), r.wait), (None, Some(DEFAULT_WAIT)));
        let r = Registration::parse(&words("carol pw-1 c@example.org --wait=30")).unwrap();
        assert_eq!(r.contact.as_deref(), Some("c@example.org"));
        assert_eq!(r.wait, Some(Duration::from_secs(30)));
        assert_eq!(
            Registration::parse(&words("carol pw-1")).unwrap().wait,
            None
        );
        assert!(Registration::parse(&words("carol")).is_err());
        assert!(Registration::parse(&words("carol pw --wait=0")).is_err());
        assert!(Registration::parse(&words("carol pw --wait=999999")).is_err());
        assert!(
            !format!("{:?}", Registration::parse(&words("carol pw-1")).unwrap()).contains("pw-1")
        );
    }
}
