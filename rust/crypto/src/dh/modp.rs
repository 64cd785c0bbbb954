//! MODP Diffie-Hellman over the Oakley groups 1, 2, 5 and 14-18.
//!
//! Exponentiation is Montgomery arithmetic of our own (`mont.rs`): g^x with
//! the generator 2 as a squaring and a modular doubling per bit, y^x with a
//! fixed window and a lookup that reads the whole table. Its running time
//! depends on the exponent's bit length (a public setting), never on the
//! exponent's value.

use std::sync::OnceLock;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::mont::{limbs_from_be, limbs_to_be, Montgomery};
use super::primes;
use crate::error::{Error, Result};

/// Smallest private exponent accepted: twice the 80-bit strength of the
/// weakest group (NIST SP 800-57).
pub const MIN_EXP_BITS: u32 = 160;

/// One MODP group.
#[derive(Debug)]
pub struct ModpGroup {
    /// GROUP_DESCRIPTION value.
    pub id: u16,
    /// Size of the prime in bits (a multiple of 64).
    pub bits: u32,
    /// Default private exponent length: twice the group's strength.
    pub default_exp_bits: u32,
    prime_hex: &'static str,
}

const fn group(id: u16, bits: u32, default_exp_bits: u32, prime_hex: &'static str) -> ModpGroup {
    ModpGroup {
        id,
        bits,
        default_exp_bits,
        prime_hex,
    }
}

#[rustfmt::skip]
const GROUPS: [ModpGroup; 8] = [
    group(1, 768, 160, primes::MODP_768),
    group(2, 1024, 160, primes::MODP_1024),
    group(5, 1536, 192, primes::MODP_1536),
    group(14, 2048, 224, primes::MODP_2048),
    group(15, 3072, 256, primes::MODP_3072),
    group(16, 4096, 304, primes::MODP_4096),
    group(17, 6144, 352, primes::MODP_6144),
    group(18, 8192, 400, primes::MODP_8192),
];

impl ModpGroup {
    /// The MODP group with GROUP_DESCRIPTION `id`, if it is one.
    pub fn find(id: u16) -> Option<&'static ModpGroup> {
        GROUPS.iter().find(|g| g.id == id)
    }

    /// Length of the prime, of public values and of the shared secret, in bytes.
    pub fn byte_len(&self) -> usize {
        (self.bits / 8) as usize
    }

    /// The prime as big-endian bytes.
    pub fn prime(&self) -> Vec<u8> {
        let nibble = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
        self.prime_hex
            .as_bytes()
            .chunks_exact(2)
            .map(|pair| pair.iter().fold(0u8, |acc, &c| acc << 4 | nibble(c)))
            .collect()
    }

    /// The private exponent length for a requested `exp_bits` (None: the
    /// group default; 0: the prime's length minus one).
    pub fn exp_bits(&self, exp_bits: Option<u32>) -> Result<u32> {
        let bits = match exp_bits {
            None => self.default_exp_bits,
            Some(0) => self.bits - 1,
            Some(b) => b,
        };
        if !(MIN_EXP_BITS..self.bits).contains(&bits) {
            return Err(Error::ExponentBits {
                group: self.id,
                bits,
            });
        }
        Ok(bits)
    }

    /// The Montgomery constants of the prime, computed once.
    fn montgomery(&self) -> Option<&'static Montgomery> {
        static CELLS: [OnceLock<Option<Montgomery>>; 8] = [
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
        ];
        let i = GROUPS.iter().position(|g| g.id == self.id)?;
        CELLS.get(i)?.get_or_init(|| Montgomery::new(&self.prime())).as_ref()
    }

    /// `base ^ exp mod p`, with `base` and `exp` big-endian of the prime's
    /// length; only the low `exp_bits` bits of `exp` are used, and the time
    /// taken depends on `exp_bits` only. `base` None is the generator 2.
    fn pow(&self, base: Option<&[u8]>, exp: &[u8], exp_bits: u32) -> Zeroizing<Vec<u8>> {
        let Some(mont) = self.montgomery() else {
            return Zeroizing::new(Vec::new());
        };
        if exp.len() != self.byte_len() || base.is_some_and(|b| b.len() != self.byte_len()) {
            return Zeroizing::new(Vec::new());
        }
        let mut e = limbs_from_be(exp, mont.len());
        let mut r = match base {
            None => mont.pow2(&e, exp_bits),
            Some(b) => mont.pow(&limbs_from_be(b, mont.len()), &e, exp_bits),
        };
        e.zeroize();
        let out = Zeroizing::new(limbs_to_be(&r, self.byte_len()));
        r.zeroize();
        out
    }
}

/// A MODP private exponent, zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ModpPrivate {
    #[zeroize(skip)]
    group: &'static ModpGroup,
    /// Big-endian, of the prime's length; below 2^exp_bits.
    exp: Vec<u8>,
    exp_bits: u32,
}

