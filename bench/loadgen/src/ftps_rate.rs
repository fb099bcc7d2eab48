//! `ftps-rate`: FTPS sessions per second, as issue 20 defines one: connect,
//! AUTH TLS, login, PBSZ 0 + PROT P, one small RETR whose data connection
//! resumes the control connection's TLS session (as vsftpd's
//! `require_ssl_reuse` demands), QUIT.
//!
//! `--workers` threads (8) each run sessions back to back for `--secs`
//! seconds (10, at most `--max-cycles` in all): plain blocking sockets and
//! rustls, one session at a time per thread. Every session is a new client:
//! its own session cache, so the control connection makes a full handshake
//! and only the data connection resumes. Prints one JSON line: sessions
//! per second, failures by reason, p50/p99 per session, how many data
//! connections were resumptions, and the load generator's own CPU.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, StreamOwned};

use crate::tls_pipe::{client_config, tls_err};
use crate::{cpu_secs, epsv_port, err, rate_json, Opts, ReplyEnd};

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// What one session needs to know.
struct Plan {
    port: u16,
    user: String,
    pass: String,
    path: String,
    config: ClientConfig,
    name: ServerName<'static>,
}

/// `ftps-rate --port P --user U --pass W --path REMOTE --ca CA [--tls 1.3|1.2]
/// [--suite S] [--server-name localhost] [--workers 8] [--secs 10]
/// [--max-cycles 100000]`.
pub(crate) fn mode_ftps_rate(o: &Opts) -> io::Result<()> {
    let (config, name) = client_config(o)?;
    let plan = Arc::new(Plan {
        port: o
            .req("port")
            .parse()
            .map_err(|_| err("--port wants a number"))?,
        user: o.str("user", "anonymous"),
        pass: o.str("pass", "bench@"),
        path: o.req("path"),
        config,
        name,
    });
    let workers = o.num("workers", 8).clamp(1, 64);
    let secs = Duration::from_secs(o.num("secs", 10).clamp(1, 300));
    let max_cycles = o.num("max-cycles", 100_000);
    let started = AtomicU64::new(0);
    let resumed = AtomicU64::new(0);
    let latencies = Mutex::new(Vec::<f64>::new());
    let reasons = Mutex::new(BTreeMap::<String, u64>::new());
    let c0 = cpu_secs();
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut mine = Vec::new();
                while t0.elapsed() < secs && started.fetch_add(1, Ordering::Relaxed) < max_cycles {
                    let t = Instant::now();
                    match session(&plan) {
                        Ok(was_resumed) => {
                            mine.push(t.elapsed().as_secs_f64() * 1000.0);
                            resumed.fetch_add(u64::from(was_resumed), Ordering::Relaxed);
                        }
                        Err(e) => {
                            let why: String = e.to_string().chars().take(60).collect();
                            *reasons
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .entry(why)
                                .or_insert(0) += 1;
                        }
                    }
                }
                latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(mine);
            });
        }
    });
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - c0;
    let mut l = latencies.into_inner().unwrap_or_else(|p| p.into_inner());
    l.sort_by(|a, b| a.total_cmp(b));
    let reasons = reasons.into_inner().unwrap_or_else(|p| p.into_inner());
    rate_json("ftps-rate", workers, &l, &reasons, wall)
        .int("data_resumed", resumed.load(Ordering::Relaxed))
        .cpu(wall, cpu)
        .print();
    Ok(())
}

/// One whole session; whether its data connection resumed the control
/// connection's TLS session.
fn session(plan: &Plan) -> io::Result<bool> {
    // A new client: nothing cached from an earlier session.
    let mut config = plan.config.clone();
    config.resumption = Resumption::store(Arc::new(ClientSessionMemoryCache::new(4)));
    let config = Arc::new(config);
    let ctl = connect(plan.port)?;
    let mut plain = BufReader::new(ctl);
    expect(&mut plain, &[220])?;
    plain.get_mut().write_all(b"AUTH TLS\r\n")?;
    expect(&mut plain, &[234])?;
    if !plain.buffer().is_empty() {
        return Err(err("bytes after 234 before the TLS handshake"));
    }
    let conn = ClientConnection::new(config.clone(), plan.name.clone()).map_err(tls_err)?;
    let mut ctl = BufReader::new(StreamOwned::new(conn, plain.into_inner()));
    command(&mut ctl, &format!("USER {}", plan.user), &[331, 230])?;
    command(&mut ctl, &format!("PASS {}", plan.pass), &[230, 202])?;
    command(&mut ctl, "PBSZ 0", &[200])?;
    command(&mut ctl, "PROT P", &[200])?;
    command(&mut ctl, "TYPE I", &[200])?;
    let port = epsv_port(&command(&mut ctl, "EPSV", &[229])?)?;
    let data = connect(port)?;
    send(&mut ctl, &format!("RETR {}", plan.path))?;
    let conn = ClientConnection::new(config, plan.name.clone()).map_err(tls_err)?;
    let mut data = StreamOwned::new(conn, data);
    let mut buf = [0u8; 16 * 1024];
    loop {
        match data.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            // A server that closes without close_notify still sent the file.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    let was_resumed = data.conn.handshake_kind() == Some(HandshakeKind::Resumed);
    data.conn.send_close_notify();
    let _ = data.flush();
    drop(data);
    expect(&mut ctl, &[125, 150])?;
    expect(&mut ctl, &[226])?;
    command(&mut ctl, "QUIT", &[221])?;
    Ok(was_resumed)
}

fn connect(port: u16) -> io::Result<TcpStream> {
    let s = TcpStream::connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ok(s)
}

fn send(ctl: &mut BufReader<Tls>, line: &str) -> io::Result<()> {
    let s = ctl.get_mut();
    s.write_all(format!("{line}\r\n").as_bytes())?;
    s.flush()
}

fn command(ctl: &mut BufReader<Tls>, line: &str, ok: &[u16]) -> io::Result<String> {
    send(ctl, line)?;
    let (code, text) = reply(ctl)?;
    if !ok.contains(&code) {
        let shown = if line.starts_with("PASS") {
            "PASS"
        } else {
            line
        };
        return Err(err(format!("{shown}: {text}")));
    }
    Ok(text)
}

fn expect<R: BufRead>(r: &mut R, want: &[u16]) -> io::Result<String> {
    let (code, text) = reply(r)?;
    if !want.contains(&code) {
        return Err(err(format!("wanted {want:?}, got {text}")));
    }
    Ok(text)
}

/// One reply, multi-line or not: its code and last line.
fn reply<R: BufRead>(r: &mut R) -> io::Result<(u16, String)> {
    let mut line = String::new();
    let mut end = ReplyEnd::default();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(err("control connection closed"));
        }
        if let Some(reply) = end.feed(&line)? {
            return Ok(reply);
        }
    }
}
