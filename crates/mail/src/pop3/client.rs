//! [`Pop3Client`]: a session with a POP3 server (RFC 1939): USER/PASS,
//! APOP, AUTH (RFC 5034), CAPA (RFC 2449), STLS (RFC 2595), and the
//! transaction commands. RETR streams to an `AsyncWrite` a line at a
//! time, so a message of any size passes in bounded memory. Deletions
//! take effect only at QUIT: dropping the client (or losing the
//! connection) leaves the mailbox as it was.

use super::proto::{apop_timestamp, list_entry, resp_code, two_numbers, uidl_entry, Status};
use crate::conn::{Conn, Options, TlsPolicy};
use crate::error::{MailError, Result};
use crate::sasl::{self, Mechanism};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use wire::oauth::{error_detail, Bearer, OAuthMechanism};
use wire::ClientError;
use wire::DotReader;

/// Largest listing (LIST, UIDL, CAPA, TOP) accepted.
const MAX_LISTING: u64 = 16 << 20;

/// A connected POP3 session.
#[derive(Debug)]
pub struct Pop3Client {
    conn: Conn,
    greeting: String,
}

impl Pop3Client {
    /// Connects, reads the greeting, and runs STLS when `opts.security`
    /// asks for it.
    pub async fn connect(host: &str, port: u16, opts: Options) -> Result<Pop3Client> {
        let conn = Conn::open(host, port, opts).await?;
        let mut client = Pop3Client {
            conn,
            greeting: String::new(),
        };
        client.greeting = match client.status().await? {
            Status::Ok(text) => text,
            Status::Err(text) => {
                return Err(MailError::Pop3 {
                    command: "the greeting".into(),
                    text,
                })
            }
            Status::Continue(_) => {
                return Err(ClientError::Protocol("a greeting of +".into()).into())
            }
        };
        if client.conn.opts.security == TlsPolicy::StartTls {
            client.stls().await?;
        }
        Ok(client)
    }

    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    pub fn is_tls(&self) -> bool {
        self.conn.is_tls()
    }

    async fn status(&mut self) -> Result<Status> {
        let line = self.conn.read_line().await?;
        Status::parse(&line).ok_or_else(|| {
            ClientError::Protocol(format!(
                "not a POP3 status line: {:?}",
                String::from_utf8_lossy(&line[..line.len().min(200)])
            ))
            .into()
        })
    }

    /// Sends a command (`shown` in the transcript) and wants `+OK`.
    async fn ok(&mut self, line: &str, shown: Option<&str>) -> Result<String> {
        self.conn.send_line(line, shown).await?;
        let command = shown.unwrap_or(line).to_string();
        match self.status().await? {
            Status::Ok(text) => Ok(text),
            Status::Err(text) => Err(MailError::Pop3 { command, text }),
            Status::Continue(_) => Err(ClientError::Protocol(format!(
                "unexpected continuation after {command}"
            ))
            .into()),
        }
    }

    /// Reads a dot-terminated block of at most `limit` bytes, a line at a time.
    async fn each_line(
        &mut self,
        limit: u64,
        mut f: impl FnMut(Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let wait = self.conn.opts.timeout;
        let mut block = DotReader::new(self.conn.reader(), limit);
        loop {
            let line = tokio::time::timeout(wait, block.next_line())
                .await
                .map_err(|_| ClientError::Timeout("waiting for the rest of the answer"))??;
            match line {
                Some(line) => f(line)?,
                None => return Ok(()),
            }
        }
    }

    /// CAPA (RFC 2449): the capabilities, one line each.
    pub async fn capa(&mut self) -> Result<Vec<String>> {
        self.ok("CAPA", None).await?;
        let mut caps = Vec::new();
        self.each_line(MAX_LISTING, |l| {
            caps.push(String::from_utf8_lossy(&l).into_owned());
            Ok(())
        })
        .await?;
        Ok(caps)
    }

    /// STLS (RFC 2595): TLS on this connection.
    pub async fn stls(&mut self) -> Result<()> {
        if self.conn.is_tls() {
            return Ok(());
        }
        self.ok("STLS", None).await.map_err(|e| match e {
            MailError::Pop3 { text, .. } => MailError::NotSupported(format!(
                "the server refused STLS ({text}); use pop3s:// for TLS from the start"
            )),
            other => other,
        })?;
        self.conn.upgrade("STLS").await
    }

    /// USER and PASS.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<()> {
        self.ok(&format!("USER {user}"), None).await.map_err(auth)?;
        self.ok(&format!("PASS {password}"), Some("PASS ****"))
            .await
            .map_err(auth)?;
        Ok(())
    }

