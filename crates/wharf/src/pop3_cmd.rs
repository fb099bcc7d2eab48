//! `wharf pop3`: list, fetch and delete messages in a POP3 mailbox.

use crate::cli::{Pop3Command, ServerConn};
use crate::credentials::{login_for, oauth_login};
use crate::exit::LoginFailed;
use crate::mailconn;
use anyhow::{Context, Result};
use mail::message::summarize;
use mail::sasl::Mechanism;
use mail::{ClientError, MailError, MailUrl, Pop3Client, Protocol};
use std::io::Write;
use std::path::Path;
use tokio::io::AsyncWriteExt;

const WHAT: &str = "pop3:// or pop3s://";

pub async fn run(cmd: Pop3Command) -> Result<()> {
    match cmd {
        Pop3Command::List { url, brief, conn } => list(&url, brief, &conn).await,
        Pop3Command::Fetch {
            url,
            number,
            output,
            conn,
        } => fetch(&url, number, output.as_deref(), &conn).await,
        Pop3Command::Delete { url, number, conn } => delete(&url, number, &conn).await,
    }
}

/// Connects and logs in the way the URL says (`;AUTH=+APOP`, a SASL
/// mechanism, or USER/PASS).
async fn open(url: &MailUrl, conn: &ServerConn) -> Result<Pop3Client> {
    if let Some(command) = &conn.oauth2_token_cmd {
        let (user, token) = oauth_login(&url.host, url.user.as_deref(), command)?;
        let mech = mailconn::oauth_mechanism(url.auth.as_deref())?;
        let mut client = Pop3Client::connect(&url.host, url.port, mailconn::options(url, conn))
            .await
            .map_err(|e| mailconn::cannot_start(e, "a POP3", url))?;
        return match client.auth_oauth(&user, &token, mech).await {
            Ok(()) => Ok(client),
            Err(MailError::Wire(ClientError::AuthRefused { text, .. })) => {
                Err(LoginFailed(format!("login as {user} refused: {text}")).into())
            }
            Err(e) => Err(e.into()),
        };
    }
    let Some(login) = login_for(&url.host, url.user.as_deref(), url.password.as_ref())? else {
        crate::usage!(
            "no user for {}: write pop3://USER@{}/ (or put the host in ~/.netrc)",
            url.host,
            url.host
        );
    };
    let mut client = Pop3Client::connect(&url.host, url.port, mailconn::options(url, conn))
        .await
        .map_err(|e| mailconn::cannot_start(e, "a POP3", url))?;
    let (user, password) = (&login.user, login.password.expose());
    let result = match url.auth.as_deref() {
        None | Some("*") => client.login(user, password).await,
        Some("+APOP") => client.apop(user, password).await,
        Some(name) => {
            let mech = Mechanism::from_name(name).with_context(|| {
                format!("unknown ;AUTH={name}: use +APOP, PLAIN, LOGIN or CRAM-MD5")
            })?;
            client.auth(user, password, mech).await
        }
    };
    match result {
        Ok(()) => Ok(client),
        Err(MailError::Wire(ClientError::AuthRefused { text, .. })) => {
            Err(LoginFailed(format!("login as {user} refused: {text}")).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The message number: the argument, else the URL's path.
fn number_of(url: &MailUrl, given: Option<u32>) -> Result<u32> {
    if let Some(n) = given {
        return Ok(n);
    }
    if url.path.is_empty() {
        crate::usage!("which message? give its number (see `wharf pop3 list`)");
    }
    url.path
        .parse()
        .with_context(|| format!("{:?} is not a message number", url.path))
}

async fn list(text: &str, brief: bool, conn: &ServerConn) -> Result<()> {
    let url = mailconn::parse(text, Protocol::Pop3, WHAT)?;
    let mut client = open(&url, conn).await?;
    let entries = client.list().await?;
    let mut out = crate::term::stdout();
    for (n, size) in entries {
        if brief {
            writeln!(out, "{n}\t{size}")?;
            continue;
        }
        let head = client.top(n, 0).await?.join(&b"\r\n"[..]);
        let s = summarize(&head).unwrap_or_default();
        writeln!(
            out,
            "{n}\t{size}\t{}\t{}\t{}",
            s.date.unwrap_or_default(),
            s.from.unwrap_or_default(),
            s.subject.unwrap_or_default()
        )?;
    }
    client.quit().await?;
    Ok(())
}

async fn fetch(
    text: &str,
    number: Option<u32>,
    output: Option<&Path>,
    conn: &ServerConn,
) -> Result<()> {
    let url = mailconn::parse(text, Protocol::Pop3, WHAT)?;
    let n = number_of(&url, number)?;
    let mut client = open(&url, conn).await?;
    let size = client.list_one(n).await?;
    // What LIST announced, with room for servers that count differently.
    let limit = size.saturating_mul(2).saturating_add(1 << 20);
    match output {
        None => {
            let mut stdout = crate::term::stream_out();
            client.retr_to(n, &mut stdout, limit).await?;
            stdout.flush().await?;
        }
        Some(path) => {
            let mut part = path.as_os_str().to_owned();
            part.push(".part");
            let part = std::path::PathBuf::from(part);
            let mut file = tokio::fs::File::create(&part)
                .await
                .with_context(|| format!("cannot create {}", part.display()))?;
            let fetched = client.retr_to(n, &mut file, limit).await;
            drop(file);
            if let Err(e) = fetched {
                let _ = std::fs::remove_file(&part);
                return Err(e.into());
            }
            std::fs::rename(&part, path).with_context(|| {
                format!("cannot rename {} to {}", part.display(), path.display())
            })?;
            if !conn.quiet {
                let head = client.top(n, 0).await?.join(&b"\r\n"[..]);
                let s = summarize(&head).unwrap_or_default();
                crate::errln!(
                    "From: {}\nSubject: {}\nDate: {}\n({size} bytes written to {})",
                    s.from.unwrap_or_default(),
                    s.subject.unwrap_or_default(),
                    s.date.unwrap_or_default(),
                    path.display()
                );
            }
        }
    }
    client.quit().await?;
    Ok(())
}

async fn delete(text: &str, number: Option<u32>, conn: &ServerConn) -> Result<()> {
    let url = mailconn::parse(text, Protocol::Pop3, WHAT)?;
    let n = number_of(&url, number)?;
    let mut client = open(&url, conn).await?;
    client.dele(n).await?;
    client
        .quit()
        .await
        .context("the server did not confirm QUIT: the message may not be deleted")?;
    if !conn.quiet {
        crate::errln!("wharf: deleted message {n}");
    }
    Ok(())
}
