//! ASCII-type downloads arrive with CRLF line ends; [`CrlfToLf`] writes
//! them with the local LF.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;

/// Drops the CR of each CRLF on the way to `inner`.
pub struct CrlfToLf<W> {
    inner: W,
    pending_cr: bool,
    out: Vec<u8>,
}

impl<W> CrlfToLf<W> {
    pub fn new(inner: W) -> Self {
        CrlfToLf {
            inner,
            pending_cr: false,
            out: Vec::new(),
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for CrlfToLf<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.out.is_empty() {
            for &b in buf {
                if this.pending_cr {
                    this.pending_cr = false;
                    if b != b'\n' {
                        this.out.push(b'\r');
                    }
                }
                if b == b'\r' {
                    this.pending_cr = true;
                } else {
                    this.out.push(b);
                }
            }
        }
        while !this.out.is_empty() {
            match Pin::new(&mut this.inner).poll_write(cx, &this.out) {
                Poll::Ready(Ok(n)) => {
                    this.out.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn converts_across_writes() {
        let mut out = Vec::new();
        let mut w = CrlfToLf::new(&mut out);
        w.write_all(b"a\r").await.unwrap();
        w.write_all(b"\nb\rc\r\n").await.unwrap();
        drop(w);
        assert_eq!(out, b"a\nb\rc\n");
    }
}
