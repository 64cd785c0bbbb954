"""Truncated and damaged messages fed to an engine in the middle of an
exchange and to an established pair: never an exception, established SAs
survive, and the exchange still completes with the genuine message.

Messages 1-4 of Main Mode carry nothing that authenticates them: a change
inside one of their payloads (a KE value, a nonce, an attribute) makes
another valid message, which IKEv1 cannot tell from the genuine one (and
message 2 tells the initiator the responder cookie). For those the tests ask
completion only where the damage is detectable (the message no longer
parses, or its header names another exchange). Every
damaged copy of an encrypted message must be dropped.
"""

from __future__ import annotations

import random

import pytest
from enginepair import Network, Packet, assert_keys_cross, established, gateway_pair
from isakmpd import _core
from isakmpd.constants import ProtocolId
from isakmpd.engine import RemoveSA
from isakmpd.exchange import info
from isakmpd.exchange.base import plaintext

NAMES = ["MM1", "MM2", "MM3", "MM4", "MM5", "MM6", "QM1", "QM2", "QM3"]
ENCRYPTED = range(4, 9)
HEADER = [o for o in range(28) if o != 16]  # all but next-payload


def _at_message(i: int) -> tuple[Network, Packet]:
    """A fresh pair run up to message ``i`` of the clean exchange, which is
    taken out of flight and returned."""
    net, w, e = gateway_pair(start=False)
    net.start()
    while net.pending()[0].index != i:
        net.step()
    [genuine] = net.take()
    return net, genuine


def _feed(net: Network, p: Packet, data: bytes) -> list:
    """``data`` to the receiver of ``p``; what it sends back is discarded
    (returned), so the peer never sees answers to junk."""
    node = net.node_at(p.dst[0])
    node.engine.receive_datagram(data, p.dst, p.src, net.now)
    out = node.engine.datagrams_to_send()
    while (ev := node.engine.next_event()) is not None:
        node.events.append(ev)
    return out


def _completes(net: Network, p: Packet) -> bool:
    net.inject(p.data, p.src, p.dst)
    net.settle(200)
    w, e = net["west"], net["east"]
    if not (len(w.installed()) == len(e.installed()) == 1):
        return False
    assert_keys_cross(*established(net))
    assert w.counts() == e.counts() == (1, 1)
    return True


def _flip(data: bytes, off: int, x: int) -> bytes:
    d = bytearray(data)
    d[off] ^= x
    return bytes(d)


def _parses(data: bytes) -> bool:
    try:
        _core.parse_message(data)
    except Exception:
        return False
    return True


def _corruptions(i: int, length: int, n: int) -> list[tuple[int, int]]:
    """Header offsets and ``n`` random ones, each with a random XOR."""
    rng = random.Random(1000 + i)
    offs = HEADER + [16] + rng.sample(range(28, length), min(n, length - 28))
    return [(o, rng.randrange(1, 256)) for o in offs]


@pytest.mark.parametrize("i", range(9), ids=NAMES)
def test_every_prefix_mid_exchange(i):
    net, p = _at_message(i)
    for n in range(len(p.data)):
        assert _feed(net, p, p.data[:n]) == []
    assert _completes(net, p)


@pytest.mark.parametrize("i", range(9), ids=NAMES)
def test_damaged_copies_mid_exchange(i):
    length = len(_at_message(i)[1].data)
    strict = 0
    for off, x in _corruptions(i, length, 40):
        net, p = _at_message(i)
        bad = _flip(p.data, off, x)
        _feed(net, p, bad)
        done = _completes(net, p)
        # message 2 is where the initiator learns the responder cookie
        named_elsewhere = off < 28 and off != 16 and not (i == 1 and 8 <= off < 16)
        # a last block of nothing but padding authenticates nothing (Main
        # Mode message 5 with INITIAL-CONTACT ends with one): a change there
        # leaves a valid message whose last block the next IV is made of
        padding_only = (i in ENCRYPTED and len(plaintext(p.data)) <= len(p.data) - 16
                        and off >= len(p.data) - 16)
        if i in ENCRYPTED:
            strict_here = not padding_only or named_elsewhere
        else:
            strict_here = named_elsewhere or not _parses(bad)
        if strict_here:
            strict += 1
            assert done, (NAMES[i], off, x)
    assert strict >= len(HEADER) - 8


def _established_pair():
    net, w, e = gateway_pair()
    ws, es = established(net)
    return net, w, e, ws, es


@pytest.mark.parametrize("i", range(9), ids=NAMES)
def test_damaged_and_cut_messages_to_an_established_pair(i):
    net, w, e, ws, es = _established_pair()
    p = net.sent[i]
    rng = random.Random(i)
    datas = [p.data[:n] for n in range(0, len(p.data), 3)]
    datas += [_flip(p.data, rng.randrange(len(p.data)), rng.randrange(1, 256))
              for _ in range(60)]
    datas += [p.data]  # the genuine one, again
    for d in datas:
        _feed(net, p, d)
    for n in (w, e):
        assert [type(ev) for ev in n.events[1:]] == []
        assert all(s.state == "installed" for s in n.ipsec_sas())
    assert [s for s in w.ipsec_sas()] == [ws] and [s for s in e.ipsec_sas()] == [es]
    # half-open exchanges that damaged first messages started are gone later
    net.advance(300)
    assert w.counts() == e.counts() == (1, 1)
    assert [sa.established for sa in w.isakmp_sas() + e.isakmp_sas()] == [True] * 2
    # and the pair still negotiates
    assert net.connect("west", "vpn")
    net.run()
    assert len(w.installed()) == len(e.installed()) == 2


def test_damaged_delete_is_dropped_and_the_genuine_one_works():
    net, w, e, ws, es = _established_pair()
    [wsa] = w.isakmp_sas()
    rng = random.Random(77)
    for k in range(80):
        mid = 0x1000 + k
        d = info.build(wsa, mid, [info.delete_payload(ProtocolId.IPSEC_ESP,
                                                      [ws.protos[0].spi_in])])
        bad = _flip(d, rng.randrange(len(d)), rng.randrange(1, 256))
        e.engine.receive_datagram(bad, (e.address, 500), (w.address, 500), net.now)
        assert e.engine.next_event() is None, k
        assert e.counts() == (1, 1)
    good = info.build(wsa, 0x2000, [info.delete_payload(ProtocolId.IPSEC_ESP,
                                                        [ws.protos[0].spi_in])])
    net.inject(good, (w.address, 500), (e.address, 500))
    assert [type(ev) for ev in e.events[1:]] == [RemoveSA]
    assert e.counts() == (1, 0)


def test_random_garbage_never_raises():
    net, w, e, ws, es = _established_pair()
    rng = random.Random(3)
    [wsa] = w.isakmp_sas()
    for _ in range(300):
        n = rng.randrange(0, 120)
        junk = bytes(rng.randrange(256) for _ in range(n))
        if rng.random() < 0.7 and n >= 28:
            # a plausible header: right cookies, version, length
            junk = (wsa.icookie + wsa.rcookie + bytes([rng.randrange(256), 0x10,
                                                      rng.choice([2, 5, 32]),
                                                      rng.randrange(2)])
                    + junk[20:24] + len(junk).to_bytes(4, "big") + junk[28:])
        e.engine.receive_datagram(junk, (e.address, 500), (w.address, 500), net.now)
        e.engine.datagrams_to_send()
    assert e.engine.next_event() is None
    assert e.counts() == (1, 1)
