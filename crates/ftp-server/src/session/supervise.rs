//! Running a transfer while the control connection stays responsive.
//!
//! A transfer is a future that owns everything it touches (file, data
//! socket, upload), so the session can keep reading command lines while
//! it runs. ABOR cancels it (the transfer sees the signal at its next
//! wait and returns, and the session undoes an unfinished upload), STAT
//! reports progress, NOOP is answered, QUIT closes the session once the
//! transfer has ended, and any other command waits its turn. If the
//! control connection goes away, the transfer is cancelled too: an upload
//! whose client vanished is treated as aborted, never committed.

use super::{Flow, Session};
use crate::datachan;
use crate::metrics::Metrics;
use crate::service::TransferReport;
use crate::storage::{Download, ListChunks, Upload};
use crate::transfer::{self, TransferControl, TransferError};
use ftp_proto::command::{self, Command, TransferType};
use ftp_proto::reply::code;
use ftp_proto::{Reply, VirtualPath};
use futures::FutureExt;
use rustls::HandshakeKind;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use wire::LineError;
use wire::MaybeTls;

/// What a transfer moves.
#[derive(Debug)]
pub enum Payload {
    /// RETR: a file, already positioned at the REST offset.
    Download(Download),
    /// LIST, NLST, MLSD: listing chunks.
    Listing(ListChunks),
    /// STOR, STOU, APPE: bytes into an upload.
    Upload(Upload),
}

/// A transfer a command asked for.
#[derive(Debug)]
pub struct TransferJob {
    pub payload: Payload,
    /// The path, for logs.
    pub path: VirtualPath,
    /// The 150 reply sent once the data connection is up.
    pub opening: Reply,
}

/// Resolves when `token` is cancelled; never without one.
async fn cancelled(token: Option<&tokio_util::sync::CancellationToken>) {
    match token {
        Some(t) => t.cancelled().await,
        None => std::future::pending().await,
    }
}

/// What happened on the control connection while a transfer ran.
#[derive(Debug, Default)]
pub(super) struct Events {
    aborted: bool,
    quit: bool,
    /// An operator disconnected the session (admin console).
    kicked: bool,
    control_gone: bool,
    /// The name a committed upload was stored under (STOU may lose the
    /// one it announced to another session).
    stored_as: Option<Vec<u8>>,
    /// Nothing was answered yet (a hash has no 150): NOOP and STAT then
    /// wait their turn, since their replies must follow the command's.
    no_preliminary: bool,
}

impl Events {
    /// For work that answers only at its end (a hash).
    pub(super) fn without_preliminary() -> Self {
        Events {
            no_preliminary: true,
            ..Events::default()
        }
    }
}

impl Session {
    /// Sets up the data connection, runs `job` and answers for it.
    pub(crate) async fn run_transfer(&mut self, job: TransferJob) -> Flow {
        let started = Instant::now();
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let incoming = matches!(job.payload, Payload::Upload(_));
        let rates = match &self.state.files {
            Some(files) => files.rates().await.unwrap_or((
                self.shared.options.max_download_rate,
                self.shared.options.max_upload_rate,
            )),
            None => (None, None),
        };
        let bucket = self
            .shared
            .bandwidth
            .for_account(self.state.user_name(), rates);
        let ctl = TransferControl {
            bucket,
            upload: incoming,
            progress: Arc::new(AtomicU64::new(0)),
            cancel: cancel_rx,
            stall: self.shared.options.data_stall_timeout,
        };
        let mut events = Events::default();
        let ascii = self.state.transfer_type == TransferType::Ascii;
        let TransferJob {
            payload,
            path,
            opening,
        } = job;
        // Shown to the admin console while it runs.
        let _showing = self
            .state
            .live
            .as_ref()
            .map(|l| l.transfer(path.to_string(), incoming, ctl.progress.clone()));

        let setup = std::mem::take(&mut self.state.data);
        let (peer, local) = (self.control.peer.ip(), self.control.local.ip());
        let wait = self.shared.options.data_connect_timeout;
        let proxy = self.shared.options.proxy_protocol.clone();
        let connect = {
            let mut cancel = ctl.cancel.clone();
            async move {
                tokio::select! {
                    r = datachan::connect(setup, peer, local, wait, proxy.as_ref()) => Some(r),
                    _ = transfer::until_set(&mut cancel) => None,
                }
            }
        };
        let result: Result<u64, TransferError> =
            match self.supervise(connect, &cancel_tx, &ctl, &mut events).await {
                Some(Ok(tcp)) => {
                    if self.control.send(&opening).await.is_err() {
                        events.control_gone = true;
                        drop_payload(payload).await;
                        Err(TransferError::Aborted)
                    } else {
                        match self
                            .secure_data(tcp, incoming, &cancel_tx, &ctl, &mut events)
                            .await
                        {
                            Ok(conn) => {
                                self.move_bytes(payload, ascii, conn, &cancel_tx, &ctl, &mut events)
                                    .await
                            }
                            Err(e) => {
                                drop_payload(payload).await;
                                Err(e)
                            }
                        }
                    }
                }
                Some(Err(e)) => {
                    drop_payload(payload).await;
                    let reply = Reply::new(code::CANT_OPEN_DATA, e.to_string());
                    return self.finish(reply, &events).await;
                }
                None => {
                    drop_payload(payload).await;
                    Err(TransferError::Aborted)
                }
            };

        let bytes = ctl.progress.load(Ordering::Relaxed);
        let reply = match &result {
            Ok(_) => match events
                .stored_as
                .as_ref()
                .filter(|name| Some(&name[..]) != path.file_name())
            {
                Some(name) => {
                    let mut text = b"Transfer complete; stored as ".to_vec();
                    text.extend_from_slice(name);
                    text.push(b'.');
                    Reply::new(code::TRANSFER_COMPLETE, text)
                }
                None => Reply::new(code::TRANSFER_COMPLETE, "Transfer complete."),
            },
            Err(TransferError::Storage(e)) => Reply::new(e.reply_code(), format!("{e}.")),
            Err(TransferError::DataTls(message)) => {
                Reply::new(code::PROTOCOL_NOT_SUPPORTED, message.clone())
            }
            Err(e) => Reply::new(code::TRANSFER_ABORTED, e.to_string()),
        };
        self.log_transfer(&path, bytes, started.elapsed(), ascii, incoming, &result);
        self.finish(reply, &events).await
    }

