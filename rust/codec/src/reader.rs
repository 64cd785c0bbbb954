//! A bounded reader over a byte slice.
//!
//! A [`Reader`] never reads past the slice it was given; [`Reader::sub`] hands out a
//! reader limited to the next `len` bytes, for every length field of the protocol. Reads
//! that do not fit fail with [`InvalidMessage`], naming the field and the absolute offset
//! (the reader knows where its slice starts in the buffer being parsed).

use crate::error::InvalidMessage;

/// Reads big-endian fields from a byte slice, never past its end.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, whose first byte is at offset 0.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// A reader over `buf`, whose first byte is at offset `base` of the whole buffer.
    pub fn at(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte to read.
    pub fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    /// Number of bytes left.
    pub fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// True when everything has been read.
    pub fn is_empty(&self) -> bool {
        self.left() == 0
    }

    /// The bytes left, without consuming them.
    pub fn peek_rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// The bytes left; the reader is then empty.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = self.peek_rest();
        self.pos = self.buf.len();
        rest
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], InvalidMessage> {
        let slice = self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
            .ok_or(InvalidMessage::Truncated {
                what,
                offset: self.offset(),
                needed: n,
                left: self.left(),
            })?;
        self.pos += n;
        Ok(slice)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], InvalidMessage> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, InvalidMessage> {
        Ok(u8::from_be_bytes(self.array(what)?))
    }

    /// A big-endian 16-bit number.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, InvalidMessage> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// A big-endian 32-bit number.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, InvalidMessage> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// A reader over the next `len` bytes, which this reader skips. Fails with
    /// [`InvalidMessage::LengthPastEnd`] if fewer are left; `offset` is reported as the
    /// place of the structure whose length field said `len`.
    pub fn sub(
        &mut self,
        len: usize,
        what: &'static str,
        offset: usize,
    ) -> Result<Reader<'a>, InvalidMessage> {
        let base = self.offset();
        let left = self.left();
        let buf = self
            .take(len, what)
            .map_err(|_| InvalidMessage::LengthPastEnd {
                what,
                offset,
                length: len,
                left,
            })?;
        Ok(Reader { buf, pos: 0, base })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_tracks_offsets() {
        let data = [1u8, 0, 2, 0, 0, 0, 3, 9, 9];
        let mut r = Reader::at(&data, 100);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.u16("b"), Ok(2));
        assert_eq!(r.offset(), 103);
        assert_eq!(r.u32("c"), Ok(3));
        assert_eq!(r.left(), 2);
        let err = r.u32("d").unwrap_err();
        assert_eq!(
            err,
            InvalidMessage::Truncated {
                what: "d",
                offset: 107,
                needed: 4,
                left: 2
            }
        );
        assert_eq!(r.rest(), &[9, 9]);
        assert!(r.is_empty());
        assert_eq!(r.rest(), &[] as &[u8]);
    }

    #[test]
    fn sub_readers_are_bounded() {
        let data = [0u8, 1, 2, 3, 4, 5];
        let mut r = Reader::new(&data);
        r.u8("x").unwrap();
        let mut s = r.sub(3, "inner", 0).unwrap();
        assert_eq!(s.offset(), 1);
        assert_eq!(s.take(3, "all"), Ok(&data[1..4]));
        assert!(s.u8("more").is_err());
        assert_eq!(r.offset(), 4);
        let err = r.sub(3, "inner", 4).unwrap_err();
        assert_eq!(
            err,
            InvalidMessage::LengthPastEnd {
                what: "inner",
                offset: 4,
                length: 3,
                left: 2
            }
        );
        let err = r.take(usize::MAX, "huge").unwrap_err();
        assert!(matches!(err, InvalidMessage::Truncated { .. }));
    }
}
