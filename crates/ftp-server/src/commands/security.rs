//! FTPS commands (RFC 4217, on RFC 2228): AUTH TLS, PBSZ, PROT and CCC.
//!
//! AUTH TLS asks the session to upgrade the control connection in place
//! ([`TlsUpgrade`], carried out in [`crate::session`]); anything the client
//! sent after the AUTH line in plaintext is discarded, never read as a
//! command. PBSZ is always 0 for TLS, and must come before PROT (503
//! otherwise, RFC 4217 §9). PROT P protects data connections
//! with TLS; PROT C (clear) may be refused by policy; PROT S and E do not
//! exist for TLS. CCC, which would drop TLS from the control connection,
//! is refused: it would expose everything after it.

use super::Outcome;
use crate::session::state::Principal;
use crate::session::Session;
use ftp_proto::reply::code;
use ftp_proto::Reply;

fn not_configured() -> Outcome {
    Reply::new(
        code::NOT_IMPLEMENTED,
        "TLS is not configured on this server.",
    )
    .into()
}

pub fn auth(s: &Session, arg: &[u8]) -> Outcome {
    let (Some(_), Some(opts)) = (&s.shared.tls, &s.shared.options.tls) else {
        return not_configured();
    };
    let mechanism = String::from_utf8_lossy(arg).trim().to_ascii_uppercase();
    if !matches!(mechanism.as_str(), "TLS" | "TLS-C" | "SSL" | "TLS-P") {
        return Reply::new(
            code::PARAMETER_NOT_IMPLEMENTED,
            "Mechanism not supported; use AUTH TLS.",
        )
        .into();
    }
    if s.control.is_tls() {
        return Reply::new(code::BAD_SEQUENCE, "TLS is already on.").into();
    }
    if s.state.logged_in() {
        return Reply::new(code::BAD_SEQUENCE, "AUTH must come before login.").into();
    }
    Outcome::StartTls(TlsUpgrade {
        wait: opts.handshake_timeout,
        // AUTH SSL and TLS-P historically imply protected data.
        protect_data: matches!(mechanism.as_str(), "SSL" | "TLS-P"),
    })
}

/// What AUTH TLS asks of the session: answer 234, then put TLS on the
/// control connection.
#[derive(Debug)]
pub struct TlsUpgrade {
    pub wait: std::time::Duration,
    /// `PROT P` from the start (AUTH SSL, TLS-P).
    pub protect_data: bool,
}

pub fn pbsz(s: &mut Session, arg: &[u8]) -> Outcome {
    if s.shared.tls.is_none() {
        return not_configured();
    }
    if !s.control.is_tls() {
        return Reply::new(code::BAD_SEQUENCE, "PBSZ needs AUTH TLS first.").into();
    }
    if String::from_utf8_lossy(arg).trim().parse::<u64>().is_err() {
        return Reply::new(code::ARGUMENT_ERROR, "PBSZ needs a number; use PBSZ 0.").into();
    }
    s.state.pbsz = true;
    Reply::new(code::OK, "PBSZ=0").into()
}

pub fn prot(s: &mut Session, arg: &[u8]) -> Outcome {
    let Some(opts) = &s.shared.options.tls else {
        return not_configured();
    };
    if !s.control.is_tls() {
        return Reply::new(code::BAD_SEQUENCE, "PROT needs AUTH TLS first.").into();
    }
    let must_protect =
        opts.require_protected_data && matches!(s.state.principal(), Some(Principal::User(_)));
    match protection(arg, s.state.pbsz, must_protect) {
        Ok(private) => {
            s.state.prot_private = private;
            if private {
                Reply::new(code::OK, "Protection level set to P (private).")
            } else {
                Reply::new(code::OK, "Protection level set to C (clear).")
            }
        }
        Err(reply) => reply,
    }
    .into()
}

/// Checks a PROT level: `Ok(true)` for P, `Ok(false)` for C, or the
/// refusal. RFC 4217 §9 (after RFC 2228): PBSZ must come before PROT, so
/// PROT without it is a bad sequence. `must_protect` is the policy that
/// refuses PROT C.
fn protection(level: &[u8], pbsz_given: bool, must_protect: bool) -> Result<bool, Reply> {
    if !pbsz_given {
        return Err(Reply::new(
            code::BAD_SEQUENCE,
            "PROT needs PBSZ first (RFC 4217): send PBSZ 0, then PROT.",
        ));
    }
    match String::from_utf8_lossy(level)
        .trim()
        .to_ascii_uppercase()
        .as_str()
    {
        "P" => Ok(true),
        "C" if must_protect => Err(Reply::new(
            code::POLICY_DENIED,
            "PROT C refused: this server requires protected data connections (PROT P).",
        )),
        "C" => Ok(false),
        "S" | "E" => Err(Reply::new(
            code::PROT_LEVEL_NOT_SUPPORTED,
            "Only PROT C and PROT P exist for TLS.",
        )),
        _ => Err(Reply::new(
            code::PARAMETER_NOT_IMPLEMENTED,
            "Unknown protection level; use PROT P.",
        )),
    }
}

pub fn ccc(s: &mut Session) -> Outcome {
    if s.shared.tls.is_none() {
        return not_configured();
    }
    Reply::new(
        code::POLICY_DENIED,
        "CCC refused: the control connection stays protected.",
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(r: Result<bool, Reply>) -> u16 {
        r.err().map_or(code::OK, |reply| reply.code())
    }

    #[test]
    fn prot_needs_pbsz_first() {
        assert_eq!(code_of(protection(b"P", false, false)), code::BAD_SEQUENCE);
        assert_eq!(code_of(protection(b"C", false, false)), code::BAD_SEQUENCE);
        assert!(matches!(protection(b"P", true, false), Ok(true)));
        assert!(matches!(protection(b" c ", true, false), Ok(false)));
    }

    #[test]
    fn prot_levels() {
        assert_eq!(code_of(protection(b"C", true, true)), code::POLICY_DENIED);
        assert!(matches!(protection(b"P", true, true), Ok(true)));
        assert_eq!(
            code_of(protection(b"S", true, false)),
            code::PROT_LEVEL_NOT_SUPPORTED
        );
        assert_eq!(
            code_of(protection(b"E", true, false)),
            code::PROT_LEVEL_NOT_SUPPORTED
        );
        assert_eq!(
            code_of(protection(b"X", true, false)),
            code::PARAMETER_NOT_IMPLEMENTED
        );
    }
}
