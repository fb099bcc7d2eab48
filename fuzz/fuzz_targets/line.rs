//! The bounded line reader fed arbitrary bytes in arbitrary pieces: no
//! line ever exceeds the cap or contains a line feed, and it terminates.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wire::{LineError, LineReader};

fuzz_target!(|data: &[u8]| {
    let Some((&cap, bytes)) = data.split_first() else { return };
    let cap = usize::from(cap).max(1);
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async {
        let mut reader = LineReader::new(bytes, cap);
        loop {
            match reader.read_line().await {
                Ok(line) => assert!(line.len() <= cap && !line.contains(&b'\n')),
                Err(LineError::TooLong(_)) => {}
                Err(_) => break,
            }
        }
    });
});
