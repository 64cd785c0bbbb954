//! ECP Diffie-Hellman over the NIST curves, groups 19-21 (RFC 5903).
//!
//! The KE payload carries x || y, each coordinate zero-padded to the field
//! size, without the SEC1 0x04 prefix; the shared secret is the x coordinate
//! of the product alone (RFC 5903 sections 7 and 9).

use crypto_bigint::{NonZero, U640};
use p256::elliptic_curve::bigint::ArrayEncoding;
use p256::elliptic_curve::sec1::{FromSec1Point, ModulusSize, ToSec1Point};
use p256::elliptic_curve::{
    AffinePoint, CurveArithmetic, FieldBytes, FieldBytesSize, PublicKey, SecretKey,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Bytes of the wide value reduced into a scalar: U640 holds every curve's
/// order plus 64 bits.
const WIDE: usize = 80;

/// One ECP group.
#[derive(Debug)]
pub struct EcpGroup {
    /// GROUP_DESCRIPTION value.
    pub id: u16,
    /// Bits of the curve order.
    pub order_bits: u32,
    /// Bytes of one coordinate (the field size).
    pub coordinate_len: usize,
}

const GROUPS: [EcpGroup; 3] = [
    EcpGroup {
        id: 19,
        order_bits: 256,
        coordinate_len: 32,
    },
    EcpGroup {
        id: 20,
        order_bits: 384,
        coordinate_len: 48,
    },
    EcpGroup {
        id: 21,
        order_bits: 521,
        coordinate_len: 66,
    },
];

impl EcpGroup {
    /// The ECP group with GROUP_DESCRIPTION `id`, if it is one.
    pub fn find(id: u16) -> Option<&'static EcpGroup> {
        GROUPS.iter().find(|g| g.id == id)
    }

    /// Length of a public value (x || y) in bytes.
    pub fn public_len(&self) -> usize {
        2 * self.coordinate_len
    }

    /// Random bytes the private scalar is derived from: the order's length
    /// plus 64 bits, so that the reduction's bias is below 2^-64.
    pub fn random_len(&self) -> usize {
        (self.order_bits + 64).div_ceil(8) as usize
    }
}

/// An ECP private scalar, zeroized on drop.
pub enum EcpPrivate {
    /// Group 19, P-256.
    P256(SecretKey<p256::NistP256>),
    /// Group 20, P-384.
    P384(SecretKey<p384::NistP384>),
    /// Group 21, P-521.
    P521(SecretKey<p521::NistP521>),
}

impl ZeroizeOnDrop for EcpPrivate {}

impl EcpPrivate {
    /// The scalar (v mod (n-1)) + 1, in [1, n-1], where v is the big-endian
    /// value of the first `group.random_len()` bytes of `random`.
    pub fn new(group: &'static EcpGroup, random: &[u8]) -> Result<Self> {
        let needed = group.random_len();
        let Some(src) = random.get(..needed) else {
            return Err(Error::NotEnoughRandom {
                needed,
                len: random.len(),
            });
        };
        match group.id {
            19 => Ok(EcpPrivate::P256(derive_scalar(src)?)),
            20 => Ok(EcpPrivate::P384(derive_scalar(src)?)),
            21 => Ok(EcpPrivate::P521(derive_scalar(src)?)),
            other => Err(Error::UnknownGroup(other)),
        }
    }

    /// The public value x || y.
    pub fn public(&self) -> Vec<u8> {
        match self {
            EcpPrivate::P256(k) => public_of(k),
            EcpPrivate::P384(k) => public_of(k),
            EcpPrivate::P521(k) => public_of(k),
        }
    }

    /// Checks a peer's public value (x || y) as [`EcpPrivate::compute`]
    /// does, without the multiplication.
    pub fn check_peer(&self, peer: &[u8]) -> Result<()> {
        match self {
            EcpPrivate::P256(_) => peer_point::<p256::NistP256>(peer).map(|_| ()),
            EcpPrivate::P384(_) => peer_point::<p384::NistP384>(peer).map(|_| ()),
            EcpPrivate::P521(_) => peer_point::<p521::NistP521>(peer).map(|_| ()),
        }
    }

