//! Payload bodies (RFC 2408 section 3, RFC 2407 section 4.6, RFC 3947, mode-config's
//! ATTRIBUTE payload) and the [`Payload`] enum over them.
//!
//! Each type reads its body from a reader limited to the body (the generic header is
//! already cut off) and consumes all of it; `encode` appends the body only. Least body
//! lengths checked ([`min_body_len`]): SA 4 (8 for the IPsec DOI, whose situation is at
//! least 4 bytes), KE 1, ID 4, CERT 1, CR 1, NOTIFY 8, DELETE 8, NAT-OA 4, ATTRIBUTE 4,
//! and 0 for HASH, SIG, NONCE, VID, NAT-D and unknown types. Lengths that depend on the
//! exchange (NONCE 8 to 256 bytes, hash sizes, KE sizes of the group, address sizes of an
//! ID or NAT-OA) are the exchange layer's to check.

use std::borrow::Cow;

use crate::attribute::{self, Attribute};
use crate::error::{EncodeError, InvalidMessage};
use crate::generic::{begin, finish};
use crate::reader::Reader;
use crate::sa::Sa;

/// Payload type numbers (RFC 2408 section 3.1, RFC 3947, the NAT-T drafts).
pub mod payload_type {
    pub const NONE: u8 = 0;
    pub const SA: u8 = 1;
    pub const PROPOSAL: u8 = 2;
    pub const TRANSFORM: u8 = 3;
    pub const KE: u8 = 4;
    pub const ID: u8 = 5;
    pub const CERT: u8 = 6;
    pub const CR: u8 = 7;
    pub const HASH: u8 = 8;
    pub const SIG: u8 = 9;
    pub const NONCE: u8 = 10;
    pub const NOTIFY: u8 = 11;
    pub const DELETE: u8 = 12;
    pub const VENDOR: u8 = 13;
    pub const ATTRIBUTE: u8 = 14;
    pub const NAT_D: u8 = 20;
    pub const NAT_OA: u8 = 21;
    pub const NAT_D_DRAFT: u8 = 130;
    pub const NAT_OA_DRAFT: u8 = 131;
}

use payload_type as pt;

/// Least body length (after the generic header) of a payload type.
pub fn min_body_len(payload_type: u8) -> usize {
    match payload_type {
        pt::KE | pt::CERT | pt::CR => 1,
        pt::SA | pt::ID | pt::NAT_OA | pt::NAT_OA_DRAFT | pt::ATTRIBUTE => 4,
        pt::NOTIFY | pt::DELETE => 8,
        _ => 0,
    }
}

/// Name of a payload type, for error messages.
pub fn payload_name(payload_type: u8) -> &'static str {
    match payload_type {
        pt::SA => "SA payload",
        pt::PROPOSAL => "proposal payload",
        pt::TRANSFORM => "transform payload",
        pt::KE => "KE payload",
        pt::ID => "ID payload",
        pt::CERT => "CERT payload",
        pt::CR => "CR payload",
        pt::HASH => "HASH payload",
        pt::SIG => "SIG payload",
        pt::NONCE => "NONCE payload",
        pt::NOTIFY => "NOTIFY payload",
        pt::DELETE => "DELETE payload",
        pt::VENDOR => "VID payload",
        pt::ATTRIBUTE => "ATTRIBUTE payload",
        pt::NAT_D | pt::NAT_D_DRAFT => "NAT-D payload",
        pt::NAT_OA | pt::NAT_OA_DRAFT => "NAT-OA payload",
        _ => "payload",
    }
}

macro_rules! opaque_payload {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name<'a> {
            pub data: Cow<'a, [u8]>,
        }

        impl<'a> $name<'a> {
            pub fn new(data: impl Into<Cow<'a, [u8]>>) -> Self {
                $name { data: data.into() }
            }

            /// Reads the body: all of `r`.
            pub fn read(r: &mut Reader<'a>) -> Self {
                $name { data: Cow::Borrowed(r.rest()) }
            }

            /// Appends the body.
            pub fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.data);
            }
        }
    };
}

opaque_payload!(
    /// KE: the DH public value.
    Ke
);
opaque_payload!(
    /// HASH: a hash value.
    Hash
);
opaque_payload!(
    /// SIG: a signature.
    Sig
);
opaque_payload!(
    /// NONCE: the nonce.
    Nonce
);
opaque_payload!(
    /// VID: a vendor ID.
    VendorId
);

