//! `wharfd`: the Wharf FTP server and its admin commands.
//!
//! # Layout
//! - [`cli`]: the command line (clap).
//! - [`config`]: file + environment + flags into one validated config.
//! - [`serve`]: binding, signals and running the server.
//! - [`storage`]: `--storage` and the S3 settings.
//! - [`users`]: the `users` admin commands.
//! - [`admins`]: the `admins` commands (console operators, tokens, audit).
//! - [`user_policy`]: `users perms`, `users set` and `users show`.
//! - [`cert`]: `cert self-signed`.
//! - [`hostkey`]: `hostkey show|rotate`, the SSH host keys.
//! - [`privileges`]: dropping root after binding.
//! - [`signals`]: stop, reload (SIGHUP) and log reopening (SIGUSR1).
//! - [`notify`]: telling systemd (`sd_notify`): ready, reloading, stopping, watchdog.
//! - [`activation`]: listening sockets passed by systemd.
//! - [`generate`]: shell completions and the man page.
//! - [`logging`]: log lines as text, JSON or for the systemd journal;
//!   [`journal`] writes the journal's native protocol.

mod activation;
mod admins;
mod cert;
mod check_config;
mod cli;
mod config;
mod event_config;
mod folders;
mod generate;
mod groups;
mod hostkey;
mod journal;
mod logging;
mod notify;
mod privileges;
mod registrant_mail;
mod serve;
mod signals;
mod storage;
mod user_keys;
mod user_policy;
mod users;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(*args),
        Some(Command::Users(cmd)) => runtime().and_then(|rt| rt.block_on(users::run(cmd))),
        Some(Command::Folders(cmd)) => runtime().and_then(|rt| rt.block_on(folders::run(cmd))),
        Some(Command::Groups(cmd)) => runtime().and_then(|rt| rt.block_on(groups::run(cmd))),
        Some(Command::Admins(cmd)) => runtime().and_then(|rt| rt.block_on(admins::run(cmd))),
        Some(Command::Cert(cmd)) => cert::run(cmd),
        Some(Command::Hostkey(cmd)) => hostkey::run(cmd),
        Some(Command::Completions { shell }) => generate::completions(shell),
        Some(Command::Manpage) => generate::manpage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wharfd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Binds and drops privileges before the runtime (and its threads) exist,
/// then serves.
fn serve(args: cli::ServeArgs) -> anyhow::Result<()> {
    let prepared = serve::prepare(args)?;
    runtime()?.block_on(serve::run(prepared))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