    /// The x coordinate of the product of the peer's point (x || y, checked
    /// to be on the curve) and our scalar.
    pub fn compute(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            EcpPrivate::P256(k) => shared_x(k, peer),
            EcpPrivate::P384(k) => shared_x(k, peer),
            EcpPrivate::P521(k) => shared_x(k, peer),
        }
    }
}

/// (v mod (n-1)) + 1 in constant time (FIPS 186-5 A.2.1 style).
fn derive_scalar<C>(src: &[u8]) -> Result<SecretKey<C>>
where
    C: CurveArithmetic,
{
    let order = C::ORDER.as_ref().to_be_byte_array();
    let (Some(src_at), Some(order_at)) =
        (WIDE.checked_sub(src.len()), WIDE.checked_sub(order.len()))
    else {
        return Err(Error::Internal(
            "curve order or random input wider than 640 bits",
        ));
    };
    let mut wide = Zeroizing::new([0u8; WIDE]);
    wide[src_at..].copy_from_slice(src);
    let mut n = [0u8; WIDE];
    n[order_at..].copy_from_slice(&order);
    let n_minus_1 = U640::from_be_slice(&n).wrapping_sub(&U640::ONE);
    let Some(modulus) = NonZero::new(n_minus_1).into_option() else {
        return Err(Error::Internal("curve order of 1"));
    };
    let mut v = U640::from_be_slice(wide.as_slice());
    let mut s = v.rem(&modulus).wrapping_add(&U640::ONE);
    v.zeroize();
    let s_bytes = Zeroizing::new(s.to_be_bytes().as_ref().to_vec());
    s.zeroize();
    let field_len = FieldBytes::<C>::default().len();
    let start = s_bytes.len().saturating_sub(field_len);
    // 1 <= s <= n-1: always a valid secret key.
    SecretKey::<C>::from_slice(s_bytes.get(start..).unwrap_or_default())
        .map_err(|_| Error::Internal("derived scalar out of range"))
}

fn public_of<C>(key: &SecretKey<C>) -> Vec<u8>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let point = key.public_key().to_sec1_point(false);
    // Uncompressed SEC1: 0x04 || x || y.
    point.as_bytes().get(1..).unwrap_or_default().to_vec()
}

/// The peer's point from x || y: the length checked, coordinates outside
/// the field, points off the curve and the identity refused.
fn peer_point<C>(peer: &[u8]) -> Result<PublicKey<C>>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let expected = 2 * FieldBytes::<C>::default().len();
    if peer.len() != expected {
        return Err(Error::PublicLength {
            expected,
            len: peer.len(),
        });
    }
    let mut sec1 = Vec::with_capacity(expected + 1);
    sec1.push(0x04);
    sec1.extend_from_slice(peer);
    PublicKey::<C>::from_sec1_bytes(&sec1).map_err(|_| Error::PublicNotOnCurve)
}

// TODO(perf): the RustCrypto curves take 2-5x OpenSSL's time for this
// variable-base multiplication (P-256 ~0.2 ms against 45 us).
fn shared_x<C>(key: &SecretKey<C>, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let peer = peer_point::<C>(peer)?;
    let shared = key.diffie_hellman(&peer);
    Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use p256::elliptic_curve::Curve;

    use super::*;

    #[test]
    fn random_lengths() {
        let lens: Vec<usize> = GROUPS.iter().map(|g| g.random_len()).collect();
        assert_eq!(lens, [40, 56, 74]);
    }

    #[test]
    fn scalar_is_one_for_zero_and_n_minus_1() {
        // v = 0 gives 1; v = n-1 wraps to 0 and gives 1 again.
        let g = EcpGroup::find(19).expect("group 19");
        let one = EcpPrivate::new(g, &[0u8; 40]).expect("scalar");
        let gen = p256::AffinePoint::GENERATOR.to_sec1_point(false);
        assert_eq!(one.public(), gen.as_bytes()[1..].to_vec());
        let mut n_minus_1 = [0u8; 40];
        n_minus_1[8..].copy_from_slice(&p256::NistP256::ORDER.as_ref().to_be_byte_array());
        n_minus_1[39] -= 1;
        let again = EcpPrivate::new(g, &n_minus_1).expect("scalar");
        assert_eq!(again.public(), one.public());
    }
}
