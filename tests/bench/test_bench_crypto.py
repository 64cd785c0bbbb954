"""Crypto benchmarks: ours (the Rust core) against OpenSSL through the
cryptography package, and CPython's pow for MODP, on the same parameters.

modexp: the shared secret y^x mod p (``DhKey.compute`` / ``exchange`` /
``pow``) for every MODP group at our default short exponent and at full
length, the private value of the same bit length for every implementation.
keygen: the public value g^x at the default length (OpenSSL's own key
generation draws a private value of that length for these named groups).
ECDH: the shared secret and the key pair of groups 19-21. PRF, KEYMAT and
CBC of IKE messages as the daemon uses them.
"""

from __future__ import annotations

import os
import warnings

import pytest
from groups import GENERATOR, MODP_PRIMES

from isakmpd import _core

warnings.filterwarnings("ignore", message=".*FFDH.*")
dh = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.dh")
ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
from cryptography.hazmat.primitives import hashes, hmac  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402

MODP_GROUPS = [1, 2, 5, 14, 15, 16, 17, 18]
IMPLS = ["ours", "openssl", "cpython"]


def _exp(bits: int) -> int:
    """A private exponent of exactly ``bits`` bits (as ours draws them)."""
    x = int.from_bytes(os.urandom(bits // 8 + 1), "big") % (1 << bits)
    return x | (1 << (bits - 1))


def _ours_key(group: int, x: int, bits: int) -> "_core.DhKey":
    need = _core.random_bytes_needed(group, bits)
    return _core.DhKey(group, x.to_bytes(need, "big"), bits)


def _rounds(group: int, bits: int) -> int:
    """Rounds for pedantic mode: fewer as the work grows."""
    work = bits * (MODP_PRIMES[group].bit_length() / 2048) ** 2
    return max(3, min(200, int(20000 / work)))


def _lengths() -> list[tuple[int, str]]:
    out = []
    for g in MODP_GROUPS:
        out.append(pytest.param(g, "short", id=f"modp{g}-short"))
        heavy = MODP_PRIMES[g].bit_length() > 2048
        out.append(pytest.param(g, "full", id=f"modp{g}-full",
                                marks=[pytest.mark.heavy] if heavy else []))
    return out


def _bits(group: int, length: str) -> int:
    return (_core.group_info(group)[2] if length == "short"
            else MODP_PRIMES[group].bit_length() - 1)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("group,length", _lengths())
def test_modexp(benchmark, group: int, length: str, impl: str) -> None:
    p = MODP_PRIMES[group]
    nbytes = p.bit_length() // 8
    bits = _bits(group, length)
    x, peer_x = _exp(bits), _exp(bits)
    y = pow(GENERATOR, peer_x, p)
    expected = pow(y, x, p).to_bytes(nbytes, "big")
    benchmark.group = f"modexp MODP-{p.bit_length()} (group {group}), {bits}-bit exponent"
    benchmark.extra_info["impl"] = impl
    if impl == "ours":
        key = _ours_key(group, x, bits)
        peer = y.to_bytes(nbytes, "big")
        fn = lambda: key.compute(peer)  # noqa: E731
    elif impl == "openssl":
        pn = dh.DHParameterNumbers(p, GENERATOR)
        key = dh.DHPrivateNumbers(x, dh.DHPublicNumbers(pow(GENERATOR, x, p), pn)
                                  ).private_key()
        peer_key = dh.DHPublicNumbers(y, pn).public_key()
        fn = lambda: key.exchange(peer_key).rjust(nbytes, b"\0")  # noqa: E731
    else:
        fn = lambda: pow(y, x, p).to_bytes(nbytes, "big")  # noqa: E731
    result = benchmark.pedantic(fn, rounds=_rounds(group, bits), warmup_rounds=1)
    assert result == expected


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("group", MODP_GROUPS)
def test_keygen(benchmark, group: int, impl: str) -> None:
    p = MODP_PRIMES[group]
    nbytes = p.bit_length() // 8
    bits = _core.group_info(group)[2]
    benchmark.group = f"keygen MODP-{p.bit_length()} (group {group}), g^x, {bits}-bit x"
    benchmark.extra_info["impl"] = impl
    if impl == "ours":
        random = os.urandom(_core.random_bytes_needed(group, bits))
        fn = lambda: _core.DhKey(group, random, bits).public  # noqa: E731
    elif impl == "openssl":
        params = dh.DHParameterNumbers(p, GENERATOR).parameters()
        got = params.generate_private_key().private_numbers().x.bit_length()
        # OpenSSL knows these primes and draws 2 * strength bits for them
        benchmark.extra_info["openssl_x_bits"] = got
        fn = lambda: params.generate_private_key().public_key()  # noqa: E731
    else:
        x = _exp(bits)
        fn = lambda: pow(GENERATOR, x, p).to_bytes(nbytes, "big")  # noqa: E731
    benchmark.pedantic(fn, rounds=_rounds(group, bits), warmup_rounds=1)


CURVES = {19: ec.SECP256R1(), 20: ec.SECP384R1(), 21: ec.SECP521R1()}


def _point(pub: "ec.EllipticCurvePublicKey", clen: int) -> bytes:
    n = pub.public_numbers()
    return n.x.to_bytes(clen, "big") + n.y.to_bytes(clen, "big")


@pytest.mark.parametrize("impl", ["ours", "openssl"])
@pytest.mark.parametrize("group", [19, 20, 21])
def test_ecdh(benchmark, group: int, impl: str) -> None:
    clen = _core.group_info(group)[1] // 2
    curve = CURVES[group]
    peer = ec.generate_private_key(curve)
    peer_bytes = _point(peer.public_key(), clen)
    benchmark.group = f"ecdh group {group} ({curve.name}), shared secret"
    benchmark.extra_info["impl"] = impl
    if impl == "ours":
        key = _core.DhKey(group, os.urandom(_core.random_bytes_needed(group)))
        fn = lambda: key.compute(peer_bytes)  # noqa: E731
        expected = peer.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(
            curve, b"\x04" + key.public))
    else:
        key = ec.generate_private_key(curve)
        fn = lambda: key.exchange(ec.ECDH(), peer.public_key())  # noqa: E731
        expected = peer.exchange(ec.ECDH(), key.public_key())
    assert benchmark(fn) == expected


@pytest.mark.parametrize("impl", ["ours", "openssl"])
@pytest.mark.parametrize("group", [19, 20, 21])
def test_ecdh_keygen(benchmark, group: int, impl: str) -> None:
    curve = CURVES[group]
    benchmark.group = f"ecdh-keygen group {group} ({curve.name}), key pair"
    benchmark.extra_info["impl"] = impl
    if impl == "ours":
        random = os.urandom(_core.random_bytes_needed(group))
        fn = lambda: _core.DhKey(group, random).public  # noqa: E731
    else:
        fn = lambda: ec.generate_private_key(curve).public_key()  # noqa: E731
    benchmark(fn)


# ------------------------------------------------------------ PRF, KEYMAT, CBC

SHA1 = 2  # IKE HASH_ALGORITHM
ESP, SPI = 3, bytes.fromhex("c0ffee01")
NI, NR = os.urandom(32), os.urandom(32)
GXY = os.urandom(256)
PSK = b"lab-secret-0123456789"
CKY_I, CKY_R = os.urandom(8), os.urandom(8)
KEYMAT_LEN = 16 + 20  # ESP aes128 + hmac-sha1, one direction


def _hmac(key: bytes, data: bytes) -> bytes:
    h = hmac.HMAC(key, hashes.SHA1())
    h.update(data)
    return h.finalize()


def _keymat_openssl(skeyid_d: bytes, gxy: bytes | None, protocol: int, spi: bytes,
                    length: int) -> bytes:
    seed = (gxy or b"") + bytes([protocol]) + spi + NI + NR
    out, k = b"", b""
    while len(out) < length:
        k = _hmac(skeyid_d, k + seed)
        out += k
    return out[:length]


@pytest.mark.parametrize("impl", ["ours", "openssl"])
def test_prf(benchmark, impl: str) -> None:
    data = NI + NR
    benchmark.group = "prf HMAC-SHA1 over Ni|Nr (SKEYID, PSK)"
    benchmark.extra_info["impl"] = impl
    fn = ((lambda: _core.prf(SHA1, PSK, data)) if impl == "ours"
          else (lambda: _hmac(PSK, data)))
    assert benchmark(fn) == _hmac(PSK, data)


@pytest.mark.parametrize("impl", ["ours", "openssl"])
def test_keymat(benchmark, impl: str) -> None:
    keys = _core.Phase1Keys.for_psk(SHA1, PSK, NI, NR, GXY, CKY_I, CKY_R)
    skeyid_d = keys.export()["skeyid_d"]
    expected = _keymat_openssl(skeyid_d, GXY, ESP, SPI, KEYMAT_LEN)
    benchmark.group = "keymat ESP aes128-sha1 with PFS (36 bytes)"
    benchmark.extra_info["impl"] = impl
    if impl == "ours":
        fn = lambda: keys.keymat(ESP, SPI, NI, NR, GXY, KEYMAT_LEN)  # noqa: E731
    else:
        fn = lambda: _keymat_openssl(skeyid_d, GXY, ESP, SPI, KEYMAT_LEN)  # noqa: E731
    assert benchmark(fn) == expected


AES_CBC = 7


def _pad(data: bytes, block: int) -> bytes:
    """RFC 2409 padding as the core does it: zeros, then the pad count."""
    n = block - (len(data) + 1) % block
    n = 0 if n == block else n
    return data + b"\0" * n + bytes([n])


@pytest.mark.parametrize("impl", ["ours", "openssl"])
def test_cbc_encrypt(benchmark, impl: str) -> None:
    from codecs_bench import quick_mode_body

    body = quick_mode_body()
    key, iv = os.urandom(16), os.urandom(16)
    benchmark.group = f"cbc AES-128 encrypt of a Quick Mode message ({len(body)} bytes)"
    benchmark.extra_info["impl"] = impl
    if impl == "ours":
        cipher = _core.IkeCipher(AES_CBC, SHA1, key, iv)

        def fn() -> bytes:
            out = cipher.encrypt(1, body)
            cipher.forget(1)
            return out
    else:
        def fn() -> bytes:
            enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
            return enc.update(_pad(body, 16)) + enc.finalize()
    out = benchmark(fn)
    assert len(out) % 16 == 0 and len(out) > len(body)
