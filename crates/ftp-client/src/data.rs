//! Data connections and everything that uses one: downloads, uploads and
//! listings.
//!
//! Passive mode asks EPSV first and falls back to PASV; active mode offers
//! EPRT first and falls back to PORT. A passive data connection always
//! goes to the address of the control connection's peer, whatever address
//! a PASV reply names: a hostile server must not make us connect
//! elsewhere. An active data connection is accepted only from that peer.
//! With `PROT P` the data connection carries TLS under the control
//! connection's configuration, so it resumes the control connection's
//! session. Bytes stream through a reused buffer; nothing holds a whole
//! file.

use crate::client::{reply_error, FtpClient};
use crate::error::{FtpError, Result};
use ftp_proto::command::TransferType;
use ftp_proto::hostport;
use ftp_proto::listing::{parse_list_line, parse_mlsx_line, ParsedEntry};
use ftp_proto::Command;
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wire::rate::TokenBucket;
use wire::splice::{CopyError, PastLimit};
use wire::ClientError;
use wire::{MaybeTls, RawReply};

/// How long the control connection must stay silent after ABOR before
/// the replies to RETR and ABOR are taken to be complete.
const ABOR_QUIET: std::time::Duration = std::time::Duration::from_millis(500);

/// Bytes per read and write on a data connection.
const BUF: usize = 256 * 1024;

/// How an upload relates to an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// STOR: create or replace.
    Replace,
    /// APPE: add to the end.
    Append,
    /// REST n + STOR: keep the first n bytes, write from there.
    ResumeAt(u64),
}

/// A data connection being set up.
enum Pending {
    Connected(TcpStream),
    Listening(TcpListener),
}

/// Called with the running byte count during a transfer.
pub type Progress<'a> = &'a mut (dyn FnMut(u64) + Send);

impl FtpClient {
    async fn prepare_data(&mut self) -> Result<Pending> {
        if self.opts.active {
            return self.prepare_active().await;
        }
        let port = if self.no_epsv {
            None
        } else {
            let reply = self
                .quote(&Command::Epsv(hostport::EpsvArg::Any).encode())
                .await?;
            match reply.code {
                229 => Some(hostport::parse_epsv_reply(reply.first_line()).map_err(|_| {
                    ClientError::Protocol(format!("unreadable EPSV reply: {}", reply.text()))
                })?),
                500..=599 => {
                    self.no_epsv = true;
                    None
                }
                _ => return Err(reply_error(&reply)),
            }
        };
        let port = match port {
            Some(p) => p,
            None => {
                let reply = self.voidcmd(&Command::Pasv).await?;
                let announced = hostport::parse_pasv_reply(reply.first_line()).map_err(|_| {
                    ClientError::Protocol(format!("unreadable PASV reply: {}", reply.text()))
                })?;
                if IpAddr::V4(*announced.ip()) != self.peer.ip().to_canonical() {
                    tracing::debug!(announced = %announced, peer = %self.peer.ip(), "ignoring the address in the PASV reply");
                }
                announced.port()
            }
        };
        let target = SocketAddr::new(self.peer.ip(), port);
        let tcp = tokio::time::timeout(self.opts.timeout, TcpStream::connect(target))
            .await
            .map_err(|_| ClientError::Timeout("opening the data connection"))?
            .map_err(FtpError::io("cannot open the data connection"))?;
        Ok(Pending::Connected(tcp))
    }

    async fn prepare_active(&mut self) -> Result<Pending> {
        let listener = TcpListener::bind(SocketAddr::new(self.local.ip(), 0))
            .await
            .map_err(FtpError::io("cannot listen for the data connection"))?;
        let addr = listener
            .local_addr()
            .map_err(FtpError::io("cannot listen for the data connection"))?;
        if !self.no_eprt {
            let reply = self.quote(&Command::Eprt(addr).encode()).await?;
            match reply.code {
                200..=299 => return Ok(Pending::Listening(listener)),
                500..=599 if addr.is_ipv4() => self.no_eprt = true,
                _ => return Err(reply_error(&reply)),
            }
        }
        let SocketAddr::V4(v4) = addr else {
            return Err(ClientError::Protocol(
                "the server refused EPRT, and PORT cannot carry IPv6".into(),
            )
            .into());
        };
        self.voidcmd(&Command::Port(v4)).await?;
        Ok(Pending::Listening(listener))
    }

