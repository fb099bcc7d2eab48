//! The shell's commands: one table ([`COMMANDS`]) giving each its names,
//! usage, help line, what its arguments complete to and its handler, so
//! `help`, completion and dispatch read the same entry.

use super::Shell;
use crate::cli::MirrorArgs;
use crate::connect::Login;
use crate::download;
use crate::glob;
use crate::names;
use crate::progress::Progress;
use crate::settings::KEYS;
use anyhow::{bail, Context, Result};
use clap::{Args, FromArgMatches};
use ftp_client::StoreMode;
use ftp_proto::command::TransferType;
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use wire::Secret;

/// What a command's argument is, for completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    Remote,
    Local,
    Bookmark,
    /// One of these words.
    Word(&'static [&'static str]),
    Other,
}

type Done<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// How a command was called.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The words after the name.
    pub args: &'a [String],
    /// The whole line, for commands that pass it on raw.
    pub line: &'a str,
    /// The line ended in `&`.
    pub background: bool,
}

/// A command's handler.
type Handler = for<'a> fn(&'a mut Shell, Call<'a>) -> Done<'a>;

pub struct Command {
    /// The name, then its aliases.
    pub names: &'static [&'static str],
    pub usage: &'static str,
    pub help: &'static str,
    /// What each argument is; the last repeats.
    pub args: &'static [Arg],
    /// May end in `&` to run as a background job.
    pub background: bool,
    run: Handler,
}

impl Command {
    /// What argument `index` (flags not counted) is.
    pub fn arg(&self, index: usize) -> Arg {
        self.args
            .get(index)
            .or(self.args.last())
            .copied()
            .unwrap_or(Arg::Other)
    }
}

const SETTINGS: &[&str] = &[
    "tls",
    "tls13",
    "cacert",
    "active",
    "timeout",
    "limit_rate",
    "parallel",
    "fsync",
];

