//! `wharf news`: groups, the latest article (the seed program), reading,
//! listing and posting.

use crate::cli::{NewsCommand, ServerConn};
use crate::credentials::login_for;
use anyhow::{bail, Context, Result};
use nntp::headers::{decode, encode};
use nntp::{ArticleRef, NewsUrl, NntpClient, NntpOptions};
use std::io::{Read, Write};

pub async fn run(cmd: NewsCommand) -> Result<()> {
    match cmd {
        NewsCommand::Groups { url, pattern, conn } => groups(&url, pattern.as_deref(), &conn).await,
        NewsCommand::Latest { url, lines, conn } => latest(&url, lines, &conn).await,
        NewsCommand::Read { url, article, conn } => read(&url, article.as_deref(), &conn).await,
        NewsCommand::List { url, last, conn } => list(&url, last, &conn).await,
        NewsCommand::Post {
            url,
            subject,
            from,
            conn,
        } => post(&url, &subject, &from, &conn).await,
    }
}

/// Connects and, when credentials are known (see [`crate::credentials`]),
/// logs in.
async fn open(url: &NewsUrl, conn: &ServerConn) -> Result<NntpClient> {
    if conn.oauth2_token_cmd.is_some() {
        crate::usage!("--oauth2-token-cmd is for mail servers; news servers log in with AUTHINFO");
    }
    let tls = url.tls.demanding(conn.tls);
    let opts = NntpOptions {
        timeout: conn.wait(),
        tls,
        cacert: conn.cacert.clone(),
        transcript: conn.transcript(),
        ..NntpOptions::default()
    };
    let mut client = NntpClient::connect(&url.host, url.port, opts)
        .await
        .with_context(|| format!("cannot connect to {}:{}", url.host, url.port))?;
    let login = login_for(&url.host, url.user.as_deref(), url.password.as_ref())?;
    if let Some(login) = login {
        let user = login.user;
        client
            .authinfo(&user, login.password.expose())
            .await
            .map_err(|e| match e {
                e @ nntp::NntpError::Wire(nntp::ClientError::AuthRefused { .. }) => {
                    anyhow::Error::new(e).context(format!("login as {user} refused"))
                }
                other => other.into(),
            })?;
    }
    Ok(client)
}

fn group_of(url: &NewsUrl, text: &str) -> Result<String> {
    url.group
        .clone()
        .with_context(|| format!("{text} names no group; write nntp://host/GROUP"))
}

async fn groups(text: &str, pattern: Option<&str>, conn: &ServerConn) -> Result<()> {
    let url = NewsUrl::parse(text)?;
    let mut client = open(&url, conn).await?;
    let mut out = crate::term::stdout();
    for g in client.list_active(pattern).await? {
        writeln!(out, "{}\t{}\t{}\t{}", g.name, g.low, g.high, g.status)?;
    }
    client.quit().await?;
    Ok(())
}

/// The seed program: who wrote the latest article, its subject and date,
/// and its first `count` meaningful lines.
async fn latest(text: &str, count: usize, conn: &ServerConn) -> Result<()> {
    let url = NewsUrl::parse(text)?;
    let group = group_of(&url, text)?;
    let mut client = open(&url, conn).await?;
    let mut out = crate::term::stdout();
    writeln!(out, "*** Connected to host {}", url.host)?;
    let info = client.group(&group).await.with_context(|| {
        format!("cannot load group {group} (the server may require authentication)")
    })?;
    writeln!(out, "*** Found newsgroup {group}")?;
    let last = info.high;
    let range = format!("{last}-{last}");
    let header =
        |values: Vec<(u64, Vec<u8>)>| decode(values.first().map_or(&[][..], |(_, v)| v.as_slice()));
    let from = header(client.hdr("from", &range).await?);
    let subject = header(client.hdr("subject", &range).await?);
    let date = header(client.hdr("date", &range).await?);
    write!(
        out,
        "*** Found last article (#{last})\n    From:{from}\n    Subject:{subject}\n    Date:{date}\n    \n"
    )?;
    let body = client.body(&ArticleRef::Number(last)).await?;
    let lines: Vec<String> = body
        .lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    writeln!(out, "*** First (<={count}) meaningful lines:\n")?;
    for line in meaningful_lines(&lines, count) {
        writeln!(out, "{line}")?;
    }
    client.quit().await?;
    Ok(())
}

/// The seed's `displayFirst20`: leaves out quoted lines (`>` but not
/// `>>>`, and `|`), attribution lines (`In article…`, `…writes:`,
/// `…wrote:`) and runs of blank lines, and stops after `count` non-blank
/// lines.
pub fn meaningful_lines(lines: &[String], count: usize) -> Vec<&str> {
    let mut shown = Vec::new();
    let mut printed = 0;
    let mut last_blank = true;
    for line in lines {
        let line = line.trim_end();
        if !line.is_empty() {
            let lower = line.to_lowercase();
            let quoted =
                (lower.starts_with('>') && !lower.starts_with(">>>")) || lower.starts_with('|');
            let attribution = lower.starts_with("in article")
                || lower.ends_with("writes:")
                || lower.ends_with("wrote:");
            if quoted || attribution {
                continue;
            }
        }
        if !last_blank || !line.is_empty() {
            shown.push(line);
            if line.is_empty() {
                last_blank = true;
            } else {
                printed += 1;
                last_blank = false;
            }
        }
        if printed == count {
            break;
        }
    }
    shown
}

