//! Uploads under the server's guarantees: one STOR or APPE on an open data
//! connection ([`store_on`]), the `appe` mode (one session appending to one
//! file again and again, run twice at once to measure an append that waits
//! for another session's), and the per-client upload of `burst --upload`.

use super::*;

/// How an upload ended.
pub(crate) enum Stored {
    /// 226/250: the server acknowledged these bytes.
    Acked(u64),
    /// Any other reply, to the command or at the end: (code, line).
    Refused(u16, String),
}

/// Sends `command` (STOR or APPE), then the first `len` bytes of `file` by
/// sendfile(2) on `d`, then reads the final reply. A server that refuses
/// mid-transfer (a quota reached) may reset the data connection: the
/// verdict is then read from the control connection, not the send error.
pub(crate) async fn store_on(
    c: &mut Ctl,
    mut d: TcpStream,
    command: &str,
    file: &std::fs::File,
    len: u64,
) -> io::Result<Stored> {
    let (code, text) = c.cmd(command).await?;
    if code != 150 && code != 125 {
        return Ok(Stored::Refused(code, text));
    }
    let sent = sendfile_async(&d, file, len).await;
    if sent.is_ok() {
        d.shutdown().await?;
    }
    drop(d);
    let (code, text) = c.reply().await?;
    match (code, sent) {
        (226 | 250, Ok(n)) => Ok(Stored::Acked(n)),
        (226 | 250, Err(e)) => Err(err(format!("{command}: {code} after a failed send: {e}"))),
        _ => Ok(Stored::Refused(code, text)),
    }
}

/// `appe --path REMOTE --file LOCAL [--repeat K] [--secs D]`: one session
/// appends LOCAL to REMOTE up to K times or for D seconds, each APPE on its
/// own data connection. A 450 (another session is writing the file) is
/// counted and the APPE tried again; any other refusal ends the run.
/// Reports the bytes the server acknowledged, so a driver can check the
/// file's final size against the sum over every appender.
pub(crate) async fn mode_appe(o: &Opts) -> io::Result<()> {
    let t = Target::from(o);
    let path = o.req("path");
    let file = std::fs::File::open(o.req("file"))?;
    let len = file.metadata()?.len();
    let repeat = o.num("repeat", 1000).clamp(1, 100_000);
    let secs = Duration::from_secs_f64(o.f64("secs", 10.0).clamp(0.1, 600.0));
    let mut c = Ctl::open(&t, t.src(0)).await?;
    c.login(&t).await?;
    c.expect("TYPE I", &[200]).await?;
    let command = format!("APPE {path}");
    let (mut acked, mut appends, mut busy) = (0u64, 0u64, 0u64);
    let mut ms = Vec::new();
    let w = Window::start();
    while appends < repeat && w.t0.elapsed() < secs {
        let t0 = Instant::now();
        let d = c.passive(&t).await?;
        match store_on(&mut c, d, &command, &file, len).await? {
            Stored::Acked(n) => {
                acked += n;
                appends += 1;
                ms.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            Stored::Refused(450, _) => busy += 1,
            Stored::Refused(_, text) => return Err(err(format!("{command}: {text}"))),
        }
    }
    let (wall, cpu) = w.end();
    let _ = c.quit().await;
    ms.sort_by(|a, b| a.total_cmp(b));
    Json::default()
        .str("mode", "appe")
        .int("appends", appends)
        .int("busy", busy)
        .int("bytes", acked)
        .num("mb_s", acked as f64 / wall / 1e6)
        .num("p50_ms", pct(&ms, 50.0))
        .num("p99_ms", pct(&ms, 99.0))
        .num("max_ms", ms.last().copied().unwrap_or(f64::NAN))
        .cpu(wall, cpu)
        .print();
    Ok(())
}

/// What `burst --upload LOCAL` sends: LOCAL's bytes, opened once.
#[derive(Clone)]
pub(crate) struct Upload {
    pub(crate) file: Arc<std::fs::File>,
    pub(crate) len: u64,
}

impl Upload {
    pub(crate) fn open(o: &Opts) -> io::Result<Option<Upload>> {
        match o.kv.get("upload") {
            None => Ok(None),
            Some(p) => {
                let file = std::fs::File::open(p)?;
                let len = file.metadata()?.len();
                Ok(Some(Upload {
                    file: Arc::new(file),
                    len,
                }))
            }
        }
    }

    /// One client of an upload burst: login, STOR `path`, QUIT. A refusal
    /// is an error whose text starts with the reply's code, so the burst's
    /// reasons count 552s apart from failures.
    pub(crate) async fn one(
        &self,
        t: &Target,
        i: u64,
        path: &str,
        stage: &std::sync::atomic::AtomicUsize,
        login_at: &AtomicU64,
    ) -> io::Result<u64> {
        let set = |k: usize| stage.store(k, Ordering::Relaxed);
        let t0 = Instant::now();
        set(0);
        let mut c = Ctl::open(t, t.src(i)).await?;
        set(1);
        c.login(t).await?;
        login_at.store(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
        set(2);
        c.expect("TYPE I", &[200]).await?;
        set(3);
        let d = c.passive(t).await?;
        set(4);
        let stored =
            match store_on(&mut c, d, &format!("STOR {path}"), &self.file, self.len).await? {
                Stored::Acked(n) => {
                    set(6);
                    Ok(n)
                }
                Stored::Refused(_, text) => Err(err(text)),
            };
        let _ = c.quit().await;
        stored
    }
}