pub const COMMANDS: &[Command] = &[
    Command {
        names: &["help", "?"],
        usage: "help",
        help: "this list",
        args: &[],
        background: false,
        run: help,
    },
    Command {
        names: &["open"],
        usage: "open BOOKMARK|URL|HOST [PORT]",
        help: "connect (and log in when the URL names a user)",
        args: &[Arg::Bookmark, Arg::Other],
        background: false,
        run: open_cmd,
    },
    Command {
        names: &["user"],
        usage: "user NAME [PASSWORD]",
        help: "log in (asks for the password when not given)",
        args: &[Arg::Other],
        background: false,
        run: user,
    },
    Command {
        names: &["close"],
        usage: "close",
        help: "disconnect",
        args: &[],
        background: false,
        run: close,
    },
    Command {
        names: &["ls", "dir"],
        usage: "ls [PATH]",
        help: "list a directory",
        args: &[Arg::Remote],
        background: false,
        run: ls,
    },
    Command {
        names: &["nlist", "nls"],
        usage: "nlist [PATH]",
        help: "list names only",
        args: &[Arg::Remote],
        background: false,
        run: nlist,
    },
    Command {
        names: &["cd"],
        usage: "cd PATH",
        help: "change the remote directory",
        args: &[Arg::Remote],
        background: false,
        run: cd,
    },
    Command {
        names: &["cdup"],
        usage: "cdup",
        help: "go to the parent remote directory",
        args: &[],
        background: false,
        run: cdup,
    },
    Command {
        names: &["pwd"],
        usage: "pwd",
        help: "show the remote directory",
        args: &[],
        background: false,
        run: pwd,
    },
    Command {
        names: &["lcd"],
        usage: "lcd [PATH]",
        help: "change or show the local directory",
        args: &[Arg::Local],
        background: false,
        run: lcd,
    },
    Command {
        names: &["get", "recv"],
        usage: "get REMOTE [LOCAL]",
        help: "download a file",
        args: &[Arg::Remote, Arg::Local],
        background: false,
        run: get,
    },
    Command {
        names: &["pget"],
        usage: "pget [-n N] [-c] REMOTE [LOCAL] [&]",
        help: "download a file over N connections (default: the parallel setting, else 4)",
        args: &[Arg::Remote, Arg::Local],
        background: true,
        run: pget,
    },
    Command {
        names: &["put", "send"],
        usage: "put LOCAL [REMOTE]",
        help: "upload a file",
        args: &[Arg::Local, Arg::Remote],
        background: false,
        run: put,
    },
    Command {
        names: &["mget"],
        usage: "mget PATTERN...",
        help: "download matching files (* and ?)",
        args: &[Arg::Remote],
        background: false,
        run: mget,
    },
    Command {
        names: &["mput"],
        usage: "mput PATTERN...",
        help: "upload matching local files",
        args: &[Arg::Local],
        background: false,
        run: mput,
    },
    Command {
        names: &["mirror"],
        usage: "mirror [OPTIONS] [REMOTE [LOCAL]] [&]",
        help: "copy a remote tree here (-R: a local tree there); the options of `wharf mirror` (see mirror --help)",
        args: &[Arg::Remote, Arg::Local],
        background: true,
        run: mirror,
    },
    Command {
        names: &["rename"],
        usage: "rename FROM TO",
        help: "rename a remote file",
        args: &[Arg::Remote],
        background: false,
        run: rename,
    },
    Command {
        names: &["delete", "rm"],
        usage: "delete NAME",
        help: "delete a remote file",
        args: &[Arg::Remote],
        background: false,
        run: delete,
    },
    Command {
        names: &["mkdir"],
        usage: "mkdir NAME",
        help: "make a remote directory",
        args: &[Arg::Remote],
        background: false,
        run: mkdir,
    },
    Command {
        names: &["rmdir"],
        usage: "rmdir NAME",
        help: "remove a remote directory",
        args: &[Arg::Remote],
        background: false,
        run: rmdir,
    },
    Command {
        names: &["binary", "bin", "image"],
        usage: "binary",
        help: "binary transfers (the default)",
        args: &[],
        background: false,
        run: binary,
    },
    Command {
        names: &["ascii"],
        usage: "ascii",
        help: "ASCII transfers (line ends converted)",
        args: &[],
        background: false,
        run: ascii,
    },
    Command {
        names: &["passive"],
        usage: "passive",
        help: "the client connects for data (the default)",
        args: &[],
        background: false,
        run: passive,
    },
    Command {
        names: &["active"],
        usage: "active",
        help: "the server connects back for data",
        args: &[],
        background: false,
        run: active,
    },
    Command {
        names: &["register"],
        usage: "register NAME PASSWORD [MAIL] [--wait[=SECS]]",
        help: "ask a Wharf server for an account (SITE REGISTER); --wait: until the operator answers",
        args: &[Arg::Other],
        background: false,
        run: register,
    },
    Command {
        names: &["quota"],
        usage: "quota",
        help: "show your quota (SITE QUOTA)",
        args: &[],
        background: false,
        run: quota,
    },
    Command {
        names: &["site"],
        usage: "site ARGS",
        help: "send a SITE command",
        args: &[Arg::Other],
        background: false,
        run: site,
    },
    Command {
        names: &["quote"],
        usage: "quote LINE",
        help: "send any command",
        args: &[Arg::Other],
        background: false,
        run: quote,
    },
    Command {
        names: &["status"],
        usage: "status",
        help: "where you are connected, transfer type and mode",
        args: &[],
        background: false,
        run: status,
    },
    Command {
        names: &["set"],
        usage: "set [-d] [NAME [VALUE]]",
        help: "show the settings, or change one (kept in ~/.config/wharf/config.toml; -d: back to the default)",
        args: &[Arg::Word(SETTINGS), Arg::Other],
        background: false,
        run: set,
    },
    Command {
        names: &["bookmark"],
        usage: "bookmark [add NAME [URL] | del NAME | list]",
        help: "name a place (default: here) to `open` later; kept in the settings file",
        args: &[Arg::Word(&["add", "del", "list"]), Arg::Bookmark, Arg::Other],
        background: false,
        run: bookmark,
    },
    Command {
        names: &["jobs"],
        usage: "jobs",
        help: "the background jobs",
        args: &[],
        background: false,
        run: jobs,
    },
    Command {
        names: &["wait"],
        usage: "wait [N]",
        help: "wait for background job N (or all)",
        args: &[Arg::Other],
        background: false,
        run: wait,
    },
    Command {
        names: &["kill"],
        usage: "kill N",
        help: "stop background job N (its partial files stay, for -c)",
        args: &[Arg::Other],
        background: false,
        run: kill,
    },
    Command {
        names: &["!"],
        usage: "!COMMAND",
        help: "run a local command with /bin/sh",
        args: &[Arg::Local],
        background: false,
        run: bang,
    },
    Command {
        names: &["quit", "bye", "exit"],
        usage: "quit",
        help: "leave (after the background jobs end)",
        args: &[],
        background: false,
        run: help,
    },
];

