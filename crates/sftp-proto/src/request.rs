//! Requests a client sends (filexfer-02 §4–6), decoded from one packet,
//! and [`frame_len`], which finds where a packet ends in a byte stream.

use crate::attrs::Attrs;
use crate::wire::{DecodeError, Reader};

/// Packet types of requests.
mod kind {
    pub const INIT: u8 = 1;
    pub const OPEN: u8 = 3;
    pub const CLOSE: u8 = 4;
    pub const READ: u8 = 5;
    pub const WRITE: u8 = 6;
    pub const LSTAT: u8 = 7;
    pub const FSTAT: u8 = 8;
    pub const SETSTAT: u8 = 9;
    pub const FSETSTAT: u8 = 10;
    pub const OPENDIR: u8 = 11;
    pub const READDIR: u8 = 12;
    pub const REMOVE: u8 = 13;
    pub const MKDIR: u8 = 14;
    pub const RMDIR: u8 = 15;
    pub const REALPATH: u8 = 16;
    pub const STAT: u8 = 17;
    pub const RENAME: u8 = 18;
    pub const READLINK: u8 = 19;
    pub const SYMLINK: u8 = 20;
    pub const EXTENDED: u8 = 200;
}

/// How OPEN wants the file (the `pflags` word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenFlags(pub u32);

impl OpenFlags {
    pub const READ: u32 = 0x01;
    pub const WRITE: u32 = 0x02;
    pub const APPEND: u32 = 0x04;
    pub const CREAT: u32 = 0x08;
    pub const TRUNC: u32 = 0x10;
    pub const EXCL: u32 = 0x20;

    pub fn has(self, flag: u32) -> bool {
        self.0 & flag != 0
    }
}

/// One client request. Byte strings borrow from the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    Init {
        version: u32,
    },
    Open {
        id: u32,
        path: &'a [u8],
        flags: OpenFlags,
        attrs: Attrs,
    },
    Close {
        id: u32,
        handle: &'a [u8],
    },
    Read {
        id: u32,
        handle: &'a [u8],
        offset: u64,
        len: u32,
    },
    Write {
        id: u32,
        handle: &'a [u8],
        offset: u64,
        data: &'a [u8],
    },
    Lstat {
        id: u32,
        path: &'a [u8],
    },
    Fstat {
        id: u32,
        handle: &'a [u8],
    },
    SetStat {
        id: u32,
        path: &'a [u8],
        attrs: Attrs,
    },
    FSetStat {
        id: u32,
        handle: &'a [u8],
        attrs: Attrs,
    },
    OpenDir {
        id: u32,
        path: &'a [u8],
    },
    ReadDir {
        id: u32,
        handle: &'a [u8],
    },
    Remove {
        id: u32,
        path: &'a [u8],
    },
    MkDir {
        id: u32,
        path: &'a [u8],
        attrs: Attrs,
    },
    RmDir {
        id: u32,
        path: &'a [u8],
    },
    RealPath {
        id: u32,
        path: &'a [u8],
    },
    Stat {
        id: u32,
        path: &'a [u8],
    },
    Rename {
        id: u32,
        from: &'a [u8],
        to: &'a [u8],
    },
    ReadLink {
        id: u32,
        path: &'a [u8],
    },
    /// Note the order: OpenSSH sends (target, link), reversed from the
    /// draft; the fields name what OpenSSH means.
    Symlink {
        id: u32,
        target: &'a [u8],
        link: &'a [u8],
    },
    Extended {
        id: u32,
        request: Extended<'a>,
    },
    /// A packet type nobody defines; `id` if it carried one.
    Unknown {
        kind: u8,
        id: Option<u32>,
    },
}

