"""The crypto half of ``isakmpd._core`` against independent implementations:
hashlib/hmac, Python integers and OpenSSL through the ``cryptography``
package; and its error handling and IV discipline."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import CAST5, Blowfish, TripleDES
from cryptography.hazmat.primitives.asymmetric import dh, ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from isakmpd import _core
from isakmpd.errors import CryptoError, MessageError

HASHES = {1: "md5", 2: "sha1", 4: "sha256", 5: "sha384", 6: "sha512"}
INVALID_KEY_INFORMATION = 17
PAYLOAD_MALFORMED = 16

MODP = {
    g["ike_group"]: int(g["prime_hex"], 16)
    for g in json.loads(
        (Path(__file__).parent / "data" / "vectors" / "modp_groups.json").read_text()
    )["groups"]
}
# curve orders (SEC 2 / FIPS 186-4 D.1.2)
ECP = {
    19: (
        ec.SECP256R1(),
        32,
        int("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16),
    ),
    20: (
        ec.SECP384R1(),
        48,
        int(
            "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
            "581a0db248b0a77aecec196accc52973",
            16,
        ),
    ),
    21: (
        ec.SECP521R1(),
        66,
        int(
            "1ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            "fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
            16,
        ),
    ),
}


def rand(n: int, seed: int) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(n)


# ------------------------------------------------------------ hash, PRF ---


@pytest.mark.parametrize("alg", sorted(HASHES))
def test_hash_and_prf_match_hashlib(alg: int) -> None:
    name = HASHES[alg]
    assert _core.hash_len(alg) == hashlib.new(name).digest_size
    for i, n in enumerate([0, 1, 55, 64, 127, 128, 129, 1000]):
        data = rand(n, i)
        assert _core.hash(alg, data) == hashlib.new(name, data).digest()
        for key in (b"", b"k", rand(64, 100 + i), rand(200, 200 + i)):
            assert _core.prf(alg, key, data) == hmac.new(key, data, name).digest()


def test_ct_eq() -> None:
    assert _core.ct_eq(b"abc", b"abc")
    assert _core.ct_eq(b"", b"")
    assert not _core.ct_eq(b"abc", b"abd")
    assert not _core.ct_eq(b"abc", b"abcd")


@pytest.mark.parametrize("bad", [0, 3, 7, 8, -1, 65536, 2**40])
def test_unknown_hash_is_crypto_error(bad: int) -> None:
    for call in (
        lambda: _core.hash(bad, b"x"),
        lambda: _core.prf(bad, b"k", b"x"),
        lambda: _core.hash_len(bad),
        lambda: _core.Phase1Keys.from_skeyid(bad, b"s", b"g", b"i" * 8, b"r" * 8),
        lambda: _core.IkeCipher(7, bad, b"k" * 16, b"\0" * 16),
    ):
        with pytest.raises(CryptoError) as e:
            call()
        assert e.value.notify == 0


# ------------------------------------------------------------------ CBC ---


def oracle_cipher(enc_alg: int, key: bytes, iv: bytes) -> Cipher:
    algorithm = {3: Blowfish, 5: TripleDES, 6: CAST5, 7: algorithms.AES}[enc_alg](key)
    return Cipher(algorithm, modes.CBC(iv))


CBC_CASES = [
    (7, 16),
    (7, 24),
    (7, 32),
    (5, 24),
    (3, 5),
    (3, 12),
    (3, 16),
    (3, 24),
    (3, 56),
    (6, 5),
    (6, 10),
    (6, 16),
]


@pytest.mark.parametrize("enc_alg,key_len", CBC_CASES)
def test_cbc_matches_openssl(enc_alg: int, key_len: int) -> None:
    bs = 16 if enc_alg == 7 else 8
    for i, blocks in enumerate([0, 1, 2, 7]):
        key, iv, data = rand(key_len, i), rand(bs, 10 + i), rand(blocks * bs, 20 + i)
        enc = oracle_cipher(enc_alg, key, iv).encryptor()
        ct = enc.update(data) + enc.finalize()
        assert _core.cbc_encrypt(enc_alg, key, iv, data) == ct
        dec = oracle_cipher(enc_alg, key, iv).decryptor()
        assert (
            _core.cbc_decrypt(enc_alg, key, iv, ct) == dec.update(ct) + dec.finalize()
        )
        assert _core.cbc_decrypt(enc_alg, key, iv, ct) == data


BAD_KEY_LENGTHS = [
    (7, 0),
    (7, 15),
    (7, 17),
    (7, 20),
    (7, 33),
    (5, 8),
    (5, 16),
    (5, 23),
    (5, 25),
    (3, 4),
    (3, 57),
    (6, 4),
    (6, 17),
]


@pytest.mark.parametrize("enc_alg,key_len", BAD_KEY_LENGTHS)
def test_wrong_key_length_is_crypto_error(enc_alg: int, key_len: int) -> None:
    bs = 16 if enc_alg == 7 else 8
    key = rand(key_len, 1)
    with pytest.raises(CryptoError):
        _core.cbc_encrypt(enc_alg, key, b"\0" * bs, b"\0" * bs)
    with pytest.raises(CryptoError):
        _core.cbc_decrypt(enc_alg, key, b"\0" * bs, b"\0" * bs)
    with pytest.raises(CryptoError):
        _core.IkeCipher(enc_alg, 2, key, b"\0" * bs)
    keys = _core.Phase1Keys.from_skeyid(2, b"skeyid", b"gxy", b"i" * 8, b"r" * 8)
    with pytest.raises(CryptoError):
        keys.cipher(enc_alg, key_len, b"gxi", b"gxr")


@pytest.mark.parametrize("bad", [0, 1, 2, 4, 8, 12, -5, 2**33])
def test_unknown_cipher_is_crypto_error(bad: int) -> None:
    keys = _core.Phase1Keys.from_skeyid(2, b"skeyid", b"gxy", b"i" * 8, b"r" * 8)
    for call in (
        lambda: _core.cbc_encrypt(bad, b"k" * 16, b"\0" * 16, b""),
        lambda: _core.cbc_decrypt(bad, b"k" * 16, b"\0" * 16, b""),
        lambda: _core.IkeCipher(bad, 2, b"k" * 16, b"\0" * 16),
        lambda: keys.cipher(bad, 16, b"gxi", b"gxr"),
    ):
        with pytest.raises(CryptoError):
            call()


def test_cbc_bad_iv_or_data_length() -> None:
    for iv, data in [(b"\0" * 8, b"\0" * 16), (b"\0" * 16, b"\0" * 15), (b"", b"")]:
        with pytest.raises(CryptoError):
            _core.cbc_encrypt(7, b"k" * 16, iv, data)
        with pytest.raises(CryptoError):
            _core.cbc_decrypt(7, b"k" * 16, iv, data)
    with pytest.raises(CryptoError):
        _core.IkeCipher(5, 2, rand(24, 3), b"\0" * 16)


def test_weak_3des_key_refused() -> None:
    with pytest.raises(CryptoError, match="weak"):
        _core.cbc_encrypt(5, b"\x01" * 8 + rand(16, 4), b"\0" * 8, b"")
    with pytest.raises(CryptoError, match="weak"):
        _core.cbc_encrypt(5, rand(8, 5) * 3, b"\0" * 8, b"")


# ------------------------------------------------- IkeCipher discipline ---


def pad(data: bytes, bs: int) -> bytes:
    n = bs - len(data) % bs
    return data + b"\0" * (n - 1) + bytes([n - 1])


def openssl_cbc(enc_alg: int, key: bytes, iv: bytes, data: bytes) -> bytes:
    enc = oracle_cipher(enc_alg, key, iv).encryptor()
    return enc.update(data) + enc.finalize()


@pytest.mark.parametrize(
    "enc_alg,key_len,hash_alg", [(7, 32, 4), (5, 24, 2), (3, 16, 1), (6, 16, 6)]
)
def test_ike_cipher_ivs_and_padding(enc_alg: int, key_len: int, hash_alg: int) -> None:
    key, bs = rand(key_len, 7), 16 if enc_alg == 7 else 8
    iv0 = rand(bs, 8)
    ours = _core.IkeCipher(enc_alg, hash_alg, key, iv0)
    assert (ours.enc_alg, ours.block_size, ours.key_len, ours.key()) == (
        enc_alg,
        bs,
        key_len,
        key,
    )
    # phase 1: IV chains through the last ciphertext block
    iv = iv0
    for n in (0, 1, bs - 1, bs, 3 * bs + 5):
        msg = rand(n, n)
        assert ours.iv(0) == iv
        ct = ours.encrypt(0, msg)
        assert ct == openssl_cbc(enc_alg, key, iv, pad(msg, bs))
        iv = ct[-bs:]
    # phase 2: hash(last phase-1 IV | M-ID) truncated
    for mid in (1, 0x12345678, 0xFFFFFFFF):
        want = hashlib.new(HASHES[hash_alg], iv + mid.to_bytes(4, "big")).digest()[:bs]
        assert ours.iv(mid) == want
        ct = ours.encrypt(mid, b"quick mode")
        assert ct == openssl_cbc(enc_alg, key, want, pad(b"quick mode", bs))
        assert ours.iv(mid) == ct[-bs:]
    assert ours.iv(0) == iv  # phase-2 traffic leaves the phase-1 IV alone


def test_decrypt_moves_iv_only_on_commit() -> None:
    key, iv0 = rand(16, 1), rand(16, 2)
    a = _core.IkeCipher(7, 2, key, iv0)
    b = _core.IkeCipher(7, 2, key, iv0)
    ct = a.encrypt(0, b"main mode 5")
    plain = b.decrypt(0, ct)
    assert plain == pad(b"main mode 5", 16)  # padding is left in place
    assert b.iv(0) == iv0
    # a garbled retransmission decrypts to junk and moves nothing
    b.decrypt(0, bytes(32))
    assert b.iv(0) == iv0
    # only the last decryption under an ID is pending: decrypt again, commit
    assert b.decrypt(0, ct) == plain
    b.commit(0)
    assert b.iv(0) == a.iv(0) == ct[-16:]
    with pytest.raises(CryptoError):
        b.commit(0)
    # phase 2 on both sides, then forget
    mid = 0xDEADBEEF
    q = b.encrypt(mid, b"QM1")
    assert a.decrypt(mid, q)[:3] == b"QM1"
    assert a.iv(mid) != q[-16:]
    a.commit(mid)
    assert a.iv(mid) == b.iv(mid) == q[-16:]
    a.forget(mid)
    assert a.iv(mid) == hashlib.sha1(ct[-16:] + mid.to_bytes(4, "big")).digest()[:16]
    # forgetting message ID 0 keeps the phase-1 IV
    a.forget(0)
    assert a.iv(0) == ct[-16:]


@pytest.mark.parametrize("n", [0, 1, 15, 17])
def test_decrypt_partial_block_is_message_error(n: int) -> None:
    c = _core.IkeCipher(7, 2, rand(16, 1), rand(16, 2))
    with pytest.raises(MessageError) as e:
        c.decrypt(0, bytes(n))
    assert e.value.notify == PAYLOAD_MALFORMED


@pytest.mark.parametrize("mid", [-1, 2**32])
def test_bad_message_id_is_crypto_error(mid: int) -> None:
    c = _core.IkeCipher(7, 2, rand(16, 1), rand(16, 2))
    for call in (
        lambda: c.encrypt(mid, b"x"),
        lambda: c.iv(mid),
        lambda: c.forget(mid),
    ):
        with pytest.raises(CryptoError):
            call()


# --------------------------------------------------------- Phase1Keys ---


def prf(alg: int, key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, HASHES[alg]).digest()


@pytest.mark.parametrize("alg", sorted(HASHES))
def test_phase1_keys_match_rfc2409_formulas(alg: int) -> None:
    psk, ni, nr, gxy = b"secret", rand(16, 1), rand(32, 2), rand(256, 3)
    ci, cr, gxi, gxr = rand(8, 4), rand(8, 5), rand(256, 6), rand(256, 7)
    sa_b, idi, idr = rand(52, 8), rand(12, 9), rand(12, 10)
    skeyid = prf(alg, psk, ni + nr)
    d = prf(alg, skeyid, gxy + ci + cr + b"\0")
    a = prf(alg, skeyid, d + gxy + ci + cr + b"\1")
    e = prf(alg, skeyid, a + gxy + ci + cr + b"\2")
    keys = _core.Phase1Keys.for_psk(alg, psk, ni, nr, gxy, ci, cr)
    assert keys.export() == {
        "skeyid": skeyid,
        "skeyid_d": d,
        "skeyid_a": a,
        "skeyid_e": e,
    }
    sig = _core.Phase1Keys.for_signatures(alg, ni, nr, gxy, ci, cr)
    assert sig.export()["skeyid"] == prf(alg, ni + nr, gxy)
    assert keys.hash_i(gxi, gxr, ci, cr, sa_b, idi) == prf(
        alg, skeyid, gxi + gxr + ci + cr + sa_b + idi
    )
    assert keys.hash_r(gxr, gxi, cr, ci, sa_b, idr) == prf(
        alg, skeyid, gxr + gxi + cr + ci + sa_b + idr
    )
    assert keys.prf_a(b"\0" + b"mid!" + ni + nr) == prf(alg, a, b"\0mid!" + ni + nr)


@pytest.mark.parametrize("alg", [1, 2, 6])
@pytest.mark.parametrize("pfs", [False, True])
def test_keymat_any_length(alg: int, pfs: bool) -> None:
    keys = _core.Phase1Keys.from_skeyid(alg, b"skeyid", b"gxy", b"i" * 8, b"r" * 8)
    d = keys.export()["skeyid_d"]
    spi, ni, nr = b"\x12\x34\x56\x78", rand(16, 1), rand(20, 2)
    gqm = rand(128, 3) if pfs else None
    seed = (gqm or b"") + bytes([3]) + spi + ni + nr
    want, block = b"", b""
    while len(want) < 1000:
        block = prf(alg, d, block + seed)
        want += block
    for n in (0, 1, 16, _core.hash_len(alg), _core.hash_len(alg) + 1, 72, 1000):
        assert keys.keymat(3, spi, ni, nr, gqm, n) == want[:n]


def test_phase1_bad_arguments() -> None:
    with pytest.raises(CryptoError):
        _core.Phase1Keys.for_psk(2, b"k", b"ni", b"nr", b"gxy", b"short", b"r" * 8)
    with pytest.raises(CryptoError):
        _core.Phase1Keys.for_signatures(2, b"ni", b"nr", b"gxy", b"i" * 8, b"r" * 9)
    keys = _core.Phase1Keys.from_skeyid(2, b"skeyid", b"gxy", b"i" * 8, b"r" * 8)
    for protocol, n in [(3, -1), (3, 65537), (-1, 16), (256, 16)]:
        with pytest.raises(CryptoError):
            keys.keymat(protocol, b"spi!", b"ni", b"nr", None, n)
    with pytest.raises(CryptoError):
        keys.cipher(7, -16, b"gxi", b"gxr")


# ------------------------------------------------------------------ DH ---


def modp_exponent(random: bytes, bits: int) -> int:
    """The private exponent DhKey draws: the first ceil(bits/8) bytes,
    reduced to their low ``bits`` bits, with the top one set."""
    x = int.from_bytes(random[: (bits + 7) // 8], "big") % (1 << bits)
    return x | 1 << (bits - 1)


def dh_params(group: int) -> dh.DHParameters:
    return dh.DHParameterNumbers(MODP[group], 2).parameters()


DEFAULT_BITS = {1: 160, 2: 160, 5: 192, 14: 224, 15: 256, 16: 304, 17: 352, 18: 400}


@pytest.mark.parametrize("group", sorted(MODP))
def test_modp_dh_against_openssl(group: int) -> None:
    p, size = MODP[group], MODP[group].bit_length() // 8
    assert _core.group_info(group) == ("modp", size, DEFAULT_BITS[group])
    params = dh_params(group)
    theirs = params.generate_private_key()
    their_pub = theirs.public_key().public_numbers().y.to_bytes(size, "big")
    cases = [
        (None, DEFAULT_BITS[group]),
        (DEFAULT_BITS[group] + 3, DEFAULT_BITS[group] + 3),
    ]
    if group in (1, 2, 14):
        cases.append((0, p.bit_length() - 1))
    for exp_bits, bits in cases:
        random = rand(_core.random_bytes_needed(group, exp_bits), group)
        assert len(random) == (bits + 7) // 8
        ours = _core.DhKey(group, random, exp_bits)
        x = modp_exponent(random, bits)
        assert ours.group == group
        assert ours.public == pow(2, x, p).to_bytes(size, "big")
        # OpenSSL, holding our exponent, derives the same secret with theirs
        ours_in_openssl = dh.DHPrivateNumbers(
            x,
            dh.DHPublicNumbers(
                int.from_bytes(ours.public, "big"), params.parameter_numbers()
            ),
        ).private_key()
        shared = ours.compute(their_pub)
        assert len(shared) == size
        assert shared == ours_in_openssl.exchange(theirs.public_key()).rjust(
            size, b"\0"
        )
        # and they, from our public value, derive it too
        our_pub = dh.DHPublicNumbers(
            int.from_bytes(ours.public, "big"), params.parameter_numbers()
        ).public_key()
        assert shared == theirs.exchange(our_pub).rjust(size, b"\0")


@pytest.mark.parametrize("group", [1, 2, 5, 14, 18])
def test_invalid_modp_public_values(group: int) -> None:
    p, size = MODP[group], MODP[group].bit_length() // 8
    key = _core.DhKey(group, rand(64, 1))
    bad = [
        v.to_bytes(size, "big") for v in (0, 1, p - 1, p, p + 1, 2 ** (8 * size) - 1)
    ]
    bad += [b"", b"\x02", (2).to_bytes(size - 1, "big"), (2).to_bytes(size + 1, "big")]
    for y in bad:
        with pytest.raises(CryptoError) as e:
            key.compute(y)
        assert e.value.notify == INVALID_KEY_INFORMATION
    for y in (2, p - 2):
        assert len(key.compute(y.to_bytes(size, "big"))) == size


def ecp_scalar(random: bytes, n: int) -> int:
    need = (n.bit_length() + 64 + 7) // 8
    return int.from_bytes(random[:need], "big") % (n - 1) + 1


def xy(key: ec.EllipticCurvePublicKey, size: int) -> bytes:
    nums = key.public_numbers()
    return nums.x.to_bytes(size, "big") + nums.y.to_bytes(size, "big")


@pytest.mark.parametrize("group", sorted(ECP))
def test_ecdh_against_openssl(group: int) -> None:
    curve, size, n = ECP[group]
    assert _core.group_info(group) == ("ecp", 2 * size, n.bit_length())
    need = _core.random_bytes_needed(group)
    assert need == (n.bit_length() + 64 + 7) // 8
    assert _core.random_bytes_needed(group, 224) == need  # exp_bits: MODP only
    for seed in range(4):
        random = rand(need, 50 + seed)
        ours = _core.DhKey(group, random)
        assert _core.DhKey(group, random, 224).public == ours.public
        mine = ec.derive_private_key(ecp_scalar(random, n), curve)
        assert ours.public == xy(mine.public_key(), size)
        theirs = ec.generate_private_key(curve)
        shared = ours.compute(xy(theirs.public_key(), size))
        assert len(shared) == size
        our_point = ec.EllipticCurvePublicKey.from_encoded_point(
            curve, b"\x04" + ours.public
        )
        assert shared == theirs.exchange(ec.ECDH(), our_point)
    # the extremes of the scalar rule: v = 0 and v = n - 2 give 1 and n - 1
    one = _core.DhKey(group, bytes(need))
    assert one.public == xy(ec.derive_private_key(1, curve).public_key(), size)
    top = _core.DhKey(group, (n - 2).to_bytes(need, "big"))
    assert top.public == xy(ec.derive_private_key(n - 1, curve).public_key(), size)


@pytest.mark.parametrize("group", sorted(ECP))
def test_invalid_ecp_public_values(group: int) -> None:
    curve, size, _ = ECP[group]
    key = _core.DhKey(group, rand(80, 2))
    good = xy(ec.generate_private_key(curve).public_key(), size)
    off_curve = good[:-1] + bytes([good[-1] ^ 1])
    x_too_big = b"\xff" * size + good[size:]
    for y in (
        bytes(2 * size),
        off_curve,
        x_too_big,
        good[:-1],
        good + b"\0",
        b"\x04" + good,
        b"",
    ):
        with pytest.raises(CryptoError) as e:
            key.compute(y)
        assert e.value.notify == INVALID_KEY_INFORMATION
    assert len(key.compute(good)) == size


@pytest.mark.parametrize("group", [0, 3, 4, 6, 13, 22, 24, 25, -1, 2**20])
def test_unknown_group_is_crypto_error(group: int) -> None:
    for call in (
        lambda: _core.group_info(group),
        lambda: _core.random_bytes_needed(group),
        lambda: _core.DhKey(group, bytes(200)),
    ):
        with pytest.raises(CryptoError) as e:
            call()
        assert e.value.notify == 0


def test_dh_bad_random_or_exponent_length() -> None:
    with pytest.raises(CryptoError):
        _core.DhKey(14, bytes(27))  # 28 needed for 224 bits
    with pytest.raises(CryptoError):
        _core.DhKey(19, bytes(39))
    for bits in (-1, 1, 159, 2048, 2**40):
        with pytest.raises(CryptoError):
            _core.random_bytes_needed(14, bits)
        with pytest.raises(CryptoError):
            _core.DhKey(14, bytes(300), bits)
    assert (
        _core.random_bytes_needed(14, 2047) == _core.random_bytes_needed(14, 0) == 256
    )


def spin_until(done: threading.Event) -> tuple[int, float]:
    """Count loop turns until ``done`` is set."""
    start, spins = time.perf_counter(), 0
    while not done.is_set():
        spins += 1
    return spins, time.perf_counter() - start


def test_dh_releases_the_gil() -> None:
    """Python keeps running at a good fraction of its speed while another
    thread does a long modexp (a held GIL would leave it next to nothing)."""
    random = rand(_core.random_bytes_needed(18, 0), 9)
    go, done = threading.Event(), threading.Event()

    def work() -> None:
        go.wait()
        _core.DhKey(18, random, 0)
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    timeout = threading.Event()
    threading.Timer(0.05, timeout.set).start()
    alone, alone_time = spin_until(timeout)
    go.set()
    spins, elapsed = spin_until(done)
    worker.join()
    assert elapsed > 0.05
    assert spins / elapsed > 0.15 * alone / alone_time, (spins, elapsed, alone)


def test_dh_is_deterministic_from_random() -> None:
    r = os.urandom(64)
    assert _core.DhKey(14, r).public == _core.DhKey(14, r).public
    assert _core.DhKey(14, r).public != _core.DhKey(14, bytes(64)).public
