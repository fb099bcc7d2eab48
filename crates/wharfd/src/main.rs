//! `wharfd`: the Wharf FTP server and its admin commands.
//!
//! # Layout
//! - [`cli`]: the command line (clap).
//! - [`config`]: file + environment + flags into one validated config.
//! - [`serve`]: binding, signals and running the server.
//! - [`storage`]: `--storage` and the S3 settings.
//! - [`users`]: the `users` admin commands.
//! - [`user_policy`]: `users perms`, `users set` and `users show`.
//! - [`cert`]: `cert self-signed`.

mod cert;
mod cli;
mod config;
mod serve;
mod storage;
mod user_policy;
mod users;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wharfd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            None => serve::run(cli.serve).await,
            Some(Command::Serve(args)) => serve::run(*args).await,
            Some(Command::Users(cmd)) => users::run(cmd).await,
            Some(Command::Cert(cmd)) => cert::run(cmd),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wharfd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
