//! Runs every library call against a server named by a URL, checking each
//! result, and prints one line per call. The interop tests run it against
//! vsftpd, pure-ftpd, ProFTPD, pyftpdlib and wharfd:
//!
//! `exercise ftp://user:pass@127.0.0.1:2121/scratch/ [--tls] [--cacert F] [--active]`
//!
//! The URL's path must name a writable, empty directory. Exits non-zero on
//! the first call that misbehaves.

use ftp_client::{ClientOptions, FtpClient, FtpUrl, StoreMode, TlsPolicy};
use ftp_proto::command::TransferType;
use ftp_proto::Command;
use std::process::ExitCode;

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        println!("ok   {what}");
        Ok(())
    } else {
        Err(format!("FAIL {what}"))
    }
}

async fn exercise(url: &FtpUrl, opts: ClientOptions) -> Result<(), Box<dyn std::error::Error>> {
    let mut c = FtpClient::connect(&url.host, url.port, opts).await?;
    check(c.welcome().code == 220, "connect and greeting")?;
    c.login(
        url.user.as_deref().unwrap_or("anonymous"),
        url.password.as_ref().map_or("x@", wire::Secret::expose),
    )
    .await?;
    check(true, "login")?;
    let home = c.pwd().await?;
    check(!home.is_empty(), "pwd")?;
    c.cwd(&url.path).await?;
    check(true, "cwd")?;
    let feats = c.feat().await?;
    check(true, &format!("feat ({} features)", feats.len()))?;
    let mlsd = feats
        .iter()
        .any(|f| f.to_ascii_uppercase().starts_with("MLST"));

    let body: Vec<u8> = (0..1_500_000u32).map(|i| (i % 253) as u8).collect();
    let mut src = body.as_slice();
    let sent = c
        .store(b"data.bin", StoreMode::Replace, &mut src, &mut |_| {})
        .await?;
    check(sent == body.len() as u64, "storbinary")?;
    let mut back = Vec::new();
    c.retrieve(b"data.bin", 0, &mut back, &mut |_| {}).await?;
    check(back == body, "retrbinary")?;
    check(c.size(b"data.bin").await? == body.len() as u64, "size")?;
    let mut tail = Vec::new();
    c.retrieve(b"data.bin", 1_000_000, &mut tail, &mut |_| {})
        .await?;
    check(tail == body[1_000_000..], "retrieve with REST")?;
    let mut part = &body[..700_000];
    c.store(b"resumed.bin", StoreMode::Replace, &mut part, &mut |_| {})
        .await?;
    let mut rest = &body[700_000..];
    c.store(
        b"resumed.bin",
        StoreMode::ResumeAt(700_000),
        &mut rest,
        &mut |_| {},
    )
    .await?;
    check(
        c.size(b"resumed.bin").await? == body.len() as u64,
        "store with REST (resumed upload)",
    )?;
    let mut more: &[u8] = b"appended";
    c.store(b"data.bin", StoreMode::Append, &mut more, &mut |_| {})
        .await?;
    check(c.size(b"data.bin").await? == body.len() as u64 + 8, "APPE")?;
    let mut text: &[u8] = b"line one\nline two\n";
    c.storlines(b"text.txt", &mut text).await?;
    let mut lines = Vec::new();
    c.retrlines(&Command::Retr(b"text.txt".to_vec()), &mut |l| {
        lines.push(l.to_vec())
    })
    .await?;
    check(
        lines == vec![b"line one".to_vec(), b"line two".to_vec()],
        "storlines and retrlines",
    )?;
    let mut ascii = Vec::new();
    c.retrieve_as(
        TransferType::Ascii,
        b"text.txt",
        0,
        None,
        &mut ascii,
        &mut |_| {},
    )
    .await?;
    check(
        ascii == b"line one\r\nline two\r\n",
        "ASCII retrieve has CRLF",
    )?;
    check(c.mdtm(b"data.bin").await? > 1_000_000_000, "mdtm")?;
    let made = c.mkd(b"sub").await?;
    check(made.ends_with(b"sub"), "mkd")?;
    c.rename(b"text.txt", b"sub/moved.txt").await?;
    check(true, "rename")?;
    let names = c.nlst(Some(b"sub")).await?;
    check(names.iter().any(|n| n.ends_with(b"moved.txt")), "nlst")?;
    let raw = c.list(None).await?;
    check(raw.windows(8).any(|w| w == b"data.bin"), "dir/list")?;
    let entries = c.entries(None, false).await?;
    check(
        entries
            .iter()
            .any(|e| e.name == b"data.bin" && e.size == Some(body.len() as u64 + 8)),
        "LIST parsed",
    )?;
    if mlsd {
        let entries = c.mlsd(None).await?;
        check(entries.iter().any(|e| e.name == b"sub"), "mlsd")?;
        let fact = c.mlst(b"data.bin").await?;
        check(fact.size == Some(body.len() as u64 + 8), "mlst")?;
    }
    c.cwd(b"sub").await?;
    c.cdup().await?;
    check(true, "cdup")?;
    c.delete(b"sub/moved.txt").await?;
    c.rmd(b"sub").await?;
    check(true, "delete and rmd")?;
    let refused = c.delete(b"no-such-file").await;
    check(
        refused.as_ref().err().and_then(|e| e.code()) == Some(550),
        "errors keep the reply code",
    )?;
    let reply = c.quote(b"NOOP").await?;
    check(reply.code == 200, "sendcmd")?;
    c.voidcmd(&Command::Noop).await?;
    check(true, "voidcmd")?;
    let site = c.quote(b"SITE HELP").await?;
    check(site.code >= 200, "site")?;
    for name in [&b"data.bin"[..], b"resumed.bin"] {
        c.delete(name).await?;
    }
    c.quit().await?;
    check(true, "quit")?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.first().and_then(|u| FtpUrl::parse(u).ok()) else {
        eprintln!(
            "usage: exercise ftp://user:pass@host:port/dir/ [--tls] [--cacert FILE] [--active]"
        );
        return ExitCode::from(2);
    };
    let flag = |f: &str| args.iter().any(|a| a == f);
    let cacert = args
        .iter()
        .position(|a| a == "--cacert")
        .and_then(|i| args.get(i + 1))
        .map(Into::into);
    let opts = ClientOptions {
        tls: if url.tls == TlsPolicy::Implicit {
            TlsPolicy::Implicit
        } else if flag("--tls") {
            TlsPolicy::StartTls
        } else {
            TlsPolicy::Plain
        },
        cacert,
        active: flag("--active"),
        ..ClientOptions::default()
    };
    match exercise(&url, opts).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("{e}");
            ExitCode::FAILURE
        }
    }
}
