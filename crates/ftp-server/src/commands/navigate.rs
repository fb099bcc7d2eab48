//! PWD, CWD and CDUP (RFC 959 §4.1.1, §4.1.3), with the XPWD/XCWD/XCUP
//! names of RFC 775 mapped onto them by the parser.
//!
//! The working directory is a virtual path inside the session's root; the
//! root is `/` whatever its real location.

use super::{storage_reply, Outcome, Place};
use crate::service::FileService;
use crate::session::Session;
use ftp_proto::reply::{code, quote_path};
use ftp_proto::Reply;
use ftp_proto::VirtualPath;

pub fn pwd(s: &Session) -> Outcome {
    let mut text = quote_path(s.state.cwd.as_bytes());
    text.extend_from_slice(b" is the current directory.");
    Reply::new(code::PATHNAME, text).into()
}

pub async fn cwd(
    files: &Option<FileService>,
    cwd: &mut VirtualPath,
    arg: &[u8],
) -> Result<Outcome, Reply> {
    let place = Place::of(files, cwd)?;
    let path = place.path(arg)?;
    match place.files.stat_target(&path).await {
        Ok(meta) if meta.is_dir() => {
            *cwd = path;
            Ok(Reply::new(code::FILE_ACTION_OK, "Directory successfully changed.").into())
        }
        Ok(_) => Err(Reply::new(
            code::FILE_UNAVAILABLE,
            "Failed to change directory: not a directory.",
        )),
        Err(e) => Err(storage_reply(e)),
    }
}
