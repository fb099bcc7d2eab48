//! [`ImapClient`]: one connection to an IMAP server — greeting, STARTTLS
//! or implicit TLS, tagged commands with literals (synchronising, or
//! LITERAL+ when offered), and responses read whole with their literals,
//! except body sections, which can be streamed to a writer.
//!
//! Every line is capped (`max_line`), every literal too (`max_literal`,
//! checked before anything is allocated for it), and every wait has a
//! deadline (`timeout`).

use crate::command::{Command, Part};
use crate::error::{ImapError, Result};
use crate::response::{self, literal_announced, Response, Status, StatusText, Untagged};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use wire::ClientError;
use wire::{dial, Dial, Dialed, LineReader, MaybeTls};

pub use wire::{Direction, TlsPolicy, Transcript};

/// Where a streamed body section goes.
pub type Sink<'a> = &'a mut (dyn AsyncWrite + Unpin + Send);

/// Client settings.
#[derive(Clone)]
pub struct ImapOptions {
    /// Longest wait for any one read or write.
    pub timeout: Duration,
    pub tls: TlsPolicy,
    pub cacert: Option<PathBuf>,
    /// Longest response line (without its literals).
    pub max_line: usize,
    /// Largest literal accepted, streamed or not, and largest response
    /// held in memory.
    pub max_literal: u64,
    pub transcript: Option<Transcript>,
}

impl Default for ImapOptions {
    fn default() -> Self {
        ImapOptions {
            timeout: Duration::from_secs(30),
            tls: TlsPolicy::Plain,
            cacert: None,
            max_line: 1 << 20,
            max_literal: 64 << 20,
            transcript: None,
        }
    }
}

impl std::fmt::Debug for ImapOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapOptions")
            .field("timeout", &self.timeout)
            .field("tls", &self.tls)
            .field("cacert", &self.cacert)
            .field("max_line", &self.max_line)
            .field("max_literal", &self.max_literal)
            .finish()
    }
}

/// A completed command: its tagged OK and the untagged data that came
/// before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub status: StatusText,
    pub untagged: Vec<Untagged>,
}

/// Bytes read per step of a literal.
const CHUNK: usize = 64 * 1024;

/// A connection to an IMAP server.
#[derive(Debug)]
pub struct ImapClient {
    pub(crate) reader: LineReader<MaybeTls>,
    host: String,
    pub(crate) opts: ImapOptions,
    next_tag: u32,
    capabilities: Vec<String>,
    /// Set once the server said BYE.
    bye: Option<String>,
    /// Bytes of responses held since the current command was sent: a
    /// server that answers one command with endless untagged data hits
    /// `max_literal` here.
    held: u64,
}

fn io_err(context: &'static str) -> impl FnOnce(std::io::Error) -> ImapError {
    move |source| ClientError::Io { context, source }.into()
}

impl ImapClient {
    /// Connects, reads the greeting, learns the capabilities, and runs
    /// STARTTLS if asked.
    pub async fn connect(host: &str, port: u16, opts: ImapOptions) -> Result<ImapClient> {
        let Dialed { stream, tls, .. } = dial(Dial {
            host,
            port,
            policy: opts.tls,
            cacert: opts.cacert.as_deref(),
            tls13: true,
            timeout: opts.timeout,
        })
        .await?;
        let max_line = opts.max_line;
        let mut client = ImapClient {
            reader: LineReader::new(stream, max_line),
            host: host.to_string(),
            opts,
            next_tag: 1,
            capabilities: Vec::new(),
            bye: None,
            held: 0,
        };
        let greeting = client.read_response(None).await?;
        match greeting {
            Response::Untagged(Untagged::Status(st))
                if matches!(st.status, Status::Ok | Status::PreAuth) =>
            {
                client.note_capability_code(&st);
            }
            Response::Untagged(Untagged::Status(st)) if st.status == Status::Bye => {
                return Err(ImapError::Bye(st.text));
            }
            other => {
                return Err(
                    ClientError::Protocol(format!("not an IMAP greeting: {other:?}")).into(),
                )
            }
        }
        if let (Some(tls), TlsPolicy::StartTls) = (tls, client.opts.tls) {
            if client.capabilities.is_empty() {
                client.capability().await?;
            }
            if !client.has_capability("STARTTLS") {
                return Err(ImapError::Unsupported(
                    "the server does not offer STARTTLS; use imaps:// if it has an implicit-TLS port, or drop --tls".into(),
                ));
            }
            client.run(Command::new("STARTTLS")).await?;
            let wait = client.opts.timeout;
            wire::start_tls(&mut client.reader, &tls, &client.host, wait, "STARTTLS").await?;
            client.capabilities.clear();
        }
        if client.capabilities.is_empty() {
            client.capability().await?;
        }
        Ok(client)
    }

