//! [`FtpClient`]: the control connection — connecting (plain, explicit or
//! implicit TLS), logging in, and the commands that need no data
//! connection. Transfers and listings are in [`crate::data`].

use crate::error::{FtpError, Result};
use crate::options::{ClientOptions, Direction, TlsPolicy};
use ftp_proto::command::TransferType;
use ftp_proto::listing::{parse_mlsx_line, ParsedEntry};
use ftp_proto::time::UtcTime;
use ftp_proto::Command;
use std::net::SocketAddr;
use tokio::io::AsyncWriteExt;
use wire::ClientError;
use wire::{dial, ClientTls, Dial, Dialed};
use wire::{read_reply, LineReader, MaybeTls, RawReply, ReplyLimits};

/// Longest reply line accepted.
const MAX_REPLY_LINE: usize = 8 * 1024;

/// A connection to an FTP server.
#[derive(Debug)]
pub struct FtpClient {
    pub(crate) ctrl: LineReader<MaybeTls>,
    pub(crate) host: String,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) opts: ClientOptions,
    pub(crate) tls: Option<ClientTls>,
    /// `PROT P` is in force: data connections carry TLS.
    pub(crate) prot_private: bool,
    /// The server refused EPSV or EPRT once; use PASV or PORT from then on.
    pub(crate) no_epsv: bool,
    pub(crate) no_eprt: bool,
    transfer_type: Option<TransferType>,
    welcome: RawReply,
}

impl FtpClient {
    /// Connects and reads the greeting (and, for explicit TLS, runs
    /// `AUTH TLS`).
    /// The options this client was opened with.
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    pub async fn connect(host: &str, port: u16, opts: ClientOptions) -> Result<FtpClient> {
        let Dialed {
            stream,
            tls,
            peer,
            local,
        } = dial(Dial {
            host,
            port,
            policy: opts.tls,
            cacert: opts.cacert.as_deref(),
            tls13: opts.tls13,
            timeout: opts.timeout,
        })
        .await?;
        let mut client = FtpClient {
            ctrl: LineReader::new(stream, MAX_REPLY_LINE),
            host: host.to_string(),
            peer,
            local,
            opts,
            tls,
            prot_private: false,
            no_epsv: false,
            no_eprt: false,
            transfer_type: None,
            welcome: RawReply {
                code: 0,
                lines: Vec::new(),
            },
        };
        let welcome = client.read_reply().await?;
        if !welcome.is_positive() {
            return Err(reply_error(&welcome));
        }
        client.welcome = welcome;
        if client.opts.tls == TlsPolicy::StartTls {
            client.start_tls().await?;
        }
        Ok(client)
    }

    /// The server's greeting.
    pub fn welcome(&self) -> &RawReply {
        &self.welcome
    }

    /// The address of the server's end of the control connection, the only
    /// address data connections go to.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Switches between passive (the default) and active mode.
    pub fn set_active(&mut self, active: bool) {
        self.opts.active = active;
    }

    /// Whether data connections are opened actively.
    pub fn is_active(&self) -> bool {
        self.opts.active
    }

    /// Whether the control connection carries TLS.
    pub fn is_tls(&self) -> bool {
        self.ctrl.get_ref().is_tls()
    }

    async fn start_tls(&mut self) -> Result<()> {
        self.expect(&Command::Auth(b"TLS".to_vec()), |c| c == 234)
            .await?;
        let Some(tls) = self.tls.clone() else {
            return Err(ClientError::Tls(wire::TlsError("not configured".into())).into());
        };
        wire::start_tls(
            &mut self.ctrl,
            &tls,
            &self.host,
            self.opts.timeout,
            "AUTH TLS",
        )
        .await?;
        Ok(())
    }

    /// Logs in; `anonymous` with any password for anonymous access. With
    /// TLS on, data connections are protected afterwards (`PBSZ 0`,
    /// `PROT P`).
    pub async fn login(&mut self, user: &str, password: &str) -> Result<()> {
        let reply = self
            .command(&Command::User(user.as_bytes().to_vec()))
            .await?;
        if reply.code == 331 {
            let reply = self
                .command(&Command::Pass(password.as_bytes().to_vec()))
                .await?;
            if reply.code == 332 {
                return Err(ClientError::Protocol(
                    "the server asks for an account (ACCT), which is not supported".into(),
                )
                .into());
            }
        }
        if self.is_tls() {
            self.voidcmd(&Command::Pbsz(b"0".to_vec())).await?;
            self.voidcmd(&Command::Prot(b"P".to_vec())).await?;
            self.prot_private = true;
        }
        Ok(())
    }

    /// Logs in anonymously, as ftplib's `login()` does without arguments.
    pub async fn login_anonymous(&mut self) -> Result<()> {
        self.login("anonymous", "anonymous@").await
    }

