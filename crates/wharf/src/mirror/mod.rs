//! `wharf mirror URL DIR` and `wharf mirror --reverse DIR URL`: copies a
//! directory tree as lftp's mirror does.
//!
//! On a terminal, a line per file moved goes above an overall progress
//! bar with rate and time left; piped, or with `-q`, only the summary and
//! errors are written.
//!
//! Both trees are listed ([`tree`]) through the `--exclude`/`--include`
//! patterns ([`filter`]) and compared into a [`Plan`]: directories to
//! make, files to move (missing or changed; `--only-newer`: newer), and
//! with `--delete` what the source no longer has. `--dry-run` prints the
//! plan and changes nothing. Files move over `--parallel` connections,
//! each opened when first needed. A file whose transfer fails for a reason
//! that may pass (a 4xx, a reset, a timeout, a short transfer, a hash that
//! differs) is tried again on a fresh connection after 1, 2, 4 … s, up to
//! `--retries` times; a file that still fails is reported and the others
//! go on (until `--max-errors` files failed), and the mirror fails at the
//! end; `--continue` resumes the
//! downloads such a failure left behind. With `--verify`, every file
//! moved is compared by SHA-256 with the server's HASH, where the server
//! offers it. Files keep their modification times: downloads locally,
//! uploads through MFMT where the server offers it. Symbolic links
//! ([`links`]): a download recreates those that stay inside the tree,
//! `--dereference` transfers what they point to, `--no-symlinks` leaves
//! them out.

mod filter;
mod links;
mod tree;

use crate::cli::{Connection, MirrorArgs};
use crate::connect::{login_for, open, Login};
use crate::download;
use crate::names;
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use filter::Filter;
use ftp_client::{FtpClient, FtpUrl, StoreMode};
use links::Links;
use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tree::{join, local_path, Compare, FileInfo, Tree};

/// The longest wait between two tries of one file.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The hash `--verify` asks the server for.
const VERIFY_HASH: &str = "SHA-256";

/// The server's SHA-256 of a file differs from the local copy's.
#[derive(Debug, thiserror::Error)]
#[error("{path}: the server's SHA-256 is {theirs}, the local copy's {ours}")]
pub struct HashMismatch {
    path: String,
    theirs: String,
    ours: String,
}

/// What a mirror will do, source and target compared.
#[derive(Debug, Default)]
struct Plan {
    /// Directories the target lacks, parents first.
    mkdirs: Vec<Vec<u8>>,
    files: Vec<(Vec<u8>, FileInfo)>,
    unchanged: usize,
    /// With `--delete`: files, then directories deepest first.
    delete_files: Vec<Vec<u8>>,
    delete_dirs: Vec<Vec<u8>>,
}

impl Plan {
    fn new(source: &Tree, target: &Tree, compare: Compare, delete: bool) -> Plan {
        let mut mkdirs: Vec<_> = source.dirs.difference(&target.dirs).cloned().collect();
        mkdirs.sort_by_key(Vec::len);
        let files: Vec<_> = source
            .files
            .iter()
            .filter(|(rel, info)| compare.wants(info, target.files.get(*rel)))
            .map(|(rel, info)| (rel.clone(), *info))
            .collect();
        let mut plan = Plan {
            mkdirs,
            unchanged: source.files.len() - files.len(),
            files,
            ..Plan::default()
        };
        if delete {
            plan.delete_files = target
                .files
                .keys()
                .filter(|r| !source.files.contains_key(*r))
                .cloned()
                .collect();
            plan.delete_dirs = target.dirs.difference(&source.dirs).cloned().collect();
            plan.delete_dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
        }
        plan
    }

    fn bytes(&self) -> u64 {
        self.files.iter().filter_map(|(_, i)| i.size).sum()
    }

