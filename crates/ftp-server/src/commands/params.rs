//! Transfer parameters (RFC 959 §4.1.2): TYPE (A and I, with L 8 as I),
//! MODE S, STRU F, and REST STREAM (RFC 3659 §5), the byte offset the next
//! RETR or STOR starts at.

use super::Outcome;
use crate::session::Session;
use ftp_proto::command::TransferType;
use ftp_proto::reply::code;
use ftp_proto::Reply;

pub fn transfer_type(s: &mut Session, t: TransferType) -> Outcome {
    s.state.transfer_type = t;
    let text = match t {
        TransferType::Ascii => "Switching to ASCII mode.",
        TransferType::Image => "Switching to Binary mode.",
    };
    Reply::new(code::OK, text).into()
}

pub fn mode(m: u8) -> Outcome {
    match m {
        b'S' => Reply::new(code::OK, "Mode set to S."),
        b'B' | b'C' | b'Z' => Reply::new(
            code::PARAMETER_NOT_IMPLEMENTED,
            "Only stream mode (S) is supported.",
        ),
        _ => Reply::new(code::ARGUMENT_ERROR, "Unknown mode."),
    }
    .into()
}

pub fn structure(st: u8) -> Outcome {
    match st {
        b'F' => Reply::new(code::OK, "Structure set to F."),
        b'R' | b'P' => Reply::new(
            code::PARAMETER_NOT_IMPLEMENTED,
            "Only file structure (F) is supported.",
        ),
        _ => Reply::new(code::ARGUMENT_ERROR, "Unknown structure."),
    }
    .into()
}

pub fn rest(s: &mut Session, offset: u64) -> Outcome {
    s.state.restart = offset;
    Reply::new(
        code::RESTART_MARKER,
        format!("Restart position accepted ({offset})."),
    )
    .into()
}
