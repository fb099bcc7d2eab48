//! [`SmtpClient`]: a session with an SMTP server (RFC 5321): EHLO (HELO
//! when EHLO is refused), STARTTLS (RFC 3207), AUTH (RFC 4954), and
//! [`SmtpClient::send_mail`], which pipelines the envelope where the
//! server offers PIPELINING (RFC 2920) and streams the dot-stuffed body.

use super::proto::{mail_from, needs_smtputf8, rcpt_to, Extensions, MailOptions, RcptOptions};
use crate::conn::{Conn, Options, TlsPolicy};
use crate::error::{MailError, Refusal, Result};
use crate::sasl::{self, Mechanism};
use tokio::io::{AsyncRead, AsyncReadExt};
use wire::oauth::{error_detail, Bearer, OAuthMechanism};
use wire::ClientError;
use wire::{RawReply, Stuffer};

/// The name this client gives in EHLO/HELO.
const CLIENT_NAME: &str = "localhost";
/// Bytes of the message read at a time.
const CHUNK: usize = 64 * 1024;

/// A connected SMTP session.
#[derive(Debug)]
pub struct SmtpClient {
    conn: Conn,
    greeting: String,
    ext: Extensions,
    /// Whether EHLO worked (else HELO: no extensions).
    esmtp: bool,
}

impl SmtpClient {
    /// Connects, reads the greeting, says EHLO, and runs STARTTLS (then
    /// EHLO again) when `opts.security` asks for it.
    pub async fn connect(host: &str, port: u16, opts: Options) -> Result<SmtpClient> {
        let conn = Conn::open(host, port, opts).await?;
        let mut client = SmtpClient {
            conn,
            greeting: String::new(),
            ext: Extensions::default(),
            esmtp: false,
        };
        let greeting = client.conn.read_reply().await?;
        if greeting.code != 220 {
            return Err(refused("the greeting", &greeting));
        }
        client.greeting = greeting.text();
        client.hello().await?;
        if client.conn.opts.security == TlsPolicy::StartTls {
            client.starttls().await?;
        }
        Ok(client)
    }

    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// What the last EHLO announced (empty after HELO).
    pub fn extensions(&self) -> &Extensions {
        &self.ext
    }

    pub fn is_tls(&self) -> bool {
        self.conn.is_tls()
    }

    /// EHLO, or HELO if the server does not know EHLO (RFC 5321 §3.2).
    async fn hello(&mut self) -> Result<()> {
        let reply = self.call(&format!("EHLO {CLIENT_NAME}")).await?;
        if reply.code == 250 {
            self.ext = Extensions::parse(&reply.lines);
            self.esmtp = true;
            return Ok(());
        }
        if !reply.is_permanent() {
            return Err(refused("EHLO", &reply));
        }
        let reply = self.call(&format!("HELO {CLIENT_NAME}")).await?;
        if reply.code != 250 {
            return Err(refused("HELO", &reply));
        }
        self.ext = Extensions::default();
        self.esmtp = false;
        Ok(())
    }

    /// STARTTLS, then EHLO again: what the server announced before TLS
    /// is forgotten (RFC 3207 §4.2).
    pub async fn starttls(&mut self) -> Result<()> {
        if self.conn.is_tls() {
            return Ok(());
        }
        if !self.ext.has("STARTTLS") {
            return Err(MailError::NotSupported(
                "the server does not offer STARTTLS (use smtps:// for TLS from the start, \
                 or leave out --tls to send in the clear)"
                    .into(),
            ));
        }
        let reply = self.call("STARTTLS").await?;
        if reply.code != 220 {
            return Err(refused("STARTTLS", &reply));
        }
        self.conn.upgrade("STARTTLS").await?;
        self.hello().await
    }

    /// Sends a command line and reads its reply, whatever the code.
    pub async fn call(&mut self, line: &str) -> Result<RawReply> {
        self.conn.send_line(line, None).await?;
        self.conn.read_reply().await
    }

