"""Writes the raw seed inputs of every fuzz target, before minimization.

    .venv/bin/python fuzz/make_seeds.py OUTDIR

Sources: the golden messages of tests/data/codec (strongSwan, libreswan and
ike-scan captures, with the decrypted bodies of the encrypted ones), the
messages two of our engines exchange in memory (tests/enginepair.py) for a
few algorithm choices, with NAT-T and with a teardown, and the RSA keys and
signatures of tests/data/pki/rsa. Each target's inputs are framed the way
its fuzz_targets/*.rs reads them. fuzz/run.sh --seeds runs this, then
`cargo fuzz cmin` into fuzz/corpus-seed/<target>/.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from isakmpd import _core

CODEC = ROOT / "tests" / "data" / "codec"
PKI = ROOT / "tests" / "data" / "pki" / "rsa"
HEADER_LEN = 28
SA, PROPOSAL, TRANSFORM, KE = 1, 2, 3, 4

# As in fuzz_targets/decrypt.rs: (ENCRYPTION_ALGORITHM, key length) by index,
# hash ids by index, message IDs by index.
CIPHERS = [(5, 24), (7, 16), (7, 32), (3, 16), (6, 16), (7, 24), (3, 56), (6, 5)]
HASHES = [2, 1, 4, 5, 6]
MIDS = [0, 1, 0x87654321, 0xFFFFFFFF]
# As in fuzz_targets/dh.rs.
GROUPS = [1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21]


def u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def chain(first: int, data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, body) of each payload of a generic chain, as far as it holds."""
    nxt, at = first, 0
    while nxt and at + 4 <= len(data):
        size = int.from_bytes(data[at + 2:at + 4], "big")
        if size < 4 or at + size > len(data):
            return
        yield nxt, data[at + 4:at + size]
        nxt, at = data[at], at + size


def message_bodies() -> Iterator[tuple[bytes, int, bytes | None, bool]]:
    """(message, first payload type, clear body, padded) of every golden and
    engine message; the body is None when it is ciphertext we cannot open."""
    for path in sorted(CODEC.glob("*.bin")):
        msg = path.read_bytes()
        dec = path.with_suffix(".dec")
        if dec.exists():
            yield msg, msg[16], dec.read_bytes(), True
        elif not msg[19] & 1:
            yield msg, msg[16], msg[HEADER_LEN:], False
        else:
            yield msg, msg[16], None, False
    for msg in engine_messages():
        plain = getattr(msg, "plain", None)
        if plain is not None:
            yield bytes(msg), msg[16], bytes(plain), True
        else:
            yield bytes(msg), msg[16], msg[HEADER_LEN:], False


def engine_messages() -> list[bytes]:
    """Every datagram of a few complete negotiations between two engines,
    then a teardown (DELETE notifications)."""
    from enginepair import EAST_IP, Nat, Network, gateway_pair, peer_conf

    runs = [
        {},
        {"transforms": "3DES-MD5-GRP2", "suites": "QM-ESP-3DES-MD5-PFS-SUITE"},
        {"transforms": "AES-256-SHA2-256-GRP19",
         "suites": "QM-ESP-AES-256-SHA2-256-PFS-GRP19-SUITE"},
        {"transforms": "BLF-SHA-GRP5", "suites": "QM-AH-SHA-SUITE"},
        {"transforms": "CAST-SHA2-512-GRP21", "suites": "QM-ESP-CAST-SHA-SUITE"},
    ]
    out: list[bytes] = []
    for i, kw in enumerate(runs):
        net, w, _ = gateway_pair(seed=10 + i, **kw)
        w.engine.teardown("vpn", net.now)
        net.run()
        out += [p.data for p in net.sent]
    # NAT-T: NAT-D payloads, then messages on port 4500 behind a marker.
    net = Network()
    net.add("west", peer_conf("10.0.0.1", EAST_IP, active=True), 30, "10.0.0.1")
    net.add("east", peer_conf(EAST_IP, "198.51.100.1", active=False,
                              my_net="10.2.0.0/24", peer_net="10.1.0.0/24"),
            31, EAST_IP)
    net.nat = Nat("10.0.0.1", "198.51.100.1")
    net.start()
    net.run()
    out += [p.data for p in net.sent]
    return [strip_marker(d) for d in out]


def strip_marker(data: bytes) -> bytes:
    if data[:4] == b"\0\0\0\0":
        out = data[4:]
        plain = getattr(data, "plain", None)
        if plain is not None:
            from isakmpd.exchange.base import seal
            return seal(out, plain)
        return out
    return data


