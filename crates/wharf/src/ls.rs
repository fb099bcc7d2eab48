//! `wharf ls`: a directory listing as the server sends it (LIST), or the
//! names alone (NLST) with `-1`.

use crate::cli::LsArgs;
use crate::connect::{login_for, open};
use anyhow::Result;
use ftp_client::FtpUrl;
use std::io::Write;

pub async fn run(args: LsArgs) -> Result<()> {
    let url = FtpUrl::parse(&args.url)?;
    let login = login_for(&url)?;
    let mut client = open(&url, &args.conn, &login).await?;
    let path = (!url.path.is_empty()).then_some(url.path.as_slice());
    let mut out = crate::term::stdout();
    if args.names {
        for name in client.nlst(path).await? {
            out.write_all(&name)?;
            out.write_all(b"\n")?;
        }
    } else {
        let raw = client.list(path).await?;
        for line in raw.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            out.write_all(line.strip_suffix(b"\r").unwrap_or(line))?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    client.quit().await?;
    Ok(())
}