    /// Logs in with `mechanism`, or the best one the server offers.
    pub async fn login(
        &mut self,
        user: &str,
        password: &str,
        mechanism: Option<Mechanism>,
    ) -> Result<()> {
        let mech = match mechanism {
            Some(m) => m,
            None => Mechanism::choose(self.ext.auth_mechanisms(), self.conn.is_tls()).ok_or_else(
                || {
                    MailError::NotSupported(if self.ext.has("AUTH") {
                        "the server offers no login mechanism this client knows (PLAIN, LOGIN, CRAM-MD5)".into()
                    } else {
                        "the server offers no login (AUTH) here; it may require STARTTLS first (--tls)".into()
                    })
                },
            )?,
        };
        let name = mech.name();
        let reply = match mech {
            Mechanism::Plain => {
                let line = format!("AUTH PLAIN {}", sasl::plain(user, password));
                self.secret(&line, "AUTH PLAIN ****").await?
            }
            Mechanism::Login => {
                let first = self.call("AUTH LOGIN").await?;
                self.expect_challenge(&first)?;
                let second = self.secret(&sasl::b64(user.as_bytes()), "****").await?;
                self.expect_challenge(&second)?;
                self.secret(&sasl::b64(password.as_bytes()), "****").await?
            }
            Mechanism::CramMd5 => {
                let first = self.call("AUTH CRAM-MD5").await?;
                self.expect_challenge(&first)?;
                let answer = sasl::cram_md5(user, password, &first.text()).ok_or_else(|| {
                    ClientError::Protocol("the CRAM-MD5 challenge is not base64".into())
                })?;
                self.secret(&answer, "****").await?
            }
        };
        if reply.code == 235 {
            return Ok(());
        }
        if reply.code == 334 {
            // Abort an exchange the server wants to go on with (RFC 4954 §4).
            let _ = self.call("*").await;
        }
        Err(ClientError::AuthRefused {
            code: Some(reply.code),
            text: format!("AUTH {name}: {} {}", reply.code, reply.text()),
        }
        .into())
    }

    /// Logs in with an OAuth 2.0 bearer token: `mechanism`, or the best of
    /// OAUTHBEARER and XOAUTH2 the server offers.
    pub async fn login_oauth(
        &mut self,
        user: &str,
        token: &Bearer,
        mechanism: Option<OAuthMechanism>,
    ) -> Result<()> {
        let mech = match mechanism {
            Some(m) => m,
            None => OAuthMechanism::choose(self.ext.auth_mechanisms()).ok_or_else(|| {
                MailError::NotSupported(
                    "the server offers neither OAUTHBEARER nor XOAUTH2 (AUTH in EHLO)".into(),
                )
            })?,
        };
        let name = mech.name();
        let line = format!("AUTH {name} {}", mech.initial_response(user, token));
        let mut reply = self.secret(&line, &format!("AUTH {name} ****")).await?;
        let mut detail = String::new();
        if reply.code == 334 {
            // The server's error, as a challenge; the answer ends the exchange.
            detail = format!(" ({})", error_detail(&reply.text()));
            reply = self.call(mech.after_error()).await?;
        }
        if reply.code == 235 {
            return Ok(());
        }
        Err(ClientError::AuthRefused {
            code: Some(reply.code),
            text: format!("AUTH {name}: {} {}{detail}", reply.code, reply.text()),
        }
        .into())
    }

    fn expect_challenge(&self, reply: &RawReply) -> Result<()> {
        if reply.code == 334 {
            Ok(())
        } else {
            Err(ClientError::AuthRefused {
                code: Some(reply.code),
                text: format!("{} {}", reply.code, reply.text()),
            }
            .into())
        }
    }

    async fn secret(&mut self, line: &str, shown: &str) -> Result<RawReply> {
        self.conn.send_line(line, Some(shown)).await?;
        self.conn.read_reply().await
    }

