//! The command line of `wharf`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Wharf: FTP and FTPS, news and mail from the command line.
///
/// URLs look like ftp://user:password@host:port/path;type=i (ftps:// for
/// implicit TLS). Without a user in the URL, ~/.netrc is read, and then
/// anonymous login is used. A URL path ending in / names a directory.
///
/// Defaults for the FTP commands' flags (tls, timeout, limit_rate, parallel,
/// ...) come from ~/.config/wharf/config.toml; flags given win.
///
/// Exit codes: 0 success, 1 local error, 2 usage, 3 the server refused
/// (5xx), 4 a temporary or network failure (4xx, timeouts), 5 login failed,
/// 6 mail sent but some recipients refused.
#[derive(Debug, Parser)]
#[command(name = "wharf", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Command {
    /// Fills the flags `given` says were not given from the settings file.
    pub fn apply(&mut self, settings: &crate::settings::Settings, given: &dyn Fn(&str) -> bool) {
        match self {
            Command::Get(a) => settings.apply(&mut a.conn, given),
            Command::Put(a) => settings.apply(&mut a.conn, given),
            Command::Ls(a) => settings.apply(&mut a.conn, given),
            Command::Ftp(a) => settings.apply(&mut a.conn, given),
            Command::Mirror(a) => {
                settings.apply(&mut a.conn, given);
                if let (false, Some(p)) = (given("parallel"), settings.parallel()) {
                    a.parallel = p;
                }
            }
            _ => {}
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download a file.
    Get(GetArgs),
    /// Upload a file.
    Put(PutArgs),
    /// List a directory.
    Ls(LsArgs),
    /// Copy a directory tree from the server (or, with --reverse, to it),
    /// transferring only what changed.
    Mirror(MirrorArgs),
    /// Interactive shell (type help): tab completion of remote and local
    /// paths, history in ~/.wharf_history, mirror and pget as background
    /// jobs (CMD &, jobs, wait, kill), bookmarks and settings kept in
    /// ~/.config/wharf/config.toml. Reads commands from standard input when
    /// it is not a terminal, so scripts work.
    Ftp(ShellArgs),
    /// Read and post network news (NNTP): nntp:// and nntps:// URLs.
    #[command(subcommand)]
    News(NewsCommand),
    /// Send mail (SMTP): smtp:// and smtps:// URLs.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Read a mailbox (POP3): pop3:// and pop3s:// URLs.
    #[command(subcommand)]
    Pop3(Pop3Command),
    /// Read mail on an IMAP server: imap:// and imaps:// URLs.
    #[command(subcommand)]
    Imap(ImapCommand),
    /// Print the completion script for a shell, e.g.
    /// `wharf completions bash > /etc/bash_completion.d/wharf`.
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the wharf(1) man page (roff), e.g. `wharf manpage | man -l -`.
    #[command(hide = true)]
    Manpage,
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Compose a message and send it.
    ///
    /// The URL names the server: smtp://[user[:password]@]host[:port]/ (port 25,
    /// plaintext unless --tls asks for STARTTLS) or smtps://... (port 465, TLS from
    /// the start). With a user (URL, ~/.netrc or WHARF_PASSWORD) it logs in first
    /// (submission); without one it sends as a relay client. ;AUTH=PLAIN, LOGIN or
    /// CRAM-MD5 after the user picks the mechanism.
    ///
    /// The body comes from --body, --body-file, or standard input. --message FILE
    /// sends a ready-made RFC 5322 message as it is instead (--to still names the
    /// envelope recipients).
    ///
    /// Exit codes: 0 every recipient accepted, 6 some refused (each printed), 3
    /// all refused or the message refused, 5 login refused, 4 temporary failure.
    #[command(verbatim_doc_comment)]
    Send(Box<SendArgs>),
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// smtp://host[:port]/ or smtps://host[:port]/
    pub url: String,
    /// The sender: addr@host or "Name <addr@host>".
    #[arg(long, value_name = "ADDRESS")]
    pub from: String,
    /// A recipient (repeat for more).
    #[arg(long, value_name = "ADDRESS")]
    pub to: Vec<String>,
    /// A copy recipient, shown in the Cc header (repeat for more).
    #[arg(long, value_name = "ADDRESS")]
    pub cc: Vec<String>,
    /// A hidden recipient: in the envelope only (repeat for more).
    #[arg(long, value_name = "ADDRESS")]
    pub bcc: Vec<String>,
    /// The subject (UTF-8 is fine).
    #[arg(long, short = 's')]
    pub subject: Option<String>,
    /// The plain-text body.
    #[arg(long, value_name = "TEXT", conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Read the plain-text body from FILE.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// An HTML alternative to the plain text, from FILE.
    #[arg(long, value_name = "FILE")]
    pub html_file: Option<PathBuf>,
    /// Attach FILE (repeat for more).
    #[arg(long, short = 'a', value_name = "FILE")]
    pub attach: Vec<PathBuf>,
    /// Send FILE, a complete message, as it is.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["subject", "body", "body_file", "html_file", "attach", "cc"])]
    pub message: Option<PathBuf>,
    /// Ask for delivery status notifications: never, or a list of
    /// success, failure, delay (RFC 3461; the server must offer DSN).
    #[arg(long, value_name = "WHEN")]
    pub notify: Option<String>,
    #[command(flatten)]
    pub conn: ServerConn,
}

#[derive(Debug, Subcommand)]
pub enum Pop3Command {
    /// One line per message: number, size, From and Subject (decoded).
    ///
    /// URL: pop3://[user[:password]@]host[:port]/ (port 110; --tls for STLS) or
    /// pop3s://... (port 995). ;AUTH=+APOP, PLAIN, LOGIN or CRAM-MD5 after the user
    /// picks the login; USER/PASS otherwise.
    #[command(verbatim_doc_comment)]
    List {
        /// pop3://user@host/ or pop3s://user@host/
        url: String,
        /// Only numbers and sizes (no TOP per message).
        #[arg(long)]
        brief: bool,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// Fetch message N as it is (RFC 5322, CRLF line ends) to standard output
    /// or FILE; with -o, its From, Subject and Date go to standard error.
    Fetch {
        /// pop3://user@host/ (or pop3://user@host/N)
        url: String,
        /// The message number (see `wharf pop3 list`).
        number: Option<u32>,
        /// Write the message to FILE instead of standard output.
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// Delete message N (committed when the session ends cleanly with QUIT).
    Delete {
        /// pop3://user@host/ (or pop3://user@host/N)
        url: String,
        /// The message number (see `wharf pop3 list`).
        number: Option<u32>,
        #[command(flatten)]
        conn: ServerConn,
    },
}

/// How to reach a news or mail server (NNTP, SMTP, POP3, IMAP); shared by
/// their commands.
#[derive(Debug, Args, Clone)]
pub struct ServerConn {
    /// Require STARTTLS (STLS for POP3) on a plain URL (nntp://, smtp://,
    /// pop3://, imap://); never falls back to plaintext. The nntps://,
    /// smtps://, pop3s:// and imaps:// URLs are TLS from the first byte.
    #[arg(long)]
    pub tls: bool,
    /// Trust only the certificates in FILE (PEM) instead of the system's.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Seconds to wait for the server before giving up.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub timeout: u64,
    /// Show the protocol dialogue on standard error (passwords masked).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Only errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Mail (SMTP, POP3, IMAP): log in with an OAuth 2.0 access token that
    /// CMD prints (its first line), by SASL OAUTHBEARER or XOAUTH2, as
    /// Gmail and Microsoft 365 require; the user comes from the URL or
    /// ~/.netrc. ;AUTH=XOAUTH2 or ;AUTH=OAUTHBEARER in the URL picks one.
    #[arg(long, value_name = "CMD")]
    pub oauth2_token_cmd: Option<String>,
}

/// `> line` / `< line` on standard error when `verbose`: every
/// protocol's `-v`.
pub fn transcript(verbose: bool) -> Option<wire::Transcript> {
    verbose.then(|| {
        std::sync::Arc::new(|way: wire::Direction, line: &str| {
            crate::errln!("{} {line}", way.arrow())
        }) as wire::Transcript
    })
}

impl ServerConn {
    /// `> line` / `< line` on standard error with --verbose.
    pub fn transcript(&self) -> Option<wire::Transcript> {
        transcript(self.verbose)
    }

    pub fn wait(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout.max(1))
    }
}

#[derive(Debug, Subcommand)]
pub enum NewsCommand {
    /// List groups (LIST ACTIVE): name, low, high, status.
    Groups {
        /// nntp://host[:port]/
        url: String,
        /// Only groups matching this wildmat, e.g. comp.lang.*
        pattern: Option<String>,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// The latest article of a group: From, Subject, Date and its first
    /// meaningful lines (quotes and attributions left out).
    Latest {
        /// nntp://host[:port]/GROUP
        url: String,
        /// How many meaningful lines to show.
        #[arg(long, default_value_t = 20)]
        lines: usize,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// Print one article (the latest unless a number or <message-id> is given).
    Read {
        /// nntp://host[:port]/GROUP
        url: String,
        /// Article number or <message-id>.
        article: Option<String>,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// One line per article (OVER): number, date, from, subject.
    List {
        /// nntp://host[:port]/GROUP
        url: String,
        /// Only the last K articles.
        #[arg(long, value_name = "K")]
        last: Option<u64>,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// Post an article; the body is read from standard input.
    Post {
        /// nntp://host[:port]/GROUP
        url: String,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        from: String,
        #[command(flatten)]
        conn: ServerConn,
    },
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Connect to this URL (or host) first.
    pub url: Option<String>,
    #[command(flatten)]
    pub conn: Connection,
}

/// How to reach the server; shared by every command.
#[derive(Debug, Args, Clone)]
pub struct Connection {
    /// Use explicit TLS (AUTH TLS) on an ftp:// URL; required, never a fallback.
    #[arg(long)]
    pub tls: bool,
    /// Trust only the certificates in FILE (PEM) instead of the system's.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Offer TLS 1.3 too (FTPS uses TLS 1.2 by default: some servers,
    /// pure-ftpd among them, lose the end of TLS 1.3 uploads).
    #[arg(long)]
    pub tls13: bool,
    /// Active mode: the server connects back (EPRT, then PORT).
    #[arg(long)]
    pub active: bool,
    /// Seconds to wait for the server before giving up.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub timeout: u64,
    /// Hold file transfers to RATE bytes per second, all connections of
    /// the command together (K, M, G: 1024, 1024², 1024³), e.g. 500K.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub limit_rate: Option<u64>,
    /// Show the protocol dialogue on standard error (passwords masked).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// No progress bar or messages, only errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// A download counts as done only once it is on disk (fsync), as for a
    /// backup; by default it is done when the kernel has the bytes, as with
    /// curl and lftp.
    #[arg(long)]
    pub fsync: bool,
}

/// A rate such as 500K or 2M, in bytes per second.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let (digits, unit) = match upper.char_indices().last() {
        Some((i, 'K')) => (&upper[..i], 1u64 << 10),
        Some((i, 'M')) => (&upper[..i], 1 << 20),
        Some((i, 'G')) => (&upper[..i], 1 << 30),
        _ => (upper.as_str(), 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?} is not a rate; write e.g. 500K or 2M"))
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// ftp:// or ftps:// URL of the file.
    pub url: String,
    /// Where to write it (- for standard output) [default: the file's name].
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Resume: keep what the local file has and fetch the rest.
    #[arg(short = 'c', long = "continue")]
    pub resume: bool,
    /// Fetch over N parallel connections (ranges by REST), as lftp's pget.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub segments: usize,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    /// Local file to upload.
    pub path: PathBuf,
    /// Where to: a file URL, or a directory URL ending in / (the file keeps its name).
    pub url: String,
    /// Resume: send only what the remote file is missing (REST + STOR).
    #[arg(short = 'c', long = "continue")]
    pub resume: bool,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// ftp:// or ftps:// URL of a directory.
    pub url: String,
    /// Names only.
    #[arg(short = '1', long)]
    pub names: bool,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// Source: a URL (or, with --reverse, a local directory).
    pub source: String,
    /// Target: a local directory (or, with --reverse, a URL).
    pub target: String,
    /// Upload the local directory to the server.
    #[arg(short = 'R', long)]
    pub reverse: bool,
    /// Transfers at once, each on its own connection.
    #[arg(
        short = 'j',
        long,
        visible_alias = "jobs",
        default_value_t = 4,
        value_name = "N"
    )]
    pub parallel: usize,
    /// Delete what the target has and the source does not (excluded files
    /// are kept).
    #[arg(long)]
    pub delete: bool,
    /// Show what would be transferred, created and deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave out files and directories matching GLOB (repeatable): a
    /// pattern without / matches names at any depth, one with / the path
    /// from the mirror's root; * is any run of characters, ? any one.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Read --exclude patterns from FILE, one a line (# starts a comment).
    #[arg(long, value_name = "FILE")]
    pub exclude_from: Vec<PathBuf>,
    /// Take only files matching GLOB (repeatable); --exclude still wins.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Transfer a file only when the source's copy is newer than the
    /// target's (or the target has none), not whenever they differ.
    #[arg(long)]
    pub only_newer: bool,
    /// Resume a download whose earlier try left its bytes behind
    /// (.NAME.wharf-part), instead of starting it again.
    #[arg(short = 'c', long = "continue")]
    pub resume: bool,
    /// Try a file again this many times after a failure that may pass
    /// (4xx, reset, timeout, short transfer), waiting 1, 2, 4 ... seconds.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub retries: u32,
    /// Stop starting new transfers once N files have failed (after their
    /// retries) [default: go through every file].
    #[arg(long, value_name = "N")]
    pub max_errors: Option<usize>,
    /// Check every file transferred by SHA-256 against the server's HASH
    /// (where the server offers HASH; a mismatch is tried again).
    #[arg(long)]
    pub verify: bool,
    /// Symbolic links: follow them, transferring what they point to as
    /// files and directories. By default a download recreates a link
    /// whose target stays inside the mirrored tree (others are skipped
    /// with a warning) and an upload skips links (FTP cannot make them).
    #[arg(short = 'L', long, conflicts_with = "no_symlinks")]
    pub dereference: bool,
    /// Skip symbolic links altogether.
    #[arg(long)]
    pub no_symlinks: bool,
    #[command(flatten)]
    pub conn: Connection,
}

/// The mailbox commands (`wharf imap ...`). URLs look like
/// imap://user@host:port/MAILBOX (imaps:// for TLS from the first byte,
/// port 993; RFC 5092 shapes such as imap://user;AUTH=PLAIN@host/INBOX/;UID=7
/// work too). Without a mailbox, INBOX is used.
#[derive(Debug, Subcommand)]
pub enum ImapCommand {
    /// List mailboxes with their message and unseen counts (LIST + STATUS).
    List {
        /// imap://user@host[:port]/
        url: String,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// Search a mailbox; prints UID, date, sender and subject per message.
    ///
    /// The query is IMAP search keys (RFC 3501 §6.4.4), in any case:
    /// FROM/TO/CC/BCC/SUBJECT/BODY/TEXT STRING, HEADER NAME STRING,
    /// SINCE/BEFORE/ON DATE (31-Jan-2026 or 2026-01-31), SENTSINCE/SENTBEFORE
    /// DATE, LARGER/SMALLER SIZE (10K, 2M), SEEN, UNSEEN, FLAGGED, ANSWERED,
    /// DELETED, DRAFT, NEW, ALL, KEYWORD K, UID SET, NOT KEY, OR KEY KEY and
    /// (KEY KEY ...).
    ///
    /// The keys may be separate words or one argument ("SUBJECT Seed").
    /// Quote strings with spaces: 'SUBJECT "status report"', or give such a
    /// string as its own word after its key: SUBJECT "status report".
    ///
    /// Example: wharf imap search imap://bob@host/INBOX FROM alice SINCE 2026-01-01 UNSEEN
    Search {
        /// imap://user@host[:port]/MAILBOX
        url: String,
        /// Search keys (all messages when empty).
        query: Vec<String>,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// Write one message (or a part of it) exactly as stored, streamed.
    Fetch {
        /// imap://user@host[:port]/MAILBOX (or .../MAILBOX/;UID=N)
        url: String,
        /// The message's UID (see `wharf imap search`).
        uid: Option<u32>,
        /// Where to write it (- for standard output, the default).
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Only this body section: HEADER, TEXT, 1, 1.2, 2.MIME, ...
        #[arg(long, value_name = "SECTION", default_value = "")]
        section: String,
        /// Only LENGTH bytes from OFFSET (a partial fetch).
        #[arg(long, value_name = "OFFSET:LENGTH")]
        range: Option<String>,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// Wait for new mail (IDLE) and print one line per message as it
    /// arrives: UID, date, sender, subject.
    Idle {
        /// imap://user@host[:port]/MAILBOX
        url: String,
        /// Stop after N new messages.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Stop after SECS seconds in all (as curl's --max-time); without
        /// it and --count, wait until interrupted.
        #[arg(long, value_name = "SECS")]
        max_time: Option<u64>,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// Add a message to a mailbox (APPEND), read from FILE or standard
    /// input; prints its UID when the server tells it.
    Append {
        /// imap://user@host[:port]/MAILBOX
        url: String,
        /// The message (RFC 5322, as stored); standard input if absent.
        file: Option<PathBuf>,
        /// Set this flag on it, e.g. \Seen (repeatable).
        #[arg(long = "flag", value_name = "FLAG")]
        flags: Vec<String>,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// Change flags of messages (UID STORE); prints their flags after.
    Store {
        /// imap://user@host[:port]/MAILBOX
        url: String,
        /// UIDs: 5, 1:10, 3,7:*
        uids: String,
        /// Add this flag, e.g. \Seen, \Flagged, \Deleted, $Work (repeatable).
        #[arg(long, value_name = "FLAG")]
        add: Vec<String>,
        /// Remove this flag (repeatable).
        #[arg(long, value_name = "FLAG")]
        remove: Vec<String>,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// Copy messages to another mailbox (UID COPY).
    Copy {
        /// imap://user@host[:port]/MAILBOX
        url: String,
        /// UIDs: 5, 1:10, 3,7:*
        uids: String,
        /// The mailbox to copy to.
        to: String,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// Move messages to another mailbox (UID MOVE, or COPY + STORE
    /// \Deleted + EXPUNGE where the server lacks MOVE).
    Move {
        /// imap://user@host[:port]/MAILBOX
        url: String,
        /// UIDs: 5, 1:10, 3,7:*
        uids: String,
        /// The mailbox to move to.
        to: String,
        #[command(flatten)]
        conn: ServerConn,
    },
    /// Remove the messages flagged \Deleted (EXPUNGE).
    Expunge {
        /// imap://user@host[:port]/MAILBOX
        url: String,
        #[command(flatten)]
        conn: ServerConn,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("500K"), Ok(500 * 1024));
        assert_eq!(parse_rate("2m"), Ok(2 << 20));
        assert_eq!(parse_rate("1234"), Ok(1234));
        for bad in ["", "K", "0", "-5K", "1.5M", "99999999999G"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
