//! Storage errors, each naming the FTP reply it causes, so the session maps
//! an outcome onto a reply without guessing.

use ftp_proto::reply::code;
use ftp_proto::PathError;
use std::io;

/// What went wrong in the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// 550: no such file or directory.
    #[error("No such file or directory")]
    NotFound,
    /// 550: the session may not do this (read-only, outside the jail…).
    #[error("Permission denied")]
    PermissionDenied,
    /// 550: the account's permissions do not allow this here (see
    /// [`crate::policy`]); nothing was changed.
    #[error("Not permitted: this account may not {} here", .0.action())]
    NotPermitted(crate::policy::Permission),
    /// 552: the upload would make the file larger than the account may
    /// store; nothing was kept.
    #[error("File too large: this account may store files of at most {0} bytes")]
    TooLarge(u64),
    /// 550: the operator's pre-upload check refused, for this reason.
    #[error("Upload refused: {0}")]
    Refused(String),
    /// 550: the target exists already.
    #[error("File exists")]
    AlreadyExists,
    /// 553: a rename between a shared folder and the rest of the tree
    /// (they are separate stores with separate quotas).
    #[error(
        "Cannot rename between a shared folder and the rest of the tree; copy the file instead"
    )]
    CrossFolder,
    /// 550: a directory was needed.
    #[error("Not a directory")]
    NotADirectory,
    /// 550: a regular file was needed.
    #[error("Not a plain file")]
    NotAFile,
    /// 550: RMD of a directory that still has entries.
    #[error("Directory not empty")]
    NotEmpty,
    /// 553: the name is not allowed (NUL, too long, reserved).
    #[error("File name not allowed: {0}")]
    BadName(String),
    /// 452: the disk is full.
    #[error("Insufficient storage space")]
    NoSpace,
    /// 554: REST named a position past the end of the file.
    #[error("Restart position beyond end of file")]
    InvalidRestart,
    /// 552: the account's quota would be exceeded.
    #[error("Quota exceeded")]
    QuotaExceeded,
    /// 502: the storage backend cannot do this (an object store cannot
    /// append to an object or rename a directory); the text says what to
    /// do instead.
    #[error("{0}")]
    Unsupported(String),
    /// 450: another session is writing the file (an APPE or a resume in
    /// place); the client may try again shortly.
    #[error("File busy: another session is writing it; try again shortly")]
    Busy,
    /// 451: the storage service did not answer in time.
    #[error("Storage did not answer within {0:?}; try again later")]
    TimedOut(std::time::Duration),
    /// 451: the storage service failed or did not answer.
    #[error("Storage service error: {0}")]
    Backend(String),
    /// 451: anything else the operating system reported.
    #[error("Local error: {0}")]
    Io(io::Error),
}

impl StorageError {
    /// The refusal of a modification time by a backend that keeps its own
    /// (see [`super::Storage::sets_times`]).
    pub fn cannot_set_times(backend: &str) -> StorageError {
        StorageError::Unsupported(format!(
            "Setting a modification time is not supported by the {backend} storage backend: \
             an object's time is the moment it was stored"
        ))
    }

    /// The FTP reply code this error is answered with.
    pub fn reply_code(&self) -> u16 {
        match self {
            StorageError::NotFound
            | StorageError::PermissionDenied
            | StorageError::NotPermitted(_)
            | StorageError::Refused(_)
            | StorageError::AlreadyExists
            | StorageError::NotADirectory
            | StorageError::NotAFile
            | StorageError::NotEmpty => code::FILE_UNAVAILABLE,
            StorageError::BadName(_) | StorageError::CrossFolder => code::NAME_NOT_ALLOWED,
            StorageError::NoSpace => code::INSUFFICIENT_STORAGE,
            StorageError::QuotaExceeded | StorageError::TooLarge(_) => code::QUOTA_EXCEEDED,
            StorageError::InvalidRestart => code::INVALID_RESTART,
            StorageError::Unsupported(_) => code::NOT_IMPLEMENTED,
            StorageError::Busy => code::FILE_BUSY,
            StorageError::TimedOut(_) => code::LOCAL_ERROR,
            StorageError::Io(_) | StorageError::Backend(_) => code::LOCAL_ERROR,
        }
    }
}

impl From<io::Error> for StorageError {
    fn from(err: io::Error) -> Self {
        // A bounded stream's timeout travels as an io::Error; keep its kind.
        if let Some(StorageError::TimedOut(limit)) =
            err.get_ref().and_then(|e| e.downcast_ref::<StorageError>())
        {
            return StorageError::TimedOut(*limit);
        }
        match err.kind() {
            io::ErrorKind::NotFound => StorageError::NotFound,
            io::ErrorKind::PermissionDenied => StorageError::PermissionDenied,
            io::ErrorKind::AlreadyExists => StorageError::AlreadyExists,
            io::ErrorKind::NotADirectory => StorageError::NotADirectory,
            io::ErrorKind::IsADirectory => StorageError::NotAFile,
            io::ErrorKind::DirectoryNotEmpty => StorageError::NotEmpty,
            io::ErrorKind::StorageFull => StorageError::NoSpace,
            io::ErrorKind::InvalidFilename => StorageError::BadName("invalid name".into()),
            _ => StorageError::Io(err),
        }
    }
}

impl From<PathError> for StorageError {
    fn from(err: PathError) -> Self {
        StorageError::BadName(err.to_string())
    }
}
