//! The transport both clients share: TCP, TLS from the first byte or after
//! STARTTLS/STLS, bounded line reads with a deadline each, and the
//! transcript that `--verbose` shows (secrets masked by the caller).

use crate::error::{MailError, Result};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use wire::ClientError;
use wire::{dial, ClientTls, Dial, Dialed, LineReader, MaybeTls, RawReply, ReplyLimits};

pub use wire::{Direction, TlsPolicy, Transcript};

/// How to connect.
#[derive(Clone)]
pub struct Options {
    /// Deadline for connecting, for the TLS handshake, and for each line
    /// the server owes us.
    pub timeout: Duration,
    pub security: TlsPolicy,
    /// Trust only the certificates in this PEM file (else the system's roots).
    pub cacert: Option<PathBuf>,
    /// Longest line accepted from the server.
    pub max_line: usize,
    pub transcript: Option<Transcript>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(30),
            security: TlsPolicy::Plain,
            cacert: None,
            max_line: 64 * 1024,
            transcript: None,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("timeout", &self.timeout)
            .field("security", &self.security)
            .field("cacert", &self.cacert)
            .field("max_line", &self.max_line)
            .finish()
    }
}

/// One connection to a server.
#[derive(Debug)]
pub(crate) struct Conn {
    reader: LineReader<MaybeTls>,
    host: String,
    pub(crate) opts: Options,
    tls: Option<ClientTls>,
}

impl Conn {
    /// Connects (and, for [`TlsPolicy::Implicit`], runs the TLS handshake).
    pub(crate) async fn open(host: &str, port: u16, opts: Options) -> Result<Conn> {
        let Dialed { stream, tls, .. } = dial(Dial {
            host,
            port,
            policy: opts.security,
            cacert: opts.cacert.as_deref(),
            tls13: true,
            timeout: opts.timeout,
        })
        .await?;
        Ok(Conn {
            reader: LineReader::new(stream, opts.max_line),
            host: host.to_string(),
            opts,
            tls,
        })
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.reader.get_ref().is_tls()
    }

    /// Runs the TLS handshake after the server agreed to `after`
    /// (STARTTLS or STLS); see [`wire::start_tls`] for what is refused.
    pub(crate) async fn upgrade(&mut self, after: &str) -> Result<()> {
        let tls = match &self.tls {
            Some(tls) => tls.clone(),
            None => ClientTls::new(self.opts.cacert.as_deref(), true)?,
        };
        wire::start_tls(&mut self.reader, &tls, &self.host, self.opts.timeout, after).await?;
        Ok(())
    }

    fn show(&self, way: Direction, line: &str) {
        if let Some(t) = &self.opts.transcript {
            t(way, line);
        }
    }

    /// Sends one command line; the transcript shows `shown` instead when
    /// given (for secrets). A line with CR, LF or NUL is refused.
    pub(crate) async fn send_line(&mut self, line: &str, shown: Option<&str>) -> Result<()> {
        if line.contains(['\r', '\n', '\0']) {
            return Err(MailError::Invalid(
                "a command may not contain CR, LF or NUL".into(),
            ));
        }
        self.show(Direction::Sent, shown.unwrap_or(line));
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.write_raw(&bytes).await?;
        self.flush().await
    }

    /// Queues bytes as they are (a message body, pipelined commands).
    pub(crate) async fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let wait = self.opts.timeout;
        sent(tokio::time::timeout(wait, self.reader.get_mut().write_all(bytes)).await)
    }

    pub(crate) async fn flush(&mut self) -> Result<()> {
        let wait = self.opts.timeout;
        sent(tokio::time::timeout(wait, self.reader.get_mut().flush()).await)
    }

    /// Logs a command that went out in a pipelined batch.
    pub(crate) fn show_sent(&self, line: &str) {
        self.show(Direction::Sent, line);
    }

    /// The next line, within the deadline.
    pub(crate) async fn read_line(&mut self) -> Result<Vec<u8>> {
        let line = tokio::time::timeout(self.opts.timeout, self.reader.read_line())
            .await
            .map_err(|_| ClientError::Timeout("waiting for the server"))??;
        self.show(Direction::Received, &String::from_utf8_lossy(&line));
        Ok(line)
    }

    /// The line reader itself, for dot-stuffed blocks (bounded by the caller).
    pub(crate) fn reader(&mut self) -> &mut LineReader<MaybeTls> {
        &mut self.reader
    }

    /// One three-digit reply (SMTP), within the deadline.
    pub(crate) async fn read_reply(&mut self) -> Result<RawReply> {
        let reply = tokio::time::timeout(
            self.opts.timeout,
            wire::read_reply(&mut self.reader, ReplyLimits::default()),
        )
        .await
        .map_err(|_| ClientError::Timeout("waiting for the server's reply"))??;
        if self.opts.transcript.is_some() {
            let last = reply.lines.len().saturating_sub(1);
            for (i, text) in reply.lines.iter().enumerate() {
                let sep = if i == last { ' ' } else { '-' };
                let text = String::from_utf8_lossy(text);
                self.show(Direction::Received, &format!("{}{sep}{text}", reply.code));
            }
        }
        Ok(reply)
    }

    /// Says goodbye without waiting (after QUIT's reply, or on failure).
    pub(crate) async fn shutdown(&mut self) {
        let _ =
            tokio::time::timeout(Duration::from_secs(2), self.reader.get_mut().shutdown()).await;
    }
}

/// The outcome of a write or flush bounded by the connection's timeout.
fn sent(
    outcome: std::result::Result<std::io::Result<()>, tokio::time::error::Elapsed>,
) -> Result<()> {
    let done = outcome.map_err(|_| ClientError::Timeout("sending to the server"))?;
    Ok(done.map_err(ClientError::io("cannot send to the server"))?)
}
