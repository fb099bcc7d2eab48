//! `wharf imap`: list mailboxes, search, fetch a message streamed, and
//! wait for new mail with IDLE.

use crate::cli::{ImapCommand, ServerConn};
use crate::credentials::{login_for, oauth_login};
use anyhow::{bail, Context, Result};
use imap::{By, Fetch, ImapClient, ImapOptions, ImapUrl, StoreOp, Untagged};
use nntp::headers::decode;
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// UIDs fetched per FETCH when listing search results.
const FETCH_BATCH: usize = 500;

pub async fn run(cmd: ImapCommand) -> Result<()> {
    match cmd {
        ImapCommand::List { url, conn } => list(&url, &conn).await,
        ImapCommand::Search { url, query, conn } => search(&url, &query, &conn).await,
        ImapCommand::Fetch {
            url,
            uid,
            output,
            section,
            range,
            conn,
        } => {
            let range = range.as_deref().map(parse_range).transpose()?;
            fetch(&url, uid, output.as_deref(), &section, range, &conn).await
        }
        ImapCommand::Idle {
            url,
            count,
            max_time,
            conn,
        } => idle(&url, count, max_time, &conn).await,
        ImapCommand::Append {
            url,
            file,
            flags,
            conn,
        } => append(&url, file.as_deref(), &flags, &conn).await,
        ImapCommand::Store {
            url,
            uids,
            add,
            remove,
            conn,
        } => store(&url, &uids, &add, &remove, &conn).await,
        ImapCommand::Copy {
            url,
            uids,
            to,
            conn,
        } => transfer(&url, &uids, &to, false, &conn).await,
        ImapCommand::Move {
            url,
            uids,
            to,
            conn,
        } => transfer(&url, &uids, &to, true, &conn).await,
        ImapCommand::Expunge { url, conn } => expunge(&url, &conn).await,
    }
}

/// Connects (TLS as the URL and --tls say) and logs in.
async fn open(url: &ImapUrl, conn: &ServerConn) -> Result<ImapClient> {
    let tls = url.tls.demanding(conn.tls);
    let transcript = conn.transcript();
    let opts = ImapOptions {
        timeout: Duration::from_secs(conn.timeout.max(1)),
        tls,
        cacert: conn.cacert.clone(),
        transcript,
        ..ImapOptions::default()
    };
    let mut client = ImapClient::connect(&url.host, url.port, opts)
        .await
        .with_context(|| format!("cannot connect to {}:{}", url.host, url.port))?;
    if let Some(command) = &conn.oauth2_token_cmd {
        let (user, token) = oauth_login(&url.host, url.user.as_deref(), command)?;
        let mech = crate::mailconn::oauth_mechanism(url.auth.as_deref())?;
        client
            .authenticate_oauth(&user, &token, mech)
            .await
            .with_context(|| format!("login as {user} failed"))?;
        return Ok(client);
    }
    let Some(login) = login_for(&url.host, url.user.as_deref(), url.password.as_ref())? else {
        bail!(
            "no login for {}: name the user in the URL (imap://USER@{}/) or put it in ~/.netrc",
            url.host,
            url.host
        );
    };
    let result = match url.auth.as_deref() {
        None | Some("*") => client.login(&login.user, login.password.expose()).await,
        Some("PLAIN") => {
            client
                .authenticate_plain(&login.user, login.password.expose())
                .await
        }
        Some(other) => {
            crate::usage!("AUTH={other} is not supported; use ;AUTH=PLAIN or leave it out")
        }
    };
    result.with_context(|| format!("login as {} failed", login.user))?;
    Ok(client)
}

fn mailbox_of(url: &ImapUrl) -> String {
    url.mailbox.clone().unwrap_or_else(|| "INBOX".to_string())
}

async fn list(text: &str, conn: &ServerConn) -> Result<()> {
    let url = ImapUrl::parse(text)?;
    let mut client = open(&url, conn).await?;
    let entries = client.list("", "*").await.context("LIST failed")?;
    let mut out = crate::term::stdout();
    writeln!(out, "{:>8} {:>8}  mailbox", "messages", "unseen")?;
    for entry in entries {
        if !entry.selectable() {
            writeln!(out, "{:>8} {:>8}  {}", "-", "-", entry.name)?;
            continue;
        }
        let counts = client
            .status(&entry.name, &["MESSAGES", "UNSEEN"])
            .await
            .with_context(|| format!("STATUS {} failed", entry.name))?;
        let get = |key: &str| {
            counts
                .iter()
                .find(|(k, _)| k == key)
                .map_or("?".to_string(), |(_, v)| v.to_string())
        };
        writeln!(
            out,
            "{:>8} {:>8}  {}",
            get("MESSAGES"),
            get("UNSEEN"),
            entry.name
        )?;
    }
    out.flush()?;
    client.logout().await?;
    Ok(())
}