def sa_inputs(body: bytes) -> Iterator[bytes]:
    """Inputs of the sa target from one SA body: the SA, its situation, its
    proposals, their transforms and attribute lists."""
    yield b"\0" + body
    if len(body) < 8:
        return
    yield b"\4" + body[4:8]
    if int.from_bytes(body[:4], "big") != 1 or body[4:8] != b"\0\0\0\1":
        return
    for _, prop in chain(PROPOSAL, body[8:]):
        yield b"\1" + prop
        if len(prop) < 4:
            continue
        spi_end = 4 + prop[2]
        for _, trans in chain(TRANSFORM, prop[spi_end:]):
            yield b"\2" + trans
            yield b"\3" + trans[4:]


def cipher_key(length: int) -> bytes:
    return bytes(((i * 37) & 0xFF) ^ 0x5C for i in range(length))


def decrypt_inputs(first: int, plain: bytes, n: int) -> Iterator[bytes]:
    """Inputs of the decrypt target: ``plain`` encrypted under the fixed key
    of one cipher (chosen by ``n``) and decrypted as junk, committed, then
    sent back in a round trip and forgotten."""
    index = n % len(CIPHERS)
    enc, key_len = CIPHERS[index]
    hash_index = n % len(HASHES)
    mid_index = n % len(MIDS)
    block = 16 if enc == 7 else 8
    cipher = _core.IkeCipher(enc, HASHES[hash_index], cipher_key(key_len),
                             b"\xa5" * block)
    # The body keeps its padding: here it is plaintext like any other.
    ct = cipher.encrypt(MIDS[mid_index], plain)
    junk = bytes([0, mid_index, first]) + u16(len(ct)) + ct
    commit = bytes([1, mid_index])
    trip = bytes([3, mid_index]) + u16(len(plain)) + plain
    forget = bytes([2, mid_index])
    yield bytes([index, hash_index]) + junk + commit + trip + forget


def dh_inputs(kes: list[bytes]) -> Iterator[bytes]:
    """Inputs of the dh target: every KE value seen, for its group, and the
    public value of the target's second fixed key of each group, alone and
    with its random bytes for the arithmetic mode."""
    for ke in kes:
        for i, g in enumerate(GROUPS):
            if _core.group_info(g)[1] == len(ke):
                yield bytes([i, 0]) + ke
    for i, g in enumerate(GROUPS):
        n = _core.random_bytes_needed(g)
        random = bytes(((j * 29) & 0xFF) ^ 0xC3 for j in range(n))
        public = _core.DhKey(g, random).public
        yield bytes([i, 0]) + public
        yield bytes([i, 1]) + public[:-1]
        # Arithmetic mode: a private value from these random bytes (MODP:
        # default exponent length, then one of 1000 bits), the peer's value.
        if _core.group_info(g)[0].upper() == "MODP":
            for which, bits in ((0, 0), (2, 1000 - 160)):
                yield (bytes([i, 2, which]) + u16(bits) + u16(len(random)) + random
                       + public)
        else:
            yield bytes([i, 2]) + random


def rsa_inputs() -> Iterator[bytes]:
    for bits in (1024, 2048):
        for form in ("spki", "pub-pkcs1", "pk8"):
            der = (PKI / f"rsa{bits}.{form}.der").read_bytes()
            for size in (20, 64):
                data = (PKI / f"data{size}.bin").read_bytes()
                sig = (PKI / f"rsa{bits}.data{size}.sig").read_bytes()
                yield u16(len(der)) + der + bytes([len(data)]) + data + sig


def seeds() -> dict[str, list[bytes]]:
    targets = ("message", "payloads", "sa", "decrypt", "dh", "rsa")
    out: dict[str, list[bytes]] = {t: [] for t in targets}
    kes: list[bytes] = []
    for n, (msg, first, body, padded) in enumerate(message_bodies()):
        out["message"].append(msg)
        if body is None:
            continue
        if padded:
            # The same message unencrypted: ENC cleared, the padding cut off.
            end = sum(4 + len(b) for _, b in chain(first, body))
            hdr = bytearray(msg[:HEADER_LEN])
            hdr[19] &= 0xFE
            hdr[24:28] = (HEADER_LEN + end).to_bytes(4, "big")
            out["message"].append(bytes(hdr) + body[:end])
        out["payloads"].append(bytes([first, int(padded)]) + body)
        out["decrypt"].extend(decrypt_inputs(first, body, n))
        for ptype, pbody in chain(first, body):
            if ptype == SA:
                out["sa"].extend(sa_inputs(pbody))
            elif ptype == KE:
                kes.append(pbody)
    out["dh"].extend(dh_inputs(kes))
    out["rsa"].extend(rsa_inputs())
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = Path(argv[1])
    for target, inputs in seeds().items():
        d = root / target
        d.mkdir(parents=True, exist_ok=True)
        for data in inputs:
            (d / hashlib.sha1(data).hexdigest()).write_bytes(data)
        print(f"{target}: {len(set(inputs))} inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
