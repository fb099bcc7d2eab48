//! [`NntpClient`]: a connection to a news server (RFC 3977), with
//! STARTTLS (RFC 4642) or implicit TLS, AUTHINFO USER/PASS (RFC 4643), and
//! the older XOVER/XHDR (RFC 2980) where OVER/HDR are missing.

use crate::error::{NntpError, Result};
use crate::proto::{
    parse_article_status, valid_arg, ActiveGroup, ArticleRef, GroupInfo, Overview, Response,
};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use wire::ClientError;
use wire::{dial, Dial, Dialed, DotReader, LineReader, MaybeTls};

/// Longest status or block line accepted.
const MAX_LINE: usize = 64 * 1024;

pub use wire::{Direction, TlsPolicy, Transcript};

/// Client settings.
#[derive(Clone)]
pub struct NntpOptions {
    pub timeout: Duration,
    pub tls: TlsPolicy,
    pub cacert: Option<PathBuf>,
    /// Largest multi-line block (an article, a listing) accepted.
    pub max_block: u64,
    pub transcript: Option<Transcript>,
}

impl Default for NntpOptions {
    fn default() -> Self {
        NntpOptions {
            timeout: Duration::from_secs(30),
            tls: TlsPolicy::Plain,
            cacert: None,
            max_block: 64 << 20,
            transcript: None,
        }
    }
}

impl std::fmt::Debug for NntpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NntpOptions")
            .field("timeout", &self.timeout)
            .field("tls", &self.tls)
            .field("cacert", &self.cacert)
            .field("max_block", &self.max_block)
            .finish()
    }
}

/// An article as read: its number (0 when fetched by message-id), its
/// message-id and its lines, dot-unstuffed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    pub number: u64,
    pub message_id: String,
    pub lines: Vec<Vec<u8>>,
}

/// A connection to a news server.
#[derive(Debug)]
pub struct NntpClient {
    reader: LineReader<MaybeTls>,
    host: String,
    opts: NntpOptions,
    posting_allowed: bool,
}

impl NntpClient {
    /// Connects, reads the greeting, and runs STARTTLS if asked.
    pub async fn connect(host: &str, port: u16, opts: NntpOptions) -> Result<NntpClient> {
        let Dialed { stream, tls, .. } = dial(Dial {
            host,
            port,
            policy: opts.tls,
            cacert: opts.cacert.as_deref(),
            tls13: true,
            timeout: opts.timeout,
        })
        .await?;
        let mut client = NntpClient {
            reader: LineReader::new(stream, MAX_LINE),
            host: host.to_string(),
            opts,
            posting_allowed: false,
        };
        let greeting = client.response().await?;
        match greeting.code {
            200 => client.posting_allowed = true,
            201 => {}
            _ => return Err(status(&greeting)),
        }
        if let (Some(tls), TlsPolicy::StartTls) = (tls, client.opts.tls) {
            client.command("STARTTLS").await?;
            let wait = client.opts.timeout;
            wire::start_tls(&mut client.reader, &tls, &client.host, wait, "STARTTLS").await?;
        }
        Ok(client)
    }

    /// Whether the greeting allowed posting (200 rather than 201).
    pub fn posting_allowed(&self) -> bool {
        self.posting_allowed
    }

    async fn send(&mut self, line: &str) -> Result<()> {
        if !valid_arg(line) {
            return Err(NntpError::Invalid(
                "a command may not contain CR, LF or NUL".into(),
            ));
        }
        if let Some(t) = &self.opts.transcript {
            let shown = if line.to_ascii_uppercase().starts_with("AUTHINFO PASS") {
                "AUTHINFO PASS ****"
            } else {
                line
            };
            t(Direction::Sent, shown);
        }
        let stream = self.reader.get_mut();
        let io = |source| ClientError::Io {
            context: "cannot send a command",
            source,
        };
        stream
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .map_err(io)?;
        Ok(stream.flush().await.map_err(io)?)
    }

    /// Reads one status line.
    pub async fn response(&mut self) -> Result<Response> {
        let line = tokio::time::timeout(self.opts.timeout, self.reader.read_line())
            .await
            .map_err(|_| ClientError::Timeout("waiting for the server"))??;
        if let Some(t) = &self.opts.transcript {
            t(Direction::Received, &String::from_utf8_lossy(&line));
        }
        Response::parse(&line).ok_or_else(|| {
            ClientError::Protocol(format!(
                "not a status line: {:?}",
                String::from_utf8_lossy(&line)
            ))
            .into()
        })
    }

    /// Sends a command; a 4xx or 5xx status is an error.
    pub async fn command(&mut self, line: &str) -> Result<Response> {
        self.send(line).await?;
        let r = self.response().await?;
        if r.code >= 400 {
            return Err(status(&r));
        }
        Ok(r)
    }

    /// Reads the block that follows a status, bounded by `max_block`.
    async fn block(&mut self) -> Result<Vec<Vec<u8>>> {
        let mut lines = Vec::new();
        self.each_block_line(&mut |line| {
            lines.push(line.to_vec());
            Ok(())
        })
        .await?;
        Ok(lines)
    }

