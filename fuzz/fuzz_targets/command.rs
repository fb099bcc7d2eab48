//! Control lines from a peer: parsing never panics, and whatever parses
//! encodes to a line that parses to the same command again.
#![no_main]
use ftp_proto::command::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    if let Ok(cmd) = parse(line) {
        let wire = cmd.encode();
        let again = parse(&wire).expect("an encoded command parses");
        assert_eq!(again.encode(), wire, "encoding is stable");
        let _ = cmd.to_string();
    }
});
