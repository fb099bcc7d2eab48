//! `wharf ftp [URL]`: an interactive shell in the spirit of `/bin/ftp` and
//! NcFTP, with history and tab completion of remote names on a terminal,
//! and commands read from standard input otherwise, so scripts work.
//! A script's exit code is that of its last failed command (0 if none).

use crate::cli::{Connection, ShellArgs};
use crate::connect::{login_for, open, Login};
use crate::download;
use crate::exit;
use crate::glob;
use crate::names;
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use ftp_client::{FtpClient, FtpUrl, StoreMode};
use ftp_proto::command::TransferType;
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const HELP: &[(&str, &str)] = &[
    (
        "open URL|HOST [PORT]",
        "connect (and log in when the URL names a user)",
    ),
    (
        "user NAME [PASSWORD]",
        "log in (asks for the password when not given)",
    ),
    ("ls|dir [PATH]", "list a directory"),
    ("nlist [PATH]", "list names only"),
    (
        "cd PATH / cdup / pwd",
        "change or show the remote directory",
    ),
    ("lcd [PATH]", "change or show the local directory"),
    ("get REMOTE [LOCAL]", "download a file"),
    ("put LOCAL [REMOTE]", "upload a file"),
    ("mget PATTERN...", "download matching files (* and ?)"),
    ("mput PATTERN...", "upload matching local files"),
    (
        "rename FROM TO / delete NAME",
        "rename or delete a remote file",
    ),
    (
        "mkdir NAME / rmdir NAME",
        "make or remove a remote directory",
    ),
    ("binary / ascii", "transfer type (binary is the default)"),
    (
        "passive / active",
        "data connection mode (passive is the default)",
    ),
    (
        "register NAME PASSWORD [MAIL] [--wait[=SECS]]",
        "ask a Wharf server for an account (SITE REGISTER); --wait: until the operator answers",
    ),
    ("quota", "show your quota (SITE QUOTA)"),
    (
        "site ARGS / quote LINE",
        "send a SITE command / any raw command",
    ),
    ("close / quit", "disconnect / leave"),
];

/// Remote names seen last, for tab completion.
type Names = Arc<Mutex<Vec<String>>>;

struct Shell {
    client: Option<FtpClient>,
    url: Option<FtpUrl>,
    conn: Connection,
    ascii: bool,
    names: Names,
}

