//! CBC encryption of IKE message bodies, with the IV handling of RFC 2409
//! appendix B.
//!
//! Ciphers: AES-128/192/256, and the legacy 3DES, Blowfish and CAST-128,
//! kept only because IKEv1 peers still negotiate them (64-bit blocks; do not
//! choose them for new configurations).

use std::collections::HashMap;

use cipher::array::Array;
use cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, BlockSizeUser,
};
use cipher::{InnerIvInit, KeyInit};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};
use crate::hash::HashAlg;

/// ENCRYPTION_ALGORITHM values of IKEv1 phase 1 that this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherAlg {
    /// 3: BLOWFISH_CBC. Legacy: 64-bit block. Keys of 40 to 448 bits.
    Blowfish,
    /// 5: 3DES_CBC (EDE, three keys). Legacy: 64-bit block. 192-bit keys.
    TripleDes,
    /// 6: CAST_CBC (CAST-128). Legacy: 64-bit block. Keys of 40 to 128 bits.
    Cast,
    /// 7: AES_CBC with 128-, 192- or 256-bit keys.
    Aes,
}

impl CipherAlg {
    /// The cipher for an IKE ENCRYPTION_ALGORITHM value.
    pub fn from_id(id: u16) -> Result<CipherAlg> {
        match id {
            3 => Ok(CipherAlg::Blowfish),
            5 => Ok(CipherAlg::TripleDes),
            6 => Ok(CipherAlg::Cast),
            7 => Ok(CipherAlg::Aes),
            _ => Err(Error::UnknownCipher(id)),
        }
    }

    /// The IKE ENCRYPTION_ALGORITHM value.
    pub fn id(self) -> u16 {
        match self {
            CipherAlg::Blowfish => 3,
            CipherAlg::TripleDes => 5,
            CipherAlg::Cast => 6,
            CipherAlg::Aes => 7,
        }
    }

    /// Block (and IV) size in bytes.
    pub fn block_size(self) -> usize {
        match self {
            CipherAlg::Aes => 16,
            _ => 8,
        }
    }

    /// Whether the cipher takes a key of `len` bytes.
    pub fn check_key_len(self, len: usize) -> Result<()> {
        let ok = match self {
            CipherAlg::Blowfish => (5..=56).contains(&len),
            CipherAlg::TripleDes => len == 24,
            CipherAlg::Cast => (5..=16).contains(&len),
            CipherAlg::Aes => matches!(len, 16 | 24 | 32),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::KeyLength {
                enc_alg: self.id(),
                len,
            })
        }
    }
}

/// A keyed block cipher. The key schedules are zeroized on drop by their
/// crates (`zeroize` feature).
enum Engine {
    Blowfish(Box<blowfish::Blowfish>),
    TripleDes(des::TdesEde3),
    Cast(cast5::Cast5),
    Aes128(aes::Aes128),
    Aes192(aes::Aes192),
    Aes256(aes::Aes256),
}

/// Runs `$body` with `$c` bound to the engine's cipher, whatever its type.
macro_rules! with_engine {
    ($engine:expr, $c:ident => $body:expr) => {
        match $engine {
            Engine::Blowfish(b) => {
                let $c: &blowfish::Blowfish = b;
                $body
            }
            Engine::TripleDes($c) => $body,
            Engine::Cast($c) => $body,
            Engine::Aes128($c) => $body,
            Engine::Aes192($c) => $body,
            Engine::Aes256($c) => $body,
        }
    };
}

impl Engine {
    fn new(alg: CipherAlg, key: &[u8]) -> Result<Engine> {
        alg.check_key_len(key.len())?;
        let bad_len = || Error::KeyLength {
            enc_alg: alg.id(),
            len: key.len(),
        };
        Ok(match alg {
            CipherAlg::Blowfish => Engine::Blowfish(Box::new(
                blowfish::Blowfish::new_from_slice(key).map_err(|_| bad_len())?,
            )),
            CipherAlg::TripleDes => {
                des::weak_key_test(key).map_err(|_| Error::WeakKey)?;
                Engine::TripleDes(des::TdesEde3::new_from_slice(key).map_err(|_| bad_len())?)
            }
            CipherAlg::Cast => {
                Engine::Cast(cast5::Cast5::new_from_slice(key).map_err(|_| bad_len())?)
            }
            CipherAlg::Aes => match key.len() {
                16 => Engine::Aes128(aes::Aes128::new_from_slice(key).map_err(|_| bad_len())?),
                24 => Engine::Aes192(aes::Aes192::new_from_slice(key).map_err(|_| bad_len())?),
                _ => Engine::Aes256(aes::Aes256::new_from_slice(key).map_err(|_| bad_len())?),
            },
        })
    }

