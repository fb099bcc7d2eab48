//! Credentials from `~/.netrc` (the format of BSD ftp, curl and lftp):
//! `machine HOST login NAME password SECRET`, with a `default` entry and
//! `macdef` blocks skipped.

use std::path::{Path, PathBuf};
use wire::Secret;

/// A login and password for a host (its `Debug` hides the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub login: String,
    pub password: Option<Secret>,
}

impl Credentials {
    fn empty() -> Self {
        Credentials {
            login: String::new(),
            password: None,
        }
    }
}

/// `$NETRC`, or `~/.netrc`.
pub fn default_path() -> Option<PathBuf> {
    std::env::var_os("NETRC")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".netrc")))
}

/// Finds the entry for `host` (or the `default` entry) in the text of a
/// netrc file.
pub fn lookup(text: &str, host: &str) -> Option<Credentials> {
    let mut tokens = Tokens::new(text);
    let mut found: Option<Credentials> = None;
    let mut default: Option<Credentials> = None;
    let mut current: Option<(bool, Credentials)> = None;
    let finish = |cur: Option<(bool, Credentials)>,
                  found: &mut Option<Credentials>,
                  default: &mut Option<Credentials>| {
        if let Some((is_default, creds)) = cur {
            if is_default {
                default.get_or_insert(creds);
            } else {
                found.get_or_insert(creds);
            }
        }
    };
    while let Some(token) = tokens.next() {
        match token.as_str() {
            "machine" => {
                finish(current.take(), &mut found, &mut default);
                let name = tokens.next()?;
                current = name
                    .eq_ignore_ascii_case(host)
                    .then(|| (false, Credentials::empty()));
            }
            "default" => {
                finish(current.take(), &mut found, &mut default);
                current = Some((true, Credentials::empty()));
            }
            "login" => {
                let v = tokens.next()?;
                if let Some((_, c)) = current.as_mut() {
                    c.login = v;
                }
            }
            "password" => {
                let v = tokens.next()?;
                if let Some((_, c)) = current.as_mut() {
                    c.password = Some(Secret::new(v));
                }
            }
            "account" => {
                tokens.next();
            }
            "macdef" => {
                tokens.next();
                tokens.skip_macro();
            }
            _ => {}
        }
    }
    finish(current, &mut found, &mut default);
    found.or(default).filter(|c| !c.login.is_empty())
}

/// Reads the netrc file and looks `host` up; a missing file means none.
pub fn credentials_for(host: &str) -> Option<Credentials> {
    let text = std::fs::read_to_string(default_path()?).ok()?;
    lookup(&text, host)
}

struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Self {
        Tokens { rest: text }
    }

    /// A macro runs to the next empty line.
    fn skip_macro(&mut self) {
        match self.rest.find("\n\n") {
            Some(i) => self.rest = &self.rest[i + 2..],
            None => self.rest = "",
        }
    }
}

impl Iterator for Tokens<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.rest = self.rest.trim_start();
        if self.rest.is_empty() {
            return None;
        }
        if let Some(stripped) = self.rest.strip_prefix('"') {
            let end = stripped.find('"').unwrap_or(stripped.len());
            let token = stripped[..end].to_string();
            self.rest = stripped.get(end + 1..).unwrap_or("");
            return Some(token);
        }
        let end = self
            .rest
            .find(char::is_whitespace)
            .unwrap_or(self.rest.len());
        let token = self.rest[..end].to_string();
        self.rest = &self.rest[end..];
        Some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "machine a.example login alice password s3cret\n\
        macdef init\ncd /pub\n\n\
        machine b.example\n  login bob\n  password \"two words\"\n\
        default login anonymous password guest@\n";

    #[test]
    fn finds_machines_and_default() {
        assert_eq!(
            lookup(SAMPLE, "a.example"),
            Some(Credentials {
                login: "alice".into(),
                password: Some(Secret::new("s3cret"))
            })
        );
        let b = lookup(SAMPLE, "B.EXAMPLE").unwrap();
        assert_eq!(b.password.as_ref().map(Secret::expose), Some("two words"));
        assert!(!format!("{b:?}").contains("two words"));
        assert_eq!(lookup(SAMPLE, "other").unwrap().login, "anonymous");
        assert_eq!(lookup("machine x login y", "z"), None);
        assert_eq!(lookup("", "z"), None);
    }
}
