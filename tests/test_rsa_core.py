"""RSA_SIG signatures of the Rust core (_core.RsaKey, _core.rsa_verify_raw)
against OpenSSL: fixed keys and `openssl pkeyutl` signatures in
tests/data/pki/rsa, live `openssl pkeyutl` runs, and pyca/cryptography."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from isakmpd import _core
from isakmpd.errors import CryptoError
from lab.require import require_tool

DATA = Path(__file__).parent / "data" / "pki" / "rsa"
BITS = (1024, 2048)


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def key(bits: int, fmt: str = "pk8") -> _core.RsaKey:
    return _core.RsaKey(data(f"rsa{bits}.{fmt}.der"))


def crypto_public(bits: int):
    return serialization.load_der_public_key(data(f"rsa{bits}.spki.der"))


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("fmt", ["pk8", "pkcs1"])
def test_signature_equals_openssl_pkeyutl(bits: int, fmt: str) -> None:
    k = key(bits, fmt)
    assert k.bits == bits
    for n in (20, 64):
        sig = k.sign_raw(data(f"data{n}.bin"))
        assert sig == data(f"rsa{bits}.data{n}.sig")
        assert len(sig) == bits // 8


@pytest.mark.parametrize("bits", BITS)
def test_public_der_is_the_spki(bits: int) -> None:
    assert key(bits).public_der() == data(f"rsa{bits}.spki.der")
    assert key(bits, "pkcs1").public_der() == data(f"rsa{bits}.spki.der")


@pytest.mark.parametrize("bits", BITS)
def test_cryptography_recovers_our_signed_data(bits: int) -> None:
    pub = crypto_public(bits)
    for msg in (b"\x01" * 20, os.urandom(32), os.urandom(48), os.urandom(64), b""):
        sig = _core.RsaKey(data(f"rsa{bits}.pk8.der")).sign_raw(msg)
        assert pub.recover_data_from_signature(sig, padding.PKCS1v15(), None) == msg


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("pub", ["spki", "pub-pkcs1"])
def test_stored_openssl_signatures_verify(bits: int, pub: str) -> None:
    der = data(f"rsa{bits}.{pub}.der")
    for n in (20, 64):
        assert _core.rsa_verify_raw(der, data(f"data{n}.bin"),
                                    data(f"rsa{bits}.data{n}.sig")) is True


def test_live_openssl_pkeyutl_signature_verifies(tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    keyfile = tmp_path / "k.pem"
    subprocess.run([openssl, "genrsa", "-out", keyfile, "3072"], check=True,
                   capture_output=True)
    for n in (16, 20, 32, 48, 64):
        msg = os.urandom(n)
        (tmp_path / "in").write_bytes(msg)
        subprocess.run([openssl, "pkeyutl", "-sign", "-inkey", keyfile,
                        "-pkeyopt", "rsa_padding_mode:pkcs1", "-in", tmp_path / "in",
                        "-out", tmp_path / "sig"], check=True, capture_output=True)
        spki = subprocess.run([openssl, "pkey", "-in", keyfile, "-pubout",
                               "-outform", "DER"], check=True,
                              capture_output=True).stdout
        sig = (tmp_path / "sig").read_bytes()
        assert _core.rsa_verify_raw(spki, msg, sig)
        assert not _core.rsa_verify_raw(spki, msg[:-1] + bytes([msg[-1] ^ 1]), sig)
        # our key from the same PEM signs identically
        der = subprocess.run([openssl, "pkey", "-in", keyfile, "-outform", "DER"],
                             check=True, capture_output=True).stdout
        assert _core.RsaKey(der).sign_raw(msg) == sig


def test_wrong_data_signature_or_key_is_false() -> None:
    spki = data("rsa2048.spki.der")
    msg, sig = data("data20.bin"), data("rsa2048.data20.sig")
    assert _core.rsa_verify_raw(spki, msg, sig)
    assert not _core.rsa_verify_raw(spki, msg + b"x", sig)
    assert not _core.rsa_verify_raw(spki, msg[1:], sig)
    assert not _core.rsa_verify_raw(spki, b"", sig)
    for i in (0, 1, 100, 255):
        bad = bytearray(sig)
        bad[i] ^= 0x01
        assert not _core.rsa_verify_raw(spki, msg, bytes(bad))
    assert not _core.rsa_verify_raw(spki, msg, sig + b"\x00")
    assert not _core.rsa_verify_raw(spki, msg, b"")
    assert not _core.rsa_verify_raw(spki, msg, b"\xff" * 256)
    assert not _core.rsa_verify_raw(data("rsa1024.spki.der"), msg, sig)
    # a DigestInfo-prefixed (ordinary PKCS#1 v1.5) signature is not ours
    from cryptography.hazmat.primitives import hashes
    priv = serialization.load_der_private_key(data("rsa2048.pk8.der"), None)
    prefixed = priv.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    assert not _core.rsa_verify_raw(spki, msg, prefixed)


@pytest.mark.parametrize("der", [b"", b"garbage", b"\x30", b"\x30\x82\xff\xff",
                                 b"\x30\x03\x02\x01\x00"])
def test_garbage_der_is_crypto_error(der: bytes) -> None:
    with pytest.raises(CryptoError) as e:
        _core.RsaKey(der)
    assert "PKCS#8" in e.value.reason and "PKCS#1" in e.value.reason
    with pytest.raises(CryptoError):
        _core.rsa_verify_raw(der, b"x", b"y")


def test_truncated_keys_are_crypto_errors() -> None:
    pk8, spki = data("rsa1024.pk8.der"), data("rsa1024.spki.der")
    for cut in range(0, len(pk8), 7):
        with pytest.raises(CryptoError):
            _core.RsaKey(pk8[:cut])
    for cut in range(len(spki)):
        with pytest.raises(CryptoError):
            _core.rsa_verify_raw(spki[:cut], b"x", b"y")


def test_a_public_key_is_not_a_private_key() -> None:
    with pytest.raises(CryptoError):
        _core.RsaKey(data("rsa2048.spki.der"))


def test_non_rsa_keys_are_crypto_errors() -> None:
    k = ec.generate_private_key(ec.SECP256R1())
    pk8 = k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    spki = k.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(CryptoError):
        _core.RsaKey(pk8)
    with pytest.raises(CryptoError):
        _core.rsa_verify_raw(spki, b"x", b"y")


def test_data_longer_than_the_modulus_allows() -> None:
    k = key(1024)
    assert len(k.sign_raw(b"\x07" * 117)) == 128
    with pytest.raises(CryptoError, match="at most 117 bytes"):
        k.sign_raw(b"\x07" * 118)


def test_repr_and_bits() -> None:
    assert repr(key(2048)) == "<RsaKey 2048 bits>"


def test_signing_from_threads() -> None:
    """Sign and verify run with the GIL released; results stay right when
    several threads use one key at once."""
    k = key(2048)
    spki = k.public_der()
    msgs = [os.urandom(20) for _ in range(16)]
    out: dict[int, bytes] = {}

    def work(i: int) -> None:
        out[i] = k.sign_raw(msgs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(msgs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(_core.rsa_verify_raw(spki, msgs[i], out[i]) for i in range(len(msgs)))
