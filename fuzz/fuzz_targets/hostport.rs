//! PORT/EPRT/EPSV arguments and PASV/EPSV replies from a peer: parsing
//! never panics, and what parses formats back to the same address.
#![no_main]
use ftp_proto::hostport::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(addr) = parse_port(data) {
        assert_eq!(parse_port(format_port(addr).as_bytes()), Ok(addr));
    }
    if let Ok(addr) = parse_eprt(data) {
        assert_eq!(parse_eprt(format_eprt(addr).as_bytes()), Ok(addr));
    }
    let _ = parse_epsv(data);
    if let Ok(addr) = parse_pasv_reply(data) {
        assert_eq!(parse_pasv_reply(pasv_reply_text(addr).as_bytes()), Ok(addr));
    }
    if let Ok(port) = parse_epsv_reply(data) {
        assert_eq!(parse_epsv_reply(epsv_reply_text(port).as_bytes()), Ok(port));
    }
});
