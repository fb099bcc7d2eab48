//! Directory listings from a server: the LIST and MLSx line parsers never
//! panic, and what they return has a non-empty name. (Line breaks inside a
//! name cannot come from the line reader, and callers sanitise names before
//! they touch a filesystem.)
#![no_main]
use ftp_proto::listing::{parse_list_line, parse_mlsx_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = 1_700_000_000;
    for entry in [parse_list_line(data, now), parse_mlsx_line(data)].into_iter().flatten() {
        assert!(!entry.name.is_empty());
    }
});
