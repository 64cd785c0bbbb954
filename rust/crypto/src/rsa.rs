//! RSA signatures of IKEv1 RSA_SIG authentication (RFC 2409 5.1).
//!
//! IKEv1 signs HASH_I / HASH_R themselves: PKCS#1 v1.5 block type 1 padding
//! over the hash bytes, with no DigestInfo in front (the "unprefixed"
//! PKCS#1 v1.5 signature of the `rsa` crate; OpenSSL's `RSA_private_encrypt`
//! with `RSA_PKCS1_PADDING`, as isakmpd and strongSwan use it).
//!
//! Private keys are read from PKCS#8 or PKCS#1 DER and wiped when dropped;
//! the private-key operation is blinded with randomness from the operating
//! system (blinding does not change the signature). Public keys are read
//! from SubjectPublicKeyInfo or PKCS#1 RSAPublicKey DER. Moduli of 1024 to
//! 8192 bits are accepted.

use core::fmt;

use ::rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use ::rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use ::rsa::traits::PublicKeyParts;
use ::rsa::{Pkcs1v15Sign, PrivateKey, PublicKey};

/// PKCS#1 v1.5 padding needs 11 bytes beside the data (00 01 FF*8 00).
const PADDING_OVERHEAD: usize = 11;

/// Why an RSA operation was refused. A signature that does not verify is
/// not an error: [`RsaPublicKey::verify_raw`] answers `false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RsaError {
    /// DER that is neither a PKCS#8 nor a PKCS#1 RSA private key, or a key
    /// whose numbers are inconsistent or out of the accepted range.
    PrivateKey(String),
    /// DER that is neither an RSA SubjectPublicKeyInfo nor a PKCS#1
    /// RSAPublicKey, or a modulus or exponent out of the accepted range.
    PublicKey(String),
    /// Data too long to be signed with a key of `modulus_len` bytes.
    DataTooLong { len: usize, modulus_len: usize },
    /// The private-key operation or the key encoding failed.
    Operation(String),
}

impl fmt::Display for RsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RsaError::PrivateKey(why) => write!(f, "invalid RSA private key: {why}"),
            RsaError::PublicKey(why) => write!(f, "invalid RSA public key: {why}"),
            RsaError::DataTooLong { len, modulus_len } => write!(
                f,
                "{len} bytes cannot be signed with a {modulus_len}-byte RSA modulus \
                 (at most {} bytes)",
                modulus_len.saturating_sub(PADDING_OVERHEAD)
            ),
            RsaError::Operation(why) => write!(f, "RSA operation failed: {why}"),
        }
    }
}

impl std::error::Error for RsaError {}

/// An RSA private key; its numbers are zeroized when it is dropped.
pub struct RsaPrivateKey {
    inner: PrivateKey,
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPrivateKey({} bits)", self.bits())
    }
}

impl zeroize::ZeroizeOnDrop for RsaPrivateKey {}

impl RsaPrivateKey {
    /// Read a PKCS#8 PrivateKeyInfo or a PKCS#1 RSAPrivateKey (DER).
    pub fn from_der(der: &[u8]) -> Result<Self, RsaError> {
        let pkcs8_err = match PrivateKey::from_pkcs8_der(der) {
            Ok(inner) => return Ok(Self { inner }),
            Err(e) => e,
        };
        match PrivateKey::from_pkcs1_der(der) {
            Ok(inner) => Ok(Self { inner }),
            Err(pkcs1_err) => Err(RsaError::PrivateKey(format!(
                "not PKCS#8 ({pkcs8_err}) nor PKCS#1 ({pkcs1_err})"
            ))),
        }
    }

    /// Size of the modulus in bits.
    pub fn bits(&self) -> usize {
        self.inner.n().bit_width_vartime() as usize
    }

    /// Size of the modulus, which is the size of a signature, in bytes.
    pub fn size(&self) -> usize {
        self.inner.size()
    }

    /// The public half.
    pub fn public_key(&self) -> RsaPublicKey {
        RsaPublicKey {
            inner: self.inner.to_public_key(),
        }
    }

    /// The public key as SubjectPublicKeyInfo DER.
    pub fn public_der(&self) -> Result<Vec<u8>, RsaError> {
        self.public_key().to_spki_der()
    }

