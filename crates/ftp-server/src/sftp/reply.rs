//! What SFTP replies are made of: a file's facts as ATTRS and an `ls -l`
//! long name, and a storage outcome as a STATUS whose code SFTP v3
//! clients act on and whose message says what to do next.

use crate::storage::{Meta, StorageError};
use ftp_proto::listing::{unix_line, EntryKind};
use sftp_proto::attrs::{S_IFDIR, S_IFLNK, S_IFREG};
use sftp_proto::{Attrs, NameEntry, Status, StatusCode};

/// A file's facts as SFTP attributes.
pub fn attrs(meta: &Meta) -> Attrs {
    let kind = match meta.kind {
        EntryKind::Dir => S_IFDIR,
        EntryKind::Symlink => S_IFLNK,
        EntryKind::File | EntryKind::Other => S_IFREG,
    };
    let mtime = u32::try_from(meta.mtime.max(0)).unwrap_or(u32::MAX);
    Attrs {
        size: Some(meta.size),
        uid_gid: None,
        permissions: Some(kind | (meta.mode & 0o7777)),
        times: Some((mtime, mtime)),
    }
}

/// A READDIR entry: the name, its `ls -l` line and its attributes.
pub fn name_entry(name: &[u8], meta: &Meta, now_unix: i64) -> NameEntry {
    let mut longname = Vec::with_capacity(64 + name.len());
    unix_line(&meta.entry(name), now_unix, &mut longname);
    while longname.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        longname.pop();
    }
    NameEntry {
        filename: name.to_vec(),
        longname,
        attrs: attrs(meta),
    }
}

pub fn ok(id: u32) -> Status {
    status(id, StatusCode::Ok, "OK")
}

pub fn status(id: u32, code: StatusCode, message: impl Into<String>) -> Status {
    Status {
        id,
        code,
        message: message.into(),
    }
}

/// A storage error as the status a client shows.
pub fn error(id: u32, err: &StorageError) -> Status {
    let code = match err {
        StorageError::NotFound => StatusCode::NoSuchFile,
        StorageError::PermissionDenied
        | StorageError::NotPermitted(_)
        | StorageError::Refused(_) => StatusCode::PermissionDenied,
        StorageError::Unsupported(_) => StatusCode::OpUnsupported,
        _ => StatusCode::Failure,
    };
    status(id, code, err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: EntryKind) -> Meta {
        Meta {
            kind,
            size: 42,
            mtime: 1_700_000_000,
            mode: 0o100644,
            nlink: 1,
            dev: 0,
            ino: 0,
        }
    }

    #[test]
    fn attributes_carry_type_mode_size_and_time() {
        let a = attrs(&meta(EntryKind::File));
        assert_eq!(a.size, Some(42));
        assert_eq!(a.permissions, Some(S_IFREG | 0o644));
        assert_eq!(a.times, Some((1_700_000_000, 1_700_000_000)));
        assert!(attrs(&meta(EntryKind::Dir)).is_dir());
    }

    #[test]
    fn long_names_are_one_line() {
        let e = name_entry(b"a.txt", &meta(EntryKind::File), 1_700_000_000);
        assert!(e.longname.starts_with(b"-rw-r--r--"), "{:?}", e.longname);
        assert!(e.longname.ends_with(b"a.txt"));
    }

    #[test]
    fn errors_map_to_the_codes_clients_act_on() {
        assert_eq!(
            error(1, &StorageError::NotFound).code,
            StatusCode::NoSuchFile
        );
        assert_eq!(
            error(1, &StorageError::PermissionDenied).code,
            StatusCode::PermissionDenied
        );
        let q = error(2, &StorageError::QuotaExceeded);
        assert_eq!(
            (q.code, q.message.as_str()),
            (StatusCode::Failure, "Quota exceeded")
        );
    }
}