    /// Sends one message to `recipients`, reading it from `message` (any
    /// line ends; dot-stuffed here). Returns the recipients the server
    /// refused while accepting others, as smtplib's `sendmail` does;
    /// fails as a whole when none was accepted, or when the sender, the
    /// size or the message itself is refused.
    pub async fn send_mail<R: AsyncRead + Unpin>(
        &mut self,
        from: &str,
        recipients: &[&str],
        mut message: R,
        mail: &MailOptions,
        rcpt: &RcptOptions,
    ) -> Result<Vec<Refusal>> {
        if recipients.is_empty() {
            return Err(MailError::Invalid("no recipient given".into()));
        }
        if let (Some(size), Some(limit)) = (mail.size, self.ext.size_limit()) {
            if size > limit {
                return Err(MailError::TooLarge { size, limit });
            }
        }
        let utf8 = needs_smtputf8(std::iter::once(from).chain(recipients.iter().copied()));
        let mut lines = vec![mail_from(from, mail, utf8, &self.ext)?];
        for to in recipients {
            lines.push(rcpt_to(to, rcpt, &self.ext)?);
        }
        let replies = self.envelope(&lines).await?;
        let (mail_reply, rcpt_replies) = replies
            .split_first()
            .ok_or_else(|| ClientError::Protocol("no reply to MAIL FROM".into()))?;
        if mail_reply.code != 250 {
            self.reset_quietly().await;
            return Err(refused("MAIL FROM", mail_reply));
        }
        let refusals: Vec<Refusal> = recipients
            .iter()
            .zip(rcpt_replies)
            .filter(|(_, r)| !matches!(r.code, 250 | 251))
            .map(|(to, r)| Refusal {
                recipient: to.to_string(),
                code: r.code,
                text: r.text(),
            })
            .collect();
        if refusals.len() == recipients.len() {
            self.reset_quietly().await;
            return Err(MailError::AllRecipientsRefused(refusals));
        }
        let reply = self.call("DATA").await?;
        if reply.code != 354 {
            self.reset_quietly().await;
            return Err(refused("DATA", &reply));
        }
        let sent = self.stream_body(&mut message).await?;
        self.conn
            .show_sent(&format!("({sent} bytes of message, dot-stuffed)"));
        self.conn.send_line(".", None).await?;
        let reply = self.conn.read_reply().await?;
        if reply.code != 250 {
            return Err(refused("the message (end of DATA)", &reply));
        }
        Ok(refusals)
    }

    /// Sends MAIL and the RCPTs, in one batch when PIPELINING is offered,
    /// and returns their replies in order.
    async fn envelope(&mut self, lines: &[String]) -> Result<Vec<RawReply>> {
        let mut replies = Vec::with_capacity(lines.len());
        if self.ext.has("PIPELINING") {
            let mut batch = String::new();
            for line in lines {
                self.conn.show_sent(line);
                batch.push_str(line);
                batch.push_str("\r\n");
            }
            self.conn.write_raw(batch.as_bytes()).await?;
            self.conn.flush().await?;
            for _ in lines {
                replies.push(self.conn.read_reply().await?);
            }
        } else {
            for line in lines {
                let reply = self.call(line).await?;
                let stop = replies.is_empty() && reply.code != 250;
                replies.push(reply);
                if stop {
                    break;
                }
            }
        }
        Ok(replies)
    }

    /// Streams the message, dot-stuffed, without the final `.` line;
    /// returns the bytes read.
    async fn stream_body<R: AsyncRead + Unpin>(&mut self, message: &mut R) -> Result<u64> {
        let mut stuffer = Stuffer::default();
        let mut chunk = vec![0; CHUNK];
        let mut out = Vec::with_capacity(CHUNK + CHUNK / 8);
        let mut total = 0u64;
        loop {
            let n = message
                .read(&mut chunk)
                .await
                .map_err(|source| ClientError::Io {
                    context: "cannot read the message",
                    source,
                })?;
            if n == 0 {
                break;
            }
            total += n as u64;
            out.clear();
            stuffer.push(&chunk[..n], &mut out);
            self.conn.write_raw(&out).await?;
        }
        out.clear();
        stuffer.finish(&mut out);
        // `finish` ends the last line and appends ".\r\n"; the "." goes
        // out through send_line so that the transcript shows it.
        out.truncate(out.len() - 3);
        self.conn.write_raw(&out).await?;
        Ok(total)
    }

    async fn reset_quietly(&mut self) {
        let _ = self.call("RSET").await;
    }

    /// RSET: forgets the transaction in progress.
    pub async fn rset(&mut self) -> Result<()> {
        self.expect_250("RSET").await
    }

    /// NOOP: checks that the server is still there.
    pub async fn noop(&mut self) -> Result<()> {
        self.expect_250("NOOP").await
    }

    async fn expect_250(&mut self, line: &str) -> Result<()> {
        let reply = self.call(line).await?;
        if reply.code == 250 {
            Ok(())
        } else {
            Err(refused(line, &reply))
        }
    }

    /// QUIT, then closes the connection.
    pub async fn quit(mut self) -> Result<()> {
        let reply = self.call("QUIT").await;
        self.conn.shutdown().await;
        let reply = reply?;
        if reply.code == 221 {
            Ok(())
        } else {
            Err(refused("QUIT", &reply))
        }
    }
}

fn refused(command: &str, reply: &RawReply) -> MailError {
    MailError::Smtp {
        command: command.to_string(),
        code: reply.code,
        text: reply.text(),
    }
}