    /// CBC-encrypts `data` (a whole number of blocks) in place.
    fn encrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<()> {
        with_engine!(self, c => cbc_encrypt_with(c, iv, data))
    }

    /// CBC-decrypts `data` (a whole number of blocks) in place.
    fn decrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<()> {
        with_engine!(self, c => cbc_decrypt_with(c, iv, data))
    }
}

/// `data` as whole blocks of `C`, after checking that `iv` is one block.
fn blocks<'a, C: BlockSizeUser>(
    iv: &[u8],
    data: &'a mut [u8],
) -> Result<&'a mut [Array<u8, C::BlockSize>]> {
    let bs = C::block_size();
    if iv.len() != bs {
        return Err(Error::IvLength {
            expected: bs,
            len: iv.len(),
        });
    }
    let len = data.len();
    match Array::slice_as_chunks_mut(data) {
        (blocks, []) => Ok(blocks),
        _ => Err(Error::DataLength {
            block_size: bs,
            len,
        }),
    }
}

fn cbc_encrypt_with<C: BlockCipherEncrypt>(cipher: &C, iv: &[u8], data: &mut [u8]) -> Result<()> {
    let blocks = blocks::<C>(iv, data)?;
    let mut mode = cbc::Encryptor::<&C>::inner_iv_slice_init(cipher, iv)
        .map_err(|_| Error::Internal("CBC IV refused"))?;
    mode.encrypt_blocks(blocks);
    Ok(())
}

fn cbc_decrypt_with<C: BlockCipherDecrypt>(cipher: &C, iv: &[u8], data: &mut [u8]) -> Result<()> {
    let blocks = blocks::<C>(iv, data)?;
    let mut mode = cbc::Decryptor::<&C>::inner_iv_slice_init(cipher, iv)
        .map_err(|_| Error::Internal("CBC IV refused"))?;
    mode.decrypt_blocks(blocks);
    Ok(())
}

/// Raw CBC encryption without padding (`data` a whole number of blocks).
pub fn cbc_encrypt(alg: CipherAlg, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    let mut out = data.to_vec();
    Engine::new(alg, key)?.encrypt(iv, &mut out)?;
    Ok(out)
}

/// Raw CBC decryption without padding removal.
pub fn cbc_decrypt(alg: CipherAlg, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    let mut out = data.to_vec();
    Engine::new(alg, key)?.decrypt(iv, &mut out)?;
    Ok(out)
}

/// How many decrypted-but-uncommitted messages are remembered at once.
const MAX_PENDING: usize = 16;

/// The cipher of one ISAKMP SA with its per-message-ID IVs.
///
/// Message ID 0 is phase 1: its IV starts from the DH values and then is the
/// last ciphertext block of each message. Any other message ID starts from
/// hash(last phase-1 IV | M-ID) truncated to the block size, then chains the
/// same way. A decrypted message moves its IV only once committed.
#[derive(ZeroizeOnDrop)]
pub struct IkeCipher {
    #[zeroize(skip)]
    alg: CipherAlg,
    #[zeroize(skip)]
    hash: HashAlg,
    key: Zeroizing<Vec<u8>>,
    #[zeroize(skip)]
    engine: Engine,
    #[zeroize(skip)]
    ivs: HashMap<u32, Vec<u8>>,
    #[zeroize(skip)]
    pending: Vec<(u32, Vec<u8>)>,
}

