//! Published test vectors, read from the project's tests/data/vectors.

use isakmp_crypto::cipher::{cbc_decrypt, cbc_encrypt, CipherAlg};
use isakmp_crypto::dh::{EcpGroup, ModpGroup};
use isakmp_crypto::kdf::{appendix_b_key, expand};
use isakmp_crypto::{DhKey, Error, HashAlg, Phase1Keys};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/data/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn hash_named(name: &str) -> HashAlg {
    match name.to_ascii_lowercase().replace('-', "").as_str() {
        "md5" => HashAlg::Md5,
        "sha1" => HashAlg::Sha1,
        "sha256" => HashAlg::Sha256,
        "sha384" => HashAlg::Sha384,
        "sha512" => HashAlg::Sha512,
        other => panic!("hash {other}"),
    }
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not an array"))
}

#[test]
fn hmac_vectors() {
    let mut count = 0;
    for (file, key) in [
        ("isakmpd_regress_vectors.json", "hmac_prf"),
        ("rfc2202_rfc4231_hmac.json", "hmac"),
    ] {
        for case in arr(&load(file), key) {
            let alg = hash_named(case["hash"].as_str().expect("hash"));
            let got = alg.prf(&hx(&case["key_hex"]), &[&hx(&case["data_hex"])]);
            assert_eq!(
                hex::encode(got),
                case["hmac"].as_str().expect("hmac"),
                "{}",
                case["name"]
            );
            count += 1;
        }
    }
    assert_eq!(count, 14);
}

#[test]
fn blowfish_cbc_vector() {
    let v = &load("isakmpd_regress_vectors.json")["blowfish_cbc"];
    let (key, iv) = (hx(&v["key_hex"]), hx(&v["iv_hex"]));
    let (pt, ct) = (hx(&v["plaintext_hex"]), hx(&v["ciphertext_hex"]));
    assert_eq!(
        cbc_encrypt(CipherAlg::Blowfish, &key, &iv, &pt).expect("encrypt"),
        ct
    );
    assert_eq!(
        cbc_decrypt(CipherAlg::Blowfish, &key, &iv, &ct).expect("decrypt"),
        pt
    );
}

#[test]
fn modp_primes_match_the_rfcs() {
    let groups = arr(&load("modp_groups.json"), "groups").clone();
    assert_eq!(groups.len(), 8);
    for g in &groups {
        let id = g["ike_group"].as_u64().expect("id") as u16;
        let group = ModpGroup::find(id).expect("group implemented");
        assert_eq!(group.prime(), hx(&g["prime_hex"]), "group {id}");
        assert_eq!(u64::from(group.bits), g["bits"].as_u64().expect("bits"));
        assert_eq!(g["generator"].as_u64(), Some(2));
        let info = isakmp_crypto::group_info(id).expect("info");
        assert_eq!(
            info.public_len as u64,
            g["public_value_octets"].as_u64().expect("octets")
        );
    }
}

/// The MODP exponent of `random` as isakmp-crypto draws it, and a second
/// key's, against SHA-256 digests of g^x and g^xy computed with Python's
/// integers (pow(2, x, p)) from the same rule.
#[test]
fn modp_known_answers() {
    let kats: [(u16, Option<u32>, &str, &str); 9] = [
        (
            1,
            None,
            "35cc71a60a058dac194a7cca93e3f6ec",
            "74567ac8ae6391bddd6460790bf2fe79",
        ),
        (
            1,
            Some(0),
            "4a13b23ffb9269c16e0bb4c3b047489e",
            "925d8757c7ecca7defe4fa09bef1f9a4",
        ),
        (
            2,
            Some(161),
            "2bb6ba5007510da931c736643285efca",
            "3356e23a3ca578e473026f930172f65d",
        ),
        (
            5,
            None,
            "15a1495189439e5fb7549a09a449a4b9",
            "6458fa10f4df4ad682ad1ac4c2d026cb",
        ),
        (
            14,
            None,
            "4fdbdbfa5a5345349738a232ed395cd9",
            "29b011e560824988406f1a94968cdd55",
        ),
        (
            15,
            None,
            "153bd79c7e60c2dc620915c250800a9b",
            "3f33184d66772583c48d578e515a7d23",
        ),
        (
            16,
            None,
            "6fe17dc7eef0438a619b301677b43338",
            "632981c60a54da12a4bec0ddd197bbb0",
        ),
        (
            17,
            None,
            "9be159b02c27e8e63e4858d497782643",
            "c484e786164946f13335ac3eda8cdad3",
        ),
        (
            18,
            None,
            "1c2c91f3d584d4844975a6432724cb72",
            "fb573afefa52266f18b5e22517850601",
        ),
    ];
    for (group, bits, public, shared) in kats {
        let a = DhKey::new(group, &pattern(1100, 7), bits).expect("key a");
        let b = DhKey::new(group, &pattern(1100, 13), bits).expect("key b");
        assert_eq!(
            digest(a.public()),
            public,
            "public of group {group} {bits:?}"
        );
        let s = a.compute(b.public()).expect("shared");
        assert_eq!(digest(&s), shared, "shared of group {group} {bits:?}");
        assert_eq!(*s, *b.compute(a.public()).expect("shared"));
    }
}

