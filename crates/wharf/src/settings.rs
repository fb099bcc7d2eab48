//! The client's settings file: `$WHARF_CLIENT_CONFIG`, else
//! `$XDG_CONFIG_HOME/wharf/config.toml`, else `~/.config/wharf/config.toml`.
//! It holds defaults for the connection flags of every FTP command (TLS,
//! timeouts, rate, mirror parallelism) and the shell's bookmarks:
//!
//! ```toml
//! tls = true
//! timeout = 60
//! limit_rate = "2M"
//! parallel = 8
//!
//! [bookmarks]
//! backup = "ftp://ann@files.example.org/backups"
//! ```
//!
//! A flag given on the command line (or by its environment variable) wins
//! over the file. The shell's `set` and `bookmark` commands change the file
//! in place, keeping the user's comments and order.

use crate::cli::{parse_rate, Connection};
use anyhow::{bail, Context, Result};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use toml_edit::{value, DocumentMut, Item, Table};

/// A setting: its name in the file, what it means, and its kind.
pub struct Key {
    pub name: &'static str,
    pub help: &'static str,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    /// A whole number from `.0` to `.1`.
    Number(u64, u64),
    Rate,
    Path,
}

/// Every setting, in the order `set` lists them.
pub const KEYS: &[Key] = &[
    Key {
        name: "tls",
        help: "explicit TLS (AUTH TLS) on every ftp:// URL, never a fallback",
        kind: Kind::Bool,
    },
    Key {
        name: "tls13",
        help: "offer TLS 1.3 to FTPS servers too",
        kind: Kind::Bool,
    },
    Key {
        name: "cacert",
        help: "trust only the certificates in this PEM file",
        kind: Kind::Path,
    },
    Key {
        name: "active",
        help: "active mode: the server connects back",
        kind: Kind::Bool,
    },
    Key {
        name: "timeout",
        help: "seconds to wait for the server",
        kind: Kind::Number(1, 86_400),
    },
    Key {
        name: "limit_rate",
        help: "bytes per second for transfers (K, M, G), e.g. 500K",
        kind: Kind::Rate,
    },
    Key {
        name: "parallel",
        help: "connections a mirror uses at once",
        kind: Kind::Number(1, 64),
    },
    Key {
        name: "fsync",
        help: "a download is done only once it is on disk",
        kind: Kind::Bool,
    },
];

/// The settings file, read, and where it lives.
#[derive(Debug, Default)]
pub struct Settings {
    doc: DocumentMut,
    path: Option<PathBuf>,
}

/// Where the settings file is, when a home is known.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WHARF_CLIENT_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("wharf").join("config.toml"))
}

fn key(name: &str) -> Result<&'static Key> {
    let wanted = name.replace('-', "_");
    KEYS.iter().find(|k| k.name == wanted).with_context(|| {
        let known: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        format!("no setting {name:?}; the settings are {}", known.join(", "))
    })
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

impl Settings {
    /// Reads the file at [`default_path`]; no file is no settings.
    pub fn load() -> Result<Settings> {
        match default_path() {
            Some(path) => Settings::load_from(&path),
            None => Ok(Settings::default()),
        }
    }

    /// Reads `path`; a missing file is no settings, a malformed one an
    /// error naming it.
    pub fn load_from(path: &Path) -> Result<Settings> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let doc: DocumentMut = text
            .parse()
            .with_context(|| format!("{} is not valid TOML", path.display()))?;
        let settings = Settings {
            doc,
            path: Some(path.to_path_buf()),
        };
        for (name, _) in settings.doc.iter() {
            if name != "bookmarks" {
                key(name).with_context(|| format!("in {}", path.display()))?;
            }
        }
        for k in KEYS {
            if let Some(item) = settings.doc.get(k.name) {
                check(k, item).with_context(|| format!("in {}", path.display()))?;
            }
        }
        Ok(settings)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn bool(&self, name: &str) -> Option<bool> {
        self.doc.get(name).and_then(Item::as_bool)
    }

    fn number(&self, name: &str) -> Option<u64> {
        self.doc
            .get(name)
            .and_then(Item::as_integer)
            .and_then(|n| u64::try_from(n).ok())
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.doc.get(name).and_then(Item::as_str)
    }

