//! ISAKMP (RFC 2408) message codec for IKEv1: header, payloads, attributes; parse and
//! build.
//!
//! Parsing borrows from the input: payload data are [`std::borrow::Cow::Borrowed`]
//! slices of it, and [`Parsed::raw`] is each payload as received. Every length field is
//! checked before use through a bounded [`Reader`]; no input makes the codec panic. An
//! error is an [`InvalidMessage`] that knows the RFC 2408 NOTIFY type answering it and
//! the offset where it was found.
//!
//! What the codec checks, and what it leaves to the exchange layer:
//!
//! * Header ([`Header::parse`]): at least 28 bytes (PAYLOAD-MALFORMED), length equal to
//!   the datagram's (UNEQUAL-PAYLOAD-LENGTHS), version 1.0 (INVALID-MAJOR-VERSION,
//!   INVALID-MINOR-VERSION), no unknown flags (INVALID-FLAGS), a non-zero initiator
//!   cookie (INVALID-COOKIE). Not the exchange type or the message ID.
//! * Payload chains ([`parse_payloads`]): every generic length at least 4, within the
//!   bytes left and at least the type's [`payload::min_body_len`] (PAYLOAD-MALFORMED);
//!   nothing after the last payload unless asked (UNEQUAL-PAYLOAD-LENGTHS); Proposal and
//!   Transform outside an SA (INVALID-PAYLOAD-TYPE). Unknown payload types are kept as
//!   [`Payload::Unknown`]: whether they are acceptable is the exchange's decision.
//! * SA ([`sa`]): proposal and transform chains (BAD-PROPOSAL-SYNTAX for inconsistent
//!   next-payload fields or transform counts, PAYLOAD-MALFORMED for lengths); SPIs are
//!   kept as sent, whatever their size.
//! * NOTIFY: the SPI within the body; DELETE: `count * spi_size` equal to the rest of
//!   the body (both PAYLOAD-MALFORMED).
//! * Not checked: NONCE sizes (8 to 256 bytes, RFC 2409), hash, signature and KE sizes,
//!   ID and NAT-OA address sizes, DOI and protocol values, reserved fields (ignored on
//!   input, zero on output).
//!
//! Building: `encode` appends to a `Vec<u8>`; chain and message encoders fill in the
//! next-payload and length fields, and refuse with [`EncodeError`] any value that does
//! not fit its field (an SPI over 255 bytes, a payload over 65535 bytes...).

#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

pub mod attribute;
pub mod error;
mod generic;
pub mod header;
pub mod message;
pub mod payload;
pub mod reader;
pub mod sa;

pub use attribute::{AttrValue, Attribute};
pub use error::{notify, EncodeError, InvalidMessage};
pub use generic::{GENERIC_LEN, MAX_PAYLOAD_LEN};
pub use header::Header;
pub use message::{
    encode_message, encode_message_body, encode_payloads, parse_message, parse_payloads,
    parse_payloads_at, set_message_length, Parsed,
};
pub use payload::{
    payload_type, AttributePayload, Cert, CertReq, Delete, Hash, Id, Ke, NatD, NatOa, Nonce,
    Notify, Payload, Sig, Unknown, VendorId,
};
pub use reader::Reader;
pub use sa::{Proposal, Sa, Transform};
