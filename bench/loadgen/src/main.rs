//! wharf-bench-loadgen: the load generator of Wharf's benchmark suite.
//!
//! Speaks raw FTP over tokio (no FTP library in the way), prints one JSON
//! object per run on standard output, and reports its own CPU time
//! (getrusage(RUSAGE_SELF): every thread, user + system) over the measured
//! window, so a reader can see whether the load generator was the limit.
//!
//! Modes (each takes `--key value` options; see `usage()`):
//!
//! * `sendfile-limit` - the physical limit: a file's bytes through one plain
//!   loopback TCP connection, sent with sendfile(2) by a blocking thread and
//!   received by the same receive loop the FTP modes use.
//! * `retr` / `stor` - one login, one binary transfer (EPSV), timed from the
//!   transfer command to the final reply. `stor` sends with sendfile(2).
//! * `appe` - one session appending a file to one remote file again and
//!   again; two at once measure an append that waits for another's
//!   (`uploads.rs`).
//! * `burst` - N clients connect at once, log in, RETR one file, QUIT:
//!   aggregate MB/s, failures by reason, p50/p99 time per transfer; with
//!   `--upload`, each STORs a file instead, to one server or two.
//! * `rate` - W workers doing connect + login + QUIT cycles for D seconds.
//! * `list` - one login, LIST of a directory K times.
//! * `idle` - opens N logged-in sessions (with `--ca`, over AUTH TLS),
//!   prints a `ready` JSON line, holds them until standard input closes
//!   (or --hold-secs), then exits.
//! * `tls-send` / `tls-recv` - the FTPS limit line: a file through one TLS
//!   connection between two processes, both on rustls (`tls_pipe.rs`).
//! * `ftps-rate` - W threads running whole FTPS sessions (AUTH TLS, login,
//!   PROT P, one small RETR on a resumed TLS session, QUIT) for D seconds
//!   (`ftps_rate.rs`).
//!
//! Every loop is bounded in count and time, and only 127.0.0.0/8 is allowed.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

mod ftps_rate;
mod tls_pipe;
mod uploads;

const RECV_BUF: usize = 1 << 20;

/// --discard 1: receive with recv(MSG_TRUNC) (no copy to user space).
static DISCARD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn usage() -> ! {
    eprintln!(
        "usage: wharf-bench-loadgen MODE [--key value]...\n\
         modes: sendfile-limit --file F\n\
         \x20      retr  --port P --user U --pass W --path REMOTE\n\
         \x20      stor  --port P --user U --pass W --path REMOTE --file LOCAL\n\
         \x20      appe  --port P --user U --pass W --path REMOTE --file LOCAL [--repeat K] [--secs D]\n\
         \x20      burst --port P --clients N --path REMOTE [--user U --pass W] [--per-ip 16] [--timeout 15 (per client; or --client-timeout)]\n\
         \x20            [--upload LOCAL (STOR it as REMOTE, `{{i}}` = client number)] [--port2 P (odd clients)]\n\
         \x20            [--ca CA [--tls 1.3|1.2] (FTPS: AUTH TLS, PROT P, data resuming the session)]\n\
         \x20      rate  --port P --workers W --secs D [--max-cycles M] [--user U --pass W]\n\
         \x20      list  --port P --user U --pass W --path DIR [--repeat K]\n\
         \x20      idle  --port P --clients N [--concurrency 64] [--hold-secs 300] [--min-mem-avail-mb 3072]\n\
         \x20            [--ca CA [--tls 1.3|1.2] (AUTH TLS before the login)]\n\
         \x20      tls-send --cert CHAIN --key KEY --file F [--tls 1.3|1.2] [--suite S] [--block-kb 64] [--buffer-kb 64]\n\
         \x20      tls-recv --port P --ca CA [--tls 1.3|1.2] [--suite S] [--expect-bytes N] [--sock-buf-kb 0]\n\
         \x20      ftps-rate --port P --user U --pass W --path REMOTE --ca CA [--tls 1.3|1.2] [--workers 8] [--secs 10]\n\
         common: --host 127.0.0.1 (loopback only), --threads 2 (burst/rate/idle)\n\
         user 'anonymous' logs in with password 'bench@'"
    );
    std::process::exit(2)
}

// ------------------------------------------------------------------ options

struct Opts {
    mode: String,
    kv: BTreeMap<String, String>,
}

impl Opts {
    fn parse() -> Opts {
        let mut args = std::env::args().skip(1);
        let mode = args.next().unwrap_or_else(|| usage());
        let mut kv = BTreeMap::new();
        while let Some(k) = args.next() {
            let Some(key) = k.strip_prefix("--") else {
                usage()
            };
            let v = args.next().unwrap_or_else(|| usage());
            kv.insert(key.to_string(), v);
        }
        Opts { mode, kv }
    }
    fn str(&self, k: &str, default: &str) -> String {
        self.kv
            .get(k)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }
    fn req(&self, k: &str) -> String {
        self.kv.get(k).cloned().unwrap_or_else(|| {
            eprintln!("missing --{k}");
            usage()
        })
    }
    fn num(&self, k: &str, default: u64) -> u64 {
        match self.kv.get(k) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("--{k} wants a number");
                usage()
            }),
        }
    }
    fn f64(&self, k: &str, default: f64) -> f64 {
        match self.kv.get(k) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| usage()),
        }
    }
}

