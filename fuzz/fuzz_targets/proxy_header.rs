//! PROXY protocol headers from a load balancer (or from anyone who can
//! reach a trusted proxy's path): parsing never panics, never claims more
//! bytes than it was given, asks only for more than it has, and what it
//! accepts re-encodes to a header that parses to the same addresses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::proxy_header::{encode_v1, encode_v2, parse, Parsed};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(Parsed::Done { header, len }) => {
            assert!(len <= data.len());
            if let (Some(c), Some(d)) = (header.client, header.destination) {
                let again = if header.version == 1 {
                    encode_v1(Some((c, d)))
                } else {
                    encode_v2(Some((c, d)))
                };
                match parse(&again) {
                    Ok(Parsed::Done { header: h, .. }) => {
                        assert_eq!((h.client, h.destination), (Some(c), Some(d)))
                    }
                    other => panic!("re-encoded header does not parse: {other:?}"),
                }
            }
        }
        Ok(Parsed::Need(n)) => assert!(n > data.len()),
        Err(_) => {}
    }
});
