//! Directory listings, produced on a blocking thread and streamed in
//! chunks through a small bounded channel, so a directory of any size is
//! listed in bounded memory and the first bytes go out at once.

use super::{blocking, Jail, Meta, StorageError, PART_PREFIX};
use ftp_proto::listing::{mlsx_line, unix_line, EntryKind, FactSet};
use ftp_proto::VirtualPath;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
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
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(CHUNK_BYTES + 512);
            if meta.is_dir() {
                produce_dir(&real, format, now_unix, &mut out, &tx);
            } else {
                let name = real.file_name().map(|n| n.as_bytes()).unwrap_or(b"");
                format_entry(&meta, name, format, now_unix, &mut out);
            }
            if !out.is_empty() {
                let _ = tx.blocking_send(Ok(out));
            }
        });
        Ok(rx)
    }
}

fn produce_dir(
    dir: &PathBuf,
    format: ListFormat,
    now_unix: i64,
    out: &mut Vec<u8>,
    tx: &mpsc::Sender<Result<Vec<u8>, StorageError>>,
) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.as_bytes();
        if name.starts_with(PART_PREFIX) {
            continue;
        }
        let Ok(md) = entry.metadata() else {
            continue;
        };
        format_entry(&Meta::from(&md), name, format, now_unix, out);
        if out.len() >= CHUNK_BYTES {
            let full = std::mem::replace(out, Vec::with_capacity(CHUNK_BYTES + 512));
            if tx.blocking_send(Ok(full)).is_err() {
                return;
            }
        }
    }
}

pub(crate) fn format_entry(
    meta: &Meta,
    name: &[u8],
    format: ListFormat,
    now_unix: i64,
    out: &mut Vec<u8>,
) {
    match format {
        ListFormat::Long => unix_line(&meta.entry(name), now_unix, out),
        ListFormat::LongControl => {
            let safe: Vec<u8> = name
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b'?' } else { b })
                .collect();
            unix_line(&meta.entry(&safe), now_unix, out)
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
