//! [`MaybeTls`]: a TCP connection that is plain or carries TLS, client or
//! server side — an FTP control connection that AUTH TLS upgrades in place,
//! a data connection that PROT P protects, a mail or news connection after
//! STARTTLS.

use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

/// A plain or TLS-protected TCP stream.
#[derive(Debug)]
pub enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// The connection was handed to a TLS handshake that did not complete;
    /// every operation on it fails.
    Closed,
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "connection closed after a failed TLS handshake",
    )
}

impl MaybeTls {
    pub fn is_tls(&self) -> bool {
        matches!(self, MaybeTls::Tls(_))
    }

    /// The TCP socket underneath, unless the connection is closed.
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            MaybeTls::Plain(s) => Some(s),
            MaybeTls::Tls(s) => Some(s.get_ref().0),
            MaybeTls::Closed => None,
        }
    }
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => poll_read_keeping_readiness(s, cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            MaybeTls::Closed => Poll::Ready(Err(closed())),
        }
    }
}

/// Reads without tokio's short-read shortcut.
///
/// Tokio takes a read that fills less than the buffer as proof that the
/// socket is drained and waits for the next readiness edge. TCP urgent
/// data breaks that: with SO_OOBINLINE a read stops *at* the urgent mark,
/// so Python's ftplib's `ABOR\r\n` sent with MSG_OOB arrives as a short
/// read of `ABOR\r` while the `\n` still waits in the socket, and no new
/// edge ever comes. Here readiness is only cleared when the kernel says
/// EAGAIN.
fn poll_read_keeping_readiness(
    tcp: &TcpStream,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    loop {
        std::task::ready!(tcp.poll_read_ready(cx))?;
        // SAFETY: only read(2) writes through this, and it writes bytes,
        // never uninitialised memory.
        let unfilled = unsafe { buf.unfilled_mut() };
        let result = tcp.try_io(Interest::READABLE, || {
            // SAFETY: the pointer and length describe the unfilled part of
            // `buf`, which read(2) may write; the descriptor is open.
            let n = unsafe {
                libc::read(
                    tcp.as_raw_fd(),
                    unfilled.as_mut_ptr().cast(),
                    unfilled.len(),
                )
            };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match result {
            Ok(n) => {
                // SAFETY: read(2) initialised the first `n` bytes.
                unsafe { buf.assume_init(n) };
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            MaybeTls::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            MaybeTls::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            MaybeTls::Closed => Poll::Ready(Err(closed())),
        }
    }
}