    /// APOP (RFC 1939 §7): the password never crosses the wire.
    pub async fn apop(&mut self, user: &str, password: &str) -> Result<()> {
        let stamp = apop_timestamp(&self.greeting).ok_or_else(|| {
            MailError::NotSupported("the server's greeting has no APOP timestamp".into())
        })?;
        let digest = sasl::apop_digest(stamp, password);
        self.ok(
            &format!("APOP {user} {digest}"),
            Some(&format!("APOP {user} ****")),
        )
        .await
        .map_err(auth)?;
        Ok(())
    }

    /// AUTH (RFC 5034) with a SASL mechanism.
    pub async fn auth(&mut self, user: &str, password: &str, mech: Mechanism) -> Result<()> {
        let last = match mech {
            Mechanism::Plain => {
                let line = format!("AUTH PLAIN {}", sasl::plain(user, password));
                self.secret(&line, "AUTH PLAIN ****").await?
            }
            Mechanism::Login => {
                self.challenge("AUTH LOGIN", "AUTH LOGIN").await?;
                self.challenge(&sasl::b64(user.as_bytes()), "****").await?;
                self.secret(&sasl::b64(password.as_bytes()), "****").await?
            }
            Mechanism::CramMd5 => {
                let challenge = self.challenge("AUTH CRAM-MD5", "AUTH CRAM-MD5").await?;
                let answer = sasl::cram_md5(user, password, &challenge).ok_or_else(|| {
                    ClientError::Protocol("the CRAM-MD5 challenge is not base64".into())
                })?;
                self.secret(&answer, "****").await?
            }
        };
        match last {
            Status::Ok(_) => Ok(()),
            Status::Err(text) => Err(ClientError::AuthRefused { code: None, text }.into()),
            Status::Continue(_) => {
                let _ = self.secret("*", "*").await;
                Err(ClientError::AuthRefused {
                    code: None,
                    text: format!("AUTH {}: the server wanted more", mech.name()),
                }
                .into())
            }
        }
    }

    /// AUTH (RFC 5034) with an OAuth 2.0 bearer token: `mechanism`, or the
    /// best of OAUTHBEARER and XOAUTH2 the server's CAPA lists under SASL.
    pub async fn auth_oauth(
        &mut self,
        user: &str,
        token: &Bearer,
        mechanism: Option<OAuthMechanism>,
    ) -> Result<()> {
        let mech = match mechanism {
            Some(m) => m,
            None => {
                let capa = self.capa().await?;
                let offered = capa
                    .iter()
                    .filter_map(|line| line.strip_prefix("SASL "))
                    .flat_map(str::split_whitespace);
                OAuthMechanism::choose(offered).ok_or_else(|| {
                    MailError::NotSupported(
                        "the server offers neither OAUTHBEARER nor XOAUTH2 (SASL in CAPA)".into(),
                    )
                })?
            }
        };
        let name = mech.name();
        let line = format!("AUTH {name} {}", mech.initial_response(user, token));
        match self.secret(&line, &format!("AUTH {name} ****")).await? {
            Status::Ok(_) => Ok(()),
            Status::Err(text) => Err(ClientError::AuthRefused { code: None, text }.into()),
            Status::Continue(challenge) => {
                // The server's error, as a challenge; the answer ends the exchange.
                let last = self.secret(mech.after_error(), "****").await?;
                let text = match last {
                    Status::Err(text) | Status::Ok(text) | Status::Continue(text) => text,
                };
                Err(ClientError::AuthRefused {
                    code: None,
                    text: format!("AUTH {name}: {text} ({})", error_detail(&challenge)),
                }
                .into())
            }
        }
    }

    async fn secret(&mut self, line: &str, shown: &str) -> Result<Status> {
        self.conn.send_line(line, Some(shown)).await?;
        self.status().await
    }

    /// Sends a step of an exchange and wants a `+ challenge` back.
    async fn challenge(&mut self, line: &str, shown: &str) -> Result<String> {
        match self.secret(line, shown).await? {
            Status::Continue(c) => Ok(c),
            Status::Err(text) => Err(ClientError::AuthRefused { code: None, text }.into()),
            Status::Ok(_) => Err(ClientError::Protocol(format!(
                "+OK where a challenge was due after {shown}"
            ))
            .into()),
        }
    }

