//! IKEv1 key derivation (RFC 2409 section 5 and appendix B).

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::cipher::{CipherAlg, IkeCipher};
use crate::error::{Error, Result};
use crate::hash::HashAlg;

/// Longest KEYMAT or expanded key this crate derives, in bytes.
pub const MAX_OUTPUT: usize = 65536;

/// SKEYID and its three derived keys for one ISAKMP SA, zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Phase1Keys {
    #[zeroize(skip)]
    hash: HashAlg,
    skeyid: Vec<u8>,
    skeyid_d: Vec<u8>,
    skeyid_a: Vec<u8>,
    skeyid_e: Vec<u8>,
}

fn check_cookies(cky_i: &[u8], cky_r: &[u8]) -> Result<()> {
    for c in [cky_i, cky_r] {
        if c.len() != 8 {
            return Err(Error::CookieLength(c.len()));
        }
    }
    Ok(())
}

impl Phase1Keys {
    /// Pre-shared key authentication: SKEYID = prf(psk, Ni_b | Nr_b).
    pub fn for_psk(
        hash: HashAlg,
        psk: &[u8],
        ni_b: &[u8],
        nr_b: &[u8],
        gxy: &[u8],
        cky_i: &[u8],
        cky_r: &[u8],
    ) -> Result<Phase1Keys> {
        let skeyid = Zeroizing::new(hash.prf(psk, &[ni_b, nr_b]));
        Phase1Keys::from_skeyid(hash, &skeyid, gxy, cky_i, cky_r)
    }

    /// Signature authentication: SKEYID = prf(Ni_b | Nr_b, g^xy).
    pub fn for_signatures(
        hash: HashAlg,
        ni_b: &[u8],
        nr_b: &[u8],
        gxy: &[u8],
        cky_i: &[u8],
        cky_r: &[u8],
    ) -> Result<Phase1Keys> {
        let mut key = Zeroizing::new(Vec::with_capacity(ni_b.len() + nr_b.len()));
        key.extend_from_slice(ni_b);
        key.extend_from_slice(nr_b);
        let skeyid = Zeroizing::new(hash.prf(&key, &[gxy]));
        Phase1Keys::from_skeyid(hash, &skeyid, gxy, cky_i, cky_r)
    }

    /// The derived keys from a given SKEYID:
    /// SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0),
    /// SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1),
    /// SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2).
    pub fn from_skeyid(
        hash: HashAlg,
        skeyid: &[u8],
        gxy: &[u8],
        cky_i: &[u8],
        cky_r: &[u8],
    ) -> Result<Phase1Keys> {
        check_cookies(cky_i, cky_r)?;
        let skeyid_d = hash.prf(skeyid, &[gxy, cky_i, cky_r, &[0]]);
        let skeyid_a = hash.prf(skeyid, &[&skeyid_d, gxy, cky_i, cky_r, &[1]]);
        let skeyid_e = hash.prf(skeyid, &[&skeyid_a, gxy, cky_i, cky_r, &[2]]);
        Ok(Phase1Keys {
            hash,
            skeyid: skeyid.to_vec(),
            skeyid_d,
            skeyid_a,
            skeyid_e,
        })
    }

    /// The negotiated hash.
    pub fn hash(&self) -> HashAlg {
        self.hash
    }

    /// SKEYID.
    pub fn skeyid(&self) -> &[u8] {
        &self.skeyid
    }

    /// SKEYID_d, the key of KEYMAT.
    pub fn skeyid_d(&self) -> &[u8] {
        &self.skeyid_d
    }

    /// SKEYID_a, the key of the phase-2 and informational HASH payloads.
    pub fn skeyid_a(&self) -> &[u8] {
        &self.skeyid_a
    }

    /// SKEYID_e, the source of the phase-1 cipher key.
    pub fn skeyid_e(&self) -> &[u8] {
        &self.skeyid_e
    }

    /// HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b).
    pub fn hash_i(
        &self,
        gxi: &[u8],
        gxr: &[u8],
        cky_i: &[u8],
        cky_r: &[u8],
        sai_b: &[u8],
        idii_b: &[u8],
    ) -> Vec<u8> {
        self.hash
            .prf(&self.skeyid, &[gxi, gxr, cky_i, cky_r, sai_b, idii_b])
    }