#[test]
fn rfc5903_ecp_vectors() {
    let vectors = arr(&load("rfc5903_ecp_dh.json"), "vectors").clone();
    assert!(vectors.len() >= 2);
    for v in &vectors {
        let id = v["ike_group"].as_u64().expect("group") as u16;
        let group = EcpGroup::find(id).expect("group implemented");
        let i = DhKey::new(id, &random_for_scalar(group, &hx(&v["i"])), None).expect("i");
        let r = DhKey::new(id, &random_for_scalar(group, &hx(&v["r"])), None).expect("r");
        assert_eq!(i.public(), hx(&v["kei_data"]).as_slice());
        assert_eq!(r.public(), hx(&v["ker_data"]).as_slice());
        let gir = hx(&v["girx"]);
        assert_eq!(*i.compute(&hx(&v["ker_data"])).expect("g^ir"), gir);
        assert_eq!(*r.compute(&hx(&v["kei_data"])).expect("g^ir"), gir);
    }
}

/// Public values and shared x of ECP keys against digests computed with
/// OpenSSL (Python cryptography) from the same scalar rule.
#[test]
fn ecp_known_answers() {
    let kats = [
        (
            19,
            "fe5c484edf74b4f30527583dcc8b4228",
            "ba093dbb9ca8ecf17bdb31e14fba6a9e",
        ),
        (
            20,
            "54a9642671e5ca0491f172b7eef919c7",
            "d7b871c1628200f97fd2f0f1ce92333e",
        ),
        (
            21,
            "e1f7c5ae71fbda6afb56eb0170366398",
            "814486e63d78f3bc9c6ec4471b704efb",
        ),
    ];
    for (group, public, shared) in kats {
        let a = DhKey::new(group, &pattern(74, 7), None).expect("key a");
        let b = DhKey::new(group, &pattern(74, 13), None).expect("key b");
        assert_eq!(digest(a.public()), public, "group {group}");
        assert_eq!(
            digest(&a.compute(b.public()).expect("shared")),
            shared,
            "group {group}"
        );
    }
}

#[test]
fn ikev1_kdf_vectors() {
    let doc = load("ikev1_kdf.json");
    let mut count = 0;
    for tg in arr(&doc, "testGroups") {
        let hash = hash_named(tg["hashAlg"].as_str().expect("hashAlg"));
        let method = tg["authenticationMethod"].as_str().expect("method");
        for t in arr(tg, "tests") {
            let (ni, nr) = (hx(&t["nInit"]), hx(&t["nResp"]));
            let full = t.get("gxy").is_some();
            let (gxy, ci, cr) = if full {
                (hx(&t["gxy"]), hx(&t["ckyInit"]), hx(&t["ckyResp"]))
            } else {
                (vec![0x55; 32], vec![1; 8], vec![2; 8])
            };
            let keys = match method {
                "psk" => {
                    let psk = hx(&t["preSharedKey"]);
                    Phase1Keys::for_psk(hash, &psk, &ni, &nr, &gxy, &ci, &cr)
                }
                "dsa" => Phase1Keys::for_signatures(hash, &ni, &nr, &gxy, &ci, &cr),
                other => panic!("method {other}"),
            }
            .expect("keys");
            let id = &t["tcId"];
            assert_eq!(keys.skeyid(), hx(&t["sKeyId"]).as_slice(), "tcId {id}");
            if full {
                assert_eq!(keys.skeyid_d(), hx(&t["sKeyIdD"]).as_slice(), "tcId {id}");
                assert_eq!(keys.skeyid_a(), hx(&t["sKeyIdA"]).as_slice(), "tcId {id}");
                assert_eq!(keys.skeyid_e(), hx(&t["sKeyIdE"]).as_slice(), "tcId {id}");
                let again = Phase1Keys::from_skeyid(hash, keys.skeyid(), &gxy, &ci, &cr)
                    .expect("from skeyid");
                assert_eq!(again.skeyid_e(), keys.skeyid_e());
            }
            count += 1;
        }
    }
    assert_eq!(count, 5);
}

#[test]
fn appendix_b_vectors() {
    let doc = load("ikev1_kdf.json");
    let vectors = arr(&doc["appendix_b_expansion"], "vectors");
    assert_eq!(vectors.len(), 2);
    for v in vectors {
        let hash = hash_named(v["hashAlg"].as_str().expect("hashAlg"));
        let key = hx(&v["key"]);
        let len = v["length"].as_u64().expect("length") as usize;
        assert_eq!(
            *appendix_b_key(hash, &key, len).expect("Ka"),
            hx(&v["appendix_b_Ka"])
        );
        assert_eq!(
            *expand(hash, &key, &[&[0]], true, len),
            hx(&v["keymat_style_seed00"])
        );
        // Short enough: the key itself, truncated.
        assert_eq!(*appendix_b_key(hash, &key, 16).expect("Ka"), key[..16]);
    }
}