/// Joins the query words the shell split. Where a string is expected
/// (after FROM, SUBJECT, HEADER NAME, ...), a word with spaces is one
/// string (`SUBJECT "status report"` given as two words) and is quoted,
/// unless it holds quotes or parentheses. Anywhere else a word is a piece
/// of query, spaces and all (`"SUBJECT Seed"` or `'SUBJECT "status
/// report"'` given as one word).
fn join_query(words: &[String]) -> String {
    let mut strings_due = 0;
    words
        .iter()
        .map(|w| {
            if strings_due == 0 {
                if !w.chars().any(char::is_whitespace) {
                    strings_due = imap::search::string_args(w);
                }
                return w.clone();
            }
            strings_due -= 1;
            if w.chars().any(char::is_whitespace) && !w.contains(['"', '(', ')']) {
                format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line for a message: UID, date, sender and subject, tab-separated.
fn summary(f: &Fetch) -> String {
    let env = f.envelope.clone().unwrap_or_default();
    let text = |v: &Option<String>| decode(v.as_deref().unwrap_or("").as_bytes());
    let from = env
        .from
        .first()
        .map(|a| {
            let mut a = a.clone();
            a.name = a.name.map(|n| decode(n.as_bytes()));
            a.to_string()
        })
        .unwrap_or_default();
    let clean = |s: String| s.replace(['\t', '\r', '\n'], " ");
    format!(
        "{}\t{}\t{}\t{}",
        f.uid.map_or("?".to_string(), |u| u.to_string()),
        clean(text(&env.date)),
        clean(from),
        clean(text(&env.subject))
    )
}

/// Prints the summary line of each UID, in batches.
async fn print_summaries(client: &mut ImapClient, uids: &[u32]) -> Result<()> {
    for batch in uids.chunks(FETCH_BATCH) {
        let set = batch
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut fetched = client
            .fetch(By::Uid, &set, "(UID ENVELOPE)")
            .await
            .context("FETCH failed")?;
        fetched.sort_by_key(|f| f.uid);
        let mut out = crate::term::stdout();
        for f in fetched.iter().filter(|f| f.envelope.is_some()) {
            writeln!(out, "{}", summary(f))?;
        }
        out.flush()?;
    }
    Ok(())
}

async fn search(text: &str, query: &[String], conn: &ServerConn) -> Result<()> {
    let url = ImapUrl::parse(text)?;
    let cmd = imap::search::build(&join_query(query), true)
        .map_err(|e| anyhow::anyhow!("bad query: {e}"))?;
    let mut client = open(&url, conn).await?;
    let mailbox = mailbox_of(&url);
    client
        .examine(&mailbox)
        .await
        .with_context(|| format!("cannot open mailbox {mailbox}"))?;
    let uids = client.search(cmd).await.context("SEARCH failed")?;
    print_summaries(&mut client, &uids).await?;
    client.logout().await?;
    Ok(())
}

fn parse_range(text: &str) -> Result<(u64, u64)> {
    let parsed = text
        .split_once(':')
        .and_then(|(o, n)| Some((o.parse().ok()?, n.parse().ok()?)));
    match parsed {
        Some((o, n)) if n > 0 => Ok((o, n)),
        _ => crate::usage!("--range {text:?}: write OFFSET:LENGTH, e.g. 0:1024"),
    }
}

async fn fetch(
    text: &str,
    uid: Option<u32>,
    output: Option<&Path>,
    section: &str,
    range: Option<(u64, u64)>,
    conn: &ServerConn,
) -> Result<()> {
    let url = ImapUrl::parse(text)?;
    let Some(uid) = uid.or(url.uid) else {
        crate::usage!(
            "which message? give its UID after the URL (find it with `wharf imap search`)"
        );
    };
    let mut client = open(&url, conn).await?;
    let mailbox = mailbox_of(&url);
    let opened = client
        .examine(&mailbox)
        .await
        .with_context(|| format!("cannot open mailbox {mailbox}"))?;
    if let (Some(want), Some(have)) = (url.uid_validity, opened.uid_validity) {
        if want != have {
            bail!("{mailbox} has UIDVALIDITY {have}, not {want}: the UIDs changed; search again");
        }
    }
    match output {
        None => fetch_to_stdout(&mut client, uid, section, range).await?,
        Some(p) if p == Path::new("-") => fetch_to_stdout(&mut client, uid, section, range).await?,
        Some(path) => fetch_to_file(&mut client, uid, section, range, path).await?,
    }
    client.logout().await?;
    Ok(())
}

async fn fetch_to_stdout(
    client: &mut ImapClient,
    uid: u32,
    section: &str,
    range: Option<(u64, u64)>,
) -> Result<()> {
    let mut out = crate::term::stream_out();
    client
        .fetch_section_to(By::Uid, uid, section, range, &mut out)
        .await
        .with_context(|| format!("cannot fetch UID {uid}"))?;
    out.flush().await?;
    Ok(())
}

/// Writes to FILE.part and renames it over FILE only once complete.
async fn fetch_to_file(
    client: &mut ImapClient,
    uid: u32,
    section: &str,
    range: Option<(u64, u64)>,
    path: &Path,
) -> Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".part");
    let partial = std::path::PathBuf::from(partial);
    let file = tokio::fs::File::create(&partial)
        .await
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let result = client
        .fetch_section_to(By::Uid, uid, section, range, &mut out)
        .await
        .with_context(|| format!("cannot fetch UID {uid}"));
    let result = match result {
        Ok(_) => out.flush().await.context("cannot write the message"),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(e);
    }
    tokio::fs::rename(&partial, path)
        .await
        .with_context(|| format!("cannot rename {} to {}", partial.display(), path.display()))
}

async fn idle(
    text: &str,
    count: Option<u64>,
    max_time: Option<u64>,
    conn: &ServerConn,
) -> Result<()> {
    let url = ImapUrl::parse(text)?;
    let mut client = open(&url, conn).await?;
    let mailbox = mailbox_of(&url);
    let opened = client
        .examine(&mailbox)
        .await
        .with_context(|| format!("cannot open mailbox {mailbox}"))?;
    if !client.has_capability("IDLE") {
        bail!("the server does not offer IDLE; poll with `wharf imap search` instead");
    }
    let end = max_time.map(|s| Instant::now() + Duration::from_secs(s));
    // Far enough to mean "until interrupted"; IDLE itself re-issues every 25 minutes.
    let end = end.unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86_400));
    let mut next_uid = opened.uid_next.unwrap_or(1);
    let mut seen = 0u64;
    if !conn.quiet {
        crate::errln!("wharf: waiting for new mail in {mailbox} (Ctrl-C to stop)");
    }
    loop {
        // Fetch first, every round: a message may have arrived between two
        // IDLEs, reported in the middle of some other command's answer.
        let mut new = client
            .fetch(By::Uid, &format!("{next_uid}:*"), "(UID ENVELOPE)")
            .await
            .context("FETCH of the new messages failed")?;
        // "n:*" always names the last message, even one older than n.
        new.retain(|f| f.uid.is_some_and(|u| u >= next_uid));
        new.sort_by_key(|f| f.uid);
        let mut out = crate::term::stdout();
        for f in &new {
            if count.is_some_and(|c| seen >= c) {
                break;
            }
            writeln!(out, "{}", summary(f))?;
            seen += 1;
        }
        out.flush()?;
        out.flush()?;
        if let Some(max) = new.iter().filter_map(|f| f.uid).max() {
            next_uid = max + 1;
        }
        if count.is_some_and(|c| seen >= c) || Instant::now() >= end {
            break;
        }
        client
            .idle(end, |u| matches!(u, Untagged::Exists(_)))
            .await
            .context("IDLE failed")?;
    }
    client.logout().await?;
    Ok(())
}

