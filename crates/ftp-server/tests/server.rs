//! End-to-end tests of the server library over real loopback sockets: a
//! server on port 0, a small raw FTP client written here, and checks of
//! the exact replies and of what ends up on disk. Interop with clients
//! nobody here wrote lives in `tests/interop` (Python, curl, lftp, wget).

// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

use ftp_server::accounts::password::hash_password;
use ftp_server::accounts::{Account, AccountStatus, AccountStore, SqliteStore};
use ftp_server::{Listener, Server, ServerOptions};
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wire::LineReader;

const PASSWORD: &str = "alice-secret-pw";

struct TestServer {
    addr: SocketAddr,
    data: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    async fn start(tune: impl FnOnce(&mut ServerOptions)) -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let mut opts = ServerOptions::new(data.path());
        opts.login_fail_delay = Duration::from_millis(10);
        tune(&mut opts);
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
        std::fs::create_dir_all(data.path().join("pub")).unwrap();
        std::fs::write(data.path().join("pub/readme.txt"), b"public\n").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::new(opts, Arc::new(store)).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(vec![Listener::plain(listener)], async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        TestServer {
            addr,
            data,
            stop: Some(tx),
            task,
        }
    }

    fn home(&self) -> PathBuf {
        self.data.path().join("home/alice")
    }

    async fn client(&self) -> Client {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let mut c = Client {
            ctrl: LineReader::new(stream, 1 << 20),
        };
        assert_eq!(c.reply().await.0, 220);
        c
    }

    async fn alice(&self) -> Client {
        let mut c = self.client().await;
        c.expect("USER alice", 331).await;
        c.expect(&format!("PASS {PASSWORD}"), 230).await;
        c.expect("TYPE I", 200).await;
        c
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

struct Client {
    ctrl: LineReader<TcpStream>,
}

impl Client {
    async fn send_raw(&mut self, bytes: &[u8]) {
        self.ctrl.get_mut().write_all(bytes).await.unwrap();
    }

    /// Reads one (possibly multi-line) reply: code and all lines.
    async fn reply(&mut self) -> (u16, Vec<String>) {
        let first = tokio::time::timeout(Duration::from_secs(10), self.ctrl.read_line())
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&first).into_owned();
        let code: u16 = text[..3].parse().unwrap();
        let mut lines = vec![text.clone()];
        if text.as_bytes()[3] == b'-' {
            loop {
                let line = self.ctrl.read_line().await.unwrap();
                let line = String::from_utf8_lossy(&line).into_owned();
                let end = line.len() >= 4 && line[..3] == text[..3] && line.as_bytes()[3] == b' ';
                lines.push(line);
                if end {
                    break;
                }
            }
        }
        (code, lines)
    }

    async fn cmd(&mut self, line: &str) -> (u16, Vec<String>) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    async fn expect(&mut self, line: &str, code: u16) -> Vec<String> {
        let (got, lines) = self.cmd(line).await;
        assert_eq!(got, code, "{line} -> {lines:?}");
        lines
    }

    /// EPSV, then connects to the announced port.
    async fn passive(&mut self) -> TcpStream {
        let lines = self.expect("EPSV", 229).await;
        let port = ftp_proto::hostport::parse_epsv_reply(lines[0].as_bytes()).unwrap();
        TcpStream::connect(("127.0.0.1", port)).await.unwrap()
    }

    async fn upload(&mut self, name: &str, data: &[u8]) {
        let mut conn = self.passive().await;
        self.expect(&format!("STOR {name}"), 150).await;
        conn.write_all(data).await.unwrap();
        drop(conn);
        assert_eq!(self.reply().await.0, 226);
    }

    async fn download(&mut self, command: &str) -> Vec<u8> {
        let mut conn = self.passive().await;
        self.expect(command, 150).await;
        let mut out = Vec::new();
        conn.read_to_end(&mut out).await.unwrap();
        assert_eq!(self.reply().await.0, 226);
        out
    }

    /// Waits for the server to close the connection.
    async fn closed(&mut self) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.ctrl.read_line()).await,
            Ok(Err(_))
        )
    }
}

