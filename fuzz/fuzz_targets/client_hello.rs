//! The first bytes of an FTPS control connection, read for the TLS
//! versions the client offers before rustls sees them: reading never
//! panics; what reads as a ClientHello reads as incomplete when cut
//! anywhere inside its record, and the same whatever follows the record.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::client_hello::{offered_versions, Hello};

fuzz_target!(|data: &[u8]| {
    let whole = offered_versions(data);
    if let Hello::Offers { .. } = whole {
        let record = 5 + usize::from(u16::from_be_bytes([data[3], data[4]]));
        for n in [0, 1, 4, 5, record / 2, record - 1] {
            assert_eq!(offered_versions(&data[..n.min(record - 1)]), Hello::Incomplete);
        }
        let mut longer = data[..record].to_vec();
        longer.extend_from_slice(b"\x17\x03\x03");
        assert_eq!(offered_versions(&longer), whole);
    }
});
