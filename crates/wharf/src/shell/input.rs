//! Command lines: a line editor with history (kept across sessions, in a
//! file only its owner can read, passwords left out) and completion on a
//! terminal, plain lines from a pipe or a script; and splitting a line into
//! words as a shell would.

use super::complete::Completion;
use anyhow::{Context, Result};
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

/// Where the shell's history is kept.
fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".wharf_history"))
}

/// Lines of history kept.
const HISTORY: usize = 1000;

pub enum Input {
    Editor(
        Box<rustyline::Editor<Completion, rustyline::history::FileHistory>>,
        Option<PathBuf>,
    ),
    Lines(std::io::StdinLock<'static>),
}

impl Input {
    pub fn new(completion: Completion) -> Result<Input> {
        if !std::io::stdin().is_terminal() {
            return Ok(Input::Lines(std::io::stdin().lock()));
        }
        let config = rustyline::Config::builder()
            .max_history_size(HISTORY)
            .context("cannot start the line editor")?
            .auto_add_history(false)
            .completion_type(rustyline::CompletionType::List)
            .build();
        let mut editor =
            rustyline::Editor::with_config(config).context("cannot start the line editor")?;
        editor.set_helper(Some(completion));
        let history = history_path();
        if let Some(h) = &history {
            private_file(h);
            let _ = editor.load_history(h);
        }
        Ok(Input::Editor(Box::new(editor), history))
    }

    /// The next line; `None` at the end of input.
    pub fn next(&mut self, prompt: &str) -> Result<Option<String>> {
        match self {
            Input::Lines(stdin) => {
                let mut line = String::new();
                if stdin.read_line(&mut line)? == 0 {
                    return Ok(None);
                }
                Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
            }
            Input::Editor(editor, history) => {
                let read = tokio::task::block_in_place(|| editor.readline(prompt));
                match read {
                    Ok(line) => {
                        if !line.trim().is_empty() {
                            let _ = editor.add_history_entry(for_history(&line));
                            if let Some(h) = history {
                                let _ = editor.append_history(h);
                            }
                        }
                        Ok(Some(line))
                    }
                    Err(rustyline::error::ReadlineError::Interrupted) => Ok(Some(String::new())),
                    Err(rustyline::error::ReadlineError::Eof) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// The editor's completion state, to lend the connection to.
    pub fn completion(&self) -> Option<&Completion> {
        match self {
            Input::Editor(editor, _) => editor.helper(),
            Input::Lines(_) => None,
        }
    }
}

/// Creates the history file readable by its owner only, or makes an
/// existing one so; a failure leaves history as it is (best effort).
fn private_file(path: &Path) {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let _ = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path);
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

/// `line` as history keeps it: without the passwords it may carry. `user`
/// keeps its name, `register` its name, `quote PASS` and `site REGISTER`
/// their command; a URL keeps its user name but not its password. The
/// line is re-joined with single spaces.
fn for_history(line: &str) -> String {
    let words = split_words(line);
    let lower: Vec<String> = words
        .iter()
        .take(2)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let keep = match lower.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["user", ..] | ["register", ..] => 2,
        ["quote", "pass"] | ["quote", "acct"] => 2,
        ["site", "register"] | ["quote", "site"] => 3,
        _ => words.len(),
    };
    words
        .iter()
        .take(keep)
        .map(|w| quoted(&without_url_password(w)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A word that is a URL with `user:password@`, as `user@`.
fn without_url_password(word: &str) -> String {
    let Some((scheme, rest)) = word.split_once("://") else {
        return word.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return word.to_string();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}{}", &rest[at..]),
        None => word.to_string(),
    }
}

/// A word as [`split_words`] reads it back (one holding both kinds of
/// quote cannot be written so; it is kept in double quotes).
fn quoted(word: &str) -> String {
    if !word.is_empty() && !word.contains([' ', '\t', '"', '\'']) {
        word.to_string()
    } else if word.contains('\'') {
        format!("\"{word}\"")
    } else {
        format!("'{word}'")
    }
}

/// Splits a command line into words; double or single quotes group words
/// with spaces, as a shell would.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_no_password() {
        for (line, kept) in [
            ("user alice s3cret", "user alice"),
            ("USER alice", "USER alice"),
            (
                "register bob pw-pw-pw bob@example.org --wait",
                "register bob",
            ),
            ("quote PASS s3cret", "quote PASS"),
            ("site REGISTER bob pw-pw-pw", "site REGISTER bob"),
            ("quote SITE REGISTER bob pw", "quote SITE REGISTER"),
            (
                "open ftp://alice:s3cret@host:21/dir",
                "open ftp://alice@host:21/dir",
            ),
            ("open ftp://alice@host/a:b@c", "open ftp://alice@host/a:b@c"),
            (
                "bookmark add work ftps://a:p%40ss@h/",
                "bookmark add work ftps://a@h/",
            ),
            ("get 'my file.txt' out", "get 'my file.txt' out"),
            ("ls", "ls"),
        ] {
            assert_eq!(for_history(line), kept, "{line}");
        }
    }

    #[test]
    fn history_lines_read_back_as_the_same_words() {
        for line in ["get 'a b' \"it's\"", "put x ''", "ls"] {
            assert_eq!(split_words(&for_history(line)), split_words(line), "{line}");
        }
    }

    #[test]
    fn words_and_quotes() {
        assert_eq!(
            split_words("get \"a b.txt\" local"),
            vec!["get", "a b.txt", "local"]
        );
        assert_eq!(split_words("  put 'x y'  "), vec!["put", "x y"]);
        assert_eq!(split_words("rename '' b"), vec!["rename", "", "b"]);
        assert!(split_words("   ").is_empty());
    }
}
