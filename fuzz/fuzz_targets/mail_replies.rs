//! The SMTP and POP3 reply parsers fed arbitrary server bytes: SMTP
//! replies (bounded multi-line reader, then EHLO extensions), POP3 status
//! lines and the lines of STAT/LIST/UIDL answers, APOP timestamps, and
//! POP3 blocks. None may panic, and every reply stays within its bounds.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mail::pop3::proto::{apop_timestamp, list_entry, resp_code, two_numbers, uidl_entry, Status};
use mail::smtp::Extensions;
use wire::{read_reply, DotReader, LineReader, ReplyLimits};

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async {
        let limits = ReplyLimits { max_lines: 16, max_bytes: 2048 };
        let mut reader = LineReader::new(data, 512);
        for _ in 0..64 {
            match read_reply(&mut reader, limits).await {
                Ok(reply) => {
                    assert!(reply.lines.len() <= limits.max_lines);
                    let ext = Extensions::parse(&reply.lines);
                    let _ = ext.size_limit();
                    let _ = ext.auth_mechanisms().count();
                }
                Err(wire::ReplyError::Line(wire::LineError::Closed | wire::LineError::Truncated)) => break,
                Err(_) => {}
            }
        }
        let mut reader = LineReader::new(data, 512);
        let mut block = DotReader::new(&mut reader, 4096);
        while let Ok(Some(line)) = block.next_line().await {
            let _ = list_entry(&line);
            let text = String::from_utf8_lossy(&line);
            let _ = uidl_entry(&text);
            let _ = two_numbers(&text);
        }
    });
    for line in data.split(|&b| b == b'\n') {
        if let Some(Status::Ok(t) | Status::Err(t) | Status::Continue(t)) = Status::parse(line) {
            let _ = resp_code(&t);
            let _ = apop_timestamp(&t);
        }
    }
});
