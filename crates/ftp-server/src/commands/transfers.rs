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
use crate::storage::{ListFormat, StorageError, Upload, UploadMode};
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
    let (storage, path) = target(s, arg)?;
    require_data_setup(s)?;
    let (download, meta) = storage
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
    let (storage, path) = target(s, arg)?;
    writable(storage.as_ref())?;
    require_data_setup(s)?;
    if mode != UploadMode::Replace && !storage.supports_append() {
        return Err(storage_reply(StorageError::Unsupported(cannot_extend(
            mode,
            storage.kind(),
        ))));
    }
    let mut upload = storage
        .begin_upload(&path, mode)
        .await
        .map_err(storage_reply)?;
    meter(s, &mut upload).await?;
    let text = format!("Ok to send data ({} mode).", mode_name(s));
    Ok(Outcome::Transfer(TransferJob {
        payload: Payload::Upload(upload),
        path,
        opening: Reply::new(code::OPENING_DATA, text),
    }))
}

/// The refusal of APPE or REST+STOR on a backend that cannot extend a file.
fn cannot_extend(mode: UploadMode, backend: &str) -> String {
    let what = match mode {
        UploadMode::Append => "APPE (append)",
        _ => "REST before STOR (resuming an upload)",
    };
    format!(
        "{what} is not supported by the {backend} storage backend, which cannot extend \
         a stored file; upload the whole file again with STOR"
    )
}

/// STOU: stores under a name that does not exist yet, derived from the
/// argument if one is given, and says which (RFC 1123: `150 FILE: name`).
pub async fn stou(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    s.state.restart = 0;
    let base: Vec<u8> = if arg.is_empty() {
        b"wharf".to_vec()
    } else {
        arg.to_vec()
    };
    let (storage, _) = target(s, &base)?;
    writable(storage.as_ref())?;
    require_data_setup(s)?;
    for n in 0..1000u32 {
        let mut candidate = base.clone();
        if n > 0 {
            candidate.extend_from_slice(format!(".{n}").as_bytes());
        }
        let (_, path) = target(s, &candidate)?;
        match storage.stat(&path).await {
            Err(StorageError::NotFound) => {}
            Ok(_) => continue,
            Err(e) => return Err(storage_reply(e)),
        }
        let mut upload = storage
            .begin_upload(&path, UploadMode::Replace)
            .await
            .map_err(storage_reply)?;
        meter(s, &mut upload).await?;
        let mut text = b"FILE: ".to_vec();
        text.extend_from_slice(&display_name(&path));
        return Ok(Outcome::Transfer(TransferJob {
            payload: Payload::Upload(upload),
            path,
            opening: Reply::new(code::OPENING_DATA, text),
        }));
    }
    Err(Reply::new(
        code::NAME_NOT_ALLOWED,
        "Could not find a unique file name.",
    ))
}

/// Puts an account's upload under its quota, with the limit as the store
/// has it now (so an operator's change applies to running sessions).
async fn meter(s: &Session, upload: &mut Upload) -> Result<(), Reply> {
    if let Some(usage) = &s.state.usage {
        usage.refresh().await.map_err(|e| {
            tracing::error!(error = %e, "cannot read quota");
            Reply::new(
                code::LOCAL_ERROR,
                "Cannot check your quota right now; try again later.",
            )
        })?;
        upload.set_meter(Box::new(usage.meter(upload.replaced_bytes())));
    }
    Ok(())
}

pub async fn list(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    listing(s, arg, ListFormat::Long).await
}

pub async fn nlst(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    listing(s, arg, ListFormat::Names).await
}

pub async fn mlsd(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    let writable = s.state.storage.as_ref().is_some_and(|st| st.writable());
    let format = ListFormat::Mlsd {
        facts: s.state.facts,
        writable,
    };
    listing(s, arg, format).await
}

async fn listing(s: &mut Session, arg: &[u8], format: ListFormat) -> Result<Outcome, Reply> {
    let (storage, path) = target(s, arg)?;
    require_data_setup(s)?;
    let rx = storage
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
