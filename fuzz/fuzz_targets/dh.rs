//! DH public value validation: `DhKey::compute` with arbitrary peer values
//! for every group must give a value of the right length or an error whose
//! NOTIFY type is INVALID-KEY-INFORMATION, never panic.
//!
//! Input: a group selector, a mode byte, then the peer value. With the
//! mode's low bit set the value is cut or zero-padded to the group's public
//! length, so that the fuzzer spends its time inside the range and curve
//! checks rather than on the length check. Each group has two fixed keys;
//! a peer value equal to the second key's public value must give the same
//! secret both ways.

#![no_main]

use std::sync::OnceLock;

use isakmp_crypto::{group_info, random_bytes_needed, DhKey, GroupKind, INVALID_KEY_INFORMATION};
use isakmp_fuzz::Input;
use libfuzzer_sys::fuzz_target;

const GROUPS: [u16; 11] = [1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21];

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

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let index = usize::from(input.u8()) % GROUPS.len();
    let group = GROUPS[index];
    let fit = input.u8() & 1 == 1;
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
});
