//! `wharf mail send`: compose a message (or take a ready one) and send it
//! over SMTP, reporting each refused recipient.

use crate::cli::{MailCommand, SendArgs};
use crate::credentials::{login_for, oauth_login};
use crate::exit::PartlySent;
use crate::mailconn;
use anyhow::{bail, Context, Result};
use mail::message::{split_address, Attachment, Draft};
use mail::sasl::Mechanism;
use mail::smtp::{MailOptions, Notify, RcptOptions};
use mail::{Protocol, SmtpClient};
use std::io::{IsTerminal, Read};
use std::path::Path;

pub async fn run(cmd: MailCommand) -> Result<()> {
    match cmd {
        MailCommand::Send(args) => send(*args).await,
    }
}

async fn send(args: SendArgs) -> Result<()> {
    let url = mailconn::parse(&args.url, Protocol::Smtp, "smtp:// or smtps://")?;
    let recipients: Vec<&str> = args
        .to
        .iter()
        .chain(&args.cc)
        .chain(&args.bcc)
        .map(|a| split_address(a).1)
        .collect();
    if recipients.is_empty() {
        crate::usage!("no recipient: give --to ADDRESS (or --cc/--bcc)");
    }
    let from = split_address(&args.from).1.to_string();
    let rcpt = RcptOptions {
        notify: args.notify.as_deref().map(parse_notify).transpose()?,
        orcpt: false,
    };
    let composed = match &args.message {
        Some(_) => None,
        None => Some(compose(&args)?),
    };
    let (size, eight_bit) = match (&composed, &args.message) {
        (Some(m), _) => (m.len() as u64, !m.is_ascii()),
        (None, Some(path)) => scan(path)?,
        (None, None) => bail!("nothing to send"),
    };
    let mail_opts = MailOptions {
        size: Some(size),
        eight_bit,
        ..MailOptions::default()
    };
    let mut client = match &args.conn.oauth2_token_cmd {
        Some(command) => {
            let (user, token) = oauth_login(&url.host, url.user.as_deref(), command)?;
            let mech = mailconn::oauth_mechanism(url.auth.as_deref())?;
            let mut client = connect(&url, &args).await?;
            client
                .login_oauth(&user, &token, mech)
                .await
                .with_context(|| format!("cannot log in as {user}"))?;
            client
        }
        None => {
            let mechanism = match url.auth.as_deref() {
                None | Some("*") => None,
                Some(name) => Some(Mechanism::from_name(name).with_context(|| {
                    format!("unknown ;AUTH={name}: use PLAIN, LOGIN, CRAM-MD5 (or, with --oauth2-token-cmd, XOAUTH2 or OAUTHBEARER)")
                })?),
            };
            let login = login_for(&url.host, url.user.as_deref(), url.password.as_ref())?;
            let mut client = connect(&url, &args).await?;
            if let Some(login) = &login {
                client
                    .login(&login.user, login.password.expose(), mechanism)
                    .await
                    .with_context(|| format!("cannot log in as {}", login.user))?;
            }
            client
        }
    };
    let refused = match (&composed, &args.message) {
        (Some(m), _) => {
            client
                .send_mail(&from, &recipients, m.as_slice(), &mail_opts, &rcpt)
                .await?
        }
        (None, Some(path)) => {
            let file = tokio::fs::File::open(path)
                .await
                .with_context(|| format!("cannot read {}", path.display()))?;
            client
                .send_mail(&from, &recipients, file, &mail_opts, &rcpt)
                .await?
        }
        (None, None) => bail!("nothing to send"),
    };
    client.quit().await.context("QUIT")?;
    for r in &refused {
        crate::errln!("wharf: refused: {}: {} {}", r.recipient, r.code, r.text);
    }
    if !refused.is_empty() {
        return Err(PartlySent {
            sent: recipients.len() - refused.len(),
            refused: refused.len(),
        }
        .into());
    }
    if !args.conn.quiet {
        crate::errln!(
            "wharf: sent {} bytes to {} recipient{}",
            size,
            recipients.len(),
            if recipients.len() == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

async fn connect(url: &mail::MailUrl, args: &SendArgs) -> Result<SmtpClient> {
    SmtpClient::connect(&url.host, url.port, mailconn::options(url, &args.conn))
        .await
        .map_err(|e| mailconn::cannot_start(e, "an SMTP", url))
}

/// The size of a ready-made message and whether it has 8-bit bytes,
/// read through once in pieces (it is then streamed, never held whole).
fn scan(path: &Path) -> Result<(u64, bool)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut buf = vec![0; 64 * 1024];
    let (mut size, mut eight_bit) = (0u64, false);
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok((size, eight_bit));
        }
        size += n as u64;
        eight_bit |= !buf[..n].is_ascii();
    }
}

