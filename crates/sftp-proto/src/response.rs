//! Replies the server sends (filexfer-02 §7), each encoded as a whole
//! packet, length field included.

use crate::attrs::Attrs;
use crate::wire::Writer;

mod kind {
    pub const VERSION: u8 = 2;
    pub const STATUS: u8 = 101;
    pub const HANDLE: u8 = 102;
    pub const DATA: u8 = 103;
    pub const NAME: u8 = 104;
    pub const ATTRS: u8 = 105;
    pub const EXTENDED_REPLY: u8 = 201;
}

/// The status codes of SFTP v3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCode {
    Ok = 0,
    Eof = 1,
    NoSuchFile = 2,
    PermissionDenied = 3,
    Failure = 4,
    BadMessage = 5,
    NoConnection = 6,
    ConnectionLost = 7,
    OpUnsupported = 8,
}

/// A STATUS reply: a code and a message for the person at the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub id: u32,
    pub code: StatusCode,
    pub message: String,
}

/// One entry of a NAME reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameEntry {
    pub filename: Vec<u8>,
    /// An `ls -l` line; v3 clients show it as is.
    pub longname: Vec<u8>,
    pub attrs: Attrs,
}

/// One server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response<'a> {
    Version {
        version: u32,
        extensions: &'a [(&'a str, &'a str)],
    },
    Status(Status),
    Handle {
        id: u32,
        handle: &'a [u8],
    },
    Data {
        id: u32,
        data: &'a [u8],
    },
    Name {
        id: u32,
        entries: &'a [NameEntry],
    },
    Attrs {
        id: u32,
        attrs: Attrs,
    },
    /// EXTENDED_REPLY: the extension's own fields, already encoded.
    ExtendedReply {
        id: u32,
        data: &'a [u8],
    },
}

impl Response<'_> {
    /// Appends the whole packet, length field first, to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let mut w = Writer {
            bytes: std::mem::take(out),
        };
        w.u32(0); // the length, patched below
        match self {
            Response::Version {
                version,
                extensions,
            } => {
                w.u8(kind::VERSION).u32(*version);
                for (name, data) in extensions.iter() {
                    w.string(name.as_bytes()).string(data.as_bytes());
                }
            }
            Response::Status(s) => {
                w.u8(kind::STATUS)
                    .u32(s.id)
                    .u32(s.code as u32)
                    .string(s.message.as_bytes())
                    .string(b"en");
            }
            Response::Handle { id, handle } => {
                w.u8(kind::HANDLE).u32(*id).string(handle);
            }
            Response::Data { id, data } => {
                w.u8(kind::DATA).u32(*id).string(data);
            }
            Response::Name { id, entries } => {
                w.u8(kind::NAME).u32(*id).u32(entries.len() as u32);
                for e in entries.iter() {
                    w.string(&e.filename).string(&e.longname);
                    e.attrs.encode(&mut w);
                }
            }
            Response::Attrs { id, attrs } => {
                w.u8(kind::ATTRS).u32(*id);
                attrs.encode(&mut w);
            }
            Response::ExtendedReply { id, data } => {
                w.u8(kind::EXTENDED_REPLY).u32(*id);
                w.bytes.extend_from_slice(data);
            }
        }
        let mut bytes = w.bytes;
        let len = (bytes.len() - start - 4) as u32;
        bytes[start..start + 4].copy_from_slice(&len.to_be_bytes());
        *out = bytes;
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Reader;

    #[test]
    fn status_is_framed_with_its_length() {
        let bytes = Response::Status(Status {
            id: 9,
            code: StatusCode::NoSuchFile,
            message: "No such file".into(),
        })
        .encode();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u32().ok(), Some(bytes.len() as u32 - 4));
        assert_eq!(r.u8().ok(), Some(101));
        assert_eq!(r.u32().ok(), Some(9));
        assert_eq!(r.u32().ok(), Some(2));
        assert_eq!(r.string().ok(), Some(&b"No such file"[..]));
        assert_eq!(r.string().ok(), Some(&b"en"[..]));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn packets_append_after_each_other() {
        let mut out = Vec::new();
        Response::Handle {
            id: 1,
            handle: b"7",
        }
        .encode_into(&mut out);
        let first = out.len();
        Response::Data {
            id: 2,
            data: b"abc",
        }
        .encode_into(&mut out);
        assert_eq!(crate::frame_len(&out), Ok(Some(first)));
        assert_eq!(crate::frame_len(&out[first..]), Ok(Some(out.len() - first)));
    }

    #[test]
    fn names_carry_their_attributes() {
        let entries = [NameEntry {
            filename: b"a".to_vec(),
            longname: b"-rw-r--r-- 1 u u 3 Jan 1 00:00 a".to_vec(),
            attrs: Attrs {
                size: Some(3),
                ..Attrs::default()
            },
        }];
        let bytes = Response::Name {
            id: 4,
            entries: &entries,
        }
        .encode();
        let mut r = Reader::new(&bytes[4..]);
        assert_eq!(
            (r.u8().ok(), r.u32().ok(), r.u32().ok()),
            (Some(104), Some(4), Some(1))
        );
        assert_eq!(r.string().ok(), Some(&b"a"[..]));
        r.string().ok();
        assert_eq!(Attrs::decode(&mut r).map(|a| a.size), Ok(Some(3)));
    }
}
