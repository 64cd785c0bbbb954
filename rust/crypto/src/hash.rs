//! Hashes and the IKEv1 PRF (HMAC of the negotiated hash).
//!
//! MD5 and SHA-1 are kept because IKEv1 peers still negotiate them; in HMAC
//! they remain adequate as a PRF.

use digest::{Digest, KeyInit, Mac};
use hmac::Hmac;

use crate::error::{Error, Result};

/// HASH_ALGORITHM values of IKEv1 (RFC 2409 appendix A, RFC 4868).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// 1: MD5.
    Md5,
    /// 2: SHA-1 ("SHA").
    Sha1,
    /// 4: SHA2-256.
    Sha256,
    /// 5: SHA2-384.
    Sha384,
    /// 6: SHA2-512.
    Sha512,
}

impl HashAlg {
    /// The algorithm for an IKE HASH_ALGORITHM value.
    pub fn from_id(id: u16) -> Result<HashAlg> {
        match id {
            1 => Ok(HashAlg::Md5),
            2 => Ok(HashAlg::Sha1),
            4 => Ok(HashAlg::Sha256),
            5 => Ok(HashAlg::Sha384),
            6 => Ok(HashAlg::Sha512),
            _ => Err(Error::UnknownHash(id)),
        }
    }

    /// The IKE HASH_ALGORITHM value.
    pub fn id(self) -> u16 {
        match self {
            HashAlg::Md5 => 1,
            HashAlg::Sha1 => 2,
            HashAlg::Sha256 => 4,
            HashAlg::Sha384 => 5,
            HashAlg::Sha512 => 6,
        }
    }

    /// Output length in bytes (of the hash and of the PRF).
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Md5 => 16,
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The hash of the concatenation of `parts`.
    pub fn hash(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            HashAlg::Md5 => run::<md5::Md5>(parts),
            HashAlg::Sha1 => run::<sha1::Sha1>(parts),
            HashAlg::Sha256 => run::<sha2::Sha256>(parts),
            HashAlg::Sha384 => run::<sha2::Sha384>(parts),
            HashAlg::Sha512 => run::<sha2::Sha512>(parts),
        }
    }

    /// The IKEv1 PRF: HMAC keyed with `key` over the concatenation of
    /// `parts` (given in pieces so that secrets need not be copied together).
    pub fn prf(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            // HMAC takes keys of any length (longer ones are hashed first).
            let Ok(mut m) = <M as KeyInit>::new_from_slice(key) else {
                return Vec::new();
            };
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
        match self {
            HashAlg::Md5 => run::<Hmac<md5::Md5>>(key, parts),
            HashAlg::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
            HashAlg::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
            HashAlg::Sha384 => run::<Hmac<sha2::Sha384>>(key, parts),
            HashAlg::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
        }
    }
}

/// `hash(hash_alg, data)` by IKE HASH_ALGORITHM value.
pub fn hash(hash_alg: u16, data: &[u8]) -> Result<Vec<u8>> {
    Ok(HashAlg::from_id(hash_alg)?.hash(&[data]))
}

/// `prf(hash_alg, key, data)`: HMAC by IKE HASH_ALGORITHM value.
pub fn prf(hash_alg: u16, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    Ok(HashAlg::from_id(hash_alg)?.prf(key, &[data]))
}

/// Output length of the hash (and PRF) `hash_alg`.
pub fn hash_len(hash_alg: u16) -> Result<usize> {
    Ok(HashAlg::from_id(hash_alg)?.output_len())
}

/// Constant-time equality of two MACs or hashes (false for different lengths).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_ids_are_errors() {
        for id in [0u16, 3, 7, 0xffff] {
            assert_eq!(HashAlg::from_id(id), Err(Error::UnknownHash(id)));
        }
    }

    #[test]
    fn lengths_match_outputs() {
        for id in [1u16, 2, 4, 5, 6] {
            let alg = HashAlg::from_id(id).expect("known id");
            assert_eq!(alg.id(), id);
            assert_eq!(alg.hash(&[b"abc"]).len(), alg.output_len());
            assert_eq!(alg.prf(b"k", &[b"abc"]).len(), alg.output_len());
        }
    }

    #[test]
    fn hash_in_pieces_equals_whole() {
        let alg = HashAlg::Sha256;
        assert_eq!(alg.hash(&[b"ab", b"", b"c"]), alg.hash(&[b"abc"]));
        assert_eq!(alg.prf(b"key", &[b"a", b"bc"]), alg.prf(b"key", &[b"abc"]));
    }

    #[test]
    fn known_digests() {
        // FIPS 180 "abc" examples and RFC 1321.
        assert_eq!(
            hex(&HashAlg::Md5.hash(&[b"abc"])),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            hex(&HashAlg::Sha1.hash(&[b"abc"])),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&HashAlg::Sha256.hash(&[b"abc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
