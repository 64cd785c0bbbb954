//! Errors of the codec.
//!
//! [`InvalidMessage`] is what parsing a peer's bytes can give; every variant knows the
//! RFC 2408 NOTIFY message type that answers it ([`InvalidMessage::notify`]) and the byte
//! offset where the problem was found. [`EncodeError`] is what building a message from
//! values that do not fit on the wire gives; it is never the peer's fault.

use core::fmt;

/// RFC 2408 section 3.14.1 NOTIFY message types that the codec reports.
pub mod notify {
    /// INVALID-PAYLOAD-TYPE
    pub const INVALID_PAYLOAD_TYPE: u16 = 1;
    /// INVALID-COOKIE
    pub const INVALID_COOKIE: u16 = 4;
    /// INVALID-MAJOR-VERSION
    pub const INVALID_MAJOR_VERSION: u16 = 5;
    /// INVALID-MINOR-VERSION
    pub const INVALID_MINOR_VERSION: u16 = 6;
    /// INVALID-FLAGS
    pub const INVALID_FLAGS: u16 = 8;
    /// ATTRIBUTES-NOT-SUPPORTED
    pub const ATTRIBUTES_NOT_SUPPORTED: u16 = 13;
    /// BAD-PROPOSAL-SYNTAX
    pub const BAD_PROPOSAL_SYNTAX: u16 = 15;
    /// PAYLOAD-MALFORMED
    pub const PAYLOAD_MALFORMED: u16 = 16;
    /// UNEQUAL-PAYLOAD-LENGTHS
    pub const UNEQUAL_PAYLOAD_LENGTHS: u16 = 30;
}

/// Why a message, or a part of one, cannot be accepted.
///
/// `what` names the structure or field being read, `offset` is the byte offset in the
/// buffer given to the parser (the whole datagram for [`crate::parse_message`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidMessage {
    /// A fixed-size field needs more bytes than are left.
    Truncated {
        what: &'static str,
        offset: usize,
        needed: usize,
        left: usize,
    },
    /// A length field is smaller than the least its structure can have.
    LengthTooSmall {
        what: &'static str,
        offset: usize,
        length: usize,
        min: usize,
    },
    /// A length field runs past the end of the bytes that contain it.
    LengthPastEnd {
        what: &'static str,
        offset: usize,
        length: usize,
        left: usize,
    },
    /// The header's length is not the length of the datagram.
    UnequalLength {
        offset: usize,
        declared: u32,
        actual: usize,
    },
    /// Bytes follow the last payload of the chain (next payload 0).
    TrailingBytes { offset: usize, count: usize },
    /// A payload type that cannot stand in a payload chain (Proposal, Transform).
    InvalidPayloadType { offset: usize, payload_type: u8 },
    /// The header's major version is not 1.
    InvalidMajorVersion { offset: usize, major: u8 },
    /// The header's minor version is not 0.
    InvalidMinorVersion { offset: usize, minor: u8 },
    /// The header's flags have bits other than ENC, COMMIT and AUTH_ONLY.
    InvalidFlags { offset: usize, flags: u8 },
    /// The initiator cookie is all zero.
    InvalidCookie { offset: usize },
    /// A Proposal (`what` = "proposal") or Transform ("transform") header whose
    /// next-payload field is neither 0 nor the type of its kind.
    BadChainType {
        what: &'static str,
        offset: usize,
        next: u8,
    },
    /// The last Proposal or Transform (next payload 0) is followed by more bytes.
    ChainEndsEarly {
        what: &'static str,
        offset: usize,
        left: usize,
    },
    /// A Proposal or Transform says another follows, but no bytes are left.
    ChainMissing { what: &'static str, offset: usize },
    /// A proposal's transform count disagrees with the transforms present.
    TransformCount {
        offset: usize,
        declared: u8,
        found: usize,
    },
    /// A DELETE whose `count * spi_size` is not the rest of its body.
    DeleteSpis {
        offset: usize,
        count: u16,
        spi_size: u8,
        left: usize,
    },
    /// A DELETE of SPIs of size 0 (which would make up to 65535 SPIs out of nothing).
    DeleteEmptySpis { offset: usize, count: u16 },
    /// A variable attribute value too long to be read as an integer.
    AttributeTooLong { attr_type: u16, length: usize },
}

impl InvalidMessage {
    /// The RFC 2408 NOTIFY message type that answers this error.
    pub fn notify(&self) -> u16 {
        use InvalidMessage::*;
        match self {
            Truncated { .. } | LengthTooSmall { .. } | LengthPastEnd { .. } => {
                notify::PAYLOAD_MALFORMED
            }
            DeleteSpis { .. } | DeleteEmptySpis { .. } => notify::PAYLOAD_MALFORMED,
            UnequalLength { .. } | TrailingBytes { .. } => notify::UNEQUAL_PAYLOAD_LENGTHS,
            InvalidPayloadType { .. } => notify::INVALID_PAYLOAD_TYPE,
            InvalidMajorVersion { .. } => notify::INVALID_MAJOR_VERSION,
            InvalidMinorVersion { .. } => notify::INVALID_MINOR_VERSION,
            InvalidFlags { .. } => notify::INVALID_FLAGS,
            InvalidCookie { .. } => notify::INVALID_COOKIE,
            BadChainType { .. }
            | ChainEndsEarly { .. }
            | ChainMissing { .. }
            | TransformCount { .. } => notify::BAD_PROPOSAL_SYNTAX,
            AttributeTooLong { .. } => notify::ATTRIBUTES_NOT_SUPPORTED,
        }
    }