pub async fn run(args: ShellArgs) -> Result<()> {
    let names: Names = Arc::default();
    let mut shell = Shell {
        client: None,
        url: None,
        conn: args.conn,
        ascii: false,
        names: names.clone(),
    };
    let mut last_failure = 0u8;
    if let Some(url) = args.url {
        if let Err(e) = shell.open_url(&url).await {
            crate::errln!("wharf: {e:#}");
            last_failure = exit::code(&e);
        }
    }
    let mut input = Input::new(names)?;
    while let Some(line) = input.next(shell.prompt())? {
        let words = split_words(&line);
        let Some((cmd, rest)) = words.split_first() else {
            continue;
        };
        match cmd.as_str() {
            "quit" | "bye" | "exit" => break,
            _ => {
                if let Err(e) = shell.dispatch(cmd, rest, &line).await {
                    crate::errln!("wharf: {e:#}");
                    last_failure = exit::code(&e);
                }
            }
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

    async fn open_url(&mut self, text: &str) -> Result<()> {
        let text = if text.contains("://") {
            text.to_string()
        } else {
            format!("ftp://{text}")
        };
        let url = FtpUrl::parse(&text).map_err(anyhow::Error::msg)?;
        if let Some(old) = self.client.take() {
            let _ = old.quit().await;
        }
        let login = login_for(&url)?;
        let mut client = open(&url, &self.conn, &login).await?;
        if !url.path.is_empty() {
            client.cwd(&url.path).await?;
        }
        crate::outln!("Connected to {}:{} as {}.", url.host, url.port, login.user);
        self.client = Some(client);
        self.url = Some(url);
        self.refresh_names().await;
        Ok(())
    }

    async fn refresh_names(&mut self) {
        let Some(client) = self.client.as_mut() else {
            return;
        };
        if let Ok(list) = client.nlst(None).await {
            if let Ok(mut cached) = self.names.lock() {
                // Candidates are printed when several match: escaped.
                *cached = list.iter().map(|n| names::show(n)).collect();
            }
        }
    }

    fn transfer_type(&self) -> TransferType {
        if self.ascii {
            TransferType::Ascii
        } else {
            TransferType::Image
        }
    }

    async fn dispatch(&mut self, cmd: &str, args: &[String], line: &str) -> Result<()> {
        let arg = |i: usize| args.get(i).map(|s| s.as_bytes().to_vec());
        match cmd {
            "help" | "?" => {
                for (usage, what) in HELP {
                    crate::outln!("  {usage:<30} {what}");
                }
            }
            "open" => {
                let target = args.first().context("usage: open URL|HOST [PORT]")?;
                let target = match args.get(1) {
                    Some(port) => format!("{target}:{port}"),
                    None => target.clone(),
                };
                self.open_url(&target).await?;
            }
            "user" => {
                let name = args.first().context("usage: user NAME [PASSWORD]")?.clone();
                let url = self.url.clone().context("not connected; use `open URL`")?;
                let password = match args.get(1) {
                    Some(p) => p.clone(),
                    None if std::io::stdin().is_terminal() => {
                        rpassword::prompt_password("Password: ")?
                    }
                    None => bail!("usage: user NAME PASSWORD (no terminal to ask on)"),
                };
                let login = Login {
                    user: name,
                    password,
                };
                if let Some(old) = self.client.take() {
                    let _ = old.quit().await;
                }
                self.client = Some(open(&url, &self.conn, &login).await?);
                crate::outln!("Logged in to {}:{} as {}.", url.host, url.port, login.user);
                self.refresh_names().await;
            }
            "close" => {
                if let Some(client) = self.client.take() {
                    client.quit().await?;
                }
            }
            "ls" | "dir" => {
                let raw = self.client()?.list(arg(0).as_deref()).await?;
                crate::term::stdout().write_all(
                    &raw.iter()
                        .copied()
                        .filter(|&b| b != b'\r')
                        .collect::<Vec<_>>(),
                )?;
            }
            "nlist" | "nls" => {
                for name in self.client()?.nlst(arg(0).as_deref()).await? {
                    crate::outln!("{}", names::show(&name));
                }
            }
            "cd" => {
                let path = arg(0).context("usage: cd PATH")?;
                self.client()?.cwd(&path).await?;
                self.refresh_names().await;
            }
            "cdup" => {
                self.client()?.cdup().await?;
                self.refresh_names().await;
            }
            "pwd" => crate::outln!("{}", names::show(&self.client()?.pwd().await?)),
            "lcd" => {
                if let Some(dir) = args.first() {
                    std::env::set_current_dir(dir)
                        .with_context(|| format!("cannot change to {dir}"))?;
                }
                crate::outln!("Local directory now {}", std::env::current_dir()?.display());
            }
            "get" | "recv" => {
                let remote = arg(0).context("usage: get REMOTE [LOCAL]")?;
                let local = match args.get(1) {
                    Some(l) => PathBuf::from(l),
                    None => {
                        let base = remote.rsplit(|&b| b == b'/').next().unwrap_or(&remote);
                        names::local_child(Path::new("."), base).with_context(|| {
                            format!("{:?} is not a safe local name; give one", names::show(base))
                        })?
                    }
                };
                self.get(&remote, &local).await?;
            }
            "put" | "send" => {
                let local = args.first().context("usage: put LOCAL [REMOTE]")?;
                let remote = match args.get(1) {
                    Some(r) => r.as_bytes().to_vec(),
                    None => Path::new(local)
                        .file_name()
                        .context("no file name")?
                        .as_bytes()
                        .to_vec(),
                };
                self.put(Path::new(local), &remote).await?;
                self.refresh_names().await;
            }
            "mget" => {
                if args.is_empty() {
                    bail!("usage: mget PATTERN...");
                }
                let listed = self.client()?.nlst(None).await?;
                for pattern in args {
                    let mut any = false;
                    for name in listed
                        .iter()
                        .filter(|n| glob::matches(pattern.as_bytes(), n))
                    {
                        any = true;
                        let Some(local) = names::local_child(Path::new("."), name) else {
                            crate::errln!("wharf: skipping unsafe name {:?}", names::show(name));
                            continue;
                        };
                        self.get(name, &local).await?;
                    }
                    if !any {
                        crate::errln!("wharf: nothing matches {pattern}");
                    }
                }
            }
            "mput" => {
                if args.is_empty() {
                    bail!("usage: mput PATTERN...");
                }
                for pattern in args {
                    let mut matched: Vec<PathBuf> = Vec::new();
                    if glob::is_pattern(pattern.as_bytes()) {
                        for entry in std::fs::read_dir(".")? {
                            let entry = entry?;
                            if entry.file_type()?.is_file()
                                && glob::matches(pattern.as_bytes(), entry.file_name().as_bytes())
                            {
                                matched.push(entry.path());
                            }
                        }
                        matched.sort();
                    } else {
                        matched.push(PathBuf::from(pattern));
                    }
                    for path in matched {
                        let remote = path
                            .file_name()
                            .context("no file name")?
                            .as_bytes()
                            .to_vec();
                        self.put(&path, &remote).await?;
                    }
                }
                self.refresh_names().await;
            }
            "rename" => {
                let (from, to) = (arg(0), arg(1));
                let (Some(from), Some(to)) = (from, to) else {
                    bail!("usage: rename FROM TO")
                };
                self.client()?.rename(&from, &to).await?;
                self.refresh_names().await;
            }
            "delete" | "rm" => {
                let name = arg(0).context("usage: delete NAME")?;
                self.client()?.delete(&name).await?;
                self.refresh_names().await;
            }
            "mkdir" => {
                let name = arg(0).context("usage: mkdir NAME")?;
                let made = self.client()?.mkd(&name).await?;
                crate::outln!("created {}", names::show(&made));
                self.refresh_names().await;
            }
            "rmdir" => {
                let name = arg(0).context("usage: rmdir NAME")?;
                self.client()?.rmd(&name).await?;
                self.refresh_names().await;
            }
            "binary" | "bin" | "image" => self.ascii = false,
            "ascii" => self.ascii = true,
            "passive" => self.client()?.set_active(false),
            "active" => self.client()?.set_active(true),
            "register" => {
                let registration = crate::register::Registration::parse(args)?;
                crate::register::register(self.client()?, &registration).await?;
            }
            "quota" => crate::outln!("{}", self.client()?.site(b"QUOTA").await?.text()),
            "site" => {
                let rest = line.trim_start()[4..].trim_start();
                crate::outln!("{}", self.client()?.site(rest.as_bytes()).await?.text());
            }
            "quote" => {
                let rest = line.trim_start()[5..].trim_start();
                let reply = self.client()?.quote(rest.as_bytes()).await?;
                crate::outln!("{} {}", reply.code, reply.text());
            }
            "status" => {
                let connected = self.url.as_ref().map_or("not connected".to_string(), |u| {
                    format!("{}:{}", u.host, u.port)
                });
                let mode = match &self.client {
                    Some(c) if c.is_active() => "active",
                    _ => "passive",
                };
                crate::outln!(
                    "{connected}; type {}; {mode}",
                    if self.ascii { "ascii" } else { "binary" }
                );
            }
            other => bail!("unknown command {other:?}; type help"),
        }
        Ok(())
    }

    async fn get(&mut self, remote: &[u8], local: &Path) -> Result<()> {
        let ascii = self.ascii;
        let quiet = self.conn.quiet;
        let client = self.client()?;
        let size = match ascii {
            true => None,
            false => client.size(remote).await.ok(),
        };
        let progress = Progress::new(&names::show(remote), size, quiet);
        let req = download::Request {
            remote,
            target: local,
            size,
            ascii,
            resume: false,
            mtime: None,
        };
        let got = download::fetch(client, &req, &mut |n| progress.set(n)).await;
        progress.finish();
        let n = got?;
        if !quiet {
            crate::outln!("{} bytes received into {}", n, local.display());
        }
        Ok(())
    }

    async fn put(&mut self, local: &Path, remote: &[u8]) -> Result<()> {
        let kind = self.transfer_type();
        let quiet = self.conn.quiet;
        let file = std::fs::File::open(local)
            .with_context(|| format!("cannot read {}", local.display()))?;
        let size = file.metadata().ok().map(|m| m.len());
        let client = self.client()?;
        let progress = Progress::new(&local.display().to_string(), size, quiet);
        let result = if kind == TransferType::Ascii {
            let mut text = tokio::fs::File::from_std(file);
            client.storlines(remote, &mut text).await
        } else {
            client
                .store_file(remote, StoreMode::Replace, &file, &mut |n| progress.set(n))
                .await
        };
        progress.finish();
        let n = result?;
        if !quiet {
            crate::outln!("{n} bytes sent from {}", local.display());
        }
        Ok(())
    }
}

/// Splits a command line into words; double or single quotes group words
/// with spaces, as a shell would.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

/// Command lines: an editor with history and completion on a terminal,
/// plain lines otherwise.
enum Input {
    Editor(
        Box<rustyline::Editor<Completion, rustyline::history::FileHistory>>,
        Option<PathBuf>,
    ),
    Lines(std::io::StdinLock<'static>),
}

impl Input {
    fn new(names: Names) -> Result<Input> {
        if !std::io::stdin().is_terminal() {
            return Ok(Input::Lines(std::io::stdin().lock()));
        }
        let mut editor = rustyline::Editor::new().context("cannot start the line editor")?;
        editor.set_helper(Some(Completion { names }));
        let history = std::env::var_os("HOME").map(|h| Path::new(&h).join(".wharf_history"));
        if let Some(h) = &history {
            let _ = editor.load_history(h);
        }
        Ok(Input::Editor(Box::new(editor), history))
    }

    fn next(&mut self, prompt: &str) -> Result<Option<String>> {
        match self {
            Input::Lines(stdin) => {
                let mut line = String::new();
                if stdin.read_line(&mut line)? == 0 {
                    return Ok(None);
                }
                Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
            }
            Input::Editor(editor, history) => {
                let read = tokio::task::block_in_place(|| editor.readline(prompt));
                match read {
                    Ok(line) => {
                        let _ = editor.add_history_entry(line.as_str());
                        if let Some(h) = history {
                            let _ = editor.save_history(h);
                        }
                        Ok(Some(line))
                    }
                    Err(rustyline::error::ReadlineError::Interrupted) => Ok(Some(String::new())),
                    Err(rustyline::error::ReadlineError::Eof) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}

/// Completes commands, then remote names.
struct Completion {
    names: Names,
}

impl rustyline::completion::Completer for Completion {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = before.rfind(' ').map_or(0, |i| i + 1);
        let word = &before[start..];
        let candidates: Vec<String> = if start == 0 {
            HELP.iter()
                .flat_map(|(usage, _)| usage.split(" / "))
                .filter_map(|u| u.split_whitespace().next())
                .flat_map(|u| u.split('|'))
                .filter(|c| c.starts_with(word))
                .map(str::to_string)
                .collect()
        } else {
            self.names
                .lock()
                .map(|n| n.iter().filter(|n| n.starts_with(word)).cloned().collect())
                .unwrap_or_default()
        };
        Ok((start, candidates))
    }
}

impl rustyline::hint::Hinter for Completion {
    type Hint = String;
}
impl rustyline::highlight::Highlighter for Completion {}
impl rustyline::validate::Validator for Completion {}
impl rustyline::Helper for Completion {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_quotes() {
        assert_eq!(
            split_words("get \"a b.txt\" local"),
            vec!["get", "a b.txt", "local"]
        );
        assert_eq!(split_words("  put 'x y'  "), vec!["put", "x y"]);
        assert_eq!(split_words("rename '' b"), vec!["rename", "", "b"]);
        assert!(split_words("   ").is_empty());
    }
}
