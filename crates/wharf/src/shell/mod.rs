//! `wharf ftp [URL]`: an interactive shell in the spirit of lftp, with
//! history across sessions and tab completion of commands, remote and
//! local paths on a terminal, and commands read from standard input
//! otherwise, so scripts work. A script's exit code is that of its last
//! failed command (0 if none).
//!
//! - [`commands`]: the table of commands (usage, help, what their
//!   arguments complete to, handler).
//! - [`complete`]: tab completion and the listings it caches.
//! - [`input`]: the line editor, history, and splitting lines into words.
//! - [`jobs`]: background jobs (`mirror … &`, `pget … &`).

mod commands;
mod complete;
mod input;
mod jobs;

use crate::cli::{Connection, ShellArgs};
use crate::connect::{login_for, open, Login};
use crate::exit;
use crate::settings::Settings;
use anyhow::{Context, Result};
use complete::{Completion, Remote};
use ftp_client::{FtpClient, FtpUrl, TlsPolicy};
use ftp_proto::command::TransferType;
use input::{split_words, Input};
use jobs::Jobs;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The shell's state between commands.
pub struct Shell {
    client: Option<FtpClient>,
    url: Option<FtpUrl>,
    login: Option<Login>,
    /// The connection flags: those given at start, over the settings file.
    conn: Connection,
    /// The flags as given at start, and which were given.
    base: Connection,
    given: HashSet<String>,
    settings: Settings,
    ascii: bool,
    remote: Arc<Remote>,
    bookmarks: Arc<Mutex<Vec<String>>>,
    jobs: Jobs,
}

/// Runs the shell; `given` names the flags given on the command line
/// (they win over the settings file).
pub async fn run(args: ShellArgs, settings: Settings, given: HashSet<String>) -> Result<()> {
    let mut shell = Shell {
        client: None,
        url: None,
        login: None,
        base: args.conn.clone(),
        conn: args.conn,
        given,
        settings,
        ascii: false,
        remote: Arc::default(),
        bookmarks: Arc::default(),
        jobs: Jobs::default(),
    };
    shell.settings_changed();
    let mut last_failure = 0u8;
    let mut note = |e: &anyhow::Error| {
        crate::errln!("wharf: {e:#}");
        last_failure = exit::code(e);
    };
    if let Some(url) = args.url {
        if let Err(e) = shell.open_target(&url).await {
            note(&e);
        }
    }
    let mut input = Input::new(Completion::new(
        shell.remote.clone(),
        shell.bookmarks.clone(),
    ))?;
    loop {
        let (lines, failed) = shell.jobs.reap().await;
        for line in lines {
            crate::outln!("{line}");
        }
        if let Some(e) = failed {
            note(&e);
        }
        let prompt = shell.prompt();
        if input.completion().is_some() {
            shell.remote.lend(shell.client.take());
        }
        let line = input.next(prompt);
        if input.completion().is_some() {
            shell.client = shell.remote.take_back();
        }
        let Some(line) = line? else {
            break;
        };
        if let Some(command) = line.trim_start().strip_prefix('!') {
            if let Err(e) = commands::local(command) {
                note(&e);
            }
            continue;
        }
        let mut words = split_words(&line);
        let background = words.last().is_some_and(|w| w == "&");
        if background {
            words.pop();
        }
        let Some((cmd, rest)) = words.split_first() else {
            continue;
        };
        if matches!(cmd.as_str(), "quit" | "bye" | "exit") {
            break;
        }
        if let Err(e) = commands::run(&mut shell, cmd, rest, &line, background).await {
            note(&e);
        }
    }
    if !shell.jobs.is_empty() {
        crate::errln!("wharf: waiting for the background jobs (see jobs; Ctrl-C stops them)");
        match shell.jobs.wait(None).await {
            Ok((lines, failed)) => {
                for line in lines {
                    crate::outln!("{line}");
                }
                if let Some(e) = failed {
                    note(&e);
                }
            }
            Err(e) => note(&e),
        }
    }
    if let Some(client) = shell.client.take() {
        let _ = client.quit().await;
    }
    if last_failure != 0 {
        std::process::exit(i32::from(last_failure));
    }
    Ok(())
}

