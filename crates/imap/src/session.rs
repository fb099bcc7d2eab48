//! The IMAP verbs on an [`ImapClient`] (RFC 3501 §6, RFC 9051 §6):
//! authentication, mailboxes, searching, fetching, flags, copying,
//! moving (RFC 6851, with a COPY + STORE + EXPUNGE fallback), appending
//! and closing. Each checks its arguments before anything is sent.

use crate::client::{Done, ImapClient, Sink};
use crate::command::{valid_flag, valid_set, ArgError, Command};
use crate::error::{ImapError, Result};
use crate::fetch::Fetch;
use crate::response::{ListEntry, Response, Status, Untagged};
use base64::Engine;

/// What SELECT or EXAMINE reported about a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mailbox {
    pub exists: u32,
    pub recent: u32,
    pub uid_validity: Option<u32>,
    pub uid_next: Option<u32>,
    /// Sequence number of the first unseen message, if the server said.
    pub first_unseen: Option<u32>,
    pub flags: Vec<String>,
    pub read_only: bool,
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    Add,
    Remove,
    Replace,
}

/// Which messages a command names: sequence numbers or UIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Seq,
    Uid,
}

impl By {
    fn verb(self, verb: &str) -> String {
        match self {
            By::Seq => verb.to_string(),
            By::Uid => format!("UID {verb}"),
        }
    }
}

fn set_arg(set: &str) -> Result<&str> {
    if valid_set(set) {
        Ok(set)
    } else {
        Err(ArgError(format!(
            "{set:?} is not a message set; write 5, 1:10 or 3,7:*"
        ))
        .into())
    }
}

fn flag_list(flags: &[&str]) -> Result<String> {
    if let Some(bad) = flags.iter().find(|f| !valid_flag(f)) {
        return Err(ArgError(format!("{bad:?} is not a flag; write e.g. \\Seen or $Work")).into());
    }
    Ok(format!("({})", flags.join(" ")))
}

/// The fetch items a caller may ask for: atoms, sections and partials,
/// nothing that could end the command early.
fn valid_items(items: &str) -> bool {
    !items.is_empty()
        && items
            .bytes()
            .all(|b| (b.is_ascii_graphic() && b != b'"' && b != b'{') || b == b' ')
}

fn fetches(done: Done) -> Vec<Fetch> {
    done.untagged
        .into_iter()
        .filter_map(|u| match u {
            Untagged::Fetch(f) => Some(*f),
            _ => None,
        })
        .collect()
}

