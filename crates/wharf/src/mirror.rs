//! `wharf mirror URL DIR` and `wharf mirror --reverse DIR URL`: copies a
//! directory tree, creating missing directories on the other side and
//! transferring only files whose size or time differ, over `-j N`
//! connections at once; `--delete` removes what the source does not have.
//!
//! Remote names become local paths only through [`crate::names`], so a
//! server that lists `../evil`, `/etc/x` or names with `\` or NUL cannot
//! make a mirror write outside its target.

use crate::cli::{Connection, MirrorArgs};
use crate::connect::{login_for, open, Login};
use crate::download;
use crate::names;
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use ftp_client::{FtpClient, FtpUrl, StoreMode};
use ftp_proto::listing::EntryKind;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Deepest directory a mirror descends into.
const MAX_DEPTH: usize = 64;

/// A file of the tree, by its path relative to the mirror's root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileInfo {
    size: Option<u64>,
    mtime: Option<i64>,
}

/// A tree: its directories and files, by relative path (`a/b/c`).
#[derive(Debug, Default)]
struct Tree {
    dirs: BTreeSet<Vec<u8>>,
    files: BTreeMap<Vec<u8>, FileInfo>,
}

fn join(root: &[u8], rel: &[u8]) -> Vec<u8> {
    let root = root.strip_suffix(b"/").unwrap_or(root);
    match (root.is_empty(), rel.is_empty()) {
        (true, _) => rel.to_vec(),
        (false, true) => root.to_vec(),
        (false, false) => [root, b"/", rel].concat(),
    }
}

fn local_path(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(OsStr::from_bytes(rel))
}

async fn walk_remote(client: &mut FtpClient, root: &[u8], mlsd: bool) -> Result<Tree> {
    let mut tree = Tree::default();
    let mut queue = VecDeque::from([(Vec::new(), 0usize)]);
    while let Some((rel, depth)) = queue.pop_front() {
        let path = join(root, &rel);
        let at = (!path.is_empty()).then_some(path.as_slice());
        let entries = match client.entries(at, mlsd).await {
            Ok(e) => e,
            // A root that does not exist yet (550, or 501 from some servers) is empty.
            Err(e) if rel.is_empty() && e.is_permanent() => return Ok(tree),
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", names::show(&path))),
        };
        for entry in entries {
            if !names::is_safe(&entry.name) {
                crate::errln!(
                    "wharf: skipping unsafe remote name {:?} in {}",
                    names::show(&entry.name),
                    names::show(&path)
                );
                continue;
            }
            let child = join(&rel, &entry.name);
            match entry.kind {
                EntryKind::Dir if depth < MAX_DEPTH => {
                    tree.dirs.insert(child.clone());
                    queue.push_back((child, depth + 1));
                }
                EntryKind::Dir => crate::errln!(
                    "wharf: not descending below {} (depth limit)",
                    names::show(&child)
                ),
                EntryKind::File => {
                    tree.files.insert(
                        child,
                        FileInfo {
                            size: entry.size,
                            mtime: entry.mtime,
                        },
                    );
                }
                _ => {}
            }
        }
    }
    Ok(tree)
}

fn walk_local(root: &Path) -> Result<Tree> {
    let mut tree = Tree::default();
    let mut stack = vec![(root.to_path_buf(), Vec::new(), 0usize)];
    while let Some((dir, rel, depth)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && rel.is_empty() => {
                return Ok(tree)
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.as_bytes();
            if names::is_partial(name) {
                continue;
            }
            let child = join(&rel, name);
            let kind = entry.file_type()?;
            if kind.is_dir() && depth < MAX_DEPTH {
                tree.dirs.insert(child.clone());
                stack.push((entry.path(), child, depth + 1));
            } else if kind.is_file() {
                let md = entry.metadata()?;
                let mtime = md.modified().ok().and_then(unix_secs);
                tree.files.insert(
                    child,
                    FileInfo {
                        size: Some(md.len()),
                        mtime,
                    },
                );
            }
        }
    }
    Ok(tree)
}

