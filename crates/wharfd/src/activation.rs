//! systemd socket activation (`sd_listen_fds(3)`): when `$LISTEN_PID` is
//! this process, the `$LISTEN_FDS` descriptors from 3 on are listening
//! sockets systemd (or `systemd-socket-activate`) bound for us, and they
//! replace the `listen`, `implicit_listen` and `sftp_listen` addresses. A
//! socket named `ftps` or `implicit` in `$LISTEN_FDNAMES`
//! (`FileDescriptorName=` in the .socket unit) serves implicit FTPS, one
//! named `sftp` serves SFTP, any other plain FTP with AUTH TLS.
//!
//! Each descriptor must be a listening TCP socket; anything else stops the
//! start rather than being served wrongly.

use anyhow::{bail, Context, Result};
use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// The first descriptor systemd passes.
const FIRST_FD: RawFd = 3;

/// What a passed socket serves, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passed {
    Ftp,
    ImplicitFtps,
    Sftp,
}

/// The sockets passed to this process and what each serves; `None` when
/// none were.
pub fn listeners() -> Result<Option<Vec<(TcpListener, Passed)>>> {
    let Ok(pid) = std::env::var("LISTEN_PID") else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        // Meant for another process (we were started by one that got them).
        return Ok(None);
    }
    let count: RawFd = std::env::var("LISTEN_FDS")
        .context("LISTEN_PID is set but LISTEN_FDS is not")?
        .trim()
        .parse()
        .context("LISTEN_FDS is not a number")?;
    if !(1..=64).contains(&count) {
        bail!("LISTEN_FDS={count}: socket activation passed no usable sockets");
    }
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    let mut names = names.split(':');
    (FIRST_FD..FIRST_FD + count)
        .map(|fd| {
            let kind = match names.next() {
                Some("ftps" | "implicit") => Passed::ImplicitFtps,
                Some("sftp") => Passed::Sftp,
                _ => Passed::Ftp,
            };
            let socket =
                adopt(fd).with_context(|| format!("socket activation: descriptor {fd}"))?;
            Ok((socket, kind))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// Takes descriptor `fd` as a non-blocking, close-on-exec TCP listener.
fn adopt(fd: RawFd) -> Result<TcpListener> {
    // SAFETY: F_GETFD only asks whether `fd` is open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        bail!("not open ({})", std::io::Error::last_os_error());
    }
    let mut listening: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `listening`.
    let ret = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut listening as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if ret < 0 || listening == 0 {
        bail!("not a listening socket (use a stream socket with Accept=no)");
    }
    // SAFETY: the protocol hands these descriptors to this process, and
    // nothing else in it uses them.
    let socket = TcpListener::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let addr = socket
        .local_addr()
        .context("not a TCP socket (ListenStream= must be an address and port)")?;
    socket.set_nonblocking(true)?;
    // SAFETY: sets a flag on a descriptor we own.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        bail!("cannot set close-on-exec on {addr}");
    }
    Ok(socket)
}