    /// STAT: (messages, total octets).
    pub async fn stat(&mut self) -> Result<(u64, u64)> {
        let text = self.ok("STAT", None).await?;
        two_numbers(&text)
            .ok_or_else(|| ClientError::Protocol(format!("STAT answered {text:?}")).into())
    }

    /// LIST: number and size of every message not marked deleted.
    pub async fn list(&mut self) -> Result<Vec<(u32, u64)>> {
        self.ok("LIST", None).await?;
        let mut out = Vec::new();
        self.each_line(MAX_LISTING, |l| {
            let entry = list_entry(&l).ok_or_else(|| {
                ClientError::Protocol(format!("bad LIST line {:?}", String::from_utf8_lossy(&l)))
            })?;
            out.push(entry);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// LIST n: the size of one message.
    pub async fn list_one(&mut self, n: u32) -> Result<u64> {
        let text = self.ok(&format!("LIST {n}"), None).await?;
        two_numbers(&text)
            .map(|(_, size)| size)
            .ok_or_else(|| ClientError::Protocol(format!("LIST {n} answered {text:?}")).into())
    }

    /// UIDL: number and unique id of every message.
    pub async fn uidl(&mut self) -> Result<Vec<(u32, String)>> {
        self.ok("UIDL", None).await?;
        let mut out = Vec::new();
        self.each_line(MAX_LISTING, |l| {
            let text = String::from_utf8_lossy(&l);
            out.push(
                uidl_entry(&text)
                    .ok_or_else(|| ClientError::Protocol(format!("bad UIDL line {text:?}")))?,
            );
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// UIDL n.
    pub async fn uidl_one(&mut self, n: u32) -> Result<String> {
        let text = self.ok(&format!("UIDL {n}"), None).await?;
        uidl_entry(&text)
            .map(|(_, uid)| uid)
            .ok_or_else(|| ClientError::Protocol(format!("UIDL {n} answered {text:?}")).into())
    }

    /// RETR n, written to `out` as it arrives (lines end in CRLF, dots
    /// unstuffed). At most `limit` bytes are accepted. Returns the bytes
    /// written.
    pub async fn retr_to<W: AsyncWrite + Unpin>(
        &mut self,
        n: u32,
        out: &mut W,
        limit: u64,
    ) -> Result<u64> {
        self.ok(&format!("RETR {n}"), None).await?;
        let wait = self.conn.opts.timeout;
        let mut block = DotReader::new(self.conn.reader(), limit);
        let mut written = 0u64;
        let io = |source| ClientError::Io {
            context: "cannot write the message",
            source,
        };
        loop {
            let line = tokio::time::timeout(wait, block.next_line())
                .await
                .map_err(|_| ClientError::Timeout("waiting for the rest of the message"))??;
            let Some(mut line) = line else { break };
            line.extend_from_slice(b"\r\n");
            out.write_all(&line).await.map_err(io)?;
            written += line.len() as u64;
        }
        out.flush().await.map_err(io)?;
        Ok(written)
    }

    /// TOP n lines: the headers and the first `lines` lines of the body.
    pub async fn top(&mut self, n: u32, lines: u32) -> Result<Vec<Vec<u8>>> {
        self.ok(&format!("TOP {n} {lines}"), None).await?;
        let mut out = Vec::new();
        self.each_line(MAX_LISTING, |l| {
            out.push(l);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// DELE n: marks a message; it goes at QUIT.
    pub async fn dele(&mut self, n: u32) -> Result<()> {
        self.ok(&format!("DELE {n}"), None).await.map(drop)
    }

    /// RSET: unmarks every message.
    pub async fn rset(&mut self) -> Result<()> {
        self.ok("RSET", None).await.map(drop)
    }

    pub async fn noop(&mut self) -> Result<()> {
        self.ok("NOOP", None).await.map(drop)
    }

    /// QUIT: the server deletes the marked messages now (UPDATE state).
    pub async fn quit(mut self) -> Result<()> {
        let result = self.ok("QUIT", None).await;
        self.conn.shutdown().await;
        result.map(drop)
    }
}

/// A `-ERR` to a login command is a refused login (with its `[AUTH]` or
/// `[IN-USE]` code kept in the text).
fn auth(e: MailError) -> MailError {
    match e {
        MailError::Pop3 { text, command } => ClientError::AuthRefused {
            code: None,
            text: match resp_code(&text) {
                Some(_) => format!("{command}: {text}"),
                None => format!("{command}: -ERR {text}"),
            },
        }
        .into(),
        other => other,
    }
}