impl IkeCipher {
    /// A cipher keyed with `key` whose phase-1 IV is `iv`; `hash` derives
    /// the IVs of other message IDs. A 3DES key made of weak or repeated DES
    /// keys is refused.
    pub fn new(alg: CipherAlg, hash: HashAlg, key: &[u8], iv: &[u8]) -> Result<IkeCipher> {
        let engine = Engine::new(alg, key)?;
        if iv.len() != alg.block_size() {
            return Err(Error::IvLength {
                expected: alg.block_size(),
                len: iv.len(),
            });
        }
        let mut ivs = HashMap::new();
        ivs.insert(0, iv.to_vec());
        Ok(IkeCipher {
            alg,
            hash,
            key: Zeroizing::new(key.to_vec()),
            engine,
            ivs,
            pending: Vec::new(),
        })
    }

    /// The cipher.
    pub fn alg(&self) -> CipherAlg {
        self.alg
    }

    /// The hash that derives phase-2 IVs.
    pub fn hash(&self) -> HashAlg {
        self.hash
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> usize {
        self.alg.block_size()
    }

    /// The key (for the crypto debug level and key export only).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The IV the next message under `message_id` would use.
    pub fn iv(&self, message_id: u32) -> Vec<u8> {
        if let Some(iv) = self.ivs.get(&message_id) {
            return iv.clone();
        }
        let phase1 = self.ivs.get(&0).map(Vec::as_slice).unwrap_or_default();
        let mut iv = self.hash.hash(&[phase1, &message_id.to_be_bytes()]);
        iv.truncate(self.block_size());
        iv
    }

    /// Pads `plaintext` (zeros, then a byte counting them; at least one
    /// byte), encrypts it under `message_id`'s IV and makes the last
    /// ciphertext block that ID's IV. A decrypted message still pending
    /// under the ID is dropped: the exchange has moved past it.
    pub fn encrypt(&mut self, message_id: u32, plaintext: &[u8]) -> Result<Vec<u8>> {
        let bs = self.block_size();
        let pad = bs - plaintext.len() % bs;
        let mut data = Vec::with_capacity(plaintext.len() + pad);
        data.extend_from_slice(plaintext);
        data.resize(plaintext.len() + pad - 1, 0);
        data.push((pad - 1) as u8);
        let iv = self.iv(message_id);
        self.engine.encrypt(&iv, &mut data)?;
        self.pending.retain(|(id, _)| *id != message_id);
        self.ivs.insert(message_id, last_block(&data, bs));
        Ok(data)
    }

    /// Decrypts `ciphertext` (a non-empty whole number of blocks) under
    /// `message_id`'s IV, padding left in place. The IV stays until
    /// [`IkeCipher::commit`].
    pub fn decrypt(&mut self, message_id: u32, ciphertext: &[u8]) -> Result<Vec<u8>> {
        let bs = self.block_size();
        if ciphertext.is_empty() || ciphertext.len() % bs != 0 {
            return Err(Error::DataLength {
                block_size: bs,
                len: ciphertext.len(),
            });
        }
        let iv = self.iv(message_id);
        let mut data = ciphertext.to_vec();
        self.engine.decrypt(&iv, &mut data)?;
        self.pending.retain(|(id, _)| *id != message_id);
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push((message_id, last_block(ciphertext, bs)));
        Ok(data)
    }

    /// Accepts the message last decrypted under `message_id`: its last
    /// ciphertext block becomes that ID's IV.
    pub fn commit(&mut self, message_id: u32) -> Result<()> {
        let Some(pos) = self.pending.iter().position(|(id, _)| *id == message_id) else {
            return Err(Error::NothingToCommit(message_id));
        };
        let (_, block) = self.pending.remove(pos);
        self.ivs.insert(message_id, block);
        Ok(())
    }

    /// Drops the IV state of a finished phase-2 or informational exchange
    /// (its IV and any uncommitted decryption). For message ID 0 only an
    /// uncommitted decryption is dropped: the phase-1 IV is kept, since the
    /// IVs of later message IDs derive from it.
    pub fn forget(&mut self, message_id: u32) {
        if message_id != 0 {
            self.ivs.remove(&message_id);
        }
        self.pending.retain(|(id, _)| *id != message_id);
    }
}

fn last_block(data: &[u8], bs: usize) -> Vec<u8> {
    data.get(data.len().saturating_sub(bs)..)
        .unwrap_or_default()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(alg: CipherAlg, key_len: usize) -> IkeCipher {
        let key: Vec<u8> = (0..key_len as u8)
            .map(|b| b.wrapping_mul(37) ^ 0x5c)
            .collect();
        let iv = vec![0xa5; alg.block_size()];
        IkeCipher::new(alg, HashAlg::Sha1, &key, &iv).expect("cipher")
    }

    #[test]
    fn key_lengths() {
        let ok = [
            (3u16, 5usize),
            (3, 16),
            (3, 56),
            (5, 24),
            (6, 5),
            (6, 16),
            (7, 16),
            (7, 24),
            (7, 32),
        ];
        for (id, len) in ok {
            assert!(
                CipherAlg::from_id(id)
                    .and_then(|a| a.check_key_len(len))
                    .is_ok(),
                "{id} {len}"
            );
        }
        let bad = [
            (3u16, 4usize),
            (3, 57),
            (5, 16),
            (5, 8),
            (6, 4),
            (6, 17),
            (7, 0),
            (7, 20),
        ];
        for (id, len) in bad {
            let alg = CipherAlg::from_id(id).expect("known");
            assert_eq!(
                alg.check_key_len(len),
                Err(Error::KeyLength { enc_alg: id, len })
            );
            assert!(Engine::new(alg, &vec![1; len]).is_err());
        }
        for id in [0u16, 1, 2, 4, 8, 12] {
            assert_eq!(CipherAlg::from_id(id), Err(Error::UnknownCipher(id)));
        }
    }

    #[test]
    fn weak_3des_keys_are_refused() {
        let repeated = [0x13u8; 24];
        assert_eq!(
            Engine::new(CipherAlg::TripleDes, &repeated)
                .err()
                .map(|e| e.to_string()),
            Some("weak 3DES key".to_string())
        );
        let mut weak = [0u8; 24];
        weak[..8].copy_from_slice(&[0x01; 8]); // a DES weak key
        for (i, b) in weak[8..].iter_mut().enumerate() {
            *b = i as u8 + 0x20;
        }
        assert_eq!(
            Engine::new(CipherAlg::TripleDes, &weak).err(),
            Some(Error::WeakKey)
        );
    }

    #[test]
    fn padding_is_zeros_then_count() {
        for (alg, key_len) in [(CipherAlg::Aes, 16), (CipherAlg::TripleDes, 24)] {
            let bs = alg.block_size();
            for len in 0..=2 * bs {
                let mut enc = cipher(alg, key_len);
                let mut dec = cipher(alg, key_len);
                let pt: Vec<u8> = (0..len as u8).collect();
                let ct = enc.encrypt(0, &pt).expect("encrypt");
                let pad = bs - len % bs;
                assert_eq!(ct.len(), len + pad);
                let out = dec.decrypt(0, &ct).expect("decrypt");
                assert_eq!(&out[..len], &pt[..]);
                assert!(out[len..out.len() - 1].iter().all(|&b| b == 0));
                assert_eq!(out[out.len() - 1] as usize, pad - 1);
            }
        }
    }

    #[test]
    fn iv_chains_and_decrypt_waits_for_commit() {
        let mut a = cipher(CipherAlg::Aes, 32);
        let mut b = cipher(CipherAlg::Aes, 32);
        let iv0 = a.iv(0);
        let m1 = a.encrypt(0, b"main mode 5").expect("encrypt");
        // encrypt == raw CBC under the IV, then the IV is the last block
        let raw = cbc_encrypt(
            CipherAlg::Aes,
            a.key(),
            &iv0,
            &b.decrypt(0, &m1).expect("d"),
        )
        .expect("raw");
        assert_eq!(raw, m1);
        assert_eq!(a.iv(0), m1[m1.len() - 16..].to_vec());
        // b has not committed: its IV is still the initial one
        assert_eq!(b.iv(0), iv0);
        b.commit(0).expect("commit");
        assert_eq!(b.iv(0), a.iv(0));
        assert_eq!(b.commit(0), Err(Error::NothingToCommit(0)));
        // a forged message moves nothing
        let before = b.iv(0);
        b.decrypt(0, &[0u8; 32]).expect("decrypts garbage");
        assert_eq!(b.iv(0), before);
        // the reply chains on both sides once committed
        let m2 = b.encrypt(0, b"main mode 6").expect("encrypt");
        assert_eq!(a.decrypt(0, &m2).expect("d")[..11], b"main mode 6"[..]);
        a.commit(0).expect("commit");
        assert_eq!(a.iv(0), b.iv(0));
    }

    #[test]
    fn phase2_ivs_derive_from_last_phase1_iv() {
        let mut a = cipher(CipherAlg::Blowfish, 16);
        let mut b = cipher(CipherAlg::Blowfish, 16);
        let last = a.encrypt(0, b"phase 1 done").expect("encrypt");
        b.decrypt(0, &last).expect("d");
        b.commit(0).expect("c");
        let mid = 0x1234_5678u32;
        let want = HashAlg::Sha1.hash(&[&last[last.len() - 8..], &mid.to_be_bytes()]);
        assert_eq!(a.iv(mid), want[..8].to_vec());
        let q1 = a.encrypt(mid, b"quick mode 1").expect("encrypt");
        // a second message ID is independent of the first one's chaining
        assert_eq!(
            a.iv(7),
            HashAlg::Sha1.hash(&[&last[last.len() - 8..], &7u32.to_be_bytes()])[..8]
        );
        assert_eq!(b.decrypt(mid, &q1).expect("d")[..12], b"quick mode 1"[..]);
        b.commit(mid).expect("c");
        assert_eq!(a.iv(mid), b.iv(mid));
        assert_eq!(a.iv(mid), q1[q1.len() - 8..].to_vec());
        b.forget(mid);
        assert_eq!(b.iv(mid), want[..8].to_vec());
        // forgetting message ID 0 keeps the phase-1 IV, drops what is pending
        let iv0 = b.iv(0);
        b.decrypt(0, &[0u8; 16]).expect("d");
        b.forget(0);
        assert_eq!(b.iv(0), iv0);
        assert_eq!(b.commit(0), Err(Error::NothingToCommit(0)));
    }

    #[test]
    fn decrypt_needs_whole_blocks() {
        let mut c = cipher(CipherAlg::Cast, 16);
        for len in [0usize, 1, 7, 9, 15] {
            assert_eq!(
                c.decrypt(0, &vec![0; len]),
                Err(Error::DataLength { block_size: 8, len })
            );
        }
        assert!(cbc_encrypt(CipherAlg::Aes, &[0; 16], &[0; 8], &[0; 16]).is_err());
        assert!(cbc_encrypt(CipherAlg::Aes, &[0; 16], &[0; 16], &[0; 17]).is_err());
        assert_eq!(
            cbc_encrypt(CipherAlg::Aes, &[0; 16], &[0; 16], &[]),
            Ok(vec![])
        );
    }

    #[test]
    fn pending_is_bounded() {
        let mut c = cipher(CipherAlg::Aes, 16);
        for mid in 1..=100u32 {
            c.decrypt(mid, &[0u8; 16]).expect("d");
        }
        assert_eq!(c.pending.len(), MAX_PENDING);
        assert!(c.commit(100).is_ok());
        assert_eq!(c.commit(1), Err(Error::NothingToCommit(1)));
        assert_eq!(c.ivs.len(), 2);
    }

    #[test]
    fn fips197_aes128_block() {
        // FIPS 197 appendix C.1: one block under a zero IV is plain AES.
        let key: Vec<u8> = (0u8..16).collect();
        let pt: Vec<u8> = (0u8..16).map(|b| b * 0x11).collect();
        let ct = cbc_encrypt(CipherAlg::Aes, &key, &[0; 16], &pt).expect("aes");
        assert_eq!(hex::encode(ct), "69c4e0d86a7b0430d8cdb78070b4c55a");
    }
}