    /// Sends a transfer command over a fresh data connection and returns
    /// the connection once the server said 1xx.
    pub(crate) async fn open_transfer(&mut self, cmd: &Command) -> Result<MaybeTls> {
        let pending = self.prepare_data().await?;
        let reply = self.quote(&cmd.encode()).await?;
        if !reply.is_preliminary() {
            return Err(reply_error(&reply));
        }
        let tcp = match pending {
            Pending::Connected(tcp) => tcp,
            Pending::Listening(listener) => self.accept_from_peer(listener).await?,
        };
        match (&self.tls, self.prot_private) {
            (Some(tls), true) => {
                let stream = tls.connect(&self.host, tcp, self.opts.timeout).await?;
                Ok(MaybeTls::Tls(Box::new(stream.into())))
            }
            _ => Ok(MaybeTls::Plain(tcp)),
        }
    }

    async fn accept_from_peer(&self, listener: TcpListener) -> Result<TcpStream> {
        let deadline = tokio::time::Instant::now() + self.opts.timeout;
        loop {
            let (tcp, from) = tokio::time::timeout_at(deadline, listener.accept())
                .await
                .map_err(|_| ClientError::Timeout("waiting for the server's data connection"))?
                .map_err(FtpError::io("cannot accept the data connection"))?;
            if from.ip().to_canonical() == self.peer.ip().to_canonical() {
                return Ok(tcp);
            }
            tracing::warn!(%from, "refused a data connection from a foreign address");
        }
    }

    /// Reads the reply that ends a transfer.
    pub(crate) async fn finish_transfer(&mut self) -> Result<RawReply> {
        let reply = self.read_reply().await?;
        if !reply.is_positive() {
            return Err(reply_error(&reply));
        }
        Ok(reply)
    }

