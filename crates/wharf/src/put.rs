//! `wharf put`: one local file to a URL (a URL ending in `/` keeps the
//! file's name), resuming with `-c` from what the server already has.

use crate::cli::PutArgs;
use crate::connect::{login_for, open};
use crate::progress::Progress;
use anyhow::{Context, Result};
use ftp_client::{FtpUrl, StoreMode};
use ftp_proto::command::TransferType;
use std::io::{Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;

pub async fn run(args: PutArgs) -> Result<()> {
    let url = FtpUrl::parse(&args.url)?;
    let meta = tokio::fs::metadata(&args.path)
        .await
        .with_context(|| format!("cannot read {}", args.path.display()))?;
    if !meta.is_file() {
        crate::usage!(
            "{} is not a file; use `wharf mirror --reverse` for directories",
            args.path.display()
        );
    }
    let remote = if url.is_dir {
        let name = args
            .path
            .file_name()
            .with_context(|| format!("{} has no file name", args.path.display()))?;
        let mut p = url.path.clone();
        p.extend_from_slice(name.as_bytes());
        p
    } else {
        url.path.clone()
    };
    let login = login_for(&url)?;
    let mut client = open(&url, &args.conn, &login).await?;
    let mut file = std::fs::File::open(&args.path)
        .with_context(|| format!("cannot read {}", args.path.display()))?;
    let mut mode = StoreMode::Replace;
    let mut offset = 0;
    if args.resume {
        if let Ok(have) = client.size(&remote).await {
            if have == meta.len() {
                if !args.conn.quiet {
                    crate::errln!("the server has all {have} bytes already");
                }
                return client.quit().await.map_err(Into::into);
            }
            if have < meta.len() {
                offset = have;
                mode = StoreMode::ResumeAt(have);
                file.seek(SeekFrom::Start(have))?;
            }
        }
    }
    let label = String::from_utf8_lossy(&remote).into_owned();
    let progress = Progress::new(&label, Some(meta.len()), args.conn.quiet);
    let kind = url.transfer_type.unwrap_or(TransferType::Image);
    let result = if kind == TransferType::Ascii {
        let mut text = tokio::fs::File::from_std(file);
        client.storlines(&remote, &mut text).await
    } else {
        client
            .store_file(&remote, mode, &file, &mut |n| progress.set(offset + n))
            .await
    };
    progress.finish();
    result?;
    client.quit().await?;
    Ok(())
}
