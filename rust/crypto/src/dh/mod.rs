//! Oakley Diffie-Hellman: MODP groups 1, 2, 5, 14-18 and ECP groups 19-21.
//!
//! A [`DhKey`] holds the private value (zeroized on drop) and its public
//! value. The private value comes from random bytes the caller supplies, so
//! that a seeded daemon is reproducible.

mod adx;
mod ecp;
mod modp;
mod mont;
mod primes;
pub mod workers;

pub use ecp::{EcpGroup, EcpPrivate};
pub use modp::{check_public as check_modp_public, ModpGroup, ModpPrivate, MIN_EXP_BITS};

use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// The kind of an Oakley group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// Modular exponentiation over a safe prime.
    Modp,
    /// Elliptic curve over a prime field.
    Ecp,
}

/// What `group_info` reports about a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupInfo {
    /// MODP or ECP.
    pub kind: GroupKind,
    /// Bytes of a public value (the KE payload data).
    pub public_len: usize,
    /// Default private exponent bits (MODP: twice the strength; ECP: the
    /// bits of the curve order).
    pub default_exp_bits: u32,
}

/// Facts about the group with GROUP_DESCRIPTION `group`.
pub fn group_info(group: u16) -> Result<GroupInfo> {
    if let Some(g) = ModpGroup::find(group) {
        return Ok(GroupInfo {
            kind: GroupKind::Modp,
            public_len: g.byte_len(),
            default_exp_bits: g.default_exp_bits,
        });
    }
    if let Some(g) = EcpGroup::find(group) {
        return Ok(GroupInfo {
            kind: GroupKind::Ecp,
            public_len: g.public_len(),
            default_exp_bits: g.order_bits,
        });
    }
    Err(Error::UnknownGroup(group))
}

/// How many random bytes [`DhKey::new`] needs for `group` at `exp_bits`
/// (`exp_bits` is ignored for ECP groups).
pub fn random_bytes_needed(group: u16, exp_bits: Option<u32>) -> Result<usize> {
    if let Some(g) = ModpGroup::find(group) {
        return Ok(g.exp_bits(exp_bits)?.div_ceil(8) as usize);
    }
    if let Some(g) = EcpGroup::find(group) {
        return Ok(g.random_len());
    }
    Err(Error::UnknownGroup(group))
}

/// The private half of a [`DhKey`].
#[derive(ZeroizeOnDrop)]
enum Private {
    Modp(ModpPrivate),
    Ecp(EcpPrivate),
}

/// An Oakley DH private value and its public value.
#[derive(ZeroizeOnDrop)]
pub struct DhKey {
    #[zeroize(skip)]
    group: u16,
    #[zeroize(skip)]
    public: Vec<u8>,
    private: Private,
}

impl DhKey {
    /// A private value for `group` from `random` (see
    /// [`random_bytes_needed`]); `exp_bits` sets a MODP private exponent's
    /// length (None: the group default; 0: the prime's length minus one) and
    /// is ignored for ECP groups.
    pub fn new(group: u16, random: &[u8], exp_bits: Option<u32>) -> Result<DhKey> {
        let private = if let Some(g) = ModpGroup::find(group) {
            Private::Modp(ModpPrivate::new(g, random, exp_bits)?)
        } else if let Some(g) = EcpGroup::find(group) {
            Private::Ecp(EcpPrivate::new(g, random)?)
        } else {
            return Err(Error::UnknownGroup(group));
        };
        let public = match &private {
            Private::Modp(k) => k.public(),
            Private::Ecp(k) => k.public(),
        };
        Ok(DhKey {
            group,
            public,
            private,
        })
    }

    /// The GROUP_DESCRIPTION value.
    pub fn group(&self) -> u16 {
        self.group
    }

    /// The public value: MODP big-endian padded to the prime's length, ECP
    /// x || y.
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// The shared secret g^xy with the peer's public value: MODP padded to
    /// the prime's length, ECP the x coordinate. A peer value of the wrong
    /// length, outside 1 < y < p-1 or off the curve is an error whose
    /// [`Error::notify`] is INVALID-KEY-INFORMATION.
    pub fn compute(&self, peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match &self.private {
            Private::Modp(k) => k.compute(peer_public),
            Private::Ecp(k) => k.compute(peer_public),
        }
    }

    /// Checks a peer's public value as [`DhKey::compute`] would (length,
    /// range, curve), without computing anything secret: cheap, so that a
    /// caller can refuse a bad value at once and leave the shared secret to
    /// another thread.
    pub fn check_peer(&self, peer_public: &[u8]) -> Result<()> {
        match &self.private {
            Private::Modp(k) => k.check_peer(peer_public),
            Private::Ecp(k) => k.check_peer(peer_public),
        }
    }
}
