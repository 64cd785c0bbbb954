"""A wrong pre-shared key, and the informational exchange: protected and
forged DELETE and NOTIFY messages."""

from __future__ import annotations

import logging

from enginepair import (
    EAST_IP,
    WEST_IP,
    established,
    gateway_pair,
    is_info,
    isakmpd_log_fixture,  # noqa: F401
    open_protected,
)
from isakmpd import _core
from isakmpd.constants import ExchangeType, NotifyType, ProtocolId
from isakmpd.engine import RemoveSA
from isakmpd.exchange import info
from isakmpd.exchange.base import encode_protected

W, E = (WEST_IP, 500), (EAST_IP, 500)


def _pair():
    net, w, e = gateway_pair()
    ws, es = established(net)
    [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
    return net, w, e, ws, es, wsa, esa


# ------------------------------------------------------------ wrong key

def test_wrong_psk_fails_cleanly_on_both_sides(isakmpd_log):
    net, w, e = gateway_pair(west={"psk": "the-key-west-has"},
                             east={"psk": "the-key-east-has"})
    net.advance(200)
    lines = isakmpd_log.messages(logging.WARNING)
    assert len(lines) == 2, lines
    west_line = [m for m in lines if f"Main Mode with {EAST_IP} failed" in m]
    east_line = [m for m in lines if f"Main Mode with {WEST_IP} failed" in m]
    assert len(west_line) == len(east_line) == 1
    for m in lines:
        assert "wrong pre-shared key?" in m
    assert "message 5" in east_line[0]
    assert w.counts() == e.counts() == (0, 0)
    assert w.events == e.events == []
    assert not w.engine.connecting
    for n in (w, e):
        assert n.timer_names() == ["connection_checker"]
    # nothing but Main Mode went on the wire: no Quick Mode, no notification
    # either side could not read
    assert {p.exchange_type for p in net.sent} == {ExchangeType.ID_PROT}


# ------------------------------------------------------------ DELETE

def test_protected_delete_of_ipsec_sa(isakmpd_log):
    net, w, e, ws, es, wsa, esa = _pair()
    assert e.engine.teardown("vpn", net.now) == 1
    [d] = net.take()
    assert d.sender == "east" and is_info(d) and d.encrypted
    _, payloads = open_protected(wsa, d.data)
    assert isinstance(payloads[0], _core.Hash)
    [dp] = payloads[1:]
    assert isinstance(dp, _core.Delete)
    assert (dp.protocol_id, dp.spi_size, dp.spis) == (ProtocolId.IPSEC_ESP, 4,
                                                      [es.protos[0].spi_in])
    net.inject(d.data, d.src, d.dst)
    assert [type(ev) for ev in w.events[1:]] == [RemoveSA]
    assert w.events[1].sa is ws and ws.state == "dead"
    assert [type(ev) for ev in e.events[1:]] == [RemoveSA]
    assert w.counts() == e.counts() == (1, 0)
    assert net.take() == []  # the peer answers a DELETE with nothing
    assert len(isakmpd_log.matching(f"peer {EAST_IP} deleted IPsec SA vpn")) == 1


def test_protected_delete_of_isakmp_sa():
    net, w, e, ws, es, wsa, esa = _pair()
    assert e.engine.teardown_main("peer-vpn", net.now) == 1
    [d] = net.take()
    _, payloads = open_protected(wsa, d.data)
    [dp] = payloads[1:]
    assert (dp.protocol_id, dp.spi_size, dp.spis) == (ProtocolId.ISAKMP, 16,
                                                      [wsa.cookies])
    net.inject(d.data, d.src, d.dst)
    assert wsa.state == "dead" and esa.state == "dead"
    # the IPsec SAs live on without their ISAKMP SA
    assert w.counts() == e.counts() == (0, 1)
    assert w.removed() == e.removed() == []


def _forged(sa, payloads, mid=0) -> bytes:
    hdr = _core.Header(sa.icookie, sa.rcookie, exchange_type=ExchangeType.INFO,
                       message_id=mid)
    return _core.encode_message(hdr, payloads)


def test_unprotected_delete_and_notify_are_ignored(isakmpd_log):
    net, w, e, ws, es, wsa, esa = _pair()
    forged = [
        _forged(wsa, [info.delete_payload(ProtocolId.IPSEC_ESP,
                                          [ws.protos[0].spi_in])]),
        _forged(wsa, [info.delete_payload(ProtocolId.ISAKMP, [wsa.cookies])],
                0x1234),
        _forged(wsa, [info.notify_payload(NotifyType.INVALID_SPI,
                                          ProtocolId.IPSEC_ESP,
                                          ws.protos[0].spi_in)]),
    ]
    for data in forged:
        net.inject(data, W, E)
        net.inject(data, E, W)
    assert net.take() == []
    assert w.counts() == e.counts() == (1, 1)
    assert esa.established and wsa.established
    assert w.removed() == e.removed() == []
    lines = isakmpd_log.messages(logging.WARNING)
    assert lines.count(f"ignoring unprotected DELETE from {WEST_IP}") == 2
    assert lines.count(f"ignoring unprotected DELETE from {EAST_IP}") == 2
    spi = ws.protos[0].spi_in.hex()
    assert lines.count(f"unprotected notification INVALID_SPI (protocol IPSEC_ESP, "
                       f"SPI {spi}) from {WEST_IP} ignored") == 1
    assert len(lines) == 6
    # and the pair still works: a Quick Mode for a second bundle
    assert net.connect("west", "vpn")
    net.run()
    assert len(w.installed()) == len(e.installed()) == 2


def test_several_deletes_for_one_sa_are_handled_once(isakmpd_log):
    net, w, e, ws, es, wsa, esa = _pair()
    spi = ws.protos[0].spi_in
    d = info.delete_payload(ProtocolId.IPSEC_ESP, [spi, spi])
    data = info.build(wsa, 0x5151, [d, info.delete_payload(ProtocolId.IPSEC_ESP,
                                                           [spi]), d])
    net.inject(data, W, E)
    assert [type(ev) for ev in e.events] == [type(e.events[0]), RemoveSA]
    assert e.counts() == (1, 0)
    assert len(isakmpd_log.matching(f"peer {WEST_IP} deleted IPsec SA")) == 1
    # a second copy of the message finds nothing more to delete
    net.inject(data, W, E)
    assert len(e.removed()) == 1
    assert net.take() == []


def test_delete_with_bad_hash_is_ignored(isakmpd_log):
    net, w, e, ws, es, wsa, esa = _pair()
    d = info.delete_payload(ProtocolId.IPSEC_ESP, [ws.protos[0].spi_in])
    mid = 0x7777
    bad = encode_protected(wsa, ExchangeType.INFO, mid, [_core.Hash(b"\0" * 20), d])
    wsa.cipher.forget(mid)
    net.inject(bad, W, E)
    assert e.counts() == (1, 1) and e.removed() == []
    assert isakmpd_log.matching(
        f"informational message from {WEST_IP} with a bad HASH dropped")
    # a HASH over other contents is as bad
    other = info.delete_payload(ProtocolId.IPSEC_ESP, [b"\0\0\1\1"])
    h = wsa.keys.prf_a(mid.to_bytes(4, "big") + _core.encode_payloads([other]))
    bad2 = encode_protected(wsa, ExchangeType.INFO, mid, [_core.Hash(h), d])
    wsa.cipher.forget(mid)
    net.inject(bad2, W, E)
    assert e.counts() == (1, 1) and e.removed() == []
    # the genuine DELETE under the same message ID still works after them
    good = info.build(wsa, mid, [d])
    net.inject(good, W, E)
    assert e.counts() == (1, 0) and len(e.removed()) == 1


def test_protected_error_notify_does_not_delete(isakmpd_log):
    net, w, e, ws, es, wsa, esa = _pair()
    n = info.notify_payload(NotifyType.INVALID_SPI, ProtocolId.IPSEC_ESP,
                            ws.protos[0].spi_in)
    net.inject(info.build(wsa, 0x4242, [n]), W, E)
    assert e.counts() == (1, 1) and e.removed() == []
    assert isakmpd_log.matching(f"notification INVALID_SPI (protocol IPSEC_ESP, SPI "
                                f"{ws.protos[0].spi_in.hex()}) from {WEST_IP}")


def test_delete_names_only_the_peers_sas():
    """A protected DELETE from one peer for an SPI of another peer's SA is
    not acted on."""
    net, w, e, ws, es, wsa, esa = _pair()
    # west forges (under its own, valid SA) a DELETE naming east's SA with a
    # third party: make east's SA look as if it belonged to someone else
    es.remote = ("198.51.100.9", 500)
    d = info.delete_payload(ProtocolId.IPSEC_ESP, [ws.protos[0].spi_in])
    net.inject(info.build(wsa, 0x99, [d]), W, E)
    assert e.counts() == (1, 1) and e.removed() == []


def test_informational_message_with_a_quick_mode_message_id_is_dropped():
    """A protected informational message that reuses the message ID of a
    Quick Mode in progress must not disturb that Quick Mode's IVs."""
    net, w, e = gateway_pair(start=False)
    net.start()
    while net.pending()[0].index != 8:  # up to Quick Mode message 3
        net.step()
    [qm3] = net.take()
    [wsa] = w.isakmp_sas()
    # encrypt under the IV east holds for that message ID: the chain through
    # Quick Mode messages 1 and 2
    mid = qm3.message_id
    wsa.cipher.forget(mid)
    for p in net.sent[6:8]:
        wsa.cipher.decrypt(mid, p.data[28:])
        wsa.cipher.commit(mid)
    note = info.notify_payload(NotifyType.INITIAL_CONTACT, ProtocolId.ISAKMP,
                               wsa.cookies)
    net.inject(info.build(wsa, qm3.message_id, [note]), qm3.src, qm3.dst)
    net.inject(qm3.data, qm3.src, qm3.dst)
    ws, es = established(net)
    assert es.protos[0].keymat_in == ws.protos[0].keymat_out
