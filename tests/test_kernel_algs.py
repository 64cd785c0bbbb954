"""Negotiated IPsec transforms to XFRM algorithms and KEYMAT lengths.

Expected values are the RFCs' (key and ICV sizes: RFC 2403/2404/2857/4868,
2451, 3602, 3686, 4106, 4543) and the Linux crypto API's algorithm names;
Wireshark's names are checked by tshark itself where it is installed. The
kernel accepting each of them is checked in the VM (tests/guest).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from isakmpd.constants import (
    AhTransform,
    AuthAlg,
    EspTransform,
    IpcompTransform,
    NotifyType,
)
from isakmpd.errors import CryptoError
from isakmpd.kernel import AeadAlgo, Algo, AuthAlgo, algs

E, A = EspTransform, AuthAlg


@pytest.mark.parametrize(
    ("transform", "bits", "auth", "lengths"),
    [
        (E.TDES, None, A.HMAC_MD5, (24, 16)),
        (E.TDES, 192, A.HMAC_SHA, (24, 20)),
        (E.AES, None, A.HMAC_SHA, (16, 20)),
        (E.AES, 192, A.HMAC_SHA2_256, (24, 32)),
        (E.AES, 256, A.HMAC_SHA2_512, (32, 64)),
        (E.AES, 128, A.HMAC_SHA2_384, (16, 48)),
        (E.AES, 128, A.HMAC_RIPEMD, (16, 20)),
        (E.AES, 128, None, (16, 0)),
        (E.BLOWFISH, None, A.HMAC_SHA, (16, 20)),
        (E.BLOWFISH, 448, A.HMAC_SHA, (56, 20)),
        (E.CAST, None, A.HMAC_MD5, (16, 16)),
        (E.CAST, 40, A.HMAC_MD5, (5, 16)),
        (E.AES_CTR, 128, A.HMAC_SHA, (20, 20)),
        (E.AES_CTR, 256, A.HMAC_SHA2_256, (36, 32)),
        (E.AES_GCM_16, 128, None, (20, 0)),
        (E.AES_GCM_16, 256, None, (36, 0)),
        (E.AES_GMAC, 192, None, (28, 0)),
        (E.NULL, None, A.HMAC_SHA2_256, (0, 32)),
    ],
)
def test_keymat_lengths(
    transform: int, bits: int | None, auth: int | None, lengths: tuple[int, int]
) -> None:
    assert algs.esp_keymat_lengths(transform, bits, auth) == lengths


def test_keymat_split_cipher_key_first() -> None:
    keymat = bytes(range(100))
    enc, auth = algs.esp_xfrm_algs(E.AES, 128, A.HMAC_SHA, keymat)
    assert enc == Algo("cbc(aes)", keymat[:16])
    assert auth == AuthAlgo("hmac(sha1)", keymat[16:36], 96)


@pytest.mark.parametrize(
    ("transform", "bits", "auth", "enc_name", "auth_name", "trunc"),
    [
        (E.TDES, None, A.HMAC_MD5, "cbc(des3_ede)", "hmac(md5)", 96),
        (E.BLOWFISH, 128, A.HMAC_SHA, "cbc(blowfish)", "hmac(sha1)", 96),
        (E.CAST, 128, A.HMAC_RIPEMD, "cbc(cast5)", "hmac(rmd160)", 96),
        (E.AES_CTR, 192, A.HMAC_SHA2_256, "rfc3686(ctr(aes))", "hmac(sha256)", 128),
        (E.AES, 256, A.HMAC_SHA2_384, "cbc(aes)", "hmac(sha384)", 192),
        (E.NULL, None, A.HMAC_SHA2_512, "ecb(cipher_null)", "hmac(sha512)", 256),
    ],
)
def test_xfrm_names(
    transform: int,
    bits: int | None,
    auth: int,
    enc_name: str,
    auth_name: str,
    trunc: int,
) -> None:
    enc_len, auth_len = algs.esp_keymat_lengths(transform, bits, auth)
    keymat = bytes(range(200))
    enc, integrity = algs.esp_xfrm_algs(transform, bits, auth, keymat)
    assert enc.name == enc_name and enc.key == keymat[:enc_len]
    assert integrity is not None
    assert integrity.name == auth_name and integrity.trunc_bits == trunc
    assert integrity.key == keymat[enc_len : enc_len + auth_len]


@pytest.mark.parametrize(
    ("transform", "name"),
    [
        (E.AES_GCM_16, "rfc4106(gcm(aes))"),
        (E.AES_GMAC, "rfc4543(gcm(aes))"),
    ],
)
def test_aead_key_carries_salt(transform: int, name: str) -> None:
    keymat = bytes(range(40))
    enc, auth = algs.esp_xfrm_algs(transform, 256, None, keymat)
    assert enc == AeadAlgo(name, keymat[:36], 128)
    assert auth is None


@pytest.mark.parametrize(
    ("args", "notify", "text"),
    [
        ((E.AES, 100, A.HMAC_SHA), NotifyType.ATTRIBUTES_NOT_SUPPORTED, "100-bit"),
        ((E.BLOWFISH, 36, A.HMAC_SHA), NotifyType.ATTRIBUTES_NOT_SUPPORTED, "36-bit"),
        ((E.CAST, 136, A.HMAC_SHA), NotifyType.ATTRIBUTES_NOT_SUPPORTED, "136-bit"),
        ((E.TDES, 128, A.HMAC_SHA), NotifyType.ATTRIBUTES_NOT_SUPPORTED, "128-bit"),
        ((E.DES, None, A.HMAC_SHA), NotifyType.INVALID_TRANSFORM_ID, "DES"),
        ((E.AES_CCM_16, 128, None), NotifyType.INVALID_TRANSFORM_ID, "AES_CCM_16"),
        ((E.AES, 128, A.DES_MAC), NotifyType.ATTRIBUTES_NOT_SUPPORTED, "DES_MAC"),
        (
            (E.AES_GCM_16, 128, A.HMAC_SHA),
            NotifyType.ATTRIBUTES_NOT_SUPPORTED,
            "no AUTHENTICATION_ALGORITHM",
        ),
        ((E.NULL, None, None), NotifyType.ATTRIBUTES_NOT_SUPPORTED, "NULL without"),
    ],
)
def test_refused(
    args: tuple[int, int | None, int | None], notify: int, text: str
) -> None:
    with pytest.raises(CryptoError, match=text) as info:
        algs.esp_keymat_lengths(*args)
    assert info.value.notify == notify


def test_short_keymat_is_refused() -> None:
    with pytest.raises(CryptoError, match="35 bytes, 36 needed") as info:
        algs.esp_xfrm_algs(E.AES, 128, A.HMAC_SHA, bytes(35))
    assert info.value.notify == NotifyType.INVALID_KEY_INFORMATION


@pytest.mark.parametrize(
    ("transform", "xfrm", "key_len", "trunc"),
    [
        (AhTransform.MD5, "hmac(md5)", 16, 96),
        (AhTransform.SHA, "hmac(sha1)", 20, 96),
        (AhTransform.RIPEMD, "hmac(rmd160)", 20, 96),
        (AhTransform.SHA2_256, "hmac(sha256)", 32, 128),
        (AhTransform.SHA2_384, "hmac(sha384)", 48, 192),
        (AhTransform.SHA2_512, "hmac(sha512)", 64, 256),
    ],
)
def test_ah(transform: int, xfrm: str, key_len: int, trunc: int) -> None:
    keymat = bytes(range(80))
    assert algs.ah_keymat_length(transform) == key_len
    assert algs.ah_xfrm_alg(transform, None, keymat) == AuthAlgo(
        xfrm, keymat[:key_len], trunc
    )


def test_ah_transform_and_attribute_must_agree() -> None:
    with pytest.raises(CryptoError, match="HMAC_MD5"):
        algs.ah_xfrm_alg(AhTransform.SHA, A.HMAC_MD5, bytes(64))
    assert algs.ah_xfrm_alg(AhTransform.SHA, A.HMAC_SHA, bytes(64)).name == "hmac(sha1)"
    with pytest.raises(CryptoError) as info:
        algs.ah_xfrm_alg(AhTransform.DES, None, bytes(64))
    assert info.value.notify == NotifyType.INVALID_TRANSFORM_ID


def test_ipcomp() -> None:
    assert algs.ipcomp_xfrm_alg(IpcompTransform.DEFLATE) == Algo("deflate")
    with pytest.raises(CryptoError, match="V42BIS"):
        algs.ipcomp_xfrm_alg(IpcompTransform.V42BIS)


def test_strongswan_keywords() -> None:
    assert algs.strongswan_proposal(E.AES, None, A.HMAC_SHA) == "aes128-sha1"
    assert algs.strongswan_proposal(E.AES_GCM_16, 256, None) == "aes256gcm16"
    assert algs.strongswan_proposal(E.TDES, None, A.HMAC_MD5) == "3des-md5"
    assert algs.strongswan_proposal(E.AES, 128, A.HMAC_RIPEMD) is None


ALL_ESP = [
    (t, a)
    for t in algs.ESP_CIPHERS
    for a in [None, *algs.AUTH_ALGS]
    if not (algs.ESP_CIPHERS[t].aead and a) and not (t == E.NULL and a is None)
]


def test_wireshark_names_are_known_to_tshark(tmp_path: Path) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("needs tshark to check Wireshark's names")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(struct.pack("=IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    options = []
    names = set()
    for transform, auth in ALL_ESP:
        enc_name, auth_name = algs.wireshark_names(transform, auth)
        if enc_name is None:
            continue  # AES-GMAC: Wireshark has no name for it
        names.add((enc_name, auth_name))
    for i, (enc_name, auth_name) in enumerate(sorted(names)):
        options += [
            "-o",
            f'uat:esp_sa:"IPv4","192.0.2.1","192.0.2.2","{i + 256:#x}",'
            f'"{enc_name}","0x00","{auth_name}","0x00"',
        ]
    done = subprocess.run(
        ["tshark", "-r", str(empty), *options],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(names) >= 40
    assert algs.wireshark_names(E.AES, A.HMAC_SHA) == (
        "AES-CBC [RFC3602]",
        "HMAC-SHA-1-96 [RFC2404]",
    )
    assert algs.wireshark_names(E.AES_GCM_16, None) == (
        "AES-GCM with 16 octet ICV [RFC4106]",
        "NULL",
    )
