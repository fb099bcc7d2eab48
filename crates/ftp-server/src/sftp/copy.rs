//! `copy-data`: a copy between two open handles of one session, made on
//! the server. It moves the bytes exactly as the client's own READs and
//! WRITEs would: the read handle reads them (at the account's download
//! rate, counted in its transfer-log line), the write handle takes them
//! in order (metered against the quota as they arrive, at the upload
//! rate), and the copy becomes a file only at the write handle's CLOSE.
//! So a copy can pass neither the quota nor the permissions the two OPENs
//! checked, and one refused halfway leaves nothing behind.

use super::handles::{HandleError, ReadHandle, WriteHandle};
use crate::service::FileService;

/// Bytes read and written per step: what one READ may ask for.
const STEP: u32 = sftp_proto::MAX_DATA;

/// What was asked: `length` bytes (0: to the end of the file) from
/// `read_offset` of the source, written at `write_offset`.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub read_offset: u64,
    pub length: u64,
    pub write_offset: u64,
}

/// What a copy did.
#[derive(Debug, PartialEq, Eq)]
pub struct Copied {
    pub bytes: u64,
    /// The source ended before the `length` asked for.
    pub short: bool,
}

/// Copies `range` from `reader` into `writer`. "To the end of the file"
/// is the end the file had when the read handle opened, so a copy of a
/// file that grows meanwhile (or of a file into itself under another
/// name) ends.
pub async fn copy(
    files: &FileService,
    reader: &mut ReadHandle,
    writer: &mut WriteHandle,
    range: Range,
) -> Result<Copied, HandleError> {
    if reader.path() == writer.path() {
        return Err(HandleError::Refused(
            "copy-data cannot copy a file onto itself".into(),
        ));
    }
    let end = match range.length {
        0 => reader.size_at_open(),
        n => range.read_offset.saturating_add(n),
    };
    let mut buf = Vec::with_capacity(STEP as usize);
    let mut at = range.read_offset;
    let mut bytes = 0u64;
    while at < end {
        buf.clear();
        let want = u32::try_from(end - at).unwrap_or(STEP).min(STEP);
        let got = reader.read_into(files, at, want, &mut buf).await?;
        if got == 0 {
            break;
        }
        writer
            .write(files, range.write_offset.saturating_add(bytes), &buf)
            .await?;
        at += got as u64;
        bytes += got as u64;
    }
    Ok(Copied {
        bytes,
        short: range.length != 0 && bytes < range.length,
    })
}
