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
                // One encoding of DATA: the one built in place, which
                // writes its own length field.
                w.bytes.truncate(start);
                let reply = DataReply::begin(*id, &mut w.bytes);
                w.bytes.extend_from_slice(data);
                reply.finish(&mut w.bytes);
                *out = w.bytes;
                return;
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

/// A DATA reply built in place: its header goes into the output first,
/// the caller appends the data straight after it (a file read into the
/// output, with no buffer in between), and [`DataReply::finish`] writes
/// the lengths.
#[derive(Debug)]
#[must_use = "a begun DATA reply must be finished or withdrawn"]
pub struct DataReply {
    /// Where the packet's length field is in the output.
    start: usize,
}

impl DataReply {
    /// Bytes before the data: length, type, request id, data length.
    const HEADER: usize = 4 + 1 + 4 + 4;

    /// Appends the header of a DATA reply to request `id`.
    pub fn begin(id: u32, out: &mut Vec<u8>) -> DataReply {
        let start = out.len();
        out.reserve(Self::HEADER);
        out.extend_from_slice(&[0; 4]);
        out.push(kind::DATA);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        DataReply { start }
    }

    /// The data appended since [`DataReply::begin`], in bytes.
    pub fn data_len(&self, out: &[u8]) -> usize {
        out.len().saturating_sub(self.start + Self::HEADER)
    }

    /// Writes the lengths of the packet, whose data is everything
    /// appended since [`DataReply::begin`].
    pub fn finish(self, out: &mut [u8]) {
        let data = self.data_len(out);
        let packet = (data + Self::HEADER - 4) as u32;
        out[self.start..self.start + 4].copy_from_slice(&packet.to_be_bytes());
        let at = self.start + Self::HEADER - 4;
        out[at..at + 4].copy_from_slice(&(data as u32).to_be_bytes());
    }

    /// Takes the reply back out of the output, data and all.
    pub fn withdraw(self, out: &mut Vec<u8>) {
        out.truncate(self.start);
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

    #[test]
    fn a_data_reply_built_in_place_is_the_encoded_one() {
        let mut out = b"before".to_vec();
        let reply = DataReply::begin(7, &mut out);
        out.extend_from_slice(b"file bytes");
        assert_eq!(reply.data_len(&out), 10);
        reply.finish(&mut out);
        // Length 19 (type, id, data length, 10 bytes), DATA (103), id 7.
        let mut encoded = vec![0, 0, 0, 19, 103, 0, 0, 0, 7, 0, 0, 0, 10];
        encoded.extend_from_slice(b"file bytes");
        assert_eq!(&out[6..], &encoded[..]);
        let typed = Response::Data {
            id: 7,
            data: b"file bytes",
        };
        assert_eq!(typed.encode(), encoded);
        // Withdrawn, it leaves the output as it was.
        let reply = DataReply::begin(8, &mut out);
        out.extend_from_slice(b"half");
        reply.withdraw(&mut out);
        assert_eq!(&out[6..], &encoded[..]);
    }
}