/// Every command name and alias.
pub fn names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().flat_map(|c| c.names.iter().copied())
}

pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.names.contains(&name))
}

/// Runs command `name` with `args`; `background` when the line ended in `&`.
pub async fn run(
    shell: &mut Shell,
    name: &str,
    args: &[String],
    line: &str,
    background: bool,
) -> Result<()> {
    let Some(cmd) = find(name) else {
        bail!("unknown command {name:?}; type help");
    };
    if background && !cmd.background {
        bail!("{name} cannot run in the background; mirror and pget can");
    }
    let call = Call {
        args,
        line,
        background,
    };
    (cmd.run)(shell, call).await
}

/// `!COMMAND`: runs COMMAND with /bin/sh; its failure is an error.
pub fn local(command: &str) -> Result<()> {
    let command = command.trim();
    if command.is_empty() {
        bail!("usage: !COMMAND");
    }
    let status = tokio::task::block_in_place(|| {
        std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .status()
    })
    .context("cannot run /bin/sh")?;
    match status.code() {
        Some(0) => Ok(()),
        Some(n) => bail!("{command}: exit status {n}"),
        None => bail!("{command}: ended by a signal"),
    }
}

fn bytes(args: &[String], i: usize) -> Option<Vec<u8>> {
    args.get(i).map(|s| s.as_bytes().to_vec())
}

/// The line after its first word (for `site` and `quote`).
fn rest_of(line: &str) -> &str {
    let line = line.trim_start();
    line.find(char::is_whitespace)
        .map_or("", |i| line[i..].trim_start())
}

fn help<'a>(_: &'a mut Shell, _: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        for c in COMMANDS {
            let aliases = match c.names.len() {
                1 => String::new(),
                _ => format!(" (also {})", c.names[1..].join(", ")),
            };
            crate::outln!("  {:<36} {}{aliases}", c.usage, c.help);
        }
        Ok(())
    })
}

fn open_cmd<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let target = args
            .first()
            .context("usage: open BOOKMARK|URL|HOST [PORT]")?;
        let target = match args.get(1) {
            Some(port) => format!("{target}:{port}"),
            None => target.clone(),
        };
        sh.open_target(&target).await
    })
}

fn user<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let name = args.first().context("usage: user NAME [PASSWORD]")?.clone();
        let url = sh.url.clone().context("not connected; use `open URL`")?;
        let password = match args.get(1) {
            Some(p) => Secret::new(p.as_str()),
            None if std::io::stdin().is_terminal() => {
                Secret::new(rpassword::prompt_password("Password: ")?)
            }
            None => bail!("usage: user NAME PASSWORD (no terminal to ask on)"),
        };
        sh.connect(
            url,
            Login {
                user: name,
                password,
            },
        )
        .await
    })
}

