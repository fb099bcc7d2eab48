//! File commands (RFC 959 §4.1.3, RFC 3659 §3–4): DELE, RMD, MKD, RNFR,
//! RNTO, SIZE and MDTM. Each resolves its path through the session's storage;
//! the ones that change anything need a writable session.

use super::{storage_reply, target, writable, Outcome};
use crate::session::Session;
use ftp_proto::reply::{code, quote_path};
use ftp_proto::time::UtcTime;
use ftp_proto::Reply;

pub async fn dele(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = target(s, arg)?;
    writable(&files)?;
    files.remove(&path).await.map_err(storage_reply)?;
    Ok(Reply::new(code::FILE_ACTION_OK, "File deleted.").into())
}

pub async fn rmd(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = target(s, arg)?;
    writable(&files)?;
    files.rmdir(&path).await.map_err(storage_reply)?;
    Ok(Reply::new(code::FILE_ACTION_OK, "Directory removed.").into())
}

pub async fn mkd(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = target(s, arg)?;
    writable(&files)?;
    files.mkdir(&path).await.map_err(storage_reply)?;
    let mut text = quote_path(path.as_bytes());
    text.extend_from_slice(b" created.");
    Ok(Reply::new(code::PATHNAME, text).into())
}

pub async fn rnfr(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = target(s, arg)?;
    writable(&files)?;
    if path.is_root() {
        return Err(Reply::new(
            code::FILE_UNAVAILABLE,
            "The home directory itself cannot be renamed.",
        ));
    }
    files.stat(&path).await.map_err(storage_reply)?;
    s.state.rename_from = Some(path);
    Ok(Reply::new(code::PENDING_INFO, "Ready for RNTO.").into())
}

pub async fn rnto(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    let from = s
        .state
        .rename_from
        .take()
        .ok_or_else(|| Reply::new(code::BAD_SEQUENCE, "RNFR required first."))?;
    let (files, to) = target(s, arg)?;
    writable(&files)?;
    files.rename(&from, &to).await.map_err(storage_reply)?;
    Ok(Reply::new(code::FILE_ACTION_OK, "Rename successful.").into())
}

pub async fn size(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = target(s, arg)?;
    let meta = files.stat_target(&path).await.map_err(storage_reply)?;
    if !meta.is_file() {
        return Err(Reply::new(
            code::FILE_UNAVAILABLE,
            "Could not get file size: not a plain file.",
        ));
    }
    Ok(Reply::new(code::FILE_STATUS, meta.size.to_string()).into())
}

pub async fn mdtm(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = target(s, arg)?;
    let meta = files.stat_target(&path).await.map_err(storage_reply)?;
    if !meta.is_file() {
        return Err(Reply::new(
            code::FILE_UNAVAILABLE,
            "Could not get modification time: not a plain file.",
        ));
    }
    Ok(Reply::new(code::FILE_STATUS, UtcTime::from_unix(meta.mtime).mdtm()).into())
}
