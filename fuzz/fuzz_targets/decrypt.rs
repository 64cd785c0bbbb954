//! Decryption of malformed ciphertext, and decrypt/commit/forget sequences.
//!
//! Two `IkeCipher`s with the same fixed key and phase-1 IV stand for a
//! sender (A) and a receiver (B). The first input bytes choose the cipher
//! and the hash that derives phase-2 IVs; the rest is a list of operations
//! under message IDs from the input:
//!
//! * junk: B decrypts arbitrary bytes; the plaintext is parsed as a payload
//!   chain (with padding allowed, as the daemon does). An uncommitted
//!   decryption must leave B's IV alone.
//! * commit: B commits; it works exactly when a decryption under that ID is
//!   pending (at most 16 are remembered, the oldest dropped first), and the
//!   ID's IV becomes that ciphertext's last block.
//! * forget: both forget an ID; the phase-1 IV survives.
//! * round trip: A encrypts, B decrypts and commits. Where A and B had the
//!   same IV for the ID, B gets the plaintext back with its padding, and
//!   they have the same IV after.
//! * B encrypts (B answering), which drops B's pending decryption.
//!
//! Memory stays bounded by the input: no operation keeps more than one IV
//! per ID used and 16 pending decryptions.

#![no_main]

use isakmp_crypto::{cbc_decrypt, CipherAlg, Error, HashAlg, IkeCipher};
use isakmp_fuzz::{parse_and_check, Input};
use libfuzzer_sys::fuzz_target;

/// Decryptions an `IkeCipher` remembers for `commit`.
const MAX_PENDING: usize = 16;

const CIPHERS: [(CipherAlg, usize); 8] = [
    (CipherAlg::TripleDes, 24),
    (CipherAlg::Aes, 16),
    (CipherAlg::Aes, 32),
    (CipherAlg::Blowfish, 16),
    (CipherAlg::Cast, 16),
    (CipherAlg::Aes, 24),
    (CipherAlg::Blowfish, 56),
    (CipherAlg::Cast, 5),
];

const HASHES: [HashAlg; 5] = [
    HashAlg::Sha1,
    HashAlg::Md5,
    HashAlg::Sha256,
    HashAlg::Sha384,
    HashAlg::Sha512,
];

/// Message IDs that collide often: phase 1, two phase-2 IDs, the largest.
const MIDS: [u32; 4] = [0, 1, 0x8765_4321, u32::MAX];

fn key(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(37) ^ 0x5c)
        .collect()
}

fn message_id(input: &mut Input<'_>) -> u32 {
    let b = input.u8();
    if b & 0x80 != 0 {
        input.u32()
    } else {
        MIDS[usize::from(b) % MIDS.len()]
    }
}

fn last_block(data: &[u8], bs: usize) -> Vec<u8> {
    data[data.len() - bs..].to_vec()
}

/// What B should remember of its uncommitted decryptions.
#[derive(Default)]
struct Pending(Vec<(u32, Vec<u8>)>);

impl Pending {
    fn drop_id(&mut self, mid: u32) {
        self.0.retain(|(id, _)| *id != mid);
    }
    fn push(&mut self, mid: u32, block: Vec<u8>) {
        self.drop_id(mid);
        if self.0.len() >= MAX_PENDING {
            self.0.remove(0);
        }
        self.0.push((mid, block));
    }
    fn take(&mut self, mid: u32) -> Option<Vec<u8>> {
        let pos = self.0.iter().position(|(id, _)| *id == mid)?;
        Some(self.0.remove(pos).1)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let (alg, key_len) = CIPHERS[usize::from(input.u8()) % CIPHERS.len()];
    let hash = HASHES[usize::from(input.u8()) % HASHES.len()];
    let bs = alg.block_size();
    let key = key(key_len);
    let iv1 = vec![0xa5; bs];
    let mut a = IkeCipher::new(alg, hash, &key, &iv1).expect("sender");
    let mut b = IkeCipher::new(alg, hash, &key, &iv1).expect("receiver");
    let mut pending = Pending::default();

    while !input.is_empty() {
        let op = input.u8();
        let mid = message_id(&mut input);
        match op % 5 {
            0 => {
                let first = input.u8();
                let junk = input.field();
                let iv = b.iv(mid);
                match b.decrypt(mid, junk) {
                    Ok(plain) => {
                        assert!(!junk.is_empty() && junk.len() % bs == 0);
                        let reference = cbc_decrypt(alg, &key, &iv, junk).expect("reference");
                        assert_eq!(plain, reference, "not CBC under the ID's IV");
                        assert_eq!(b.iv(mid), iv, "an uncommitted decryption moved the IV");
                        pending.push(mid, last_block(junk, bs));
                        parse_and_check(first, &plain, true);
                    }
                    Err(e) => {
                        assert!(junk.is_empty() || junk.len() % bs != 0, "{e}");
                        assert!(matches!(e, Error::DataLength { .. }), "{e:?}");
                    }
                }
            }
            1 => match (b.commit(mid), pending.take(mid)) {
                (Ok(()), Some(block)) => assert_eq!(b.iv(mid), block),
                (Err(Error::NothingToCommit(m)), None) => assert_eq!(m, mid),
                (got, expected) => panic!("commit {mid:#x}: {got:?}, expected {expected:?}"),
            },
            2 => {
                let phase1 = b.iv(0);
                a.forget(mid);
                b.forget(mid);
                pending.drop_id(mid);
                assert_eq!(b.iv(0), phase1, "forget moved the phase-1 IV");
            }
            3 => {
                let plain = input.field();
                let synced = a.iv(mid) == b.iv(mid);
                let ct = a.encrypt(mid, plain).expect("encrypt");
                assert_eq!(ct.len() % bs, 0);
                assert!(ct.len() > plain.len() && ct.len() - plain.len() <= bs);
                assert_eq!(a.iv(mid), last_block(&ct, bs));
                let back = b
                    .decrypt(mid, &ct)
                    .expect("decrypt of a whole number of blocks");
                pending.push(mid, last_block(&ct, bs));
                if synced {
                    let pad = ct.len() - plain.len();
                    assert_eq!(&back[..plain.len()], plain, "round trip");
                    let tail = &back[plain.len()..];
                    assert_eq!(usize::from(tail[pad - 1]), pad - 1, "pad length byte");
                    assert!(tail[..pad - 1].iter().all(|&z| z == 0), "zero padding");
                }
                b.commit(mid).expect("commit after decrypt");
                pending.take(mid);
                if synced {
                    assert_eq!(a.iv(mid), b.iv(mid), "IVs apart after a round trip");
                }
            }
            _ => {
                let plain = input.field();
                let ct = b.encrypt(mid, plain).expect("encrypt");
                pending.drop_id(mid);
                assert_eq!(b.iv(mid), last_block(&ct, bs));
            }
        }
    }
});