    /// Sends one raw line (a `quote`); the CRLF is added.
    pub async fn send_line(&mut self, line: &[u8]) -> Result<()> {
        if let Some(t) = &self.opts.transcript {
            t(Direction::Sent, &mask(line));
        }
        let mut out = Vec::with_capacity(line.len() + 2);
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        let stream = self.ctrl.get_mut();
        stream
            .write_all(&out)
            .await
            .map_err(FtpError::io("cannot send a command"))?;
        stream
            .flush()
            .await
            .map_err(FtpError::io("cannot send a command"))
    }

    /// Reads one reply.
    pub async fn read_reply(&mut self) -> Result<RawReply> {
        let reply = tokio::time::timeout(
            self.opts.timeout,
            read_reply(&mut self.ctrl, ReplyLimits::default()),
        )
        .await
        .map_err(|_| ClientError::Timeout("waiting for the server's reply"))??;
        if let Some(t) = &self.opts.transcript {
            for (i, line) in reply.lines.iter().enumerate() {
                let sep = if i + 1 == reply.lines.len() { ' ' } else { '-' };
                t(
                    Direction::Received,
                    &format!("{}{sep}{}", reply.code, String::from_utf8_lossy(line)),
                );
            }
        }
        Ok(reply)
    }

    /// Sends a raw line and returns whatever the server replies (ftplib's
    /// `sendcmd`, without raising on errors).
    pub async fn quote(&mut self, line: &[u8]) -> Result<RawReply> {
        self.send_line(line).await?;
        self.read_reply().await
    }

    /// Sends a command; a 4xx or 5xx reply is an error.
    pub async fn command(&mut self, cmd: &Command) -> Result<RawReply> {
        let reply = self.quote(&cmd.encode()).await?;
        if reply.code >= 400 {
            return Err(reply_error(&reply));
        }
        Ok(reply)
    }

    /// Sends a command and requires a 2xx reply (ftplib's `voidcmd`).
    pub async fn voidcmd(&mut self, cmd: &Command) -> Result<RawReply> {
        self.expect(cmd, |c| (200..300).contains(&c)).await
    }

    pub(crate) async fn expect(
        &mut self,
        cmd: &Command,
        ok: impl Fn(u16) -> bool,
    ) -> Result<RawReply> {
        let reply = self.quote(&cmd.encode()).await?;
        if !ok(reply.code) {
            return Err(reply_error(&reply));
        }
        Ok(reply)
    }

    /// Sets TYPE, if it is not set already.
    pub async fn set_type(&mut self, t: TransferType) -> Result<()> {
        if self.transfer_type != Some(t) {
            self.voidcmd(&Command::Type(t)).await?;
            self.transfer_type = Some(t);
        }
        Ok(())
    }

    /// The working directory (from a 257 reply).
    pub async fn pwd(&mut self) -> Result<Vec<u8>> {
        let reply = self.voidcmd(&Command::Pwd).await?;
        parse_257(reply.first_line()).ok_or_else(|| {
            ClientError::Protocol(format!("unreadable PWD reply: {}", reply.text())).into()
        })
    }

    pub async fn cwd(&mut self, path: &[u8]) -> Result<()> {
        self.voidcmd(&Command::Cwd(path.to_vec())).await.map(drop)
    }

    pub async fn cdup(&mut self) -> Result<()> {
        self.voidcmd(&Command::Cdup).await.map(drop)
    }

    /// Makes a directory and returns its path as the server names it.
    pub async fn mkd(&mut self, path: &[u8]) -> Result<Vec<u8>> {
        let reply = self.voidcmd(&Command::Mkd(path.to_vec())).await?;
        Ok(parse_257(reply.first_line()).unwrap_or_else(|| path.to_vec()))
    }

    pub async fn rmd(&mut self, path: &[u8]) -> Result<()> {
        self.voidcmd(&Command::Rmd(path.to_vec())).await.map(drop)
    }

    pub async fn delete(&mut self, path: &[u8]) -> Result<()> {
        self.voidcmd(&Command::Dele(path.to_vec())).await.map(drop)
    }

    pub async fn rename(&mut self, from: &[u8], to: &[u8]) -> Result<()> {
        self.expect(&Command::Rnfr(from.to_vec()), |c| c == 350)
            .await?;
        self.voidcmd(&Command::Rnto(to.to_vec())).await.map(drop)
    }

    /// SIZE, in binary type (where it is exact).
    pub async fn size(&mut self, path: &[u8]) -> Result<u64> {
        self.set_type(TransferType::Image).await?;
        let reply = self.voidcmd(&Command::Size(path.to_vec())).await?;
        let text = String::from_utf8_lossy(reply.first_line())
            .trim()
            .to_string();
        text.parse()
            .map_err(|_| ClientError::Protocol(format!("unreadable SIZE reply: {text}")).into())
    }

    /// MDTM, as seconds since the Unix epoch.
    pub async fn mdtm(&mut self, path: &[u8]) -> Result<i64> {
        let reply = self.voidcmd(&Command::Mdtm(path.to_vec())).await?;
        let text = String::from_utf8_lossy(reply.first_line())
            .trim()
            .to_string();
        UtcTime::parse_mdtm(&text)
            .map(|t| t.to_unix())
            .ok_or_else(|| ClientError::Protocol(format!("unreadable MDTM reply: {text}")).into())
    }

