"""Regression tests, one or more per class of hostile message, on the
sans-I/O engine: an established pair (west initiator, east responder), and
messages east gets from west's address. Protected ones carry a valid HASH
under the established ISAKMP SA (built as isakmpd-fuzz builds them), so
they reach the code that reads their payloads.

Classes covered elsewhere: unprotected DELETE/NOTIFY and several DELETEs for
one SA (test_engine_info.py), retransmissions after the exchange ended
(test_engine_retransmit.py), malformed certificates and DN IDs from a peer
(test_certs_malformed.py), header lengths and versions on the wire
(test_robustness_wire.py).
"""

from __future__ import annotations

import struct

import pytest
from enginepair import established, gateway_pair
from isakmpd import _core
from isakmpd.constants import ExchangeType, NotifyType, ProtocolId
from isakmpd.engine import InstallSA, RemoveSA
from isakmpd.exchange import info
from isakmpd.exchange.base import plaintext
from isakmpd.fuzzer.mutate import Chain, header, with_length
from isakmpd.fuzzer.peer import Peer

WEST, EAST = ("192.0.2.1", 500), ("192.0.2.2", 500)


@pytest.fixture(name="pair")
def pair_fixture():
    net, w, e = gateway_pair()
    ws, es = established(net)
    return net, w, e, ws, es


def _to_east(net, e, data: bytes) -> list:
    """``data`` to east from west; east's answers (undelivered) back."""
    e.engine.receive_datagram(data, EAST, WEST, net.now)
    return e.engine.datagrams_to_send()


def _protected(w, exchange: int, first: int, chain: bytes, mid: int = 0x4242) -> bytes:
    [wsa] = w.isakmp_sas()
    return Peer.protected(wsa, exchange, mid, first, chain)


def _unchanged(net, w, e, ws, es) -> None:
    """No kernel event on east, the SAs in place, and the pair still makes
    a new IPsec SA."""
    assert [type(ev) for ev in e.engine._events] == []
    assert e.ipsec_sas() == [es] and w.ipsec_sas() == [ws]
    assert e.counts()[0] >= 1 and any(sa.established for sa in e.isakmp_sas())
    assert net.connect("west", "vpn")
    net.run()
    assert len(e.installed()) == 2 and len(w.installed()) == 2


def _qm1_chain(net) -> list[list]:
    """The items of west's Quick Mode message 1 after its HASH."""
    p = next(p for p in net.sent if p.exchange_type == ExchangeType.QUICK_MODE)
    clear = plaintext(p.data)
    c = Chain.parse(clear[16], clear[28:])
    assert c.items[0][0] == 8  # HASH
    return c.items[1:]


def _chain(items: list[list]) -> tuple[int, bytes]:
    c = Chain([list(x) for x in items])
    return c.first, c.join()


# -- payloads out of order or missing for the exchange step -----------------
@pytest.mark.parametrize("change", ["no SA", "no nonce", "no IDs", "one ID",
                                    "two SAs", "two nonces"])
def test_quick_mode_1_with_payloads_missing_or_out_of_order(pair, change):
    net, w, e, ws, es = pair
    items = _qm1_chain(net)
    types = [t for t, _, _ in items]
    sa, nonce, ids = types.index(1), types.index(10), [i for i, t in enumerate(types)
                                                      if t == 5]
    if change == "no SA":
        items.pop(sa)
    elif change == "no nonce":
        items.pop(nonce)
    elif change == "no IDs":
        items = [x for x in items if x[0] != 5]
    elif change == "one ID":
        items.pop(ids[1])
    elif change == "two SAs":
        items.insert(sa, list(items[sa]))
    else:
        items.insert(nonce, list(items[nonce]))
    first, chain = _chain(items)
    out = _to_east(net, e, _protected(w, ExchangeType.QUICK_MODE, first, chain))
    # no Quick Mode message 2 (at most a protected NOTIFY), no SA
    assert all(_core.parse_header(d.data).exchange_type == ExchangeType.INFO
               for d in out)
    _unchanged(net, w, e, ws, es)


