//! The command sink: a program run for each event it wants, with the event
//! as one JSON line on standard input and its main fields in `WHARF_*`
//! environment variables. The program is executed directly, never through
//! a shell, so nothing a client chose (a file name, an account name) can
//! become a command. Each run has a time limit (then it is killed, with
//! every process it started: it leads a process group of its own) and a
//! sink runs at most `concurrency` programs at once.

use super::filter::EventFilter;
use super::Event;
use crate::metrics::Metrics;
use crate::options::EventCommand;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

impl From<&EventCommand> for CommandSink {
    fn from(c: &EventCommand) -> Self {
        CommandSink::new(
            c.program.clone(),
            c.args.clone(),
            c.filter.clone(),
            c.timeout,
            c.concurrency,
        )
    }
}

/// A program to run per event.
#[derive(Debug)]
pub struct CommandSink {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub filter: EventFilter,
    pub timeout: Duration,
    concurrency: usize,
    slots: Arc<Semaphore>,
}

impl CommandSink {
    pub fn new(
        program: PathBuf,
        args: Vec<String>,
        filter: EventFilter,
        timeout: Duration,
        concurrency: usize,
    ) -> Self {
        CommandSink {
            program,
            args,
            filter,
            timeout,
            concurrency: concurrency.max(1),
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// Whether a run is going on.
    pub fn busy(&self) -> bool {
        self.slots.available_permits() < self.concurrency
    }

    pub fn wants(&self, event: &Event) -> bool {
        self.filter.matches(event)
    }

    /// Starts the program for `event` once a slot is free; returns without
    /// waiting for it to finish.
    pub async fn deliver(self: Arc<Self>, event: Arc<Event>, metrics: Arc<Metrics>) {
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        tokio::spawn(async move {
            if let Err(why) = self.run(&event).await {
                Metrics::inc(&metrics.event_sink_failures);
                tracing::warn!(program = %self.program.display(), event = event.kind, %why, "event command failed");
            }
            drop(slot);
        });
    }

    async fn run(&self, event: &Event) -> Result<(), RunError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        for (name, value) in environment(event) {
            cmd.env(name, value);
        }
        let mut child = cmd.spawn().map_err(RunError::Start)?;
        let group = child.id();
        let json = event.to_json() + "\n";
        let work = async {
            if let Some(mut stdin) = child.stdin.take() {
                // A program that does not read its input is its own business.
                let _ = stdin.write_all(json.as_bytes()).await;
            }
            child.wait().await
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(RunError::Exit(status)),
            Ok(Err(e)) => Err(RunError::Wait(e)),
            Err(_) => {
                if let Some(group) = group {
                    kill_group(group);
                }
                let _ = child.kill().await;
                Err(RunError::Killed(self.timeout))
            }
        }
    }
}

/// Kills the process group `leader` leads: a program run with
/// `process_group(0)` and whatever it started.
pub(crate) fn kill_group(leader: u32) {
    let Ok(pgid) = i32::try_from(leader) else {
        return;
    };
    // SAFETY: kill(2) only takes integers; a negative pid names the
    // process group, here the one our child leads (never 0 or -1).
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("cannot start it: {0}")]
    Start(std::io::Error),
    #[error("it exited with {0}")]
    Exit(std::process::ExitStatus),
    #[error("cannot wait for it: {0}")]
    Wait(std::io::Error),
    #[error("killed after {0:?}")]
    Killed(Duration),
}

/// The event's main fields as `WHARF_*` variables.
fn environment(event: &Event) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("WHARF_EVENT", event.kind.to_string()),
        ("WHARF_TIME", event.time.clone()),
        ("WHARF_RESULT", event.result.to_string()),
    ];
    let optional = [
        ("WHARF_ACCOUNT", event.account.clone()),
        ("WHARF_CLIENT", event.client.clone()),
        ("WHARF_PROTOCOL", event.protocol.map(str::to_string)),
        ("WHARF_PATH", event.path.clone()),
        ("WHARF_TARGET", event.target.clone()),
        ("WHARF_SIZE", event.size.map(|s| s.to_string())),
        ("WHARF_REASON", event.reason.clone()),
    ];
    // A NUL cannot be in a variable; paths are lossy UTF-8 and have none.
    vars.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| v.filter(|v| !v.contains('\0')).map(|v| (k, v))),
    );
    vars
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;

    #[test]
    fn the_environment_names_the_main_fields() {
        let e = Event::new(EventKind::Rename)
            .account("alice")
            .path(b"/a $(id)")
            .target(b"/b");
        let env = environment(&e);
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("WHARF_EVENT"), Some("rename"));
        assert_eq!(get("WHARF_PATH"), Some("/a $(id)"));
        assert_eq!(get("WHARF_TARGET"), Some("/b"));
        assert_eq!(get("WHARF_SIZE"), None);
    }
}
