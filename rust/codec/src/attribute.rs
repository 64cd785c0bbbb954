//! Data attributes (RFC 2408 section 3.3): the basic TV form (AF bit set, 16-bit value)
//! and the variable TLV form (AF bit clear, 16-bit length, value).

use std::borrow::Cow;

use crate::error::{EncodeError, InvalidMessage};
use crate::reader::Reader;

/// The Attribute Format bit of the attribute type field.
pub const AF_BIT: u16 = 0x8000;

/// An attribute value in the form it was (or will be) sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue<'a> {
    /// TV form.
    Basic(u16),
    /// TLV form.
    Variable(Cow<'a, [u8]>),
}

/// One data attribute; `attr_type` excludes the AF bit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    pub attr_type: u16,
    pub value: AttrValue<'a>,
}

impl<'a> Attribute<'a> {
    /// A TV attribute.
    pub fn basic(attr_type: u16, value: u16) -> Self {
        Attribute {
            attr_type,
            value: AttrValue::Basic(value),
        }
    }

    /// A TLV attribute.
    pub fn variable(attr_type: u16, value: impl Into<Cow<'a, [u8]>>) -> Self {
        Attribute {
            attr_type,
            value: AttrValue::Variable(value.into()),
        }
    }

    /// TV if `value` fits 16 bits, else TLV with the shortest big-endian bytes but at
    /// least 4 (the way LIFE_DURATION is usually sent).
    pub fn from_u64(attr_type: u16, value: u64) -> Self {
        match u16::try_from(value) {
            Ok(v) => Self::basic(attr_type, v),
            Err(_) => {
                let bytes = value.to_be_bytes();
                let skip = (value.leading_zeros() / 8).min(4) as usize;
                Self::variable(attr_type, bytes.get(skip..).unwrap_or_default().to_vec())
            }
        }
    }

    /// True for the TV form.
    pub fn is_basic(&self) -> bool {
        matches!(self.value, AttrValue::Basic(_))
    }

    /// The value as an unsigned integer: the TV value, or the TLV bytes read big-endian.
    /// Leading zero bytes are allowed; a value that needs more than 64 bits is
    /// ATTRIBUTES-NOT-SUPPORTED.
    pub fn as_u64(&self) -> Result<u64, InvalidMessage> {
        match &self.value {
            AttrValue::Basic(v) => Ok(u64::from(*v)),
            AttrValue::Variable(bytes) => {
                let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
                let digits = bytes.get(first..).unwrap_or_default();
                if digits.len() > 8 {
                    return Err(InvalidMessage::AttributeTooLong {
                        attr_type: self.attr_type,
                        length: bytes.len(),
                    });
                }
                Ok(digits
                    .iter()
                    .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
            }
        }
    }

    /// Reads one attribute.
    pub fn read(r: &mut Reader<'a>) -> Result<Self, InvalidMessage> {
        let start = r.offset();
        let raw_type = r.u16("attribute type")?;
        let attr_type = raw_type & !AF_BIT;
        if raw_type & AF_BIT != 0 {
            return Ok(Self::basic(attr_type, r.u16("attribute value")?));
        }
        let len = usize::from(r.u16("attribute length")?);
        let value = r.sub(len, "attribute", start)?.rest();
        Ok(Self::variable(attr_type, value))
    }

    /// Reads attributes until `r` is empty.
    pub fn read_all(r: &mut Reader<'a>) -> Result<Vec<Self>, InvalidMessage> {
        // Every attribute takes at least 4 bytes: never reserve more than could be there.
        let mut out = Vec::with_capacity(r.left() / 4);
        while !r.is_empty() {
            out.push(Self::read(r)?);
        }
        Ok(out)
    }

    /// Appends the attribute. Fails if the type uses the AF bit or a TLV value is longer
    /// than 65535 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.attr_type & AF_BIT != 0 {
            return Err(EncodeError::OutOfRange {
                what: "attribute type",
                value: self.attr_type.into(),
                max: 0x7fff,
            });
        }
        match &self.value {
            AttrValue::Basic(v) => {
                out.extend_from_slice(&(self.attr_type | AF_BIT).to_be_bytes());
                out.extend_from_slice(&v.to_be_bytes());
            }
            AttrValue::Variable(bytes) => {
                let len = u16::try_from(bytes.len()).map_err(|_| EncodeError::TooLong {
                    what: "attribute value",
                    len: bytes.len(),
                    max: 0xffff,
                })?;
                out.extend_from_slice(&self.attr_type.to_be_bytes());
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(bytes);
            }
        }
        Ok(())
    }

    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Attribute<'static> {
        let value = match self.value {
            AttrValue::Basic(v) => AttrValue::Basic(v),
            AttrValue::Variable(b) => AttrValue::Variable(Cow::Owned(b.into_owned())),
        };
        Attribute {
            attr_type: self.attr_type,
            value,
        }
    }
}

