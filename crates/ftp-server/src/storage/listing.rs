//! Directory listings, produced on a blocking thread and streamed in
//! chunks through a small bounded channel, so a directory of any size is
//! listed in bounded memory and the first bytes go out at once.
//!
//! # Symbolic links
//!
//! LIST (and STAT with a path) types a link `l` and shows where it leads,
//! `name -> target`, as vsftpd and ProFTPD do, but only what the session
//! could reach itself ([`shown_target`]):
//!
//! - a link that resolves inside the session's root, with a relative text
//!   that never climbs above that root, shows its text as it is
//!   (`latest -> releases/1.2`), which is what `wharf mirror` and lftp
//!   recreate;
//! - a link that resolves inside the root but whose text would show the
//!   host's layout (an absolute path, or `..` above the root and back in)
//!   shows where it leads as a relative path from its own directory
//!   (`docs -> ../shared/docs`), never the text. Relative, because the
//!   root need not be the session's `/`: a shared folder is a root of its
//!   own, mounted somewhere in the session's tree;
//! - a link that leads outside the root, nowhere (dangling), round in a
//!   loop or to an upload in progress (a hidden name) shows no target at
//!   all, and its size (the length of its text) is shown as 0, so not
//!   even the length of a host path leaks.
//!
//! The target follows the name's rules: bytes as they are over a data
//! connection, CR and LF turned into `?` on the control connection. MLSD
//! and MLST type a link `OS.unix=symlink` and never show its target
//! (RFC 3659 defines no fact for it; ProFTPD's `OS.unix=slink:TARGET` is
//! optional and would need the same care), and SFTP's long names show none.

use super::{blocking, Jail, Meta, StorageError, PART_PREFIX};
use ftp_proto::listing::{mlsx_line, unix_line, Entry, EntryKind, FactSet};
use ftp_proto::VirtualPath;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use tokio::sync::mpsc;

/// A chunk is sent once it holds this many bytes.
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks in flight between the producer and the socket.
pub(crate) const CHUNKS_IN_FLIGHT: usize = 4;

/// A listing being produced: chunks of formatted entries, in order, or
/// the error that ended it early (a storage backend that stopped
/// answering), which the client must hear instead of a complete listing.
pub type ListChunks = mpsc::Receiver<Result<Vec<u8>, StorageError>>;

/// What each entry turns into.
#[derive(Debug, Clone, Copy)]
pub enum ListFormat {
    /// LIST: `ls -l` lines.
    Long,
    /// STAT with a path: `ls -l` lines sent over the control connection,
    /// where a name must not break a line: CR and LF in names become `?`.
    LongControl,
    /// NLST: bare names.
    Names,
    /// MLSD: fact lines; `writable` decides the `perm` fact.
    Mlsd { facts: FactSet, writable: bool },
    /// Structured entries for a front-end that formats them itself (SFTP's
    /// READDIR): see [`Record`].
    Records,
}

/// One entry of a [`ListFormat::Records`] listing: the name and its
/// facts, as fixed-width fields after a length-prefixed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: Vec<u8>,
    pub meta: Meta,
}

impl Record {
    fn encode(meta: &Meta, name: &[u8], out: &mut Vec<u8>) {
        let kind = match meta.kind {
            EntryKind::File => 0u8,
            EntryKind::Dir => 1,
            EntryKind::Symlink => 2,
            EntryKind::Other => 3,
        };
        out.extend_from_slice(&(name.len() as u32).to_be_bytes());
        out.extend_from_slice(name);
        out.push(kind);
        out.extend_from_slice(&meta.size.to_be_bytes());
        out.extend_from_slice(&meta.mtime.to_be_bytes());
        out.extend_from_slice(&meta.mode.to_be_bytes());
        out.extend_from_slice(&meta.nlink.to_be_bytes());
    }

    /// The records of one chunk, in order (a chunk holds whole records).
    pub fn decode_all(mut chunk: &[u8]) -> Vec<Record> {
        fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, tail) = (buf.get(..n)?, buf.get(n..)?);
            *buf = tail;
            Some(head)
        }
        fn array<const N: usize>(buf: &mut &[u8]) -> Option<[u8; N]> {
            take(buf, N)?.try_into().ok()
        }
        let mut records = Vec::new();
        while !chunk.is_empty() {
            let Some(record) = (|| {
                let len = u32::from_be_bytes(array(&mut chunk)?) as usize;
                let name = take(&mut chunk, len)?.to_vec();
                let kind = match take(&mut chunk, 1)?[0] {
                    0 => EntryKind::File,
                    1 => EntryKind::Dir,
                    2 => EntryKind::Symlink,
                    _ => EntryKind::Other,
                };
                let meta = Meta {
                    kind,
                    size: u64::from_be_bytes(array(&mut chunk)?),
                    mtime: i64::from_be_bytes(array(&mut chunk)?),
                    mode: u32::from_be_bytes(array(&mut chunk)?),
                    nlink: u64::from_be_bytes(array(&mut chunk)?),
                    dev: 0,
                    ino: 0,
                };
                Some(Record { name, meta })
            })() else {
                break;
            };
            records.push(record);
        }
        records
    }
}

