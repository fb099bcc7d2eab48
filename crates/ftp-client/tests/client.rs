//! The client against a real server: our own `wharfd` library, started in
//! process on port 0 (plain, explicit TLS and implicit TLS with a
//! self-signed certificate). Interop with vsftpd, pure-ftpd, ProFTPD and
//! pyftpdlib runs from `tests/interop` through the `wharf` binary.

#![allow(clippy::unwrap_used)]

use ftp_client::{Classify, ClientOptions, FtpClient, StoreMode, TlsPolicy};
use ftp_server::accounts::password::hash_password;
use ftp_server::accounts::{Account, AccountStatus, AccountStore, SqliteStore};
use ftp_server::tls::{self_signed, TlsOptions};
use ftp_server::{Listener, Server, ServerOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

const PASSWORD: &str = "alice-secret-pw";

struct TestServer {
    plain: SocketAddr,
    implicit: SocketAddr,
    data: tempfile::TempDir,
    cert: PathBuf,
}

async fn start(require_tls: bool) -> TestServer {
    let data = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_path = data.path().join("cert.pem");
    let key_path = data.path().join("key.pem");
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let mut opts = ServerOptions::new(data.path());
    let tls = TlsOptions::new(cert_path.clone(), key_path);
    opts.tls = Some(if require_tls { tls.required() } else { tls });
    let store = SqliteStore::open(&opts.account_db()).await.unwrap();
    store
        .create(&Account {
            name: "alice".into(),
            password_hash: hash_password(PASSWORD.as_bytes()).unwrap(),
            home: None,
            status: AccountStatus::Active,
            created_at: 0,
            registered_from: None,
            contact: None,
            quota_bytes: None,
            used_bytes: 0,
        })
        .await
        .unwrap();
    std::fs::create_dir_all(data.path().join("home/alice")).unwrap();
    let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let implicit = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addrs = (plain.local_addr().unwrap(), implicit.local_addr().unwrap());
    let server = Server::new(opts, Arc::new(store)).unwrap();
    tokio::spawn(server.run(
        vec![Listener::plain(plain), Listener::implicit_tls(implicit)],
        std::future::pending(),
    ));
    TestServer {
        plain: addrs.0,
        implicit: addrs.1,
        data,
        cert: cert_path,
    }
}

impl TestServer {
    async fn login(&self, tls: TlsPolicy, active: bool) -> FtpClient {
        let port = if tls == TlsPolicy::Implicit {
            self.implicit.port()
        } else {
            self.plain.port()
        };
        let opts = ClientOptions {
            tls,
            active,
            cacert: Some(self.cert.clone()),
            ..ClientOptions::default()
        };
        let mut c = FtpClient::connect("127.0.0.1", port, opts).await.unwrap();
        c.login("alice", PASSWORD).await.unwrap();
        c
    }

    fn home(&self) -> PathBuf {
        self.data.path().join("home/alice")
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

async fn round_trip(c: &mut FtpClient, name: &[u8], body: &[u8]) {
    let mut source = body;
    let mut seen = 0;
    let sent = c
        .store(name, StoreMode::Replace, &mut source, &mut |n| seen = n)
        .await
        .unwrap();
    assert_eq!(sent as usize, body.len());
    assert_eq!(seen as usize, body.len());
    let mut out = Vec::new();
    c.retrieve(name, 0, &mut out, &mut |_| {}).await.unwrap();
    assert_eq!(out, body);
}

#[tokio::test]
async fn store_file_sends_from_the_files_position_plain_and_tls() {
    use std::io::{Seek, SeekFrom, Write};
    let srv = start(false).await;
    let body = pattern(5_000_000);
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&body).unwrap();
    for mode in [TlsPolicy::Plain, TlsPolicy::StartTls] {
        let mut c = srv.login(mode, false).await;
        file.seek(SeekFrom::Start(1_000_000)).unwrap();
        let mut seen = 0;
        let sent = c
            .store_file(b"part.bin", StoreMode::Replace, &file, &mut |n| seen = n)
            .await
            .unwrap();
        assert_eq!((sent, seen), (4_000_000, 4_000_000), "{mode:?}");
        let stored = std::fs::read(srv.home().join("part.bin")).unwrap();
        assert!(stored == body[1_000_000..], "{mode:?}: content differs");
        c.quit().await.unwrap();
    }
}

/// A download is held against the size it was announced with: a file
/// that is longer is stopped at the size (the control connection stays
/// usable), one that is shorter is an error after the server's 226.
#[tokio::test]
async fn downloads_are_held_to_the_announced_size() {
    use ftp_client::FtpError;
    let srv = start(false).await;
    let body = pattern(3_000_000);
    std::fs::write(srv.home().join("sized.bin"), &body).unwrap();
    for mode in [TlsPolicy::Plain, TlsPolicy::StartTls] {
        let mut c = srv.login(mode, false).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let file = std::fs::File::create(&path).unwrap();
        let got = c
            .retrieve_to_file(b"sized.bin", 0, Some(1_000_000), &file, &mut |_| {})
            .await;
        assert!(
            matches!(got, Err(FtpError::SizeMismatch { expected: 1_000_000, received }) if received > 1_000_000),
            "{mode:?}: {got:?}"
        );
        assert!(std::fs::metadata(&path).unwrap().len() <= 1_000_000);
        c.noop().await.unwrap();
        let file = std::fs::File::create(&path).unwrap();
        let got = c
            .retrieve_to_file(b"sized.bin", 1_000, Some(4_000_000), &file, &mut |_| {})
            .await;
        assert!(
            matches!(
                got,
                Err(FtpError::SizeMismatch {
                    expected: 4_000_000,
                    received: 3_000_000
                })
            ),
            "{mode:?}: {got:?}"
        );
        assert!(got.is_err_and(|e| e.is_transient()));
        let mut out = Vec::new();
        let n = c
            .retrieve_as(
                ftp_proto::command::TransferType::Image,
                b"sized.bin",
                0,
                Some(3_000_000),
                &mut out,
                &mut |_| {},
            )
            .await
            .unwrap();
        assert_eq!(n, 3_000_000);
        assert!(out == body, "{mode:?}: content differs");
        c.quit().await.unwrap();
    }
}

#[tokio::test]
async fn every_operation_in_plain_passive_and_active() {
    let srv = start(false).await;
    for active in [false, true] {
        let mut c = srv.login(TlsPolicy::Plain, active).await;
        let body = pattern(3_000_000);
        round_trip(&mut c, b"big.bin", &body).await;
        assert_eq!(c.size(b"big.bin").await.unwrap(), 3_000_000);
        assert!(c.mdtm(b"big.bin").await.unwrap() > 1_600_000_000);
        let mut tail = Vec::new();
        c.retrieve(b"big.bin", 2_999_000, &mut tail, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(tail, &body[2_999_000..]);
        let mut more: &[u8] = b"+more";
        c.store(b"big.bin", StoreMode::Append, &mut more, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(c.size(b"big.bin").await.unwrap(), 3_000_005);
        let mut resumed: &[u8] = b"XY";
        c.store(
            b"big.bin",
            StoreMode::ResumeAt(10),
            &mut resumed,
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(c.size(b"big.bin").await.unwrap(), 12);
        assert_eq!(c.mkd(b"sub dir").await.unwrap(), b"/sub dir");
        c.cwd(b"sub dir").await.unwrap();
        assert_eq!(c.pwd().await.unwrap(), b"/sub dir");
        c.cdup().await.unwrap();
        c.rename(b"big.bin", b"sub dir/moved.bin").await.unwrap();
        let names = c.nlst(Some(b"sub dir")).await.unwrap();
        assert_eq!(names, vec![b"moved.bin".to_vec()]);
        let entries = c.mlsd(Some(b"sub dir")).await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].size, Some(12));
        let listed = c.entries(Some(b"sub dir"), false).await.unwrap();
        assert_eq!(listed[0].name, b"moved.bin");
        let fact = c.mlst(b"sub dir/moved.bin").await.unwrap();
        assert_eq!(fact.size, Some(12));
        c.delete(b"sub dir/moved.bin").await.unwrap();
        c.rmd(b"sub dir").await.unwrap();
        let err = c.delete(b"nothing").await.unwrap_err();
        assert_eq!(err.code(), Some(550));
        assert!(err.is_permanent());
        assert!(c.feat().await.unwrap().iter().any(|f| f == "EPSV"));
        c.quit().await.unwrap();
    }
}

#[tokio::test]
async fn names_are_bytes() {
    let srv = start(false).await;
    let mut c = srv.login(TlsPolicy::Plain, false).await;
    round_trip(&mut c, b"caf\xe9 \xff.txt", b"latin-1 name").await;
    assert!(srv
        .home()
        .join(std::ffi::OsStr::new(unsafe_free_name()))
        .exists());
    let names = c.nlst(None).await.unwrap();
    assert_eq!(names, vec![b"caf\xe9 \xff.txt".to_vec()]);
    let mut lines = Vec::new();
    c.retrlines(&ftp_proto::Command::List(Vec::new()), &mut |l| {
        lines.push(l.to_vec())
    })
    .await
    .unwrap();
    assert!(lines[0].ends_with(b"caf\xe9 \xff.txt"));
}

fn unsafe_free_name() -> &'static std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(b"caf\xe9 \xff.txt")
}

#[tokio::test]
async fn explicit_and_implicit_tls_resume_sessions() {
    let srv = start(true).await;
    for mode in [TlsPolicy::StartTls, TlsPolicy::Implicit] {
        let mut c = srv.login(mode, false).await;
        assert!(c.is_tls());
        // Many transfers in one session, uploads and downloads mixed: each
        // data connection must resume the session (the server requires it).
        for i in 0..6 {
            round_trip(&mut c, format!("f{i}").as_bytes(), &pattern(100_000 + i)).await;
        }
        for i in 0..4 {
            let mut body: &[u8] = b"upload only";
            c.store(
                format!("u{i}").as_bytes(),
                StoreMode::Replace,
                &mut body,
                &mut |_| {},
            )
            .await
            .unwrap();
        }
        assert_eq!(c.nlst(None).await.unwrap().len(), 10);
        c.quit().await.unwrap();
    }
}

#[tokio::test]
async fn untrusted_certificate_is_refused() {
    let srv = start(false).await;
    let other = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed(&["localhost".into()]).unwrap();
    std::fs::write(other.path().join("other.pem"), cert).unwrap();
    let opts = ClientOptions {
        tls: TlsPolicy::StartTls,
        cacert: Some(other.path().join("other.pem")),
        ..ClientOptions::default()
    };
    let err = FtpClient::connect("127.0.0.1", srv.plain.port(), opts)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
}