def test_order_after_the_hash_is_free(pair):
    """As in isakmpd, only HASH must come first: IDs before the SA are read."""
    net, w, e, ws, es = pair
    items = _qm1_chain(net)
    ids = [i for i, x in enumerate(items) if x[0] == 5]
    items.insert(0, items.pop(ids[0]))
    first, chain = _chain(items)
    out = _to_east(net, e, _protected(w, ExchangeType.QUICK_MODE, first, chain))
    assert [_core.parse_header(d.data).exchange_type for d in out] == [
        ExchangeType.QUICK_MODE]


def test_hash_not_first_is_dropped(pair):
    net, w, e, ws, es = pair
    items = _qm1_chain(net)
    first, chain = _chain(items)
    data = _protected(w, ExchangeType.QUICK_MODE, first, chain)
    # the same payloads, HASH moved behind the SA: re-encrypt in that order
    [wsa] = w.isakmp_sas()
    h = wsa.keys.prf_a((0x4343).to_bytes(4, "big") + chain)
    moved = Chain([list(items[0]), [8, h, None]] + [list(x) for x in items[1:]])
    body = moved.join()
    ct = wsa.cipher.encrypt(0x4343, body)
    wsa.cipher.forget(0x4343)
    msg = with_length(header(data[:28], next_payload=moved.first, mid=0x4343) + ct)
    assert _to_east(net, e, msg) == []
    _unchanged(net, w, e, ws, es)


def test_main_mode_message_1_without_sa_is_dropped(pair):
    net, w, e, ws, es = pair
    mm1 = net.sent[0].data
    c = Chain.parse(mm1[16], mm1[28:])
    c.items = [x for x in c.items if x[0] != 1]
    data = with_length(header(b"\x11" * 8 + mm1[8:28], next_payload=c.first)
                       + c.join())
    for d in _to_east(net, e, data):  # a NOTIFY at most, never message 2
        assert [type(p) for p in _core.parse_message(d.data)[1]] == [_core.Notify]
    assert e.counts() == (1, 1)


# -- DELETE whose SPI count or size disagrees with its length -----------------
@pytest.mark.parametrize("spi_size,count,spis", [
    (4, 2, 4), (4, 1, 8), (4, 0, 4), (16, 1, 4), (3, 1, 4), (0, 1, 4),
    (4, 0xFFFF, 4), (255, 1, 4)])
def test_delete_with_inconsistent_spi_count_or_size(pair, spi_size, count, spis):
    net, w, e, ws, es = pair
    spi = ws.protos[0].spi_in
    body = struct.pack("!IBBH", 1, ProtocolId.IPSEC_ESP, spi_size, count)
    body += (spi * 4)[:spis]
    first, chain = _chain([[12, body, None]])
    out = _to_east(net, e, _protected(w, ExchangeType.INFO, first, chain))
    assert out == []
    _unchanged(net, w, e, ws, es)


# -- header length different from the datagram, or absurdly large -----------
@pytest.mark.parametrize("length", [0, 27, 28, -1, +1, +4096, 0x7FFFFFFF,
                                    0xFFFFFFFF])
def test_header_length_not_the_datagrams(pair, length):
    net, w, e, ws, es = pair
    first, chain = _chain(_qm1_chain(net))
    data = _protected(w, ExchangeType.QUICK_MODE, first, chain)
    n = len(data) + length if length in (-1, 1, 4096) else length
    assert _to_east(net, e, header(data, length=n)) == []
    mm1 = header(b"\x12" * 8 + net.sent[0].data[8:], length=n)
    assert _to_east(net, e, mm1) == []
    assert e.engine.stats["dropped"] >= 2
    _unchanged(net, w, e, ws, es)


# -- payload length below its minimum -----------------------------------------
#: (payload type, the smallest body its parser takes)
MINIMUM = [(1, 8), (4, 1), (5, 4), (6, 1), (7, 1), (8, 1), (10, 1), (11, 8),
           (12, 8), (20, 1)]