impl Jail {
    /// Starts listing `vpath`, a directory or a single file (MLSD only
    /// takes directories). Errors that a client should see as a reply
    /// (not found, not a directory) come back before any byte is produced.
    pub async fn list(
        &self,
        vpath: &VirtualPath,
        format: ListFormat,
        now_unix: i64,
    ) -> Result<ListChunks, StorageError> {
        let jail = self.clone();
        let vpath = vpath.clone();
        let (real, meta) = blocking(move || {
            let real = jail.resolve(&vpath)?;
            let meta = Meta::from(&fs::metadata(&real)?);
            Ok((real, meta))
        })
        .await?;
        if !meta.is_dir() && matches!(format, ListFormat::Mlsd { .. } | ListFormat::Records) {
            return Err(StorageError::NotADirectory);
        }
        let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let root = self.root().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(CHUNK_BYTES + 512);
            if meta.is_dir() {
                produce_dir(&root, &real, format, now_unix, &mut out, &tx);
            } else {
                let name = real.file_name().map(|n| n.as_bytes()).unwrap_or(b"");
                format_entry(&meta, name, None, format, now_unix, &mut out);
            }
            if !out.is_empty() {
                let _ = tx.blocking_send(Ok(out));
            }
        });
        Ok(rx)
    }
}

fn produce_dir(
    root: &Path,
    dir: &PathBuf,
    format: ListFormat,
    now_unix: i64,
    out: &mut Vec<u8>,
    tx: &mpsc::Sender<Result<Vec<u8>, StorageError>>,
) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let shows_targets = matches!(format, ListFormat::Long | ListFormat::LongControl);
    // Where below the root the directory really is (not the path it was
    // reached by): a link's `..` climbs from here.
    let canonical = fs::canonicalize(dir).ok();
    let below = canonical.as_deref().and_then(|c| c.strip_prefix(root).ok());
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.as_bytes();
        if name.starts_with(PART_PREFIX) {
            continue;
        }
        let Ok(md) = entry.metadata() else {
            continue;
        };
        let meta = Meta::from(&md);
        let target = match (meta.kind, below) {
            (EntryKind::Symlink, Some(below)) if shows_targets => {
                shown_target(root, below, &entry.path())
            }
            _ => None,
        };
        format_entry(&meta, name, target.as_deref(), format, now_unix, out);
        if out.len() >= CHUNK_BYTES {
            let full = std::mem::replace(out, Vec::with_capacity(CHUNK_BYTES + 512));
            if tx.blocking_send(Ok(full)).is_err() {
                return;
            }
        }
    }
}

/// What LIST shows after ` -> ` for the link at `link`, whose directory
/// is `dir` below `root` (see the module's doc): its text, a relative
/// path to where it leads, or nothing.
fn shown_target(root: &Path, dir: &Path, link: &Path) -> Option<Vec<u8>> {
    let text = fs::read_link(link).ok()?;
    // Dangling, a loop, or outside the root: nothing.
    let resolved = fs::canonicalize(link).ok()?;
    let inside = resolved.strip_prefix(root).ok()?;
    if inside
        .components()
        .any(|c| c.as_os_str().as_bytes().starts_with(PART_PREFIX))
    {
        return None;
    }
    if text.is_relative() && stays_below(dir.components().count(), &text) {
        return Some(text.as_os_str().as_bytes().to_vec());
    }
    Some(relative_path(dir, inside))
}

/// The relative path from directory `from` to `to`, both below the same
/// root and free of `.`, `..` and links (canonical).
fn relative_path(from: &Path, to: &Path) -> Vec<u8> {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&[u8]> = vec![b".."; from.len() - common];
    parts.extend(to[common..].iter().map(|c| c.as_os_str().as_bytes()));
    if parts.is_empty() {
        return b".".to_vec();
    }
    parts.join(&b'/')
}