    /// `--dry-run`: one line per action, on standard output.
    fn print(&self, upload: bool) {
        for dir in &self.mkdirs {
            crate::outln!("mkdir {}", names::show(dir));
        }
        let verb = if upload { "put" } else { "get" };
        for (rel, info) in &self.files {
            match info.size {
                Some(n) => crate::outln!("{verb} {} ({n} bytes)", names::show(rel)),
                None => crate::outln!("{verb} {}", names::show(rel)),
            }
        }
        for rel in &self.delete_files {
            crate::outln!("delete {}", names::show(rel));
        }
        for rel in &self.delete_dirs {
            crate::outln!("rmdir {}", names::show(rel));
        }
        crate::outln!(
            "dry run: {} files to transfer ({} bytes), {} unchanged, {} to delete; nothing changed",
            self.files.len(),
            self.bytes(),
            self.unchanged,
            self.delete_files.len() + self.delete_dirs.len()
        );
    }
}

pub async fn run(args: MirrorArgs) -> Result<()> {
    let (url_text, local) = match args.reverse {
        true => (&args.target, PathBuf::from(&args.source)),
        false => (&args.source, PathBuf::from(&args.target)),
    };
    let url = FtpUrl::parse(url_text)?;
    let login = login_for(&url)?;
    sync(&args, url, login, local).await
}

/// Mirrors the remote tree at `url` (logged in as `login`) and the local
/// tree at `local`, in the direction and with the options of `args` (whose
/// source and target are not read): `wharf mirror`, and the shell's.
pub async fn sync(args: &MirrorArgs, url: FtpUrl, login: Login, local: PathBuf) -> Result<()> {
    let upload = args.reverse;
    if upload && !local.is_dir() {
        bail!("{} is not a directory", local.display());
    }
    if args.parallel == 0 {
        crate::usage!("--parallel must be at least 1");
    }
    let filter = Filter::new(&args.include, &args.exclude, &args.exclude_from)?;
    let mut client = open(&url, &args.conn, &login).await?;
    let feat = client.feat().await?;
    let mlsd = feat
        .iter()
        .any(|f| f.to_ascii_uppercase().starts_with("MLST"));
    let verify = args.verify && offers_hash(&feat);
    let set_times = upload && feat.iter().any(|f| f.eq_ignore_ascii_case("MFMT"));
    if args.verify && !verify {
        crate::errln!("wharf: the server offers no HASH {VERIFY_HASH}; --verify checks sizes only");
    }
    let links = match (args.dereference, args.no_symlinks) {
        (true, _) => Links::Follow,
        (false, true) => Links::Skip,
        (false, false) => Links::Keep,
    };
    let remote = tree::walk_remote(&mut client, &url.path, mlsd, &filter, links).await?;
    let here = tree::walk_local(&local, &filter, links)?;
    let (linked, skipped) = match upload {
        true => (BTreeMap::new(), here.skipped_links),
        false => (remote.links.clone(), remote.skipped_links),
    };
    if skipped > 0 && !args.conn.quiet {
        crate::errln!(
            "wharf: {skipped} symbolic link{} left out ({})",
            if skipped == 1 { "" } else { "s" },
            if upload {
                "FTP cannot make links; --dereference uploads what they point to"
            } else {
                "--dereference fetches what they point to"
            }
        );
    }
    let compare = Compare {
        only_newer: args.only_newer,
        upload,
    };
    let plan = match upload {
        true => Plan::new(&here, &remote, compare, args.delete),
        false => Plan::new(&remote, &here, compare, args.delete),
    };
    if args.dry_run {
        for (rel, target) in &linked {
            crate::outln!("symlink {} -> {}", names::show(rel), names::show(target));
        }
        plan.print(upload);
        return client.quit().await.map_err(Into::into);
    }
    if upload {
        if !url.path.is_empty() && remote.dirs.is_empty() && remote.files.is_empty() {
            // The root may not exist yet; an existing one makes MKD fail harmlessly.
            let _ = client.mkd(&url.path).await;
        }
        for dir in &plan.mkdirs {
            client.mkd(&join(&url.path, dir)).await.with_context(|| {
                format!("cannot create the remote directory {}", names::show(dir))
            })?;
        }
    } else {
        for dir in std::iter::once(&Vec::new()).chain(&plan.mkdirs) {
            let path = local_path(&local, dir);
            std::fs::create_dir_all(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
        }
        make_links(&local, &linked, args.conn.quiet)?;
    }
    client.quit().await?;

    let work = Arc::new(Work {
        url: url.clone(),
        conn: args.conn.clone(),
        login,
        local: local.clone(),
        upload,
        verify,
        set_times,
        resume: args.resume,
        retries: args.retries,
        max_errors: args.max_errors,
        queue: Mutex::new(plan.files.iter().cloned().collect()),
        moved: AtomicU64::new(0),
        done: AtomicUsize::new(0),
        failures: Mutex::new(Vec::new()),
        progress: Progress::new("mirror", Some(plan.bytes()), args.conn.quiet),
    });
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.parallel.min(plan.files.len()) {
        let work = work.clone();
        workers.spawn(async move { work.run().await });
    }
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined {
            work.failed(e.into());
        }
    }
    work.progress.finish();

    let deleted = match (args.delete, upload) {
        (false, _) => 0,
        (true, false) => delete_local(&local, &plan)?,
        (true, true) => delete_remote(&url, &args.conn, &work.login, &plan).await?,
    };
    let failures = std::mem::take(&mut *work.failures.lock().map_err(poisoned)?);
    if !args.conn.quiet {
        crate::errln!(
            "mirror: {} files transferred ({} bytes), {} unchanged, {deleted} deleted{}",
            work.done.load(Ordering::Relaxed),
            work.moved.load(Ordering::Relaxed),
            plan.unchanged,
            match failures.len() {
                0 => String::new(),
                n => format!(", {n} failed"),
            }
        );
    }
    let count = failures.len();
    let stopped = match work.queue.lock().map_err(poisoned)?.len() {
        0 => String::new(),
        n => format!(" (stopped by --max-errors; {n} not tried)"),
    };
    match failures.into_iter().next() {
        None => Ok(()),
        Some(first) => Err(first.context(format!(
            "{count} of {} files could not be mirrored{stopped}; the first",
            plan.files.len()
        ))),
    }
}