    /// MFMT (draft-somers-ftp-mfxx): sets a file's modification time,
    /// in seconds since the Unix epoch.
    pub async fn mfmt(&mut self, path: &[u8], unix_secs: i64) -> Result<()> {
        let cmd = Command::Mfmt(UtcTime::from_unix(unix_secs), path.to_vec());
        self.voidcmd(&cmd).await.map(drop)
    }

    /// The features FEAT lists, one per line, without the leading space.
    pub async fn feat(&mut self) -> Result<Vec<String>> {
        let reply = self.quote(&Command::Feat.encode()).await?;
        if reply.code != 211 {
            return Ok(Vec::new());
        }
        let n = reply.lines.len();
        Ok(reply
            .lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i > 0 && *i + 1 < n)
            .map(|(_, l)| String::from_utf8_lossy(l).trim().to_string())
            .collect())
    }

    /// MLST: the facts of one path.
    pub async fn mlst(&mut self, path: &[u8]) -> Result<ParsedEntry> {
        let reply = self.voidcmd(&Command::Mlst(path.to_vec())).await?;
        reply
            .lines
            .iter()
            .skip(1)
            .find_map(|l| l.strip_prefix(b" ").and_then(parse_mlsx_line))
            .ok_or_else(|| {
                ClientError::Protocol(format!("unreadable MLST reply: {}", reply.text())).into()
            })
    }

    /// OPTS HASH: selects the algorithm HASH uses (`SHA-256`, ...), as
    /// named in FEAT.
    pub async fn set_hash_algorithm(&mut self, name: &str) -> Result<()> {
        let arg = format!("HASH {name}").into_bytes();
        self.voidcmd(&Command::Opts(arg)).await.map(drop)
    }

    /// HASH (draft-bryan-ftpext-hash): the server's digest of a whole
    /// file, as the algorithm's name and the digest in lower-case hex.
    pub async fn hash(&mut self, path: &[u8]) -> Result<(String, String)> {
        let reply = self.voidcmd(&Command::Hash(path.to_vec())).await?;
        let line = String::from_utf8_lossy(reply.first_line()).into_owned();
        let mut words = line.split_ascii_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(algorithm), Some(_range), Some(hex))
                if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Ok((algorithm.to_string(), hex.to_ascii_lowercase()))
            }
            _ => Err(ClientError::Protocol(format!("unreadable HASH reply: {line}")).into()),
        }
    }

    /// SITE command; the reply whatever it is.
    pub async fn site(&mut self, args: &[u8]) -> Result<RawReply> {
        self.command(&Command::Site(args.to_vec())).await
    }

    pub async fn noop(&mut self) -> Result<()> {
        self.voidcmd(&Command::Noop).await.map(drop)
    }

    /// QUIT, then closes the connection.
    pub async fn quit(mut self) -> Result<()> {
        let reply = self.quote(&Command::Quit.encode()).await;
        let _ = self.ctrl.get_mut().shutdown().await;
        reply.map(drop)
    }
}

/// The error for a refusing reply.
pub(crate) fn reply_error(reply: &RawReply) -> FtpError {
    FtpError::Reply {
        code: reply.code,
        text: reply.text(),
    }
}

/// The quoted path of a 257 reply: `"/a ""b"""` is `/a "b"`.
pub fn parse_257(text: &[u8]) -> Option<Vec<u8>> {
    let start = text.iter().position(|&b| b == b'"')? + 1;
    let mut out = Vec::new();
    let mut i = start;
    while i < text.len() {
        if text[i] == b'"' {
            if text.get(i + 1) == Some(&b'"') {
                out.push(b'"');
                i += 2;
                continue;
            }
            return Some(out);
        }
        out.push(text[i]);
        i += 1;
    }
    None
}

/// A sent line for the transcript, with a password hidden.
fn mask(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    if text.len() >= 5 && text[..5].eq_ignore_ascii_case("PASS ") {
        return "PASS ****".into();
    }
    match ftp_proto::command::parse(line) {
        Ok(cmd @ Command::Site(_)) => cmd.to_string(),
        _ => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_paths() {
        assert_eq!(
            parse_257(b"\"/a b\" is the current directory"),
            Some(b"/a b".to_vec())
        );
        assert_eq!(
            parse_257(b"\"/a \"\"q\"\"\" created"),
            Some(b"/a \"q\"".to_vec())
        );
        assert_eq!(parse_257(b"no quotes"), None);
        assert_eq!(parse_257(b"\"unterminated"), None);
    }

    #[test]
    fn transcript_hides_secrets() {
        assert_eq!(mask(b"PASS hunter2"), "PASS ****");
        assert_eq!(mask(b"pass hunter2"), "PASS ****");
        assert_eq!(
            mask(b"SITE REGISTER bob secret-pw"),
            "SITE REGISTER bob ****"
        );
        assert_eq!(mask(b"USER bob"), "USER bob");
    }
}