    /// Whether the connection is protected by TLS.
    pub fn is_tls(&self) -> bool {
        self.reader.get_ref().is_tls()
    }

    /// The capabilities last announced.
    pub fn capabilities(&self) -> &[String] {
        &self.capabilities
    }

    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    }

    fn note_capability_code(&mut self, st: &StatusText) {
        if st.code_name().as_deref() == Some("CAPABILITY") {
            self.capabilities = st
                .code_arg()
                .unwrap_or("")
                .split(' ')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
        }
    }

    /// Asks for the capabilities (CAPABILITY) and remembers them.
    pub async fn capability(&mut self) -> Result<Vec<String>> {
        let done = self.run(Command::new("CAPABILITY")).await?;
        for u in done.untagged {
            if let Untagged::Capability(caps) = u {
                self.capabilities = caps;
            }
        }
        Ok(self.capabilities.clone())
    }

    fn show(&self, way: Direction, line: &str) {
        if let Some(t) = &self.opts.transcript {
            t(way, line);
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let timeout = self.opts.timeout;
        tokio::time::timeout(timeout, self.reader.get_mut().write_all(bytes))
            .await
            .map_err(|_| ClientError::Timeout("sending a command"))?
            .map_err(io_err("cannot send a command"))
    }

    async fn flush(&mut self) -> Result<()> {
        let timeout = self.opts.timeout;
        tokio::time::timeout(timeout, self.reader.get_mut().flush())
            .await
            .map_err(|_| ClientError::Timeout("sending a command"))?
            .map_err(io_err("cannot send a command"))
    }

    /// Sends a command, waiting for the server's go-ahead before each
    /// synchronising literal; returns its tag.
    pub(crate) async fn send(&mut self, cmd: &Command) -> Result<String> {
        let tag = format!("W{:04}", self.next_tag);
        self.next_tag = self.next_tag.wrapping_add(1);
        self.held = 0;
        self.show(Direction::Sent, &format!("{tag} {}", cmd.shown()));
        self.write(tag.as_bytes()).await?;
        self.write(b" ").await?;
        let plus = self.has_capability("LITERAL+");
        let minus = self.has_capability("LITERAL-");
        for part in cmd.parts() {
            match part {
                Part::Text(t) => self.write(t).await?,
                Part::Literal(bytes) => {
                    let non_sync = plus || (minus && bytes.len() <= 4096);
                    if non_sync {
                        self.write(format!("{{{}+}}\r\n", bytes.len()).as_bytes())
                            .await?;
                    } else {
                        self.write(format!("{{{}}}\r\n", bytes.len()).as_bytes())
                            .await?;
                        self.flush().await?;
                        self.wait_continue(&tag).await?;
                    }
                    self.write(bytes).await?;
                }
            }
        }
        self.write(b"\r\n").await?;
        self.flush().await?;
        Ok(tag)
    }

    /// Ends an IDLE.
    pub(crate) async fn send_done(&mut self) -> Result<()> {
        self.show(Direction::Sent, "DONE");
        self.write(b"DONE\r\n").await?;
        self.flush().await
    }

    /// Sends one line that holds a secret (an AUTHENTICATE response).
    pub(crate) async fn send_masked_line(&mut self, line: &str) -> Result<()> {
        self.show(Direction::Sent, "****");
        self.write(line.as_bytes()).await?;
        self.write(b"\r\n").await?;
        self.flush().await
    }

    /// Waits for `+` (untagged data meanwhile is dropped: nothing a server
    /// sends before agreeing to a literal concerns this command).
    pub(crate) async fn wait_continue(&mut self, tag: &str) -> Result<()> {
        loop {
            match self.read_response(None).await? {
                Response::Continue(_) => return Ok(()),
                Response::Tagged { tag: t, status } if t == tag => return Err(refusal(status)),
                _ => {}
            }
        }
    }

    /// Sends a command and reads up to its tagged completion; NO and BAD
    /// are errors.
    pub async fn run(&mut self, cmd: Command) -> Result<Done> {
        self.run_to(cmd, None).await.map(|(done, _)| done)
    }

    /// As [`run`](Self::run), streaming body-section literals to `sink`;
    /// also returns how many bytes went there.
    pub async fn run_to(
        &mut self,
        cmd: Command,
        mut sink: Option<Sink<'_>>,
    ) -> Result<(Done, u64)> {
        let tag = self.send(&cmd).await?;
        self.finish_to(&tag, reborrow(&mut sink)).await
    }

    /// Reads up to the tagged completion of `tag`.
    pub(crate) async fn finish(&mut self, tag: &str) -> Result<Done> {
        self.finish_to(tag, None).await.map(|(done, _)| done)
    }

    async fn finish_to(&mut self, tag: &str, mut sink: Option<Sink<'_>>) -> Result<(Done, u64)> {
        let mut untagged = Vec::new();
        let mut streamed = 0u64;
        loop {
            let (resp, n) = self.read_response_to(reborrow(&mut sink)).await?;
            streamed += n;
            match resp {
                Response::Tagged { tag: t, status } if t == tag => {
                    return match status.status {
                        Status::Ok => Ok((Done { status, untagged }, streamed)),
                        _ => Err(refusal(status)),
                    };
                }
                Response::Tagged { .. } | Response::Continue(_) => {
                    return Err(ClientError::Protocol(format!(
                        "unexpected response while waiting for {tag}: {resp:?}"
                    ))
                    .into())
                }
                Response::Untagged(u) => {
                    if let Untagged::Status(st) = &u {
                        if st.status == Status::Bye {
                            self.bye = Some(st.text.clone());
                        }
                        self.note_capability_code(st);
                    }
                    untagged.push(u);
                }
            }
        }
    }

    pub(crate) async fn read_response(&mut self, sink: Option<Sink<'_>>) -> Result<Response> {
        self.read_response_to(sink).await.map(|(r, _)| r)
    }

    async fn read_response_to(&mut self, sink: Option<Sink<'_>>) -> Result<(Response, u64)> {
        self.assemble(None, sink).await
    }

    async fn read_line(&mut self) -> Result<Vec<u8>> {
        match tokio::time::timeout(self.opts.timeout, self.reader.read_line()).await {
            Err(_) => Err(ClientError::Timeout("waiting for the server").into()),
            Ok(Ok(line)) => Ok(line),
            Ok(Err(wire::LineError::Closed)) if self.bye.is_some() => {
                Err(ImapError::Bye(self.bye.clone().unwrap_or_default()))
            }
            Ok(Err(e)) => Err(e.into()),
        }
    }

    /// Reads one whole response: its lines and literals. Body-section
    /// literals go to `sink` when there is one (and are NIL in the
    /// parsed response); others are held, within `max_literal`.
    async fn assemble(
        &mut self,
        mut first: Option<Vec<u8>>,
        mut sink: Option<Sink<'_>>,
    ) -> Result<(Response, u64)> {
        let limit = self.opts.max_literal;
        let mut whole: Vec<u8> = Vec::new();
        let mut streamed = 0u64;
        loop {
            let mut line = match first.take() {
                Some(line) => line,
                None => self.read_line().await?,
            };
            self.show(Direction::Received, &String::from_utf8_lossy(&line));
            let announced = match literal_announced(&line) {
                None => {
                    whole.extend_from_slice(&line);
                    break;
                }
                Some(Err(())) => u64::MAX,
                Some(Ok(n)) => n,
            };
            if announced > limit {
                return Err(ImapError::LiteralTooLarge {
                    size: announced,
                    limit,
                });
            }
            let to_sink = sink.is_some() && response::announces_section(&line);
            match (to_sink, reborrow(&mut sink)) {
                (true, Some(out)) => {
                    self.copy_literal(announced, out).await?;
                    streamed += announced;
                    if let Some(open) = line.iter().rposition(|&b| b == b'{') {
                        let open = if open > 0 && line[open - 1] == b'~' {
                            open - 1
                        } else {
                            open
                        };
                        line.truncate(open);
                    }
                    whole.extend_from_slice(&line);
                    whole.extend_from_slice(b"NIL");
                }
                _ => {
                    if whole.len() as u64 + line.len() as u64 + announced > limit {
                        return Err(ImapError::ResponseTooLarge(limit));
                    }
                    whole.extend_from_slice(&line);
                    whole.extend_from_slice(b"\r\n");
                    self.read_literal(announced, &mut whole).await?;
                }
            }
            if whole.len() as u64 > limit {
                return Err(ImapError::ResponseTooLarge(limit));
            }
        }
        self.held = self.held.saturating_add(whole.len() as u64);
        if self.held > limit {
            return Err(ImapError::ResponseTooLarge(limit));
        }
        let resp = response::parse(&whole).map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((resp, streamed))
    }

    async fn read_chunk(&mut self, buf: &mut [u8]) -> Result<usize> {
        let n = tokio::time::timeout(self.opts.timeout, self.reader.read_raw(buf))
            .await
            .map_err(|_| ClientError::Timeout("reading a literal"))?
            .map_err(io_err("cannot read a literal"))?;
        if n == 0 {
            return Err(ClientError::Line(wire::LineError::Truncated).into());
        }
        Ok(n)
    }

    async fn read_literal(&mut self, len: u64, out: &mut Vec<u8>) -> Result<()> {
        self.show(Direction::Received, &format!("<{len} bytes>"));
        let mut left = len;
        let mut buf = vec![0u8; CHUNK.min(len as usize)];
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = self.read_chunk(&mut buf[..want]).await?;
            out.extend_from_slice(&buf[..n]);
            left -= n as u64;
        }
        Ok(())
    }

    async fn copy_literal(&mut self, len: u64, out: Sink<'_>) -> Result<()> {
        self.show(Direction::Received, &format!("<{len} bytes, streamed>"));
        let mut left = len;
        let mut buf = vec![0u8; CHUNK.min(len as usize)];
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = self.read_chunk(&mut buf[..want]).await?;
            out.write_all(&buf[..n])
                .await
                .map_err(io_err("cannot write the fetched data"))?;
            left -= n as u64;
        }
        Ok(())
    }

    /// Waits until `until` for a response to begin (IDLE); `None` if
    /// none did. Its literals, if any, get the usual timeout.
    pub(crate) async fn read_response_until(&mut self, until: Instant) -> Result<Option<Response>> {
        let left = until.saturating_duration_since(Instant::now());
        // `read_line` is cancel-safe: a timeout here loses no bytes.
        match tokio::time::timeout(left, self.reader.read_line()).await {
            Err(_) => Ok(None),
            Ok(Err(wire::LineError::Closed)) if self.bye.is_some() => {
                Err(ImapError::Bye(self.bye.clone().unwrap_or_default()))
            }
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(line)) => self.assemble(Some(line), None).await.map(|(r, _)| Some(r)),
        }
    }
}

/// Lends the sink out for one call, keeping it for the next.
fn reborrow<'b>(sink: &'b mut Option<Sink<'_>>) -> Option<Sink<'b>> {
    match sink {
        Some(s) => Some(&mut **s),
        None => None,
    }
}

/// The error for a tagged NO or BAD.
pub(crate) fn refusal(status: StatusText) -> ImapError {
    match status.status {
        Status::Bad => ImapError::Bad(status),
        _ => ImapError::No(status),
    }
}
