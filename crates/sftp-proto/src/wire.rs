//! The SSH data encodings (RFC 4251 §5) SFTP packets are built from:
//! big-endian `uint32`/`uint64` and length-prefixed `string`s. A
//! [`Reader`] never trusts a length: a field that runs past the packet is
//! [`DecodeError::Truncated`], never a panic or an allocation of what the
//! length claims.

/// Why a packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("packet truncated")]
    Truncated,
    #[error("packet of {0} bytes is longer than the {max} allowed", max = crate::MAX_PACKET)]
    TooLong(u32),
    #[error("empty packet")]
    Empty,
    #[error("{0} unexpected bytes after the packet's fields")]
    Trailing(usize),
}

/// Reads fields off the front of a packet's bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok((u64::from(self.u32()?) << 32) | u64::from(self.u32()?))
    }

    /// A `string`: a `uint32` length, then that many bytes.
    pub fn string(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// Whatever is left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// Fails if bytes are left over.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

/// Appends fields to a packet being built.
#[derive(Debug, Default)]
pub struct Writer {
    pub bytes: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes.push(v);
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A `string`. Longer than 4 GiB cannot happen for anything this
    /// crate encodes (data is capped by [`crate::MAX_DATA`]); it would be
    /// cut to the length field's range.
    pub fn string(&mut self, v: &[u8]) -> &mut Self {
        let v = &v[..v.len().min(u32::MAX as usize)];
        self.u32(v.len() as u32);
        self.bytes.extend_from_slice(v);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let mut w = Writer::default();
        w.u8(7).u32(0xdead_beef).u64(1 << 40).string(b"name");
        let mut r = Reader::new(&w.bytes);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u32(), Ok(0xdead_beef));
        assert_eq!(r.u64(), Ok(1 << 40));
        assert_eq!(r.string(), Ok(&b"name"[..]));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn a_length_past_the_end_is_truncated_not_trusted() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, b'x']);
        assert_eq!(r.string(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[1, 2]).u32(), Err(DecodeError::Truncated));
    }

    #[test]
    fn leftover_bytes_are_reported() {
        let mut r = Reader::new(&[0, 0, 0, 1, 9]);
        assert_eq!(r.u32(), Ok(1));
        assert_eq!(r.finish(), Err(DecodeError::Trailing(1)));
    }
}
