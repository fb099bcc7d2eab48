//! One FTP session: the control connection's command loop.
//!
//! A session reads a line, parses it with `ftp_proto`, checks that the
//! command is allowed in the current state (logged in or not), and hands
//! it to its verb's module in [`crate::commands`], which answers with an
//! [`Outcome`]: a reply, a transfer to run, or the end of the session.
//! Transfers run under [`supervise`], which keeps reading the control
//! connection so ABOR, STAT and NOOP are answered while bytes move.
//! While the loop waits for a line, a passive listener that no transfer
//! used closes at its deadline, freeing its port.
//!
//! # Layout
//! - [`control`]: the control connection, with its deadlines.
//! - [`state`]: what a session remembers between commands.
//! - [`supervise`]: running a transfer while watching the control
//!   connection.
//! - [`hashing`]: running a hash (HASH, XCRC…) the same way.

pub mod control;
mod hashing;
pub mod state;
pub mod supervise;

use crate::commands::security::TlsUpgrade;
use crate::commands::{self, Outcome};
use crate::datachan::DataSetup;
use crate::listener::Shared;
use crate::metrics::Metrics;
use crate::policy::UNDENIABLE;
use control::{Control, ReadError};
use ftp_proto::reply::code;
use ftp_proto::{command, Reply};
use state::SessionState;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;
use wire::LineError;

/// Waits until `at`, or forever when there is nothing to wait for.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Resolves when an operator disconnects the session; never before login.
async fn disconnected(live: Option<&crate::live::Registration>) {
    match live {
        Some(l) => l.disconnected().await,
        None => std::future::pending().await,
    }
}

/// What the command loop does after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Close,
}

/// One client's session.
#[derive(Debug)]
pub struct Session {
    pub(crate) control: Control,
    pub(crate) shared: Arc<Shared>,
    pub(crate) state: SessionState,
    /// A command line that arrived during a transfer, to handle next.
    pub(crate) queued: Option<Vec<u8>>,
    overlong_lines: u32,
    stop: watch::Receiver<bool>,
}

impl Session {
    pub fn new(control: Control, shared: Arc<Shared>, stop: watch::Receiver<bool>) -> Self {
        Session {
            control,
            shared,
            state: SessionState::default(),
            queued: None,
            overlong_lines: 0,
            stop,
        }
    }

    /// Runs the session to its end. It borrows the session, which its
    /// caller owns: an `async fn` taking `self` by value would hold two
    /// copies of it in its future (the argument and the local it moves
    /// to), and its caller a third, all for the life of the connection.
    pub async fn run(&mut self) {
        let peer = self.control.peer;
        let metrics = self.shared.metrics.clone();
        Metrics::inc(&metrics.sessions_total);
        metrics
            .sessions_active
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(%peer, "session opened");
        let banner = Reply::new(code::READY, self.shared.options.banner.clone());
        if self.control.send(&banner).await.is_ok() {
            while self.step().await == Flow::Continue {}
        }
        metrics
            .sessions_active
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(%peer, user = self.state.user_name(), "session closed");
    }

    /// Reads and handles one command line.
    async fn step(&mut self) -> Flow {
        let line = match self.queued.take() {
            Some(line) => line,
            None => match self.read_line().await {
                Ok(line) => line,
                Err(flow) => return flow,
            },
        };
        self.handle_line(&line).await
    }

    async fn read_line(&mut self) -> Result<Vec<u8>, Flow> {
        let opts = &self.shared.options;
        let per_line = if self.state.logged_in() {
            opts.line_timeout_after_login
        } else {
            opts.line_timeout_before_login
        };
        let idle = opts.idle_timeout;
        let mut stop = self.stop.clone();
        let peer = self.control.peer;
        let live = self.state.live.as_ref();
        let result = {
            let next = self.control.next_line(idle, per_line);
            tokio::pin!(next);
            loop {
                let expiry = self.state.data.passive_expiry();
                tokio::select! {
                    r = &mut next => break Ok(r),
                    _ = crate::transfer::until_set(&mut stop) => break Err("Server shutting down."),
                    _ = disconnected(live) => {
                        tracing::info!(%peer, "disconnected by an operator");
                        break Err("Disconnected by the server's operator.");
                    }
                    _ = until(expiry) => {
                        tracing::info!(%peer, "closed a passive listener no transfer used within data_connect_timeout");
                        self.state.data = DataSetup::None;
                    }
                }
            }
        };
        let result = match result {
            Ok(r) => r,
            Err(why) => {
                self.close_with(Reply::new(code::NOT_AVAILABLE, why)).await;
                return Err(Flow::Close);
            }
        };
        match result {
            Ok(line) => Ok(line),
            Err(ReadError::Line(LineError::TooLong(max))) => {
                self.overlong_lines += 1;
                if self.overlong_lines > self.shared.options.max_overlong_lines {
                    self.close_with(Reply::new(
                        code::NOT_AVAILABLE,
                        "Too many overlong command lines; closing.",
                    ))
                    .await;
                    return Err(Flow::Close);
                }
                let reply = Reply::new(
                    code::SYNTAX_ERROR,
                    format!("Command line too long (limit {max} bytes)."),
                );
                match self.control.send(&reply).await {
                    Ok(()) => Err(Flow::Continue),
                    Err(_) => Err(Flow::Close),
                }
            }
            Err(ReadError::Idle) => {
                tracing::info!(peer = %self.control.peer, "idle timeout");
                self.close_with(Reply::new(
                    code::NOT_AVAILABLE,
                    "Timeout: closing control connection.",
                ))
                .await;
                Err(Flow::Close)
            }
            Err(ReadError::SlowLine) => {
                tracing::info!(peer = %self.control.peer, "command line too slow; closing");
                self.close_with(Reply::new(
                    code::NOT_AVAILABLE,
                    "Command line took too long; closing.",
                ))
                .await;
                Err(Flow::Close)
            }
            Err(ReadError::Line(_)) => Err(Flow::Close),
        }
    }