/// ID (RFC 2407 section 4.6.2): ID type, IP protocol, port and identification data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id<'a> {
    pub id_type: u8,
    pub protocol: u8,
    pub port: u16,
    pub data: Cow<'a, [u8]>,
}

/// CERT: encoding and certificate data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert<'a> {
    pub encoding: u8,
    pub data: Cow<'a, [u8]>,
}

/// CR: certificate type and certificate authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertReq<'a> {
    pub cert_type: u8,
    pub authority: Cow<'a, [u8]>,
}

/// NOTIFY: DOI (4), protocol ID (1), SPI size (1), notify type (2), SPI, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify<'a> {
    pub doi: u32,
    pub protocol_id: u8,
    pub notify_type: u16,
    pub spi: Cow<'a, [u8]>,
    pub data: Cow<'a, [u8]>,
}

/// DELETE: DOI (4), protocol ID (1), SPI size (1), count (2), SPIs of `spi_size` bytes.
/// SPIs of size 0 are refused both ways: a count of them would be SPIs made of nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete<'a> {
    pub doi: u32,
    pub protocol_id: u8,
    pub spi_size: u8,
    pub spis: Vec<Cow<'a, [u8]>>,
}

/// NAT-D (20, or 130 of the drafts): a hash of addresses and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatD<'a> {
    /// 20 or 130.
    pub payload_type: u8,
    pub data: Cow<'a, [u8]>,
}

/// NAT-OA (21, or 131 of the drafts): ID type (1), reserved (3), address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatOa<'a> {
    /// 21 or 131.
    pub payload_type: u8,
    pub id_type: u8,
    pub data: Cow<'a, [u8]>,
}

/// ATTRIBUTE (14), of mode-config: type (1), reserved (1), identifier (2), attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributePayload<'a> {
    pub attr_type: u8,
    pub identifier: u16,
    pub attributes: Vec<Attribute<'a>>,
}

/// A payload type the codec does not decode, body kept as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown<'a> {
    pub payload_type: u8,
    pub data: Cow<'a, [u8]>,
}

