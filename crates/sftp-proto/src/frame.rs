//! A client's byte stream cut into packet bodies as it arrives, in
//! whatever chunks the SSH channel delivers: each byte is copied once,
//! into the body it belongs to, and a length field is checked before
//! anything is allocated for it.

use crate::request::body_len;
use crate::DecodeError;

/// Cuts packets out of a stream fed chunk by chunk.
#[derive(Debug, Default)]
pub struct Framer {
    /// The next length field, as far as it has arrived.
    field: [u8; 4],
    field_seen: usize,
    /// The body being filled, and the length it will have.
    body: Vec<u8>,
    body_len: usize,
}

impl Framer {
    /// Takes bytes off the front of `chunk` until a body is complete
    /// (returned) or `chunk` is used up (`None`: feed the next chunk).
    /// An error is a length no client may send: the stream cannot be
    /// framed past it.
    pub fn next(&mut self, chunk: &mut &[u8]) -> Result<Option<Vec<u8>>, DecodeError> {
        while !chunk.is_empty() {
            if self.field_seen < 4 {
                let n = (4 - self.field_seen).min(chunk.len());
                let (head, rest) = chunk.split_at(n);
                self.field[self.field_seen..self.field_seen + n].copy_from_slice(head);
                self.field_seen += n;
                *chunk = rest;
                if self.field_seen == 4 {
                    self.body_len = body_len(self.field)?;
                    self.body = Vec::with_capacity(self.body_len);
                }
                continue;
            }
            let n = (self.body_len - self.body.len()).min(chunk.len());
            let (part, rest) = chunk.split_at(n);
            self.body.extend_from_slice(part);
            *chunk = rest;
            if self.body.len() == self.body_len {
                self.field_seen = 0;
                return Ok(Some(std::mem::take(&mut self.body)));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame_len;
    use proptest::prelude::*;

    /// Every body `chunks` complete, fed in order.
    fn bodies(chunks: &[&[u8]]) -> Result<Vec<Vec<u8>>, DecodeError> {
        let mut framer = Framer::default();
        let mut out = Vec::new();
        for chunk in chunks {
            let mut rest = *chunk;
            while let Some(body) = framer.next(&mut rest)? {
                out.push(body);
            }
            assert!(rest.is_empty(), "a chunk is used up before more is asked");
        }
        Ok(out)
    }

    #[test]
    fn packets_split_anywhere_come_out_whole() {
        let stream = [0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 0, 1, b'z'];
        let whole = bodies(&[&stream]).unwrap();
        assert_eq!(whole, vec![b"abc".to_vec(), b"z".to_vec()]);
        // Split inside the length field and inside a body.
        let split = bodies(&[&stream[..2], &stream[2..5], &stream[5..9], &stream[9..]]);
        assert_eq!(split.unwrap(), whole);
    }

    #[test]
    fn impossible_lengths_are_refused_before_any_body() {
        assert_eq!(bodies(&[&[0, 0, 0, 0]]), Err(DecodeError::Empty));
        assert_eq!(
            bodies(&[&[0xff, 0xff], &[0xff, 0xff]]),
            Err(DecodeError::TooLong(u32::MAX))
        );
    }

    proptest! {
        /// However a stream is cut, the bodies are those `frame_len`
        /// finds in it whole, and a refusal comes where it does.
        #[test]
        fn any_chunking_frames_as_the_whole_stream(
            stream in proptest::collection::vec(any::<u8>(), 0..64),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut expected = Vec::new();
            let mut rest = &stream[..];
            let refused = loop {
                match frame_len(rest) {
                    Ok(Some(n)) => {
                        expected.push(rest[4..n].to_vec());
                        rest = &rest[n..];
                    }
                    Ok(None) => break false,
                    Err(_) => break true,
                }
            };
            let mut at: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
            at.sort_unstable();
            let mut chunks = Vec::new();
            let mut from = 0;
            for to in at.into_iter().chain([stream.len()]) {
                chunks.push(&stream[from..to]);
                from = to;
            }
            match bodies(&chunks) {
                Ok(got) => {
                    prop_assert!(!refused);
                    prop_assert_eq!(got, expected);
                }
                Err(_) => prop_assert!(refused),
            }
        }
    }
}
