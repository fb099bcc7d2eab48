//! What is generated from the clap definitions of `wharfd`: shell completions
//! (`wharfd completions SHELL`) and the wharfd(8) man page (the hidden `wharfd
//! manpage`, which packaging runs: a subcommand rather than a build step,
//! so the page always describes the very binary that is installed).

use crate::cli::Cli;
use clap::CommandFactory;
use std::io::Write;

/// Writes the completion script for `shell` to standard output.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    // Into memory first: clap_complete panics when its writer fails (a
    // closed pipe), a plain write reports it.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "wharfd", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}

/// Writes the man page (roff) to standard output.
pub fn manpage() -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(Cli::command())
        .section("8")
        .render(&mut out)?;
    out.flush()?;
    Ok(())
}