async fn append(
    text: &str,
    file: Option<&Path>,
    flags: &[String],
    conn: &ServerConn,
) -> Result<()> {
    let url = ImapUrl::parse(text)?;
    let message = match file {
        Some(path) => tokio::fs::read(path)
            .await
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => {
            let mut buf = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut buf)
                .await
                .context("cannot read the message from standard input")?;
            buf
        }
    };
    if message.is_empty() {
        bail!("the message is empty; give a FILE or pipe the message in");
    }
    let mut client = open(&url, conn).await?;
    let mailbox = mailbox_of(&url);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let uid = client
        .append(&mailbox, &flags, message)
        .await
        .with_context(|| format!("cannot append to {mailbox}"))?;
    if let Some(uid) = uid {
        crate::outln!("{uid}");
    }
    client.logout().await?;
    Ok(())
}

/// Opens the URL's mailbox read-write.
async fn open_selected(text: &str, conn: &ServerConn) -> Result<ImapClient> {
    let url = ImapUrl::parse(text)?;
    let mut client = open(&url, conn).await?;
    let mailbox = mailbox_of(&url);
    client
        .select(&mailbox)
        .await
        .with_context(|| format!("cannot open mailbox {mailbox}"))?;
    Ok(client)
}

async fn store(
    text: &str,
    uids: &str,
    add: &[String],
    remove: &[String],
    conn: &ServerConn,
) -> Result<()> {
    if add.is_empty() && remove.is_empty() {
        crate::usage!("nothing to change: give --add FLAG and/or --remove FLAG");
    }
    let mut client = open_selected(text, conn).await?;
    for (op, flags) in [(StoreOp::Add, add), (StoreOp::Remove, remove)] {
        if flags.is_empty() {
            continue;
        }
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        client
            .store(By::Uid, uids, op, &flags, true)
            .await
            .context("STORE failed")?;
    }
    let after = client
        .fetch(By::Uid, uids, "(UID FLAGS)")
        .await
        .context("FETCH failed")?;
    let mut out = crate::term::stdout();
    for f in after {
        if let (Some(uid), Some(flags)) = (f.uid, f.flags) {
            writeln!(out, "{uid}\t{}", flags.join(" "))?;
        }
    }
    out.flush()?;
    client.logout().await?;
    Ok(())
}

