//! The one error type of the crate.

use core::fmt;

/// NOTIFY message type INVALID-KEY-INFORMATION (RFC 2408 3.14.1).
pub const INVALID_KEY_INFORMATION: u16 = 17;

/// Why a cryptographic operation was refused.
///
/// Every variant is either a bad argument from the caller (NOTIFY 0) or a
/// peer's invalid value ([`Error::notify`] gives the NOTIFY type to answer
/// with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A HASH_ALGORITHM value this crate does not implement.
    UnknownHash(u16),
    /// An ENCRYPTION_ALGORITHM value this crate does not implement.
    UnknownCipher(u16),
    /// A GROUP_DESCRIPTION value this crate does not implement.
    UnknownGroup(u16),
    /// A key length (bytes) the cipher does not accept.
    KeyLength { enc_alg: u16, len: usize },
    /// A 3DES key made of weak or repeated DES keys.
    WeakKey,
    /// An IV whose length is not the block size.
    IvLength { expected: usize, len: usize },
    /// Data that is not a whole number of blocks (or empty where not allowed).
    DataLength { block_size: usize, len: usize },
    /// A private exponent length outside what the group allows.
    ExponentBits { group: u16, bits: u32 },
    /// Fewer random bytes than the private value needs.
    NotEnoughRandom { needed: usize, len: usize },
    /// A peer's DH public value of the wrong length.
    PublicLength { expected: usize, len: usize },
    /// A peer's MODP public value outside 1 < y < p-1.
    PublicOutOfRange,
    /// A peer's ECP public value that is not a point on the curve.
    PublicNotOnCurve,
    /// A cookie that is not 8 bytes.
    CookieLength(usize),
    /// A KEYMAT or key length beyond what this crate derives.
    OutputLength(usize),
    /// commit() with no decrypted message pending for the message ID.
    NothingToCommit(u32),
    /// A condition the code rules out; reported rather than panicking.
    Internal(&'static str),
}

impl Error {
    /// The NOTIFY message type that answers this error when it came from a
    /// peer's value, else 0.
    pub fn notify(&self) -> u16 {
        match self {
            Error::PublicLength { .. } | Error::PublicOutOfRange | Error::PublicNotOnCurve => {
                INVALID_KEY_INFORMATION
            }
            _ => 0,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownHash(id) => write!(f, "unsupported hash algorithm {id}"),
            Error::UnknownCipher(id) => write!(f, "unsupported encryption algorithm {id}"),
            Error::UnknownGroup(id) => write!(f, "unsupported Oakley group {id}"),
            Error::KeyLength { enc_alg, len } => {
                write!(
                    f,
                    "key length {len} bytes not valid for encryption algorithm {enc_alg}"
                )
            }
            Error::WeakKey => write!(f, "weak 3DES key"),
            Error::IvLength { expected, len } => {
                write!(f, "IV of {len} bytes, the block size is {expected}")
            }
            Error::DataLength { block_size, len } => {
                write!(
                    f,
                    "{len} bytes is not a whole number of {block_size}-byte blocks"
                )
            }
            Error::ExponentBits { group, bits } => {
                write!(
                    f,
                    "private exponent of {bits} bits not allowed for group {group}"
                )
            }
            Error::NotEnoughRandom { needed, len } => {
                write!(f, "{len} random bytes given, {needed} needed")
            }
            Error::PublicLength { expected, len } => {
                write!(f, "DH public value of {len} bytes, expected {expected}")
            }
            Error::PublicOutOfRange => write!(f, "DH public value outside 1 < y < p-1"),
            Error::PublicNotOnCurve => write!(f, "DH public value is not a point on the curve"),
            Error::CookieLength(len) => write!(f, "cookie of {len} bytes, expected 8"),
            Error::OutputLength(len) => write!(f, "output length {len} too large"),
            Error::Internal(what) => write!(f, "internal error: {what}"),
            Error::NothingToCommit(mid) => {
                write!(
                    f,
                    "no decrypted message pending under message ID {mid:#010x}"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

/// Result with this crate's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