impl ModpPrivate {
    /// The private exponent taken from `random`: the big-endian value of its
    /// first ceil(exp_bits / 8) bytes, reduced to its low `exp_bits` bits,
    /// with bit `exp_bits - 1` set (so 2 <= x < 2^exp_bits <= p-2, as
    /// OpenSSL draws short exponents).
    pub fn new(group: &'static ModpGroup, random: &[u8], exp_bits: Option<u32>) -> Result<Self> {
        let exp_bits = group.exp_bits(exp_bits)?;
        let needed = exp_bits.div_ceil(8) as usize;
        let Some(src) = random.get(..needed) else {
            return Err(Error::NotEnoughRandom {
                needed,
                len: random.len(),
            });
        };
        let mut exp = vec![0u8; group.byte_len()];
        let start = group.byte_len() - needed;
        exp[start..].copy_from_slice(src);
        let top_bits = exp_bits - 8 * (needed as u32 - 1); // 1..=8 bits in the first byte
        if let Some(first) = exp.get_mut(start) {
            let mask = (0xffu16 >> (8 - top_bits)) as u8;
            *first = (*first & mask) | (1u8 << (top_bits - 1));
        }
        Ok(ModpPrivate {
            group,
            exp,
            exp_bits,
        })
    }

    /// The group.
    pub fn group(&self) -> &'static ModpGroup {
        self.group
    }

    /// The public value g^x, big-endian of the prime's length.
    pub fn public(&self) -> Vec<u8> {
        self.group.pow(None, &self.exp, self.exp_bits).to_vec()
    }

    /// Checks a peer's public value as [`ModpPrivate::compute`] does.
    pub fn check_peer(&self, peer: &[u8]) -> Result<()> {
        check_public(self.group, peer)
    }

    /// The shared secret y^x, after checking 1 < y < p-1 and its length.
    pub fn compute(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        check_public(self.group, peer)?;
        Ok(self.group.pow(Some(peer), &self.exp, self.exp_bits))
    }
}

/// A peer's public value must be exactly the prime's length and lie in
/// 2..=p-2 (excluding 0, 1, p-1 and everything from p up).
pub fn check_public(group: &ModpGroup, y: &[u8]) -> Result<()> {
    if y.len() != group.byte_len() {
        return Err(Error::PublicLength {
            expected: group.byte_len(),
            len: y.len(),
        });
    }
    // The public value is public: comparing it in variable time is fine.
    // Equal-length big-endian byte strings compare as the numbers do.
    let mut one = vec![0u8; y.len()];
    let mut p_minus_1 = group.prime();
    if let (Some(o), Some(p)) = (one.last_mut(), p_minus_1.last_mut()) {
        *o = 1;
        *p &= 0xfe; // the prime is odd: p-1 only clears its lowest bit
    }
    if y <= one.as_slice() || y >= p_minus_1.as_slice() {
        return Err(Error::PublicOutOfRange);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn exponent_takes_low_bits_and_sets_the_top_one() {
        let g = ModpGroup::find(2).expect("group 2");
        let k = ModpPrivate::new(g, &[0xff; 32], Some(161)).expect("key");
        // 21 bytes, the first one reduced to its low bit.
        assert!(k.exp[..g.byte_len() - 21].iter().all(|&b| b == 0));
        assert_eq!(k.exp[g.byte_len() - 21], 0x01);
        assert!(k.exp[g.byte_len() - 20..].iter().all(|&b| b == 0xff));
        let k = ModpPrivate::new(g, &[0u8; 32], None).expect("key");
        assert_eq!(k.exp[g.byte_len() - 20], 0x80);
        assert!(k.exp[g.byte_len() - 19..].iter().all(|&b| b == 0));
        assert_eq!(k.exp_bits, 160);
    }

    #[test]
    fn exponent_bits_bounds() {
        let g = ModpGroup::find(1).expect("group 1");
        assert_eq!(g.exp_bits(None), Ok(160));
        assert_eq!(g.exp_bits(Some(0)), Ok(767));
        assert_eq!(g.exp_bits(Some(767)), Ok(767));
        assert!(g.exp_bits(Some(768)).is_err());
        assert!(g.exp_bits(Some(MIN_EXP_BITS - 1)).is_err());
        assert!(g.exp_bits(Some(u32::MAX)).is_err());
    }

    #[test]
    fn every_prime_is_odd_and_full_length() {
        for g in &GROUPS {
            let p = g.prime();
            assert_eq!(p.len() * 8, g.bits as usize);
            assert_eq!(p[0], 0xff);
            assert_eq!(p[p.len() - 1] & 1, 1);
        }
    }

    /// The exponentiation's cost follows the exponent length: a short
    /// exponent must really be cheaper than a full one.
    #[test]
    fn short_exponents_are_faster() {
        let g = ModpGroup::find(14).expect("group 14");
        let time = |bits| {
            let k = ModpPrivate::new(g, &[0x5a; 256], Some(bits)).expect("key");
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    let _ = k.public();
                    t.elapsed()
                })
                .min()
                .unwrap_or(Duration::ZERO)
        };
        let (short, full) = (time(224), time(2047));
        assert!(full > short * 3, "224 bits: {short:?}, 2047 bits: {full:?}");
    }
}