    /// Puts TLS on the data connection when PROT P is in force, checking
    /// that it resumes this session's TLS session if policy says so.
    async fn secure_data(
        &mut self,
        tcp: TcpStream,
        incoming: bool,
        cancel_tx: &watch::Sender<bool>,
        ctl: &TransferControl,
        events: &mut Events,
    ) -> Result<MaybeTls, TransferError> {
        if !self.state.prot_private {
            Metrics::inc(&self.shared.metrics.data_plain);
            return Ok(MaybeTls::Plain(tcp));
        }
        Metrics::inc(&self.shared.metrics.data_tls);
        let (Some(config), Some(opts)) = (self.state.tls.clone(), self.shared.options.tls.clone())
        else {
            return Err(TransferError::DataTls(
                "PROT P is set but TLS is not on.".into(),
            ));
        };
        let wait = opts.handshake_timeout;
        let mut cancel = ctl.cancel.clone();
        let handshake = async move {
            tokio::select! {
                r = tokio::time::timeout(wait, TlsAcceptor::from(if incoming { config.data_in } else { config.data_out }).accept(tcp)) => Some(r),
                _ = transfer::until_set(&mut cancel) => None,
            }
        };
        match self.supervise(handshake, cancel_tx, ctl, events).await {
            None => Err(TransferError::Aborted),
            Some(Err(_)) => Err(TransferError::DataTls(
                "TLS handshake on the data connection timed out.".into(),
            )),
            Some(Ok(Err(e))) => Err(TransferError::DataTls(format!(
                "TLS handshake on the data connection failed: {e}."
            ))),
            Some(Ok(Ok(tls))) => {
                let resumed = tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
                if opts.require_session_reuse && !resumed {
                    tracing::warn!(peer = %self.control.peer, "data connection did not resume the control connection's TLS session; refused");
                    return Err(TransferError::DataTls(
                        "Data connection must resume the control connection's TLS session \
                         (setting tls_require_session_reuse); use a client that reuses it, see docs/ftps.md."
                            .into(),
                    ));
                }
                Ok(MaybeTls::Tls(Box::new(tls.into())))
            }
        }
    }

    /// Phase two: the data connection is up; move the bytes.
    async fn move_bytes(
        &mut self,
        payload: Payload,
        ascii: bool,
        conn: MaybeTls,
        cancel_tx: &watch::Sender<bool>,
        ctl: &TransferControl,
        events: &mut Events,
    ) -> Result<u64, TransferError> {
        match payload {
            Payload::Download(download) => {
                let ctl2 = ctl.clone();
                let fut =
                    async move { transfer::send_download(download, ascii, conn, &ctl2).await };
                self.supervise(fut, cancel_tx, ctl, events).await
            }
            Payload::Listing(rx) => {
                let ctl2 = ctl.clone();
                let fut = async move { transfer::send_chunks(rx, conn, &ctl2).await };
                self.supervise(fut, cancel_tx, ctl, events).await
            }
            Payload::Upload(mut upload) => {
                let ctl2 = ctl.clone();
                let fut = async move {
                    let r = transfer::receive(&mut upload, ascii, conn, &ctl2).await;
                    (upload, r)
                };
                let (upload, received) = self.supervise(fut, cancel_tx, ctl, events).await;
                // The client may have vanished right after its last byte;
                // an upload is only complete if its control connection
                // is still there to hear so.
                if received.is_ok() && !events.control_gone && self.control_closed_now().await {
                    events.control_gone = true;
                }
                match received {
                    Ok(n) if !events.control_gone && !events.aborted => {
                        let done = upload.commit().await.map_err(TransferError::Storage)?;
                        events.stored_as = Some(done.name);
                        Ok(n)
                    }
                    Ok(_) => {
                        upload.abort().await;
                        Err(TransferError::Aborted)
                    }
                    Err(e) => {
                        upload.abort().await;
                        Err(e)
                    }
                }
            }
        }
    }

