//! Payload chains and whole messages.

use crate::error::{EncodeError, InvalidMessage};
use crate::generic::{read_generic, GENERIC_LEN};
use crate::header::Header;
use crate::payload::{min_body_len, payload_name, payload_type as pt, Payload};
use crate::reader::Reader;

/// A payload of a parsed chain, with its bytes as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub payload: Payload<'a>,
    /// Generic header and body, as received (what HASH and SIG computations take).
    pub raw: &'a [u8],
    /// Offset of the generic header in the buffer given to the parser.
    pub offset: usize,
}

impl<'a> Parsed<'a> {
    /// The body: `raw` without its generic header.
    pub fn body(&self) -> &'a [u8] {
        self.raw.get(GENERIC_LEN..).unwrap_or_default()
    }
}

/// Parses the payload chain in `data` that starts with payload type `first`; offsets in
/// errors count from the start of `data`. See [`parse_payloads_at`].
pub fn parse_payloads(
    first: u8,
    data: &[u8],
    allow_trailing: bool,
) -> Result<Vec<Parsed<'_>>, InvalidMessage> {
    parse_payloads_at(first, data, 0, allow_trailing)
}

/// Parses the payload chain in `data`, whose first byte is at offset `base` of the
/// buffer the caller reports errors against.
///
/// Each generic length must be at least 4, fit the bytes left, and reach the type's
/// [`min_body_len`] (PAYLOAD-MALFORMED); each body is then read by its type. Proposal
/// and Transform types in the chain itself are INVALID-PAYLOAD-TYPE. Types the codec
/// does not decode (15-19, 22-129, 132-255) become [`Payload::Unknown`]. The chain ends
/// at next payload 0; bytes after it are UNEQUAL-PAYLOAD-LENGTHS unless
/// `allow_trailing` (decrypted bodies end in padding).
pub fn parse_payloads_at(
    first: u8,
    data: &[u8],
    base: usize,
    allow_trailing: bool,
) -> Result<Vec<Parsed<'_>>, InvalidMessage> {
    let mut r = Reader::at(data, base);
    let mut next = first;
    // Every payload takes at least 4 bytes: never reserve more than could be there.
    let mut out = Vec::with_capacity((data.len() / GENERIC_LEN).min(16));
    while next != pt::NONE {
        if next == pt::PROPOSAL || next == pt::TRANSFORM {
            return Err(InvalidMessage::InvalidPayloadType {
                offset: r.offset(),
                payload_type: next,
            });
        }
        let what = payload_name(next);
        let g = read_generic(&mut r, what, GENERIC_LEN + min_body_len(next))?;
        let mut body = g.body;
        let payload = Payload::read(next, &mut body, g.offset)?;
        out.push(Parsed {
            payload,
            raw: g.raw,
            offset: g.offset,
        });
        next = g.next;
    }
    if !allow_trailing && !r.is_empty() {
        return Err(InvalidMessage::TrailingBytes {
            offset: r.offset(),
            count: r.left(),
        });
    }
    Ok(out)
}

/// Parses an unencrypted message: [`Header::parse`], then the payload chain after it.
/// Offsets in errors count from the start of the message.
pub fn parse_message(data: &[u8]) -> Result<(Header, Vec<Parsed<'_>>), InvalidMessage> {
    let header = Header::parse(data)?;
    let body = data.get(Header::LEN..).unwrap_or_default();
    let payloads = parse_payloads_at(header.next_payload, body, Header::LEN, false)?;
    Ok((header, payloads))
}

/// Appends the chain `payloads`: each next-payload field is the type of the payload after
/// it, the last one's is `next_after`. On error, `out` is left as it was.
pub fn encode_payloads(
    payloads: &[Payload<'_>],
    next_after: u8,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let mark = out.len();
    let result = payloads.iter().enumerate().try_for_each(|(i, p)| {
        let next = payloads
            .get(i + 1)
            .map_or(next_after, Payload::payload_type);
        p.encode(next, out)
    });
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// Appends a message: `header` with its next payload set to the first payload's type
/// (0 if none) and its length computed, then the chain.
pub fn encode_message(
    header: &Header,
    payloads: &[Payload<'_>],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let first = payloads.first().map_or(pt::NONE, Payload::payload_type);
    let header = Header {
        next_payload: first,
        ..header.clone()
    };
    let mark = out.len();
    header.encode(out)?;
    let result = encode_payloads(payloads, pt::NONE, out).and_then(|()| set_length(out, mark));
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// Appends a message: `header` (its next payload as set) with its length computed, then
/// `body` as is (for example ciphertext).
pub fn encode_message_body(
    header: &Header,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let mark = out.len();
    header.encode(out)?;
    out.extend_from_slice(body);
    let result = set_length(out, mark);
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// Writes the length of the message that starts at `start` into its header.
fn set_length(out: &mut [u8], start: usize) -> Result<(), EncodeError> {
    set_message_length(out.get_mut(start..).unwrap_or_default()).map(|_| ())
}

/// Sets the length field of the message `msg` (header first) to `msg.len()`, and returns
/// it. Fails if `msg` is shorter than a header or longer than 2^32 - 1 bytes.
pub fn set_message_length(msg: &mut [u8]) -> Result<u32, EncodeError> {
    let len = msg.len();
    let len32 = u32::try_from(len).map_err(|_| EncodeError::TooLong {
        what: "message",
        len,
        max: u32::MAX as usize,
    })?;
    let field = msg
        .get_mut(24..Header::LEN)
        .ok_or(EncodeError::Inconsistent {
            what: "message",
            expected: Header::LEN,
            found: len,
        })?;
    field.copy_from_slice(&len32.to_be_bytes());
    Ok(len32)
}
