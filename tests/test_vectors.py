"""Published test vectors (tests/data/vectors) through ``isakmpd._core``.

Sources: RFC 2202 / RFC 4231 and OpenBSD's isakmpd regress tests (HMAC, a
Blowfish-CBC vector), RFC 2409 / RFC 3526 (MODP primes), RFC 5903 (ECP DH),
NIST SP 800-135 IKEv1 samples and NSS's appendix-B expansion vectors.
"""

from __future__ import annotations

import hmac
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from isakmpd import _core

VECTORS = Path(__file__).parent / "data" / "vectors"

# IKE HASH_ALGORITHM values by the names the vector files use
HASH_IDS = {"md5": 1, "sha1": 2, "sha256": 4, "sha384": 5, "sha512": 6}
HASHLIB_NAMES = {1: "md5", 2: "sha1", 4: "sha256", 5: "sha384", 6: "sha512"}


@cache
def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


def hash_id(name: str) -> int:
    return HASH_IDS[name.lower().replace("-", "")]


def unhex(s: str) -> bytes:
    return bytes.fromhex(s)


# ------------------------------------------------------------------ HMAC ---

HMAC_CASES = [
    *load("isakmpd_regress_vectors.json")["hmac_prf"],
    *load("rfc2202_rfc4231_hmac.json")["hmac"],
]


@pytest.mark.parametrize("case", HMAC_CASES, ids=[c["name"] for c in HMAC_CASES])
def test_hmac_vector(case: dict[str, str]) -> None:
    got = _core.prf(
        hash_id(case["hash"]), unhex(case["key_hex"]), unhex(case["data_hex"])
    )
    assert got.hex() == case["hmac"]


def test_hmac_vectors_cover_every_hash() -> None:
    assert {hash_id(c["hash"]) for c in HMAC_CASES} == set(HASH_IDS.values())


# ------------------------------------------------------------- Blowfish ---


def test_blowfish_cbc_vector() -> None:
    v = load("isakmpd_regress_vectors.json")["blowfish_cbc"]
    key, iv = unhex(v["key_hex"]), unhex(v["iv_hex"])
    pt, ct = unhex(v["plaintext_hex"]), unhex(v["ciphertext_hex"])
    assert _core.cbc_encrypt(3, key, iv, pt) == ct
    assert _core.cbc_decrypt(3, key, iv, ct) == pt


# ------------------------------------------------------------ MODP groups --

MODP_GROUPS = load("modp_groups.json")["groups"]


