//! Data-connection setup: PORT and PASV (RFC 959 §4.1.2), EPRT and EPSV
//! (RFC 2428), with the RFC 2577 rules: an active target must be the
//! client's own address on an unprivileged port. After `EPSV ALL`, only
//! EPSV may set up a data connection (RFC 2428 §4). A passive listener
//! counts against its client address's `max_passive_per_ip` (425 past it)
//! and closes after `data_connect_timeout` if no transfer uses it.

use super::Outcome;
use crate::datachan::{self, DataSetup, PassiveListener};
use crate::session::Session;
use ftp_proto::hostport::{self, EpsvArg};
use ftp_proto::reply::code;
use ftp_proto::Reply;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};

fn epsv_all_refusal() -> Outcome {
    Reply::new(
        code::BAD_SEQUENCE,
        "EPSV ALL is in effect; only EPSV may be used.",
    )
    .into()
}

/// The family number EPRT/EPSV use for an address: 1 IPv4, 2 IPv6.
fn family(ip: IpAddr) -> u8 {
    match ip.to_canonical() {
        IpAddr::V4(_) => 1,
        IpAddr::V6(_) => 2,
    }
}

fn wrong_family(control: IpAddr) -> Outcome {
    Reply::new(
        code::PROTOCOL_NOT_SUPPORTED,
        format!("Network protocol not supported, use ({})", family(control)),
    )
    .into()
}

pub fn port(s: &mut Session, target: SocketAddr) -> Outcome {
    if s.state.epsv_all {
        return epsv_all_refusal();
    }
    if family(s.control.peer.ip()) != 1 {
        return wrong_family(s.control.peer.ip());
    }
    set_active(s, target, "PORT command successful. Consider using PASV.")
}

pub fn eprt(s: &mut Session, target: SocketAddr) -> Outcome {
    if s.state.epsv_all {
        return epsv_all_refusal();
    }
    if family(target.ip()) != family(s.control.peer.ip()) {
        return wrong_family(s.control.peer.ip());
    }
    set_active(s, target, "EPRT command successful. Consider using EPSV.")
}

fn set_active(s: &mut Session, target: SocketAddr, text: &str) -> Outcome {
    if let Err(reply) = datachan::check_active_target(target, s.control.peer.ip()) {
        tracing::warn!(peer = %s.control.peer, %target, "refused an active data target");
        s.state.data = DataSetup::None;
        return reply.into();
    }
    s.state.data = DataSetup::Active(target);
    Reply::new(code::OK, text).into()
}

pub async fn pasv(s: &mut Session) -> Outcome {
    if s.state.epsv_all {
        return epsv_all_refusal();
    }
    let local = s.control.local.ip().to_canonical();
    let IpAddr::V4(local_v4) = local else {
        return Reply::new(code::CANT_OPEN_DATA, "PASV needs IPv4; use EPSV.").into();
    };
    let announced = match s.shared.options.passive_address {
        Some(IpAddr::V4(ip)) => ip,
        _ => local_v4,
    };
    match open_listener(s).await {
        Ok(port) => Reply::new(
            code::PASSIVE,
            hostport::pasv_reply_text(SocketAddrV4::new(announced, port)),
        )
        .into(),
        Err(reply) => reply.into(),
    }
}

pub async fn epsv(s: &mut Session, arg: EpsvArg) -> Outcome {
    match arg {
        EpsvArg::All => {
            s.state.epsv_all = true;
            return Reply::new(code::OK, "EPSV ALL ok.").into();
        }
        EpsvArg::Protocol(p) if p != family(s.control.local.ip()) => {
            return wrong_family(s.control.local.ip());
        }
        _ => {}
    }
    match open_listener(s).await {
        Ok(port) => Reply::new(code::EXTENDED_PASSIVE, hostport::epsv_reply_text(port)).into(),
        Err(reply) => reply.into(),
    }
}

/// Opens a passive listener (replacing any earlier one) and returns its
/// port. The listener takes a place in its client address's count and
/// closes after the data-connection timeout if no transfer uses it.
async fn open_listener(s: &mut Session) -> Result<u16, Reply> {
    s.state.data = DataSetup::None;
    let opts = &s.shared.options;
    let client = s.control.peer.ip().to_canonical();
    let max = opts.max_passive_per_ip;
    let Some(slot) = s.shared.passive_per_ip.try_acquire(client, usize::MAX, max) else {
        tracing::warn!(peer = %s.control.peer, max, "passive listener refused: too many waiting for this address (max_passive_per_ip)");
        return Err(Reply::new(
            code::CANT_OPEN_DATA,
            format!(
                "Too many passive connections waiting for your address (limit {max}): \
                 connect to the ports already given or close idle sessions, then try again."
            ),
        ));
    };
    let local = s.control.local.ip();
    let listener = datachan::open_passive(local, opts.passive_ports.as_ref())
        .await
        .map_err(|e| match e {
            datachan::PassiveError::Exhausted { .. } => {
                tracing::error!(error = %e, "passive port range exhausted; widen --passive-ports (each waiting PASV/EPSV holds a port)");
                Reply::new(
                    code::CANT_OPEN_DATA,
                    "No free passive port: all are in use. Try again in a moment.",
                )
            }
            datachan::PassiveError::Io(_) => {
                tracing::warn!(error = %e, "cannot open a passive listener");
                Reply::new(
                    code::CANT_OPEN_DATA,
                    "Cannot open a passive port; try again.",
                )
            }
        })?;
    let expires = tokio::time::Instant::now() + opts.data_connect_timeout;
    let passive = PassiveListener::new(listener, slot, expires);
    let port = passive
        .local_addr()
        .map_err(|_| Reply::new(code::CANT_OPEN_DATA, "Cannot open a passive port."))?
        .port();
    s.state.data = DataSetup::Passive(passive);
    Ok(port)
}
