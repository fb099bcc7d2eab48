//! Commands that move data over a data connection (RFC 959 §4.1.3,
//! RFC 1123 §4.1.2.9 for STOU, RFC 3659 §7 for MLSD): RETR, STOR, STOU,
//! APPE, LIST, NLST and MLSD.
//!
//! Each checks everything it can before the data connection is opened, so
//! a missing file or a read-only session is answered with one reply and
//! no 150. Uploads never touch the target until complete: see
//! [`crate::storage::Upload`].

use super::{storage_reply, writable, Outcome, Place};
use crate::datachan::DataSetup;
use crate::session::state::Principal;
use crate::session::supervise::{Payload, TransferJob};
use crate::session::Session;
use crate::storage::{ListFormat, StorageError, UploadMode};
use ftp_proto::command::TransferType;
use ftp_proto::listing::FactSet;
use ftp_proto::reply::code;
use ftp_proto::{Reply, VirtualPath};
use std::time::{SystemTime, UNIX_EPOCH};

/// What a transfer command needs of its session, and nothing more.
#[derive(Debug)]
pub struct TransferCtx<'a> {
    pub place: Place<'a>,
    /// Whether a data connection may be opened now: `Err` (425, or 521
    /// when policy wants an account's data protected and PROT P is not
    /// set) unless PORT/PASV/EPRT/EPSV came first.
    pub data_ready: Result<(), Reply>,
    /// TYPE A (else I).
    pub ascii: bool,
}

impl<'a> TransferCtx<'a> {
    /// The context of a logged-in session (530 before login).
    pub fn of(s: &'a Session) -> Result<Self, Reply> {
        Ok(TransferCtx {
            place: Place::of(&s.state.files, &s.state.cwd)?,
            data_ready: data_ready(s),
            ascii: s.state.transfer_type == TransferType::Ascii,
        })
    }

    fn mode_name(&self) -> &'static str {
        if self.ascii {
            "ASCII"
        } else {
            "BINARY"
        }
    }
}

fn data_ready(s: &Session) -> Result<(), Reply> {
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

fn display_name(path: &VirtualPath) -> Vec<u8> {
    path.file_name().unwrap_or(b"/").to_vec()
}

/// RETR from `offset` (the REST before it, or 0).
pub async fn retr(ctx: TransferCtx<'_>, offset: u64, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = (ctx.place.files, ctx.place.path(arg)?);
    ctx.data_ready.clone()?;
    let (download, meta) = files
        .open_read(&path, offset)
        .await
        .map_err(storage_reply)?;
    let mut text = format!("Opening {} mode data connection for ", ctx.mode_name()).into_bytes();
    text.extend_from_slice(&display_name(&path));
    text.extend_from_slice(format!(" ({} bytes).", meta.size).as_bytes());
    Ok(Outcome::Transfer(TransferJob {
        payload: Payload::Download(download),
        path,
        opening: Reply::new(code::OPENING_DATA, text),
    }))
}

/// STOR, resuming at `offset` (the REST before it) if not 0.
pub async fn stor(ctx: TransferCtx<'_>, offset: u64, arg: &[u8]) -> Result<Outcome, Reply> {
    let mode = if offset > 0 {
        UploadMode::Resume(offset)
    } else {
        UploadMode::Replace
    };
    upload(ctx, arg, mode).await
}

pub async fn appe(ctx: TransferCtx<'_>, arg: &[u8]) -> Result<Outcome, Reply> {
    upload(ctx, arg, UploadMode::Append).await
}

async fn upload(ctx: TransferCtx<'_>, arg: &[u8], mode: UploadMode) -> Result<Outcome, Reply> {
    let (files, path) = (ctx.place.files, ctx.place.path(arg)?);
    writable(files)?;
    ctx.data_ready.clone()?;
    let upload = files
        .begin_upload(&path, mode)
        .await
        .map_err(storage_reply)?;
    let text = format!("Ok to send data ({} mode).", ctx.mode_name());
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
pub async fn stou(ctx: TransferCtx<'_>, arg: &[u8]) -> Result<Outcome, Reply> {
    let base: &[u8] = if arg.is_empty() { b"wharf" } else { arg };
    let (files, path) = (ctx.place.files, ctx.place.path(base)?);
    writable(files)?;
    ctx.data_ready.clone()?;
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

pub async fn list(ctx: TransferCtx<'_>, arg: &[u8]) -> Result<Outcome, Reply> {
    listing(ctx, arg, ListFormat::Long).await
}

pub async fn nlst(ctx: TransferCtx<'_>, arg: &[u8]) -> Result<Outcome, Reply> {
    listing(ctx, arg, ListFormat::Names).await
}

/// MLSD with the facts the client chose (OPTS MLST).
pub async fn mlsd(ctx: TransferCtx<'_>, facts: FactSet, arg: &[u8]) -> Result<Outcome, Reply> {
    let format = ListFormat::Mlsd {
        facts,
        writable: ctx.place.files.writable_at(&ctx.place.path(arg)?),
    };
    listing(ctx, arg, format).await
}

async fn listing(ctx: TransferCtx<'_>, arg: &[u8], format: ListFormat) -> Result<Outcome, Reply> {
    let (files, path) = (ctx.place.files, ctx.place.path(arg)?);
    ctx.data_ready.clone()?;
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