def floor_pi_times_2_pow(k: int) -> int:
    """floor(2^k * pi) by Machin's formula in integers (64 guard bits)."""

    def arctan_inv(x: int, scale: int) -> int:
        total, power, n, sign = 0, scale // x, 1, 1
        while power:
            total += sign * (power // n)
            power //= x * x
            n += 2
            sign = -sign
        return total

    scale = 1 << (k + 64)
    return (16 * arctan_inv(5, scale) - 4 * arctan_inv(239, scale)) >> 64


def test_modp_primes_follow_the_rfc_formula() -> None:
    """The data file's primes against 2^n - 2^(n-64) - 1 + 2^64 (floor(2^k pi) + c)."""
    pattern = (
        r"2\^(\d+) - 2\^(\d+) - 1 \+ 2\^64 \* \( floor\(2\^(\d+) \* pi\) \+ (\d+) \)"
    )
    assert len(MODP_GROUPS) == 8
    for g in MODP_GROUPS:
        m = re.fullmatch(pattern, g["formula"])
        assert m, g["formula"]
        n, n64, k, c = (int(x) for x in m.groups())
        assert n == g["bits"] and n64 == n - 64
        p = 2**n - 2**n64 - 1 + 2**64 * (floor_pi_times_2_pow(k) + c)
        assert p == int(g["prime_hex"], 16), g["name"]


@pytest.mark.parametrize("g", MODP_GROUPS, ids=[g["name"] for g in MODP_GROUPS])
def test_modp_group_uses_the_rfc_prime(g: dict[str, Any]) -> None:
    """Our g^x and g^xy agree with Python integers modulo the published prime."""
    p, gid = int(g["prime_hex"], 16), g["ike_group"]
    size = g["public_value_octets"]
    assert g["generator"] == 2
    kind, public_len, _ = _core.group_info(gid)
    assert (kind, public_len) == ("modp", size)
    key = _core.DhKey(gid, bytes(range(1, 65)))
    ours = int.from_bytes(key.public, "big")
    assert len(key.public) == size and 1 < ours < p - 1
    z = 0x1D3_5EED_0F_7E57 << 100 | 12345
    peer = pow(2, z, p)
    shared = key.compute(peer.to_bytes(size, "big"))
    assert shared == pow(ours, z, p).to_bytes(size, "big")


# ------------------------------------------------------------- RFC 5903 ---

ECP_VECTORS = load("rfc5903_ecp_dh.json")["vectors"]


def random_for_scalar(group: int, scalar: bytes) -> bytes:
    """Random bytes from which DhKey derives ``scalar``: (v mod (n-1)) + 1
    is the scalar for v = scalar - 1."""
    n = _core.random_bytes_needed(group)
    return (int.from_bytes(scalar, "big") - 1).to_bytes(n, "big")


@pytest.mark.parametrize("v", ECP_VECTORS, ids=[v["curve"] for v in ECP_VECTORS])
def test_rfc5903_ecp_dh(v: dict[str, Any]) -> None:
    gid = v["ike_group"]
    assert _core.group_info(gid)[:2] == ("ecp", v["ke_payload_data_octets"])
    i = _core.DhKey(gid, random_for_scalar(gid, unhex(v["i"])))
    r = _core.DhKey(gid, random_for_scalar(gid, unhex(v["r"])))
    assert i.public == unhex(v["kei_data"]) == unhex(v["gix"] + v["giy"])
    assert r.public == unhex(v["ker_data"]) == unhex(v["grx"] + v["gry"])
    girx = unhex(v["girx"])
    assert len(girx) == v["shared_secret_octets"]
    assert i.compute(r.public) == girx
    assert r.compute(i.public) == girx


# ------------------------------------------------ IKEv1 key derivation ---

KDF = load("ikev1_kdf.json")
KDF_CASES = [
    (tg["authenticationMethod"], tg["hashAlg"], t)
    for tg in KDF["testGroups"]
    for t in tg["tests"]
]


def keys_for(method: str, alg: int, t: dict[str, str]) -> _core.Phase1Keys:
    full = "gxy" in t
    gxy = unhex(t["gxy"]) if full else b"\x55" * 32
    cky_i = unhex(t["ckyInit"]) if full else b"\x01" * 8
    cky_r = unhex(t["ckyResp"]) if full else b"\x02" * 8
    ni, nr = unhex(t["nInit"]), unhex(t["nResp"])
    if method == "psk":
        return _core.Phase1Keys.for_psk(
            alg, unhex(t["preSharedKey"]), ni, nr, gxy, cky_i, cky_r
        )
    assert method == "dsa"
    return _core.Phase1Keys.for_signatures(alg, ni, nr, gxy, cky_i, cky_r)


@pytest.mark.parametrize(
    "method,hash_name,t",
    KDF_CASES,
    ids=[f"{m}-{h}-{t['tcId']}" for m, h, t in KDF_CASES],
)
def test_ikev1_skeyid(method: str, hash_name: str, t: dict[str, str]) -> None:
    keys = keys_for(method, hash_id(hash_name), t)
    assert keys.hash_alg == hash_id(hash_name)
    got = keys.export()
    assert got["skeyid"] == unhex(t["sKeyId"])
    if "gxy" in t:
        assert got["skeyid_d"] == unhex(t["sKeyIdD"])
        assert got["skeyid_a"] == unhex(t["sKeyIdA"])
        assert got["skeyid_e"] == unhex(t["sKeyIdE"])
        again = _core.Phase1Keys.from_skeyid(
            hash_id(hash_name),
            got["skeyid"],
            unhex(t["gxy"]),
            unhex(t["ckyInit"]),
            unhex(t["ckyResp"]),
        )
        assert again.export() == got


def test_every_kdf_vector_is_used() -> None:
    assert len(KDF_CASES) == 5
    assert {m for m, _, _ in KDF_CASES} == {"psk", "dsa"}


def appendix_b(alg: int, key: bytes, length: int) -> bytes:
    """RFC 2409 appendix B: the key itself if long enough, else
    K1 = prf(key, 0x00), Kn = prf(key, K(n-1))."""
    if length <= len(key):
        return key[:length]
    out = block = hmac.new(key, b"\0", HASHLIB_NAMES[alg]).digest()
    while len(out) < length:
        block = hmac.new(key, block, HASHLIB_NAMES[alg]).digest()
        out += block
    return out[:length]


def keymat_style(alg: int, key: bytes, seed: bytes, length: int) -> bytes:
    """K1 = prf(key, seed), Kn = prf(key, K(n-1) | seed) (RFC 2409 5.5)."""
    out, block = b"", b""
    while len(out) < length:
        block = hmac.new(key, block + seed, HASHLIB_NAMES[alg]).digest()
        out += block
    return out[:length]


@pytest.mark.parametrize(
    "v", KDF["appendix_b_expansion"]["vectors"], ids=lambda v: v["hashAlg"]
)
def test_appendix_b_rules_match_vectors(v: dict[str, Any]) -> None:
    alg, key, n = hash_id(v["hashAlg"]), unhex(v["key"]), v["length"]
    assert appendix_b(alg, key, n) == unhex(v["appendix_b_Ka"])
    assert keymat_style(alg, key, b"\0", n) == unhex(v["keymat_style_seed00"])


# enc_alg, key_len: 3DES, AES-128/192/256, Blowfish 448, CAST-128 80 bits
CIPHER_KEYS = [(5, 24), (7, 16), (7, 24), (7, 32), (3, 56), (6, 10)]


@pytest.mark.parametrize("method,hash_name,t", [c for c in KDF_CASES if "gxy" in c[2]])
@pytest.mark.parametrize("enc_alg,key_len", CIPHER_KEYS)
def test_phase1_cipher_key_from_vector_skeyid_e(
    method: str, hash_name: str, t: dict[str, str], enc_alg: int, key_len: int
) -> None:
    """The phase-1 cipher key is SKEYID_e of the vector, expanded by the
    appendix-B rule checked above."""
    alg = hash_id(hash_name)
    keys = keys_for(method, alg, t)
    gxi, gxr = b"\x02" * 128, b"\x03" * 128
    c = keys.cipher(enc_alg, key_len, gxi, gxr)
    assert c.key() == appendix_b(alg, unhex(t["sKeyIdE"]), key_len)
    assert c.key_len == key_len and c.enc_alg == enc_alg
    assert c.iv(0) == _core.hash(alg, gxi + gxr)[: c.block_size]