fn close<'a>(sh: &'a mut Shell, _: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        if let Some(client) = sh.client.take() {
            client.quit().await?;
        }
        Ok(())
    })
}

fn ls<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let raw = sh.client()?.list(bytes(args, 0).as_deref()).await?;
        let text: Vec<u8> = raw.into_iter().filter(|&b| b != b'\r').collect();
        crate::term::stdout().write_all(&text)?;
        Ok(())
    })
}

fn nlist<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        for name in sh.client()?.nlst(bytes(args, 0).as_deref()).await? {
            crate::outln!("{}", names::show(&name));
        }
        Ok(())
    })
}

fn cd<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let path = bytes(args, 0).context("usage: cd PATH")?;
        sh.client()?.cwd(&path).await?;
        sh.remote.forget();
        Ok(())
    })
}

fn cdup<'a>(sh: &'a mut Shell, _: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        sh.client()?.cdup().await?;
        sh.remote.forget();
        Ok(())
    })
}

fn pwd<'a>(sh: &'a mut Shell, _: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        crate::outln!("{}", names::show(&sh.client()?.pwd().await?));
        Ok(())
    })
}

fn lcd<'a>(_: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        if let Some(dir) = args.first() {
            std::env::set_current_dir(dir).with_context(|| format!("cannot change to {dir}"))?;
        }
        crate::outln!("Local directory now {}", std::env::current_dir()?.display());
        Ok(())
    })
}

/// The local file a download of `remote` goes to when none is given.
fn local_for(remote: &[u8]) -> Result<PathBuf> {
    let base = remote.rsplit(|&b| b == b'/').next().unwrap_or(remote);
    names::local_child(Path::new("."), base)
        .with_context(|| format!("{:?} is not a safe local name; give one", names::show(base)))
}

fn get<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let remote = bytes(args, 0).context("usage: get REMOTE [LOCAL]")?;
        let local = match args.get(1) {
            Some(l) => PathBuf::from(l),
            None => local_for(&remote)?,
        };
        fetch(sh, &remote, &local).await
    })
}

/// `pget`'s own flags.
#[derive(Debug, clap::Parser)]
#[command(name = "pget", no_binary_name = true)]
struct PgetLine {
    /// Connections.
    #[arg(short = 'n', value_name = "N")]
    connections: Option<usize>,
    /// Resume an earlier pget of the same file.
    #[arg(short = 'c')]
    resume: bool,
    remote: String,
    local: Option<PathBuf>,
}

fn pget<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let Some(matches) = parse_line(<PgetLine as clap::CommandFactory>::command(), args)? else {
            return Ok(());
        };
        let p = PgetLine::from_arg_matches(&matches)?;
        let n = p
            .connections
            .or(sh.settings.parallel())
            .unwrap_or(4)
            .clamp(1, 64);
        let remote = p.remote.as_bytes();
        let local = match p.local {
            Some(l) => l,
            None => local_for(remote)?,
        };
        let total = sh
            .client()?
            .size(remote)
            .await
            .context("pget needs the file's size (SIZE)")?;
        let (url, login) = sh.url_of(remote, false).await?;
        let background = call.background;
        let mut conn = sh.conn.clone();
        let work = async move {
            crate::segments::fetch(
                &url,
                &conn_for(&mut conn, background),
                &login,
                &local,
                total,
                n,
                p.resume,
            )
            .await
        };
        sh.start(background, format!("pget {}", p.remote), work)
            .await
    })
}

/// The flags of a job: a background one shows no progress bar.
fn conn_for(conn: &mut crate::cli::Connection, background: bool) -> crate::cli::Connection {
    if background {
        conn.quiet = true;
    }
    conn.clone()
}