/// The extended requests this crate understands (by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extended<'a> {
    /// `posix-rename@openssh.com`: rename that replaces the target.
    PosixRename { from: &'a [u8], to: &'a [u8] },
    /// `statvfs@openssh.com`.
    Statvfs { path: &'a [u8] },
    /// `fstatvfs@openssh.com`.
    Fstatvfs { handle: &'a [u8] },
    /// `fsync@openssh.com`.
    Fsync { handle: &'a [u8] },
    /// `hardlink@openssh.com`.
    Hardlink { from: &'a [u8], to: &'a [u8] },
    /// `limits@openssh.com`.
    Limits,
    /// `expand-path@openssh.com`: REALPATH that also expands `~`.
    ExpandPath { path: &'a [u8] },
    /// `copy-data` (draft-ietf-secsh-filexfer-extensions-00; OpenSSH 9): copies
    /// `length` bytes (0: to the end of the file) of the file open on
    /// `read_handle` from `read_offset` into the one open on
    /// `write_handle` at `write_offset`, on the server.
    CopyData {
        read_handle: &'a [u8],
        read_offset: u64,
        length: u64,
        write_handle: &'a [u8],
        write_offset: u64,
    },
    /// Any other name.
    Other { name: &'a [u8] },
}

impl Extended<'_> {
    /// The names the server advertises in VERSION, with their version
    /// strings.
    pub const ADVERTISED: &'static [(&'static str, &'static str)] = &[
        ("posix-rename@openssh.com", "1"),
        ("statvfs@openssh.com", "2"),
        ("fstatvfs@openssh.com", "2"),
        ("fsync@openssh.com", "1"),
        ("limits@openssh.com", "1"),
        ("expand-path@openssh.com", "1"),
        ("copy-data", "1"),
    ];
}

/// Where the first packet in `buf` ends: `Ok(Some(n))` when all `n`
/// bytes (length field included) are there, `Ok(None)` when more must be
/// read, an error for a length no client may send.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(&[a, b, c, d]) = buf.get(..4) else {
        return Ok(None);
    };
    let total = 4 + body_len([a, b, c, d])?;
    Ok((buf.len() >= total).then_some(total))
}

/// The length of the body a packet's length field announces, if a client
/// may send it.
pub(crate) fn body_len(field: [u8; 4]) -> Result<usize, DecodeError> {
    match u32::from_be_bytes(field) {
        0 => Err(DecodeError::Empty),
        len if len > crate::MAX_PACKET => Err(DecodeError::TooLong(len)),
        len => Ok(len as usize),
    }
}

