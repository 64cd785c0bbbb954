"""Signed credentials (RFC 2704 section 4.6.7, RFC 2792): credentials
signed by libkeynote, our signer, tampering, wrong keys and algorithms,
and key identity across encodings."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import dsa, rsa
from isakmpd.policy.keynote import (
    KeyNoteError,
    KeyNoteSignatureError,
    KeyNoteSyntaxError,
    Session,
    canonical,
    decode_private_key,
    encode_private_key,
    encode_public_key,
    parse_assertions,
    read_credentials,
    same_principal,
    sign_assertion,
    signature_value,
    verify,
)

DATA = Path(__file__).parent / "data" / "keynote"
SAMPLE_REQUESTER = (
    "dsa-hex:3081de02402121e160209f7ecef1b6866c907e8d"
    "d65e9a67ef0fbd6ece7760b7c8bb0d9a0b71a0dd921b949f0"
    "9a16092eb3f50e33892bc3e9f1c8409f5298de40461493ef1"
    "024100a60b7e77f317e156566b388aaa32c3866a086831649"
    "1a55ab6fb8e57f7ade4a2a31e43017c383ab2a3e54f49688d"
    "d66a326b7362beb974f2f1fb7dd573dd1bdf021500909807a"
    "4937f198fe893be6c63a7d627f13a385b02405811292c9949"
    "7aa80911c781a0ff51a5843423b9b4d03ad7e708ae2bfacaf"
    "11477f4f197dbba534194f8afd1e0b73261bb0a2c04af35db"
    "0507f5cffe74ed4f1a"
)
SAMPLE_ATTRS = {
    "app_domain": "test application",
    "some_num": "1",
    "some_var": "some other value",
    "another_var": "foo",
}


@pytest.fixture(scope="module")
def rsa_a() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 1024)


@pytest.fixture(scope="module")
def rsa_b() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 1024)


@pytest.fixture(scope="module")
def dsa_key() -> dsa.DSAPrivateKey:
    return dsa.generate_private_key(1024)


def sample_credential() -> str:
    return (DATA / "libkeynote-sample-credential").read_text()


# -- credentials signed by libkeynote ------------------------------------


def test_libkeynote_sample_application() -> None:
    s = Session()
    s.load_file(DATA / "libkeynote-sample-policy")
    (cred,) = s.load_file(DATA / "libkeynote-sample-credential", trusted=False)
    assert cred.authorizer_id.kind == "rsa"
    result = s.query(SAMPLE_ATTRS, [SAMPLE_REQUESTER])
    assert result.value == "true"
    assert cred in result.deciding_assertions
    # Without the credential, the requester's DSA key is not trusted.
    s.remove(cred)
    assert s.query(SAMPLE_ATTRS, [SAMPLE_REQUESTER]).value == "false"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"foo" -> "true"', '"fop" -> "true"'),  # a condition
        ('"foo" -> "true";\n', '"foo" -> "true"; \n'),  # a trailing space
        ("KeyNote-Version: 2\n", "keynote-version: 2\n"),  # the case of a name
        ("E2OhrczI0LtAYAoJ", "E2OhrczI0LtAYAoK"),  # the signature bits
        ("sig-rsa-sha1-base64:", "sig-rsa-md5-base64:"),  # the hash
    ],
)
def test_tampered_credential_is_rejected(old: str, new: str) -> None:
    text = sample_credential()
    assert old in text
    with pytest.raises(KeyNoteSignatureError, match="does not verify") as info:
        Session().add_credential(text.replace(old, new, 1), "cred")
    assert info.value.file == "cred" and info.value.line == 1


def test_tampered_credential_adds_nothing() -> None:
    s = Session()
    good = sample_credential()
    bad = good.replace('"foo" -> "true"', '"fop" -> "true"')
    with pytest.raises(KeyNoteSignatureError):
        s.add_credential(good + "\n" + bad, "two")
    assert s.assertions == ()


# -- our signer ----------------------------------------------------------


def credential(authorizer: str, licensees: str = '"B"') -> str:
    return (
        "KeyNote-Version: 2\n"
        f'Authorizer: "{authorizer}"\n'
        f"Licensees: {licensees}\n"
        'Conditions: app_domain == "IPsec policy" -> "true";\n'
    )


@pytest.mark.parametrize(
    "algorithm",
    [
        "sig-rsa-sha1-hex:",
        "sig-rsa-sha1-base64:",
        "sig-rsa-md5-hex:",
        "sig-rsa-md5-base64:",
    ],
)
@pytest.mark.parametrize("key_encoding", ["hex", "base64"])
def test_rsa_sign_and_verify(rsa_a, algorithm: str, key_encoding: str) -> None:
    text = credential(encode_public_key(rsa_a, key_encoding))
    signed = sign_assertion(text, rsa_a, algorithm)
    assert signed.startswith(text)
    (a,) = Session().add_credential(signed)
    assert a.signature is not None and a.signature.startswith(algorithm)


def test_signature_matches_libkeynote_format(rsa_a) -> None:
    # RSA over DER OCTET STRING (SHA-1 of text + algorithm): what
    # RSA_sign_ASN1_OCTET_STRING makes, checked with the raw public key.
    import hashlib

    text = credential(encode_public_key(rsa_a))
    value = signature_value(text, rsa_a, "sig-rsa-sha1-hex:")
    sig = bytes.fromhex(value.split(":", 1)[1])
    nums = rsa_a.public_key().public_numbers()
    block = pow(int.from_bytes(sig, "big"), nums.e, nums.n).to_bytes(128, "big")
    digest = hashlib.sha1((text + "sig-rsa-sha1-hex:").encode()).digest()
    assert block == b"\x00\x01" + b"\xff" * (128 - 3 - 22) + b"\x00\x04\x14" + digest


def test_digestinfo_signature_is_accepted(rsa_a) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    text = credential(encode_public_key(rsa_a))
    sig = rsa_a.sign(
        (text + "sig-rsa-sha1-hex:").encode(), padding.PKCS1v15(), hashes.SHA1()
    )
    signed = text + f'Signature: "sig-rsa-sha1-hex:{sig.hex()}"\n'
    Session().add_credential(signed)


@pytest.mark.parametrize("algorithm", ["sig-dsa-sha1-hex:", "sig-dsa-sha1-base64:"])
def test_dsa_sign_and_verify(dsa_key, algorithm: str) -> None:
    text = credential(encode_public_key(dsa_key, "base64"))
    signed = sign_assertion(text, dsa_key, algorithm)
    Session().add_credential(signed)
    with pytest.raises(KeyNoteSignatureError, match="does not verify"):
        Session().add_credential(signed.replace('"B"', '"C"'))


def test_old_512_bit_dsa_key_is_refused_clearly() -> None:
    text = (
        credential(SAMPLE_REQUESTER)
        + 'Signature: "sig-dsa-sha1-hex:3006020101020101"\n'
    )
    with pytest.raises(KeyNoteSignatureError, match="unsupported DSA key"):
        Session().add_credential(text)


def test_keygen_private_key_format(rsa_a, dsa_key) -> None:
    for key in (rsa_a, dsa_key):
        for encoding in ("hex", "base64"):
            private = encode_private_key(key, encoding)
            assert private.startswith(f"private-{'rsa' if key is rsa_a else 'dsa'}-")
            back = decode_private_key(private)
            assert encode_public_key(back) == encode_public_key(key)
    text = credential(encode_public_key(rsa_a))
    signed = sign_assertion(text, encode_private_key(rsa_a), "sig-rsa-sha1-hex:")
    Session().add_credential(signed)


def test_sign_replaces_an_existing_signature_field(rsa_a) -> None:
    text = credential(encode_public_key(rsa_a))
    once = sign_assertion(text + "Signature:\n", rsa_a)
    twice = sign_assertion(once, rsa_a)
    assert once == twice  # RSA PKCS#1 v1.5 is deterministic
    assert once.count("Signature:") == 1


def test_sign_refuses_a_foreign_key(rsa_a, rsa_b) -> None:
    with pytest.raises(KeyNoteError, match="does not belong to the Authorizer"):
        sign_assertion(credential(encode_public_key(rsa_a)), rsa_b)
    with pytest.raises(KeyNoteError, match="needs a DSA private key"):
        signature_value("x\n", rsa_a, "sig-dsa-sha1-hex:")
    with pytest.raises(KeyNoteError, match="cannot be signed"):
        sign_assertion('Authorizer: "POLICY"\n', rsa_a)


def test_leading_comment_is_signed_like_libkeynote(rsa_a) -> None:
    # libkeynote signs from the first line (comments too); RFC 2704 says
    # from the first field. Both verify.
    body = "# issued for the lab\n" + credential(encode_public_key(rsa_a))
    ours = sign_assertion(body, rsa_a)
    Session().add_credential(ours)
    first_field = body.index("KeyNote-Version")
    value = signature_value(body[first_field:], rsa_a)
    Session().add_credential(body + f'Signature: "{value}"\n')
    with pytest.raises(KeyNoteSignatureError):
        Session().add_credential(body.replace("lab", "lob") + ours[len(body) :])


# -- rejections ---------------------------------------------------------


def test_wrong_key(rsa_a, rsa_b) -> None:
    signed = sign_assertion(credential(encode_public_key(rsa_a)), rsa_a)
    forged = signed.replace(encode_public_key(rsa_a), encode_public_key(rsa_b))
    with pytest.raises(KeyNoteSignatureError, match="does not verify"):
        Session().add_credential(forged)


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (
            "sig-dsa-sha1-hex:3006020101020101",
            "does not match the Authorizer's RSA key",
        ),
        (
            "sig-rsa-sha256-hex:00",
            "unsupported signature algorithm 'sig-rsa-sha256-hex'",
        ),
        ("sig-x509-sha1-base64:AAAA", "unsupported signature algorithm"),
        ("RSA-SHA1:f00f2244", "unsupported signature algorithm"),
        ("nocolon", "not of the form"),
        ("sig-rsa-sha1-hex:zz", "not valid hex"),
        ("sig-rsa-sha1-hex:", "not valid hex"),
        ("sig-rsa-sha1-base64:abc", "not valid base64"),
        ("sig-rsa-sha1-hex:00", "does not verify"),
    ],
)
def test_bad_signatures(rsa_a, signature: str, reason: str) -> None:
    text = credential(encode_public_key(rsa_a)) + f'Signature: "{signature}"\n'
    with pytest.raises(KeyNoteSignatureError) as info:
        Session().add_credential(text, "peer")
    assert reason in info.value.reason
    assert str(info.value).startswith("peer:1: ")


def test_unsigned_credential_is_rejected() -> None:
    with pytest.raises(KeyNoteSignatureError, match="not signed"):
        Session().add_credential(credential("rsa-hex:00"))
    # ... even when it claims to be a policy.
    with pytest.raises(KeyNoteSignatureError, match="not signed"):
        Session().add_credential('Authorizer: "POLICY"\nLicensees: "eve"\n')


def test_opaque_authorizer_cannot_sign() -> None:
    text = credential("alice") + 'Signature: "sig-rsa-sha1-hex:00"\n'
    with pytest.raises(KeyNoteSignatureError, match="not a key that can sign"):
        Session().add_credential(text)
    text = credential("rsa-hex:zz") + 'Signature: "sig-rsa-sha1-hex:00"\n'
    with pytest.raises(KeyNoteSignatureError, match="does not decode"):
        Session().add_credential(text)


def test_policy_file_signatures_are_checked_too(rsa_a) -> None:
    signed = sign_assertion(credential(encode_public_key(rsa_a)), rsa_a)
    Session().add_policy(signed)
    with pytest.raises(KeyNoteSignatureError):
        Session().add_policy(signed.replace('"B"', '"C"'))


def test_policy_assertion_cannot_carry_a_signature() -> None:
    with pytest.raises(KeyNoteSyntaxError, match="cannot be signed"):
        Session().add_policy('Authorizer: "POLICY"\nSignature: "sig-rsa-sha1-hex:00"\n')


# -- chains of signed credentials ---------------------------------------


def test_signed_delegation_chain(rsa_a, rsa_b) -> None:
    key_a = encode_public_key(rsa_a)
    key_b_hex = encode_public_key(rsa_b, "hex")
    key_b_b64 = encode_public_key(rsa_b, "base64")
    s = Session()
    s.add_policy(
        f'Authorizer: "POLICY"\nLicensees: "{key_a}"\n'
        'Conditions: app_domain == "IPsec policy";\n',
        "policy",
    )
    # A delegates to B (written in hex), restricted to AES.
    cred_ab = sign_assertion(
        "KeyNote-Version: 2\n"
        f'Authorizer: "{key_a}"\n'
        f'Licensees: "{key_b_hex}"\n'
        'Conditions: esp_enc_alg == "aes";\n',
        rsa_a,
    )
    # B delegates to a passphrase principal.
    cred_bc = sign_assertion(
        "KeyNote-Version: 2\n"
        f'Authorizer: "{key_b_hex}"\n'
        'Licensees: "passphrase:secret"\n',
        rsa_b,
        "sig-rsa-md5-base64:",
    )
    s.add_credential(cred_ab, "a-to-b")
    s.add_credential(cred_bc, "b-to-c")
    attrs = {"app_domain": "IPsec policy", "esp_enc_alg": "aes"}
    result = s.query(attrs, ["passphrase:secret"])
    assert result.approved
    assert [a.source for a in result.deciding_assertions] == [
        "policy",
        "a-to-b",
        "b-to-c",
    ]
    assert not s.query({**attrs, "esp_enc_alg": "3des"}, ["passphrase:secret"]).approved
    # B itself, named in base64 this time, is the same principal.
    assert s.query(attrs, [key_b_b64]).approved
    assert not s.query(attrs, ["passphrase:other"]).approved


# -- principal identity ---------------------------------------------------


def test_key_encodings_name_the_same_principal(rsa_a, rsa_b) -> None:
    hex_key = encode_public_key(rsa_a, "hex")
    b64_key = encode_public_key(rsa_a, "base64")
    assert hex_key.startswith("rsa-hex:3081") and b64_key.startswith("rsa-base64:MIG")
    assert same_principal(hex_key, b64_key)
    assert same_principal(hex_key, "RSA-HEX:" + hex_key[8:].upper())
    assert not same_principal(hex_key, encode_public_key(rsa_b))
    der = base64.b64decode(b64_key.split(":", 1)[1])
    assert canonical(hex_key).material == (
        rsa_a.public_key().public_numbers().n,
        rsa_a.public_key().public_numbers().e,
    )
    # A SubjectPublicKeyInfo of the same key is the same principal too.
    from cryptography.hazmat.primitives import serialization

    spki = rsa_a.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert same_principal("rsa-hex:" + spki.hex(), hex_key)
    assert der != spki


def test_dsa_and_binary_identity(dsa_key) -> None:
    assert same_principal(
        encode_public_key(dsa_key, "hex"), encode_public_key(dsa_key, "base64")
    )
    assert same_principal("binary-hex:414243", "binary-base64:QUJD")
    assert not same_principal("binary-hex:414243", "binary-hex:414244")
    # The libkeynote sample's 512-bit DSA key, hex and base64.
    b64 = base64.b64encode(bytes.fromhex(SAMPLE_REQUESTER[8:])).decode()
    assert same_principal(SAMPLE_REQUESTER, "dsa-base64:" + b64)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("passphrase:mekmitasdigoat", "passphrase:mekmitasdigoat", True),
        ("passphrase:mekmitasdigoat", "passphrase:Mekmitasdigoat", False),
        ("Key3", "key3", False),
        ("rsa-hex:zz", "rsa-hex:zz", True),  # undecodable: opaque
        ("rsa-hex:zz", "RSA-HEX:zz", False),
        ("binary-hex:41", "binary-hex:4", False),
    ],
)
def test_opaque_principals_compare_literally(a: str, b: str, same: bool) -> None:
    assert same_principal(a, b) is same


# -- key decoding edge cases ----------------------------------------------


@pytest.mark.parametrize(
    "der_hex",
    [
        "",
        "30",  # truncated
        "3003020101",  # length says 3, 2 bytes of content... and one short
        "300402010102",  # trailing INTEGER without length
        "30030201",  # INTEGER length missing
        "3081030201010201",  # long form for a short length
        "30050201010400",  # not an INTEGER
        "3004020002",  # empty INTEGER
        "30060201ff020101",  # negative modulus
        "3085ffffffff00",  # absurd length
    ],
)
def test_malformed_keys_are_opaque(der_hex: str) -> None:
    key = "rsa-hex:" + der_hex
    assert canonical(key).kind == "opaque"
    assert same_principal(key, key)


def test_dsa_key_as_subject_public_key_info(dsa_key) -> None:
    from cryptography.hazmat.primitives import serialization

    spki = dsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert same_principal("dsa-hex:" + spki.hex(), encode_public_key(dsa_key))
    # An RSA key named as DSA is not a DSA key.
    rsa_spki = (
        rsa.generate_private_key(65537, 1024)
        .public_key()
        .public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert canonical("dsa-hex:" + rsa_spki.hex()).kind == "opaque"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("rsa-hex:00", "starts with 'private-'"),
        ("private-elgamal-hex:00", "unsupported private key"),
        ("private-rsa-hex:zz", "not valid hex"),
        ("private-rsa-base64:abc", "not valid base64"),
        ("private-rsa-hex:3003020101", "cannot read the RSA private key"),
        ("private-dsa-hex:3003020101", "cannot read the DSA private key"),
    ],
)
def test_bad_private_keys(text: str, reason: str) -> None:
    with pytest.raises(KeyNoteError, match=reason):
        decode_private_key(text)


def test_private_key_in_quotes_and_over_lines(rsa_a) -> None:
    private = encode_private_key(rsa_a, "base64")
    wrapped = '"' + private[:50] + "\\\n      " + private[50:] + '"\n'
    assert "\\\n" in wrapped
    back = decode_private_key(wrapped)
    assert encode_public_key(back) == encode_public_key(rsa_a)
    with pytest.raises(KeyNoteError, match="one string"):
        decode_private_key('"a" "b"')


def test_dsa_private_key_is_not_an_rsa_one(dsa_key) -> None:
    der = bytes.fromhex(encode_private_key(dsa_key, "hex").split(":", 1)[1])
    with pytest.raises(KeyNoteError, match="cannot read the RSA private key"):
        decode_private_key("private-rsa-hex:" + der.hex())


def test_signing_helper_errors(rsa_a) -> None:
    with pytest.raises(KeyNoteError, match="unsupported signature algorithm"):
        signature_value("x\n", rsa_a, "sig-rsa-sha256-hex:")
    with pytest.raises(KeyNoteError, match="needs an RSA private key"):
        signature_value("x\n", dsa.generate_private_key(1024), "sig-rsa-sha1-hex:")
    with pytest.raises(KeyNoteError, match="expected one assertion"):
        sign_assertion('Authorizer: "a"\n\nAuthorizer: "b"\n', rsa_a)
    # A final line without newline is completed before signing.
    text = credential(encode_public_key(rsa_a)).rstrip("\n")
    Session().add_credential(sign_assertion(text, rsa_a))


def test_per_query_credentials(rsa_a) -> None:
    key_a = encode_public_key(rsa_a)
    s = Session()
    s.add_policy(f'Authorizer: "POLICY"\nLicensees: "{key_a}"\n', "policy")
    signed = sign_assertion(credential(key_a, '"peer"'), rsa_a)
    creds = read_credentials(signed, "from-peer")
    assert creds[0].verified
    attrs = {"app_domain": "IPsec policy"}
    result = s.query(attrs, ["peer"], credentials=creds)
    assert result.approved
    assert result.deciding_assertions[1].source == "from-peer"
    # Nothing stays in the session.
    assert not s.query(attrs, ["peer"]).approved
    assert len(s.assertions) == 1
    # Unverified assertions are refused.
    (unverified,) = parse_assertions(signed, "x")
    with pytest.raises(KeyNoteError, match="no verified signature"):
        s.query(attrs, ["peer"], credentials=[unverified])
    with pytest.raises(KeyNoteSignatureError):
        read_credentials(signed.replace('"peer"', '"eve"'))
