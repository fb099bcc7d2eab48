//! Setting an integer socket option that the standard library and tokio do
//! not expose (`SO_OOBINLINE`, `TCP_NOTSENT_LOWAT`).

use std::io;
use std::os::fd::AsRawFd;

/// `setsockopt(level, name, value)` on `socket`.
pub fn set_int(
    socket: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: a socket descriptor the caller holds open, and a pointer to a
    // live c_int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_reports_failure() {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(set_int(&socket, libc::SOL_SOCKET, libc::SO_OOBINLINE, 1).is_ok());
        let err = set_int(&socket, libc::SOL_SOCKET, -1, 1).unwrap_err();
        assert!(err.raw_os_error().is_some());
    }
}