fn put<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let local = args.first().context("usage: put LOCAL [REMOTE]")?;
        let remote = match args.get(1) {
            Some(r) => r.as_bytes().to_vec(),
            None => Path::new(local)
                .file_name()
                .context("no file name")?
                .as_bytes()
                .to_vec(),
        };
        send(sh, Path::new(local), &remote).await?;
        sh.remote.forget();
        Ok(())
    })
}

fn mget<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        if args.is_empty() {
            bail!("usage: mget PATTERN...");
        }
        let listed = sh.client()?.nlst(None).await?;
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
                fetch(sh, name, &local).await?;
            }
            if !any {
                crate::errln!("wharf: nothing matches {pattern}");
            }
        }
        Ok(())
    })
}

fn mput<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
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
                send(sh, &path, &remote).await?;
            }
        }
        sh.remote.forget();
        Ok(())
    })
}

/// `mirror`'s command line: the options of `wharf mirror`, with the
/// source and target optional (lftp's defaults: the current directory,
/// and the source's name here).
fn mirror_line() -> clap::Command {
    MirrorArgs::augment_args(clap::Command::new("mirror").no_binary_name(true))
        .mut_arg("source", |a| a.required(false).default_value(""))
        .mut_arg("target", |a| a.required(false).default_value(""))
}

/// Parses `args` with `cmd`; `--help` prints the help and gives `None`.
fn parse_line(cmd: clap::Command, args: &[String]) -> Result<Option<clap::ArgMatches>> {
    match cmd.try_get_matches_from(args) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            crate::outln!("{}", e.render().to_string().trim_end());
            Ok(None)
        }
        Err(e) => bail!("{}", e.render().to_string().trim_end()),
    }
}

fn mirror<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let Some(matches) = parse_line(mirror_line(), call.args)? else {
            return Ok(());
        };
        let mut options = MirrorArgs::from_arg_matches(&matches)?;
        let given = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        let (source, target) = (given(&options.source), given(&options.target));
        let upload = options.reverse;
        let (remote, local) = match upload {
            true => (target, source),
            false => (source, target),
        };
        let remote = remote.unwrap_or_default();
        let local = match (local, upload) {
            (Some(l), _) => PathBuf::from(l),
            (None, true) => PathBuf::from("."),
            (None, false) => match remote.trim_end_matches('/').rsplit('/').next() {
                Some(name) if !name.is_empty() && name != "." && name != ".." => {
                    PathBuf::from(name)
                }
                _ => PathBuf::from("."),
            },
        };
        let (url, login) = sh.url_of(remote.as_bytes(), true).await?;
        if matches.value_source("parallel") != Some(clap::parser::ValueSource::CommandLine) {
            if let Some(p) = sh.settings.parallel() {
                options.parallel = p;
            }
        }
        options.conn = conn_for(&mut sh.conn.clone(), call.background);
        let what = format!("mirror {}", call.args.join(" "));
        let work = async move { crate::mirror::sync(&options, url, login, local).await };
        sh.start(call.background, what, work).await?;
        sh.remote.forget();
        Ok(())
    })
}

fn rename<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let (Some(from), Some(to)) = (bytes(args, 0), bytes(args, 1)) else {
            bail!("usage: rename FROM TO")
        };
        sh.client()?.rename(&from, &to).await?;
        sh.remote.forget();
        Ok(())
    })
}

fn delete<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let name = bytes(args, 0).context("usage: delete NAME")?;
        sh.client()?.delete(&name).await?;
        sh.remote.forget();
        Ok(())
    })
}

fn mkdir<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let name = bytes(args, 0).context("usage: mkdir NAME")?;
        let made = sh.client()?.mkd(&name).await?;
        crate::outln!("created {}", names::show(&made));
        sh.remote.forget();
        Ok(())
    })
}

fn rmdir<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let name = bytes(args, 0).context("usage: rmdir NAME")?;
        sh.client()?.rmd(&name).await?;
        sh.remote.forget();
        Ok(())
    })
}

