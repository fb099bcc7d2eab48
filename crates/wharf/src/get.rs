//! `wharf get`: one file, to a temporary name renamed on success (or
//! appended to with `-c`), optionally over several connections.

use crate::cli::GetArgs;
use crate::connect::{login_for, open};
use crate::names;
use crate::progress::Progress;
use crate::segments;
use anyhow::{Context, Result};
use ftp_client::FtpUrl;
use ftp_proto::command::TransferType;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

pub async fn run(args: GetArgs) -> Result<()> {
    let url = FtpUrl::parse(&args.url).map_err(anyhow::Error::msg)?;
    let Some(name) = url.file_name().map(<[u8]>::to_vec) else {
        crate::usage!(
            "{} names a directory; use `wharf ls` or `wharf mirror`",
            args.url
        );
    };
    let login = login_for(&url)?;
    let mut client = open(&url, &args.conn, &login).await?;
    let ascii = url.transfer_type == Some(TransferType::Ascii);
    let size = if ascii {
        None
    } else {
        client.size(&url.path).await.ok()
    };

    if args.output.as_deref() == Some(std::path::Path::new("-")) {
        let mut stdout = tokio::io::stdout();
        let kind = if ascii {
            TransferType::Ascii
        } else {
            TransferType::Image
        };
        client
            .retrieve_as(kind, &url.path, 0, &mut stdout, &mut |_| {})
            .await?;
        stdout.flush().await?;
        return client.quit().await.map_err(Into::into);
    }
    let target = target_path(args.output, &name)?;
    if args.segments > 1 && !ascii {
        if let Some(total) = size {
            client.quit().await?;
            return segments::fetch(
                &url,
                &args.conn,
                &login,
                &target,
                total,
                args.segments,
                args.resume,
            )
            .await;
        }
    }

    let progress = Progress::new(&names::show(&name), size, args.conn.quiet);
    let offset = if args.resume {
        tokio::fs::metadata(&target)
            .await
            .map(|m| m.len())
            .unwrap_or(0)
    } else {
        0
    };
    if args.resume && size == Some(offset) {
        if !args.conn.quiet {
            eprintln!("{} is complete already ({offset} bytes)", target.display());
        }
        return client.quit().await.map_err(Into::into);
    }
    let write_to = if args.resume {
        target.clone()
    } else {
        names::partial(&target)
    };
    // Not opened for append even when resuming: the kernel splices only
    // into files at a position, so a resumed download seeks to the end.
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(!args.resume)
        .open(&write_to)
        .and_then(|mut f| {
            std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0))?;
            Ok(f)
        })
        .with_context(|| format!("cannot write {}", write_to.display()))?;
    let finished = if ascii {
        let mut file = tokio::fs::File::from_std(file);
        let mut text = crate::text::CrlfToLf::new(&mut file);
        let got = client
            .retrieve_as(
                TransferType::Ascii,
                &url.path,
                offset,
                &mut text,
                &mut |n| progress.set(n),
            )
            .await;
        drop(text);
        match got {
            Ok(_) => sync(&file.into_std().await),
            Err(e) => Err(e.into()),
        }
    } else {
        let got = client
            .retrieve_to_file(&url.path, offset, &file, &mut |n| progress.set(offset + n))
            .await;
        match got {
            Ok(_) => sync(&file),
            Err(e) => Err(e.into()),
        }
    };
    progress.finish();
    if let Err(e) = finished {
        if !args.resume {
            let _ = tokio::fs::remove_file(&write_to).await;
        }
        return Err(e);
    }
    if !args.resume {
        tokio::fs::rename(&write_to, &target)
            .await
            .with_context(|| format!("cannot move the download to {}", target.display()))?;
    }
    client.quit().await?;
    Ok(())
}

/// Puts a finished download on the disk before it is renamed into place.
fn sync(file: &std::fs::File) -> Result<()> {
    file.sync_all().context("cannot finish the local file")
}

/// Where a download goes: `-o PATH` (into it if it is a directory), else
/// the remote name in the current directory.
fn target_path(output: Option<PathBuf>, name: &[u8]) -> Result<PathBuf> {
    let dir = match output {
        Some(path) if !path.is_dir() => return Ok(path),
        Some(dir) => dir,
        None => PathBuf::from("."),
    };
    names::local_child(&dir, name).with_context(|| {
        format!(
            "the remote name {:?} is not a safe local file name; give -o PATH",
            names::show(name)
        )
    })
}
