//! The systemd notification protocol (`sd_notify(3)`), written by hand:
//! one datagram of `KEY=VALUE` lines to the socket in `$NOTIFY_SOCKET` (a
//! path, or `@name` in the abstract namespace). Without `$NOTIFY_SOCKET`
//! (not started by systemd with `Type=notify`) every call does nothing.
//!
//! `wharfd` sends `READY=1` once it accepts clients, `RELOADING=1` and then
//! `READY=1` around a SIGHUP reload, `STOPPING=1` at a stop signal, and
//! `WATCHDOG=1` every half `$WATCHDOG_USEC` from its async runtime, so a
//! wedged runtime is restarted by systemd (`WatchdogSec=`).

use anyhow::{bail, Context, Result};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::time::Duration;

/// Where notifications go; a no-op when systemd did not ask for them.
#[derive(Debug, Clone, Default)]
pub struct Notifier(Option<Arc<Target>>);

#[derive(Debug)]
struct Target {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` names. Call it before dropping root:
    /// the socket is created then (sending needs no privilege).
    pub fn from_env() -> Result<Notifier> {
        let Some(name) = std::env::var_os("NOTIFY_SOCKET") else {
            return Ok(Notifier(None));
        };
        let bytes = name.as_encoded_bytes();
        let addr = match bytes.split_first() {
            Some((b'@', abstract_name)) => SocketAddr::from_abstract_name(abstract_name),
            Some((b'/', _)) => SocketAddr::from_pathname(&name),
            _ => bail!("NOTIFY_SOCKET={name:?} is neither a path nor @name"),
        }
        .with_context(|| format!("bad NOTIFY_SOCKET {name:?}"))?;
        let socket = UnixDatagram::unbound().context("cannot create the notification socket")?;
        Ok(Notifier(Some(Arc::new(Target { socket, addr }))))
    }

    /// Sends `state` (newline-separated `KEY=VALUE` lines); a failure is
    /// logged, never fatal.
    pub fn send(&self, state: &str) {
        if let Some(target) = &self.0 {
            if let Err(e) = target.socket.send_to_addr(state.as_bytes(), &target.addr) {
                tracing::warn!(error = %e, state, "cannot notify systemd");
            }
        }
    }

    /// `RELOADING=1` with the monotonic time systemd asks for.
    pub fn reloading(&self) {
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading the configuration",
            monotonic_usec()
        ));
    }

    /// Sends `WATCHDOG=1` every half watchdog interval, forever, when
    /// systemd set one for this process.
    pub async fn watchdog(self) {
        let Some(interval) = watchdog_interval() else {
            return;
        };
        let mut tick = tokio::time::interval(interval / 2);
        loop {
            tick.tick().await;
            self.send("WATCHDOG=1");
        }
    }
}

/// `$WATCHDOG_USEC` when `$WATCHDOG_PID` is unset or names this process.
fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        if pid.to_str()?.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs * 1_000_000 + nanos / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let target = Target {
            socket: UnixDatagram::unbound().unwrap(),
            addr: SocketAddr::from_pathname(&path).unwrap(),
        };
        let notifier = Notifier(Some(Arc::new(target)));
        notifier.send("READY=1");
        notifier.reloading();
        let mut buf = [0u8; 256];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let n = listener.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{text}");
        Notifier::default().send("READY=1"); // nothing to send to: no-op
    }
}
