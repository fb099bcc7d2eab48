//! `wharf`: the Wharf client program.
//!
//! # Layout
//! - [`cli`]: the command line (clap).
//! - [`connect`]: URL + flags + credentials to a logged-in client.
//! - [`get`], [`put`], [`ls`], [`mirror`]: the FTP commands.
//! - [`news`]: the NNTP commands.
//! - [`mail_cmd`], [`pop3_cmd`]: `wharf mail send` (SMTP) and `wharf pop3`;
//!   [`mailconn`] turns their URL and flags into client options.
//! - [`imap_cmd`]: the IMAP commands.
//! - [`credentials`]: who to log in as on news and mail servers.
//! - [`shell`]: the interactive `wharf ftp` shell; [`glob`] its patterns.
//! - [`settings`]: `~/.config/wharf/config.toml`, the defaults of the
//!   connection flags and the shell's bookmarks.
//! - [`segments`]: parallel ranged downloads for `get --segments`.
//! - [`download`]: one remote file into a local one (get, mirror, shell).
//! - [`names`]: which remote names may become local files.
//! - [`progress`]: progress bars.
//! - [`text`]: line-end conversion for ASCII downloads.
//! - [`term`]: remote text on a terminal, control characters escaped.
//! - [`exit`]: exit codes.
//! - [`generate`]: shell completions and the man page.

mod cli;
mod connect;
mod credentials;
mod download;
mod exit;
mod generate;
mod get;
mod glob;
mod imap_cmd;
mod ls;
mod mail_cmd;
mod mailconn;
mod mirror;
mod names;
mod news;
mod pop3_cmd;
mod progress;
mod put;
mod register;
mod segments;
mod settings;
mod shell;
mod term;
mod text;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use cli::{Cli, Command};
use std::process::ExitCode;

/// The matches of the innermost subcommand (where the flags are).
fn leaf(matches: &ArgMatches) -> &ArgMatches {
    match matches.subcommand() {
        Some((_, sub)) => leaf(sub),
        None => matches,
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let settings = match settings::Settings::load() {
        Ok(s) => s,
        Err(e) => {
            crate::errln!("wharf: {e:#}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let flags = leaf(&matches);
    let given = |id: &str| {
        matches!(
            flags.try_get_raw(id).ok().and(flags.value_source(id)),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    cli.command.apply(&settings, &given);
    let given: std::collections::HashSet<String> = flags
        .ids()
        .map(|id| id.as_str().to_string())
        .filter(|id| given(id))
        .collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::errln!("wharf: cannot start: {e}");
            return ExitCode::from(exit::LOCAL);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Get(args) => get::run(args).await,
            Command::Put(args) => put::run(args).await,
            Command::Ls(args) => ls::run(args).await,
            Command::Mirror(args) => mirror::run(args).await,
            Command::Ftp(args) => shell::run(args, settings, given).await,
            Command::News(cmd) => news::run(cmd).await,
            Command::Mail(cmd) => mail_cmd::run(cmd).await,
            Command::Pop3(cmd) => pop3_cmd::run(cmd).await,
            Command::Imap(cmd) => imap_cmd::run(cmd).await,
            Command::Completions { shell } => generate::completions(shell),
            Command::Manpage => generate::manpage(),
        }
    });
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            crate::errln!("wharf: {e:#}");
            ExitCode::from(exit::code(&e))
        }
    }
}