#[derive(Clone)]
struct Target {
    host: Ipv4Addr,
    port: u16,
    user: String,
    pass: String,
    /// clients per source address (127.1.x.y); 0: let the kernel pick (127.0.0.1)
    per_ip: u64,
}

impl Target {
    fn from(o: &Opts) -> Target {
        let host: Ipv4Addr = o
            .str("host", "127.0.0.1")
            .parse()
            .unwrap_or_else(|_| usage());
        if host.octets()[0] != 127 {
            eprintln!("refusing a non-loopback target {host}");
            std::process::exit(2);
        }
        let user = o.str("user", "anonymous");
        let pass = o.str("pass", "bench@");
        Target {
            host,
            port: o.req("port").parse().unwrap_or_else(|_| usage()),
            user,
            pass,
            per_ip: o.num("per-ip", 0),
        }
    }
    fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.host, port))
    }
    /// Source address of client `i`: 127.1.X.Y, `per_ip` clients each.
    fn src(&self, i: u64) -> Option<Ipv4Addr> {
        if self.per_ip == 0 {
            return None;
        }
        let j = i / self.per_ip;
        Some(Ipv4Addr::new(127, 1, (j / 250) as u8, (j % 250 + 1) as u8))
    }
}

// ------------------------------------------------------------------ CPU

fn cpu_secs() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

struct Window {
    t0: Instant,
    c0: f64,
}
impl Window {
    fn start() -> Window {
        Window {
            t0: Instant::now(),
            c0: cpu_secs(),
        }
    }
    /// (wall seconds, loadgen CPU seconds)
    fn end(&self) -> (f64, f64) {
        (self.t0.elapsed().as_secs_f64(), cpu_secs() - self.c0)
    }
}

fn mem_available_mb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix("MemAvailable:") {
            let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            return Some(kb / 1024);
        }
    }
    None
}

// ------------------------------------------------------------------ JSON out

#[derive(Default)]
struct Json(Vec<(String, String)>);
impl Json {
    fn num(mut self, k: &str, v: f64) -> Json {
        let s = if v.is_finite() {
            format!("{v}")
        } else {
            "null".into()
        };
        self.0.push((k.into(), s));
        self
    }
    fn int(mut self, k: &str, v: u64) -> Json {
        self.0.push((k.into(), v.to_string()));
        self
    }
    fn str(mut self, k: &str, v: &str) -> Json {
        self.0.push((k.into(), quote(v)));
        self
    }
    fn raw(mut self, k: &str, v: String) -> Json {
        self.0.push((k.into(), v));
        self
    }
    fn cpu(self, wall: f64, cpu: f64) -> Json {
        self.num("wall_s", wall).num("loadgen_cpu_s", cpu).num(
            "loadgen_cpu_pct",
            if wall > 0.0 { 100.0 * cpu / wall } else { 0.0 },
        )
    }
    fn print(self) {
        let body: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}:{}", quote(k), v))
            .collect();
        println!("{{{}}}", body.join(","));
    }
}

fn quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn reasons_json(m: &BTreeMap<String, u64>) -> String {
    let body: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}:{}", quote(k), v))
        .collect();
    format!("{{{}}}", body.join(","))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

// ------------------------------------------------------------------ FTP

/// Fails if `--expect-bytes N` was given and `got` is not N.
fn check_expected(o: &Opts, got: u64) -> io::Result<()> {
    match o.kv.get("expect-bytes") {
        Some(expect) if expect.parse::<u64>().ok() != Some(got) => {
            Err(err(format!("received {got} bytes, expected {expect}")))
        }
        _ => Ok(()),
    }
}

/// Ends the process: 0 after `r` succeeded, else 1 after its error as a
/// JSON line.
fn exit_with(mode: &str, r: io::Result<()>) -> ! {
    if let Err(e) = r {
        Json::default()
            .str("mode", mode)
            .str("error", &e.to_string())
            .print();
        std::process::exit(1);
    }
    std::process::exit(0);
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

async fn connect(t: &Target, port: u16, src: Option<Ipv4Addr>) -> io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    if let Some(ip) = src {
        // Let connect() pick the port per 4-tuple, so many source addresses
        // do not each reserve an ephemeral port at bind() time.
        let one: libc::c_int = 1;
        // SAFETY: plain setsockopt on a socket we own.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        sock.bind(SocketAddr::V4(SocketAddrV4::new(ip, 0)))?;
    }
    sock.connect(t.addr(port)).await
}

/// A control connection: plain, or TLS after AUTH TLS ([`Ctl::secure`]).
struct Ctl<S = TcpStream> {
    s: BufReader<S>,
    src: Option<Ipv4Addr>,
    line: String,
}

