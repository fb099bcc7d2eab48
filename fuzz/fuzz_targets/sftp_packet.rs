//! SFTP packets as a client may send them: framing a byte stream, then
//! decoding each packet (and salvaging the request id of a bad one) must
//! never panic, and what decodes as a WRITE carries bytes of the packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sftp_proto::request::salvage_id;
use sftp_proto::{frame_len, Request};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some(n)) = frame_len(rest) {
        let body = &rest[4..n];
        match Request::decode(body) {
            Ok(Request::Write { data: written, .. }) => assert!(written.len() < body.len()),
            Ok(request) => {
                let _ = request.id();
            }
            Err(_) => {
                let _ = salvage_id(body);
            }
        }
        rest = &rest[n..];
    }
});
