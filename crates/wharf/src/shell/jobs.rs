//! Background jobs: a `mirror` or `pget` ended with `&` runs on
//! connections of its own while the shell takes more commands. `jobs`
//! lists them, `wait` waits (for one or all), `kill` stops one (its
//! partial files stay, for `-c`). A finished job is reported before the
//! next prompt; the shell waits for the running ones before it exits.

use anyhow::{anyhow, Result};
use std::future::Future;
use std::time::Instant;
use tokio::task::JoinHandle;

struct Job {
    id: usize,
    what: String,
    started: Instant,
    task: JoinHandle<Result<()>>,
}

#[derive(Default)]
pub struct Jobs {
    next: usize,
    running: Vec<Job>,
}

/// How a job ended, as a line to show.
fn outcome(
    id: usize,
    what: &str,
    result: std::result::Result<Result<()>, tokio::task::JoinError>,
) -> (String, Option<anyhow::Error>) {
    match result {
        Ok(Ok(())) => (format!("[{id}] done: {what}"), None),
        Ok(Err(e)) => (format!("[{id}] failed: {what}: {e:#}"), Some(e)),
        Err(e) if e.is_cancelled() => (format!("[{id}] killed: {what}"), None),
        Err(e) => {
            let e = anyhow!("the job stopped: {e}");
            (format!("[{id}] failed: {what}: {e}"), Some(e))
        }
    }
}

impl Jobs {
    /// Starts `work` as job `what`; returns its number.
    pub fn spawn(
        &mut self,
        what: String,
        work: impl Future<Output = Result<()>> + Send + 'static,
    ) -> usize {
        self.next += 1;
        let id = self.next;
        self.running.push(Job {
            id,
            what,
            started: Instant::now(),
            task: tokio::spawn(work),
        });
        id
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// One line per job still running.
    pub fn list(&self) -> Vec<String> {
        self.running
            .iter()
            .map(|j| {
                format!(
                    "[{}] running {}s: {}",
                    j.id,
                    j.started.elapsed().as_secs(),
                    j.what
                )
            })
            .collect()
    }

    /// Takes the jobs that finished, with a line each, and the first error.
    pub async fn reap(&mut self) -> (Vec<String>, Option<anyhow::Error>) {
        let mut lines = Vec::new();
        let mut first = None;
        let mut i = 0;
        while i < self.running.len() {
            if self.running[i].task.is_finished() {
                let job = self.running.remove(i);
                let (line, err) = outcome(job.id, &job.what, job.task.await);
                lines.push(line);
                first = first.or(err);
            } else {
                i += 1;
            }
        }
        (lines, first)
    }

    /// Waits for job `id` (every job when `None`); the lines of how they
    /// ended, and the first error.
    pub async fn wait(
        &mut self,
        id: Option<usize>,
    ) -> Result<(Vec<String>, Option<anyhow::Error>)> {
        let chosen: Vec<Job> = match id {
            Some(id) => {
                let at = self
                    .running
                    .iter()
                    .position(|j| j.id == id)
                    .ok_or_else(|| anyhow!("no job [{id}]; see jobs"))?;
                vec![self.running.remove(at)]
            }
            None => std::mem::take(&mut self.running),
        };
        let mut lines = Vec::new();
        let mut first = None;
        for job in chosen {
            let (line, err) = outcome(job.id, &job.what, job.task.await);
            lines.push(line);
            first = first.or(err);
        }
        Ok((lines, first))
    }

    /// Stops job `id`.
    pub fn kill(&mut self, id: usize) -> Result<()> {
        let job = self
            .running
            .iter()
            .find(|j| j.id == id)
            .ok_or_else(|| anyhow!("no job [{id}]; see jobs"))?;
        job.task.abort();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn run_list_wait_kill_and_report() {
        let mut jobs = Jobs::default();
        let quick = jobs.spawn("quick".into(), async { Ok(()) });
        let slow = jobs.spawn("slow".into(), async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        });
        let bad = jobs.spawn("bad".into(), async { Err(anyhow!("refused")) });
        assert_eq!((quick, slow, bad), (1, 2, 3));
        let (lines, err) = jobs.wait(Some(3)).await.unwrap();
        assert_eq!(lines, vec!["[3] failed: bad: refused"]);
        assert!(err.is_some());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (lines, err) = jobs.reap().await;
        assert_eq!(lines, vec!["[1] done: quick"]);
        assert!(err.is_none());
        assert_eq!(jobs.list().len(), 1);
        assert!(jobs.list()[0].starts_with("[2] running"));
        jobs.kill(2).unwrap();
        assert!(jobs.kill(7).is_err());
        let (lines, _) = jobs.wait(None).await.unwrap();
        assert_eq!(lines, vec!["[2] killed: slow"]);
        assert!(jobs.is_empty());
        assert!(jobs.wait(Some(2)).await.is_err());
    }
}