impl Ctl {
    async fn open(t: &Target, src: Option<Ipv4Addr>) -> io::Result<Ctl> {
        let s = connect(t, t.port, src).await?;
        s.set_nodelay(true)?;
        let mut c = Ctl {
            s: BufReader::with_capacity(4096, s),
            src,
            line: String::new(),
        };
        let (code, text) = c.reply().await?;
        if code != 220 {
            return Err(err(format!("banner {code} {}", text.trim())));
        }
        Ok(c)
    }

    /// AUTH TLS and the handshake: the same session, now over TLS.
    async fn secure(mut self, tls: &tls_pipe::AsyncTls) -> io::Result<Ctl<TlsStream<TcpStream>>> {
        self.expect("AUTH TLS", &[234]).await?;
        // Nothing follows the 234 before the handshake, so the buffer is empty.
        let tcp = self.s.into_inner();
        let s = tls.connect(tcp).await?;
        Ok(Ctl {
            s: BufReader::with_capacity(4096, s),
            src: self.src,
            line: String::new(),
        })
    }
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Ctl<S> {
    /// One complete reply: (code, last line).
    async fn reply(&mut self) -> io::Result<(u16, String)> {
        let mut end = ReplyEnd::default();
        loop {
            self.line.clear();
            if self.s.read_line(&mut self.line).await? == 0 {
                return Err(err("control connection closed"));
            }
            if let Some(reply) = end.feed(&self.line)? {
                return Ok(reply);
            }
        }
    }

    async fn cmd(&mut self, c: &str) -> io::Result<(u16, String)> {
        self.s
            .get_mut()
            .write_all(format!("{c}\r\n").as_bytes())
            .await?;
        self.reply().await
    }

    async fn expect(&mut self, c: &str, ok: &[u16]) -> io::Result<(u16, String)> {
        let (code, text) = self.cmd(c).await?;
        if !ok.contains(&code) {
            let shown = if c.starts_with("PASS") {
                "PASS ****"
            } else {
                c
            };
            return Err(err(format!("{shown}: {text}")));
        }
        Ok((code, text))
    }

    async fn login(&mut self, t: &Target) -> io::Result<()> {
        let (code, text) = self.cmd(&format!("USER {}", t.user)).await?;
        match code {
            230 => return Ok(()),
            331 | 332 => {}
            _ => return Err(err(format!("USER: {text}"))),
        }
        self.expect(&format!("PASS {}", t.pass), &[230, 202])
            .await?;
        Ok(())
    }

    /// EPSV (PASV when refused) and connect the data connection from our
    /// own source address.
    async fn passive(&mut self, t: &Target) -> io::Result<TcpStream> {
        let (code, text) = self.cmd("EPSV").await?;
        let port = if code == 229 {
            epsv_port(&text)?
        } else {
            let (code, text) = self.cmd("PASV").await?;
            if code != 227 {
                return Err(err(format!("PASV: {text}")));
            }
            let inner = text
                .split('(')
                .nth(1)
                .and_then(|r| r.split(')').next())
                .unwrap_or("");
            let n: Vec<u16> = inner
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect();
            if n.len() != 6 {
                return Err(err(format!("bad PASV reply {text}")));
            }
            n[4] * 256 + n[5]
        };
        let d = connect(t, port, self.src).await?;
        Ok(d)
    }

    async fn quit(&mut self) -> io::Result<()> {
        self.expect("QUIT", &[221]).await.map(|_| ())
    }
}

/// Where a reply ends, its lines fed in order (RFC 959 §4.2: a multi-line
/// reply ends with a line of the first line's code and a space).
#[derive(Default)]
struct ReplyEnd {
    first: Option<u16>,
}

impl ReplyEnd {
    /// The reply's code and last line once `line` ends it.
    fn feed(&mut self, line: &str) -> io::Result<Option<(u16, String)>> {
        let l = line.as_bytes();
        let code = if l.len() >= 3 && l[..3].iter().all(u8::is_ascii_digit) {
            Some((l[0] - b'0') as u16 * 100 + (l[1] - b'0') as u16 * 10 + (l[2] - b'0') as u16)
        } else {
            None
        };
        if self.first.is_none() {
            self.first = Some(code.ok_or_else(|| err(format!("not a reply: {}", line.trim())))?);
        }
        Ok((code == self.first && l.get(3) != Some(&b'-'))
            .then(|| (code.unwrap_or(0), line.trim_end().to_string())))
    }
}

/// The port of a 229 reply: `(|||port|)`.
fn epsv_port(text: &str) -> io::Result<u16> {
    text.split('(')
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|inner| inner.split('|').nth(3))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| err(format!("bad EPSV reply {text}")))
}

