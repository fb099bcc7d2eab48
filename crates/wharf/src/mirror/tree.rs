//! The two trees a mirror compares: the server's (MLSD where offered,
//! else LIST parsed) and the local one, each as its directories and files
//! by path from the mirror's root (`a/b/c`), filtered by [`Filter`].
//!
//! Remote names become local paths only through [`crate::names`], so a
//! server that lists `../evil`, `/etc/x` or names with `\` or NUL cannot
//! make a mirror write outside its target.

use super::filter::Filter;
use super::links::Links;
use crate::names;
use anyhow::{Context, Result};
use ftp_client::{Classify, FtpClient};
use ftp_proto::listing::{EntryKind, ParsedEntry};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Deepest directory a mirror descends into.
const MAX_DEPTH: usize = 64;

/// What a tree knows of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub size: Option<u64>,
    /// Unix seconds.
    pub mtime: Option<i64>,
}

/// A tree: its directories and files, by relative path.
#[derive(Debug, Default)]
pub struct Tree {
    pub dirs: BTreeSet<Vec<u8>>,
    pub files: BTreeMap<Vec<u8>, FileInfo>,
    /// Symbolic links kept as links: path → target.
    pub links: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Links left out (skipped, or their target unknown).
    pub skipped_links: usize,
}

/// `root/rel` as a protocol path.
pub fn join(root: &[u8], rel: &[u8]) -> Vec<u8> {
    let root = root.strip_suffix(b"/").unwrap_or(root);
    match (root.is_empty(), rel.is_empty()) {
        (true, _) => rel.to_vec(),
        (false, true) => root.to_vec(),
        (false, false) => [root, b"/", rel].concat(),
    }
}

/// `root/rel` as a local path (`rel` is made of safe names only).
pub fn local_path(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(OsStr::from_bytes(rel))
}

/// Lists the server's tree under `root`, breadth first; a root that does
/// not exist yet is an empty tree.
pub async fn walk_remote(
    client: &mut FtpClient,
    root: &[u8],
    mlsd: bool,
    filter: &Filter,
    links: Links,
) -> Result<Tree> {
    let mut tree = Tree::default();
    let mut queue = VecDeque::from([(Vec::new(), 0usize)]);
    while let Some((rel, depth)) = queue.pop_front() {
        let path = join(root, &rel);
        let at = (!path.is_empty()).then_some(path.as_slice());
        let mut entries = match client.entries(at, mlsd).await {
            Ok(e) => e,
            // A root that does not exist yet (550, or 501 from some servers) is empty.
            Err(e) if rel.is_empty() && e.is_permanent() => return Ok(tree),
            // A directory below it the server refuses to list (a link out
            // of its root, no permission) is left out, and said.
            Err(e) if e.is_permanent() => {
                crate::errln!("wharf: skipping {}: {e}", names::show(&path));
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", names::show(&path))),
        };
        let untold = |e: &ParsedEntry| e.kind == EntryKind::Symlink && e.link_target.is_none();
        if links == Links::Keep && mlsd && entries.iter().any(untold) {
            // MLSD names links without their targets on most servers
            // (pure-ftpd, ProFTPD); LIST's `name -> target` tells them.
            if let Ok(listed) = client.entries(at, false).await {
                for e in entries.iter_mut().filter(|e| untold(e)) {
                    e.link_target = listed
                        .iter()
                        .find(|l| l.name == e.name)
                        .and_then(|l| l.link_target.clone());
                }
            }
        }
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
                EntryKind::Dir if !filter.enters(&child) => {}
                EntryKind::Dir if depth < MAX_DEPTH => {
                    tree.dirs.insert(child.clone());
                    queue.push_back((child, depth + 1));
                }
                EntryKind::Dir => crate::errln!(
                    "wharf: not descending below {} (depth limit)",
                    names::show(&child)
                ),
                EntryKind::File if filter.takes(&child) => {
                    let info = FileInfo {
                        size: entry.size,
                        mtime: entry.mtime,
                    };
                    tree.files.insert(child, info);
                }
                EntryKind::Symlink => match (links, entry.link_target) {
                    (Links::Follow, _) => {
                        // SIZE follows the link: a file has one, a
                        // directory does not.
                        let target = join(&path, &entry.name);
                        match client.size(&target).await {
                            Ok(size) if filter.takes(&child) => {
                                let info = FileInfo {
                                    size: Some(size),
                                    mtime: None,
                                };
                                tree.files.insert(child, info);
                            }
                            Ok(_) => {}
                            Err(_) if filter.enters(&child) && depth < MAX_DEPTH => {
                                tree.dirs.insert(child.clone());
                                queue.push_back((child, depth + 1));
                            }
                            Err(_) => {}
                        }
                    }
                    (Links::Keep, Some(target)) if filter.takes(&child) => {
                        tree.links.insert(child, target);
                    }
                    _ => tree.skipped_links += 1,
                },
                _ => {}
            }
        }
    }
    Ok(tree)
}

