//! SFTP packets as a client may send them: framing a byte stream, then
//! decoding each packet (and salvaging the request id of a bad one) must
//! never panic, and what decodes as a WRITE carries bytes of the packet.
//! The stream cut in two chunks (where the first byte says) frames into
//! the same bodies as the whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sftp_proto::request::salvage_id;
use sftp_proto::{frame_len, Framer, Request};

fuzz_target!(|data: &[u8]| {
    let mut whole = Vec::new();
    let mut rest = data;
    while let Ok(Some(n)) = frame_len(rest) {
        let body = &rest[4..n];
        whole.push(body);
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
    let cut = data.first().map_or(0, |b| usize::from(*b) % (data.len() + 1));
    let mut framer = Framer::default();
    let mut chunked = Vec::new();
    'feed: for chunk in [&data[..cut], &data[cut..]] {
        let mut left = chunk;
        loop {
            match framer.next(&mut left) {
                Ok(Some(body)) => chunked.push(body),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    assert_eq!(chunked.len(), whole.len());
    assert!(chunked.iter().zip(&whole).all(|(a, b)| a == b));
});
