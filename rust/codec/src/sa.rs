//! The Security Association payload (RFC 2408 section 3.4) with its Proposal (3.5) and
//! Transform (3.6) payloads, and the IPsec DOI situation (RFC 2407 section 4.6.1).
//!
//! Checked here: every Proposal and Transform length (at least 8, within its container);
//! next-payload fields (0 or 2 for proposals, 0 or 3 for transforms) that agree with the
//! bytes left (BAD-PROPOSAL-SYNTAX otherwise); the transform count; the SPI within its
//! proposal; the attributes within their transform. Not checked: proposal and transform
//! numbering, SPI sizes for the protocol, that there is at least one proposal — the
//! exchange layer judges those.

use std::borrow::Cow;

use crate::attribute::{self, Attribute};
use crate::error::{EncodeError, InvalidMessage};
use crate::generic::{begin, finish, read_generic};
use crate::payload::payload_type;
use crate::reader::Reader;

/// The IPsec DOI (RFC 2407).
pub const DOI_IPSEC: u32 = 1;
/// IPsec DOI situation bits (RFC 2407 section 4.2).
pub const SIT_IDENTITY_ONLY: u32 = 1;
/// SIT_SECRECY: adds a labeled domain identifier and secrecy level and categories.
pub const SIT_SECRECY: u32 = 2;
/// SIT_INTEGRITY: adds a labeled domain identifier and integrity level and categories.
pub const SIT_INTEGRITY: u32 = 4;

/// Least length of a Proposal or Transform payload, header included.
const MIN_PROPOSAL_LEN: usize = 8;
const MIN_TRANSFORM_LEN: usize = 8;

/// A transform: its number, transform ID and attributes (the reserved field is ignored
/// and sent as zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform<'a> {
    pub number: u8,
    pub transform_id: u8,
    pub attributes: Vec<Attribute<'a>>,
}

/// A proposal: number, protocol, SPI as sent and its transforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal<'a> {
    pub number: u8,
    pub protocol_id: u8,
    pub spi: Cow<'a, [u8]>,
    pub transforms: Vec<Transform<'a>>,
}

/// An SA payload body. For the IPsec DOI, `situation` holds the situation bitmap and,
/// with SIT_SECRECY or SIT_INTEGRITY, the labeled-domain fields that follow it, as sent;
/// for any other DOI the codec cannot know where the situation ends, so it holds the
/// whole rest of the body and `proposals` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sa<'a> {
    pub doi: u32,
    pub situation: Cow<'a, [u8]>,
    pub proposals: Vec<Proposal<'a>>,
}

/// Size of the IPsec DOI situation at the start of `data`: 4 bytes of bitmap, then, with
/// SIT_SECRECY or SIT_INTEGRITY, a 4-byte labeled domain identifier and for each of
/// those bits a level and a category bitmap, each with its length and padded to 4 bytes.
pub fn ipsec_situation_len(data: &[u8], offset: usize) -> Result<usize, InvalidMessage> {
    fn level(
        r: &mut Reader<'_>,
        len: &'static str,
        data: &'static str,
    ) -> Result<(), InvalidMessage> {
        let octets = usize::from(r.u16(len)?);
        r.u16("situation reserved field")?;
        r.take(pad4(octets), data)?;
        Ok(())
    }
    fn pad4(n: usize) -> usize {
        (n + 3) & !3
    }
    let mut r = Reader::at(data, offset);
    let bits = r.u32("situation")?;
    if bits & (SIT_SECRECY | SIT_INTEGRITY) != 0 {
        r.take(4, "labeled domain identifier")?;
        for (bit, names) in [
            (
                SIT_SECRECY,
                ["secrecy length", "secrecy level", "secrecy category length"],
            ),
            (
                SIT_INTEGRITY,
                [
                    "integrity length",
                    "integrity level",
                    "integrity category length",
                ],
            ),
        ] {
            if bits & bit != 0 {
                level(&mut r, names[0], names[1])?;
                // The category bitmap's length is given in bits.
                let category_bits = usize::from(r.u16(names[2])?);
                r.u16("situation reserved field")?;
                r.take(pad4(category_bits.div_ceil(8)), "category bitmap")?;
            }
        }
    }
    Ok(data.len().saturating_sub(r.left()))
}

impl<'a> Sa<'a> {
    /// Reads an SA body (after the generic header); consumes all of `r`.
    pub fn read(r: &mut Reader<'a>) -> Result<Self, InvalidMessage> {
        let doi = r.u32("SA DOI")?;
        if doi != DOI_IPSEC {
            return Ok(Sa {
                doi,
                situation: Cow::Borrowed(r.rest()),
                proposals: Vec::new(),
            });
        }
        let len = ipsec_situation_len(r.peek_rest(), r.offset())?;
        let situation = Cow::Borrowed(r.take(len, "situation")?);
        let mut proposals = Vec::new();
        while !r.is_empty() {
            let g = read_generic(r, "proposal payload", MIN_PROPOSAL_LEN)?;
            let mut body = g.body;
            proposals.push(Proposal::read(&mut body, g.offset)?);
            match g.next {
                payload_type::NONE if !r.is_empty() => {
                    let (offset, left) = (r.offset(), r.left());
                    return Err(InvalidMessage::ChainEndsEarly {
                        what: "proposal",
                        offset,
                        left,
                    });
                }
                payload_type::PROPOSAL if r.is_empty() => {
                    return Err(InvalidMessage::ChainMissing {
                        what: "proposal",
                        offset: g.offset,
                    });
                }
                payload_type::NONE | payload_type::PROPOSAL => {}
                next => {
                    let offset = g.offset;
                    return Err(InvalidMessage::BadChainType {
                        what: "proposal",
                        offset,
                        next,
                    });
                }
            }
        }
        Ok(Sa {
            doi,
            situation,
            proposals,
        })
    }

