//! File commands (RFC 959 §4.1.3, RFC 3659 §3–4): DELE, RMD, MKD, RNFR,
//! RNTO, SIZE and MDTM; and MFMT and MFCT (draft-somers-ftp-mfxx-04:
//! "MFMT YYYYMMDDHHMMSS path" sets the last modification time, answered
//! "213 Modify=YYYYMMDDHHMMSS; path"; MFCT the creation time). Each gets
//! only the session's [`Place`] (its files and working directory) and
//! translates one file-service call into a reply; the ones that change
//! anything need a writable session.

use super::{storage_reply, writable, Outcome, Place};
use crate::storage::Overwrite;
use ftp_proto::reply::{code, quote_path};
use ftp_proto::time::UtcTime;
use ftp_proto::Reply;
use ftp_proto::VirtualPath;

pub async fn dele(place: Place<'_>, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = (place.files, place.path(arg)?);
    writable(files)?;
    files.remove(&path).await.map_err(storage_reply)?;
    Ok(Reply::new(code::FILE_ACTION_OK, "File deleted.").into())
}

pub async fn rmd(place: Place<'_>, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = (place.files, place.path(arg)?);
    writable(files)?;
    files.rmdir(&path).await.map_err(storage_reply)?;
    Ok(Reply::new(code::FILE_ACTION_OK, "Directory removed.").into())
}

pub async fn mkd(place: Place<'_>, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = (place.files, place.path(arg)?);
    writable(files)?;
    files.mkdir(&path).await.map_err(storage_reply)?;
    let mut text = quote_path(path.as_bytes());
    text.extend_from_slice(b" created.");
    Ok(Reply::new(code::PATHNAME, text).into())
}

pub async fn rnfr(
    place: Place<'_>,
    rename_from: &mut Option<VirtualPath>,
    arg: &[u8],
) -> Result<Outcome, Reply> {
    let (files, path) = (place.files, place.path(arg)?);
    writable(files)?;
    files.rename_source(&path).await.map_err(storage_reply)?;
    *rename_from = Some(path);
    Ok(Reply::new(code::PENDING_INFO, "Ready for RNTO.").into())
}

pub async fn rnto(
    place: Place<'_>,
    rename_from: Option<VirtualPath>,
    arg: &[u8],
) -> Result<Outcome, Reply> {
    let from = rename_from.ok_or_else(|| Reply::new(code::BAD_SEQUENCE, "RNFR required first."))?;
    let (files, to) = (place.files, place.path(arg)?);
    writable(files)?;
    files
        .rename(&from, &to, Overwrite::Allowed)
        .await
        .map_err(storage_reply)?;
    Ok(Reply::new(code::FILE_ACTION_OK, "Rename successful.").into())
}

pub async fn size(place: Place<'_>, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = (place.files, place.path(arg)?);
    let meta = files.stat_target(&path).await.map_err(storage_reply)?;
    if !meta.is_file() {
        return Err(Reply::new(
            code::FILE_UNAVAILABLE,
            "Could not get file size: not a plain file.",
        ));
    }
    Ok(Reply::new(code::FILE_STATUS, meta.size.to_string()).into())
}

pub async fn mdtm(place: Place<'_>, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = (place.files, place.path(arg)?);
    let meta = files.stat_target(&path).await.map_err(storage_reply)?;
    if !meta.is_file() {
        return Err(Reply::new(
            code::FILE_UNAVAILABLE,
            "Could not get modification time: not a plain file.",
        ));
    }
    Ok(Reply::new(code::FILE_STATUS, UtcTime::from_unix(meta.mtime).mdtm()).into())
}

/// MFMT: sets the modification time of a file or directory (UTC, whole
/// seconds). An object store cannot (502).
pub async fn mfmt(place: Place<'_>, time: UtcTime, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = (place.files, place.path(arg)?);
    writable(files)?;
    files
        .set_modified(&path, time.to_unix())
        .await
        .map_err(storage_reply)?;
    let mut text = format!("Modify={}; ", time.mdtm()).into_bytes();
    text.extend_from_slice(arg);
    Ok(Reply::new(code::FILE_STATUS, text).into())
}

/// MFCT: Linux has no call that sets a file's creation (birth) time, so
/// this is refused, and FEAT does not list it.
pub fn mfct() -> Outcome {
    Reply::new(
        code::NOT_IMPLEMENTED,
        "MFCT not supported: the filesystems this server runs on cannot set a file's creation \
         time; MFMT sets the modification time.",
    )
    .into()
}
