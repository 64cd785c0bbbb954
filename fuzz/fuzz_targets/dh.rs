//! Diffie-Hellman with hostile peer values, and the MODP arithmetic checked
//! against an independent implementation.
//!
//! Input: a group selector, a mode byte, then the rest.
//!
//! * Validation (mode bit 1 clear): the rest is a peer public value for
//!   `DhKey::compute` with a fixed key; it must give a value of the right
//!   length or an error whose NOTIFY type is INVALID-KEY-INFORMATION, never
//!   panic. With mode bit 0 set the value is cut or zero-padded to the
//!   group's public length, so that the fuzzer spends its time inside the
//!   range and curve checks rather than on the length check. A peer value
//!   equal to the second fixed key's public value must give the same secret
//!   both ways.
//! * Arithmetic (mode bit 1 set): an exponent length choice and random
//!   bytes from the input make a private value. For a MODP group its public
//!   value must be 2^x mod p and its secret with a peer value in range
//!   y^x mod p, both computed again with `num-bigint` (x derived as
//!   `ModpPrivate::new` documents it). For an ECP group both sides of an
//!   exchange between it and the fixed key must agree.

#![no_main]

use std::sync::OnceLock;

use isakmp_crypto::dh::{check_modp_public, ModpGroup, ModpPrivate};
use isakmp_crypto::{group_info, random_bytes_needed, DhKey, GroupKind, INVALID_KEY_INFORMATION};
use isakmp_fuzz::Input;
use libfuzzer_sys::fuzz_target;
use num_bigint::BigUint;

const GROUPS: [u16; 11] = [1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21];

/// Longest private exponent tried in the arithmetic mode (but the prime's
/// length minus one in groups up to 2048 bits): longer ones cost much time
/// in the largest groups and exercise nothing new.
const MAX_EXP_BITS: u32 = 512;
const FULL_LENGTH_UP_TO: u32 = 2048;

fn fixed_key(group: u16, fill: u8) -> DhKey {
    let n = random_bytes_needed(group, None).expect("known group");
    let random: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(29) ^ fill).collect();
    DhKey::new(group, &random, None).expect("fixed key")
}

/// Two keys per group, made once.
fn keys() -> &'static Vec<(DhKey, DhKey)> {
    static KEYS: OnceLock<Vec<(DhKey, DhKey)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        GROUPS
            .iter()
            .map(|&g| (fixed_key(g, 0x3c), fixed_key(g, 0xc3)))
            .collect()
    })
}

fn padded(n: &BigUint, len: usize) -> Vec<u8> {
    let bytes = n.to_bytes_be();
    let mut out = vec![0u8; len.saturating_sub(bytes.len())];
    out.extend_from_slice(&bytes);
    out
}

/// The private exponent `ModpPrivate::new` documents: the first
/// ceil(bits / 8) bytes of `random`, reduced to their low `bits` bits, with
/// bit `bits - 1` set.
fn exponent(random: &[u8], bits: u32) -> BigUint {
    let needed = bits.div_ceil(8) as usize;
    let x = BigUint::from_bytes_be(&random[..needed]);
    let mask = (BigUint::from(1u8) << bits) - 1u8;
    (x & mask) | (BigUint::from(1u8) << (bits - 1))
}

/// The exponent length to ask for: the default, the prime's length minus
/// one (groups up to 2048 bits), one in range (up to `MAX_EXP_BITS`), or any
/// 16-bit value (one in range over `MAX_EXP_BITS` taken as that).
fn exp_bits_choice(input: &mut Input<'_>, prime_bits: u32) -> Option<u32> {
    let which = input.u8();
    let raw = u32::from(input.u16());
    let top = (prime_bits - 1).min(MAX_EXP_BITS);
    match which % 4 {
        0 => None,
        1 if prime_bits <= FULL_LENGTH_UP_TO => Some(0),
        1 => None,
        2 => Some(160 + raw % (top - 160 + 1)),
        _ if raw > MAX_EXP_BITS && raw < prime_bits => Some(MAX_EXP_BITS),
        _ => Some(raw),
    }
}

fn modp_arithmetic(g: &'static ModpGroup, input: &mut Input<'_>) {
    let exp_bits = exp_bits_choice(input, g.bits);
    let Ok(bits) = g.exp_bits(exp_bits) else {
        assert!(ModpPrivate::new(g, &[0; 1024], exp_bits).is_err());
        return;
    };
    let mut random = input.field().to_vec();
    random.resize(bits.div_ceil(8) as usize, 0);
    let key = ModpPrivate::new(g, &random, exp_bits).expect("exponent length in range");
    let p = BigUint::from_bytes_be(&g.prime());
    let x = exponent(&random, bits);
    let public = key.public();
    assert_eq!(
        public,
        padded(&BigUint::from(2u8).modpow(&x, &p), g.byte_len()),
        "g^x"
    );
    let mut peer = input.rest().to_vec();
    peer.resize(g.byte_len(), 0);
    match key.compute(&peer) {
        Ok(secret) => {
            assert!(check_modp_public(g, &peer).is_ok());
            let y = BigUint::from_bytes_be(&peer);
            assert_eq!(*secret, padded(&y.modpow(&x, &p), g.byte_len()), "y^x");
        }
        Err(e) => {
            assert!(check_modp_public(g, &peer).is_err(), "{e}");
            assert_eq!(e.notify(), INVALID_KEY_INFORMATION);
        }
    }
}

fn ecp_exchange(group: u16, ours: &DhKey, input: &mut Input<'_>) {
    let mut random = input.rest().to_vec();
    random.resize(random_bytes_needed(group, None).expect("ECP group"), 0);
    let theirs = DhKey::new(group, &random, None).expect("any random bytes make a key");
    let a = ours
        .compute(theirs.public())
        .expect("a genuine public value");
    let b = theirs
        .compute(ours.public())
        .expect("a genuine public value");
    assert_eq!(*a, *b, "the two sides disagree");
}

fn validation(index: usize, fit: bool, input: &mut Input<'_>) {
    let group = GROUPS[index];
    let info = group_info(group).expect("known group");
    let mut peer = input.rest().to_vec();
    if fit {
        peer.resize(info.public_len, 0);
    }
    let (ours, theirs) = &keys()[index];
    match ours.compute(&peer) {
        Ok(secret) => {
            assert_eq!(
                peer.len(),
                info.public_len,
                "a value of the wrong length accepted"
            );
            let expected = match info.kind {
                GroupKind::Modp => info.public_len,
                GroupKind::Ecp => info.public_len / 2,
            };
            assert_eq!(secret.len(), expected, "shared secret length");
            if peer == theirs.public() {
                let other = theirs.compute(ours.public()).expect("our own public value");
                assert_eq!(*secret, *other, "the two sides disagree");
            }
        }
        Err(e) => {
            assert_eq!(e.notify(), INVALID_KEY_INFORMATION, "{e:?}");
            assert!(!e.to_string().is_empty());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let index = usize::from(input.u8()) % GROUPS.len();
    let mode = input.u8();
    let group = GROUPS[index];
    if mode & 2 == 0 {
        validation(index, mode & 1 == 1, &mut input);
    } else if let Some(g) = ModpGroup::find(group) {
        modp_arithmetic(g, &mut input);
    } else {
        ecp_exchange(group, &keys()[index].0, &mut input);
    }
});
