//! The generic payload header (RFC 2408 section 3.2) shared by every payload, and by the
//! Proposal and Transform payloads inside an SA: next payload (1), reserved (1), payload
//! length (2, header included).

use crate::error::{EncodeError, InvalidMessage};
use crate::reader::Reader;

/// Length of the generic payload header.
pub const GENERIC_LEN: usize = 4;

/// The largest payload length the 16-bit length field can say.
pub const MAX_PAYLOAD_LEN: usize = 0xffff;

/// A payload cut out of a chain: its header fields and a reader over its body.
#[derive(Debug)]
pub(crate) struct Generic<'a> {
    pub next: u8,
    /// Header and body, as received.
    pub raw: &'a [u8],
    pub body: Reader<'a>,
    /// Offset of the generic header.
    pub offset: usize,
}

/// Reads the generic header at `r` and cuts out the payload it announces. The length is
/// checked against 4, then against the bytes left, then against `min_len` (the payload
/// type's minimum, header included).
pub(crate) fn read_generic<'a>(
    r: &mut Reader<'a>,
    what: &'static str,
    min_len: usize,
) -> Result<Generic<'a>, InvalidMessage> {
    let offset = r.offset();
    let mut head = Reader::at(r.peek_rest(), offset);
    let [next, _reserved, len_hi, len_lo] = head.array::<GENERIC_LEN>(what)?;
    let length = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    if length < GENERIC_LEN {
        return Err(InvalidMessage::LengthTooSmall {
            what,
            offset,
            length,
            min: GENERIC_LEN,
        });
    }
    let mut whole = r.sub(length, what, offset)?;
    if length < min_len {
        return Err(InvalidMessage::LengthTooSmall {
            what,
            offset,
            length,
            min: min_len,
        });
    }
    let raw = whole.peek_rest();
    whole.take(GENERIC_LEN, what)?;
    Ok(Generic {
        next,
        raw,
        body: whole,
        offset,
    })
}

/// Starts a payload: appends a generic header with `next` and a zero length, and returns
/// where it starts for [`finish`].
pub(crate) fn begin(out: &mut Vec<u8>, next: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[next, 0, 0, 0]);
    start
}

/// Ends the payload started at `start`: writes its length, which must fit 16 bits.
pub(crate) fn finish(out: &mut [u8], start: usize, what: &'static str) -> Result<(), EncodeError> {
    let len = out.len().saturating_sub(start);
    let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong {
        what,
        len,
        max: MAX_PAYLOAD_LEN,
    })?;
    if let Some(field) = out.get_mut(start + 2..start + GENERIC_LEN) {
        field.copy_from_slice(&len16.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_out_one_payload() {
        let data = [13u8, 0, 0, 6, 0xaa, 0xbb, 0xcc];
        let mut r = Reader::at(&data, 28);
        let g = read_generic(&mut r, "VID payload", 4).unwrap();
        assert_eq!((g.next, g.offset, g.raw), (13, 28, &data[..6]));
        assert_eq!(g.body.peek_rest(), &[0xaa, 0xbb]);
        assert_eq!(r.peek_rest(), &[0xcc]);
    }

    #[test]
    fn length_checks() {
        let too_small = [0u8, 0, 0, 3];
        let err = read_generic(&mut Reader::new(&too_small), "X", 4).unwrap_err();
        assert_eq!(
            err,
            InvalidMessage::LengthTooSmall {
                what: "X",
                offset: 0,
                length: 3,
                min: 4
            }
        );
        let past_end = [0u8, 0, 0, 9, 1, 2];
        let err = read_generic(&mut Reader::new(&past_end), "X", 4).unwrap_err();
        assert_eq!(
            err,
            InvalidMessage::LengthPastEnd {
                what: "X",
                offset: 0,
                length: 9,
                left: 6
            }
        );
        let below_min = [0u8, 0, 0, 5, 1];
        let err = read_generic(&mut Reader::new(&below_min), "X", 8).unwrap_err();
        assert_eq!(
            err,
            InvalidMessage::LengthTooSmall {
                what: "X",
                offset: 0,
                length: 5,
                min: 8
            }
        );
        let err = read_generic(&mut Reader::new(&[0u8, 0, 0]), "X", 4).unwrap_err();
        assert!(matches!(err, InvalidMessage::Truncated { what: "X", .. }));
    }

    #[test]
    fn begin_finish() {
        let mut out = vec![9u8];
        let start = begin(&mut out, 5);
        out.extend_from_slice(&[1, 2, 3]);
        finish(&mut out, start, "X").unwrap();
        assert_eq!(out, [9, 5, 0, 0, 7, 1, 2, 3]);
        let mut big = Vec::new();
        let start = begin(&mut big, 0);
        big.resize(0x10000, 0);
        assert!(finish(&mut big, start, "X").is_err());
    }
}
