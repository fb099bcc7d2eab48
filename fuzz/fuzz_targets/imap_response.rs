//! The IMAP response parser fed arbitrary bytes: it returns a value or an
//! error, never panics, and the literal-announcement helpers agree with it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = imap::response::parse(data);
    let _ = imap::value::Cursor::new(data).values();
    if let Some(Ok(n)) = imap::response::literal_announced(data) {
        assert!(data.ends_with(b"}"));
        let _ = n;
    }
    let _ = imap::response::announces_section(data);
    if let Ok(text) = std::str::from_utf8(data) {
        // Mailbox names round-trip through modified UTF-7.
        assert_eq!(imap::utf7::decode(imap::utf7::encode(text).as_bytes()).as_deref(), Some(text));
        // A search query never puts CR or LF outside a literal.
        if let Ok(cmd) = imap::search::build(text, true) {
            for part in cmd.parts() {
                if let imap::command::Part::Text(t) = part {
                    assert!(!t.contains(&b'\r') && !t.contains(&b'\n'));
                }
            }
        }
    }
});