/// Whether FEAT offers HASH with the algorithm `--verify` uses.
fn offers_hash(feat: &[String]) -> bool {
    feat.iter().any(|line| {
        let upper = line.to_ascii_uppercase();
        upper.starts_with("HASH ")
            && upper[5..]
                .split(';')
                .any(|a| a.trim_end_matches('*') == VERIFY_HASH)
    })
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> anyhow::Error {
    anyhow::anyhow!("a transfer worker panicked")
}

/// The transfers of a mirror, shared by its workers.
struct Work {
    url: FtpUrl,
    conn: Connection,
    login: Login,
    local: PathBuf,
    upload: bool,
    verify: bool,
    /// Uploads get the local modification time (MFMT, where offered).
    set_times: bool,
    /// `--continue`: pick up kept partial downloads.
    resume: bool,
    retries: u32,
    /// `--max-errors`: no new transfer starts after this many failed.
    max_errors: Option<usize>,
    queue: Mutex<VecDeque<(Vec<u8>, FileInfo)>>,
    /// Bytes and files moved so far.
    moved: AtomicU64,
    done: AtomicUsize,
    failures: Mutex<Vec<anyhow::Error>>,
    progress: Progress,
}

impl Work {
    fn next(&self) -> Option<(Vec<u8>, FileInfo)> {
        let failed = self.failures.lock().ok()?.len();
        if self.max_errors.is_some_and(|max| failed >= max) {
            return None;
        }
        self.queue.lock().ok()?.pop_front()
    }

    fn failed(&self, e: anyhow::Error) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.push(e);
        }
    }

    /// One worker: files from the queue until it is empty, over one
    /// connection (replaced after a failure).
    async fn run(&self) {
        let mut client = None;
        while let Some((rel, info)) = self.next() {
            if let Err(e) = self.with_retries(&mut client, &rel, info).await {
                crate::errln!("wharf: {e:#}");
                self.failed(e);
            }
        }
        if let Some(client) = client {
            let _ = client.quit().await;
        }
    }

    async fn with_retries(
        &self,
        client: &mut Option<FtpClient>,
        rel: &[u8],
        info: FileInfo,
    ) -> Result<()> {
        let mut attempt = 0;
        loop {
            let result = match self.connected(client).await {
                Ok(c) => self.move_one(c, rel, info).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e)
                    if attempt < self.retries
                        && crate::exit::code(&e) == crate::exit::TRANSIENT =>
                {
                    // The connection may be what failed: the next try opens a new one.
                    *client = None;
                    let wait = MAX_BACKOFF.min(Duration::from_secs(1 << attempt.min(5)));
                    crate::errln!(
                        "wharf: {}: {e:#}; trying again in {} s",
                        names::show(rel),
                        wait.as_secs()
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn connected<'a>(&self, client: &'a mut Option<FtpClient>) -> Result<&'a mut FtpClient> {
        if client.is_none() {
            let mut fresh = open(&self.url, &self.conn, &self.login).await?;
            if self.verify {
                fresh.set_hash_algorithm(VERIFY_HASH).await?;
            }
            *client = Some(fresh);
        }
        client.as_mut().context("no connection")
    }

    async fn move_one(&self, client: &mut FtpClient, rel: &[u8], info: FileInfo) -> Result<()> {
        let remote = join(&self.url.path, rel);
        let local = local_path(&self.local, rel);
        let base = self.moved.load(Ordering::Relaxed);
        let progress = &mut |n: u64| self.progress.set(base + n);
        let moved = if self.upload {
            let file = std::fs::File::open(&local)
                .with_context(|| format!("cannot read {}", local.display()))?;
            let sent = client
                .store_file(&remote, StoreMode::Replace, &file, progress)
                .await
                .with_context(|| format!("cannot upload {}", local.display()))?;
            if let Some(t) = info.mtime.filter(|_| self.set_times) {
                client.mfmt(&remote, t).await.with_context(|| {
                    format!("cannot set the time of the remote {}", names::show(rel))
                })?;
            }
            sent
        } else {
            let req = download::Request {
                remote: &remote,
                target: &local,
                size: info.size,
                ascii: false,
                // Only into a kept partial file: a changed local copy is
                // replaced, never appended to.
                resume: self.resume && !local.exists(),
                mtime: info.mtime,
            };
            download::fetch(client, &req, progress).await?
        };
        if self.verify {
            if let Err(e) = verify(client, &remote, &local).await {
                if !self.upload {
                    // A copy that differs must not look current to the next run.
                    let _ = std::fs::remove_file(&local);
                }
                return Err(e);
            }
        }
        self.moved.fetch_add(moved, Ordering::Relaxed);
        self.done.fetch_add(1, Ordering::Relaxed);
        let verb = if self.upload { "put" } else { "got" };
        self.progress
            .note(&format!("{verb} {} ({moved} bytes)", names::show(rel)));
        Ok(())
    }
}

/// Compares the server's HASH of `remote` with the SHA-256 of `local`.
async fn verify(client: &mut FtpClient, remote: &[u8], local: &Path) -> Result<()> {
    let (algorithm, theirs) = client
        .hash(remote)
        .await
        .with_context(|| format!("cannot verify {}", names::show(remote)))?;
    if !algorithm.eq_ignore_ascii_case(VERIFY_HASH) {
        bail!("the server answered HASH with {algorithm}, not {VERIFY_HASH}");
    }
    let path = local.to_path_buf();
    let ours = tokio::task::spawn_blocking(move || sha256_of(&path)).await??;
    if ours != theirs {
        return Err(HashMismatch {
            path: names::show(remote),
            theirs,
            ours,
        }
        .into());
    }
    Ok(())
}

fn sha256_of(path: &Path) -> Result<String> {
    use sha2::Digest;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok(format!("{:x}", hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// Recreates the remote tree's symbolic links under `root`, those whose
/// target stays inside the tree; the others are named and skipped.
fn make_links(root: &Path, links: &BTreeMap<Vec<u8>, Vec<u8>>, quiet: bool) -> Result<()> {
    for (rel, target) in links {
        if !links::stays_inside(rel, target) {
            crate::errln!(
                "wharf: skipping the link {} -> {}: it points outside the mirrored tree",
                names::show(rel),
                names::show(target)
            );
            continue;
        }
        let path = local_path(root, rel);
        match links::make(&path, target) {
            Ok(true) if !quiet => {
                crate::outln!("symlink {} -> {}", names::show(rel), names::show(target))
            }
            Ok(_) => {}
            Err(e) => crate::errln!("wharf: cannot make the link {}: {e}", path.display()),
        }
    }
    Ok(())
}

fn delete_local(root: &Path, plan: &Plan) -> Result<usize> {
    let mut deleted = 0;
    for rel in &plan.delete_files {
        let path = local_path(root, rel);
        std::fs::remove_file(&path).with_context(|| format!("cannot delete {}", path.display()))?;
        deleted += 1;
    }
    for rel in &plan.delete_dirs {
        // A directory still holding excluded files stays.
        if std::fs::remove_dir(local_path(root, rel)).is_ok() {
            deleted += 1;
        }
    }
    Ok(deleted)
}

async fn delete_remote(
    url: &FtpUrl,
    conn: &Connection,
    login: &Login,
    plan: &Plan,
) -> Result<usize> {
    if plan.delete_files.is_empty() && plan.delete_dirs.is_empty() {
        return Ok(0);
    }
    let mut client = open(url, conn, login).await?;
    let mut deleted = 0;
    for rel in &plan.delete_files {
        client
            .delete(&join(&url.path, rel))
            .await
            .with_context(|| format!("cannot delete the remote {}", names::show(rel)))?;
        deleted += 1;
    }
    for rel in &plan.delete_dirs {
        // A directory still holding excluded files stays.
        if client.rmd(&join(&url.path, rel)).await.is_ok() {
            deleted += 1;
        }
    }
    client.quit().await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_in_feat() {
        let feat = |l: &str| vec!["MLST type*;size*;".to_string(), l.to_string()];
        assert!(offers_hash(&feat("HASH SHA-1;SHA-256*;SHA-512;MD5;CRC32")));
        assert!(offers_hash(&feat("hash sha-256")));
        assert!(!offers_hash(&feat("HASH SHA-1*;MD5")));
        assert!(!offers_hash(&feat("XSHA256")));
    }

    #[test]
    fn plans_both_ways() {
        let tree = |dirs: &[&str], files: &[(&str, u64)]| Tree {
            dirs: dirs.iter().map(|d| d.as_bytes().to_vec()).collect(),
            files: files
                .iter()
                .map(|(f, n)| {
                    let info = FileInfo {
                        size: Some(*n),
                        mtime: Some(100),
                    };
                    (f.as_bytes().to_vec(), info)
                })
                .collect(),
            ..Tree::default()
        };
        let source = tree(&["a", "a/b"], &[("a/b/x", 3), ("y", 1), ("z", 2)]);
        let target = tree(&["old", "old/deeper"], &[("y", 1), ("z", 5), ("gone", 1)]);
        let compare = Compare {
            only_newer: false,
            upload: false,
        };
        let plan = Plan::new(&source, &target, compare, true);
        assert_eq!(plan.mkdirs, [b"a".to_vec(), b"a/b".to_vec()]);
        let moved: Vec<_> = plan.files.iter().map(|(r, _)| r.as_slice()).collect();
        assert_eq!(moved, [&b"a/b/x"[..], b"z"]);
        assert_eq!((plan.unchanged, plan.bytes()), (1, 5));
        assert_eq!(plan.delete_files, [b"gone".to_vec()]);
        assert_eq!(plan.delete_dirs, [b"old/deeper".to_vec(), b"old".to_vec()]);
        assert!(Plan::new(&source, &target, compare, false)
            .delete_files
            .is_empty());
    }
}