    /// Streams the block that follows a status through `line`, one
    /// dot-unstuffed line at a time, bounded by `max_block`.
    async fn each_block_line(
        &mut self,
        line: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
    ) -> Result<()> {
        let (limit, wait) = (self.opts.max_block, self.opts.timeout);
        let mut dots = DotReader::new(&mut self.reader, limit);
        loop {
            let next = tokio::time::timeout(wait, dots.next_line())
                .await
                .map_err(|_| ClientError::Timeout("reading a multi-line block"))??;
            match next {
                Some(l) => line(&l).map_err(|source| ClientError::Io {
                    context: "cannot write the block",
                    source,
                })?,
                None => return Ok(()),
            }
        }
    }

    /// Sends `line` and reads the block that follows as text lines.
    async fn text_block(&mut self, line: &str) -> Result<Vec<String>> {
        self.command(line).await?;
        Ok(self
            .block()
            .await?
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect())
    }

    /// CAPABILITIES, one capability line each.
    pub async fn capabilities(&mut self) -> Result<Vec<String>> {
        self.text_block("CAPABILITIES").await
    }

    pub async fn mode_reader(&mut self) -> Result<Response> {
        let r = self.command("MODE READER").await?;
        self.posting_allowed = r.code == 200;
        Ok(r)
    }

    /// AUTHINFO USER/PASS (RFC 4643).
    pub async fn authinfo(&mut self, user: &str, password: &str) -> Result<()> {
        let refused = |e: NntpError| match e {
            NntpError::Status {
                code: code @ (481 | 482 | 502),
                text,
            } => ClientError::AuthRefused {
                code: Some(code),
                text,
            }
            .into(),
            other => other,
        };
        let r = self
            .command(&format!("AUTHINFO USER {user}"))
            .await
            .map_err(refused)?;
        match r.code {
            281 => Ok(()),
            381 => self
                .command(&format!("AUTHINFO PASS {password}"))
                .await
                .map_err(refused)
                .map(drop),
            _ => Err(status(&r)),
        }
    }

    pub async fn group(&mut self, name: &str) -> Result<GroupInfo> {
        let r = self.command(&format!("GROUP {name}")).await?;
        GroupInfo::parse(&r).ok_or_else(|| {
            ClientError::Protocol(format!("unreadable GROUP reply: {}", r.text)).into()
        })
    }

    /// LISTGROUP: the group and the article numbers in `range` (or all).
    pub async fn listgroup(
        &mut self,
        name: &str,
        range: Option<&str>,
    ) -> Result<(GroupInfo, Vec<u64>)> {
        let line = match range {
            Some(r) => format!("LISTGROUP {name} {r}"),
            None => format!("LISTGROUP {name}"),
        };
        let r = self.command(&line).await?;
        let info = GroupInfo::parse(&r).ok_or_else(|| {
            ClientError::Protocol(format!("unreadable LISTGROUP reply: {}", r.text))
        })?;
        let numbers = self
            .block()
            .await?
            .iter()
            .filter_map(|l| String::from_utf8_lossy(l).trim().parse().ok())
            .collect();
        Ok((info, numbers))
    }

    /// LIST ACTIVE [wildmat].
    pub async fn list_active(&mut self, pattern: Option<&str>) -> Result<Vec<ActiveGroup>> {
        self.command(&list_line("ACTIVE", pattern)).await?;
        Ok(self
            .block()
            .await?
            .iter()
            .filter_map(|l| ActiveGroup::parse(l))
            .collect())
    }

    /// LIST NEWSGROUPS [wildmat]: names and descriptions.
    pub async fn list_newsgroups(
        &mut self,
        pattern: Option<&str>,
    ) -> Result<Vec<(String, String)>> {
        self.command(&list_line("NEWSGROUPS", pattern)).await?;
        Ok(self
            .block()
            .await?
            .iter()
            .map(|l| {
                let text = String::from_utf8_lossy(l);
                let (name, desc) = text.split_once(['\t', ' ']).unwrap_or((&text, ""));
                (name.to_string(), desc.trim().to_string())
            })
            .collect())
    }

    /// LIST OVERVIEW.FMT.
    pub async fn list_overview_fmt(&mut self) -> Result<Vec<String>> {
        self.text_block("LIST OVERVIEW.FMT").await
    }

    /// OVER (or XOVER on older servers) for `range` (`first-last`).
    pub async fn over(&mut self, range: &str) -> Result<Vec<Overview>> {
        let lines = self
            .with_fallback(&format!("OVER {range}"), &format!("XOVER {range}"))
            .await?;
        Ok(lines.iter().filter_map(|l| Overview::parse(l)).collect())
    }