    async fn close_with(&mut self, reply: Reply) {
        let _ = self.control.send(&reply).await;
    }

    /// The refusal of a command the account's policy denies, if it does.
    async fn refused_command(&self, cmd: &command::Command) -> Option<Reply> {
        let files = self.state.files.as_ref()?;
        let denied = files.denied_commands().await;
        // The usual case (nothing denied) costs no verb and no allocation.
        if denied.as_ref().is_ok_and(Vec::is_empty) {
            return None;
        }
        let verb = cmd.verb();
        if UNDENIABLE.contains(&verb.as_str()) {
            return None;
        }
        match denied {
            Ok(denied) if denied.contains(&verb) => {
                let who = &files.identity().user;
                tracing::info!(peer = %self.control.peer, user = %who, command = %verb, "command denied by the account's policy");
                Some(Reply::new(
                    code::FILE_UNAVAILABLE,
                    format!("Not permitted: this account may not use {verb}."),
                ))
            }
            Ok(_) => None,
            Err(e) => Some(crate::commands::storage_reply(e)),
        }
    }

    /// Parses and carries out one line.
    pub(crate) async fn handle_line(&mut self, line: &[u8]) -> Flow {
        let outcome = match command::parse(line) {
            Err(e) => {
                tracing::debug!(peer = %self.control.peer, error = ?e, "bad command");
                self.state.rename_from = None;
                Outcome::Reply(e.reply())
            }
            Ok(cmd) => {
                tracing::debug!(peer = %self.control.peer, command = %cmd, "command");
                if !self.state.logged_in() && !cmd.allowed_before_login() {
                    Outcome::Reply(Reply::new(
                        code::NOT_LOGGED_IN,
                        "Please login with USER and PASS.",
                    ))
                } else if let Some(refusal) = self.refused_command(&cmd).await {
                    Outcome::Reply(refusal)
                } else {
                    // Boxed, like the transfer below: an idle session then
                    // holds only the small line-reading state, not the
                    // largest command's.
                    Box::pin(commands::dispatch(self, cmd)).await
                }
            }
        };
        match outcome {
            Outcome::Reply(reply) => {
                if self.control.send(&reply).await.is_err() {
                    return Flow::Close;
                }
                Flow::Continue
            }
            Outcome::Close(reply) => {
                self.close_with(reply).await;
                Flow::Close
            }
            // Boxed: the larger futures live on the heap only while they
            // run, so an idle session's task stays small.
            Outcome::Transfer(job) => Box::pin(self.run_transfer(job)).await,
            Outcome::Hash(job) => Box::pin(self.run_hash(*job)).await,
            Outcome::StartTls(upgrade) => Box::pin(self.start_tls(upgrade)).await,
            Outcome::ControlListing {
                opening,
                chunks,
                closing,
            } => Box::pin(self.send_control_listing(&opening, chunks, &closing)).await,
        }
    }

    /// AUTH TLS: 234, then the handshake on the control connection.
    async fn start_tls(&mut self, upgrade: TlsUpgrade) -> Flow {
        let ok = Reply::new(code::AUTH_OK, "AUTH TLS successful.");
        if self.control.send(&ok).await.is_err() {
            return Flow::Close;
        }
        let shared = self.shared.clone();
        let Some(ctx) = &shared.tls else {
            return Flow::Close;
        };
        match self.control.start_tls(ctx, upgrade.wait).await {
            Ok((discarded, session)) => {
                if discarded > 0 {
                    tracing::warn!(peer = %self.control.peer, bytes = discarded, "discarded plaintext sent after AUTH TLS");
                }
                self.state.tls = Some(session);
                // RFC 4217 §4: a login begun before AUTH starts over.
                self.state.login = Default::default();
                self.state.prot_private = upgrade.protect_data;
                Flow::Continue
            }
            Err(e) => {
                tracing::info!(peer = %self.control.peer, error = %e, "TLS handshake on the control connection failed");
                self.close_with(Reply::new(code::NOT_AVAILABLE, "TLS handshake failed."))
                    .await;
                Flow::Close
            }
        }
    }

    /// STAT with a path: its listing over the control connection.
    async fn send_control_listing(
        &mut self,
        opening: &[u8],
        mut chunks: crate::storage::ListChunks,
        closing: &Reply,
    ) -> Flow {
        use tokio::io::AsyncWriteExt;
        let stream = self.control.reader.get_mut();
        let sent = async {
            stream.write_all(opening).await?;
            while let Some(chunk) = chunks.recv().await {
                match chunk {
                    Ok(chunk) => stream.write_all(&chunk).await?,
                    // The storage stopped answering: the reply says the
                    // listing is cut short.
                    Err(e) => return Ok(Some(e)),
                }
            }
            std::io::Result::Ok(None)
        }
        .await;
        let closing = match sent {
            Err(_) => return Flow::Close,
            Ok(None) => closing.clone(),
            Ok(Some(e)) => Reply::new(closing.code(), format!("End of status, incomplete: {e}.")),
        };
        if self.control.send(&closing).await.is_err() {
            return Flow::Close;
        }
        Flow::Continue
    }
}
