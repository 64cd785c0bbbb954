"""Main Mode + Quick Mode between two engines, SA reports, `-r seed`
reproducibility, and the key schedule recomputed by an independent oracle
(Python's hmac/hashlib and `cryptography`) from the wire and the DH values."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from enginepair import (
    EAST_IP,
    PSK,
    WEST_IP,
    assert_keys_cross,
    established,
    gateway_pair,
    isakmpd_log_fixture,  # noqa: F401
)
from isakmpd import log, report
from isakmpd.constants import ExchangeType, Flags, ProtocolId
from isakmpd.engine import InstallSA
from isakmpd.log import Cls
from isakmpd.rand import Random

DATA = Path(__file__).parent / "data" / "vectors"


def test_main_and_quick_mode_install_mirrored_sas():
    net, w, e = gateway_pair()
    ws, es = established(net)
    assert_keys_cross(ws, es)
    assert (ws.name, es.name) == ("vpn", "vpn")
    assert ws.initiator and not es.initiator
    assert str(ws.local_sel.network) == "10.1.0.0/24"
    assert str(ws.remote_sel.network) == "10.2.0.0/24"
    assert (es.local_sel.network, es.remote_sel.network) == (
        ws.remote_sel.network, ws.local_sel.network)
    [wp], [ep] = ws.protos, es.protos
    assert wp.protocol_id == ProtocolId.IPSEC_ESP
    # AES-128 key + HMAC-SHA1 key
    assert len(wp.keymat_in) == len(wp.keymat_out) == 16 + 20
    # the SPIs are those the allocators handed out
    assert int.from_bytes(wp.spi_in, "big") in w.spis
    assert int.from_bytes(ep.spi_in, "big") in e.spis
    assert ws.pfs_group == es.pfs_group == 14
    assert ws.suite_name == "QM-ESP-AES-128-SHA-PFS-GRP14-SUITE"
    # 6 Main Mode messages and 3 Quick Mode ones, nothing more
    kinds = [(p.sender, p.exchange_type) for p in net.sent]
    assert kinds == [("west", 2), ("east", 2)] * 3 + [
        ("west", 32), ("east", 32), ("west", 32)]
    assert w.counts() == e.counts() == (1, 1)
    [wi], [ei] = w.isakmp_sas(), e.isakmp_sas()
    assert wi.established and ei.established
    assert wi.cookies == ei.cookies
    assert wi.params.transform_name == ei.params.transform_name == "AES-128-SHA-GRP14"
    # nothing else pending: no retransmission, no second exchange
    assert net.pending() == []
    assert not w.engine.connecting


def test_sa_reports_list_both_phases():
    net, w, e = gateway_pair()
    ws, es = established(net)
    wr = report.sa_report(w.engine, net.now + 100)
    er = report.sa_report(e.engine, net.now + 100)
    [wi] = w.isakmp_sas()
    for text, role, ipsec, peer in ((wr, "Initiator", ws, EAST_IP),
                                    (er, "Responder", es, WEST_IP)):
        assert f"SA name: peer-vpn (Phase 1/{role})" in text
        assert f"SA name: vpn (Phase 2/{role})" in text
        assert f"icookie {wi.icookie.hex()} rcookie {wi.rcookie.hex()}" in text
        assert "Encryption algorithm: AES (128 bits), hash: SHA, group: 14" in text
        p = ipsec.protos[0]
        assert f"SPI 0: {p.spi_out.hex()} (out) {p.spi_in.hex()} (in)" in text
        assert "Hard timeout in 1100 seconds" in text  # 1200 s life, 100 s on
        assert "PFS group: 14" in text
        assert text.count("SA name:") == 2
        assert f"dst: {peer}" in text


def _run_log(seed: int) -> list[tuple[bytes, tuple, tuple]]:
    net, _, _ = gateway_pair(seed)
    established(net)
    return [(p.data, p.src, p.dst) for p in net.sent]


def test_same_seeds_give_identical_datagrams():
    a, b = _run_log(7), _run_log(7)
    assert len(a) == 9
    assert a == b
    c = _run_log(8)
    assert len(c) == 9
    assert all(x[0] != y[0] for x, y in zip(a, c))


# ---------------------------------------------------------------- the oracle

class RecordingRandom(Random):
    """A seeded Random that keeps every byte string it hands out."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.calls: list[bytes] = []

    def bytes(self, n: int) -> bytes:  # type: ignore[override]
        b = super().bytes(n)
        self.calls.append(b)
        return b


def _modp(group: int) -> int:
    groups = json.loads((DATA / "modp_groups.json").read_text())["groups"]
    return int(next(g for g in groups if g["ike_group"] == group)["prime_hex"], 16)


