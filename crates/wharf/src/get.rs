//! `wharf get`: one file (see [`crate::download`]: a temporary name
//! renamed on success, checked against the announced size, kept for
//! `-c`), or over several connections ([`crate::segments`]).

use crate::cli::GetArgs;
use crate::connect::{login_for, open};
use crate::download;
use crate::names;
use crate::progress::Progress;
use crate::segments;
use anyhow::{Context, Result};
use ftp_client::FtpUrl;
use ftp_proto::command::TransferType;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

pub async fn run(args: GetArgs) -> Result<()> {
    let url = FtpUrl::parse(&args.url)?;
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
            .retrieve_as(kind, &url.path, 0, size, &mut stdout, &mut |_| {})
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
    let req = download::Request {
        remote: &url.path,
        target: &target,
        size,
        ascii,
        resume: args.resume,
        mtime: None,
    };
    let got = download::fetch(&mut client, &req, &mut |n| progress.set(n)).await;
    progress.finish();
    let got = got?;
    if args.resume && got == 0 && !args.conn.quiet {
        crate::errln!("{} is complete already", target.display());
    }
    client.quit().await?;
    Ok(())
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
