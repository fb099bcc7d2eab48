//! The ATTRS structure (filexfer-02 §5): a flags word saying which of
//! size, owner, permissions and times follow, then extended pairs.

use crate::wire::{DecodeError, Reader, Writer};

const SIZE: u32 = 0x1;
const UIDGID: u32 = 0x2;
const PERMISSIONS: u32 = 0x4;
const ACMODTIME: u32 = 0x8;
const EXTENDED: u32 = 0x8000_0000;

/// Most extended attribute pairs one ATTRS may carry before it is refused.
const MAX_EXTENDED: u32 = 64;

/// File attributes; `None` where the sender did not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs {
    pub size: Option<u64>,
    pub uid_gid: Option<(u32, u32)>,
    /// Type and mode bits, as in `st_mode`.
    pub permissions: Option<u32>,
    /// Access and modification times, seconds since 1970.
    pub times: Option<(u32, u32)>,
}

/// `st_mode` type bits for a directory and a regular file.
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;

impl Attrs {
    pub fn decode(r: &mut Reader<'_>) -> Result<Attrs, DecodeError> {
        let flags = r.u32()?;
        let mut a = Attrs::default();
        if flags & SIZE != 0 {
            a.size = Some(r.u64()?);
        }
        if flags & UIDGID != 0 {
            a.uid_gid = Some((r.u32()?, r.u32()?));
        }
        if flags & PERMISSIONS != 0 {
            a.permissions = Some(r.u32()?);
        }
        if flags & ACMODTIME != 0 {
            a.times = Some((r.u32()?, r.u32()?));
        }
        if flags & EXTENDED != 0 {
            let count = r.u32()?;
            if count > MAX_EXTENDED {
                return Err(DecodeError::Truncated);
            }
            for _ in 0..count {
                // Names and values of extensions nobody here defines.
                r.string()?;
                r.string()?;
            }
        }
        Ok(a)
    }

    pub fn encode(&self, w: &mut Writer) {
        let mut flags = 0;
        for (present, bit) in [
            (self.size.is_some(), SIZE),
            (self.uid_gid.is_some(), UIDGID),
            (self.permissions.is_some(), PERMISSIONS),
            (self.times.is_some(), ACMODTIME),
        ] {
            if present {
                flags |= bit;
            }
        }
        w.u32(flags);
        if let Some(size) = self.size {
            w.u64(size);
        }
        if let Some((uid, gid)) = self.uid_gid {
            w.u32(uid).u32(gid);
        }
        if let Some(perm) = self.permissions {
            w.u32(perm);
        }
        if let Some((atime, mtime)) = self.times {
            w.u32(atime).u32(mtime);
        }
    }

    pub fn is_dir(&self) -> bool {
        self.permissions.is_some_and(|p| p & 0o170000 == S_IFDIR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_round_trips() {
        let a = Attrs {
            size: Some(12345),
            uid_gid: Some((1000, 100)),
            permissions: Some(S_IFREG | 0o644),
            times: Some((1, 1_700_000_000)),
        };
        let mut w = Writer::default();
        a.encode(&mut w);
        let mut r = Reader::new(&w.bytes);
        assert_eq!(Attrs::decode(&mut r), Ok(a));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn extended_pairs_are_skipped_and_bounded() {
        let mut w = Writer::default();
        w.u32(EXTENDED | SIZE)
            .u64(5)
            .u32(1)
            .string(b"k")
            .string(b"v");
        let mut r = Reader::new(&w.bytes);
        assert_eq!(Attrs::decode(&mut r).map(|a| a.size), Ok(Some(5)));
        let mut w = Writer::default();
        w.u32(EXTENDED).u32(u32::MAX);
        assert!(Attrs::decode(&mut Reader::new(&w.bytes)).is_err());
    }
}