fn part_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".wharf-part-")
        })
        .count()
}

#[tokio::test]
async fn upload_download_and_file_commands() {
    let srv = TestServer::start(|_| {}).await;
    let mut c = srv.alice().await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    c.upload("big.bin", &data).await;
    assert_eq!(std::fs::read(srv.home().join("big.bin")).unwrap(), data);
    assert_eq!(c.download("RETR big.bin").await, data);
    assert_eq!(c.expect("SIZE big.bin", 213).await[0], "213 3000000");
    assert!(c.expect("MDTM big.bin", 213).await[0].len() == 18);
    c.expect("REST 2999990", 350).await;
    assert_eq!(c.download("RETR big.bin").await, &data[2_999_990..]);
    c.expect("MKD sub dir", 257).await;
    c.expect("CWD sub dir", 250).await;
    assert_eq!(
        c.expect("PWD", 257).await[0],
        "257 \"/sub dir\" is the current directory."
    );
    c.expect("CDUP", 250).await;
    c.expect("RNFR big.bin", 350).await;
    c.expect("RNTO sub dir/moved.bin", 250).await;
    assert!(srv.home().join("sub dir/moved.bin").exists());
    c.expect("RNTO x", 503).await;
    c.expect("DELE sub dir/moved.bin", 250).await;
    c.expect("RMD sub dir", 250).await;
    c.expect("DELE nothing", 550).await;
    c.expect("QUIT", 221).await;
    srv.stop().await;
}

#[tokio::test]
async fn ascii_mode_converts_line_endings() {
    let srv = TestServer::start(|_| {}).await;
    let mut c = srv.alice().await;
    c.expect("TYPE A", 200).await;
    c.upload("t.txt", b"one\r\ntwo\r\n").await;
    assert_eq!(
        std::fs::read(srv.home().join("t.txt")).unwrap(),
        b"one\ntwo\n"
    );
    assert_eq!(c.download("RETR t.txt").await, b"one\r\ntwo\r\n");
    srv.stop().await;
}

#[tokio::test]
async fn listings_handle_names_that_are_not_utf8() {
    let srv = TestServer::start(|_| {}).await;
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(srv.home().join(name), b"latin1").unwrap();
    let mut c = srv.alice().await;
    let mlsd = c.download("MLSD").await;
    assert!(
        mlsd.windows(11).any(|w| w == b" caf\xe9.txt\r\n"),
        "{mlsd:?}"
    );
    let nlst = c.download("NLST").await;
    assert_eq!(nlst, b"caf\xe9.txt\r\n");
    let list = c.download("LIST -la").await;
    assert!(list.ends_with(b" caf\xe9.txt\r\n"));
    c.send_raw(b"RETR caf\xe9.txt\r\n").await;
    c.send_raw(b"").await;
    assert_eq!(c.reply().await.0, 425); // no EPSV yet: refused before 150
    let mut conn = c.passive().await;
    c.send_raw(b"RETR caf\xe9.txt\r\n").await;
    assert_eq!(c.reply().await.0, 150);
    let mut got = Vec::new();
    conn.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"latin1");
    assert_eq!(c.reply().await.0, 226);
    srv.stop().await;
}

#[tokio::test]
async fn login_rules() {
    let srv = TestServer::start(|o| o.max_login_failures = 2).await;
    let mut c = srv.client().await;
    for cmd in ["PWD", "LIST", "RETR x", "CWD /", "MKD d", "PASV"] {
        c.expect(cmd, 530).await;
    }
    c.expect("PASS x", 503).await;
    c.expect("USER alice", 331).await;
    assert_eq!(c.expect("PASS wrong", 530).await[0], "530 Login incorrect.");
    c.expect("USER nobody", 331).await;
    assert_eq!(c.cmd("PASS wrong").await.0, 421);
    assert!(c.closed().await);
    srv.stop().await;
}