/// Reads a data connection to its end; returns (bytes, newlines).
async fn drain(d: &mut TcpStream, buf: &mut [u8], count_lines: bool) -> io::Result<(u64, u64)> {
    let mut total = 0u64;
    let mut lines = 0u64;
    if DISCARD.load(Ordering::Relaxed) && !count_lines {
        // recv(MSG_TRUNC) on TCP drops the bytes in the kernel without
        // copying them to user space: the cheapest possible receiver.
        let fd = d.as_raw_fd();
        loop {
            d.readable().await?;
            let r = d.try_io(Interest::READABLE, || {
                // SAFETY: MSG_TRUNC on TCP discards; buf is valid anyway.
                let n = unsafe {
                    libc::recv(
                        fd,
                        buf.as_mut_ptr() as *mut libc::c_void,
                        1 << 30,
                        libc::MSG_TRUNC,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as u64)
                }
            });
            match r {
                Ok(0) => return Ok((total, 0)),
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
    loop {
        let n = d.read(buf).await?;
        if n == 0 {
            return Ok((total, lines));
        }
        total += n as u64;
        if count_lines {
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
}

/// A transfer command on an open data connection, then its data, then the
/// final reply. Returns (bytes, newlines).
async fn retr_on(
    c: &mut Ctl,
    mut d: TcpStream,
    command: &str,
    buf: &mut [u8],
    count_lines: bool,
) -> io::Result<(u64, u64)> {
    let (code, text) = c.cmd(command).await?;
    if code != 150 && code != 125 {
        return Err(err(format!("{command}: {text}")));
    }
    let got = drain(&mut d, buf, count_lines).await?;
    drop(d);
    let (code, text) = c.reply().await?;
    if code != 226 && code != 250 {
        return Err(err(format!("{command} end: {text}")));
    }
    Ok(got)
}

/// sendfile(2) the first `len` bytes of `file` to a non-blocking tokio socket.
async fn sendfile_async(sock: &TcpStream, file: &std::fs::File, len: u64) -> io::Result<u64> {
    sendfile_chunked(sock, file, len, 8 << 20).await
}

async fn sendfile_chunked(
    sock: &TcpStream,
    file: &std::fs::File,
    len: u64,
    chunk: usize,
) -> io::Result<u64> {
    let mut off: libc::off_t = 0;
    let sfd = sock.as_raw_fd();
    let ffd = file.as_raw_fd();
    while (off as u64) < len {
        sock.writable().await?;
        let want = ((len - off as u64) as usize).min(chunk);
        let res = sock.try_io(Interest::WRITABLE, || {
            // SAFETY: both fds are open for the duration of the call.
            let n = unsafe { libc::sendfile(sfd, ffd, &mut off, want) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match res {
            Ok(0) => return Err(err("sendfile wrote 0 bytes (file shorter than expected?)")),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(off as u64)
}

fn classify(e: &io::Error) -> String {
    let s = e.to_string();
    // Keep reason keys short and few: the reply code, or the error kind.
    if let Some(pos) = s.find(": ") {
        let rest = &s[pos + 2..];
        if rest.len() >= 3 && rest.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
            return format!("{} {}", &s[..pos], &rest[..3]);
        }
    }
    match e.kind() {
        io::ErrorKind::Other => s.chars().take(60).collect(),
        k => format!("{k:?}"),
    }
}

// ------------------------------------------------------------------ modes

/// `sendfile-serve`: the sending half of `sendfile-limit`, in a process of
/// its own as a server would be: prints its port, accepts one connection,
/// sends the file with blocking sendfile(2) calls of --chunk-kb, exits.
fn mode_sendfile_serve(o: &Opts) -> io::Result<()> {
    let file = std::fs::File::open(o.req("file"))?;
    let len = o.num("bytes", file.metadata()?.len());
    let chunk = (o.num("chunk-kb", 8192).clamp(64, 1 << 20) * 1024) as usize;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    println!("{}", listener.local_addr()?.port());
    use std::io::Write;
    std::io::stdout().flush()?;
    let (s, _) = listener.accept()?;
    let mut off: libc::off_t = 0;
    while (off as u64) < len {
        let want = ((len - off as u64) as usize).min(chunk);
        // SAFETY: blocking sendfile between fds we own.
        let n = unsafe { libc::sendfile(s.as_raw_fd(), file.as_raw_fd(), &mut off, want) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            break;
        }
    }
    Ok(())
}

fn children_cpu_secs() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

async fn mode_sendfile_limit(o: &Opts) -> io::Result<()> {
    let path = o.req("file");
    let me = std::env::current_exe()?;
    let mut child = std::process::Command::new(me)
        .args([
            "sendfile-serve",
            "--file",
            &path,
            "--chunk-kb",
            &o.str("chunk-kb", "8192"),
        ])
        .stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null())
        .spawn()?;
    let mut line = String::new();
    {
        use std::io::BufRead;
        let out = child.stdout.take().ok_or_else(|| err("no stdout"))?;
        std::io::BufReader::new(out).read_line(&mut line)?;
    }
    let port: u16 = line
        .trim()
        .parse()
        .map_err(|_| err(format!("sender said {line:?}")))?;
    let mut buf = vec![0u8; RECV_BUF];
    let c0 = children_cpu_secs();
    let w = Window::start();
    let mut d = TcpStream::connect(("127.0.0.1", port)).await?;
    let (got, _) = drain(&mut d, &mut buf, false).await?;
    let (wall, cpu) = w.end();
    let status = child.wait()?;
    let sender_cpu = children_cpu_secs() - c0;
    if !status.success() {
        return Err(err(format!("sender exited with {status}")));
    }
    Json::default()
        .str("mode", "sendfile-limit")
        .int("bytes", got)
        .num("mb_s", got as f64 / wall / 1e6)
        .num("sender_cpu_s", sender_cpu)
        .num("sender_cpu_pct", 100.0 * sender_cpu / wall)
        .cpu(wall, cpu)
        .print();
    Ok(())
}

async fn mode_retr(o: &Opts) -> io::Result<()> {
    let t = Target::from(o);
    let path = o.req("path");
    let mut buf = vec![0u8; RECV_BUF];
    let mut c = Ctl::open(&t, t.src(0)).await?;
    c.login(&t).await?;
    c.expect("TYPE I", &[200]).await?;
    let w = Window::start();
    let d = c.passive(&t).await?;
    let (got, _) = retr_on(&mut c, d, &format!("RETR {path}"), &mut buf, false).await?;
    let (wall, cpu) = w.end();
    let _ = c.quit().await;
    check_expected(o, got)?;
    Json::default()
        .str("mode", "retr")
        .int("bytes", got)
        .num("mb_s", got as f64 / wall / 1e6)
        .cpu(wall, cpu)
        .print();
    Ok(())
}

async fn mode_stor(o: &Opts) -> io::Result<()> {
    let t = Target::from(o);
    let path = o.req("path");
    let file = std::fs::File::open(o.req("file"))?;
    let len = o.num("bytes", file.metadata()?.len());
    let mut c = Ctl::open(&t, t.src(0)).await?;
    c.login(&t).await?;
    c.expect("TYPE I", &[200]).await?;
    let w = Window::start();
    let d = c.passive(&t).await?;
    let sent = match uploads::store_on(&mut c, d, &format!("STOR {path}"), &file, len).await? {
        uploads::Stored::Acked(n) => n,
        uploads::Stored::Refused(_, text) => return Err(err(format!("STOR: {text}"))),
    };
    let (wall, cpu) = w.end();
    let _ = c.quit().await;
    Json::default()
        .str("mode", "stor")
        .int("bytes", sent)
        .num("mb_s", sent as f64 / wall / 1e6)
        .cpu(wall, cpu)
        .print();
    Ok(())
}

async fn mode_list(o: &Opts) -> io::Result<()> {
    let t = Target::from(o);
    let path = o.req("path");
    let repeat = o.num("repeat", 1).clamp(1, 1000);
    let mut buf = vec![0u8; 256 * 1024];
    let mut c = Ctl::open(&t, t.src(0)).await?;
    c.login(&t).await?;
    let mut times = Vec::new();
    let mut bytes = 0;
    let mut lines = 0;
    let w = Window::start();
    for _ in 0..repeat {
        let t0 = Instant::now();
        let d = c.passive(&t).await?;
        let (b, l) = retr_on(&mut c, d, &format!("LIST {path}"), &mut buf, true).await?;
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        bytes = b;
        lines = l;
    }
    let (wall, cpu) = w.end();
    let _ = c.quit().await;
    let ms: Vec<String> = times.iter().map(|x| format!("{x:.3}")).collect();
    Json::default()
        .str("mode", "list")
        .int("bytes", bytes)
        .int("lines", lines)
        .raw("ms", format!("[{}]", ms.join(",")))
        .cpu(wall, cpu)
        .print();
    Ok(())
}

struct Outcome {
    ok: bool,
    bytes: u64,
    secs: f64,
    reason: String,
    /// Seconds from the start to the 230 of the login, if it got one.
    login_s: Option<f64>,
}

/// Microseconds from a client's start to its login's 230 (u64::MAX: none).
type LoginAt = Arc<AtomicU64>;

const STAGES: [&str; 7] = [
    "connect+banner",
    "login",
    "TYPE",
    "EPSV+data connect",
    "RETR data",
    "final reply",
    "QUIT",
];
/// The stages of `burst --upload` (the STOR, its data and its reply are one).
const UPLOAD_STAGES: [&str; 7] = [
    "connect+banner",
    "login",
    "TYPE",
    "EPSV+data connect",
    "STOR",
    "STOR",
    "QUIT",
];

async fn one_download(
    t: Target,
    i: u64,
    path: String,
    expect: u64,
    stage: Arc<std::sync::atomic::AtomicUsize>,
    login_at: LoginAt,
    tls: Option<Arc<tls_pipe::AsyncTls>>,
) -> io::Result<u64> {
    let t0 = Instant::now();
    stage.store(0, Ordering::Relaxed);
    let c = Ctl::open(&t, t.src(i)).await?;
    let fetch = Fetch {
        t: &t,
        path: &path,
        expect,
        stage: &stage,
        login_at: &login_at,
        t0,
    };
    match tls {
        None => fetch.run(c, None).await,
        Some(tls) => {
            // A new client: its own session cache, so its data
            // connection resumes its own control connection's session.
            let mine = tls.fresh();
            let c = c.secure(&mine).await?;
            fetch.run(c, Some(&mine)).await
        }
    }
}

/// One burst client's download after its greeting (and AUTH TLS).
struct Fetch<'a> {
    t: &'a Target,
    path: &'a str,
    expect: u64,
    stage: &'a std::sync::atomic::AtomicUsize,
    login_at: &'a AtomicU64,
    t0: Instant,
}

impl Fetch<'_> {
    async fn run<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
        &self,
        mut c: Ctl<S>,
        tls: Option<&tls_pipe::AsyncTls>,
    ) -> io::Result<u64> {
        let set = |k: usize| self.stage.store(k, Ordering::Relaxed);
        set(1);
        c.login(self.t).await?;
        self.login_at
            .store(self.t0.elapsed().as_micros() as u64, Ordering::Relaxed);
        if tls.is_some() {
            c.expect("PBSZ 0", &[200]).await?;
            c.expect("PROT P", &[200]).await?;
        }
        set(2);
        c.expect("TYPE I", &[200]).await?;
        set(3);
        let mut d = c.passive(self.t).await?;
        set(4);
        let command = format!("RETR {}", self.path);
        let (code, text) = c.cmd(&command).await?;
        if code != 150 && code != 125 {
            return Err(err(format!("{command}: {text}")));
        }
        let mut buf = vec![0u8; 256 * 1024];
        let got = match tls {
            None => drain(&mut d, &mut buf, false).await?.0,
            Some(tls) => {
                let mut s = tls.connect(d).await?;
                let mut got = 0u64;
                loop {
                    match s.read(&mut buf).await? {
                        0 => break,
                        n => got += n as u64,
                    }
                }
                got
            }
        };
        set(5);
        let (code, text) = c.reply().await?;
        if code != 226 && code != 250 {
            return Err(err(format!("RETR end: {text}")));
        }
        if self.expect > 0 && got != self.expect {
            return Err(err(format!(
                "short transfer: {got} of {} bytes",
                self.expect
            )));
        }
        set(6);
        let _ = c.quit().await;
        Ok(got)
    }
}

async fn mode_burst(o: &Opts) -> io::Result<()> {
    let t = Target::from(o);
    let n = o.num("clients", 50).clamp(1, 20000);
    let path = o.req("path");
    let expect = o.num("expect-bytes", 0);
    // Per client: --timeout (15 s), or --client-timeout where a driver's
    // own option is already called `timeout`.
    let timeout = Duration::from_secs_f64(o.f64("client-timeout", o.f64("timeout", 15.0)));
    // --upload LOCAL: each client STORs LOCAL as --path with `{i}` replaced
    // by its number; --port2 P: odd clients go to a second server.
    let upload = uploads::Upload::open(o)?;
    // --ca CA: each client AUTH TLS, PBSZ 0, PROT P, and a data connection
    // resuming its control connection's session.
    let tls = tls_pipe::AsyncTls::from(o)?.map(Arc::new);
    let stages = if upload.is_some() {
        UPLOAD_STAGES
    } else {
        STAGES
    };
    let port2 = o.num("port2", 0);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut handles = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut t = t.clone();
        if port2 != 0 && i % 2 == 1 {
            t.port = u16::try_from(port2).unwrap_or_else(|_| usage());
        }
        let path = path.replace("{i}", &i.to_string());
        let upload = upload.clone();
        let tls = tls.clone();
        let mut rx = rx.clone();
        handles.push(tokio::spawn(async move {
            let _ = rx.wait_for(|go| *go).await;
            let t0 = Instant::now();
            let stage = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let login_at: LoginAt = Arc::new(AtomicU64::new(u64::MAX));
            let client = async {
                match &upload {
                    Some(up) => up.one(&t, i, &path, &stage, &login_at).await,
                    None => {
                        one_download(
                            t.clone(),
                            i,
                            path.clone(),
                            expect,
                            stage.clone(),
                            login_at.clone(),
                            tls.clone(),
                        )
                        .await
                    }
                }
            };
            let r = tokio::time::timeout(timeout, client).await;
            let secs = t0.elapsed().as_secs_f64();
            let login_s = match login_at.load(Ordering::Relaxed) {
                u64::MAX => None,
                us => Some(us as f64 / 1e6),
            };
            match r {
                Ok(Ok(bytes)) => Outcome {
                    ok: true,
                    bytes,
                    secs,
                    reason: String::new(),
                    login_s,
                },
                Ok(Err(e)) => Outcome {
                    ok: false,
                    bytes: 0,
                    secs,
                    reason: format!(
                        "{}: {}",
                        stages[stage.load(Ordering::Relaxed)],
                        classify(&e)
                    ),
                    login_s,
                },
                Err(_) => Outcome {
                    ok: false,
                    bytes: 0,
                    secs,
                    reason: format!("{}: timeout", stages[stage.load(Ordering::Relaxed)]),
                    login_s,
                },
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let w = Window::start();
    let _ = tx.send(true);
    let mut outs = Vec::with_capacity(n as usize);
    for h in handles {
        outs.push(h.await.map_err(|e| err(format!("task: {e}")))?);
    }
    let (wall, cpu) = w.end();
    let mut times: Vec<f64> = outs.iter().filter(|x| x.ok).map(|x| x.secs).collect();
    times.sort_by(|a, b| a.total_cmp(b));
    let ok = times.len() as u64;
    let bytes: u64 = outs.iter().map(|x| x.bytes).sum();
    let mut reasons = BTreeMap::new();
    for x in outs.iter().filter(|x| !x.ok) {
        *reasons.entry(x.reason.clone()).or_insert(0u64) += 1;
    }
    // Time to the last successful transfer (failures may end earlier or at the timeout).
    let last_ok = times.last().copied().unwrap_or(wall);
    // Logins alone: when each client had its 230, and how many a second
    // the server admitted until the last of them.
    let mut logins: Vec<f64> = outs.iter().filter_map(|x| x.login_s).collect();
    logins.sort_by(|a, b| a.total_cmp(b));
    let login_last = logins.last().copied().unwrap_or(f64::NAN);
    Json::default()
        .str("mode", "burst")
        .int("clients", n)
        .int("ok", ok)
        .int("failed", n - ok)
        .raw("reasons", reasons_json(&reasons))
        .int("bytes", bytes)
        .num("mb_s", bytes as f64 / last_ok / 1e6)
        .num("last_ok_s", last_ok)
        .num("p50_s", pct(&times, 50.0))
        .num("p99_s", pct(&times, 99.0))
        .num("max_s", times.last().copied().unwrap_or(f64::NAN))
        .int("logins_ok", logins.len() as u64)
        .num("login_last_s", login_last)
        .num("login_p50_s", pct(&logins, 50.0))
        .num("login_p99_s", pct(&logins, 99.0))
        .num("logins_per_s", logins.len() as f64 / login_last)
        .cpu(wall, cpu)
        .print();
    Ok(())
}

async fn one_cycle(t: &Target, src: Option<Ipv4Addr>) -> io::Result<()> {
    let mut c = Ctl::open(t, src).await?;
    c.login(t).await?;
    c.quit().await
}

async fn mode_rate(o: &Opts) -> io::Result<()> {
    let t = Target::from(o);
    let workers = o.num("workers", 8).clamp(1, 1000);
    let secs = o.f64("secs", 3.0).clamp(0.1, 120.0);
    let max_cycles = o.num("max-cycles", 1_000_000);
    let started = Arc::new(AtomicU64::new(0));
    let reasons = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let lat = Arc::new(Mutex::new(Vec::<f64>::new()));
    let w = Window::start();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut hs = Vec::new();
    for wi in 0..workers {
        let t = t.clone();
        let started = started.clone();
        let reasons = reasons.clone();
        let lat = lat.clone();
        hs.push(tokio::spawn(async move {
            let src = t.src(wi);
            let mut mine = Vec::new();
            while Instant::now() < deadline && started.fetch_add(1, Ordering::Relaxed) < max_cycles
            {
                let t0 = Instant::now();
                match tokio::time::timeout(Duration::from_secs(10), one_cycle(&t, src)).await {
                    Ok(Ok(())) => mine.push(t0.elapsed().as_secs_f64() * 1000.0),
                    Ok(Err(e)) => {
                        *reasons
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .entry(classify(&e))
                            .or_insert(0) += 1
                    }
                    Err(_) => {
                        *reasons
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .entry("timeout".into())
                            .or_insert(0) += 1
                    }
                }
            }
            lat.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
        }));
    }
    for h in hs {
        let _ = h.await;
    }
    let (wall, cpu) = w.end();
    let mut l = lat.lock().unwrap_or_else(|p| p.into_inner()).clone();
    l.sort_by(|a, b| a.total_cmp(b));
    let reasons = reasons.lock().unwrap_or_else(|p| p.into_inner()).clone();
    rate_json("rate", workers, &l, &reasons, wall)
        .cpu(wall, cpu)
        .print();
    Ok(())
}

/// What a rate mode reports: cycles done and failed (by reason), per
/// second over `wall`, and the p50/p99 of `sorted_ms`.
fn rate_json(
    mode: &str,
    workers: u64,
    sorted_ms: &[f64],
    reasons: &BTreeMap<String, u64>,
    wall: f64,
) -> Json {
    Json::default()
        .str("mode", mode)
        .int("workers", workers)
        .int("ok", sorted_ms.len() as u64)
        .int("failed", reasons.values().sum())
        .raw("reasons", reasons_json(reasons))
        .num("per_s", sorted_ms.len() as f64 / wall)
        .num("p50_ms", pct(sorted_ms, 50.0))
        .num("p99_ms", pct(sorted_ms, 99.0))
}

/// A session `idle` holds open.
enum Held {
    Plain(Ctl),
    Tls(Box<Ctl<TlsStream<TcpStream>>>),
}

impl Held {
    async fn cmd(&mut self, c: &str) -> io::Result<(u16, String)> {
        match self {
            Held::Plain(ctl) => ctl.cmd(c).await,
            Held::Tls(ctl) => ctl.cmd(c).await,
        }
    }
}

async fn mode_idle(o: &Opts) -> io::Result<()> {
    let t = Target::from(o);
    // --ca CA: AUTH TLS before the login, so every held session keeps TLS
    // on its control connection.
    let tls = tls_pipe::AsyncTls::from(o)?.map(Arc::new);
    let n = o.num("clients", 1000).clamp(1, 20000);
    let conc = o.num("concurrency", 64).clamp(1, 1000) as usize;
    let hold = Duration::from_secs(o.num("hold-secs", 300).min(3600));
    let min_avail = o.num("min-mem-avail-mb", 3072);
    let open_deadline = Instant::now() + Duration::from_secs(o.num("open-secs", 240));
    let sem = Arc::new(tokio::sync::Semaphore::new(conc));
    let sessions = Arc::new(Mutex::new(Vec::<Held>::with_capacity(n as usize)));
    let reasons = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let w = Window::start();
    let mut hs = Vec::new();
    let mut stopped = String::new();
    for i in 0..n {
        if i % 100 == 0 {
            if let Some(avail) = mem_available_mb() {
                if avail < min_avail {
                    stopped = format!("MemAvailable {avail} MB < {min_avail} MB");
                    break;
                }
            }
        }
        if Instant::now() > open_deadline {
            stopped = "open deadline".into();
            break;
        }
        let permit = sem
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| err(e.to_string()))?;
        let t = t.clone();
        let tls = tls.clone();
        let sessions = sessions.clone();
        let reasons = reasons.clone();
        hs.push(tokio::spawn(async move {
            let _permit = permit;
            let mut last = String::new();
            for _attempt in 0..3 {
                let r = tokio::time::timeout(Duration::from_secs(10), async {
                    let c = Ctl::open(&t, t.src(i)).await?;
                    Ok::<Held, io::Error>(match &tls {
                        Some(tls) => {
                            let mut c = c.secure(tls).await?;
                            c.login(&t).await?;
                            Held::Tls(Box::new(c))
                        }
                        None => {
                            let mut c = c;
                            c.login(&t).await?;
                            Held::Plain(c)
                        }
                    })
                })
                .await;
                match r {
                    Ok(Ok(c)) => {
                        sessions.lock().unwrap_or_else(|p| p.into_inner()).push(c);
                        return;
                    }
                    Ok(Err(e)) => last = classify(&e),
                    Err(_) => last = "timeout".into(),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            *reasons
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(last)
                .or_insert(0) += 1;
        }));
    }
    for h in hs {
        let _ = h.await;
    }
    let (wall, cpu) = w.end();
    let ok = sessions.lock().unwrap_or_else(|p| p.into_inner()).len() as u64;
    let reasons = reasons.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Json::default()
        .str("mode", "idle")
        .str("state", "ready")
        .int("clients", n)
        .int("ok", ok)
        .int("failed", reasons.values().sum())
        .raw("reasons", reasons_json(&reasons))
        .str("stopped", &stopped)
        .cpu(wall, cpu)
        .print();
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // Hold until standard input closes or says anything, bounded by --hold-secs.
    let mut stdin = tokio::io::stdin();
    let mut b = [0u8; 64];
    let _ = tokio::time::timeout(hold, stdin.read(&mut b)).await;
    // Check that the sessions are still alive: a NOOP on a sample of them.
    let mut alive = 0u64;
    let mut checked = 0u64;
    {
        let mut v = std::mem::take(&mut *sessions.lock().unwrap_or_else(|p| p.into_inner()));
        let step = (v.len() / 50).max(1);
        for c in v.iter_mut().step_by(step) {
            checked += 1;
            if let Ok(Ok((200, _))) =
                tokio::time::timeout(Duration::from_secs(5), c.cmd("NOOP")).await
            {
                alive += 1;
            }
        }
    }
    Json::default()
        .str("mode", "idle")
        .str("state", "done")
        .int("noop_checked", checked)
        .int("noop_ok", alive)
        .print();
    Ok(())
}

fn main() {
    let o = Opts::parse();
    if o.mode == "sendfile-serve" {
        if let Err(e) = mode_sendfile_serve(&o) {
            eprintln!("sendfile-serve: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
    // The rustls pair: blocking, one connection each, no runtime.
    let tls = match o.mode.as_str() {
        "tls-send" => Some(tls_pipe::mode_tls_send(&o)),
        "tls-recv" => Some(tls_pipe::mode_tls_recv(&o)),
        "ftps-rate" => Some(ftps_rate::mode_ftps_rate(&o)),
        _ => None,
    };
    if let Some(r) = tls {
        exit_with(&o.mode, r);
    }
    DISCARD.store(o.num("discard", 0) == 1, Ordering::Relaxed);
    let multi = matches!(o.mode.as_str(), "burst" | "rate" | "idle");
    let rt = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(o.num("threads", 2).clamp(1, 64) as usize)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1)
        }
    };
    let limit = Duration::from_secs(o.num("max-secs", 900).min(3600));
    let r = rt.block_on(async {
        let fut = async {
            match o.mode.as_str() {
                "sendfile-limit" => mode_sendfile_limit(&o).await,
                "retr" => mode_retr(&o).await,
                "stor" => mode_stor(&o).await,
                "appe" => uploads::mode_appe(&o).await,
                "list" => mode_list(&o).await,
                "burst" => mode_burst(&o).await,
                "rate" => mode_rate(&o).await,
                "idle" => mode_idle(&o).await,
                _ => usage(),
            }
        };
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => Err(err(format!("gave up after --max-secs {}", limit.as_secs()))),
        }
    });
    // Sessions held by `idle` are closed by the exit itself.
    exit_with(&o.mode, r);
}
