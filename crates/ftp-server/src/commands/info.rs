//! Informational commands: FEAT and OPTS (RFC 2389), SYST, HELP, NOOP and
//! STAT (RFC 959 §4.1.3) and MLST (RFC 3659 §7). OPTS HASH belongs to
//! [`super::hash`].

use super::transfers::now_unix;
use super::{hash, storage_reply, target, Outcome};
use crate::session::Session;
use crate::storage::ListFormat;
use ftp_proto::command::{TransferType, VERBS};
use ftp_proto::hash::HashAlgorithm;
use ftp_proto::listing::{mlst_line, MlsxRole};
use ftp_proto::reply::code;
use ftp_proto::Reply;

/// FEAT: each feature on its own line, indented by one space (RFC 2389 §3.2).
pub fn feat(s: &Session) -> Outcome {
    let mlst = format!(" MLST {}", s.state.facts.names(true));
    let hash = format!(" {}", HashAlgorithm::feat_line(s.state.hash_algorithm));
    let mut lines = vec!["Features:"];
    if s.shared.tls.is_some() {
        lines.extend([" AUTH TLS", " PBSZ", " PROT"]);
    }
    lines.extend([" EPRT", " EPSV", &hash, " MDTM"]);
    if s.shared.options.storage.sets_times() {
        lines.push(" MFMT");
    }
    lines.extend([
        &mlst,
        " PASV",
        " REST STREAM",
        " SIZE",
        " TVFS",
        " UTF8",
        " XCRC",
        " XMD5",
        " XSHA",
        " XSHA1",
        " XSHA256",
        " XSHA512",
        "End",
    ]);
    Reply::multi(code::SYSTEM_STATUS, lines).into()
}

/// OPTS UTF8 (RFC 2640: paths are always UTF-8 bytes here, or raw bytes)
/// and OPTS MLST (RFC 3659 §7.9).
pub fn opts(s: &mut Session, arg: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(arg);
    let mut words = text.splitn(2, ' ');
    let option = words.next().unwrap_or("").to_ascii_uppercase();
    let value = words.next().unwrap_or("").trim();
    match option.as_str() {
        "UTF8" | "UTF-8" => Reply::new(code::OK, "Always in UTF8 mode."),
        "MLST" => {
            let enabled = s.state.facts.select(value);
            Reply::new(code::OK, format!("MLST OPTS {enabled}"))
        }
        "HASH" => hash::opts_hash(&mut s.state.hash_algorithm, value),
        _ => Reply::new(code::ARGUMENT_ERROR, "Option not understood."),
    }
    .into()
}

/// HELP, or HELP VERB.
pub fn help(arg: &[u8]) -> Outcome {
    let topic = String::from_utf8_lossy(arg).trim().to_ascii_uppercase();
    if topic.is_empty() {
        let mut lines = vec!["The following commands are recognized.".to_string()];
        for row in VERBS.chunks(8) {
            lines.push(format!(
                " {}",
                row.iter()
                    .map(|v| format!("{v:<5}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        lines.push("Help OK.".into());
        return Reply::multi(code::HELP, lines).into();
    }
    if topic == "SITE" {
        return Reply::new(code::HELP, "SITE HELP lists the SITE commands.").into();
    }
    if VERBS.contains(&topic.as_str()) {
        Reply::new(
            code::HELP,
            format!("{topic} is recognized; see RFC 959 and its successors."),
        )
    } else {
        Reply::new(code::NOT_IMPLEMENTED, format!("Unknown command {topic}."))
    }
    .into()
}

/// STAT: the session's status, or a listing sent over the control
/// connection (RFC 959: 213 for a file, 212 for a directory).
pub async fn stat(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    if arg.is_empty() {
        return Ok(session_status(s).into());
    }
    if !s.state.logged_in() {
        return Err(Reply::new(
            code::NOT_LOGGED_IN,
            "Please login with USER and PASS.",
        ));
    }
    let (files, path) = target(s, arg)?;
    let meta = files.stat_target(&path).await.map_err(storage_reply)?;
    let status = if meta.is_dir() {
        code::DIRECTORY_STATUS
    } else {
        code::FILE_STATUS
    };
    let rx = files
        .list(&path, ListFormat::LongControl, now_unix())
        .await
        .map_err(storage_reply)?;
    // Streamed by the session: a directory of any size fits. `ls -l`
    // lines start with a letter, so none can be taken for the closing line.
    Ok(Outcome::ControlListing {
        opening: format!("{status}-Status of {path}:\r\n").into_bytes(),
        chunks: rx,
        closing: Reply::new(status, "End of status."),
    })
}

fn session_status(s: &Session) -> Reply {
    let mut lines = vec![
        "Wharf FTP server status:".to_string(),
        format!("     Connected to {}", s.control.peer.ip()),
    ];
    match s.state.principal() {
        Some(p) => lines.push(format!("     Logged in as {}", p.name())),
        None => lines.push("     Not logged in".into()),
    }
    lines.push(format!(
        "     TYPE: {}",
        match s.state.transfer_type {
            TransferType::Ascii => "ASCII",
            TransferType::Image => "BINARY",
        }
    ));
    lines.push("     No data connection".into());
    lines.push(format!(
        "     Session timeout in seconds is {}",
        s.shared.options.idle_timeout.as_secs()
    ));
    lines.push("End of status".into());
    Reply::multi(code::SYSTEM_STATUS, lines)
}

/// MLST: the facts of one file or directory, on the control connection.
pub async fn mlst(s: &mut Session, arg: &[u8]) -> Result<Outcome, Reply> {
    let (files, path) = target(s, arg)?;
    let meta = files.stat(&path).await.map_err(storage_reply)?;
    let role = if path == s.state.cwd {
        MlsxRole::ListedDir
    } else {
        MlsxRole::Entry
    };
    let mut line = b" ".to_vec();
    mlst_line(
        &meta.entry(path.as_bytes()),
        s.state.facts,
        files.writable_at(&path),
        role,
        &mut line,
    );
    let mut first = b"Listing ".to_vec();
    first.extend_from_slice(path.as_bytes());
    Ok(Reply::multi(code::FILE_ACTION_OK, [first, line, b"End".to_vec()]).into())
}