fn binary<'a>(sh: &'a mut Shell, _: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        sh.ascii = false;
        Ok(())
    })
}

fn ascii<'a>(sh: &'a mut Shell, _: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        sh.ascii = true;
        Ok(())
    })
}

fn passive<'a>(sh: &'a mut Shell, _: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        sh.client()?.set_active(false);
        Ok(())
    })
}

fn active<'a>(sh: &'a mut Shell, _: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        sh.client()?.set_active(true);
        Ok(())
    })
}

fn register<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let registration = crate::register::Registration::parse(args)?;
        crate::register::register(sh.client()?, &registration).await
    })
}

fn quota<'a>(sh: &'a mut Shell, _: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        crate::outln!("{}", sh.client()?.site(b"QUOTA").await?.text());
        Ok(())
    })
}

fn site<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let line = call.line;
        let rest = rest_of(line);
        crate::outln!("{}", sh.client()?.site(rest.as_bytes()).await?.text());
        Ok(())
    })
}

fn quote<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let line = call.line;
        let reply = sh.client()?.quote(rest_of(line).as_bytes()).await?;
        crate::outln!("{} {}", reply.code, reply.text());
        Ok(())
    })
}

fn status<'a>(sh: &'a mut Shell, _: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let connected = sh.url.as_ref().map_or("not connected".to_string(), |u| {
            format!("{}:{}", u.host, u.port)
        });
        let mode = match &sh.client {
            Some(c) if c.is_active() => "active",
            _ => "passive",
        };
        crate::outln!(
            "{connected}; type {}; {mode}",
            if sh.ascii { "ascii" } else { "binary" }
        );
        Ok(())
    })
}

fn set<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        match args {
            [] => {
                if let Some(path) = sh.settings.path() {
                    crate::outln!("settings in {}:", path.display());
                }
                for k in KEYS {
                    let value = sh
                        .settings
                        .shown(k)
                        .unwrap_or_else(|| "(default)".to_string());
                    crate::outln!("  {:<11} {:<12} {}", k.name, value, k.help);
                }
                return Ok(());
            }
            [flag, name] if flag == "-d" => sh.settings.unset(name)?,
            [name, value] => sh.settings.set(name, value)?,
            _ => bail!("usage: set [-d] [NAME [VALUE]]"),
        }
        sh.settings.save()?;
        sh.settings_changed();
        Ok(())
    })
}

fn bookmark<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        match args {
            [] => list_bookmarks(sh),
            [verb] if verb == "list" => list_bookmarks(sh),
            [verb, name] if verb == "add" => {
                let here = sh.location().await?;
                sh.settings.add_bookmark(name, &here)?;
                crate::outln!("bookmark {name} = {here}");
            }
            [verb, name, url] if verb == "add" => {
                sh.settings.add_bookmark(name, url)?;
                crate::outln!("bookmark {name} = {url}");
            }
            [verb, name] if verb == "del" => {
                if !sh.settings.remove_bookmark(name) {
                    bail!("no bookmark {name:?}");
                }
            }
            _ => bail!("usage: bookmark [add NAME [URL] | del NAME | list]"),
        }
        sh.settings.save()?;
        sh.settings_changed();
        Ok(())
    })
}

fn list_bookmarks(sh: &Shell) {
    let all = sh.settings.bookmarks();
    if all.is_empty() {
        crate::outln!("no bookmarks; add one with: bookmark add NAME");
    }
    for (name, url) in all {
        crate::outln!("  {name:<16} {url}");
    }
}

fn jobs<'a>(sh: &'a mut Shell, _: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let list = sh.jobs.list();
        if list.is_empty() {
            crate::outln!("no background jobs");
        }
        for line in list {
            crate::outln!("{line}");
        }
        Ok(())
    })
}

fn job_number(text: &str) -> Result<usize> {
    text.trim_start_matches('%')
        .parse()
        .with_context(|| format!("{text:?} is not a job number; see jobs"))
}