/// Any payload of a payload chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload<'a> {
    Sa(Sa<'a>),
    Ke(Ke<'a>),
    Id(Id<'a>),
    Cert(Cert<'a>),
    CertReq(CertReq<'a>),
    Hash(Hash<'a>),
    Sig(Sig<'a>),
    Nonce(Nonce<'a>),
    Notify(Notify<'a>),
    Delete(Delete<'a>),
    VendorId(VendorId<'a>),
    NatD(NatD<'a>),
    NatOa(NatOa<'a>),
    Attributes(AttributePayload<'a>),
    Unknown(Unknown<'a>),
}

fn spi_size(spi: &[u8], what: &'static str) -> Result<u8, EncodeError> {
    u8::try_from(spi.len()).map_err(|_| EncodeError::TooLong {
        what,
        len: spi.len(),
        max: 0xff,
    })
}

impl<'a> Payload<'a> {
    /// The payload type number.
    pub fn payload_type(&self) -> u8 {
        match self {
            Payload::Sa(_) => pt::SA,
            Payload::Ke(_) => pt::KE,
            Payload::Id(_) => pt::ID,
            Payload::Cert(_) => pt::CERT,
            Payload::CertReq(_) => pt::CR,
            Payload::Hash(_) => pt::HASH,
            Payload::Sig(_) => pt::SIG,
            Payload::Nonce(_) => pt::NONCE,
            Payload::Notify(_) => pt::NOTIFY,
            Payload::Delete(_) => pt::DELETE,
            Payload::VendorId(_) => pt::VENDOR,
            Payload::NatD(p) => p.payload_type,
            Payload::NatOa(p) => p.payload_type,
            Payload::Attributes(_) => pt::ATTRIBUTE,
            Payload::Unknown(p) => p.payload_type,
        }
    }

    /// Reads the body of a payload of type `payload_type` whose generic header is at
    /// `offset`; `r` holds exactly the body (at least [`min_body_len`] bytes) and is
    /// consumed. Proposal and Transform types are read as [`Unknown`] here: they are
    /// only valid inside an SA, which the chain parser enforces.
    pub fn read(
        payload_type: u8,
        r: &mut Reader<'a>,
        offset: usize,
    ) -> Result<Self, InvalidMessage> {
        Ok(match payload_type {
            pt::SA => Payload::Sa(Sa::read(r)?),
            pt::KE => Payload::Ke(Ke::read(r)),
            pt::ID => Payload::Id(Id {
                id_type: r.u8("ID type")?,
                protocol: r.u8("ID protocol")?,
                port: r.u16("ID port")?,
                data: Cow::Borrowed(r.rest()),
            }),
            pt::CERT => Payload::Cert(Cert {
                encoding: r.u8("certificate encoding")?,
                data: Cow::Borrowed(r.rest()),
            }),
            pt::CR => Payload::CertReq(CertReq {
                cert_type: r.u8("certificate type")?,
                authority: Cow::Borrowed(r.rest()),
            }),
            pt::HASH => Payload::Hash(Hash::read(r)),
            pt::SIG => Payload::Sig(Sig::read(r)),
            pt::NONCE => Payload::Nonce(Nonce::read(r)),
            pt::NOTIFY => {
                let doi = r.u32("NOTIFY DOI")?;
                let protocol_id = r.u8("NOTIFY protocol ID")?;
                let spi_size = usize::from(r.u8("NOTIFY SPI size")?);
                let notify_type = r.u16("NOTIFY message type")?;
                let spi = Cow::Borrowed(r.sub(spi_size, "NOTIFY SPI", offset)?.rest());
                Payload::Notify(Notify {
                    doi,
                    protocol_id,
                    notify_type,
                    spi,
                    data: Cow::Borrowed(r.rest()),
                })
            }
            pt::DELETE => {
                let doi = r.u32("DELETE DOI")?;
                let protocol_id = r.u8("DELETE protocol ID")?;
                let spi_size = r.u8("DELETE SPI size")?;
                let count = r.u16("DELETE SPI count")?;
                let left = r.left();
                if usize::from(count) * usize::from(spi_size) != left {
                    return Err(InvalidMessage::DeleteSpis {
                        offset,
                        count,
                        spi_size,
                        left,
                    });
                }
                let spis = match usize::from(spi_size) {
                    0 if count > 0 => {
                        return Err(InvalidMessage::DeleteEmptySpis { offset, count })
                    }
                    0 => Vec::new(),
                    size => r.rest().chunks_exact(size).map(Cow::Borrowed).collect(),
                };
                Payload::Delete(Delete {
                    doi,
                    protocol_id,
                    spi_size,
                    spis,
                })
            }
            pt::VENDOR => Payload::VendorId(VendorId::read(r)),
            pt::NAT_D | pt::NAT_D_DRAFT => Payload::NatD(NatD {
                payload_type,
                data: Cow::Borrowed(r.rest()),
            }),
            pt::NAT_OA | pt::NAT_OA_DRAFT => {
                let id_type = r.u8("NAT-OA ID type")?;
                r.take(3, "NAT-OA reserved field")?;
                Payload::NatOa(NatOa {
                    payload_type,
                    id_type,
                    data: Cow::Borrowed(r.rest()),
                })
            }
            pt::ATTRIBUTE => {
                let attr_type = r.u8("ATTRIBUTE type")?;
                r.u8("ATTRIBUTE reserved field")?;
                let identifier = r.u16("ATTRIBUTE identifier")?;
                let attributes = Attribute::read_all(r)?;
                Payload::Attributes(AttributePayload {
                    attr_type,
                    identifier,
                    attributes,
                })
            }
            _ => Payload::Unknown(Unknown {
                payload_type,
                data: Cow::Borrowed(r.rest()),
            }),
        })
    }

    /// Appends the body (without generic header).
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Payload::Sa(p) => p.encode(out)?,
            Payload::Ke(p) => p.encode(out),
            Payload::Id(p) => {
                out.extend_from_slice(&[p.id_type, p.protocol]);
                out.extend_from_slice(&p.port.to_be_bytes());
                out.extend_from_slice(&p.data);
            }
            Payload::Cert(p) => {
                out.push(p.encoding);
                out.extend_from_slice(&p.data);
            }
            Payload::CertReq(p) => {
                out.push(p.cert_type);
                out.extend_from_slice(&p.authority);
            }
            Payload::Hash(p) => p.encode(out),
            Payload::Sig(p) => p.encode(out),
            Payload::Nonce(p) => p.encode(out),
            Payload::Notify(p) => {
                let size = spi_size(&p.spi, "NOTIFY SPI")?;
                out.extend_from_slice(&p.doi.to_be_bytes());
                out.extend_from_slice(&[p.protocol_id, size]);
                out.extend_from_slice(&p.notify_type.to_be_bytes());
                out.extend_from_slice(&p.spi);
                out.extend_from_slice(&p.data);
            }
            Payload::Delete(p) => {
                let count = u16::try_from(p.spis.len()).map_err(|_| EncodeError::OutOfRange {
                    what: "DELETE SPI count",
                    value: p.spis.len() as u64,
                    max: 0xffff,
                })?;
                if p.spi_size == 0 && !p.spis.is_empty() {
                    return Err(EncodeError::Invalid {
                        what: "DELETE of SPIs of size 0",
                    });
                }
                if let Some(bad) = p.spis.iter().find(|s| s.len() != usize::from(p.spi_size)) {
                    return Err(EncodeError::Inconsistent {
                        what: "DELETE SPI",
                        expected: p.spi_size.into(),
                        found: bad.len(),
                    });
                }
                out.extend_from_slice(&p.doi.to_be_bytes());
                out.extend_from_slice(&[p.protocol_id, p.spi_size]);
                out.extend_from_slice(&count.to_be_bytes());
                p.spis.iter().for_each(|s| out.extend_from_slice(s));
            }
            Payload::VendorId(p) => p.encode(out),
            Payload::NatD(p) => out.extend_from_slice(&p.data),
            Payload::NatOa(p) => {
                out.extend_from_slice(&[p.id_type, 0, 0, 0]);
                out.extend_from_slice(&p.data);
            }
            Payload::Attributes(p) => {
                out.extend_from_slice(&[p.attr_type, 0]);
                out.extend_from_slice(&p.identifier.to_be_bytes());
                attribute::encode_all(&p.attributes, out)?;
            }
            Payload::Unknown(p) => out.extend_from_slice(&p.data),
        }
        Ok(())
    }

    /// Appends generic header and body, with `next` as the next-payload field and the
    /// length filled in (at most 65535, else an error).
    pub fn encode(&self, next: u8, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = begin(out, next);
        self.encode_body(out)?;
        finish(out, start, payload_name(self.payload_type()))
    }

    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Payload<'static> {
        fn own(b: Cow<'_, [u8]>) -> Cow<'static, [u8]> {
            Cow::Owned(b.into_owned())
        }
        match self {
            Payload::Sa(p) => Payload::Sa(p.into_owned()),
            Payload::Ke(p) => Payload::Ke(Ke { data: own(p.data) }),
            Payload::Id(p) => Payload::Id(Id {
                id_type: p.id_type,
                protocol: p.protocol,
                port: p.port,
                data: own(p.data),
            }),
            Payload::Cert(p) => Payload::Cert(Cert {
                encoding: p.encoding,
                data: own(p.data),
            }),
            Payload::CertReq(p) => Payload::CertReq(CertReq {
                cert_type: p.cert_type,
                authority: own(p.authority),
            }),
            Payload::Hash(p) => Payload::Hash(Hash { data: own(p.data) }),
            Payload::Sig(p) => Payload::Sig(Sig { data: own(p.data) }),
            Payload::Nonce(p) => Payload::Nonce(Nonce { data: own(p.data) }),
            Payload::Notify(p) => Payload::Notify(Notify {
                doi: p.doi,
                protocol_id: p.protocol_id,
                notify_type: p.notify_type,
                spi: own(p.spi),
                data: own(p.data),
            }),
            Payload::Delete(p) => Payload::Delete(Delete {
                doi: p.doi,
                protocol_id: p.protocol_id,
                spi_size: p.spi_size,
                spis: p.spis.into_iter().map(own).collect(),
            }),
            Payload::VendorId(p) => Payload::VendorId(VendorId { data: own(p.data) }),
            Payload::NatD(p) => Payload::NatD(NatD {
                payload_type: p.payload_type,
                data: own(p.data),
            }),
            Payload::NatOa(p) => Payload::NatOa(NatOa {
                payload_type: p.payload_type,
                id_type: p.id_type,
                data: own(p.data),
            }),
            Payload::Attributes(p) => Payload::Attributes(AttributePayload {
                attr_type: p.attr_type,
                identifier: p.identifier,
                attributes: p
                    .attributes
                    .into_iter()
                    .map(Attribute::into_owned)
                    .collect(),
            }),
            Payload::Unknown(p) => Payload::Unknown(Unknown {
                payload_type: p.payload_type,
                data: own(p.data),
            }),
        }
    }
}
