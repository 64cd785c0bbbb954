"""Aggressive Mode between engines on the in-memory network: the three
messages and their payloads, keys per initiator ID, one DH group per offer,
NAT-T, losses and reordering (the Quick Mode that overtakes message 3), and
HASH_R checked against an independent computation."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from enginepair import (
    EAST_IP,
    PSK,
    WEST_IP,
    Nat,
    Network,
    assert_keys_cross,
    established,
    isakmpd_log_fixture,  # noqa: F401
    peer_conf,
)
from isakmpd import _core, log
from isakmpd.constants import ExchangeType, Flags, IdType, NotifyType, PayloadType

W_ID, E_ID = "west@example.com", "east.example.com"
INSIDE, PUBLIC = "10.0.0.1", "198.51.100.1"


def am_conf(me: str, peer: str, *, active: bool, my_id: tuple[str, str] | None = None,
            peer_id: tuple[str, str] | None = None, peer_psk: str | None = PSK,
            id_keys: dict[str, str] | None = None, exchange: str = "AGGRESSIVE",
            **kw) -> str:
    """peer_conf() with EXCHANGE_TYPE=``exchange``, the peer section's key
    ``peer_psk`` (None: none), our ID and the expected Remote-ID as
    (ID-type, Name), and Initiator-ID sections ``{id: key}``."""
    text = peer_conf(me, peer, active=active, **kw)
    text = text.replace("EXCHANGE_TYPE= ID_PROT", f"EXCHANGE_TYPE= {exchange}")
    psk_line = f"Authentication= {kw.get('psk', PSK)}\n"
    assert text.count(psk_line) == 1
    text = text.replace(psk_line, "" if peer_psk is None else
                        f"Authentication= {peer_psk}\n")
    add, extra = [], []
    for tag, ident, sec in (("ID", my_id, "my-id"), ("Remote-ID", peer_id, "peer-id")):
        if ident is not None:
            add.append(f"{tag}= {sec}")
            extra += [f"[{sec}]", f"ID-type= {ident[0]}", f"Name= {ident[1]}", ""]
    for ident, key in (id_keys or {}).items():
        extra += [f"[{ident}]", f"Authentication= {key}", ""]
    conn = kw.get("conn", "vpn")
    anchor = f"Configuration= mm-{conn}\n"
    text = text.replace(anchor, anchor + "".join(a + "\n" for a in add), 1)
    return text + "\n" + "\n".join(extra) + "\n"


def am_pair(seed: int = 1, west: dict | None = None, east: dict | None = None,
            start: bool = True, nat: bool = False) -> tuple[Network, object, object]:
    """West (active AM initiator, ID west@example.com) and east (passive,
    ID east.example.com)."""
    net = Network()
    w_ip = INSIDE if nat else WEST_IP
    wkw = {"my_id": ("USER_FQDN", W_ID), "peer_id": ("FQDN", E_ID), **(west or {})}
    ekw = {"my_id": ("FQDN", E_ID), "peer_id": ("USER_FQDN", W_ID),
           "my_net": "10.2.0.0/24", "peer_net": "10.1.0.0/24", **(east or {})}
    w = net.add("west", am_conf(w_ip, EAST_IP, active=True, **wkw), seed, w_ip)
    e = net.add("east", am_conf(EAST_IP, PUBLIC if nat else WEST_IP, active=False,
                                **ekw), seed + 1, EAST_IP)
    if nat:
        net.nat = Nat(INSIDE, PUBLIC)
    if start:
        net.start()
        net.run()
    return net, w, e


def _am(net: Network) -> list:
    return [p for p in net.sent if p.exchange_type == ExchangeType.AGGRESSIVE]


def _types(payloads: list) -> list[int]:
    return [p.payload_type for p in payloads]


def test_aggressive_mode_psk_then_quick_mode():
    net, w, e = am_pair()
    ws, es = established(net)
    assert_keys_cross(ws, es)
    am = _am(net)
    assert [p.sender for p in am] == ["west", "east", "west"]
    m1, m2 = am[0].payloads(), am[1].payloads()
    T = PayloadType
    assert _types(m1)[:4] == [T.SA, T.KE, T.NONCE, T.ID]
    assert set(_types(m1)[4:]) == {T.VENDOR}
    # vendor IDs: the NAT-T version chosen, DPD
    assert _types(m2) == [T.SA, T.KE, T.NONCE, T.ID, T.HASH, T.NAT_D, T.NAT_D,
                          T.VENDOR, T.VENDOR]
    [idii] = [p for p in m1 if isinstance(p, _core.ID)]
    [idir] = [p for p in m2 if isinstance(p, _core.ID)]
    assert (idii.id_type, idii.data) == (IdType.USER_FQDN, W_ID.encode())
    assert (idir.id_type, idir.data) == (IdType.FQDN, E_ID.encode())
    # message 3 is encrypted; messages 1 and 2 are not
    assert [p.encrypted for p in am] == [False, False, True]
    [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
    assert wsa.established and esa.established
    assert wsa.exchange_type == esa.exchange_type == ExchangeType.AGGRESSIVE
    assert esa.peer_auth == wsa.peer_auth == "pre-shared key"
    from isakmpd.report import isakmp_lines

    text = "\n".join(isakmp_lines(esa, net.now))
    assert "Exchange type: AGGRESSIVE, state: established" in text
    assert "Authentication: pre-shared key" in text
    assert f"Remote ID: USER_FQDN {W_ID}" in text
    assert f"Local ID: FQDN {E_ID}" in text


def _prf(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha1).digest()


def test_hash_r_matches_an_independent_computation():
    """HASH_R = prf(prf(PSK, Ni_b | Nr_b), g^xr | g^xi | CKY-R | CKY-I |
    SAi_b | IDir_b), recomputed with hashlib from the messages on the wire
    (AES-128-SHA: the PRF is HMAC-SHA1)."""
    net, w, e = am_pair()
    established(net)
    m1, m2 = _am(net)[:2]
    p1, p2 = m1.payloads(), m2.payloads()

    def one(ps, cls):
        [x] = [p for p in ps if isinstance(p, cls)]
        return x

    h2 = m2.header
    skeyid = _prf(PSK.encode(), one(p1, _core.Nonce).data + one(p2, _core.Nonce).data)
    want = _prf(skeyid, one(p2, _core.KE).data + one(p1, _core.KE).data
                + h2.rcookie + h2.icookie + one(p1, _core.SA).body
                + one(p2, _core.ID).body)
    assert one(p2, _core.Hash).data == want
    # and not with another key
    other = _prf(b"not-the-key", one(p1, _core.Nonce).data + one(p2, _core.Nonce).data)
    assert _prf(other, b"x") != _prf(skeyid, b"x")


def test_key_of_the_initiator_id_section_wins():
    """The responder takes the key of [west@example.com]; its peer section's
    key is another one and is not used."""
    net, w, e = am_pair(east={"peer_psk": "the-peer-sections-key",
                              "id_keys": {W_ID: PSK}})
    established(net)


def test_peer_section_key_without_an_id_section():
    net, w, e = am_pair(east={"id_keys": {"someone@else": "other-key"}})
    established(net)


def test_no_key_for_the_initiator_id(isakmpd_log):
    """Neither an ID section nor a peer key: no transform can be chosen."""
    net, w, e = am_pair(east={"peer_psk": None, "id_keys": {"someone@else": "k"}})
    assert not w.installed() and not e.installed()
    assert e.counts() == (0, 0)
    fails = isakmpd_log.matching("Aggressive Mode with")
    assert any("no acceptable phase 1 proposal (we lack the key or certificate "
               "for PRE_SHARED)" in m for m in fails), fails
    notes = [p for p in net.sent if p.sender == "east"
             and p.exchange_type == ExchangeType.INFO]
    [n] = [x for p in notes for x in p.payloads() if isinstance(x, _core.Notify)]
    assert n.notify_type == NotifyType.NO_PROPOSAL_CHOSEN


def test_wrong_key_fails_at_the_initiator(isakmpd_log):
    net, w, e = am_pair(west={"peer_psk": "a-different-key"}, start=False)
    net.start()
    net.settle(400)
    assert not w.installed() and not e.installed()
    fails = isakmpd_log.matching("Aggressive Mode with")
    assert len([m for m in fails if "192.0.2.2" in m]) == 1, fails
    assert "HASH_R does not verify (wrong pre-shared key?)" in " ".join(fails)
    assert w.counts() == (0, 0) and e.counts() == (0, 0)


def test_transforms_with_different_groups_are_refused(isakmpd_log):
    net, w, e = am_pair(west={"transforms": "AES-128-SHA-GRP14,AES-128-SHA-GRP2"})
    assert [p for p in net.sent] == []
    errs = isakmpd_log.matching("different DH groups (2, 14)")
    assert errs and "KE payload in the first message" in errs[0], errs
    assert w.counts() == (0, 0)


def test_several_transforms_of_one_group():
    net, w, e = am_pair(west={"transforms": "3DES-SHA-GRP14,AES-128-SHA-GRP14"},
                        east={"transforms": "AES-128-SHA-GRP14"})
    established(net)
    [sa] = _am(net)[1].payloads()[:1]
    assert len(sa.proposals[0].transforms) == 1
    assert [wsa.params.transform_name for wsa in w.isakmp_sas()] == [
        "AES-128-SHA-GRP14"]


def test_responder_configured_for_main_mode_refuses(isakmpd_log):
    net, w, e = am_pair(east={"exchange": "ID_PROT"})
    assert not w.installed() and e.counts() == (0, 0)
    assert [p.sender for p in net.sent] == ["west"]
    drops = isakmpd_log.matching("Aggressive Mode refused")
    assert drops and "configured for ID_PROT" in drops[0], drops


def test_main_mode_initiator_still_served_by_an_aggressive_responder():
    net, w, e = am_pair(west={"exchange": "ID_PROT"})
    established(net)
    assert all(p.exchange_type != ExchangeType.AGGRESSIVE for p in net.sent)


def test_quick_mode_overtaking_message_3_is_dropped_then_retransmitted(isakmpd_log):
    """Message 3 is held back, so west's first Quick Mode message reaches
    east first: east drops it without touching the exchange; message 3
    completes phase 1, and the retransmitted Quick Mode message succeeds."""
    log.set_level("A", 20)
    net, w, e = am_pair(start=False)
    held = net.hold(lambda p: p.exchange_type == ExchangeType.AGGRESSIVE
                    and p.sender == "west" and p.encrypted)
    assert held
    net.start()
    net.run()
    qm = [p for p in net.sent if p.exchange_type == ExchangeType.QUICK_MODE]
    assert len(qm) == 1 and not e.installed()
    assert isakmpd_log.matching("Quick Mode before phase 1 completed")
    net.release()
    net.run()
    [esa] = e.isakmp_sas()
    assert esa.established
    net.advance(6)  # west's retransmission
    ws, es = established(net)
    assert_keys_cross(ws, es)


def test_quick_mode_right_behind_message_3():
    """strongSwan's order: message 3 and Quick Mode 1 back to back."""
    net, w, e = am_pair()
    qm = [p for p in net.sent if p.exchange_type == ExchangeType.QUICK_MODE]
    am3 = _am(net)[2]
    assert qm[0].index == am3.index + 1
    established(net)


