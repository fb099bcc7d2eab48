//! File hashes: HASH, OPTS HASH and RANG (draft-bryan-ftpext-hash-02,
//! draft-bryan-ftp-range-08), and the older XCRC, XMD5, XSHA(1), XSHA256
//! and XSHA512.
//!
//! The draft: "the HASH command … request[s] the hash of a file"; the
//! server answers `213 <hash name> <start>-<end> <hash> <pathname>`, and
//! OPTS HASH shows or selects the algorithm a session's HASH uses. Here
//! the whole file is reported as `0-SIZE` (as ProFTPD does), a RANG range
//! with its end included as RANG gave it (`RANG 0 49` → `0-49`). The
//! X-verbs answer `250 <HEX>` (upper case, as ProFTPD and Serv-U do).
//!
//! A verb only checks its argument and returns a [`HashJob`]; the session
//! runs it while it keeps answering the control connection (ABOR and a
//! vanished client stop it), and the file service computes it (see
//! [`crate::digest`]).

use super::{Outcome, Place};
use crate::digest::{FileDigest, HashError};
use crate::service::FileService;
use crate::storage::StorageError;
use ftp_proto::hash::{ByteRange, HashAlgorithm};
use ftp_proto::reply::code;
use ftp_proto::{Reply, VirtualPath};

/// A hash a command asked for, to be run by the session.
#[derive(Debug)]
pub struct HashJob {
    pub files: FileService,
    pub path: VirtualPath,
    pub algorithm: HashAlgorithm,
    pub range: Option<ByteRange>,
    /// The path as the client wrote it, for the reply.
    shown: Vec<u8>,
    /// HASH (else an X-verb).
    draft: bool,
}

/// HASH with the session's algorithm, over the range RANG set, if any.
pub fn hash(
    place: Place<'_>,
    algorithm: HashAlgorithm,
    range: Option<ByteRange>,
    arg: &[u8],
) -> Result<Outcome, Reply> {
    job(place, algorithm, range, arg, true)
}

/// XCRC, XMD5, XSHA1, XSHA256, XSHA512, with their optional range.
pub fn x_hash(
    place: Place<'_>,
    algorithm: HashAlgorithm,
    range: Option<ByteRange>,
    arg: &[u8],
) -> Result<Outcome, Reply> {
    job(place, algorithm, range, arg, false)
}

fn job(
    place: Place<'_>,
    algorithm: HashAlgorithm,
    range: Option<ByteRange>,
    arg: &[u8],
    draft: bool,
) -> Result<Outcome, Reply> {
    Ok(Outcome::Hash(Box::new(HashJob {
        files: place.files.clone(),
        path: place.path(arg)?,
        algorithm,
        range,
        shown: arg.to_vec(),
        draft,
    })))
}

/// RANG: the bytes the next HASH covers; `RANG 1 0` resets.
pub fn rang(pending: &mut Option<ByteRange>, range: Option<ByteRange>) -> Outcome {
    *pending = range;
    let text = match range {
        Some(r) => format!(
            "Restarting at {}. Ending byte at {}. (The range applies to HASH only.)",
            r.start,
            r.end - 1
        ),
        None => "Restarting at 0. Ending byte at EOF.".into(),
    };
    Reply::new(code::PENDING_INFO, text).into()
}

/// The answer to a transfer command sent right after RANG: this server
/// applies ranges to HASH only, and will not move a whole file the
/// client asked to limit.
pub fn range_not_for_transfers() -> Reply {
    Reply::new(
        code::PARAMETER_NOT_IMPLEMENTED,
        "RANG applies only to HASH on this server; the range was reset, send the command again \
         (use REST for a download's start).",
    )
}

/// OPTS HASH: shows the session's algorithm, or selects another.
pub fn opts_hash(current: &mut HashAlgorithm, value: &str) -> Reply {
    if value.is_empty() {
        return Reply::new(code::OK, current.name());
    }
    match HashAlgorithm::from_name(value) {
        Some(algorithm) => {
            *current = algorithm;
            Reply::new(code::OK, algorithm.name())
        }
        None => {
            let known: Vec<&str> = HashAlgorithm::ALL.iter().map(|a| a.name()).collect();
            Reply::new(
                code::ARGUMENT_ERROR,
                format!(
                    "Unknown hash algorithm {value:?}; choose one of {}.",
                    known.join(", ")
                ),
            )
        }
    }
}

impl HashJob {
    /// The reply for the job's result.
    pub fn answer(&self, result: Result<FileDigest, HashError>) -> Reply {
        match result {
            Ok(digest) if self.draft => {
                let (start, end) = match self.range {
                    Some(r) => (r.start, r.end - 1),
                    None => (0, digest.range.end),
                };
                let mut text =
                    format!("{} {start}-{end} {} ", digest.algorithm, digest.hex).into_bytes();
                text.extend_from_slice(&self.shown);
                Reply::new(code::FILE_STATUS, text)
            }
            Ok(digest) => Reply::new(code::FILE_ACTION_OK, digest.hex.to_ascii_uppercase()),
            Err(e) => self.refusal(e),
        }
    }