async fn transfer(text: &str, uids: &str, to: &str, remove: bool, conn: &ServerConn) -> Result<()> {
    let mut client = open_selected(text, conn).await?;
    if remove {
        client.move_to(By::Uid, uids, to).await
    } else {
        client.copy(By::Uid, uids, to).await
    }
    .with_context(|| {
        format!(
            "cannot {} {uids} to {to}",
            if remove { "move" } else { "copy" }
        )
    })?;
    client.logout().await?;
    Ok(())
}

async fn expunge(text: &str, conn: &ServerConn) -> Result<()> {
    let mut client = open_selected(text, conn).await?;
    let gone = client.expunge().await.context("EXPUNGE failed")?;
    if !conn.quiet {
        crate::errln!("wharf: {} message(s) removed", gone.len());
    }
    client.logout().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_words_are_requoted() {
        let words = [
            "SUBJECT",
            "status report",
            "FROM",
            "\"x y\"",
            "(SEEN FLAGGED)",
        ];
        assert_eq!(
            join_query(&words.map(String::from)),
            "SUBJECT \"status report\" FROM \"x y\" (SEEN FLAGGED)"
        );
        assert_eq!(
            join_query(&["TEXT", "a\\b c"].map(String::from)),
            "TEXT \"a\\\\b c\""
        );
    }

    /// The whole query as one argument, as people type it.
    #[test]
    fn a_query_in_one_word_is_a_query() {
        for (words, want) in [
            (&["SUBJECT Seed"][..], "SUBJECT Seed"),
            (&["SUBJECT Seed", "UNSEEN"], "SUBJECT Seed UNSEEN"),
            (&["subject", "Seed report"], "subject \"Seed report\""),
            (
                &["HEADER", "X-Tag", "a b", "FROM", "c d"],
                "HEADER X-Tag \"a b\" FROM \"c d\"",
            ),
        ] {
            let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            assert_eq!(join_query(&words), want);
        }
        let one = imap::search::build(&join_query(&["SUBJECT Seed".to_string()]), true);
        let two = imap::search::build(&join_query(&["SUBJECT".into(), "Seed".into()]), true);
        assert_eq!(format!("{one:?}"), format!("{two:?}"));
        assert!(one.is_ok());
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("0:1024").unwrap(), (0, 1024));
        assert!(parse_range("5").is_err());
        assert!(parse_range("1:0").is_err());
        assert!(parse_range("-1:5").is_err());
    }
}