/// The local tree under `root`; a root that does not exist is empty.
/// Unfinished downloads ([`names::is_partial`]) are left out.
pub fn walk_local(root: &Path, filter: &Filter, links: Links) -> Result<Tree> {
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
            let mut kind = entry.file_type()?;
            if kind.is_symlink() {
                match (links, std::fs::metadata(entry.path())) {
                    (Links::Follow, Ok(target)) => kind = target.file_type(),
                    _ => {
                        // FTP has no command to make a link.
                        tree.skipped_links += 1;
                        continue;
                    }
                }
            }
            if kind.is_dir() && depth < MAX_DEPTH && filter.enters(&child) {
                tree.dirs.insert(child.clone());
                stack.push((entry.path(), child, depth + 1));
            } else if kind.is_file() && filter.takes(&child) {
                let md = std::fs::metadata(entry.path())?;
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

/// How a mirror decides that a file must move.
#[derive(Debug, Clone, Copy)]
pub struct Compare {
    /// `--only-newer`: only when the source's copy is newer.
    pub only_newer: bool,
    /// Uploading: the server's times are those of the upload, so a remote
    /// copy of the same size that is not older counts as current.
    pub upload: bool,
}

impl Compare {
    /// Whether the source's `source` must replace the target's `target`.
    pub fn wants(self, source: &FileInfo, target: Option<&FileInfo>) -> bool {
        let Some(target) = target else { return true };
        let newer = match (source.mtime, target.mtime) {
            (Some(s), Some(t)) => Some(s > t + 1),
            _ => None,
        };
        if self.only_newer {
            return newer.unwrap_or(source.size != target.size);
        }
        let sized_apart = source.size.is_some() && source.size != target.size;
        if self.upload {
            return sized_apart || newer == Some(true);
        }
        let times_apart =
            matches!((source.mtime, target.mtime), (Some(s), Some(t)) if (s - t).abs() > 1);
        sized_apart || times_apart
    }
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

    fn info(size: u64, mtime: i64) -> FileInfo {
        FileInfo {
            size: Some(size),
            mtime: Some(mtime),
        }
    }

    #[test]
    fn change_detection() {
        let plain = Compare {
            only_newer: false,
            upload: false,
        };
        let a = info(10, 100);
        assert!(plain.wants(&a, None));
        assert!(!plain.wants(&a, Some(&a)));
        assert!(plain.wants(&a, Some(&info(11, 100))));
        assert!(plain.wants(&a, Some(&info(10, 200))));
        let timeless = FileInfo {
            size: Some(10),
            mtime: None,
        };
        assert!(!plain.wants(&a, Some(&timeless)));

        let newer = Compare {
            only_newer: true,
            upload: false,
        };
        assert!(!newer.wants(&a, Some(&info(11, 200))), "target is newer");
        assert!(newer.wants(&info(10, 300), Some(&info(10, 200))));
        assert!(newer.wants(
            &a,
            Some(&FileInfo {
                size: Some(3),
                mtime: None
            })
        ));
        assert!(newer.wants(&a, None));

        let up = Compare {
            only_newer: false,
            upload: true,
        };
        assert!(!up.wants(&a, Some(&info(10, 500))), "uploaded later");
        assert!(up.wants(&a, Some(&info(9, 500))));
        assert!(up.wants(&info(10, 900), Some(&info(10, 500))));
    }
}