@pytest.mark.parametrize("ptype,minimum", MINIMUM)
def test_payload_length_below_minimum(pair, ptype, minimum):
    net, w, e, ws, es = pair
    for short in range(minimum):
        for declared in (short + 4, 0, 3):
            first, chain = _chain([[ptype, bytes(short), declared]])
            data = _protected(w, ExchangeType.INFO, first, chain)
            assert _to_east(net, e, data) == []
    _unchanged(net, w, e, ws, es)


# -- unknown or wrong major version -------------------------------------------
@pytest.mark.parametrize("version", [0x00, 0x01, 0x20, 0x2F, 0x30, 0xF0, 0xFF])
def test_wrong_major_version(pair, version):
    net, w, e, ws, es = pair
    first, chain = _chain([[12, struct.pack("!IBBH", 1, 3, 4, 1)
                            + ws.protos[0].spi_in, None]])
    data = header(_protected(w, ExchangeType.INFO, first, chain), version=version)
    assert _to_east(net, e, data) == []
    mm1 = header(b"\x13" * 8 + net.sent[0].data[8:], version=version)
    assert _to_east(net, e, mm1) == []
    assert e.counts() == (1, 1)
    _unchanged(net, w, e, ws, es)


def test_unprotected_delete_of_a_real_spi_does_nothing(pair):
    net, w, e, ws, es = pair
    [wsa] = w.isakmp_sas()
    d = _core.encode_payloads([info.delete_payload(ProtocolId.IPSEC_ESP,
                                                   [ws.protos[0].spi_in])])
    data = with_length(header(wsa.icookie + wsa.rcookie + bytes(12), next_payload=12,
                              version=0x10, exchange=ExchangeType.INFO) + d)
    assert _to_east(net, e, data) == []
    _unchanged(net, w, e, ws, es)


# -- several DELETE/NOTIFY for the same SA in one message ---------------------
def test_several_notifies_for_one_sa_in_one_message(pair):
    net, w, e, ws, es = pair
    [wsa] = w.isakmp_sas()
    n_err = info.notify_payload(NotifyType.INVALID_SPI, ProtocolId.IPSEC_ESP,
                                ws.protos[0].spi_in)
    n_dpd = info.notify_payload(NotifyType.R_U_THERE, ProtocolId.ISAKMP, wsa.cookies,
                                struct.pack("!I", 9))
    chain = _core.encode_payloads([n_err, n_err, n_err, n_dpd, n_dpd])
    out = _to_east(net, e, _protected(w, ExchangeType.INFO, 11, chain))
    # the error NOTIFYs are logged, nothing more; each R-U-THERE gets its
    # ACK (a peer may repeat one), and nothing else is sent
    assert len(out) <= 2
    _unchanged(net, w, e, ws, es)


def test_delete_and_notify_for_one_sa_in_one_message_act_once(pair):
    net, w, e, ws, es = pair
    spi = ws.protos[0].spi_in
    d = info.delete_payload(ProtocolId.IPSEC_ESP, [spi, spi])
    chain = _core.encode_payloads([d, d, info.notify_payload(
        NotifyType.INVALID_SPI, ProtocolId.IPSEC_ESP, spi)])
    _to_east(net, e, _protected(w, ExchangeType.INFO, 12, chain))
    assert [type(ev) for ev in e.engine._events] == [RemoveSA]
    assert e.counts() == (1, 0)


# -- invalid KEY_LENGTH and attribute values; unsupported combinations --------
def _attr_changed(msg: bytes, attr: int, value: int) -> bytes:
    """Every TV attribute ``attr`` of a message set to ``value``."""
    key = bytes([0x80, attr])
    out = bytearray(msg)
    i = out.find(key, 28)
    assert i > 0
    while i > 0:
        out[i + 2:i + 4] = value.to_bytes(2, "big")
        i = out.find(key, i + 4)
    return bytes(out)


@pytest.mark.parametrize("attr,value", [
    (14, 0), (14, 7), (14, 129), (14, 0xFFFF),  # KEY_LENGTH
    (1, 0), (1, 99), (2, 0), (2, 77), (3, 0), (3, 0xFFFF), (4, 0), (4, 999),
    (11, 0), (11, 3)])  # cipher, hash, auth method, group, life type