def test_lost_message_3_is_sent_again():
    net, w, e = am_pair(start=False)
    net.drop(lambda p: p.exchange_type == ExchangeType.AGGRESSIVE and p.encrypted)
    net.drop(lambda p: p.exchange_type == ExchangeType.QUICK_MODE)
    net.start()
    net.settle(60)
    ws, es = established(net)
    am3 = [p for p in _am(net) if p.encrypted]
    assert len(am3) == 2 and am3[0].data == am3[1].data


def test_nat_traversal_floats_for_message_3():
    net, w, e = am_pair(nat=True)
    ws, es = established(net)
    assert_keys_cross(ws, es)
    am = _am(net)
    assert [p.src[1] for p in am] == [500, 500, 4500]
    assert [len([x for x in p.payloads() if isinstance(x, _core.NatD)])
            for p in am[:2]] == [0, 2]
    [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
    assert (wsa.natt.local_behind_nat, wsa.natt.peer_behind_nat) == (True, False)
    assert (esa.natt.local_behind_nat, esa.natt.peer_behind_nat) == (False, True)
    assert wsa.natt.floated and esa.natt.floated
    assert esa.remote[1] != 500 and esa.local == (EAST_IP, 4500)
    assert ws.udp_encap and es.udp_encap


def test_no_nat_no_float():
    net, w, e = am_pair()
    [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
    assert not wsa.natt.nat_detected and not esa.natt.nat_detected
    assert [p.src[1] for p in _am(net)] == [500, 500, 500]


def test_invalid_ke_is_answered_with_invalid_key_information(isakmpd_log):
    """A KE of all ones (p - 1 ... out of range for MODP) from a scripted
    initiator: east answers INVALID_KEY_INFORMATION and keeps nothing."""
    net, w, e = am_pair(start=False)
    def bad_ke(p):
        hdr, payloads = _core.parse_message(p.data)
        out = [(_core.KE(b"\xff" * len(x.data)) if isinstance(x, _core.KE) else x)
               for x in payloads]
        data = _core.encode_message(_core.Header(hdr.icookie, hdr.rcookie,
                                                 exchange_type=hdr.exchange_type),
                                    out)
        return type(p)(data, p.src, p.dst, p.index, p.sender, p.at)
    net.rewrite(lambda p: p.index == 0, bad_ke)
    net.start()
    net.run()
    notes = [x for p in net.sent if p.sender == "east" for x in p.payloads()
             if isinstance(x, _core.Notify)]
    assert [n.notify_type for n in notes] == [NotifyType.INVALID_KEY_INFORMATION]
    assert e.counts() == (0, 0)


@pytest.mark.parametrize("flags", [0, Flags.ENC])
def test_message_3_encrypted_or_not(flags):
    """RFC 2409 shows message 3 in the clear; strongSwan and we encrypt it.
    A responder takes both."""
    net, w, e = am_pair(start=False)
    if flags == 0:
        def plain(p):
            [wsa] = w.isakmp_sas()
            assert wsa.cipher is not None
            # rebuild message 3 in the clear from what west meant to send
            hdr = _core.parse_header(p.data)
            plain_body = _decrypt_am3(e, p.data)
            data = _core.encode_message(
                _core.Header(hdr.icookie, hdr.rcookie, next_payload=hdr.next_payload,
                             exchange_type=hdr.exchange_type), plain_body)
            return type(p)(data, p.src, p.dst, p.index, p.sender, p.at)
        net.rewrite(lambda p: p.exchange_type == ExchangeType.AGGRESSIVE
                    and p.encrypted, plain)
    net.start()
    net.run()
    [esa] = e.isakmp_sas()
    assert esa.established
    if flags:
        established(net)


def _decrypt_am3(east_node, data: bytes) -> bytes:
    """The plaintext payload chain of west's encrypted message 3, decrypted
    with a copy of east's phase-1 cipher key and the initial IV."""
    [esa] = east_node.isakmp_sas()
    c = esa.cipher
    copy = _core.IkeCipher(c.enc_alg, c.hash_alg, c.key(), c.iv(0))
    plain = copy.decrypt(0, data[28:])
    hdr = _core.parse_header(data)
    payloads = _core.parse_payloads(hdr.next_payload, plain, allow_trailing=True)
    return _core.encode_payloads(payloads)


def _mutants(data: bytes, rng, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        b = bytearray(data)
        kind = rng.randrange(3)
        if kind == 0:
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(28, len(b))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            cut = rng.randrange(28, len(b))
            b = b[:cut]
            b[24:28] = len(b).to_bytes(4, "big")
        else:
            i = rng.randrange(28, len(b))
            b[i:i + 4] = rng.randbytes(4)
        out.append(bytes(b))
    return out


@pytest.mark.parametrize("which", [0, 1, 2])
def test_damaged_aggressive_messages_never_raise(which):
    """Damaged copies of message 1, 2 or 3 fed to its receiver: no
    exception escapes and no SA comes of them."""
    import random

    rng = random.Random(1000 + which)
    net, w, e = am_pair(start=False)
    net.start()
    while net.pending()[0].index != which:
        net.step()
    genuine = net.take()[0]
    node = net.node_at(genuine.dst[0])
    for bad in _mutants(genuine.data, rng, 300):
        if which == 0:  # a new initiator cookie: a new exchange each time
            bad = rng.randbytes(8) + bad[8:]
        node.engine.receive_datagram(bad, genuine.dst, genuine.src, net.now)
        node.engine.datagrams_to_send()
        while node.engine.next_event() is not None:
            pass
    assert node.counts()[1] == 0