/// Whether the relative link text `text`, followed from a directory
/// `depth` levels below the root, never names anything above the root.
fn stays_below(mut depth: usize, text: &Path) -> bool {
    for part in text.components() {
        match part {
            Component::ParentDir => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return false,
            },
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// The `ls -l` entry of `meta` under `name`: a link carries the target
/// it may show, and the length of that target as its size.
fn long_entry<'a>(meta: &Meta, name: &'a [u8], target: Option<&'a [u8]>) -> Entry<'a> {
    let mut entry = meta.entry(name);
    if entry.kind == EntryKind::Symlink {
        entry.size = target.map_or(0, |t| t.len() as u64);
        entry.link_target = target;
    }
    entry
}

/// Appends `meta`'s entry under `name` in `format`. `link_target` is what
/// LIST shows after ` -> ` for a link (see the module's doc); a link
/// shown without one is listed with size 0.
pub(crate) fn format_entry(
    meta: &Meta,
    name: &[u8],
    link_target: Option<&[u8]>,
    format: ListFormat,
    now_unix: i64,
    out: &mut Vec<u8>,
) {
    let control_safe = |bytes: &[u8]| -> Vec<u8> {
        bytes
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b'?' } else { b })
            .collect()
    };
    match format {
        ListFormat::Long => unix_line(&long_entry(meta, name, link_target), now_unix, out),
        ListFormat::LongControl => {
            let safe = control_safe(name);
            let target = link_target.map(control_safe);
            unix_line(&long_entry(meta, &safe, target.as_deref()), now_unix, out)
        }
        ListFormat::Names => {
            out.extend_from_slice(name);
            out.extend_from_slice(b"\r\n");
        }
        ListFormat::Mlsd { facts, writable } => mlsx_line(&meta.entry(name), facts, writable, out),
        ListFormat::Records => Record::encode(meta, name, out),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn records_round_trip_every_kind() {
        let mut out = Vec::new();
        let mut metas = Vec::new();
        for (i, kind) in [
            EntryKind::File,
            EntryKind::Dir,
            EntryKind::Symlink,
            EntryKind::Other,
        ]
        .into_iter()
        .enumerate()
        {
            let meta = Meta {
                kind,
                size: 1 << (10 * i),
                mtime: -5 + i as i64,
                mode: 0o644,
                nlink: 1,
                dev: 0,
                ino: 0,
            };
            format_entry(
                &meta,
                format!("n{i}").as_bytes(),
                None,
                ListFormat::Records,
                0,
                &mut out,
            );
            metas.push(meta);
        }
        let records = Record::decode_all(&out);
        assert_eq!(records.len(), 4);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.name, format!("n{i}").as_bytes());
            assert_eq!(r.meta, metas[i]);
        }
    }

    use super::*;

    async fn collect(mut rx: ListChunks) -> Vec<u8> {
        let mut all = Vec::new();
        while let Some(chunk) = rx.recv().await {
            all.extend_from_slice(&chunk.unwrap());
        }
        all
    }

    #[tokio::test]
    async fn lists_names_and_hides_parts() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), b"1").unwrap();
        fs::write(dir.path().join(".wharf-part-x"), b"1").unwrap();
        fs::write(dir.path().join(std::ffi::OsStr::from_bytes(b"\xe9")), b"1").unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        let rx = jail
            .list(&VirtualPath::root(), ListFormat::Names, 0)
            .await
            .unwrap();
        let mut names: Vec<Vec<u8>> = collect(rx)
            .await
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| l.strip_suffix(b"\r").unwrap().to_vec())
            .collect();
        names.sort();
        assert_eq!(names, vec![b"a".to_vec(), b"\xe9".to_vec()]);
    }

    /// The lines of `vpath`'s listing in `format`, sorted.
    async fn lines(jail: &Jail, vpath: &VirtualPath, format: ListFormat) -> Vec<String> {
        let rx = jail.list(vpath, format, 1_700_000_000).await.unwrap();
        let mut lines: Vec<String> = String::from_utf8(collect(rx).await)
            .unwrap()
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    }

    /// The line of `name`, from its type letter to the end.
    fn line_of<'a>(lines: &'a [String], name: &str) -> &'a str {
        lines
            .iter()
            .find(|l| l.ends_with(&format!(" {name}")) || l.contains(&format!(" {name} -> ")))
            .unwrap_or_else(|| panic!("no {name} in {lines:#?}"))
    }

    #[tokio::test]
    async fn links_show_their_targets_only_inside_the_root() {
        use std::os::unix::fs::symlink;
        let top = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"x").unwrap();
        let root = top.path().join("home");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("real.txt"), b"the real file").unwrap();
        fs::write(root.join("a\nb"), b"").unwrap();
        symlink("real.txt", root.join("inside")).unwrap();
        symlink("../real.txt", root.join("sub/up")).unwrap();
        symlink(root.join("sub"), root.join("absolute")).unwrap();
        symlink("../home/real.txt", root.join("around")).unwrap();
        symlink(root.join("real.txt"), root.join("sub/abs-up")).unwrap();
        symlink("sub/../../home/real.txt", root.join("sub-up")).unwrap();
        fs::write(root.join(".wharf-part-upload"), b"").unwrap();
        symlink(".wharf-part-upload", root.join("part")).unwrap();
        symlink(outside.path(), root.join("out-dir")).unwrap();
        symlink(outside.path().join("secret"), root.join("out-file")).unwrap();
        symlink("..", root.join("parent")).unwrap();
        symlink("nothing", root.join("dangling")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        symlink("a\nb", root.join("nl")).unwrap();
        let jail = Jail::new(&root, false).unwrap();
        let top_dir = VirtualPath::root();
        let all = lines(&jail, &top_dir, ListFormat::Long).await;
        let text = all.join("\n");
        let host = top.path().to_string_lossy().into_owned();
        let out_host = outside.path().to_string_lossy().into_owned();
        assert!(!text.contains(&host) && !text.contains(&out_host), "{text}");
        // From the name to the end of the line.
        let tail = |name: &str| {
            let line = line_of(&all, name);
            line[line.find(&format!(" {name}")).unwrap() + 1..].to_string()
        };
        assert_eq!(tail("inside"), "inside -> real.txt");
        assert_eq!(tail("absolute"), "absolute -> sub");
        assert_eq!(tail("around"), "around -> real.txt");
        assert_eq!(tail("sub-up"), "sub-up -> real.txt");
        for hidden in ["out-dir", "out-file", "parent", "dangling", "loop", "part"] {
            let line = line_of(&all, hidden);
            assert!(line.starts_with("lrwxrwxrwx"), "{line}");
            assert_eq!(tail(hidden), hidden, "{line}");
            // Not even the length of where it leads.
            assert!(line.contains(" ftp      ftp                 0 "), "{line}");
        }
        assert!(line_of(&all, "inside").contains(" ftp      ftp                 8 "));
        assert!(line_of(&all, "real.txt").starts_with("-rw"));
        let sub = lines(&jail, &top_dir.join(b"sub").unwrap(), ListFormat::Long).await;
        assert!(line_of(&sub, "abs-up").ends_with(" abs-up -> ../real.txt"));
        assert!(line_of(&sub, "up").ends_with(" up -> ../real.txt"));
        // Through a link to a directory, `..` climbs from where it really is.
        let via = lines(&jail, &top_dir.join(b"absolute").unwrap(), ListFormat::Long).await;
        assert!(line_of(&via, "up").ends_with(" up -> ../real.txt"));

        // On the control connection CR and LF become `?` in targets too.
        let control = lines(&jail, &top_dir, ListFormat::LongControl).await;
        assert!(
            control.iter().any(|l| l.ends_with(" nl -> a?b")),
            "{control:#?}"
        );
        // MLSD and NLST never show a target.
        let mlsd = ListFormat::Mlsd {
            facts: FactSet::default(),
            writable: false,
        };
        for format in [mlsd, ListFormat::Names] {
            let listed = lines(&jail, &top_dir, format).await.join("\n");
            assert!(!listed.contains(" -> "), "{listed}");
        }
    }

    #[test]
    fn relative_paths_between_directories() {
        let rel = |from: &str, to: &str| {
            String::from_utf8(relative_path(Path::new(from), Path::new(to))).unwrap()
        };
        assert_eq!(rel("", "a/b"), "a/b");
        assert_eq!(rel("a/b", "a/c"), "../c");
        assert_eq!(rel("a/b", ""), "../..");
        assert_eq!(rel("a", "a"), ".");
        assert_eq!(rel("x/y", "x/y/z"), "z");
    }

    #[test]
    fn a_relative_text_that_climbs_above_the_root_is_not_shown() {
        assert!(stays_below(0, Path::new("a/../b")));
        assert!(stays_below(1, Path::new("../b")));
        assert!(stays_below(0, Path::new("./x")));
        assert!(!stays_below(0, Path::new("../home/b")));
        assert!(!stays_below(1, Path::new("x/../../../b")));
        assert!(!stays_below(3, Path::new("/etc")));
    }

    #[tokio::test]
    async fn large_directory_streams_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..3000 {
            fs::write(dir.path().join(format!("file-{i:05}")), b"").unwrap();
        }
        let jail = Jail::new(dir.path(), false).unwrap();
        let rx = jail
            .list(&VirtualPath::root(), ListFormat::Long, 0)
            .await
            .unwrap();
        let all = collect(rx).await;
        assert_eq!(
            all.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count(),
            3000
        );
        assert!(matches!(
            jail.list(
                &VirtualPath::root().join(b"file-00001").unwrap(),
                ListFormat::Mlsd {
                    facts: FactSet::default(),
                    writable: false
                },
                0
            )
            .await,
            Err(StorageError::NotADirectory)
        ));
    }
}
