//! Commands that move data over a data connection (RFC 959 §4.1.3,
//! RFC 1123 §4.1.2.9 for STOU, RFC 3659 §7 for MLSD): RETR, STOR, STOU,
//! APPE, LIST, NLST and MLSD.
//!
//! Each checks everything it can before the data connection is opened, so
//! a missing file or a read-only session is answered with one reply and
//! no 150. Uploads never touch the target until complete: see
//! [`crate::storage::Upload`].

use super::{storage_reply, target, writable, Outcome};
use crate::datachan::DataSetup;
use crate::session::state::Principal;
use crate::session::supervise::{Payload, TransferJob};
use crate::session::Session;
use crate::storage::{ListFormat, StorageError, UploadMode};
use ftp_proto::command::TransferType;
use ftp_proto::reply::code;
use ftp_proto::{Reply, VirtualPath};
use std::time::{SystemTime, UNIX_EPOCH};

/// Fails with 425 unless PORT/PASV/EPRT/EPSV came first, and with 521
/// when policy wants an account's data protected and PROT P is not set.
fn require_data_setup(s: &Session) -> Result<(), Reply> {
    let protect = s
        .shared
        .options
        .tls
        .as_ref()
        .is_some_and(|t| t.require_protected_data);
    if protect && !s.state.prot_private && matches!(s.state.principal(), Some(Principal::User(_))) {
        return Err(Reply::new(
            code::PROT_REQUIRED,
            "Data connections must be protected: send PBSZ 0 and PROT P first.",
        ));
    }
    if matches!(s.state.data, DataSetup::None) {
        Err(Reply::new(
            code::CANT_OPEN_DATA,
            "Use PORT, PASV, EPRT or EPSV first.",
        ))
    } else {
        Ok(())
    }
}

fn mode_name(s: &Session) -> &'static str {
    match s.state.transfer_type {
        TransferType::Ascii => "ASCII",
        TransferType::Image => "BINARY",
    }
}

fn display_name(path: &VirtualPath) -> Vec<u8> {
    path.file_name().unwrap_or(b"/").to_vec()
}

pub async fn retr(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    let offset = std::mem::take(&mut s.state.restart);
    let (files, path) = target(s, arg)?;
    require_data_setup(s)?;
    let (download, meta) = files
        .open_read(&path, offset)
        .await
        .map_err(storage_reply)?;
    let mut text = format!("Opening {} mode data connection for ", mode_name(s)).into_bytes();
    text.extend_from_slice(&display_name(&path));
    text.extend_from_slice(format!(" ({} bytes).", meta.size).as_bytes());
    Ok(Outcome::Transfer(TransferJob {
        payload: Payload::Download(download),
        path,
        opening: Reply::new(code::OPENING_DATA, text),
    }))
}

pub async fn stor(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    let offset = std::mem::take(&mut s.state.restart);
    let mode = if offset > 0 {
        UploadMode::Resume(offset)
    } else {
        UploadMode::Replace
    };
    upload(s, arg, mode).await
}

pub async fn appe(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    s.state.restart = 0;
    upload(s, arg, UploadMode::Append).await
}

async fn upload(s: &mut Session, arg: &[u8], mode: UploadMode) -> Result<Outcome, Reply> {
    let (files, path) = target(s, arg)?;
    writable(&files)?;
    require_data_setup(s)?;
    let upload = files
        .begin_upload(&path, mode)
        .await
        .map_err(storage_reply)?;
    let text = format!("Ok to send data ({} mode).", mode_name(s));
    Ok(Outcome::Transfer(TransferJob {
        payload: Payload::Upload(upload),
        path,
        opening: Reply::new(code::OPENING_DATA, text),
    }))
}

/// STOU: stores under a name that does not exist yet, derived from the
/// argument if one is given, and says which (RFC 1123: `150 FILE: name`).
/// If another session takes that name before the upload ends, the file
/// gets the next free one and the 226 reply names it.
pub async fn stou(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    let base: &[u8] = if arg.is_empty() { b"wharf" } else { arg };
    let (files, path) = target(s, base)?;
    writable(&files)?;
    require_data_setup(s)?;
    let (upload, path) = files
        .begin_unique_upload(&path)
        .await
        .map_err(storage_reply)?;
    let mut text = b"FILE: ".to_vec();
    text.extend_from_slice(&display_name(&path));
    Ok(Outcome::Transfer(TransferJob {
        payload: Payload::Upload(upload),
        path,
        opening: Reply::new(code::OPENING_DATA, text),
    }))
}

pub async fn list(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    listing(s, arg, ListFormat::Long).await
}

pub async fn nlst(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    listing(s, arg, ListFormat::Names).await
}

pub async fn mlsd(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    let writable = s.state.files.as_ref().is_some_and(|f| f.writable());
    let format = ListFormat::Mlsd {
        facts: s.state.facts,
        writable,
    };
    listing(s, arg, format).await
}

async fn listing(s: &mut Session, arg: &[u8], format: ListFormat) -> Result<Outcome, Reply> {
    let (files, path) = target(s, arg)?;
    require_data_setup(s)?;
    let rx = files
        .list(&path, format, now_unix())
        .await
        .map_err(|e| match e {
            StorageError::NotADirectory => Reply::new(
                code::ARGUMENT_ERROR,
                "MLSD needs a directory; use MLST for a file.",
            ),
            e => storage_reply(e),
        })?;
    Ok(Outcome::Transfer(TransferJob {
        payload: Payload::Listing(rx),
        path,
        opening: Reply::new(code::OPENING_DATA, "Here comes the directory listing."),
    }))
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