    /// Sends the transfer's reply, then what ABOR and QUIT are owed.
    pub(super) async fn finish(&mut self, reply: Reply, events: &Events) -> Flow {
        if events.control_gone {
            return Flow::Close;
        }
        if self.control.send(&reply).await.is_err() {
            return Flow::Close;
        }
        if events.kicked {
            let bye = Reply::new(
                code::NOT_AVAILABLE,
                "Disconnected by the server's operator.",
            );
            let _ = self.control.send(&bye).await;
            return Flow::Close;
        }
        if events.aborted {
            let abor = Reply::new(code::TRANSFER_COMPLETE, "ABOR successful.");
            if self.control.send(&abor).await.is_err() {
                return Flow::Close;
            }
        }
        if events.quit {
            let _ = self
                .control
                .send(&Reply::new(code::CLOSING, "Goodbye."))
                .await;
            return Flow::Close;
        }
        Flow::Continue
    }

    /// Polls `fut` to completion while answering the control connection.
    pub(super) async fn supervise<T>(
        &mut self,
        fut: impl Future<Output = T>,
        cancel_tx: &watch::Sender<bool>,
        ctl: &TransferControl,
        events: &mut Events,
    ) -> T {
        tokio::pin!(fut);
        let operator = self
            .state
            .live
            .as_ref()
            .map(crate::live::Registration::stop_token);
        loop {
            // After ABOR, later commands wait until ABOR is answered, so that
            // replies keep the order of the commands.
            let listening =
                self.queued.is_none() && !events.control_gone && !events.quit && !events.aborted;
            tokio::select! {
                biased;
                line = self.control.reader.read_line(), if listening => {
                    match line {
                        Ok(line) => self.during_transfer(line, cancel_tx, ctl, events).await,
                        Err(LineError::TooLong(max)) => {
                            let reply = Reply::new(code::SYNTAX_ERROR, format!("Command line too long (limit {max} bytes)."));
                            let _ = self.control.send(&reply).await;
                        }
                        Err(_) => {
                            events.control_gone = true;
                            let _ = cancel_tx.send(true);
                        }
                    }
                }
                out = &mut fut => return out,
                _ = cancelled(operator.as_ref()), if !events.kicked => {
                    tracing::info!(peer = %self.control.peer, "disconnected by an operator during a transfer");
                    events.kicked = true;
                    let _ = cancel_tx.send(true);
                }
            }
        }
    }

    async fn during_transfer(
        &mut self,
        line: Vec<u8>,
        cancel_tx: &watch::Sender<bool>,
        ctl: &TransferControl,
        events: &mut Events,
    ) {
        match command::parse(&line) {
            Ok(Command::Abor) => {
                events.aborted = true;
                let _ = cancel_tx.send(true);
            }
            Ok(Command::Stat(arg)) if arg.is_empty() && !events.no_preliminary => {
                let moved = ctl.progress.load(Ordering::Relaxed);
                let reply = Reply::new(
                    code::FILE_STATUS,
                    format!("Transfer in progress: {moved} bytes so far."),
                );
                let _ = self.control.send(&reply).await;
            }
            Ok(Command::Noop) if !events.no_preliminary => {
                let _ = self.control.send(&Reply::new(code::OK, "NOOP ok.")).await;
            }
            Ok(Command::Quit) => events.quit = true,
            _ => self.queued = Some(line),
        }
    }

    /// Whether the control connection has already been closed by the
    /// client, without waiting. A line that is already there is kept.
    async fn control_closed_now(&mut self) -> bool {
        if self.queued.is_some() {
            return false;
        }
        // Polled once: a zero timeout would wait for the timer's next
        // millisecond tick, a millisecond added to every upload.
        match self.control.reader.read_line().now_or_never() {
            None => false,
            Some(Ok(line)) => {
                self.queued = Some(line);
                false
            }
            Some(Err(LineError::TooLong(_))) => false,
            Some(Err(_)) => true,
        }
    }

    fn log_transfer(
        &self,
        path: &VirtualPath,
        bytes: u64,
        elapsed: Duration,
        ascii: bool,
        incoming: bool,
        result: &Result<u64, TransferError>,
    ) {
        let Some(files) = &self.state.files else {
            return;
        };
        files.record_transfer(&TransferReport {
            path,
            bytes,
            elapsed,
            ascii,
            incoming,
            failure: result.as_ref().err().map(|e| e as &dyn std::error::Error),
        });
    }
}

/// Undoes a payload that never ran.
async fn drop_payload(payload: Payload) {
    if let Payload::Upload(upload) = payload {
        upload.abort().await;
    }
}