def test_phase1_invalid_attribute_values_do_not_match(pair, attr, value):
    net, w, e, ws, es = pair
    mm1 = net.sent[0].data
    try:
        bad = _attr_changed(b"\x14" * 8 + mm1[8:], attr, value)
    except AssertionError:
        pytest.skip(f"attribute {attr} not in our message 1")
    out = _to_east(net, e, bad)
    for d in out:  # at most NO-PROPOSAL-CHOSEN, never message 2
        _, ps = _core.parse_message(d.data)
        assert [type(p) for p in ps] == [_core.Notify]
    assert e.counts() == (1, 1)
    _unchanged(net, w, e, ws, es)


@pytest.mark.parametrize("attr,value", [
    (6, 0), (6, 7), (6, 0xFFFF),  # KEY_LENGTH
    (5, 0), (5, 99),  # authentication algorithm
    (4, 0), (4, 9),  # encapsulation mode
    (3, 0), (3, 999)])  # group
def test_phase2_invalid_attribute_values_do_not_match(pair, attr, value):
    net, w, e, ws, es = pair
    items = _qm1_chain(net)
    sa = next(x for x in items if x[0] == 1)
    body = bytearray(sa[1])
    key = bytes([0x80, attr])
    i = body.find(key, 8)
    if i < 0:
        pytest.skip(f"attribute {attr} not in our Quick Mode")
    body[i + 2:i + 4] = value.to_bytes(2, "big")
    sa[1] = bytes(body)
    first, chain = _chain(items)
    out = _to_east(net, e, _protected(w, ExchangeType.QUICK_MODE, first, chain))
    assert all(_core.parse_header(d.data).exchange_type == ExchangeType.INFO
               for d in out)
    _unchanged(net, w, e, ws, es)


@pytest.mark.parametrize("transform_id", [0, 1, 2, 13, 200])
def test_unsupported_esp_transform_simply_does_not_match(pair, transform_id):
    """ESP with a transform we do not do (DES_IV64, DES, NULL without
    authentication...): no match, no SA, no error beyond the refusal."""
    net, w, e, ws, es = pair
    items = _qm1_chain(net)
    sa = next(x for x in items if x[0] == 1)
    body = bytearray(sa[1])
    spi_size = body[14]
    body[16 + spi_size + 5] = transform_id  # the first transform's ID
    sa[1] = bytes(body)
    first, chain = _chain(items)
    _to_east(net, e, _protected(w, ExchangeType.QUICK_MODE, first, chain))
    assert not any(isinstance(ev, InstallSA) for ev in e.engine._events)
    _unchanged(net, w, e, ws, es)


# -- malformed ID payloads in Quick Mode --------------------------------------
@pytest.mark.parametrize("id_body", [
    b"", b"\x04", b"\x04\x00\x00\x00", b"\x04\x00\x00\x00\x0a\x01",  # short
    b"\x04\x00\x00\x00\x0a\x01\x00\x00\xff\x00\xff\x00",  # mask not contiguous
    b"\x63\x00\x00\x00\x0a\x01\x00\x00",  # type 99
    b"\x07\x00\x00\x00\x0a\x01\x00\x09\x0a\x01\x00\x01",  # range backwards
    b"\x05\x00\x00\x00" + bytes(8),  # IPv6 subnet of 8 bytes
    b"\x01\x00\x00\x00" + bytes(40)])  # IPv4 address of 40 bytes
def test_malformed_quick_mode_id(pair, id_body):
    net, w, e, ws, es = pair
    items = _qm1_chain(net)
    idx = [i for i, x in enumerate(items) if x[0] == 5]
    items[idx[0]][1] = id_body
    items[idx[0]][2] = None
    first, chain = _chain(items)
    out = _to_east(net, e, _protected(w, ExchangeType.QUICK_MODE, first, chain))
    assert all(_core.parse_header(d.data).exchange_type == ExchangeType.INFO
               for d in out)
    _unchanged(net, w, e, ws, es)
