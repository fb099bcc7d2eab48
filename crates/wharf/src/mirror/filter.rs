//! Which parts of a tree a mirror looks at: `--exclude GLOB` (repeatable,
//! and one pattern per line from `--exclude-from FILE`) and `--include
//! GLOB` (repeatable).
//!
//! A pattern without `/` is matched against the name of each file and
//! directory at any depth; a pattern with `/` against the whole path from
//! the mirror's root (`docs/*.tmp`). `*` is any run of bytes, `?` any one
//! ([`crate::glob`]). An excluded directory is not entered at all. With
//! any `--include`, only files matching one of them are taken, and an
//! exclusion still wins. Both trees are filtered, so `--delete` never
//! removes an excluded file on the target.

use crate::glob;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::PathBuf;

/// Largest `--exclude-from` file read.
const MAX_PATTERN_FILE: u64 = 1 << 20;

/// The patterns of one mirror.
#[derive(Debug, Default)]
pub struct Filter {
    include: Vec<Vec<u8>>,
    exclude: Vec<Vec<u8>>,
}

impl Filter {
    /// The filter the flags ask for; `exclude_from` files hold one pattern
    /// a line (blank lines and lines starting with `#` are skipped).
    pub fn new(include: &[String], exclude: &[String], exclude_from: &[PathBuf]) -> Result<Filter> {
        let mut filter = Filter {
            include: include.iter().map(|p| p.as_bytes().to_vec()).collect(),
            exclude: exclude.iter().map(|p| p.as_bytes().to_vec()).collect(),
        };
        for path in exclude_from {
            let mut text = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(MAX_PATTERN_FILE + 1).read_to_end(&mut text))
                .with_context(|| format!("cannot read {}", path.display()))?;
            if text.len() as u64 > MAX_PATTERN_FILE {
                bail!("{} is larger than {MAX_PATTERN_FILE} bytes", path.display());
            }
            filter.exclude.extend(
                text.split(|&b| b == b'\n')
                    .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                    .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
                    .map(<[u8]>::to_vec),
            );
        }
        Ok(filter)
    }

    /// Whether the directory at `rel` (a path from the root) is entered.
    pub fn enters(&self, rel: &[u8]) -> bool {
        !self.exclude.iter().any(|p| hits(p, rel))
    }

    /// Whether the file at `rel` is mirrored.
    pub fn takes(&self, rel: &[u8]) -> bool {
        self.enters(rel) && (self.include.is_empty() || self.include.iter().any(|p| hits(p, rel)))
    }
}

fn hits(pattern: &[u8], rel: &[u8]) -> bool {
    if pattern.contains(&b'/') {
        glob::matches(pattern, rel)
    } else {
        let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(rel);
        glob::matches(pattern, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_paths_and_includes() {
        let f = Filter::new(&[], &words(&["*.tmp", "cache", "docs/old*"]), &[]).unwrap();
        assert!(!f.takes(b"a/b/x.tmp"));
        assert!(f.takes(b"a/b/x.txt"));
        assert!(!f.enters(b"deep/cache"));
        assert!(f.enters(b"deep/caches"));
        assert!(!f.takes(b"docs/old-notes.txt"));
        assert!(f.takes(b"other/docs/old-notes.txt"));

        let f = Filter::new(&words(&["*.iso"]), &words(&["beta*"]), &[]).unwrap();
        assert!(f.takes(b"pub/release.iso"));
        assert!(!f.takes(b"pub/readme"));
        assert!(!f.takes(b"pub/beta.iso"));
        assert!(f.enters(b"pub"));
    }

    #[test]
    fn patterns_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ex");
        std::fs::write(&path, "# comment\r\n*.bak\r\n\nlogs\n").unwrap();
        let f = Filter::new(&[], &[], &[path]).unwrap();
        assert!(!f.takes(b"x.bak"));
        assert!(!f.enters(b"a/logs"));
        assert!(f.takes(b"# comment"));
        assert!(Filter::new(&[], &[], &[dir.path().join("missing")]).is_err());
    }
}