    /// Downloads `path` from `offset` into `sink` (ftplib's `retrbinary`,
    /// with REST) and returns the bytes written.
    pub async fn retrieve<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        path: &[u8],
        offset: u64,
        sink: &mut W,
        progress: Progress<'_>,
    ) -> Result<u64> {
        self.retrieve_as(TransferType::Image, path, offset, None, sink, progress)
            .await
    }

    /// [`FtpClient::retrieve`] in a chosen TYPE; in ASCII type the bytes
    /// arrive with CRLF line ends. With the file's `size` known (SIZE, a
    /// listing; binary type only), a download that ends short, or runs
    /// past it, is [`FtpError::SizeMismatch`]; one running past it is
    /// stopped there (ABOR) and the sink has at most `size` bytes.
    pub async fn retrieve_as<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        transfer_type: TransferType,
        path: &[u8],
        offset: u64,
        size: Option<u64>,
        sink: &mut W,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let mut conn = self.start_retrieve(transfer_type, path, offset).await?;
        let limit = size.map(|s| s.saturating_sub(offset));
        let copied = copy(&mut conn, sink, progress, &self.flow(limit)).await;
        drop(conn);
        let copied = match copied {
            Ok(n) => sink
                .flush()
                .await
                .map(|()| n)
                .map_err(FtpError::io("cannot write the local file")),
            Err(e) => Err(e),
        };
        self.end_retrieve(copied, offset, size).await
    }

    /// Downloads `path` from `offset` in binary into `file` at its current
    /// position, checked against `size` as [`FtpClient::retrieve_as`]
    /// does. Over a plain data connection the bytes go from the socket
    /// into the file inside the kernel ([`wire::splice`]), the fastest way
    /// a download reaches a disk; over TLS, or under a rate limit, it is
    /// [`FtpClient::retrieve`].
    pub async fn retrieve_to_file(
        &mut self,
        path: &[u8],
        offset: u64,
        size: Option<u64>,
        file: &std::fs::File,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let own = file
            .try_clone()
            .map_err(FtpError::io("cannot write the local file"))?;
        let conn = self
            .start_retrieve(TransferType::Image, path, offset)
            .await?;
        let limit = size.map(|s| s.saturating_sub(offset));
        let copied = match conn {
            MaybeTls::Plain(tcp) if self.opts.rate_limit.is_none() => {
                let write_behind = self.opts.durable_downloads
                    || limit.is_some_and(wire::splice::outgrows_page_cache);
                wire::splice::stream_to_file(
                    tcp,
                    own,
                    self.opts.timeout,
                    limit,
                    write_behind,
                    progress,
                )
                .await
                .map_err(|e| match e {
                    CopyError::Receive(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                        ClientError::Timeout("during the transfer (no data)").into()
                    }
                    CopyError::Receive(e) => FtpError::io("transfer failed")(e),
                    CopyError::Store(e) => FtpError::io("cannot write the local file")(e),
                    CopyError::Refused(PastLimit { limit }) => FtpError::SizeMismatch {
                        expected: limit,
                        received: limit + 1,
                    },
                })
            }
            mut conn => {
                let mut sink = tokio::fs::File::from_std(own);
                let copied = copy(&mut conn, &mut sink, progress, &self.flow(limit)).await;
                drop(conn);
                match copied {
                    Ok(n) => sink
                        .flush()
                        .await
                        .map(|()| n)
                        .map_err(FtpError::io("cannot write the local file")),
                    Err(e) => Err(e),
                }
            }
        };
        self.end_retrieve(copied, offset, size).await
    }

    /// Ends a download whose data connection is closed: a copy stopped
    /// past the announced size leaves the server sending, so the transfer
    /// is aborted; otherwise the server's verdict is read, and then the
    /// byte count is held against `size`. `copied` counts from `offset`.
    async fn end_retrieve(
        &mut self,
        copied: Result<u64>,
        offset: u64,
        size: Option<u64>,
    ) -> Result<u64> {
        let copied = match copied {
            Err(FtpError::SizeMismatch { expected, received }) => {
                self.abandon_transfer().await?;
                return Err(FtpError::SizeMismatch {
                    expected: offset + expected,
                    received: offset + received,
                });
            }
            other => other?,
        };
        self.finish_transfer().await?;
        match size {
            Some(expected) if offset + copied != expected => Err(FtpError::SizeMismatch {
                expected,
                received: offset + copied,
            }),
            _ => Ok(copied),
        }
    }

    /// TYPE, REST when resuming, and RETR: the data connection of a download.
    async fn start_retrieve(
        &mut self,
        transfer_type: TransferType,
        path: &[u8],
        offset: u64,
    ) -> Result<MaybeTls> {
        self.set_type(transfer_type).await?;
        if offset > 0 {
            self.expect(&Command::Rest(offset), |c| c == 350).await?;
        }
        self.open_transfer(&Command::Retr(path.to_vec())).await
    }

    /// Downloads `len` bytes of `path` starting at `offset` (a segment of
    /// a parallel download), then stops the transfer with ABOR.
    pub async fn retrieve_range<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        path: &[u8],
        offset: u64,
        len: u64,
        sink: &mut W,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let mut conn = self
            .start_retrieve(TransferType::Image, path, offset)
            .await?;
        let mut limited = (&mut conn).take(len);
        let copied = copy(&mut limited, sink, progress, &self.flow(None)).await;
        drop(conn);
        let copied = copied?;
        sink.flush()
            .await
            .map_err(FtpError::io("cannot write the local file"))?;
        if copied < len {
            return Err(ClientError::Protocol(format!(
                "the server sent {copied} of {len} bytes of the segment"
            ))
            .into());
        }
        self.abandon_transfer().await?;
        Ok(copied)
    }

    /// Stops a download the server is still sending, whose data connection
    /// is closed already. The server answers RETR (226, or 426 as the data
    /// connection closed early) and ABOR (225 or 226), in an order and
    /// number that depend on timing and on the server (pure-ftpd adds
    /// stray lines). Read until it falls quiet, then mark the end with a
    /// NOOP, sent only now: pure-ftpd drops a command pipelined behind
    /// ABOR.
    async fn abandon_transfer(&mut self) -> Result<()> {
        self.send_line(&Command::Abor.encode()).await?;
        self.read_reply().await?;
        while let Ok(reply) = tokio::time::timeout(ABOR_QUIET, self.read_reply()).await {
            reply?;
        }
        self.send_line(&Command::Noop.encode()).await?;
        for _ in 0..16 {
            if self.read_reply().await?.code == 200 {
                return Ok(());
            }
        }
        Err(ClientError::Protocol("no reply to NOOP after ABOR".into()).into())
    }

    /// Uploads `source` to `path` (ftplib's `storbinary`, plus APPE and
    /// REST) and returns the bytes sent.
    pub async fn store<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        path: &[u8],
        mode: StoreMode,
        source: &mut R,
        progress: Progress<'_>,
    ) -> Result<u64> {
        self.store_as(TransferType::Image, path, mode, source, progress)
            .await
    }

    /// [`FtpClient::store`] in a chosen TYPE; in ASCII type the bytes
    /// must be sent with CRLF line ends.
    pub async fn store_as<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        transfer_type: TransferType,
        path: &[u8],
        mode: StoreMode,
        source: &mut R,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let mut conn = self.begin_store(transfer_type, path, mode).await?;
        let sent = copy(source, &mut conn, progress, &self.flow(None)).await;
        self.end_store(conn, sent).await
    }

    /// Uploads `file` from its current position to its end, in binary,
    /// read in [`BUF`] blocks. Returns the bytes sent.
    ///
    /// Not with `sendfile(2)`, though it spares the client a copy: servers
    /// that read their data connection (vsftpd, and most others) took
    /// twice as long to take 1 GiB sent so over loopback as the same bytes
    /// sent by `write` (1.0–1.2 s against 0.55–0.7 s for vsftpd here);
    /// only a server that splices the socket into the file (wharfd) was
    /// faster with it.
    pub async fn store_file(
        &mut self,
        path: &[u8],
        mode: StoreMode,
        file: &std::fs::File,
        progress: Progress<'_>,
    ) -> Result<u64> {
        // A clone shares the file's position: reading starts where it is.
        let own = file
            .try_clone()
            .map_err(FtpError::io("cannot read the local file"))?;
        let mut conn = self.begin_store(TransferType::Image, path, mode).await?;
        let mut source = LocalFile::new(own);
        let sent = copy(&mut source, &mut conn, progress, &self.flow(None)).await;
        self.end_store(conn, sent).await
    }

    /// Sets the type, sends STOR/APPE (after REST for a resume) and
    /// returns the open data connection.
    async fn begin_store(
        &mut self,
        transfer_type: TransferType,
        path: &[u8],
        mode: StoreMode,
    ) -> Result<MaybeTls> {
        self.set_type(transfer_type).await?;
        let cmd = match mode {
            StoreMode::Replace => Command::Stor(path.to_vec()),
            StoreMode::Append => Command::Appe(path.to_vec()),
            StoreMode::ResumeAt(offset) => {
                self.expect(&Command::Rest(offset), |c| c == 350).await?;
                Command::Stor(path.to_vec())
            }
        };
        self.keep_tls_resumable().await?;
        self.open_transfer(&cmd).await
    }

    /// Closes an upload's data connection and reads the server's verdict.
    async fn end_store(&mut self, mut conn: MaybeTls, sent: Result<u64>) -> Result<u64> {
        let closed = close_upload(&mut conn, self.opts.timeout).await;
        drop(conn);
        let sent = sent?;
        closed?;
        self.finish_transfer().await?;
        Ok(sent)
    }

    /// Makes sure the next protected data connection can resume the TLS
    /// session. TLS 1.3 tickets are spent one per data connection, and
    /// some servers (wharfd among them) hand out new ones only on
    /// downloads; when none are left before an upload, a listing of the
    /// working directory fetches fresh ones.
    async fn keep_tls_resumable(&mut self) -> Result<()> {
        let Some(tls) = &self.tls else { return Ok(()) };
        if !self.prot_private {
            return Ok(());
        }
        let version = match self.ctrl.get_ref() {
            MaybeTls::Tls(stream) => stream.get_ref().1.protocol_version(),
            _ => None,
        };
        if !tls.can_resume(&self.host, version) {
            tracing::debug!("out of TLS session tickets; listing to get new ones");
            self.nlst(None).await?;
        }
        Ok(())
    }

    /// A listing command's raw bytes, bounded by `max_listing`.
    async fn listing_bytes(&mut self, cmd: &Command) -> Result<Vec<u8>> {
        self.set_type(TransferType::Ascii).await?;
        let mut conn = self.open_transfer(cmd).await?;
        let limit = self.opts.max_listing;
        let mut out = Vec::new();
        let read = read_bounded(&mut conn, &mut out, limit, self.opts.timeout).await;
        drop(conn);
        read?;
        self.finish_transfer().await?;
        Ok(out)
    }

    /// LIST, as the server sent it (`ls -l` lines on most servers).
    pub async fn list(&mut self, path: Option<&[u8]>) -> Result<Vec<u8>> {
        self.listing_bytes(&Command::List(path.unwrap_or_default().to_vec()))
            .await
    }

    /// NLST: names only.
    pub async fn nlst(&mut self, path: Option<&[u8]>) -> Result<Vec<Vec<u8>>> {
        let raw = self
            .listing_bytes(&Command::Nlst(path.unwrap_or_default().to_vec()))
            .await?;
        Ok(lines(&raw).map(<[u8]>::to_vec).collect())
    }

    /// MLSD: entries with their facts; the directory itself and its parent
    /// are left out.
    pub async fn mlsd(&mut self, path: Option<&[u8]>) -> Result<Vec<ParsedEntry>> {
        let raw = self
            .listing_bytes(&Command::Mlsd(path.unwrap_or_default().to_vec()))
            .await?;
        Ok(lines(&raw)
            .filter_map(parse_mlsx_line)
            .filter(|e| !e.is_listed_dir)
            .collect())
    }

    /// A directory's entries: MLSD where the server has it, else LIST
    /// parsed (Unix, DOS and EPLF formats).
    pub async fn entries(&mut self, path: Option<&[u8]>, mlsd: bool) -> Result<Vec<ParsedEntry>> {
        if mlsd {
            return self.mlsd(path).await;
        }
        let raw = self.list(path).await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Ok(lines(&raw)
            .filter_map(|l| parse_list_line(l, now))
            .filter(|e| !e.is_listed_dir)
            .collect())
    }

    /// Runs `cmd` (RETR or LIST) in ASCII type and calls `line` for each
    /// line (ftplib's `retrlines`).
    pub async fn retrlines(
        &mut self,
        cmd: &Command,
        line: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<()> {
        let raw = self.listing_bytes(cmd).await?;
        for l in lines(&raw) {
            line(l);
        }
        Ok(())
    }

    /// Uploads text in ASCII type (ftplib's `storlines`): the server turns
    /// the CRLF line ends sent into its own.
    pub async fn storlines<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        path: &[u8],
        source: &mut R,
    ) -> Result<u64> {
        self.set_type(TransferType::Ascii).await?;
        let mut text = Vec::new();
        source
            .read_to_end(&mut text)
            .await
            .map_err(FtpError::io("cannot read the local file"))?;
        let mut wire = Vec::with_capacity(text.len() + text.len() / 16);
        let mut prev = 0u8;
        for &b in &text {
            if b == b'\n' && prev != b'\r' {
                wire.push(b'\r');
            }
            wire.push(b);
            prev = b;
        }
        let mut conn = self.open_transfer(&Command::Stor(path.to_vec())).await?;
        let written = conn
            .write_all(&wire)
            .await
            .map_err(FtpError::io("upload failed"));
        let closed = close_upload(&mut conn, self.opts.timeout).await;
        drop(conn);
        written?;
        closed?;
        self.finish_transfer().await?;
        Ok(wire.len() as u64)
    }

    /// ABOR: tells the server to stop the running transfer. Returns the
    /// last reply (226 or 225).
    pub async fn abort(&mut self) -> Result<RawReply> {
        let mut reply = self.quote(&Command::Abor.encode()).await?;
        if reply.code == 426 || reply.code == 451 {
            reply = self.read_reply().await?;
        }
        if !reply.is_positive() {
            return Err(reply_error(&reply));
        }
        Ok(reply)
    }
}

