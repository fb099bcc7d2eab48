//! `wharf get --segments N`: one large file over N connections, each
//! fetching its own byte range with REST (as lftp's `pget` does).
//!
//! Progress is kept in a state file beside the download (one line per
//! segment: start, end, bytes done), so `-c` picks each segment up where
//! it stopped. The file is written to its temporary name and renamed when
//! every segment is complete.

use crate::cli::Connection;
use crate::connect::{open, Login};
use crate::names;
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use ftp_client::FtpUrl;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::AsyncSeekExt;

/// One byte range and how much of it is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    start: u64,
    end: u64,
    done: u64,
}

fn split(total: u64, n: usize) -> Vec<Segment> {
    let n = (n as u64).clamp(1, total.max(1));
    let size = total.div_ceil(n);
    (0..n)
        .map(|i| Segment {
            start: i * size,
            end: ((i + 1) * size).min(total),
            done: 0,
        })
        .filter(|s| s.start < s.end)
        .collect()
}

fn state_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".wharf-segments");
    target.with_file_name(name)
}

fn load(path: &Path, total: u64) -> Option<Vec<Segment>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    if lines.next()?.trim().parse::<u64>().ok()? != total {
        return None;
    }
    lines
        .map(|l| {
            let mut f = l.split_whitespace().map(|v| v.parse::<u64>().ok());
            Some(Segment {
                start: f.next()??,
                end: f.next()??,
                done: f.next()??,
            })
        })
        .collect()
}

fn save(path: &Path, total: u64, segs: &[(Segment, Arc<AtomicU64>)]) -> std::io::Result<()> {
    let mut text = format!("{total}\n");
    for (s, done) in segs {
        text.push_str(&format!(
            "{} {} {}\n",
            s.start,
            s.end,
            done.load(Ordering::Relaxed)
        ));
    }
    std::fs::write(path, text)
}

/// Downloads `total` bytes of `url` to `target` over `n` connections.
pub async fn fetch(
    url: &FtpUrl,
    conn: &Connection,
    login: &Login,
    target: &Path,
    total: u64,
    n: usize,
    resume: bool,
) -> Result<()> {
    let partial = stable_partial(target);
    let state = state_path(target);
    let segments = match resume.then(|| load(&state, total)).flatten() {
        Some(s) => s,
        None => split(total, n),
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    file.set_len(total).context("cannot size the local file")?;
    drop(file);

    let tracked: Vec<(Segment, Arc<AtomicU64>)> = segments
        .iter()
        .map(|s| (*s, Arc::new(AtomicU64::new(s.done))))
        .collect();
    let progress = Arc::new(Progress::new(
        &names::show(url.file_name().unwrap_or_default()),
        Some(total),
        conn.quiet,
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for (seg, done) in tracked.clone() {
        if seg.start + seg.done >= seg.end {
            continue;
        }
        let (url, conn, login, partial) =
            (url.clone(), conn.clone(), login.clone(), partial.clone());
        let (progress, all) = (progress.clone(), tracked.clone());
        tasks.spawn(async move {
            let mut client = open(&url, &conn, &login).await?;
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .open(&partial)
                .await
                .with_context(|| format!("cannot write {}", partial.display()))?;
            let from = seg.start + done.load(Ordering::Relaxed);
            file.seek(SeekFrom::Start(from)).await?;
            let base = done.load(Ordering::Relaxed);
            client
                .retrieve_range(&url.path, from, seg.end - from, &mut file, &mut |n| {
                    done.store(base + n, Ordering::Relaxed);
                    progress.set(all.iter().map(|(_, d)| d.load(Ordering::Relaxed)).sum());
                })
                .await?;
            if conn.fsync {
                file.sync_all().await?;
            }
            client.quit().await?;
            anyhow::Ok(())
        });
    }
    let result = crate::progress::first_failure(tasks).await;
    progress.finish();
    if let Err(e) = result {
        save(&state, total, &tracked).context("cannot save the segment state")?;
        bail!("{e:#}; run again with -c to resume");
    }
    tokio::fs::rename(&partial, target)
        .await
        .with_context(|| format!("cannot move the download to {}", target.display()))?;
    let _ = std::fs::remove_file(&state);
    Ok(())
}

/// A segmented download resumes into the same temporary file, whatever
/// process made it.
fn stable_partial(target: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(".wharf-segmented");
    target.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_file() {
        let s = split(10, 3);
        assert_eq!(
            s.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>(),
            vec![(0, 4), (4, 8), (8, 10)]
        );
        assert_eq!(split(2, 8).len(), 2);
        assert_eq!(split(0, 4).len(), 0);
    }

    #[test]
    fn state_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let segs: Vec<_> = split(100, 2)
            .into_iter()
            .map(|s| (s, Arc::new(AtomicU64::new(7))))
            .collect();
        save(&path, 100, &segs).unwrap();
        let back = load(&path, 100).unwrap();
        assert_eq!(
            back[1],
            Segment {
                start: 50,
                end: 100,
                done: 7
            }
        );
        assert!(load(&path, 99).is_none());
    }
}