impl ImapClient {
    /// Logs in: AUTHENTICATE PLAIN when offered, LOGIN otherwise.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<()> {
        if self.has_capability("LOGINDISABLED") {
            return Err(ImapError::Unsupported(
                "the server refuses to log in without TLS; use --tls (STARTTLS) or imaps://".into(),
            ));
        }
        if self.has_capability("AUTH=PLAIN") {
            return self.authenticate_plain(user, password).await;
        }
        let cmd = Command::new("LOGIN")
            .string(user.as_bytes())?
            .string(password.as_bytes())?
            .masked(&format!("LOGIN {user} ****"));
        let done = self.run(cmd).await.map_err(auth_refused)?;
        self.after_login(&done).await
    }

    /// AUTHENTICATE PLAIN (RFC 4616), with the initial response inline
    /// when the server has SASL-IR.
    pub async fn authenticate_plain(&mut self, user: &str, password: &str) -> Result<()> {
        if user.contains('\0') || password.contains('\0') {
            return Err(ArgError("a user name or password may not contain NUL".into()).into());
        }
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        let done = if self.has_capability("SASL-IR") {
            let cmd = Command::new("AUTHENTICATE PLAIN")
                .raw(&token)
                .masked("AUTHENTICATE PLAIN ****");
            self.run(cmd).await
        } else {
            self.authenticate_in_steps(&token).await
        }
        .map_err(auth_refused)?;
        self.after_login(&done).await
    }

    /// AUTHENTICATE with an OAuth 2.0 bearer token: `mechanism`, or the best
    /// of AUTH=OAUTHBEARER and AUTH=XOAUTH2 the server has. A refusal
    /// carries the server's error (the JSON it sends as a challenge).
    pub async fn authenticate_oauth(
        &mut self,
        user: &str,
        token: &wire::oauth::Bearer,
        mechanism: Option<wire::oauth::OAuthMechanism>,
    ) -> Result<()> {
        use wire::oauth::{error_detail, OAuthMechanism};
        let mech = match mechanism {
            Some(m) => m,
            None => {
                let offered: Vec<String> = ["OAUTHBEARER", "XOAUTH2"]
                    .into_iter()
                    .filter(|m| self.has_capability(&format!("AUTH={m}")))
                    .map(str::to_string)
                    .collect();
                OAuthMechanism::choose(offered.iter().map(String::as_str)).ok_or_else(|| {
                    ImapError::Unsupported(
                        "the server offers neither AUTH=OAUTHBEARER nor AUTH=XOAUTH2".into(),
                    )
                })?
            }
        };
        let verb = format!("AUTHENTICATE {}", mech.name());
        let response = mech.initial_response(user, token);
        let tag = if self.has_capability("SASL-IR") {
            let cmd = Command::new(&verb)
                .raw(&response)
                .masked(&format!("{verb} ****"));
            self.send(&cmd).await?
        } else {
            let tag = self.send(&Command::new(&verb)).await?;
            self.wait_continue(&tag).await.map_err(auth_refused)?;
            self.send_masked_line(&response).await?;
            tag
        };
        let mut detail = None;
        loop {
            match self.read_response(None).await? {
                Response::Continue(challenge) => {
                    detail = Some(error_detail(&challenge));
                    self.send_masked_line(mech.after_error()).await?;
                }
                Response::Tagged { tag: t, status } if t == tag => {
                    if status.status != Status::Ok {
                        let mut status = status;
                        if let Some(d) = detail {
                            status.text = format!("{} ({d})", status.text);
                        }
                        return Err(ImapError::auth_refused(&status));
                    }
                    let done = Done {
                        status,
                        untagged: Vec::new(),
                    };
                    return self.after_login(&done).await;
                }
                _ => {}
            }
        }
    }

    async fn authenticate_in_steps(&mut self, token: &str) -> Result<Done> {
        let tag = self.send(&Command::new("AUTHENTICATE PLAIN")).await?;
        self.wait_continue(&tag).await?;
        self.send_masked_line(token).await?;
        self.finish(&tag).await
    }

    async fn after_login(&mut self, done: &Done) -> Result<()> {
        // Servers often announce the post-login capabilities in the OK.
        if done.status.code_name().as_deref() != Some("CAPABILITY") {
            self.capability().await?;
        }
        Ok(())
    }

    /// Lists mailboxes matching `pattern` (`*` for all) under `reference`.
    pub async fn list(&mut self, reference: &str, pattern: &str) -> Result<Vec<ListEntry>> {
        let cmd = Command::new("LIST").mailbox(reference)?.mailbox(pattern)?;
        let done = self.run(cmd).await?;
        Ok(done
            .untagged
            .into_iter()
            .filter_map(|u| match u {
                Untagged::List(e) => Some(e),
                _ => None,
            })
            .collect())
    }

    /// STATUS: counters of a mailbox without selecting it, e.g.
    /// `&["MESSAGES", "UNSEEN"]`.
    pub async fn status(&mut self, mailbox: &str, items: &[&str]) -> Result<Vec<(String, u64)>> {
        if items
            .iter()
            .any(|i| i.is_empty() || !i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err(ArgError(format!("bad STATUS items {items:?}")).into());
        }
        let cmd = Command::new("STATUS")
            .mailbox(mailbox)?
            .raw(&format!("({})", items.join(" ")));
        let done = self.run(cmd).await?;
        Ok(done
            .untagged
            .into_iter()
            .find_map(|u| match u {
                Untagged::MailboxStatus { items, .. } => Some(items),
                _ => None,
            })
            .unwrap_or_default())
    }

    /// SELECT: opens a mailbox for reading and writing.
    pub async fn select(&mut self, mailbox: &str) -> Result<Mailbox> {
        self.open_mailbox("SELECT", mailbox).await
    }

    /// EXAMINE: opens a mailbox read-only (no flag changes, not even \Seen).
    pub async fn examine(&mut self, mailbox: &str) -> Result<Mailbox> {
        self.open_mailbox("EXAMINE", mailbox).await
    }

    async fn open_mailbox(&mut self, verb: &str, mailbox: &str) -> Result<Mailbox> {
        let done = self.run(Command::new(verb).mailbox(mailbox)?).await?;
        let mut m = Mailbox {
            read_only: done.status.code_name().as_deref() == Some("READ-ONLY"),
            ..Mailbox::default()
        };
        let number = |arg: Option<&str>| arg.and_then(|a| a.trim().parse().ok());
        for u in done.untagged {
            match u {
                Untagged::Exists(n) => m.exists = n,
                Untagged::Recent(n) => m.recent = n,
                Untagged::Flags(f) => m.flags = f,
                Untagged::Status(st) if st.status == Status::Ok => {
                    match st.code_name().as_deref() {
                        Some("UIDVALIDITY") => m.uid_validity = number(st.code_arg()),
                        Some("UIDNEXT") => m.uid_next = number(st.code_arg()),
                        Some("UNSEEN") => m.first_unseen = number(st.code_arg()),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        Ok(m)
    }

    /// Runs a SEARCH built by [`crate::search::build`]; returns the
    /// numbers (UIDs for UID SEARCH) in the order sent.
    pub async fn search(&mut self, cmd: Command) -> Result<Vec<u32>> {
        let done = self.run(cmd).await?;
        Ok(done
            .untagged
            .into_iter()
            .filter_map(|u| match u {
                Untagged::Search(n) => Some(n),
                _ => None,
            })
            .flatten()
            .collect())
    }

    /// FETCH with an item list such as `(UID FLAGS ENVELOPE)`; everything
    /// is held in memory (within `max_literal`).
    pub async fn fetch(&mut self, by: By, set: &str, items: &str) -> Result<Vec<Fetch>> {
        if !valid_items(items) {
            return Err(ArgError(format!("bad fetch items {items:?}")).into());
        }
        let cmd = Command::new(&by.verb("FETCH"))
            .raw(set_arg(set)?)
            .raw(items);
        Ok(fetches(self.run(cmd).await?))
    }

    /// Streams one body section of one message to `sink` without holding
    /// it: `section` is `""` for the whole message, or `HEADER`, `TEXT`,
    /// `1.2`, ...; `partial` is `(offset, length)`. Uses BODY.PEEK, so the
    /// message is not marked \Seen. Returns the bytes written.
    pub async fn fetch_section_to(
        &mut self,
        by: By,
        id: u32,
        section: &str,
        partial: Option<(u64, u64)>,
        sink: Sink<'_>,
    ) -> Result<u64> {
        if !section
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.')
        {
            return Err(ArgError(format!(
                "{section:?} is not a section; write e.g. 1.2, HEADER or TEXT"
            ))
            .into());
        }
        let part = partial.map_or(String::new(), |(o, n)| format!("<{o}.{n}>"));
        let cmd =
            Command::new(&by.verb("FETCH")).raw(&format!("{id} (UID BODY.PEEK[{section}]{part})"));
        let (done, written) = self.run_to(cmd, Some(sink)).await?;
        let found = fetches(done).iter().any(|f| !f.sections.is_empty());
        if !found {
            let what = match by {
                By::Uid => "UID",
                By::Seq => "number",
            };
            return Err(ImapError::No(crate::response::StatusText {
                status: Status::No,
                code: Some("NONEXISTENT".into()),
                text: format!("no message with {what} {id} in this mailbox"),
            }));
        }
        Ok(written)
    }

    /// STORE: changes flags; returns the FETCH responses (none if `silent`).
    pub async fn store(
        &mut self,
        by: By,
        set: &str,
        op: StoreOp,
        flags: &[&str],
        silent: bool,
    ) -> Result<Vec<Fetch>> {
        let item = match op {
            StoreOp::Add => "+FLAGS",
            StoreOp::Remove => "-FLAGS",
            StoreOp::Replace => "FLAGS",
        };
        let item = if silent {
            format!("{item}.SILENT")
        } else {
            item.to_string()
        };
        let cmd = Command::new(&by.verb("STORE"))
            .raw(set_arg(set)?)
            .raw(&item)
            .raw(&flag_list(flags)?);
        Ok(fetches(self.run(cmd).await?))
    }

    /// COPY: copies messages to another mailbox.
    pub async fn copy(&mut self, by: By, set: &str, mailbox: &str) -> Result<()> {
        let cmd = Command::new(&by.verb("COPY"))
            .raw(set_arg(set)?)
            .mailbox(mailbox)?;
        self.run(cmd).await.map(drop)
    }

    /// MOVE (RFC 6851), or, when the server lacks it, COPY, then STORE
    /// \Deleted, then UID EXPUNGE of just those messages (UIDPLUS) or
    /// EXPUNGE.
    pub async fn move_to(&mut self, by: By, set: &str, mailbox: &str) -> Result<()> {
        if self.has_capability("MOVE") {
            let cmd = Command::new(&by.verb("MOVE"))
                .raw(set_arg(set)?)
                .mailbox(mailbox)?;
            return self.run(cmd).await.map(drop);
        }
        self.copy(by, set, mailbox).await?;
        self.store(by, set, StoreOp::Add, &["\\Deleted"], true)
            .await?;
        if by == By::Uid && self.has_capability("UIDPLUS") {
            let cmd = Command::new("UID EXPUNGE").raw(set);
            self.run(cmd).await.map(drop)
        } else {
            self.expunge().await.map(drop)
        }
    }

    /// EXPUNGE: removes \Deleted messages; returns their sequence numbers
    /// as reported.
    pub async fn expunge(&mut self) -> Result<Vec<u32>> {
        let done = self.run(Command::new("EXPUNGE")).await?;
        Ok(done
            .untagged
            .into_iter()
            .filter_map(|u| match u {
                Untagged::Expunge(n) => Some(n),
                _ => None,
            })
            .collect())
    }

    /// APPEND: adds a message to a mailbox; returns its UID when the
    /// server says (UIDPLUS `APPENDUID`).
    pub async fn append(
        &mut self,
        mailbox: &str,
        flags: &[&str],
        message: Vec<u8>,
    ) -> Result<Option<u32>> {
        if message.len() as u64 > self.opts.max_literal {
            return Err(ArgError(format!(
                "the message is {} bytes, more than the limit of {}",
                message.len(),
                self.opts.max_literal
            ))
            .into());
        }
        let mut cmd = Command::new("APPEND").mailbox(mailbox)?;
        if !flags.is_empty() {
            cmd = cmd.raw(&flag_list(flags)?);
        }
        let done = self.run(cmd.literal(message)).await?;
        Ok(match done.status.code_name().as_deref() {
            Some("APPENDUID") => done
                .status
                .code_arg()
                .and_then(|a| a.split(' ').nth(1))
                .and_then(|u| u.parse().ok()),
            _ => None,
        })
    }

    /// NOOP: lets the server report changes; returns what it said.
    pub async fn noop(&mut self) -> Result<Vec<Untagged>> {
        Ok(self.run(Command::new("NOOP")).await?.untagged)
    }

    /// CLOSE: expunges and leaves the selected mailbox.
    pub async fn close(&mut self) -> Result<()> {
        self.run(Command::new("CLOSE")).await.map(drop)
    }

    /// LOGOUT: ends the session (the server's BYE is expected).
    pub async fn logout(mut self) -> Result<()> {
        match self.run(Command::new("LOGOUT")).await {
            Ok(_) | Err(ImapError::Bye(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn auth_refused(e: ImapError) -> ImapError {
    match e {
        ImapError::No(st) | ImapError::Bad(st) => ImapError::auth_refused(&st),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_checks() {
        assert!(valid_items(
            "(UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM)]<0.100>)"
        ));
        assert!(!valid_items("(UID)\r\nA1 LOGOUT"));
        assert!(!valid_items("{5}"));
        assert!(!valid_items(""));
        assert_eq!(flag_list(&["\\Seen", "$Work"]).unwrap(), "(\\Seen $Work)");
        assert!(flag_list(&["\\Seen)"]).is_err());
        assert!(set_arg("1:*").is_ok());
        assert!(set_arg("1 ALL").is_err());
        assert_eq!(By::Uid.verb("FETCH"), "UID FETCH");
    }
}
