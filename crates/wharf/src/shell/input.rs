//! Command lines: a line editor with history (kept across sessions) and
//! completion on a terminal, plain lines from a pipe or a script; and
//! splitting a line into words as a shell would.

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
                            let _ = editor.add_history_entry(line.as_str());
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