#[test]
fn invalid_modp_public_values() {
    for id in [1u16, 2, 5, 14] {
        let group = ModpGroup::find(id).expect("group");
        let key = DhKey::new(id, &[0x42; 64], None).expect("key");
        let p = group.prime();
        let len = p.len();
        let p_minus_1 = add(&p, -1);
        let p_plus_1 = add(&p, 1);
        let mut one = vec![0; len];
        one[len - 1] = 1;
        let bad: Vec<Vec<u8>> = vec![
            vec![0; len],
            one,
            p_minus_1,
            p.clone(),
            p_plus_1,
            vec![0xff; len],
            vec![],
            vec![2],
            vec![0x02; len - 1],
            vec![0x02; len + 1],
        ];
        for y in bad {
            let err = key.compute(&y).expect_err("invalid value accepted");
            assert_eq!(err.notify(), 17, "{err}");
            // the cheap check refuses the same values, with the same error
            let checked = key.check_peer(&y).expect_err("check accepted it");
            assert_eq!(checked.to_string(), err.to_string());
        }
        let mut two = vec![0; len];
        two[len - 1] = 2;
        for y in [two, add(&p, -2)] {
            assert!(key.check_peer(&y).is_ok());
            assert!(key.compute(&y).is_ok());
        }
    }
}

#[test]
fn invalid_ecp_public_values() {
    for id in [19u16, 20, 21] {
        let key = DhKey::new(id, &[0x42; 80], None).expect("key");
        let good = key.public().to_vec();
        let n = good.len();
        let mut off_curve = good.clone();
        off_curve[n - 1] ^= 1;
        let bad: Vec<Vec<u8>> = vec![
            vec![0; n],
            off_curve,
            vec![0xff; n],
            good[..n - 1].to_vec(),
            [&[4u8][..], &good[..]].concat(),
            vec![],
        ];
        for y in bad {
            let err = key.compute(&y).expect_err("invalid point accepted");
            assert_eq!(err.notify(), 17, "{err}");
            let checked = key.check_peer(&y).expect_err("check accepted it");
            assert_eq!(checked.to_string(), err.to_string());
        }
        assert!(key.check_peer(&good).is_ok());
        assert!(key.compute(&good).is_ok());
    }
}

#[test]
fn bad_arguments_are_errors() {
    assert_eq!(
        DhKey::new(3, &[0; 100], None).err(),
        Some(Error::UnknownGroup(3))
    );
    assert_eq!(
        DhKey::new(22, &[0; 100], None).err(),
        Some(Error::UnknownGroup(22))
    );
    assert!(matches!(
        DhKey::new(14, &[0; 27], None),
        Err(Error::NotEnoughRandom { .. })
    ));
    assert!(matches!(
        DhKey::new(14, &[0; 300], Some(2048)),
        Err(Error::ExponentBits { .. })
    ));
    assert!(matches!(
        DhKey::new(14, &[0; 300], Some(159)),
        Err(Error::ExponentBits { .. })
    ));
    assert!(DhKey::new(14, &[0; 300], Some(2047)).is_ok());
    assert!(matches!(
        DhKey::new(21, &[0; 73], None),
        Err(Error::NotEnoughRandom { .. })
    ));
    assert_eq!(isakmp_crypto::random_bytes_needed(14, None), Ok(28));
    assert_eq!(isakmp_crypto::random_bytes_needed(14, Some(0)), Ok(256));
    assert_eq!(isakmp_crypto::random_bytes_needed(14, Some(161)), Ok(21));
    assert_eq!(isakmp_crypto::random_bytes_needed(19, Some(999)), Ok(40));
}

fn random_for_scalar(group: &EcpGroup, scalar: &[u8]) -> Vec<u8> {
    // (v mod (n-1)) + 1 == scalar for v = scalar - 1 < n - 1.
    let mut v = vec![0u8; group.random_len() - scalar.len()];
    v.extend_from_slice(scalar);
    add(&v, -1)
}

/// A big-endian number plus a small signed one (no overflow past its length).
fn add(num: &[u8], delta: i64) -> Vec<u8> {
    let mut out = num.to_vec();
    let mut carry = delta;
    for b in out.iter_mut().rev() {
        let v = i64::from(*b) + carry;
        *b = v.rem_euclid(256) as u8;
        carry = v.div_euclid(256);
        if carry == 0 {
            break;
        }
    }
    out
}

fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * seed + 1) & 0xff) as u8).collect()
}

fn digest(data: &[u8]) -> String {
    hex::encode(&HashAlg::Sha256.hash(&[data])[..16])
}