/// The non-empty lines of a listing, without CR/LF.
fn lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    raw.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
}

/// How a transfer's bytes may flow.
struct Flow<'a> {
    /// The longest wait for the peer.
    stall: std::time::Duration,
    /// The most bytes a download may bring (its announced size).
    limit: Option<u64>,
    /// The rate the bytes are held to.
    pace: Option<&'a TokenBucket>,
}

impl FtpClient {
    fn flow(&self, limit: Option<u64>) -> Flow<'_> {
        Flow {
            stall: self.opts.timeout,
            limit,
            pace: self.opts.rate_limit.as_deref(),
        }
    }
}

/// Copies `from` to `to` with one reused buffer, reporting progress and
/// keeping to the flow's pace. With a `limit`, more than `limit` bytes
/// arriving is [`FtpError::SizeMismatch`] (counted from the start of the
/// copy), and the read that crossed it is not written.
async fn copy<R, W>(
    from: &mut R,
    to: &mut W,
    progress: Progress<'_>,
    flow: &Flow<'_>,
) -> Result<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let Flow { stall, limit, pace } = *flow;
    // Under a rate, a tenth of a second's worth per read.
    let len = pace.map_or(BUF, |b| (b.rate() as usize / 10).clamp(16 * 1024, BUF));
    let mut buf = vec![0u8; len];
    let mut total = 0u64;
    loop {
        let n = tokio::time::timeout(stall, from.read(&mut buf))
            .await
            .map_err(|_| ClientError::Timeout("during the transfer (no data)"))?
            .map_err(FtpError::io("transfer failed while reading"))?;
        if n == 0 {
            return Ok(total);
        }
        if let Some(expected) = limit.filter(|&l| total + n as u64 > l) {
            return Err(FtpError::SizeMismatch {
                expected,
                received: total + n as u64,
            });
        }
        tokio::time::timeout(stall, to.write_all(&buf[..n]))
            .await
            .map_err(|_| ClientError::Timeout("during the transfer (the peer took no data)"))?
            .map_err(FtpError::io("transfer failed while writing"))?;
        total += n as u64;
        progress(total);
        if let Some(bucket) = pace {
            bucket.take(n as u64).await;
        }
    }
}

