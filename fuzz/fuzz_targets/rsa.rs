//! RSA public keys and raw PKCS#1 v1.5 signatures: arbitrary DER for the
//! key, arbitrary data and signature. A key that reads must be in the
//! accepted size range, survive a DER round trip, and answer a verification
//! with true or false; a key that does not read is an error with words.
//!
//! Input: a 16-bit length and the key DER, an 8-bit length and the signed
//! data, then the signature.

#![no_main]

use isakmp_crypto::rsa::verify_raw;
use isakmp_crypto::RsaPublicKey;
use isakmp_fuzz::Input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let der = input.field();
    let n = usize::from(input.u8());
    let signed = input.take(n);
    let sig = input.rest();
    let key = match RsaPublicKey::from_der(der) {
        Ok(key) => key,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            assert!(verify_raw(der, signed, sig).is_err());
            return;
        }
    };
    assert!((1024..=8192).contains(&key.bits()), "{} bits", key.bits());
    assert_eq!(key.size(), key.bits().div_ceil(8));
    let spki = key.to_spki_der().expect("SPKI encoding");
    assert_eq!(
        RsaPublicKey::from_der(&spki).as_ref(),
        Ok(&key),
        "SPKI round trip"
    );
    let ok = key.verify_raw(signed, sig);
    assert_eq!(verify_raw(der, signed, sig), Ok(ok));
    if ok {
        assert!(!sig.is_empty() && sig.len() <= key.size());
        assert!(key.verify_raw(signed, &[&[0u8][..], sig].concat()) == (sig.len() < key.size()));
    }
});