    /// The byte offset where the problem was found, if it has one.
    pub fn offset(&self) -> Option<usize> {
        use InvalidMessage::*;
        match self {
            Truncated { offset, .. }
            | LengthTooSmall { offset, .. }
            | LengthPastEnd { offset, .. }
            | UnequalLength { offset, .. }
            | TrailingBytes { offset, .. }
            | InvalidPayloadType { offset, .. }
            | InvalidMajorVersion { offset, .. }
            | InvalidMinorVersion { offset, .. }
            | InvalidFlags { offset, .. }
            | InvalidCookie { offset }
            | BadChainType { offset, .. }
            | ChainEndsEarly { offset, .. }
            | ChainMissing { offset, .. }
            | TransformCount { offset, .. }
            | DeleteSpis { offset, .. }
            | DeleteEmptySpis { offset, .. } => Some(*offset),
            AttributeTooLong { .. } => None,
        }
    }

    /// The reason in words, without the offset.
    pub fn reason(&self) -> String {
        use InvalidMessage::*;
        match self {
            Truncated {
                what, needed, left, ..
            } => {
                format!("{what} truncated: needs {needed} bytes, {left} left")
            }
            LengthTooSmall {
                what, length, min, ..
            } => {
                format!("{what} length {length} is below the minimum {min}")
            }
            LengthPastEnd {
                what, length, left, ..
            } => {
                format!("{what} length {length} runs past the end ({left} bytes left)")
            }
            UnequalLength {
                declared, actual, ..
            } => {
                format!("header length {declared} differs from the message length {actual}")
            }
            TrailingBytes { count, .. } => {
                format!("{count} bytes after the last payload")
            }
            InvalidPayloadType { payload_type, .. } => {
                format!("payload type {payload_type} cannot appear in a payload chain")
            }
            InvalidMajorVersion { major, .. } => format!("major version {major}, not 1"),
            InvalidMinorVersion { minor, .. } => format!("minor version {minor}, not 0"),
            InvalidFlags { flags, .. } => format!("unknown flags in 0x{flags:02x}"),
            InvalidCookie { .. } => "initiator cookie is zero".to_string(),
            BadChainType { what, next, .. } => {
                format!("{what} payload followed by payload type {next}")
            }
            ChainEndsEarly { what, left, .. } => {
                format!("{left} bytes after the last {what}")
            }
            ChainMissing { what, .. } => {
                format!("{what} announces another {what}, but none is left")
            }
            TransformCount {
                declared, found, ..
            } => {
                format!("proposal declares {declared} transforms but holds {found}")
            }
            DeleteSpis {
                count,
                spi_size,
                left,
                ..
            } => {
                format!("DELETE of {count} SPIs of {spi_size} bytes, but {left} bytes left")
            }
            DeleteEmptySpis { count, .. } => format!("DELETE of {count} SPIs of size 0"),
            AttributeTooLong { attr_type, length } => {
                format!("attribute {attr_type} value of {length} bytes is too long")
            }
        }
    }
}

impl fmt::Display for InvalidMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason())?;
        if let Some(offset) = self.offset() {
            write!(f, " at offset {offset}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidMessage {}

/// A value that cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A length that does not fit its length field.
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// A number that does not fit its field.
    OutOfRange {
        what: &'static str,
        value: u64,
        max: u64,
    },
    /// A length that disagrees with another field of the same structure.
    Inconsistent {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    /// A combination of values the wire format cannot say.
    Invalid { what: &'static str },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLong { what, len, max } => {
                write!(f, "{what} is {len} bytes long, more than {max}")
            }
            EncodeError::OutOfRange { what, value, max } => {
                write!(f, "{what} {value} is above {max}")
            }
            EncodeError::Inconsistent {
                what,
                expected,
                found,
            } => {
                write!(f, "{what} is {found} bytes long, expected {expected}")
            }
            EncodeError::Invalid { what } => f.write_str(what),
        }
    }
}

impl std::error::Error for EncodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_reason_and_offset() {
        let e = InvalidMessage::LengthTooSmall {
            what: "KE",
            offset: 28,
            length: 4,
            min: 5,
        };
        assert_eq!(
            e.to_string(),
            "KE length 4 is below the minimum 5 at offset 28"
        );
        assert_eq!(e.notify(), notify::PAYLOAD_MALFORMED);
        let e = InvalidMessage::AttributeTooLong {
            attr_type: 12,
            length: 9,
        };
        assert_eq!(e.offset(), None);
        assert_eq!(e.to_string(), "attribute 12 value of 9 bytes is too long");
        assert_eq!(e.notify(), notify::ATTRIBUTES_NOT_SUPPORTED);
    }

    #[test]
    fn encode_error_display() {
        let e = EncodeError::TooLong {
            what: "SPI",
            len: 300,
            max: 255,
        };
        assert_eq!(e.to_string(), "SPI is 300 bytes long, more than 255");
    }
}