    /// The value of setting `k` as the file says it, if set.
    pub fn shown(&self, k: &Key) -> Option<String> {
        let item = self.doc.get(k.name)?;
        item.as_bool()
            .map(|b| b.to_string())
            .or_else(|| item.as_integer().map(|n| n.to_string()))
            .or_else(|| item.as_str().map(str::to_string))
    }

    /// Sets `name` to `text` (checked as its kind wants).
    pub fn set(&mut self, name: &str, text: &str) -> Result<()> {
        let k = key(name)?;
        let item = match k.kind {
            Kind::Bool => {
                value(parse_bool(text).with_context(|| format!("{}: say on or off", k.name))?)
            }
            Kind::Number(lo, hi) => {
                let n: u64 = text
                    .parse()
                    .ok()
                    .filter(|n| (lo..=hi).contains(n))
                    .with_context(|| {
                        format!("{}: give a whole number from {lo} to {hi}", k.name)
                    })?;
                value(i64::try_from(n).unwrap_or(i64::MAX))
            }
            Kind::Rate => {
                parse_rate(text).map_err(|e| anyhow::anyhow!("{}: {e}", k.name))?;
                value(text)
            }
            Kind::Path => value(text),
        };
        self.doc[k.name] = item;
        Ok(())
    }

    /// Removes setting `name`: the built-in default applies again.
    pub fn unset(&mut self, name: &str) -> Result<()> {
        let k = key(name)?;
        self.doc.remove(k.name);
        Ok(())
    }

