//! What the fuzz targets share: a cursor that splits the fuzzer's input into
//! fields, and the invariants every parsed payload chain must keep.
//!
//! The invariants go beyond "no panic": whatever the codec accepts must be
//! described exactly by its [`Parsed`] records (raw bytes, offsets, lengths,
//! types), must encode again, and the encoding must parse back to the same
//! payloads and encode to the same bytes.

#![forbid(unsafe_code)]

use isakmp_codec::{encode_payloads, parse_payloads, InvalidMessage, Parsed, Payload};

/// A cursor over the fuzzer's input. Reads past the end give zeros or empty
/// slices, so that every input is a valid (if short) description.
#[derive(Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }

    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    pub fn u16(&mut self) -> u16 {
        self.take(2)
            .iter()
            .fold(0, |acc, &b| (acc << 8) | u16::from(b))
    }

    pub fn u32(&mut self) -> u32 {
        self.take(4)
            .iter()
            .fold(0, |acc, &b| (acc << 8) | u32::from(b))
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }

    /// A length-prefixed field: a 16-bit length, then that many bytes (or
    /// what is left).
    pub fn field(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.take(n)
    }
}

/// An error of a parse over `len` bytes whose first one is at `base`: it has
/// a NOTIFY type to answer, an offset within the buffer, and words.
pub fn check_error(e: &InvalidMessage, base: usize, len: usize) {
    assert_ne!(e.notify(), 0, "no NOTIFY type for {e:?}");
    if let Some(offset) = e.offset() {
        assert!(
            offset <= base + len,
            "offset {offset} past {base}+{len}: {e:?}"
        );
    }
    assert!(!e.reason().is_empty());
    assert!(!e.to_string().is_empty());
}

/// The payloads of a parsed chain, borrowing from its input.
pub fn payloads_of<'a>(chain: &[Parsed<'a>]) -> Vec<Payload<'a>> {
    chain.iter().map(|p| p.payload.clone()).collect()
}

/// Checks that `chain`, parsed from `data` (first byte at offset `base`)
/// starting with payload type `first`, describes `data` exactly: each `raw`
/// is the bytes at its offset, carries its own length, follows the previous
/// one without gap, and has the type the previous one announced; the last
/// one announces none. Returns the bytes the chain covers.
pub fn check_chain(first: u8, data: &[u8], base: usize, chain: &[Parsed<'_>]) -> usize {
    let mut expected_type = first;
    let mut at = 0usize;
    for p in chain {
        assert_ne!(expected_type, 0, "a payload after the end of the chain");
        assert_eq!(p.payload.payload_type(), expected_type, "type of {p:?}");
        assert_eq!(p.offset, base + at, "offset of {p:?}");
        assert_eq!(data.get(at..at + p.raw.len()), Some(p.raw), "raw of {p:?}");
        let generic = p.raw.get(..4).expect("generic header");
        assert_eq!(
            usize::from(u16::from_be_bytes([generic[2], generic[3]])),
            p.raw.len()
        );
        assert_eq!(p.body(), &p.raw[4..]);
        expected_type = generic[0];
        at += p.raw.len();
    }
    assert_eq!(expected_type, 0, "the chain ends without next payload 0");
    at
}

/// Encodes `payloads` as a chain, which must work for anything the codec
/// parsed; the encoding must be `len` bytes long (the chain as received,
/// padding excluded), parse back to the same payloads, and encode to the
/// same bytes again. Returns the encoding.
pub fn check_round_trip(payloads: &[Payload<'_>], len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    if let Err(e) = encode_payloads(payloads, 0, &mut out) {
        panic!("parsed payloads do not encode: {e:?}\n{payloads:?}");
    }
    assert_eq!(out.len(), len, "encoding changed the chain's length");
    let first = payloads.first().map_or(0, Payload::payload_type);
    let again = match parse_payloads(first, &out, false) {
        Ok(chain) => chain,
        Err(e) => panic!("encoded payloads do not parse: {e:?}\n{payloads:?}"),
    };
    check_chain(first, &out, 0, &again);
    let again = payloads_of(&again);
    assert_eq!(
        again.as_slice(),
        payloads,
        "payloads changed by a round trip"
    );
    let mut twice = Vec::new();
    encode_payloads(&again, 0, &mut twice).expect("encodes twice");
    assert_eq!(twice, out, "encoding is not stable");
    out
}

/// Parses `data` as a chain from `first`, as the daemon parses a decrypted
/// or plain body, and checks every invariant of what comes out. Returns
/// whether it parsed.
pub fn parse_and_check(first: u8, data: &[u8], allow_trailing: bool) -> bool {
    match parse_payloads(first, data, allow_trailing) {
        Ok(chain) => {
            let len = check_chain(first, data, 0, &chain);
            assert!(
                allow_trailing || len == data.len(),
                "trailing bytes accepted"
            );
            check_round_trip(&payloads_of(&chain), len);
            true
        }
        Err(e) => {
            check_error(&e, 0, data.len());
            false
        }
    }
}