impl<'a> Request<'a> {
    /// Decodes one packet's body (its type byte and fields, without the
    /// length field). Trailing bytes are an error, except after INIT
    /// (extension pairs) and an unknown extended request (its data).
    pub fn decode(body: &'a [u8]) -> Result<Request<'a>, DecodeError> {
        let mut r = Reader::new(body);
        let kind = r.u8()?;
        let request = match kind {
            kind::INIT => {
                let version = r.u32()?;
                // Extension pairs a client may send; none is used.
                r.rest();
                Request::Init { version }
            }
            kind::OPEN => Request::Open {
                id: r.u32()?,
                path: r.string()?,
                flags: OpenFlags(r.u32()?),
                attrs: Attrs::decode(&mut r)?,
            },
            kind::CLOSE => Request::Close {
                id: r.u32()?,
                handle: r.string()?,
            },
            kind::READ => Request::Read {
                id: r.u32()?,
                handle: r.string()?,
                offset: r.u64()?,
                len: r.u32()?,
            },
            kind::WRITE => Request::Write {
                id: r.u32()?,
                handle: r.string()?,
                offset: r.u64()?,
                data: r.string()?,
            },
            kind::LSTAT => Request::Lstat {
                id: r.u32()?,
                path: r.string()?,
            },
            kind::FSTAT => Request::Fstat {
                id: r.u32()?,
                handle: r.string()?,
            },
            kind::SETSTAT => Request::SetStat {
                id: r.u32()?,
                path: r.string()?,
                attrs: Attrs::decode(&mut r)?,
            },
            kind::FSETSTAT => Request::FSetStat {
                id: r.u32()?,
                handle: r.string()?,
                attrs: Attrs::decode(&mut r)?,
            },
            kind::OPENDIR => Request::OpenDir {
                id: r.u32()?,
                path: r.string()?,
            },
            kind::READDIR => Request::ReadDir {
                id: r.u32()?,
                handle: r.string()?,
            },
            kind::REMOVE => Request::Remove {
                id: r.u32()?,
                path: r.string()?,
            },
            kind::MKDIR => Request::MkDir {
                id: r.u32()?,
                path: r.string()?,
                attrs: Attrs::decode(&mut r)?,
            },
            kind::RMDIR => Request::RmDir {
                id: r.u32()?,
                path: r.string()?,
            },
            kind::REALPATH => {
                let id = r.u32()?;
                let path = r.string()?;
                // v6 adds a control byte and compose paths; v3 clients
                // send none, but tolerate them.
                r.rest();
                Request::RealPath { id, path }
            }
            kind::STAT => Request::Stat {
                id: r.u32()?,
                path: r.string()?,
            },
            kind::RENAME => {
                let id = r.u32()?;
                let (from, to) = (r.string()?, r.string()?);
                // Later versions add a flags word.
                r.rest();
                Request::Rename { id, from, to }
            }
            kind::READLINK => Request::ReadLink {
                id: r.u32()?,
                path: r.string()?,
            },
            kind::SYMLINK => Request::Symlink {
                id: r.u32()?,
                target: r.string()?,
                link: r.string()?,
            },
            kind::EXTENDED => {
                let id = r.u32()?;
                let name = r.string()?;
                Request::Extended {
                    id,
                    request: decode_extended(name, &mut r)?,
                }
            }
            kind => {
                let id = r.u32().ok();
                r.rest();
                Request::Unknown { kind, id }
            }
        };
        r.finish()?;
        Ok(request)
    }

    /// The request id, for the reply (INIT has none; an unknown packet
    /// may not).
    pub fn id(&self) -> Option<u32> {
        match *self {
            Request::Init { .. } => None,
            Request::Unknown { id, .. } => id,
            Request::Open { id, .. }
            | Request::Close { id, .. }
            | Request::Read { id, .. }
            | Request::Write { id, .. }
            | Request::Lstat { id, .. }
            | Request::Fstat { id, .. }
            | Request::SetStat { id, .. }
            | Request::FSetStat { id, .. }
            | Request::OpenDir { id, .. }
            | Request::ReadDir { id, .. }
            | Request::Remove { id, .. }
            | Request::MkDir { id, .. }
            | Request::RmDir { id, .. }
            | Request::RealPath { id, .. }
            | Request::Stat { id, .. }
            | Request::Rename { id, .. }
            | Request::ReadLink { id, .. }
            | Request::Symlink { id, .. }
            | Request::Extended { id, .. } => Some(id),
        }
    }
}

/// The id of a packet that did not decode, if its first fields are
/// there, so the client hears which request was bad.
pub fn salvage_id(body: &[u8]) -> Option<u32> {
    let mut r = Reader::new(body);
    match r.u8().ok()? {
        kind::INIT => None,
        _ => r.u32().ok(),
    }
}

fn decode_extended<'a>(name: &'a [u8], r: &mut Reader<'a>) -> Result<Extended<'a>, DecodeError> {
    Ok(match name {
        b"posix-rename@openssh.com" => Extended::PosixRename {
            from: r.string()?,
            to: r.string()?,
        },
        b"statvfs@openssh.com" => Extended::Statvfs { path: r.string()? },
        b"fstatvfs@openssh.com" => Extended::Fstatvfs {
            handle: r.string()?,
        },
        b"fsync@openssh.com" => Extended::Fsync {
            handle: r.string()?,
        },
        b"hardlink@openssh.com" => Extended::Hardlink {
            from: r.string()?,
            to: r.string()?,
        },
        b"limits@openssh.com" => Extended::Limits,
        b"expand-path@openssh.com" => Extended::ExpandPath { path: r.string()? },
        b"copy-data" => Extended::CopyData {
            read_handle: r.string()?,
            read_offset: r.u64()?,
            length: r.u64()?,
            write_handle: r.string()?,
            write_offset: r.u64()?,
        },
        _ => {
            r.rest();
            Extended::Other { name }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Writer;
    use proptest::prelude::*;

    fn packet(kind: u8, fill: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(kind);
        fill(&mut w);
        w.bytes
    }

    #[test]
    fn open_write_and_read_decode() {
        let body = packet(kind::OPEN, |w| {
            w.u32(7)
                .string(b"/a.txt")
                .u32(OpenFlags::WRITE | OpenFlags::CREAT)
                .u32(0);
        });
        assert_eq!(
            Request::decode(&body),
            Ok(Request::Open {
                id: 7,
                path: b"/a.txt",
                flags: OpenFlags(OpenFlags::WRITE | OpenFlags::CREAT),
                attrs: Attrs::default(),
            })
        );
        let body = packet(kind::WRITE, |w| {
            w.u32(8).string(b"h1").u64(32768).string(b"data");
        });
        assert_eq!(
            Request::decode(&body),
            Ok(Request::Write {
                id: 8,
                handle: b"h1",
                offset: 32768,
                data: b"data",
            })
        );
    }

    #[test]
    fn extended_requests_decode_by_name() {
        let body = packet(kind::EXTENDED, |w| {
            w.u32(3)
                .string(b"posix-rename@openssh.com")
                .string(b"a")
                .string(b"b");
        });
        assert_eq!(
            Request::decode(&body),
            Ok(Request::Extended {
                id: 3,
                request: Extended::PosixRename {
                    from: b"a",
                    to: b"b"
                },
            })
        );
        let body = packet(kind::EXTENDED, |w| {
            w.u32(4)
                .string(b"copy-data")
                .string(b"r1")
                .u64(5)
                .u64(0)
                .string(b"w2")
                .u64(7);
        });
        assert_eq!(
            Request::decode(&body),
            Ok(Request::Extended {
                id: 4,
                request: Extended::CopyData {
                    read_handle: b"r1",
                    read_offset: 5,
                    length: 0,
                    write_handle: b"w2",
                    write_offset: 7,
                },
            })
        );
        // Cut short: a bad message, not a guess.
        let body = packet(kind::EXTENDED, |w| {
            w.u32(5).string(b"copy-data").string(b"r1").u64(5);
        });
        assert!(Request::decode(&body).is_err());
        let body = packet(kind::EXTENDED, |w| {
            w.u32(6)
                .string(b"x-unknown@example.org")
                .string(b"whatever");
        });
        assert_eq!(
            Request::decode(&body),
            Ok(Request::Extended {
                id: 6,
                request: Extended::Other {
                    name: b"x-unknown@example.org"
                },
            })
        );
    }

    #[test]
    fn unknown_types_keep_their_id_and_bad_packets_are_errors() {
        let body = packet(99, |w| {
            w.u32(5).u32(1);
        });
        assert_eq!(
            Request::decode(&body),
            Ok(Request::Unknown {
                kind: 99,
                id: Some(5)
            })
        );
        let short = packet(kind::READ, |w| {
            w.u32(9).string(b"h");
        });
        assert_eq!(Request::decode(&short), Err(DecodeError::Truncated));
        assert_eq!(salvage_id(&short), Some(9));
        let long = packet(kind::REMOVE, |w| {
            w.u32(1).string(b"x").u8(0);
        });
        assert_eq!(Request::decode(&long), Err(DecodeError::Trailing(1)));
    }

    #[test]
    fn frames_are_found_and_bounded() {
        assert_eq!(frame_len(&[0, 0]), Ok(None));
        assert_eq!(frame_len(&[0, 0, 0, 2, 1]), Ok(None));
        assert_eq!(frame_len(&[0, 0, 0, 2, 1, 2, 3]), Ok(Some(6)));
        assert_eq!(frame_len(&[0, 0, 0, 0]), Err(DecodeError::Empty));
        assert_eq!(
            frame_len(&[0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::TooLong(u32::MAX))
        );
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Request::decode(&body);
            let _ = salvage_id(&body);
            let _ = frame_len(&body);
        }

        #[test]
        fn every_write_round_trips(id in any::<u32>(), offset in any::<u64>(),
                                   handle in proptest::collection::vec(any::<u8>(), 0..16),
                                   data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let body = packet(kind::WRITE, |w| {
                w.u32(id).string(&handle).u64(offset).string(&data);
            });
            prop_assert_eq!(
                Request::decode(&body),
                Ok(Request::Write { id, handle: &handle, offset, data: &data })
            );
        }
    }
}
