//! Tab completion: command names first; then, by what the command's
//! argument is, remote paths (any directory, listed on demand and cached
//! until something changes), local paths, or bookmark names.
//!
//! The editor runs while no command does, so the shell lends it the
//! connection ([`Remote::lend`]) for the time of one line; a completion
//! that needs a listing not in the cache runs it on that connection.

use super::commands::{self, Arg};
use crate::names;
use ftp_client::FtpClient;
use ftp_proto::listing::EntryKind;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The connection on loan and the listings completions read.
#[derive(Default)]
pub struct Remote {
    lent: Mutex<Option<FtpClient>>,
    /// Candidate names (directories end in `/`) per directory as typed.
    cache: Mutex<HashMap<String, Vec<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Remote {
    /// Lends `client` for completions until [`Remote::take_back`].
    pub fn lend(&self, client: Option<FtpClient>) {
        *lock(&self.lent) = client;
    }

    pub fn take_back(&self) -> Option<FtpClient> {
        lock(&self.lent).take()
    }

    /// Forgets every cached listing (after a change, or a `cd`).
    pub fn forget(&self) {
        lock(&self.cache).clear();
    }

    /// The names in `dir` (relative to the current directory; empty for it).
    fn names_in(&self, dir: &str) -> Vec<String> {
        if let Some(names) = lock(&self.cache).get(dir) {
            return names.clone();
        }
        let Some(mut client) = self.take_back() else {
            return Vec::new();
        };
        let path = (!dir.is_empty()).then(|| dir.as_bytes().to_vec());
        let listed = tokio::runtime::Handle::current().block_on(async {
            match client.entries(path.as_deref(), true).await {
                Ok(entries) => Some(entries),
                Err(_) => client.entries(path.as_deref(), false).await.ok(),
            }
        });
        self.lend(Some(client));
        let names: Vec<String> = listed
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                let mut name = names::show(&e.name);
                if e.kind == EntryKind::Dir {
                    name.push('/');
                }
                name
            })
            .collect();
        lock(&self.cache).insert(dir.to_string(), names.clone());
        names
    }
}

/// The editor's helper.
pub struct Completion {
    pub remote: Arc<Remote>,
    pub bookmarks: Arc<Mutex<Vec<String>>>,
    files: FilenameCompleter,
}

impl Completion {
    pub fn new(remote: Arc<Remote>, bookmarks: Arc<Mutex<Vec<String>>>) -> Self {
        Completion {
            remote,
            bookmarks,
            files: FilenameCompleter::new(),
        }
    }

    fn remote_paths(&self, word: &str) -> Vec<Pair> {
        let (dir, _) = word.rsplit_once('/').map_or(("", word), |(d, n)| (d, n));
        let dir_prefix = if word.contains('/') {
            format!("{dir}/")
        } else {
            String::new()
        };
        let listed_dir = if dir.is_empty() && word.starts_with('/') {
            "/"
        } else {
            dir
        };
        self.remote
            .names_in(listed_dir)
            .into_iter()
            .map(|name| format!("{dir_prefix}{name}"))
            .filter(|path| path.starts_with(word))
            .map(|path| Pair {
                display: path
                    .rsplit('/')
                    .find(|s| !s.is_empty())
                    .unwrap_or(&path)
                    .to_string(),
                replacement: path,
            })
            .collect()
    }
}

/// What the word being typed is: the command, or its argument `index`
/// (flags not counted).
fn position(before: &str) -> (Option<&str>, usize) {
    let mut words = before.split_whitespace();
    let ends_in_space = before.ends_with(char::is_whitespace) || before.is_empty();
    let Some(cmd) = words.next() else {
        return (None, 0);
    };
    let done: Vec<&str> = words.collect();
    if done.is_empty() && !ends_in_space {
        return (None, 0);
    }
    let typed = done.iter().filter(|w| !w.starts_with('-')).count();
    let index = if ends_in_space {
        typed
    } else {
        typed.saturating_sub(1)
    };
    (Some(cmd), index)
}

impl Completer for Completion {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        if let Some(rest) = before.strip_prefix('!') {
            let (start, found) = self.files.complete(rest, rest.len(), ctx)?;
            return Ok((start + 1, found));
        }
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &before[start..];
        let (cmd, index) = position(before);
        let Some(cmd) = cmd else {
            let found = commands::names()
                .filter(|n| n.starts_with(word))
                .map(|n| Pair {
                    display: n.to_string(),
                    replacement: format!("{n} "),
                })
                .collect();
            return Ok((start, found));
        };
        let found = match commands::find(cmd).map(|c| c.arg(index)) {
            Some(Arg::Remote) => self.remote_paths(word),
            Some(Arg::Local) => return self.files.complete(line, pos, ctx),
            Some(Arg::Bookmark) => lock(&self.bookmarks)
                .iter()
                .filter(|b| b.starts_with(word))
                .map(|b| Pair {
                    display: b.clone(),
                    replacement: b.clone(),
                })
                .collect(),
            Some(Arg::Word(options)) => options
                .iter()
                .filter(|o| o.starts_with(word))
                .map(|o| Pair {
                    display: o.to_string(),
                    replacement: format!("{o} "),
                })
                .collect(),
            Some(Arg::Other) | None => Vec::new(),
        };
        Ok((start, found))
    }
}

impl rustyline::hint::Hinter for Completion {
    type Hint = String;
}
impl rustyline::highlight::Highlighter for Completion {}
impl rustyline::validate::Validator for Completion {}
impl rustyline::Helper for Completion {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_word_is_being_typed() {
        assert_eq!(position(""), (None, 0));
        assert_eq!(position("ge"), (None, 0));
        assert_eq!(position("get "), (Some("get"), 0));
        assert_eq!(position("get sub/fi"), (Some("get"), 0));
        assert_eq!(position("get a.txt "), (Some("get"), 1));
        assert_eq!(position("mirror -R --delete loc"), (Some("mirror"), 0));
        assert_eq!(position("mirror -R local "), (Some("mirror"), 1));
    }

    #[test]
    fn cached_remote_names_complete_in_any_directory() {
        let remote = Arc::new(Remote::default());
        {
            let mut cache = lock(&remote.cache);
            cache.insert(
                String::new(),
                vec!["sub/".into(), "sums.txt".into(), "a".into()],
            );
            cache.insert("sub".into(), vec!["deep/".into(), "file.bin".into()]);
        }
        let c = Completion::new(remote, Arc::default());
        let got = |w: &str| -> Vec<String> {
            c.remote_paths(w)
                .into_iter()
                .map(|p| p.replacement)
                .collect()
        };
        assert_eq!(got("su"), vec!["sub/", "sums.txt"]);
        assert_eq!(got("sub/f"), vec!["sub/file.bin"]);
        assert_eq!(got("sub/"), vec!["sub/deep/", "sub/file.bin"]);
        // Not listed and nothing lent: no candidates, no panic.
        assert!(got("other/x").is_empty());
    }
}