fn wait<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let id = args.first().map(|a| job_number(a)).transpose()?;
        let (lines, failed) = sh.jobs.wait(id).await?;
        for line in lines {
            crate::outln!("{line}");
        }
        failed.map_or(Ok(()), Err)
    })
}

fn kill<'a>(sh: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let id = job_number(args.first().context("usage: kill N")?)?;
        sh.jobs.kill(id)
    })
}

fn bang<'a>(_: &'a mut Shell, call: Call<'a>) -> Done<'a> {
    Box::pin(async move {
        let args = call.args;
        let _ = call.line;
        local(&args.join(" "))
    })
}

impl Shell {
    /// Runs `work` now, or as a background job.
    async fn start(
        &mut self,
        background: bool,
        what: String,
        work: impl Future<Output = Result<()>> + Send + 'static,
    ) -> Result<()> {
        if background {
            let id = self.jobs.spawn(what.clone(), work);
            crate::outln!("[{id}] {what}");
            Ok(())
        } else {
            work.await
        }
    }
}

async fn fetch(sh: &mut Shell, remote: &[u8], local: &Path) -> Result<()> {
    let ascii = sh.ascii;
    let quiet = sh.conn.quiet;
    let client = sh.client()?;
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

async fn send(sh: &mut Shell, local: &Path, remote: &[u8]) -> Result<()> {
    let kind = sh.transfer_type();
    let quiet = sh.conn.quiet;
    let file =
        std::fs::File::open(local).with_context(|| format!("cannot read {}", local.display()))?;
    let size = file.metadata().ok().map(|m| m.len());
    let client = sh.client()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_command_has_a_unique_name_usage_and_help() {
        let mut seen = HashSet::new();
        for c in COMMANDS {
            assert!(!c.usage.is_empty() && !c.help.is_empty(), "{:?}", c.names);
            assert!(c.usage.starts_with(c.names[0]), "{}", c.usage);
            for n in c.names {
                assert!(seen.insert(*n), "{n} twice");
            }
        }
        assert_eq!(find("recv").map(|c| c.names[0]), Some("get"));
        assert_eq!(find("get").map(|c| c.arg(1)), Some(Arg::Local));
        assert_eq!(find("mget").map(|c| c.arg(5)), Some(Arg::Remote));
        assert_eq!(find("pwd").map(|c| c.arg(0)), Some(Arg::Other));
    }

    #[test]
    fn the_setting_names_complete_to_real_settings() {
        let keys: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        assert_eq!(SETTINGS, keys.as_slice());
    }

    #[test]
    fn mirror_takes_the_options_of_wharf_mirror_and_optional_paths() {
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let m = parse_line(
            mirror_line(),
            &words("-R --delete -j 8 --exclude *.tmp up there"),
        )
        .unwrap()
        .unwrap();
        let o = MirrorArgs::from_arg_matches(&m).unwrap();
        assert_eq!((o.source.as_str(), o.target.as_str()), ("up", "there"));
        assert!(o.reverse && o.delete && o.parallel == 8 && o.exclude == ["*.tmp"]);
        let m = parse_line(mirror_line(), &[]).unwrap().unwrap();
        let o = MirrorArgs::from_arg_matches(&m).unwrap();
        assert_eq!((o.source.as_str(), o.target.as_str()), ("", ""));
        assert!(parse_line(mirror_line(), &words("--colour")).is_err());
        assert!(parse_line(mirror_line(), &words("--help"))
            .unwrap()
            .is_none());
        let p: PgetLine = clap::Parser::try_parse_from(words("-n 3 -c big.iso")).unwrap();
        assert_eq!(
            (p.connections, p.resume, p.remote.as_str()),
            (Some(3), true, "big.iso")
        );
        assert_eq!(rest_of("  site  CHMOD 644 x"), "CHMOD 644 x");
    }
}