#[tokio::test]
async fn anonymous_is_read_only_and_jailed() {
    let srv = TestServer::start(|_| {}).await;
    let mut c = srv.client().await;
    c.expect("USER anonymous", 331).await;
    c.expect("PASS me@example.com", 230).await;
    assert_eq!(c.download("RETR readme.txt").await, b"public\r\n"); // TYPE A is the default
    c.expect("TYPE I", 200).await;
    assert_eq!(c.download("RETR readme.txt").await, b"public\n");
    for cmd in ["MKD d", "DELE readme.txt", "RNFR readme.txt", "RMD /"] {
        c.expect(cmd, 550).await;
    }
    c.passive().await;
    c.expect("STOR new", 550).await;
    c.expect("APPE readme.txt", 550).await;
    c.expect("CWD ../../../..", 250).await;
    assert_eq!(
        c.expect("PWD", 257).await[0],
        "257 \"/\" is the current directory."
    );
    c.expect("RETR ../../home/alice/x", 550).await; // resolves to /home/alice/x inside pub
    c.expect("SIZE /../wharf.db", 550).await;
    c.expect("SIZE ../wharf.db", 550).await;
    srv.stop().await;

    let srv = TestServer::start(|o| o.anonymous = false).await;
    let mut c = srv.client().await;
    c.expect("USER ftp", 331).await;
    c.expect("PASS x", 530).await;
    srv.stop().await;
}

#[tokio::test]
async fn hostile_lines_and_unknown_commands() {
    let srv = TestServer::start(|o| o.max_overlong_lines = 2).await;
    let mut c = srv.client().await;
    let long = format!("USER {}\r\n", "a".repeat(100_000));
    c.send_raw(long.as_bytes()).await;
    assert_eq!(c.reply().await.0, 500);
    c.expect("NOOP", 200).await;
    c.expect("FOO bar", 500).await;
    c.expect("SMNT x", 502).await;
    c.expect("MODE S", 530).await;
    c.expect("USER alice", 331).await;
    c.expect(&format!("PASS {PASSWORD}"), 230).await;
    c.expect("MODE B", 504).await;
    c.expect("STRU R", 504).await;
    c.expect("TYPE E", 504).await;
    c.expect("EPRT |9|x|1|", 522).await;
    c.send_raw(long.as_bytes()).await;
    assert_eq!(c.reply().await.0, 500);
    c.send_raw(long.as_bytes()).await;
    assert_eq!(c.reply().await.0, 421);
    assert!(c.closed().await);
    srv.stop().await;
}

#[tokio::test]
async fn bounce_and_foreign_targets_refused() {
    let srv = TestServer::start(|_| {}).await;
    let mut c = srv.alice().await;
    c.expect("PORT 127,0,0,2,200,0", 500).await;
    c.expect("PORT 127,0,0,1,0,25", 500).await;
    c.expect("EPRT |1|127.0.0.2|5000|", 500).await;
    c.expect("EPRT |2|::1|5000|", 522).await;
    c.expect("LIST", 425).await;
    c.expect("EPSV ALL", 200).await;
    c.expect("PASV", 503).await;
    c.expect("PORT 127,0,0,1,200,0", 503).await;
    c.expect("EPSV", 229).await;
    srv.stop().await;
}

#[tokio::test]
async fn active_mode_transfer() {
    let srv = TestServer::start(|_| {}).await;
    let mut c = srv.alice().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    c.expect(&format!("EPRT |1|127.0.0.1|{port}|"), 200).await;
    c.send_raw(b"RETR ../../../../etc/hostname\r\n").await;
    assert_eq!(c.reply().await.0, 550);
    std::fs::write(srv.home().join("a"), b"active bytes").unwrap();
    c.expect("RETR a", 150).await;
    let (mut conn, _) = listener.accept().await.unwrap();
    let mut got = Vec::new();
    conn.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"active bytes");
    assert_eq!(c.reply().await.0, 226);
    srv.stop().await;
}

