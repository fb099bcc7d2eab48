//! Paths from a peer: the result of a join is always absolute, normal, free
//! of `.`/`..`/NUL, within the length limits, and a fixed point.
#![no_main]
use ftp_proto::path::{VirtualPath, MAX_PATH_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (cwd, arg) = data.split_at(data.len() / 2);
    let Ok(base) = VirtualPath::root().join(cwd) else { return };
    let Ok(p) = base.join(arg) else { return };
    assert!(p.as_bytes().starts_with(b"/"));
    assert!(p.as_bytes().len() <= MAX_PATH_LEN);
    for c in p.components() {
        assert!(!c.is_empty() && c != b"." && c != b".." && !c.contains(&0) && !c.contains(&b'/'));
    }
    assert_eq!(VirtualPath::root().join(p.as_bytes()).ok(), Some(p.clone()));
    assert!(p.parent().as_bytes().len() <= p.as_bytes().len());
});