fn unix_secs(t: SystemTime) -> Option<i64> {
    t.duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// Whether the target's copy differs from the source's: sizes differ, or
/// both times are known and differ by more than a second.
fn changed(source: &FileInfo, target: Option<&FileInfo>) -> bool {
    let Some(target) = target else { return true };
    if source.size.is_some() && source.size != target.size {
        return true;
    }
    match (source.mtime, target.mtime) {
        (Some(s), Some(t)) => (s - t).abs() > 1,
        _ => false,
    }
}

pub async fn run(args: MirrorArgs) -> Result<()> {
    if args.reverse {
        upload(args).await
    } else {
        download(args).await
    }
}

/// Work shared by the transfer workers.
struct Plan {
    queue: Mutex<VecDeque<(Vec<u8>, FileInfo)>>,
    moved: AtomicU64,
    progress: Progress,
}

async fn run_workers<F, Fut>(
    jobs: usize,
    plan: Arc<Plan>,
    url: &FtpUrl,
    conn: &Connection,
    login: &Login,
    work: F,
) -> Result<()>
where
    F: Fn(FtpClient, Arc<Plan>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<FtpClient>> + Send,
{
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..jobs.clamp(1, 32) {
        let (url, conn, login, plan, work) = (
            url.clone(),
            conn.clone(),
            login.clone(),
            plan.clone(),
            work.clone(),
        );
        tasks.spawn(async move {
            let client = open(&url, &conn, &login).await?;
            let client = work(client, plan).await?;
            client.quit().await?;
            anyhow::Ok(())
        });
    }
    let result = crate::progress::first_failure(tasks).await;
    plan.progress.finish();
    result
}

impl Plan {
    fn new(todo: VecDeque<(Vec<u8>, FileInfo)>, bytes: u64, quiet: bool) -> Arc<Plan> {
        Arc::new(Plan {
            queue: Mutex::new(todo),
            moved: AtomicU64::new(0),
            progress: Progress::new("mirror", Some(bytes), quiet),
        })
    }

    fn summary(&self, count: usize, unchanged: usize, deleted: usize) {
        crate::errln!(
            "mirror: {count} files transferred ({} bytes), {unchanged} unchanged, {deleted} deleted",
            self.moved.load(Ordering::Relaxed)
        );
    }
}

fn next(plan: &Plan) -> Option<(Vec<u8>, FileInfo)> {
    plan.queue.lock().ok()?.pop_front()
}

async fn download(args: MirrorArgs) -> Result<()> {
    let url = FtpUrl::parse(&args.source).map_err(anyhow::Error::msg)?;
    let target = PathBuf::from(&args.target);
    let login = login_for(&url)?;
    let mut client = open(&url, &args.conn, &login).await?;
    let mlsd = client
        .feat()
        .await?
        .iter()
        .any(|f| f.to_ascii_uppercase().starts_with("MLST"));
    let remote = walk_remote(&mut client, &url.path, mlsd).await?;
    client.quit().await?;
    std::fs::create_dir_all(&target)
        .with_context(|| format!("cannot create {}", target.display()))?;
    for dir in &remote.dirs {
        let path = local_path(&target, dir);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
    }
    let local = walk_local(&target)?;
    let todo: VecDeque<_> = remote
        .files
        .iter()
        .filter(|(rel, info)| changed(info, local.files.get(*rel)))
        .map(|(rel, info)| (rel.clone(), *info))
        .collect();
    let (count, bytes) = (
        todo.len(),
        todo.iter().filter_map(|(_, i)| i.size).sum::<u64>(),
    );
    let unchanged = remote.files.len() - count;
    let plan = Plan::new(todo, bytes, args.conn.quiet);
    let root = url.path.clone();
    let dest = target.clone();
    run_workers(
        args.jobs,
        plan.clone(),
        &url,
        &args.conn,
        &login,
        move |mut client, plan| {
            let (root, dest) = (root.clone(), dest.clone());
            async move {
                while let Some((rel, info)) = next(&plan) {
                    fetch_one(
                        &mut client,
                        &plan,
                        &join(&root, &rel),
                        &local_path(&dest, &rel),
                        info,
                    )
                    .await?;
                }
                Ok(client)
            }
        },
    )
    .await?;
    let mut deleted = 0;
    if args.delete {
        deleted = delete_local(&target, &local, &remote)?;
    }
    if !args.conn.quiet {
        plan.summary(count, unchanged, deleted);
    }
    Ok(())
}

async fn fetch_one(
    client: &mut FtpClient,
    plan: &Plan,
    remote: &[u8],
    local: &Path,
    info: FileInfo,
) -> Result<()> {
    let req = download::Request {
        remote,
        target: local,
        size: info.size,
        ascii: false,
        resume: false,
        mtime: info.mtime,
    };
    let base = plan.moved.load(Ordering::Relaxed);
    let got = download::fetch(client, &req, &mut |n| plan.progress.set(base + n)).await?;
    plan.moved.fetch_add(got, Ordering::Relaxed);
    Ok(())
}

fn delete_local(root: &Path, local: &Tree, remote: &Tree) -> Result<usize> {
    let mut deleted = 0;
    for rel in local
        .files
        .keys()
        .filter(|r| !remote.files.contains_key(*r))
    {
        std::fs::remove_file(local_path(root, rel))?;
        deleted += 1;
    }
    let mut dirs: Vec<_> = local
        .dirs
        .iter()
        .filter(|d| !remote.dirs.contains(*d))
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
    for rel in dirs {
        if std::fs::remove_dir(local_path(root, rel)).is_ok() {
            deleted += 1;
        }
    }
    Ok(deleted)
}

async fn upload(args: MirrorArgs) -> Result<()> {
    let source = PathBuf::from(&args.source);
    if !source.is_dir() {
        bail!("{} is not a directory", source.display());
    }
    let url = FtpUrl::parse(&args.target).map_err(anyhow::Error::msg)?;
    let login = login_for(&url)?;
    let mut client = open(&url, &args.conn, &login).await?;
    let mlsd = client
        .feat()
        .await?
        .iter()
        .any(|f| f.to_ascii_uppercase().starts_with("MLST"));
    let local = walk_local(&source)?;
    let remote = walk_remote(&mut client, &url.path, mlsd).await?;
    if !url.path.is_empty() && remote.dirs.is_empty() && remote.files.is_empty() {
        // The root may not exist yet; an existing one makes MKD fail harmlessly.
        let _ = client.mkd(&url.path).await;
    }
    let mut missing: Vec<_> = local
        .dirs
        .iter()
        .filter(|d| !remote.dirs.contains(*d))
        .collect();
    missing.sort_by_key(|d| d.len());
    for dir in missing {
        client
            .mkd(&join(&url.path, dir))
            .await
            .with_context(|| format!("cannot create the remote directory {}", names::show(dir)))?;
    }
    let todo: VecDeque<_> = local
        .files
        .iter()
        .filter(|(rel, info)| {
            let theirs = remote.files.get(*rel);
            changed(info, theirs)
                && !(theirs.is_some_and(|t| t.size == info.size && t.mtime >= info.mtime))
        })
        .map(|(rel, info)| (rel.clone(), *info))
        .collect();
    let (count, bytes) = (
        todo.len(),
        todo.iter().filter_map(|(_, i)| i.size).sum::<u64>(),
    );
    let unchanged = local.files.len() - count;
    let mut deleted = 0;
    if args.delete {
        for rel in remote
            .files
            .keys()
            .filter(|r| !local.files.contains_key(*r))
        {
            client.delete(&join(&url.path, rel)).await?;
            deleted += 1;
        }
        let mut dirs: Vec<_> = remote
            .dirs
            .iter()
            .filter(|d| !local.dirs.contains(*d))
            .collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
        for rel in dirs {
            client.rmd(&join(&url.path, rel)).await?;
            deleted += 1;
        }
    }
    client.quit().await?;
    let plan = Plan::new(todo, bytes, args.conn.quiet);
    let root = url.path.clone();
    run_workers(
        args.jobs,
        plan.clone(),
        &url,
        &args.conn,
        &login,
        move |mut client, plan| {
            let (root, source) = (root.clone(), source.clone());
            async move {
                while let Some((rel, _)) = next(&plan) {
                    let path = local_path(&source, &rel);
                    let file = std::fs::File::open(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let base = plan.moved.load(Ordering::Relaxed);
                    let sent = client
                        .store_file(&join(&root, &rel), StoreMode::Replace, &file, &mut |n| {
                            plan.progress.set(base + n)
                        })
                        .await
                        .with_context(|| format!("cannot upload {}", path.display()))?;
                    plan.moved.fetch_add(sent, Ordering::Relaxed);
                }
                Ok(client)
            }
        },
    )
    .await?;
    if !args.conn.quiet {
        plan.summary(count, unchanged, deleted);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_paths() {
        assert_eq!(join(b"", b"a"), b"a");
        assert_eq!(join(b"pub/", b"a/b"), b"pub/a/b");
        assert_eq!(join(b"pub", b""), b"pub");
    }

    #[test]
    fn change_detection() {
        let a = FileInfo {
            size: Some(10),
            mtime: Some(100),
        };
        assert!(changed(&a, None));
        assert!(!changed(&a, Some(&a)));
        assert!(changed(
            &a,
            Some(&FileInfo {
                size: Some(11),
                mtime: Some(100)
            })
        ));
        assert!(changed(
            &a,
            Some(&FileInfo {
                size: Some(10),
                mtime: Some(200)
            })
        ));
        assert!(!changed(
            &a,
            Some(&FileInfo {
                size: Some(10),
                mtime: None
            })
        ));
    }
}