/// `never`, or a comma list of `success`, `failure`, `delay`.
fn parse_notify(text: &str) -> Result<Notify> {
    let mut notify = Notify::default();
    if text.eq_ignore_ascii_case("never") {
        return Ok(notify);
    }
    for word in text.split(',') {
        match word.trim().to_ascii_lowercase().as_str() {
            "success" => notify.success = true,
            "failure" => notify.failure = true,
            "delay" => notify.delay = true,
            other => crate::usage!(
                "--notify {other:?}: write never, or a list of success, failure, delay"
            ),
        }
    }
    Ok(notify)
}

fn compose(args: &SendArgs) -> Result<Vec<u8>> {
    for (flag, value) in [
        ("--from", Some(&args.from)),
        ("--subject", args.subject.as_ref()),
    ] {
        if value.is_some_and(|v| v.contains(['\r', '\n'])) {
            crate::usage!("{flag} may not contain line breaks");
        }
    }
    let html = args.html_file.as_deref().map(read_text).transpose()?;
    let text = match (&args.body, &args.body_file) {
        (Some(body), _) => Some(body.clone()),
        (None, Some(path)) => Some(read_text(path)?),
        (None, None) if std::io::stdin().is_terminal() => {
            if html.is_none() {
                crate::usage!(
                    "no body: give --body TEXT, --body-file FILE, or pipe it on standard input"
                );
            }
            None
        }
        (None, None) => {
            let mut body = String::new();
            std::io::stdin()
                .read_to_string(&mut body)
                .context("cannot read the body from standard input (it must be UTF-8)")?;
            Some(body)
        }
    };
    let attachments = args
        .attach
        .iter()
        .map(|path| attachment(path))
        .collect::<Result<Vec<_>>>()?;
    let draft = Draft {
        from: args.from.clone(),
        to: args.to.clone(),
        cc: args.cc.clone(),
        subject: args.subject.clone(),
        text,
        html,
        attachments,
    };
    draft.compose().context("cannot compose the message")
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (it must be UTF-8 text)", path.display()))
}

fn attachment(path: &Path) -> Result<Attachment> {
    let data = std::fs::read(path).with_context(|| format!("cannot attach {}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} names no file", path.display()))?;
    Ok(Attachment {
        content_type: content_type(&name).to_string(),
        name,
        data,
    })
}

/// A MIME type for common file name extensions.
fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt") => "text/plain",
        Some("html" | "htm") => "text/html",
        Some("csv") => "text/csv",
        Some("pdf") => "application/pdf",
        Some("json") => "application/json",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_words() {
        assert_eq!(parse_notify("never").unwrap(), Notify::default());
        let n = parse_notify("Success, delay").unwrap();
        assert!(n.success && n.delay && !n.failure);
        assert!(parse_notify("sometimes").is_err());
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("a.PDF"), "application/pdf");
        assert_eq!(content_type("noext"), "application/octet-stream");
        assert_eq!(content_type("x.tar.gz"), "application/gzip");
    }
}