#[tokio::test]
async fn abor_during_upload_keeps_old_file() {
    let srv = TestServer::start(|_| {}).await;
    std::fs::write(srv.home().join("keep"), b"original").unwrap();
    let mut c = srv.alice().await;
    let mut conn = c.passive().await;
    c.expect("STOR keep", 150).await;
    conn.write_all(&vec![b'x'; 200_000]).await.unwrap();
    c.send_raw(b"STAT\r\n").await;
    assert_eq!(c.reply().await.0, 213);
    c.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n").await;
    assert_eq!(c.reply().await.0, 426);
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(std::fs::read(srv.home().join("keep")).unwrap(), b"original");
    assert_eq!(part_files(&srv.home()), 0);
    c.expect("NOOP", 200).await;
    c.expect("ABOR", 226).await;
    srv.stop().await;
}

#[tokio::test]
async fn vanished_client_leaves_old_file_intact() {
    let srv = TestServer::start(|_| {}).await;
    std::fs::write(srv.home().join("keep"), b"original").unwrap();
    std::fs::write(srv.home().join("log"), b"12345").unwrap();
    let mut c = srv.alice().await;
    let mut conn = c.passive().await;
    c.expect("STOR keep", 150).await;
    conn.write_all(&vec![b'x'; 500_000]).await.unwrap();
    drop(c);
    drop(conn);
    let mut c = srv.alice().await;
    let mut conn = c.passive().await;
    c.expect("APPE log", 150).await;
    conn.write_all(b"678").await.unwrap();
    drop(c);
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(conn);
    for _ in 0..50 {
        if part_files(&srv.home()) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(std::fs::read(srv.home().join("keep")).unwrap(), b"original");
    assert_eq!(std::fs::read(srv.home().join("log")).unwrap(), b"12345");
    assert_eq!(part_files(&srv.home()), 0);
    srv.stop().await;
}

#[tokio::test]
async fn slow_lines_and_idle_sessions_are_closed() {
    let srv = TestServer::start(|o| {
        o.line_timeout_before_login = Duration::from_millis(400);
        o.idle_timeout = Duration::from_millis(600);
    })
    .await;
    let mut slow = srv.client().await;
    slow.send_raw(b"US").await;
    let mut idle = srv.client().await;
    let start = std::time::Instant::now();
    assert_eq!(slow.reply().await.0, 421);
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(idle.reply().await.0, 421);
    assert!(idle.closed().await);
    srv.stop().await;
}

#[tokio::test]
async fn connection_limit_per_address() {
    let srv = TestServer::start(|o| o.max_sessions_per_ip = 2).await;
    let _a = srv.client().await;
    let _b = srv.client().await;
    let mut third = TcpStream::connect(srv.addr).await.unwrap();
    let mut buf = String::new();
    third.read_to_string(&mut buf).await.unwrap();
    assert!(buf.starts_with("421 "), "{buf}");
    srv.stop().await;
}

/// EPSV's port, without connecting.
async fn epsv_port(c: &mut Client) -> u16 {
    let lines = c.expect("EPSV", 229).await;
    ftp_proto::hostport::parse_epsv_reply(lines[0].as_bytes()).unwrap()
}

// Issue 13 (TLS details): idle sessions cannot pin passive ports. An
// unused listener closes after data_connect_timeout, and one address holds
// at most max_passive_per_ip listeners over all its sessions.
#[tokio::test]
async fn unused_passive_listeners_expire_and_are_capped_per_address() {
    let srv = TestServer::start(|o| {
        o.data_connect_timeout = Duration::from_millis(600);
        o.max_passive_per_ip = 2;
    })
    .await;
    std::fs::write(srv.home().join("f.txt"), b"hello\n").unwrap();
    let (mut a, mut b, mut c) = (srv.alice().await, srv.alice().await, srv.alice().await);
    let first = epsv_port(&mut a).await;
    // a second EPSV of one session replaces its listener, not counted twice
    let a_port = epsv_port(&mut a).await;
    assert!(TcpStream::connect(("127.0.0.1", first)).await.is_err() || first == a_port);
    epsv_port(&mut b).await;
    let (code, lines) = c.cmd("EPSV").await;
    assert_eq!(code, 425, "{lines:?}");
    assert!(lines[0].contains("limit 2"), "{lines:?}");
    assert_eq!(c.cmd("PASV").await.0, 425);

    tokio::time::sleep(Duration::from_millis(900)).await;
    // a's listener is gone, and so is its transfer setup
    assert!(TcpStream::connect(("127.0.0.1", a_port)).await.is_err());
    let (code, lines) = a.cmd("RETR f.txt").await;
    assert_eq!(code, 425, "{lines:?}");
    // the expired ones no longer count
    assert_eq!(c.download("RETR f.txt").await, b"hello\n");

    // a transfer command that comes before the expiry waits the full
    // timeout for its connection, counted from the command
    let port = epsv_port(&mut a).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    a.send_raw(b"RETR f.txt\r\n").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    assert_eq!(a.reply().await.0, 150);
    let mut got = Vec::new();
    conn.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello\n");
    assert_eq!(a.reply().await.0, 226);
    srv.stop().await;
}

#[tokio::test]
async fn informational_replies() {
    let srv = TestServer::start(|_| {}).await;
    let mut c = srv.client().await;
    let feat = c.expect("FEAT", 211).await;
    for f in [" EPSV", " UTF8", " SIZE", " MDTM", " REST STREAM", " TVFS"] {
        assert!(feat.iter().any(|l| l == f), "{f} missing from {feat:?}");
    }
    assert!(feat.iter().any(|l| l.starts_with(" MLST type*;size*;")));
    assert_eq!(c.expect("SYST", 215).await[0], "215 UNIX Type: L8");
    assert!(c.expect("HELP", 214).await.len() > 3);
    c.expect("OPTS UTF8 ON", 200).await;
    c.expect("STAT", 211).await;
    c.expect("USER alice", 331).await;
    c.expect(&format!("PASS {PASSWORD}"), 230).await;
    std::fs::write(srv.home().join("f"), b"abc").unwrap();
    let mlst = c.expect("MLST f", 250).await;
    assert!(mlst[1].starts_with(" type=file;size=3;"), "{mlst:?}");
    assert_eq!(
        c.expect("OPTS MLST size;", 200).await[0],
        "200 MLST OPTS size;"
    );
    assert_eq!(c.expect("MLST f", 250).await[1], " size=3; /f");
    let stat = c.expect("STAT /", 212).await;
    assert!(stat.iter().any(|l| l.ends_with(" f")), "{stat:?}");
    c.expect("STOU", 425).await;
    let mut conn = c.passive().await;
    let opening = c.expect("STOU f", 150).await;
    assert_eq!(opening[0], "150 FILE: f.1");
    conn.write_all(b"u").await.unwrap();
    drop(conn);
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(std::fs::read(srv.home().join("f.1")).unwrap(), b"u");
    srv.stop().await;
}

#[tokio::test]
async fn shutdown_tells_idle_sessions() {
    let srv = TestServer::start(|_| {}).await;
    let mut c = srv.alice().await;
    let stop = srv.stop();
    let (_, reply) = tokio::join!(stop, c.reply());
    assert_eq!(reply.0, 421);
}

#[tokio::test]
async fn registration_waits_for_approval() {
    let srv = TestServer::start(|_| {}).await;
    let mut c = srv.client().await;
    c.expect("SITE REGISTER carol short", 501).await;
    c.expect("SITE REGISTER Carol long-enough-pw", 553).await;
    c.expect("SITE REGISTER root long-enough-pw", 550).await;
    c.expect("SITE REGISTER alice long-enough-pw", 550).await;
    c.expect("SITE REGISTER carol long-enough-pw", 200).await;
    c.expect("USER carol", 331).await;
    assert_eq!(
        c.expect("PASS wrong-password", 530).await[0],
        "530 Login incorrect."
    );
    c.expect("USER carol", 331).await;
    let refused = c.expect("PASS long-enough-pw", 530).await;
    assert!(refused[0].contains("not approved"), "{refused:?}");
    // Attempts that reach the store (alice, carol, dave) count towards the
    // hourly limit of 3 per address; the fourth is refused.
    c.expect("SITE REGISTER dave long-enough-pw", 200).await;
    c.expect("SITE REGISTER erin long-enough-pw", 450).await;
    srv.stop().await;

    let srv =
        TestServer::start(|o| o.registration = ftp_server::registration::RegistrationPolicy::Off)
            .await;
    let mut c = srv.client().await;
    c.expect("SITE REGISTER carol long-enough-pw", 502).await;
    srv.stop().await;
}

#[tokio::test]
async fn quota_holds_to_the_byte() {
    let srv =
        TestServer::start(|o| o.registration = ftp_server::registration::RegistrationPolicy::Open)
            .await;
    let store = SqliteStore::open(&srv.data.path().join("wharf.db"))
        .await
        .unwrap();
    store.set_quota("alice", Some(1000)).await.unwrap();
    let mut c = srv.alice().await;
    c.upload("a", &[1; 600]).await;
    c.upload("b", &[2; 400]).await;
    // At the limit nothing new is started, not even an empty file, and
    // nothing is left behind.
    let conn = c.passive().await;
    c.expect("STOR c", 552).await;
    drop(conn);
    assert!(!srv.home().join("c").exists());
    assert_eq!(part_files(&srv.home()), 0);
    // Nor an append, which leaves the file at its old length.
    let conn = c.passive().await;
    c.expect("APPE a", 552).await;
    drop(conn);
    assert_eq!(std::fs::read(srv.home().join("a")).unwrap(), vec![1; 600]);
    // One byte more than the quota is refused mid-transfer.
    c.expect("DELE b", 250).await;
    c.upload("b", &[2; 399]).await;
    let mut conn = c.passive().await;
    c.expect("STOR c", 150).await;
    conn.write_all(&[3; 2]).await.unwrap();
    drop(conn);
    assert_eq!(c.reply().await.0, 552);
    assert!(!srv.home().join("c").exists());
    assert_eq!(part_files(&srv.home()), 0);
    c.upload("b", &[2; 400]).await;
    // Replacing a file counts only the difference.
    c.upload("a", &[4; 600]).await;
    let quota = c.expect("SITE QUOTA", 211).await;
    assert_eq!(quota[2], " used=1000;limit=1000;free=0;in-flight=0;");
    c.expect("DELE b", 250).await;
    c.expect("RNFR a", 350).await;
    c.expect("RNTO b", 250).await;
    c.upload("c", &[5; 400]).await;
    let quota = c.expect("SITE QUOTA", 211).await;
    assert_eq!(quota[2], " used=1000;limit=1000;free=0;in-flight=0;");
    // A new limit applies to the running session.
    store.set_quota("alice", None).await.unwrap();
    c.upload("d", &[6; 5000]).await;
    assert!(c.expect("SITE QUOTA", 211).await[2].starts_with(" used=6000;limit=none;"));
    srv.stop().await;
}

#[tokio::test]
async fn concurrent_sessions_share_one_quota() {
    let srv = TestServer::start(|_| {}).await;
    let store = SqliteStore::open(&srv.data.path().join("wharf.db"))
        .await
        .unwrap();
    store.set_quota("alice", Some(1_000_000)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let mut c = srv.alice().await;
        tasks.push(tokio::spawn(async move {
            let mut conn = c.passive().await;
            c.expect(&format!("STOR f{i}"), 150).await;
            let _ = conn.write_all(&vec![7u8; 300_000]).await;
            drop(conn);
            c.reply().await.0
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    let ok = codes.iter().filter(|&&c| c == 226).count();
    assert_eq!(ok, 3, "{codes:?}");
    assert!(codes.iter().all(|&c| c == 226 || c == 552), "{codes:?}");
    let on_disk: u64 = std::fs::read_dir(srv.home())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(on_disk, 900_000);
    assert_eq!(
        store.find("alice").await.unwrap().unwrap().used_bytes,
        900_000
    );
    srv.stop().await;
}