def _walk(first: int, body: bytes) -> list[tuple[int, bytes]]:
    """(payload type, payload body) along a generic payload chain."""
    out = []
    t, off = first, 0
    while t:
        nxt, length = body[off], int.from_bytes(body[off + 2:off + 4], "big")
        out.append((t, body[off + 4:off + length]))
        t, off = nxt, off + length
    return out


def _one(payloads: list[tuple[int, bytes]], t: int) -> bytes:
    [b] = [b for pt, b in payloads if pt == t]
    return b


def _raw_after_first(first: int, body: bytes) -> bytes:
    """The bytes of every payload after the first (generic headers included)."""
    length = int.from_bytes(body[2:4], "big")
    end = sum(int.from_bytes(body[o + 2:o + 4], "big")
              for o in _offsets(first, body))
    return body[length:end]


def _offsets(first: int, body: bytes) -> list[int]:
    out, t, off = [], first, 0
    while t:
        out.append(off)
        t, off = body[off], off + int.from_bytes(body[off + 2:off + 4], "big")
    return out


def _dh_secret(rec: RecordingRandom, public: bytes, p: int, bits: int) -> int:
    """The private exponent behind ``public``, rebuilt from the random bytes
    the engine drew (low ``bits`` bits with the top one set)."""
    n = (bits + 7) // 8
    for b in rec.calls:
        if len(b) != n:
            continue
        x = (int.from_bytes(b, "big") & ((1 << bits) - 1)) | (1 << (bits - 1))
        if pow(2, x, p) == int.from_bytes(public, "big"):
            return x
    raise AssertionError("no recorded random value gives this public value")


def _prf(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha1).digest()


def _aes_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return d.update(data) + d.finalize()


