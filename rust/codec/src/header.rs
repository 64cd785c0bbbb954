//! The 28-byte ISAKMP header (RFC 2408 section 3.1).

use crate::error::{EncodeError, InvalidMessage};
use crate::reader::Reader;

/// Header flag: the payloads after the header are encrypted.
pub const FLAG_ENC: u8 = 1;
/// Header flag: commit (RFC 2408 section 3.1).
pub const FLAG_COMMIT: u8 = 2;
/// Header flag: authentication only.
pub const FLAG_AUTH_ONLY: u8 = 4;
/// Every flag RFC 2408 defines.
pub const FLAGS_ALL: u8 = FLAG_ENC | FLAG_COMMIT | FLAG_AUTH_ONLY;

/// The ISAKMP header. Values are kept as sent; [`Header::check`] tells whether they are
/// acceptable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    pub icookie: [u8; 8],
    pub rcookie: [u8; 8],
    pub next_payload: u8,
    /// High nibble of the version octet.
    pub major: u8,
    /// Low nibble of the version octet.
    pub minor: u8,
    pub exchange_type: u8,
    pub flags: u8,
    pub message_id: u32,
    /// Total message length, header included.
    pub length: u32,
}

impl Header {
    /// Length of the header on the wire.
    pub const LEN: usize = 28;

    /// Reads the 28 header bytes, without judging them.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let icookie = r.array("initiator cookie")?;
        let rcookie = r.array("responder cookie")?;
        let next_payload = r.u8("next payload")?;
        let version = r.u8("version")?;
        Ok(Header {
            icookie,
            rcookie,
            next_payload,
            major: version >> 4,
            minor: version & 0x0f,
            exchange_type: r.u8("exchange type")?,
            flags: r.u8("flags")?,
            message_id: r.u32("message ID")?,
            length: r.u32("message length")?,
        })
    }

    /// Parses and checks the header of the datagram `data` (after any non-ESP marker):
    /// see [`Header::check`]. Fewer than 28 bytes is PAYLOAD-MALFORMED.
    pub fn parse(data: &[u8]) -> Result<Self, InvalidMessage> {
        if data.len() < Self::LEN {
            return Err(InvalidMessage::Truncated {
                what: "ISAKMP header",
                offset: 0,
                needed: Self::LEN,
                left: data.len(),
            });
        }
        let header = Self::read(&mut Reader::new(data))?;
        header.check(data.len())?;
        Ok(header)
    }

    /// Checks, in this order: `length` equals `datagram_len` (UNEQUAL-PAYLOAD-LENGTHS),
    /// major version 1 (INVALID-MAJOR-VERSION), minor version 0
    /// (INVALID-MINOR-VERSION), no flags but ENC, COMMIT and AUTH_ONLY (INVALID-FLAGS),
    /// a non-zero initiator cookie (INVALID-COOKIE). The exchange type and message ID
    /// are the exchange layer's business.
    pub fn check(&self, datagram_len: usize) -> Result<(), InvalidMessage> {
        if usize::try_from(self.length).ok() != Some(datagram_len) {
            return Err(InvalidMessage::UnequalLength {
                offset: 24,
                declared: self.length,
                actual: datagram_len,
            });
        }
        if self.major != 1 {
            return Err(InvalidMessage::InvalidMajorVersion {
                offset: 17,
                major: self.major,
            });
        }
        if self.minor != 0 {
            return Err(InvalidMessage::InvalidMinorVersion {
                offset: 17,
                minor: self.minor,
            });
        }
        if self.flags & !FLAGS_ALL != 0 {
            return Err(InvalidMessage::InvalidFlags {
                offset: 19,
                flags: self.flags,
            });
        }
        if self.icookie == [0; 8] {
            return Err(InvalidMessage::InvalidCookie { offset: 0 });
        }
        Ok(())
    }

    /// Appends the 28 header bytes, `length` as set. Fails if a version nibble is above 15.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for (what, v) in [("major version", self.major), ("minor version", self.minor)] {
            if v > 0x0f {
                return Err(EncodeError::OutOfRange {
                    what,
                    value: v.into(),
                    max: 0x0f,
                });
            }
        }
        out.reserve(Self::LEN);
        out.extend_from_slice(&self.icookie);
        out.extend_from_slice(&self.rcookie);
        out.extend_from_slice(&[
            self.next_payload,
            (self.major << 4) | self.minor,
            self.exchange_type,
            self.flags,
        ]);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::notify;

    // Main Mode message 1 of the mm-psk-aes capture (strongSwan 5.9.8), header only.
    const MM1_HEADER: &str = "afe19217707b9d6d00000000000000000110020000000000000000b4";

    fn header_bytes(len: usize) -> Vec<u8> {
        let mut data = hex::decode(MM1_HEADER).unwrap();
        data.resize(len, 0);
        data
    }

    #[test]
    fn parses_golden_header() {
        let data = header_bytes(180);
        let h = Header::parse(&data).unwrap();
        assert_eq!(h.icookie, [0xaf, 0xe1, 0x92, 0x17, 0x70, 0x7b, 0x9d, 0x6d]);
        assert_eq!(h.rcookie, [0; 8]);
        assert_eq!((h.next_payload, h.major, h.minor), (1, 1, 0));
        assert_eq!(
            (h.exchange_type, h.flags, h.message_id, h.length),
            (2, 0, 0, 180)
        );
        let mut out = Vec::new();
        h.encode(&mut out).unwrap();
        assert_eq!(out, &data[..28]);
    }

    #[test]
    fn checks_in_order() {
        let cases: &[(usize, u8, u8, u16)] = &[
            // (byte index, value, mask to clear first, expected notify)
            (17, 0x20, 0xff, notify::INVALID_MAJOR_VERSION),
            (17, 0x11, 0xff, notify::INVALID_MINOR_VERSION),
            (19, 0x08, 0xff, notify::INVALID_FLAGS),
            (19, 0x80, 0xff, notify::INVALID_FLAGS),
            (27, 0xb5, 0xff, notify::UNEQUAL_PAYLOAD_LENGTHS),
        ];
        for &(index, value, _, expected) in cases {
            let mut data = header_bytes(180);
            data[index] = value;
            let err = Header::parse(&data).unwrap_err();
            assert_eq!(err.notify(), expected, "byte {index} = {value:#x}: {err}");
        }
        let mut data = header_bytes(180);
        data[..8].fill(0);
        assert_eq!(
            Header::parse(&data).unwrap_err(),
            InvalidMessage::InvalidCookie { offset: 0 }
        );
        let mut data = header_bytes(180);
        data[19] = 7;
        assert!(
            Header::parse(&data).is_ok(),
            "all three defined flags are fine"
        );
        let err = Header::parse(&header_bytes(180)[..27]).unwrap_err();
        assert_eq!(err.notify(), notify::PAYLOAD_MALFORMED);
        let err = Header::parse(&header_bytes(181)).unwrap_err();
        assert_eq!(
            err,
            InvalidMessage::UnequalLength {
                offset: 24,
                declared: 180,
                actual: 181
            }
        );
    }

    #[test]
    fn encode_refuses_wide_nibbles() {
        let h = Header {
            major: 16,
            ..Header::default()
        };
        assert!(h.encode(&mut Vec::new()).is_err());
    }
}