    /// HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b).
    pub fn hash_r(
        &self,
        gxr: &[u8],
        gxi: &[u8],
        cky_r: &[u8],
        cky_i: &[u8],
        sai_b: &[u8],
        idir_b: &[u8],
    ) -> Vec<u8> {
        self.hash
            .prf(&self.skeyid, &[gxr, gxi, cky_r, cky_i, sai_b, idir_b])
    }

    /// prf(SKEYID_a, data): the HASH payloads of Quick Mode and of
    /// informational exchanges.
    pub fn prf_a(&self, data: &[u8]) -> Vec<u8> {
        self.hash.prf(&self.skeyid_a, &[data])
    }

    /// KEYMAT = K1 | K2 | ... truncated to `length` bytes, with
    /// K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b) and
    /// Kn = prf(SKEYID_d, K(n-1) | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b).
    pub fn keymat(
        &self,
        protocol: u8,
        spi: &[u8],
        ni_b: &[u8],
        nr_b: &[u8],
        gxy: Option<&[u8]>,
        length: usize,
    ) -> Result<Zeroizing<Vec<u8>>> {
        if length > MAX_OUTPUT {
            return Err(Error::OutputLength(length));
        }
        let gxy = gxy.unwrap_or_default();
        let proto = [protocol];
        let seed: [&[u8]; 5] = [gxy, &proto, spi, ni_b, nr_b];
        Ok(expand(self.hash, &self.skeyid_d, &seed, true, length))
    }

    /// The phase-1 cipher key: SKEYID_e itself when long enough, else
    /// expanded per RFC 2409 appendix B (K1 = prf(SKEYID_e, 0),
    /// Kn = prf(SKEYID_e, K(n-1))), truncated to `len` bytes.
    pub fn cipher_key(&self, len: usize) -> Result<Zeroizing<Vec<u8>>> {
        appendix_b_key(self.hash, &self.skeyid_e, len)
    }

    /// The phase-1 cipher: key from [`Phase1Keys::cipher_key`], initial IV
    /// hash(g^xi | g^xr) truncated to the block size.
    pub fn cipher(
        &self,
        alg: CipherAlg,
        key_len: usize,
        gxi: &[u8],
        gxr: &[u8],
    ) -> Result<IkeCipher> {
        alg.check_key_len(key_len)?;
        let key = self.cipher_key(key_len)?;
        let iv = self.hash.hash(&[gxi, gxr]);
        IkeCipher::new(
            alg,
            self.hash,
            &key,
            iv.get(..alg.block_size()).unwrap_or(&iv),
        )
    }
}

/// The key expansion of RFC 2409 appendix B: `key` itself truncated when it
/// is at least `len` bytes, else K1 = prf(key, 0x00), Kn = prf(key, K(n-1)).
pub fn appendix_b_key(hash: HashAlg, key: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>> {
    if len > MAX_OUTPUT {
        return Err(Error::OutputLength(len));
    }
    match key.get(..len) {
        Some(short) => Ok(Zeroizing::new(short.to_vec())),
        None => Ok(expand(hash, key, &[&[0]], false, len)),
    }
}

/// K1 = prf(key, seed), Kn = prf(key, K(n-1) [| seed]) truncated to `len`:
/// with `chain_seed` the seed enters every block (KEYMAT, RFC 2409 5.5),
/// without it only K1 (appendix B).
pub fn expand(
    hash: HashAlg,
    key: &[u8],
    seed: &[&[u8]],
    chain_seed: bool,
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + hash.output_len()));
    let mut last = Zeroizing::new(Vec::new());
    while out.len() < len {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(seed.len() + 1);
        parts.push(&last);
        if chain_seed || last.is_empty() {
            parts.extend_from_slice(seed);
        }
        let next = Zeroizing::new(hash.prf(key, &parts));
        drop(parts);
        out.extend_from_slice(&next);
        last = next;
    }
    out.truncate(len);
    out
}