def test_key_schedule_matches_independent_oracle(isakmpd_log):
    log.set_level(Cls.CRYPTO, 99)
    net, w, e = gateway_pair(21, start=False, transforms="AES-256-SHA-GRP14",
                             suites="QM-ESP-AES-256-SHA2-256-PFS-GRP14-SUITE")
    w.engine.rand = wrec = RecordingRandom(101)
    e.engine.rand = erec = RecordingRandom(202)
    net.start()
    net.run()
    ws, es = established(net)
    mm = [p for p in net.sent if p.exchange_type == ExchangeType.ID_PROT]
    qm = [p for p in net.sent if p.exchange_type == ExchangeType.QUICK_MODE]
    assert len(mm) == 6 and len(qm) == 3
    p14 = _modp(14)

    h2 = mm[1].header
    cky_i, cky_r = h2.icookie, h2.rcookie
    m1 = mm[0].data
    assert m1[16] == 1  # first payload SA
    sai_b = m1[32:28 + int.from_bytes(m1[30:32], "big")]
    m3 = _walk(mm[2].data[16], mm[2].data[28:])
    m4 = _walk(mm[3].data[16], mm[3].data[28:])
    gxi, ni = _one(m3, 4), _one(m3, 10)
    gxr, nr = _one(m4, 4), _one(m4, 10)
    assert len(gxi) == len(gxr) == 256

    xi = _dh_secret(wrec, gxi, p14, 224)
    xr = _dh_secret(erec, gxr, p14, 224)
    gxy_i = pow(int.from_bytes(gxr, "big"), xi, p14).to_bytes(256, "big")
    gxy_r = pow(int.from_bytes(gxi, "big"), xr, p14).to_bytes(256, "big")
    assert gxy_i == gxy_r
    gxy = gxy_i

    skeyid = _prf(PSK.encode(), ni + nr)
    skeyid_d = _prf(skeyid, gxy + cky_i + cky_r + b"\0")
    skeyid_a = _prf(skeyid, skeyid_d + gxy + cky_i + cky_r + b"\1")
    skeyid_e = _prf(skeyid, skeyid_a + gxy + cky_i + cky_r + b"\2")
    k1 = _prf(skeyid_e, b"\0")
    enc_key = (k1 + _prf(skeyid_e, k1))[:32]  # RFC 2409 appendix B
    iv = hashlib.sha1(gxi + gxr).digest()[:16]

    # the engines' crypto log (-D 3=99) shows the same values
    crypto = isakmpd_log.matching(" ", 0)
    label = f"{cky_i.hex()} {cky_r.hex()}"
    for name, value in (("g^xy", gxy), ("SKEYID", skeyid), ("SKEYID_D", skeyid_d),
                        ("SKEYID_A", skeyid_a), ("SKEYID_E", skeyid_e),
                        ("encryption key", enc_key), ("initial IV", iv)):
        line = f"{label} {name} {value.hex()}"
        assert crypto.count(line) == 2, name  # once per side

    # message 5: IDii and HASH_I
    c5 = mm[4].data[28:]
    assert mm[4].data[19] & Flags.ENC
    p5 = _walk(mm[4].data[16], _aes_cbc_decrypt(enc_key, iv, c5))
    idii_b = _one(p5, 5)
    assert idii_b == bytes([1, 0, 0, 0]) + bytes([192, 0, 2, 1])
    assert _one(p5, 8) == _prf(skeyid, gxi + gxr + cky_i + cky_r + sai_b + idii_b)
    # message 6: IDir and HASH_R, IV chained from message 5
    c6 = mm[5].data[28:]
    p6 = _walk(mm[5].data[16], _aes_cbc_decrypt(enc_key, c5[-16:], c6))
    idir_b = _one(p6, 5)
    assert _one(p6, 8) == _prf(skeyid, gxr + gxi + cky_r + cky_i + sai_b + idir_b)

    # Quick Mode: IV from the last phase-1 block and the message ID
    mid = qm[0].message_id
    mid_b = mid.to_bytes(4, "big")
    qiv = hashlib.sha1(c6[-16:] + mid_b).digest()[:16]
    q1c = qm[0].data[28:]
    q1 = _aes_cbc_decrypt(enc_key, qiv, q1c)
    q1p = _walk(qm[0].data[16], q1)
    assert q1p[0][0] == 8
    assert q1p[0][1] == _prf(skeyid_a, mid_b + _raw_after_first(qm[0].data[16], q1))
    q_ni, q_gxi = _one(q1p, 10), _one(q1p, 4)
    sa1 = _one(q1p, 1)
    spi_w = sa1[8 + 8:8 + 8 + sa1[8 + 6]]  # first proposal's SPI
    q2c = qm[1].data[28:]
    q2 = _aes_cbc_decrypt(enc_key, q1c[-16:], q2c)
    q2p = _walk(qm[1].data[16], q2)
    assert q2p[0][1] == _prf(skeyid_a, mid_b + q_ni
                             + _raw_after_first(qm[1].data[16], q2))
    q_nr, q_gxr = _one(q2p, 10), _one(q2p, 4)
    sa2 = _one(q2p, 1)
    spi_e = sa2[8 + 8:8 + 8 + sa2[8 + 6]]
    q3 = _walk(qm[2].data[16], _aes_cbc_decrypt(enc_key, q2c[-16:], qm[2].data[28:]))
    assert q3[0][1] == _prf(skeyid_a, b"\0" + mid_b + q_ni + q_nr)

    # PFS secret, then KEYMAT = K1 | K2 | ... for each direction's SPI
    qxi = _dh_secret(wrec, q_gxi, p14, 224)
    assert qxi != xi
    gqm = pow(int.from_bytes(q_gxr, "big"), qxi, p14).to_bytes(256, "big")

    def keymat(spi: bytes, n: int) -> bytes:
        seed = gqm + bytes([ProtocolId.IPSEC_ESP]) + spi + q_ni + q_nr
        out = k = _prf(skeyid_d, seed)
        while len(out) < n:
            k = _prf(skeyid_d, k + seed)
            out += k
        return out[:n]

    [wp], [ep] = ws.protos, es.protos
    assert (wp.spi_in, ep.spi_in) == (spi_w, spi_e)
    n = 32 + 32  # AES-256 key + HMAC-SHA2-256 key: four SHA-1 blocks
    assert wp.keymat_in == ep.keymat_out == keymat(spi_w, n)
    assert wp.keymat_out == ep.keymat_in == keymat(spi_e, n)
    assert_keys_cross(ws, es)
    # the crypto log names each KEYMAT once per side and direction
    assert crypto.count(f"vpn IPSEC_ESP SPI {spi_w.hex()} in KEYMAT "
                        f"{keymat(spi_w, n).hex()}") == 1
    assert crypto.count(f"vpn IPSEC_ESP SPI {spi_w.hex()} out KEYMAT "
                        f"{keymat(spi_w, n).hex()}") == 1


def test_crypto_secrets_stay_out_of_the_log_below_level_99(isakmpd_log):
    log.set_level(Cls.CRYPTO, 98)
    net, _, _ = gateway_pair()
    established(net)
    assert not isakmpd_log.matching("SKEYID", 0)
    assert not isakmpd_log.matching("KEYMAT", 0)
    assert not isakmpd_log.matching("g^xy", 0)


def test_events_come_out_once():
    net, w, e = gateway_pair()
    established(net)
    assert w.engine.next_event() is None and e.engine.next_event() is None
    assert [type(ev) for ev in w.events] == [InstallSA]
    assert [type(ev) for ev in e.events] == [InstallSA]