    /// Appends the SA body. For the IPsec DOI the situation must have the length its
    /// bitmap implies.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.doi == DOI_IPSEC {
            let expected = ipsec_situation_len(&self.situation, 0).unwrap_or(4);
            if expected != self.situation.len() {
                return Err(EncodeError::Inconsistent {
                    what: "IPsec DOI situation",
                    expected,
                    found: self.situation.len(),
                });
            }
        }
        out.extend_from_slice(&self.doi.to_be_bytes());
        out.extend_from_slice(&self.situation);
        let count = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            let next = if i + 1 < count {
                payload_type::PROPOSAL
            } else {
                payload_type::NONE
            };
            let start = begin(out, next);
            p.encode(out)?;
            finish(out, start, "proposal payload")?;
        }
        Ok(())
    }

    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Sa<'static> {
        Sa {
            doi: self.doi,
            situation: Cow::Owned(self.situation.into_owned()),
            proposals: self
                .proposals
                .into_iter()
                .map(Proposal::into_owned)
                .collect(),
        }
    }
}

impl<'a> Proposal<'a> {
    /// Reads a proposal body (after its generic header, which is at `start`); consumes
    /// all of `r`.
    pub fn read(r: &mut Reader<'a>, start: usize) -> Result<Self, InvalidMessage> {
        let number = r.u8("proposal number")?;
        let protocol_id = r.u8("protocol ID")?;
        let spi_size = usize::from(r.u8("SPI size")?);
        let declared = r.u8("number of transforms")?;
        let spi = Cow::Borrowed(r.sub(spi_size, "proposal SPI", start)?.rest());
        let mut transforms = Vec::with_capacity(usize::from(declared));
        while !r.is_empty() {
            let g = read_generic(r, "transform payload", MIN_TRANSFORM_LEN)?;
            let mut body = g.body;
            transforms.push(Transform::read(&mut body)?);
            match g.next {
                payload_type::NONE if !r.is_empty() => {
                    let (offset, left) = (r.offset(), r.left());
                    return Err(InvalidMessage::ChainEndsEarly {
                        what: "transform",
                        offset,
                        left,
                    });
                }
                payload_type::TRANSFORM if r.is_empty() => {
                    return Err(InvalidMessage::ChainMissing {
                        what: "transform",
                        offset: g.offset,
                    });
                }
                payload_type::NONE | payload_type::TRANSFORM => {}
                next => {
                    let offset = g.offset;
                    return Err(InvalidMessage::BadChainType {
                        what: "transform",
                        offset,
                        next,
                    });
                }
            }
        }
        if transforms.len() != usize::from(declared) {
            return Err(InvalidMessage::TransformCount {
                offset: start,
                declared,
                found: transforms.len(),
            });
        }
        Ok(Proposal {
            number,
            protocol_id,
            spi,
            transforms,
        })
    }

    /// Appends the proposal body. Fails for an SPI longer than 255 bytes or more than 255
    /// transforms.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let spi_size = u8::try_from(self.spi.len()).map_err(|_| EncodeError::TooLong {
            what: "proposal SPI",
            len: self.spi.len(),
            max: 0xff,
        })?;
        let count = self.transforms.len();
        let count8 = u8::try_from(count).map_err(|_| EncodeError::OutOfRange {
            what: "number of transforms",
            value: count as u64,
            max: 0xff,
        })?;
        out.extend_from_slice(&[self.number, self.protocol_id, spi_size, count8]);
        out.extend_from_slice(&self.spi);
        for (i, t) in self.transforms.iter().enumerate() {
            let next = if i + 1 < count {
                payload_type::TRANSFORM
            } else {
                payload_type::NONE
            };
            let start = begin(out, next);
            t.encode(out)?;
            finish(out, start, "transform payload")?;
        }
        Ok(())
    }

    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Proposal<'static> {
        Proposal {
            number: self.number,
            protocol_id: self.protocol_id,
            spi: Cow::Owned(self.spi.into_owned()),
            transforms: self
                .transforms
                .into_iter()
                .map(Transform::into_owned)
                .collect(),
        }
    }
}

impl<'a> Transform<'a> {
    /// Reads a transform body (after its generic header); consumes all of `r`.
    pub fn read(r: &mut Reader<'a>) -> Result<Self, InvalidMessage> {
        let number = r.u8("transform number")?;
        let transform_id = r.u8("transform ID")?;
        r.u16("transform reserved field")?;
        let attributes = Attribute::read_all(r)?;
        Ok(Transform {
            number,
            transform_id,
            attributes,
        })
    }

    /// Appends the transform body.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&[self.number, self.transform_id, 0, 0]);
        attribute::encode_all(&self.attributes, out)
    }

    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Transform<'static> {
        Transform {
            number: self.number,
            transform_id: self.transform_id,
            attributes: self
                .attributes
                .into_iter()
                .map(Attribute::into_owned)
                .collect(),
        }
    }
}
