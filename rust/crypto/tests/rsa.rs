//! RSA_SIG signatures against OpenSSL: fixed keys made once with
//! `openssl genpkey` and signatures made with
//! `openssl pkeyutl -sign -pkeyopt rsa_padding_mode:pkcs1` over raw bytes,
//! read from the project's tests/data/pki/rsa.

use isakmp_crypto::rsa::verify_raw;
use isakmp_crypto::{RsaError, RsaPrivateKey, RsaPublicKey};

fn data(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/data/pki/rsa/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const BITS: [usize; 2] = [1024, 2048];

#[test]
fn private_key_formats_and_sizes() {
    for bits in BITS {
        let pk8 = RsaPrivateKey::from_der(&data(&format!("rsa{bits}.pk8.der"))).expect("pkcs8");
        let pk1 = RsaPrivateKey::from_der(&data(&format!("rsa{bits}.pkcs1.der"))).expect("pkcs1");
        assert_eq!(pk8.bits(), bits);
        assert_eq!(pk8.size(), bits / 8);
        assert_eq!(pk1.bits(), bits);
        // Both encodings hold the same key, whose SPKI is OpenSSL's.
        let spki = data(&format!("rsa{bits}.spki.der"));
        assert_eq!(pk8.public_der().expect("spki"), spki);
        assert_eq!(pk1.public_der().expect("spki"), spki);
    }
}

#[test]
fn public_key_formats() {
    for bits in BITS {
        let spki = RsaPublicKey::from_der(&data(&format!("rsa{bits}.spki.der"))).expect("spki");
        let pkcs1 =
            RsaPublicKey::from_der(&data(&format!("rsa{bits}.pub-pkcs1.der"))).expect("pkcs1");
        assert_eq!(spki, pkcs1);
        assert_eq!(spki.bits(), bits);
        assert_eq!(
            pkcs1.to_spki_der().expect("der"),
            data(&format!("rsa{bits}.spki.der"))
        );
    }
}

#[test]
fn signatures_equal_openssl() {
    // PKCS#1 v1.5 is deterministic: blinding must not change the result.
    for bits in BITS {
        let key = RsaPrivateKey::from_der(&data(&format!("rsa{bits}.pk8.der"))).expect("key");
        for len in [20, 64] {
            let msg = data(&format!("data{len}.bin"));
            let expected = data(&format!("rsa{bits}.data{len}.sig"));
            let sig = key.sign_raw(&msg).expect("sign");
            assert_eq!(sig, expected, "{bits}-bit key, {len} bytes");
            assert_eq!(key.sign_raw(&msg).expect("sign again"), expected);
        }
    }
}

#[test]
fn verify_openssl_signatures() {
    for bits in BITS {
        for pubname in ["spki", "pub-pkcs1"] {
            let der = data(&format!("rsa{bits}.{pubname}.der"));
            for len in [20, 64] {
                let msg = data(&format!("data{len}.bin"));
                let sig = data(&format!("rsa{bits}.data{len}.sig"));
                assert_eq!(verify_raw(&der, &msg, &sig), Ok(true));
            }
        }
    }
}

#[test]
fn wrong_data_signature_or_key_is_false() {
    let der = data("rsa2048.spki.der");
    let other = data("rsa1024.spki.der");
    let msg = data("data20.bin");
    let sig = data("rsa2048.data20.sig");

    let mut bad_msg = msg.clone();
    bad_msg[0] ^= 1;
    assert_eq!(verify_raw(&der, &bad_msg, &sig), Ok(false));
    assert_eq!(verify_raw(&der, &msg[..19], &sig), Ok(false));
    assert_eq!(verify_raw(&der, b"", &sig), Ok(false));

    let mut bad_sig = sig.clone();
    bad_sig[100] ^= 0x80;
    assert_eq!(verify_raw(&der, &msg, &bad_sig), Ok(false));
    assert_eq!(verify_raw(&der, &msg, &sig[1..]), Ok(false));
    assert_eq!(verify_raw(&der, &msg, b""), Ok(false));
    let mut long_sig = sig.clone();
    long_sig.push(0);
    assert_eq!(verify_raw(&der, &msg, &long_sig), Ok(false));
    // A value not below the modulus.
    assert_eq!(verify_raw(&der, &msg, &[0xff; 256]), Ok(false));

    assert_eq!(verify_raw(&other, &msg, &sig), Ok(false));
    // The signature of other data with the same key.
    let sig64 = data("rsa2048.data64.sig");
    assert_eq!(verify_raw(&der, &msg, &sig64), Ok(false));
}

#[test]
fn a_signature_with_its_leading_zero_bytes_dropped_verifies() {
    // Look for data whose signature starts with a zero byte (1 in 256).
    let key = RsaPrivateKey::from_der(&data("rsa1024.pk8.der")).expect("key");
    let public = key.public_key();
    let found = (0u32..4096).find_map(|i| {
        let msg = i.to_be_bytes();
        let sig = key.sign_raw(&msg).ok()?;
        (sig.first() == Some(&0)).then_some((msg, sig))
    });
    let (msg, sig) = found.expect("a signature with a leading zero byte");
    assert_eq!(sig.len(), 128);
    assert!(public.verify_raw(&msg, &sig));
    assert!(public.verify_raw(&msg, &sig[1..]));
}

#[test]
fn data_too_long_for_the_modulus() {
    let key = RsaPrivateKey::from_der(&data("rsa1024.pk8.der")).expect("key");
    assert!(key.sign_raw(&[7; 117]).is_ok());
    assert_eq!(
        key.sign_raw(&[7; 118]),
        Err(RsaError::DataTooLong {
            len: 118,
            modulus_len: 128
        })
    );
}

#[test]
fn garbage_der_is_an_error() {
    let pk8 = data("rsa2048.pk8.der");
    let spki = data("rsa2048.spki.der");
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"garbage".to_vec(),
        vec![0x30],
        vec![0x30, 0x82, 0xff, 0xff],
        pk8[..pk8.len() / 2].to_vec(),
        pk8[..pk8.len() - 1].to_vec(),
        spki.clone(),
    ];
    for der in &inputs {
        assert!(matches!(
            RsaPrivateKey::from_der(der),
            Err(RsaError::PrivateKey(_))
        ));
    }
    let bad_pub: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"garbage".to_vec(),
        spki[..spki.len() - 1].to_vec(),
        spki[..10].to_vec(),
    ];
    for der in &bad_pub {
        assert!(matches!(
            RsaPublicKey::from_der(der),
            Err(RsaError::PublicKey(_))
        ));
        assert!(verify_raw(der, b"x", &[0; 256]).is_err());
    }
    // Every truncation and every single-byte change of a key: an error or a
    // key, never a panic.
    for cut in 0..pk8.len() {
        let _ = RsaPrivateKey::from_der(&pk8[..cut]);
    }
    for i in 0..spki.len() {
        let mut der = spki.clone();
        der[i] ^= 0x41;
        if let Ok(k) = RsaPublicKey::from_der(&der) {
            let _ = k.verify_raw(b"x", &[1; 256]);
        }
    }
}

#[test]
fn the_private_key_error_names_both_formats() {
    let e = RsaPrivateKey::from_der(b"nope").expect_err("garbage");
    let text = e.to_string();
    assert!(text.contains("PKCS#8") && text.contains("PKCS#1"), "{text}");
}