impl Shell {
    fn prompt(&self) -> &'static str {
        if self.client.is_some() {
            "wharf> "
        } else {
            "wharf (not connected)> "
        }
    }

    fn client(&mut self) -> Result<&mut FtpClient> {
        self.client
            .as_mut()
            .context("not connected; use `open URL`")
    }

    /// After the settings changed: the flags again, and the bookmark
    /// names completion offers.
    fn settings_changed(&mut self) {
        let mut conn = self.base.clone();
        let given = &self.given;
        self.settings.apply(&mut conn, &|id| given.contains(id));
        self.conn = conn;
        if let Ok(mut names) = self.bookmarks.lock() {
            *names = self
                .settings
                .bookmarks()
                .into_iter()
                .map(|(n, _)| n)
                .collect();
        }
    }

    /// Opens a bookmark's URL, a URL, or a HOST[:PORT].
    async fn open_target(&mut self, target: &str) -> Result<()> {
        let text = match self.settings.bookmark(target) {
            Some(url) => url,
            None if target.contains("://") => target.to_string(),
            None => format!("ftp://{target}"),
        };
        let url = FtpUrl::parse(&text)?;
        let login = login_for(&url)?;
        self.connect(url, login).await
    }

    /// Replaces the connection by one to `url` as `login`.
    async fn connect(&mut self, url: FtpUrl, login: Login) -> Result<()> {
        if let Some(old) = self.client.take() {
            let _ = old.quit().await;
        }
        let mut client = open(&url, &self.conn, &login).await?;
        if !url.path.is_empty() {
            client.cwd(&url.path).await?;
        }
        crate::outln!("Logged in to {}:{} as {}.", url.host, url.port, login.user);
        self.client = Some(client);
        self.url = Some(url);
        self.login = Some(login);
        self.remote.forget();
        Ok(())
    }

    fn transfer_type(&self) -> TransferType {
        if self.ascii {
            TransferType::Ascii
        } else {
            TransferType::Image
        }
    }

    /// `remote` as an absolute path on the server.
    async fn absolute(&mut self, remote: &[u8]) -> Result<Vec<u8>> {
        if remote.starts_with(b"/") {
            return Ok(remote.to_vec());
        }
        let mut path = self.client()?.pwd().await?;
        if !path.ends_with(b"/") {
            path.push(b'/');
        }
        path.extend_from_slice(remote);
        Ok(path)
    }

    /// The URL and login of `remote`, for work on connections of its own.
    async fn url_of(&mut self, remote: &[u8], is_dir: bool) -> Result<(FtpUrl, Login)> {
        let path = self.absolute(remote).await?;
        let mut url = self.url.clone().context("not connected; use `open URL`")?;
        url.path = path;
        url.is_dir = is_dir;
        let login = self.login.clone().context("not logged in")?;
        Ok((url, login))
    }

    /// Where the shell is, as a URL without the password (for bookmarks).
    async fn location(&mut self) -> Result<String> {
        let url = self.url.clone().context("not connected; use `open URL`")?;
        let path = self.client()?.pwd().await?;
        let scheme = match url.tls {
            TlsPolicy::Implicit => "ftps",
            _ => "ftp",
        };
        let host = if url.host.contains(':') {
            format!("[{}]", url.host)
        } else {
            url.host.clone()
        };
        let user = match &self.login {
            Some(l) if l.user != "anonymous" => format!("{}@", encode(l.user.as_bytes(), false)),
            _ => String::new(),
        };
        Ok(format!(
            "{scheme}://{user}{host}:{}{}",
            url.port,
            encode(&path, true)
        ))
    }
}

/// Percent-encodes all but unreserved characters (and `/` in a path).
fn encode(text: &[u8], path: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (path && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_encoded_for_bookmarks() {
        assert_eq!(encode(b"/pub/a b/\xc3\xa9", true), "/pub/a%20b/%C3%A9");
        assert_eq!(encode(b"ann@corp", false), "ann%40corp");
    }
}