/// Appends every attribute of `attrs`.
pub fn encode_all(attrs: &[Attribute<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    attrs.iter().try_for_each(|a| a.encode(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::notify;

    #[test]
    fn golden_tv_and_tlv() {
        // ENCRYPTION_ALGORITHM=AES_CBC (TV) and LIFE_DURATION=86400 in 4 bytes (TLV).
        let data = hex::decode("80010007000c000400015180").unwrap();
        let mut r = Reader::new(&data);
        let attrs = Attribute::read_all(&mut r).unwrap();
        assert_eq!(
            attrs,
            vec![
                Attribute::basic(1, 7),
                Attribute::variable(12, vec![0, 1, 0x51, 0x80])
            ]
        );
        assert_eq!(attrs[1].as_u64(), Ok(86400));
        assert!(attrs[0].is_basic() && !attrs[1].is_basic());
        let mut out = Vec::new();
        encode_all(&attrs, &mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn from_u64_picks_the_form() {
        assert_eq!(
            Attribute::from_u64(12, 0xffff),
            Attribute::basic(12, 0xffff)
        );
        assert_eq!(
            Attribute::from_u64(12, 0x10000),
            Attribute::variable(12, vec![0, 1, 0, 0])
        );
        assert_eq!(
            Attribute::from_u64(12, 0x1_0000_0000),
            Attribute::variable(12, vec![1, 0, 0, 0, 0])
        );
        assert_eq!(Attribute::from_u64(12, u64::MAX).as_u64(), Ok(u64::MAX));
    }

    #[test]
    fn as_u64_limits() {
        assert_eq!(Attribute::variable(1, vec![]).as_u64(), Ok(0));
        let nine_with_zero = Attribute::variable(1, vec![0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(nine_with_zero.as_u64(), Ok(0x0102_0304_0506_0708));
        let err = Attribute::variable(1, vec![1; 9]).as_u64().unwrap_err();
        assert_eq!(err.notify(), notify::ATTRIBUTES_NOT_SUPPORTED);
    }

    #[test]
    fn truncated_attributes() {
        // TLV announcing 4 bytes, holding 3.
        let data = hex::decode("000c0004000151").unwrap();
        let err = Attribute::read_all(&mut Reader::at(&data, 40)).unwrap_err();
        assert_eq!(
            err,
            InvalidMessage::LengthPastEnd {
                what: "attribute",
                offset: 40,
                length: 4,
                left: 3
            }
        );
        assert_eq!(err.notify(), notify::PAYLOAD_MALFORMED);
        // TV cut after the type.
        let data = hex::decode("8001").unwrap();
        let err = Attribute::read_all(&mut Reader::new(&data)).unwrap_err();
        assert_eq!(err.notify(), notify::PAYLOAD_MALFORMED);
    }

    #[test]
    fn encode_refuses_what_does_not_fit() {
        assert!(Attribute::basic(0x8001, 1).encode(&mut Vec::new()).is_err());
        let big = Attribute::variable(1, vec![0; 0x10000]);
        assert!(big.encode(&mut Vec::new()).is_err());
        let max = Attribute::variable(1, vec![0; 0xffff]);
        assert!(max.encode(&mut Vec::new()).is_ok());
    }
}