    /// Bookmarks by name.
    pub fn bookmarks(&self) -> Vec<(String, String)> {
        self.doc
            .get("bookmarks")
            .and_then(Item::as_table)
            .map(|t| {
                t.iter()
                    .filter_map(|(k, v)| Some((k.to_string(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn bookmark(&self, name: &str) -> Option<String> {
        self.doc
            .get("bookmarks")
            .and_then(|b| b.get(name))
            .and_then(Item::as_str)
            .map(str::to_string)
    }

    /// Adds or replaces bookmark `name`; a URL holding a password is
    /// refused (the file is not the place: use ~/.netrc).
    pub fn add_bookmark(&mut self, name: &str, url: &str) -> Result<()> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            bail!("bookmark names are letters, digits, - _ and .");
        }
        let parsed = ftp_client::FtpUrl::parse(url)?;
        if parsed.password.is_some() {
            bail!("a bookmark keeps no password: remove it from the URL and put it in ~/.netrc");
        }
        let table = self
            .doc
            .entry("bookmarks")
            .or_insert_with(|| Item::Table(Table::new()));
        let Some(table) = table.as_table_mut() else {
            bail!("`bookmarks` in the settings file is not a table");
        };
        table[name] = value(url);
        Ok(())
    }

    /// Removes bookmark `name`; `false` when there was none.
    pub fn remove_bookmark(&mut self, name: &str) -> bool {
        self.doc
            .get_mut("bookmarks")
            .and_then(Item::as_table_mut)
            .is_some_and(|t| t.remove(name).is_some())
    }

    /// Writes the file (its directory made if needed), readable by its
    /// owner only, replacing the old one in one rename.
    pub fn save(&self) -> Result<()> {
        let path = self
            .path
            .as_deref()
            .context("no settings file: HOME is not set")?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = path.with_extension("toml.new");
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(self.doc.to_string().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().with_context(|| format!("cannot write {}", path.display()))
    }

    /// Fills the connection flags `given` says were not given with the
    /// file's values.
    pub fn apply(&self, conn: &mut Connection, given: &dyn Fn(&str) -> bool) {
        let flag = |name: &str, field: &mut bool| {
            if let (false, Some(v)) = (given(name), self.bool(name)) {
                *field = v;
            }
        };
        flag("tls", &mut conn.tls);
        flag("tls13", &mut conn.tls13);
        flag("active", &mut conn.active);
        flag("fsync", &mut conn.fsync);
        if let (false, Some(t)) = (given("timeout"), self.number("timeout")) {
            conn.timeout = t;
        }
        if let (false, Some(r)) = (given("limit_rate"), self.text("limit_rate")) {
            conn.limit_rate = parse_rate(r).ok();
        }
        if let (false, Some(p)) = (given("cacert"), self.text("cacert")) {
            conn.cacert = Some(PathBuf::from(p));
        }
    }

    /// The mirror's parallelism, when set.
    pub fn parallel(&self) -> Option<usize> {
        self.number("parallel")
            .and_then(|n| usize::try_from(n).ok())
    }
}

/// Whether the file's `item` for `k` has the right kind.
fn check(k: &Key, item: &Item) -> Result<()> {
    let ok = match k.kind {
        Kind::Bool => item.as_bool().is_some(),
        Kind::Number(lo, hi) => item
            .as_integer()
            .and_then(|n| u64::try_from(n).ok())
            .is_some_and(|n| (lo..=hi).contains(&n)),
        Kind::Rate => item.as_str().is_some_and(|r| parse_rate(r).is_ok()),
        Kind::Path => item.as_str().is_some(),
    };
    if !ok {
        let want = match k.kind {
            Kind::Bool => "true or false".to_string(),
            Kind::Number(lo, hi) => format!("a whole number from {lo} to {hi}"),
            Kind::Rate => "a rate in quotes, such as \"500K\"".to_string(),
            Kind::Path => "a path in quotes".to_string(),
        };
        bail!("{} must be {want}", k.name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        conn: Connection,
    }

    #[test]
    fn set_save_load_keeps_comments_and_checks_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wharf").join("config.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "# mine\ntimeout = 10 # short\n").unwrap();
        let mut s = Settings::load_from(&path).unwrap();
        s.set("limit-rate", "2M").unwrap();
        s.set("tls", "on").unwrap();
        s.set("parallel", "8").unwrap();
        assert!(s
            .set("parallel", "0")
            .unwrap_err()
            .to_string()
            .contains("1 to 64"));
        assert!(s
            .set("tls", "maybe")
            .unwrap_err()
            .to_string()
            .contains("on or off"));
        assert!(s.set("limit_rate", "fast").is_err());
        assert!(s
            .set("colour", "red")
            .unwrap_err()
            .to_string()
            .contains("no setting"));
        s.add_bookmark("backup", "ftp://ann@files.example.org/backups")
            .unwrap();
        assert!(s
            .add_bookmark("bad", "ftp://ann:pw@host/")
            .unwrap_err()
            .to_string()
            .contains("no password"));
        assert!(s.add_bookmark("no spaces", "ftp://host/").is_err());
        s.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# mine\ntimeout = 10 # short\n"), "{text}");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let again = Settings::load_from(&path).unwrap();
        assert_eq!(again.parallel(), Some(8));
        assert_eq!(
            again.bookmark("backup").as_deref(),
            Some("ftp://ann@files.example.org/backups")
        );
        let shown: Vec<_> = KEYS.iter().filter_map(|k| again.shown(k)).collect();
        assert_eq!(shown, vec!["true", "10", "2M", "8"]);
        let mut again = again;
        assert!(again.remove_bookmark("backup"));
        assert!(!again.remove_bookmark("backup"));
        again.unset("tls").unwrap();
        assert_eq!(again.bool("tls"), None);
    }

    #[test]
    fn flags_given_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "tls = true\ntimeout = 7\nlimit_rate = \"1K\"\ncacert = \"/ca.pem\"\n",
        )
        .unwrap();
        let s = Settings::load_from(&path).unwrap();
        let mut flags = Flags::parse_from(["x", "--timeout", "99"]);
        s.apply(&mut flags.conn, &|id| id == "timeout");
        assert!(flags.conn.tls);
        assert_eq!(flags.conn.timeout, 99);
        assert_eq!(flags.conn.limit_rate, Some(1024));
        assert_eq!(flags.conn.cacert, Some(PathBuf::from("/ca.pem")));
    }

    #[test]
    fn a_bad_file_says_where_and_what() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        for (text, says) in [
            ("timeout = \"soon\"\n", "timeout must be a whole number"),
            ("colour = 1\n", "no setting \"colour\""),
            ("tls = [\n", "is not valid TOML"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", Settings::load_from(&path).unwrap_err());
            assert!(err.contains(says) && err.contains("c.toml"), "{err}");
        }
        assert!(Settings::load_from(&dir.path().join("none.toml")).is_ok());
    }
}
