//! A pre-check program: run directly (no shell), the request as one JSON
//! line on stdin and its fields in `WHARF_CHECK`, `WHARF_ACCOUNT`,
//! `WHARF_CLIENT`, `WHARF_PROTOCOL`, `WHARF_PATH`. Exit status 0 allows;
//! any other exit status refuses, with the first line the program wrote
//! to stdout as the reason. Killed by a signal is no answer; so is a
//! program still running at the timeout, which is killed with every
//! process it started (it leads a process group of its own).

use super::{reason, CheckRequest, NoAnswer, Verdict};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The most of a program's output read for its reason.
const MAX_OUTPUT: u64 = 4096;

pub async fn ask(
    program: &Path,
    args: &[String],
    request: &CheckRequest,
    timeout: Duration,
) -> Result<Verdict, NoAnswer> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("WHARF_CHECK", request.check)
        .env("WHARF_ACCOUNT", &request.account)
        .env("WHARF_CLIENT", &request.client)
        .env("WHARF_PROTOCOL", request.protocol)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(path) = request.path.as_ref().filter(|p| !p.contains('\0')) {
        cmd.env("WHARF_PATH", path);
    }
    let mut child = cmd.spawn().map_err(|source| NoAnswer::Spawn {
        program: program.display().to_string(),
        source,
    })?;
    let group = child.id();
    let mut out = String::new();
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A program that decides without reading its input may close it.
            let _ = stdin.write_all((request.to_json() + "\n").as_bytes()).await;
        }
        if let Some(stdout) = child.stdout.take() {
            // Output that is not text still lets the exit status decide.
            let _ = stdout.take(MAX_OUTPUT).read_to_string(&mut out).await;
        }
        child.wait().await
    };
    let status = match tokio::time::timeout(timeout, run).await {
        Ok(waited) => waited.map_err(|source| NoAnswer::Spawn {
            program: program.display().to_string(),
            source,
        })?,
        Err(_) => {
            if let Some(group) = group {
                crate::events::command::kill_group(group);
            }
            return Err(NoAnswer::TimedOut(timeout));
        }
    };
    match status.code() {
        Some(0) => Ok(Verdict::Allow),
        Some(_) => Ok(Verdict::Deny(reason(&out))),
        None => Err(NoAnswer::Killed(status)),
    }
}