    /// PKCS#1 v1.5 type-1 signature over `data` itself (no DigestInfo),
    /// blinded with randomness from the operating system; the result has
    /// the modulus length.
    pub fn sign_raw(&self, data: &[u8]) -> Result<Vec<u8>, RsaError> {
        let modulus_len = self.size();
        if data.len().saturating_add(PADDING_OVERHEAD) > modulus_len {
            return Err(RsaError::DataTooLong {
                len: data.len(),
                modulus_len,
            });
        }
        // With the crate's `getrandom` feature, `sign` blinds with the OS RNG.
        self.inner
            .sign(Pkcs1v15Sign::new_unprefixed(), data)
            .map_err(|e| RsaError::Operation(e.to_string()))
    }
}

/// An RSA public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    inner: PublicKey,
}

impl RsaPublicKey {
    /// Read a SubjectPublicKeyInfo or a PKCS#1 RSAPublicKey (DER).
    pub fn from_der(der: &[u8]) -> Result<Self, RsaError> {
        let spki_err = match PublicKey::from_public_key_der(der) {
            Ok(inner) => return Ok(Self { inner }),
            Err(e) => e,
        };
        match PublicKey::from_pkcs1_der(der) {
            Ok(inner) => Ok(Self { inner }),
            Err(pkcs1_err) => Err(RsaError::PublicKey(format!(
                "not SubjectPublicKeyInfo ({spki_err}) nor PKCS#1 ({pkcs1_err})"
            ))),
        }
    }

    /// Size of the modulus in bits.
    pub fn bits(&self) -> usize {
        self.inner.n().bit_width_vartime() as usize
    }

    /// Size of the modulus, which is the size of a signature, in bytes.
    pub fn size(&self) -> usize {
        self.inner.size()
    }

    /// SubjectPublicKeyInfo DER.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, RsaError> {
        self.inner
            .to_public_key_der()
            .map(|doc| doc.as_bytes().to_vec())
            .map_err(|e| RsaError::Operation(e.to_string()))
    }

    /// Whether `sig` is the PKCS#1 v1.5 type-1 signature of `data` itself
    /// (no DigestInfo). A signature shorter than the modulus is taken as
    /// the same number with its leading zero bytes dropped, as OpenSSL's
    /// `RSA_public_decrypt` (isakmpd's verification) takes it.
    pub fn verify_raw(&self, data: &[u8], sig: &[u8]) -> bool {
        let k = self.size();
        if sig.len() > k || sig.is_empty() {
            return false;
        }
        let padded: Vec<u8>;
        let sig = if sig.len() < k {
            let mut v = vec![0u8; k - sig.len()];
            v.extend_from_slice(sig);
            padded = v;
            padded.as_slice()
        } else {
            sig
        };
        self.inner
            .verify(Pkcs1v15Sign::new_unprefixed(), data, sig)
            .is_ok()
    }
}

/// [`RsaPublicKey::verify_raw`] with the key given as SPKI or PKCS#1 DER.
/// `Ok(false)` for a signature that does not verify; an error only for a
/// key that cannot be read.
pub fn verify_raw(public_der: &[u8], data: &[u8], sig: &[u8]) -> Result<bool, RsaError> {
    Ok(RsaPublicKey::from_der(public_der)?.verify_raw(data, sig))
}

#[cfg(test)]
mod tests {
    use zeroize::ZeroizeOnDrop;

    use super::*;

    /// Compiles only for types whose secrets are wiped when dropped.
    fn zeroized_on_drop<T: ZeroizeOnDrop>() {}

    #[test]
    fn private_keys_are_zeroized_on_drop() {
        zeroized_on_drop::<PrivateKey>();
        zeroized_on_drop::<RsaPrivateKey>();
    }

    #[test]
    fn errors_say_what_failed() {
        let e = RsaError::DataTooLong {
            len: 200,
            modulus_len: 128,
        };
        assert_eq!(
            e.to_string(),
            "200 bytes cannot be signed with a 128-byte RSA modulus (at most 117 bytes)"
        );
        assert!(RsaPublicKey::from_der(&[0x30, 0x00])
            .expect_err("empty sequence")
            .to_string()
            .starts_with("invalid RSA public key: "));
    }
}
