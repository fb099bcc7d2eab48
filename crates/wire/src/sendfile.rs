//! `sendfile(2)` from a file into a nonblocking tokio socket: the file's
//! pages go to the socket without passing through user space. The
//! download path of the server and the upload path of the FTP client.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Sends up to `want` bytes of `file`, starting at `offset`, once `conn`
/// can take them, and returns how many it sent (0 at the end of the file).
/// The file's own position does not move.
pub async fn send_some(
    conn: &TcpStream,
    file: &File,
    offset: u64,
    want: usize,
) -> io::Result<usize> {
    loop {
        conn.writable().await?;
        let sent = conn.try_io(Interest::WRITABLE, || {
            let mut off = libc::off_t::try_from(offset).map_err(io::Error::other)?;
            // SAFETY: both descriptors are open for the duration of the
            // call, and `off` is a valid pointer to a local.
            let n = unsafe { libc::sendfile(conn.as_raw_fd(), file.as_raw_fd(), &mut off, want) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn sends_the_range_asked_for() -> io::Result<()> {
        let mut file = tempfile::tempfile()?;
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        file.write_all(&content)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let reader = tokio::spawn(async move {
            let (mut peer, _) = listener.accept().await?;
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await?;
            Ok::<_, io::Error>(got)
        });
        let conn = TcpStream::connect(addr).await?;
        let (mut offset, end) = (1000u64, 250_000u64);
        while offset < end {
            let want = usize::try_from(end - offset).map_err(io::Error::other)?;
            offset += send_some(&conn, &file, offset, want).await? as u64;
        }
        assert_eq!(send_some(&conn, &file, content.len() as u64, 10).await?, 0);
        drop(conn);
        let got = reader.await.map_err(io::Error::other)??;
        assert!(got == content[1000..250_000], "content differs");
        Ok(())
    }
}
