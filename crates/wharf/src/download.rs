//! One remote file into a local one, the same way for `get`, `mirror` and
//! the shell's `get`/`mget`:
//!
//! - written under a temporary name ([`names::partial`]) and renamed into
//!   place only when complete, so the real name never holds a torn file;
//! - held against the size the server announced (SIZE, or the listing):
//!   a download that ends short, or runs past the size, is an error (the
//!   latter is stopped where it crosses it);
//! - when it fails after bytes arrived for a reason that may pass (a 4xx,
//!   a reset, a short transfer; not one that ran past its size), what
//!   arrived is kept under a stable name ([`names::resumable`]) that `-c`
//!   resumes from.

use crate::names;
use anyhow::{bail, Context, Result};
use ftp_client::{Classify, FtpClient, FtpError};
use ftp_proto::command::TransferType;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// What to fetch and where to.
pub struct Request<'a> {
    pub remote: &'a [u8],
    pub target: &'a Path,
    /// The size the server announced, if it did (binary type only).
    pub size: Option<u64>,
    /// ASCII type: CRLF line ends become LF.
    pub ascii: bool,
    /// Keep what is there (the target itself, else the kept partial file)
    /// and fetch the rest.
    pub resume: bool,
    /// The remote modification time (Unix seconds), to give the file.
    pub mtime: Option<i64>,
}

/// Where a download is written and what becomes of it.
struct Place {
    path: PathBuf,
    /// The target itself, appended to with `-c`: never renamed or removed.
    is_target: bool,
    /// A temporary file of this process: kept only when worth resuming.
    is_temporary: bool,
}

impl Request<'_> {
    fn place(&self) -> Place {
        let place = |path, is_target, is_temporary| Place {
            path,
            is_target,
            is_temporary,
        };
        match self.resume {
            true if self.target.exists() => place(self.target.to_path_buf(), true, false),
            true => place(names::resumable(self.target), false, false),
            false => place(names::partial(self.target), false, true),
        }
    }
}

/// Fetches `req` and returns the bytes this run received. `progress`
/// hears the position in the file (resumed bytes included).
pub async fn fetch(
    client: &mut FtpClient,
    req: &Request<'_>,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<u64> {
    let place = req.place();
    // What a resumed download has already.
    let have = match req.resume {
        true => std::fs::metadata(&place.path).ok().map(|m| m.len()),
        false => None,
    };
    let offset = have.unwrap_or(0);
    match (req.size, have) {
        (Some(size), Some(have)) if have == size => {
            finish(req, &place)?;
            return Ok(0);
        }
        (Some(size), Some(have)) if have > size => bail!(
            "{} has {have} bytes, more than the {size} on the server; not resuming",
            place.path.display()
        ),
        _ => {}
    }
    // Not opened for append even when resuming: the kernel splices only
    // into files at a position, so a resumed download seeks to the end.
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(!req.resume)
        .open(&place.path)
        .and_then(|mut f| {
            std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0))?;
            Ok(f)
        })
        .with_context(|| format!("cannot write {}", place.path.display()))?;
    let got = if req.ascii {
        let mut file = tokio::fs::File::from_std(file);
        let mut text = crate::text::CrlfToLf::new(&mut file);
        let got = client
            .retrieve_as(
                TransferType::Ascii,
                req.remote,
                offset,
                None,
                &mut text,
                &mut |n| progress(offset + n),
            )
            .await;
        drop(text);
        (got, file.into_std().await)
    } else {
        let got = client
            .retrieve_to_file(req.remote, offset, req.size, &file, &mut |n| {
                progress(offset + n)
            })
            .await;
        (got, file)
    };
    match got {
        (Ok(n), file) => {
            if client.options().durable_downloads {
                file.sync_all()
                    .with_context(|| format!("cannot finish {}", place.path.display()))?;
            }
            if let Some(t) = req.mtime {
                let _ = file.set_modified(UNIX_EPOCH + Duration::from_secs(t.max(0) as u64));
            }
            drop(file);
            finish(req, &place)?;
            Ok(n)
        }
        (Err(e), file) => {
            drop(file);
            // Bytes past the announced size are no prefix to resume from.
            let overran =
                matches!(e, FtpError::SizeMismatch { expected, received } if received > expected);
            let kept = keep(e.is_transient() && !overran, &place, req.target);
            Err(e).with_context(|| match kept {
                Some(path) => format!(
                    "cannot fetch {}; what arrived is in {} and `-c` resumes it",
                    names::show(req.remote),
                    path.display()
                ),
                None => format!("cannot fetch {}", names::show(req.remote)),
            })
        }
    }
}

/// Puts a complete download under its real name, and drops a kept
/// partial file it made stale.
fn finish(req: &Request<'_>, place: &Place) -> Result<()> {
    if !place.is_target {
        std::fs::rename(&place.path, req.target)
            .with_context(|| format!("cannot move the download to {}", req.target.display()))?;
    }
    let stale = names::resumable(req.target);
    if stale != place.path {
        let _ = std::fs::remove_file(stale);
    }
    Ok(())
}

/// After a failure: a temporary file with bytes in it becomes the kept
/// partial file when trying again may help, and is removed otherwise.
/// Returns where the bytes that arrived are, if anywhere.
fn keep(may_pass: bool, place: &Place, target: &Path) -> Option<PathBuf> {
    let len = std::fs::metadata(&place.path).map_or(0, |m| m.len());
    if !place.is_temporary {
        return (len > 0).then(|| place.path.clone());
    }
    let kept = names::resumable(target);
    if may_pass && len > 0 && std::fs::rename(&place.path, &kept).is_ok() {
        return Some(kept);
    }
    let _ = std::fs::remove_file(&place.path);
    None
}