    fn refusal(&self, err: HashError) -> Reply {
        let verb = if self.draft {
            "HASH"
        } else {
            self.algorithm.x_verb()
        };
        match err {
            HashError::Storage(StorageError::NotAFile) => Reply::new(
                if self.draft {
                    code::NAME_NOT_ALLOWED
                } else {
                    code::FILE_UNAVAILABLE
                },
                format!("{verb} needs a regular file; {} is not one.", self.path),
            ),
            HashError::Storage(e) => super::storage_reply(e),
            e @ HashError::OutOfRange { .. } => {
                Reply::new(code::INVALID_RESTART, format!("{verb}: {e}."))
            }
            e @ HashError::Busy => Reply::new(code::FILE_BUSY, format!("{verb}: {e}.")),
            e @ HashError::Aborted => Reply::new(code::TRANSFER_ABORTED, format!("{verb}: {e}.")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(draft: bool, range: Option<ByteRange>) -> HashJob {
        use crate::service::{Identity, Journal};
        let dir = tempfile::tempdir().unwrap();
        let storage = std::sync::Arc::new(crate::storage::Jail::new(dir.path(), false).unwrap());
        let identity = Identity {
            user: "u".into(),
            anonymous: false,
            peer: "127.0.0.1:1".parse().unwrap(),
            protocol: "ftp",
        };
        let metrics: std::sync::Arc<crate::metrics::Metrics> = Default::default();
        let journal = Journal {
            events: crate::events::Events::off(metrics.clone()),
            metrics,
            xferlog: None,
            history: None,
        };
        let defaults = crate::options::ServerOptions::new(dir.path()).policy_defaults();
        let rules = crate::policy::live::Rules::fixed(
            crate::policy::Policy {
                permissions: Some(crate::policy::PermSet::READ_ONLY),
                ..Default::default()
            },
            defaults,
        );
        HashJob {
            files: FileService::new(storage, None, identity, journal, rules),
            path: VirtualPath::root().join(b"d/f x").unwrap(),
            algorithm: HashAlgorithm::Sha256,
            range,
            shown: b"d/f x".to_vec(),
            draft,
        }
    }

    fn text(reply: &Reply) -> String {
        String::from_utf8_lossy(&reply.to_bytes()).into_owned()
    }

    #[test]
    fn replies() {
        let digest = |start, end| FileDigest {
            algorithm: HashAlgorithm::Sha256,
            range: ByteRange { start, end },
            hex: "ab12".into(),
        };
        assert_eq!(
            text(&job(true, None).answer(Ok(digest(0, 50)))),
            "213 SHA-256 0-50 ab12 d/f x\r\n"
        );
        let range = Some(ByteRange { start: 10, end: 20 });
        assert_eq!(
            text(&job(true, range).answer(Ok(digest(10, 20)))),
            "213 SHA-256 10-19 ab12 d/f x\r\n"
        );
        assert_eq!(
            text(&job(false, range).answer(Ok(digest(10, 20)))),
            "250 AB12\r\n"
        );
        let dir = Err(HashError::Storage(StorageError::NotAFile));
        assert!(text(&job(true, None).answer(dir)).starts_with("553 HASH needs a regular file"));
        let dir = Err(HashError::Storage(StorageError::NotAFile));
        assert!(text(&job(false, None).answer(dir)).starts_with("550 XSHA256 needs"));
        let out = Err(HashError::OutOfRange {
            start: 5,
            end: 9,
            size: 3,
        });
        assert_eq!(
            text(&job(true, None).answer(out)),
            "554 HASH: the range 5-9 is not inside the file (3 bytes).\r\n"
        );
        assert!(text(&job(true, None).answer(Err(HashError::Busy))).starts_with("450 "));
    }

    #[test]
    fn opts_and_rang() {
        let mut current = HashAlgorithm::default();
        assert_eq!(text(&opts_hash(&mut current, "")), "200 SHA-256\r\n");
        assert_eq!(text(&opts_hash(&mut current, "md5")), "200 MD5\r\n");
        assert_eq!(current, HashAlgorithm::Md5);
        assert!(text(&opts_hash(&mut current, "SHA-3")).starts_with("501 Unknown hash algorithm"));
        assert_eq!(current, HashAlgorithm::Md5);
        let mut pending = None;
        let _ = rang(&mut pending, Some(ByteRange { start: 0, end: 50 }));
        assert_eq!(pending, Some(ByteRange { start: 0, end: 50 }));
        let _ = rang(&mut pending, None);
        assert_eq!(pending, None);
    }
}