async fn read(text: &str, which: Option<&str>, conn: &ServerConn) -> Result<()> {
    let url = NewsUrl::parse(text)?;
    let mut client = open(&url, conn).await?;
    let wanted = which.or(url.article.as_deref());
    let which = match wanted.map(ArticleRef::parse) {
        Some(Some(r)) => r,
        Some(None) => bail!(
            "{:?} is neither an article number nor a <message-id>",
            wanted.unwrap_or_default()
        ),
        None => {
            let group = group_of(&url, text)?;
            ArticleRef::Number(client.group(&group).await?.high)
        }
    };
    if let (Some(group), ArticleRef::Number(_)) = (&url.group, &which) {
        client.group(group).await?;
    }
    let mut out = std::io::BufWriter::new(crate::term::stdout());
    client
        .article_to(&which, &mut |line| {
            out.write_all(line)?;
            out.write_all(b"\n")
        })
        .await?;
    out.flush()?;
    client.quit().await?;
    Ok(())
}

async fn list(text: &str, last: Option<u64>, conn: &ServerConn) -> Result<()> {
    let url = NewsUrl::parse(text)?;
    let group = group_of(&url, text)?;
    let mut client = open(&url, conn).await?;
    let info = client.group(&group).await?;
    if info.count == 0 || info.high < info.low {
        return client.quit().await.map_err(Into::into);
    }
    let first = match last {
        Some(k) => info.high.saturating_sub(k.saturating_sub(1)).max(info.low),
        None => info.low,
    };
    let mut out = crate::term::stdout();
    for o in client.over(&format!("{first}-{}", info.high)).await? {
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            o.number,
            String::from_utf8_lossy(o.field(2)),
            decode(o.field(1)),
            decode(o.field(0))
        )?;
    }
    client.quit().await?;
    Ok(())
}

async fn post(text: &str, subject: &str, from: &str, conn: &ServerConn) -> Result<()> {
    let url = NewsUrl::parse(text)?;
    let group = group_of(&url, text)?;
    for (name, value) in [("--subject", subject), ("--from", from)] {
        if value.contains(['\r', '\n']) {
            crate::usage!("{name} may not contain line breaks");
        }
    }
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .context("cannot read the body from standard input")?;
    let mut article = format!(
        "From: {}\r\nNewsgroups: {group}\r\nSubject: {}\r\n",
        encode_address(from),
        encode(subject)
    )
    .into_bytes();
    if !body.is_ascii() {
        article.extend_from_slice(b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n");
    }
    article.extend_from_slice(b"\r\n");
    article.extend_from_slice(&body);
    let mut client = open(&url, conn).await?;
    let reply = client
        .post(&article)
        .await
        .context("the server refused the article")?;
    if !conn.quiet {
        crate::errln!("{} {}", reply.code, reply.text);
    }
    client.quit().await?;
    Ok(())
}

/// Encodes only the display name (or comment) of an address: RFC 2047 §5
/// allows encoded words there and never in the address itself.
/// `René <r@x>`, `"Dupont, René" <r@x>` and `r@x (René)` all keep the
/// address as it is.
fn encode_address(from: &str) -> String {
    if from.is_ascii() {
        return from.to_string();
    }
    if let (Some(open), true) = (from.rfind('<'), from.trim_end().ends_with('>')) {
        let name = from[..open].trim().trim_matches('"');
        return format!("{} {}", encode(name), from[open..].trim());
    }
    if let (Some(open), true) = (from.find('('), from.trim_end().ends_with(')')) {
        let comment = from[open + 1..from.trim_end().len() - 1].trim();
        return format!("{} ({})", from[..open].trim(), encode(comment));
    }
    from.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str], n: usize) -> Vec<String> {
        let owned: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        meaningful_lines(&owned, n)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn addresses_keep_their_address() {
        assert_eq!(encode_address("bob <b@x>"), "bob <b@x>");
        let e = encode_address("René <r@x>");
        assert!(e.starts_with("=?UTF-8?B?") && e.ends_with(" <r@x>"), "{e}");
        assert!(encode_address("\"Dupont, René\" <r@x>").ends_with(" <r@x>"));
        let c = encode_address("r@x (René Dupont)");
        assert!(
            c.starts_with("r@x (=?UTF-8?B?") && c.ends_with("?=)"),
            "{c}"
        );
        assert_eq!(
            decode(encode_address("René <r@x>").as_bytes()),
            "René <r@x>"
        );
    }

    #[test]
    fn seed_rules() {
        let body = [
            "",
            "",
            "In article <x@y>, bob wrote:",
            "> quoted",
            ">>> kept",
            "| piped",
            "alice writes:",
            "Real line one  ",
            "",
            "",
            "",
            "Real line two",
            "Said it: he WROTE:",
            "",
        ];
        assert_eq!(
            run(&body, 20),
            vec![">>> kept", "Real line one", "", "Real line two", ""]
        );
        assert_eq!(run(&body, 2), vec![">>> kept", "Real line one"]);
    }
}