    /// HDR (or XHDR) of `field` for `range`: (article number, value).
    pub async fn hdr(&mut self, field: &str, range: &str) -> Result<Vec<(u64, Vec<u8>)>> {
        let lines = self
            .with_fallback(
                &format!("HDR {field} {range}"),
                &format!("XHDR {field} {range}"),
            )
            .await?;
        Ok(lines
            .iter()
            .filter_map(|l| {
                let (n, v) = l.split_at(l.iter().position(|&b| b == b' ').unwrap_or(l.len()));
                let number = std::str::from_utf8(n).ok()?.parse().ok()?;
                Some((number, v.strip_prefix(b" ").unwrap_or(v).to_vec()))
            })
            .collect())
    }

    async fn with_fallback(&mut self, modern: &str, old: &str) -> Result<Vec<Vec<u8>>> {
        match self.command(modern).await {
            Ok(_) => self.block().await,
            Err(NntpError::Status { code: 500, .. }) => {
                self.command(old).await?;
                self.block().await
            }
            Err(e) => Err(e),
        }
    }

    async fn fetch(&mut self, verb: &str, which: &ArticleRef) -> Result<Article> {
        let r = self
            .command(format!("{verb} {}", which.arg()).trim_end())
            .await?;
        let (number, message_id) = parse_article_status(&r).unwrap_or((0, String::new()));
        let lines = self.block().await?;
        Ok(Article {
            number,
            message_id,
            lines,
        })
    }

    /// ARTICLE, streamed: each line (dot-unstuffed, without its line end)
    /// goes to `line` as it arrives, so an article of any size passes
    /// through bounded memory. Returns the number and message-id.
    pub async fn article_to(
        &mut self,
        which: &ArticleRef,
        line: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
    ) -> Result<(u64, String)> {
        let r = self
            .command(format!("ARTICLE {}", which.arg()).trim_end())
            .await?;
        let status = parse_article_status(&r).unwrap_or((0, String::new()));
        self.each_block_line(line).await?;
        Ok(status)
    }

    /// ARTICLE: headers, blank line, body.
    pub async fn article(&mut self, which: &ArticleRef) -> Result<Article> {
        self.fetch("ARTICLE", which).await
    }

    pub async fn head(&mut self, which: &ArticleRef) -> Result<Article> {
        self.fetch("HEAD", which).await
    }

    pub async fn body(&mut self, which: &ArticleRef) -> Result<Article> {
        self.fetch("BODY", which).await
    }

    /// STAT: whether the article exists, its number and message-id.
    pub async fn stat(&mut self, which: &ArticleRef) -> Result<(u64, String)> {
        let r = self
            .command(format!("STAT {}", which.arg()).trim_end())
            .await?;
        parse_article_status(&r).ok_or_else(|| {
            ClientError::Protocol(format!("unreadable STAT reply: {}", r.text)).into()
        })
    }

    pub async fn next(&mut self) -> Result<(u64, String)> {
        let r = self.command("NEXT").await?;
        parse_article_status(&r).ok_or_else(|| ClientError::Protocol(r.text.clone()).into())
    }

    pub async fn last(&mut self) -> Result<(u64, String)> {
        let r = self.command("LAST").await?;
        parse_article_status(&r).ok_or_else(|| ClientError::Protocol(r.text.clone()).into())
    }

    /// NEWGROUPS since `yyyymmdd hhmmss` (GMT).
    pub async fn newgroups(&mut self, since: &str) -> Result<Vec<ActiveGroup>> {
        self.command(&format!("NEWGROUPS {since} GMT")).await?;
        Ok(self
            .block()
            .await?
            .iter()
            .filter_map(|l| ActiveGroup::parse(l))
            .collect())
    }

    /// NEWNEWS wildmat since `yyyymmdd hhmmss` (GMT): message-ids.
    pub async fn newnews(&mut self, wildmat: &str, since: &str) -> Result<Vec<String>> {
        self.text_block(&format!("NEWNEWS {wildmat} {since} GMT"))
            .await
    }

    /// POST: `article` is headers, a blank line and the body; it is
    /// dot-stuffed here.
    pub async fn post(&mut self, article: &[u8]) -> Result<Response> {
        self.command("POST").await?;
        let mut wire_form = Vec::with_capacity(article.len() + 64);
        wire::dot::stuff(article, &mut wire_form);
        let stream = self.reader.get_mut();
        let io = |source| ClientError::Io {
            context: "cannot send the article",
            source,
        };
        stream.write_all(&wire_form).await.map_err(io)?;
        stream.flush().await.map_err(io)?;
        let r = self.response().await?;
        if r.code != 240 {
            return Err(status(&r));
        }
        Ok(r)
    }

    /// DATE: the server's time, `yyyymmddhhmmss`.
    pub async fn date(&mut self) -> Result<String> {
        Ok(self.command("DATE").await?.text.trim().to_string())
    }

    pub async fn quit(mut self) -> Result<()> {
        let _ = self.command("QUIT").await;
        let _ = self.reader.get_mut().shutdown().await;
        Ok(())
    }
}

fn list_line(keyword: &str, pattern: Option<&str>) -> String {
    match pattern {
        Some(p) => format!("LIST {keyword} {p}"),
        None => format!("LIST {keyword}"),
    }
}

fn status(r: &Response) -> NntpError {
    NntpError::Status {
        code: r.code,
        text: r.text.clone(),
    }
}
