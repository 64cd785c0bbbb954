//! IKEv1 cryptography for isakmpd: Oakley Diffie-Hellman (MODP groups 1, 2,
//! 5, 14-18 and ECP groups 19-21), the PRF and the key derivation of
//! RFC 2409, CBC encryption of IKE messages with RFC 2409 IV handling, and
//! the raw PKCS#1 v1.5 RSA signatures of IKEv1's RSA_SIG authentication.
//!
//! Pure Rust, no I/O. Private values and derived keys are zeroized when
//! dropped; MODP exponentiation and ECDH take time independent of the
//! private value.

// unsafe code: only the x86-64 assembly kernel of dh/adx.rs, which says why
#![deny(unsafe_code)]

pub mod cipher;
pub mod dh;
pub mod error;
pub mod hash;
pub mod kdf;
pub mod rsa;

pub use crate::cipher::{cbc_decrypt, cbc_encrypt, CipherAlg, IkeCipher};
pub use crate::dh::{group_info, random_bytes_needed, DhKey, GroupInfo, GroupKind};
pub use crate::error::{Error, Result, INVALID_KEY_INFORMATION};
pub use crate::hash::{ct_eq, hash, hash_len, prf, HashAlg};
pub use crate::kdf::Phase1Keys;
pub use crate::rsa::{RsaError, RsaPrivateKey, RsaPublicKey};

#[cfg(test)]
mod tests {
    use zeroize::{Zeroize, ZeroizeOnDrop};

    use super::*;

    /// Compiles only for types whose secrets are wiped when dropped.
    fn zeroized_on_drop<T: ZeroizeOnDrop>() {}

    #[test]
    fn secrets_are_zeroize_on_drop() {
        zeroized_on_drop::<dh::ModpPrivate>();
        zeroized_on_drop::<dh::EcpPrivate>();
        zeroized_on_drop::<p256::SecretKey>();
        zeroized_on_drop::<p384::SecretKey>();
        zeroized_on_drop::<p521::SecretKey>();
        zeroized_on_drop::<DhKey>();
        zeroized_on_drop::<Phase1Keys>();
        zeroized_on_drop::<IkeCipher>();
        zeroized_on_drop::<aes::Aes256>();
        zeroized_on_drop::<des::TdesEde3>();
    }

    #[test]
    fn zeroize_wipes_phase1_keys() {
        let mut k = Phase1Keys::from_skeyid(HashAlg::Sha1, b"skeyid", b"gxy", &[1; 8], &[2; 8])
            .expect("keys");
        assert_eq!(k.skeyid_e().len(), 20);
        k.zeroize();
        assert!(k.skeyid().is_empty() && k.skeyid_d().is_empty());
        assert!(k.skeyid_a().is_empty() && k.skeyid_e().is_empty());
    }
}
