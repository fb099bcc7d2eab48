//! The one client URL parser (`wire::url`) fed arbitrary text, directly
//! and through the protocols' readings of the path (mail, IMAP). None may
//! panic; a URL that parses has a non-empty host, and
//! percent-encoding any bytes decodes back to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::url::{percent_decode, percent_encode, Protocol, Url};

fuzz_target!(|data: &[u8]| {
    assert_eq!(percent_decode(percent_encode(data).as_bytes()), data);
    let _ = percent_decode(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Url::parse(text, Protocol::ALL) {
        Ok(url) => assert!(!url.host.is_empty()),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = mail::MailUrl::parse(text);
    let _ = imap::ImapUrl::parse(text);
});