/// A local file read on the task's own thread. An upload's reads come
/// from the page cache in the common case, and handing each to tokio's
/// blocking pool (as `tokio::fs::File` does) cost a thread wake-up and a
/// copy per block: two futex calls per 256 KiB, and 0.1–0.2 s per GiB
/// against curl. On a multi-thread runtime inside
/// [`tokio::task::block_in_place`], so that a read that does go to the disk
/// moves the runtime's other tasks elsewhere (a current-thread runtime has
/// nowhere to move them, and cannot call it).
struct LocalFile {
    file: std::fs::File,
    /// Whether reads run inside `block_in_place` (decided once, not per
    /// block).
    multi_thread: bool,
}

impl LocalFile {
    fn new(file: std::fs::File) -> LocalFile {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        LocalFile { file, multi_thread }
    }
}

impl AsyncRead for LocalFile {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::io::Read;
        let this = self.get_mut();
        let file = &mut this.file;
        let mut read = || file.read(buf.initialize_unfilled());
        let read = if this.multi_thread {
            tokio::task::block_in_place(read)
        } else {
            read()
        };
        std::task::Poll::Ready(read.map(|n| buf.advance(n)))
    }
}

async fn read_bounded(
    conn: &mut MaybeTls,
    out: &mut Vec<u8>,
    limit: usize,
    stall: std::time::Duration,
) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::time::timeout(stall, conn.read(&mut buf))
            .await
            .map_err(|_| ClientError::Timeout("reading a listing"))?
            .map_err(FtpError::io("listing failed"))?;
        if n == 0 {
            return Ok(());
        }
        if out.len() + n > limit {
            return Err(ClientError::Protocol(format!(
                "listing larger than {limit} bytes; refused"
            ))
            .into());
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Ends an upload: TLS close_notify and FIN, then reads what the server
/// still sends (its close_notify, session tickets) so the socket is not
/// closed with unread data, which would reset the connection.
async fn close_upload(conn: &mut MaybeTls, wait: std::time::Duration) -> Result<()> {
    conn.shutdown()
        .await
        .map_err(FtpError::io("cannot finish the upload"))?;
    if conn.is_tls() {
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(wait, async {
            while let Ok(n) = conn.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
    Ok(())
}
