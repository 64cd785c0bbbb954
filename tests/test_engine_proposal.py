"""Proposal selection between engines: order, several proposals and
transforms, no overlap, lifetimes, key lengths and unknown attributes."""

from __future__ import annotations

import pytest
from enginepair import (
    EAST_IP,
    WEST_IP,
    established,
    gateway_pair,
    isakmpd_log_fixture,  # noqa: F401
    open_protected,
)
from isakmpd import _core
from isakmpd.conf import model
from isakmpd.conf.store import Conf
from isakmpd.constants import Doi, ExchangeType, NotifyType, ProtocolId
from isakmpd.engine import ReleaseSPI
from isakmpd.exchange import proposal

HOUSEKEEPING = ("connection_checker",)


def _qm(net, n: int):
    return [p for p in net.sent if p.exchange_type == ExchangeType.QUICK_MODE][n]


def _left_behind(node) -> list[str]:
    return [t for t in node.timer_names() if not t.startswith(HOUSEKEEPING)]


# ------------------------------------------------------------ choosing

def test_phase1_responder_takes_the_third_offered_transform():
    net, w, e = gateway_pair(
        west={"transforms": "3DES-MD5-GRP2,AES-128-SHA-GRP5,AES-256-SHA2-256-GRP14"},
        east={"transforms": "AES-256-SHA2-256-GRP14"})
    established(net)
    [sa1] = [x for x in net.sent[0].payloads() if isinstance(x, _core.SA)]
    assert [t.number for t in sa1.proposals[0].transforms] == [1, 2, 3]
    [sa2] = [x for x in net.sent[1].payloads() if isinstance(x, _core.SA)]
    [prop] = sa2.proposals
    [xf] = prop.transforms
    assert (prop.number, xf.number) == (1, 3)
    assert xf.attributes == sa1.proposals[0].transforms[2].attributes
    for node in (w, e):
        assert node.isakmp_sas()[0].params.transform_name == "AES-256-SHA2-256-GRP14"


def test_phase1_peer_order_wins_over_responder_order():
    net, w, e = gateway_pair(
        west={"transforms": "3DES-SHA-GRP2,AES-128-SHA-GRP14"},
        east={"transforms": "AES-128-SHA-GRP14,3DES-SHA-GRP2"})
    established(net)
    assert e.isakmp_sas()[0].params.transform_name == "3DES-SHA-GRP2"


def _ike_xf(number: int, name: str) -> _core.Transform:
    spec = model.ike_transform(Conf.from_text("", "x"), name)
    return proposal.ike_transform(number, spec)


def test_phase1_first_acceptable_of_several_proposals():
    """A (hand-made) message 1 with two proposals: the first has nothing
    east takes, the second's second transform is the first east takes."""
    net, w, e = gateway_pair(start=False, east={"transforms": "AES-128-SHA-GRP14"})
    props = [
        _core.Proposal(1, ProtocolId.ISAKMP, b"", [_ike_xf(1, "3DES-MD5-GRP2"),
                                                    _ike_xf(2, "BLF-SHA-GRP5")]),
        _core.Proposal(2, ProtocolId.ISAKMP, b"", [_ike_xf(1, "CAST-MD5-GRP2"),
                                                    _ike_xf(2, "AES-128-SHA-GRP14"),
                                                    _ike_xf(3, "AES-128-SHA-GRP14")]),
    ]
    sa = _core.SA(Doi.IPSEC, proposal.IPSEC_SITUATION, props)
    hdr = _core.Header(b"\x11" * 8, exchange_type=ExchangeType.ID_PROT)
    net.inject(_core.encode_message(hdr, [sa]), (WEST_IP, 500), (EAST_IP, 500))
    [reply] = net.take()
    assert reply.sender == "east" and reply.dst == (WEST_IP, 500)
    [rsa] = [x for x in reply.payloads() if isinstance(x, _core.SA)]
    [prop] = rsa.proposals
    assert prop.number == 2 and [t.number for t in prop.transforms] == [2]
    assert e.isakmp_sas()[0].params.transform_name == "AES-128-SHA-GRP14"


def test_phase2_first_acceptable_proposal_in_peer_order():
    net, w, e = gateway_pair(
        west={"suites": "QM-ESP-3DES-MD5-SUITE,QM-ESP-AES-SHA-SUITE,"
                        "QM-ESP-AES-256-SHA2-256-SUITE"},
        east={"suites": "QM-ESP-AES-256-SHA2-256-SUITE,QM-ESP-AES-SHA-SUITE"})
    ws, es = established(net)
    assert ws.suite_name == "QM-ESP-AES-SHA-SUITE"
    assert es.suite_name == "QM-ESP-AES-SHA-SUITE"
    [wsa] = w.isakmp_sas()
    _, q1 = open_protected(wsa, _qm(net, 0).data)
    [offer] = [p for p in q1 if isinstance(p, _core.SA)]
    assert [p.number for p in offer.proposals] == [1, 2, 3]
    _, q2 = open_protected(wsa, _qm(net, 1).data, _qm(net, 0).data)
    [answer] = [p for p in q2 if isinstance(p, _core.SA)]
    [prop] = answer.proposals
    assert prop.number == 2 and len(prop.transforms) == 1
    assert prop.spi == es.protos[0].spi_in


def test_phase2_third_transform_of_one_proposal():
    extra = """
[MULTI-SUITE]
Protocols= MULTI-ESP

[MULTI-ESP]
PROTOCOL_ID= IPSEC_ESP
Transforms= QM-ESP-3DES-MD5-XF, QM-ESP-AES-SHA-XF, QM-ESP-AES-256-SHA2-256-XF
"""
    net, w, e = gateway_pair(west={"suites": "MULTI-SUITE", "extra": extra},
                             east={"suites": "QM-ESP-AES-256-SHA2-256-SUITE"})
    ws, es = established(net)
    assert ws.protos[0].key_bits == es.protos[0].key_bits == 256
    [wsa] = w.isakmp_sas()
    _, q2 = open_protected(wsa, _qm(net, 1).data, _qm(net, 0).data)
    [answer] = [p for p in q2 if isinstance(p, _core.SA)]
    assert [t.number for t in answer.proposals[0].transforms] == [3]


# ------------------------------------------------------------ no overlap

def _assert_clean(net, *nodes) -> None:
    net.advance(400)
    for n in nodes:
        assert n.counts() == (0, 0), n.name
        assert n.installed() == []
        assert not n.engine.connecting
        assert _left_behind(n) == [], n.name


def test_phase1_no_overlap(isakmpd_log):
    net, w, e = gateway_pair(west={"transforms": "AES-128-SHA-GRP14"},
                             east={"transforms": "3DES-MD5-GRP2,AES-256-SHA-GRP14"})
    assert len(net.sent) == 2
    notify = net.sent[1]
    assert notify.sender == "east"
    assert notify.exchange_type == ExchangeType.INFO and not notify.encrypted
    hdr = notify.header
    assert hdr.icookie == _core.parse_header(net.sent[0].data).icookie
    assert hdr.message_id == 0
    [n] = notify.payloads()
    assert isinstance(n, _core.Notify)
    assert (n.notify_type, n.protocol_id) == (NotifyType.NO_PROPOSAL_CHOSEN,
                                              ProtocolId.ISAKMP)
    assert n.spi == hdr.icookie + hdr.rcookie
    assert w.counts() == e.counts() == (0, 0)
    fails = isakmpd_log.matching("failed")
    assert fails == [
        f"Main Mode with {WEST_IP} failed: no acceptable phase 1 proposal; the peer "
        "offered AES_CBC-128/SHA/PRE_SHARED/MODP_2048",
        f"Main Mode with {EAST_IP} failed: peer answered with NO_PROPOSAL_CHOSEN "
        f"(protocol ISAKMP, SPI {n.spi.hex()})"]
    _assert_clean(net, w, e)
    assert len(net.sent) == 2  # nothing retransmitted afterwards
    assert isakmpd_log.matching("failed") == fails


def test_phase2_no_overlap(isakmpd_log):
    net, w, e = gateway_pair(west={"suites": "QM-ESP-AES-SHA-PFS-SUITE"},
                             east={"suites": "QM-ESP-3DES-MD5-PFS-SUITE"})
    qm = [p for p in net.sent if p.exchange_type == ExchangeType.QUICK_MODE]
    assert len(qm) == 1
    [info] = [p for p in net.sent if p.exchange_type == ExchangeType.INFO]
    assert info.sender == "east" and info.encrypted
    [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
    _, payloads = open_protected(wsa, info.data)
    assert isinstance(payloads[0], _core.Hash)
    [n] = payloads[1:]
    assert n.notify_type == NotifyType.NO_PROPOSAL_CHOSEN
    # the notification names the proposal west made, so west can tell
    assert n.protocol_id == ProtocolId.IPSEC_ESP
    assert int.from_bytes(n.spi, "big") == w.spis[0]
    fails = isakmpd_log.matching("failed")
    assert fails == [
        f"Quick Mode with {WEST_IP} failed: no acceptable phase 2 proposal; the peer "
        "offered #1 ESP AES-128/HMAC_SHA/MODP_1024/TUNNEL/1200s",
        f"Quick Mode with {EAST_IP} failed: peer answered with NO_PROPOSAL_CHOSEN "
        f"(protocol IPSEC_ESP, SPI {n.spi.hex()})"]
    # west gives its SPI back; phase 1 stays
    assert [type(ev) for ev in w.events] == [ReleaseSPI]
    assert w.events[0].spi == n.spi
    assert wsa.established and esa.established
    assert w.counts() == e.counts() == (1, 0)
    net.advance(400)
    assert len([p for p in net.sent if p.exchange_type == 32]) == 1
    assert isakmpd_log.matching("failed") == fails
    # both failed exchanges are gone once their linger time is over
    assert wsa.exchanges == {} and esa.exchanges == {}


# ------------------------------------------------------------ lifetimes

_LONG_P1 = """
[AES-LIFE]
ENCRYPTION_ALGORITHM= AES_CBC
KEY_LENGTH= 128
HASH_ALGORITHM= SHA
AUTHENTICATION_METHOD= PRE_SHARED
GROUP_DESCRIPTION= MODP_2048
Life= LIFE-X

[LIFE-X]
LIFE_TYPE= SECONDS
LIFE_DURATION= {secs}
"""


@pytest.mark.parametrize("secs,ok", [(100000, False), (59, False), (7200, True)])
def test_phase1_lifetime_range(secs, ok):
    net, w, e = gateway_pair(west={"transforms": "AES-LIFE",
                                   "extra": _LONG_P1.format(secs=secs)},
                             east={"transforms": "AES-128-SHA-GRP14"})
    if ok:
        established(net)
        assert e.isakmp_sas()[0].params.life_seconds == secs
        assert w.isakmp_sas()[0].params.life_seconds == secs
        assert e.isakmp_sas()[0].expires_at == net.now + secs
    else:
        [n] = net.sent[1].payloads()
        assert n.notify_type == NotifyType.NO_PROPOSAL_CHOSEN
        assert w.counts() == e.counts() == (0, 0)


_LIFE_P2 = """
[LIFE-SUITE]
Protocols= LIFE-ESP

[LIFE-ESP]
PROTOCOL_ID= IPSEC_ESP
Transforms= LIFE-XF

[LIFE-XF]
TRANSFORM_ID= AES
KEY_LENGTH= 128
ENCAPSULATION_MODE= TUNNEL
AUTHENTICATION_ALGORITHM= HMAC_SHA
Life= LIFE-Y

[LIFE-Y]
LIFE_TYPE= SECONDS
LIFE_DURATION= {secs}
"""


# above the responder's 86400 s: taken, cut with RESPONDER-LIFETIME
@pytest.mark.parametrize("secs,want", [(90000, 86400), (30, 0), (3000, 3000)])
def test_phase2_lifetime_range(secs, want):
    net, w, e = gateway_pair(west={"suites": "LIFE-SUITE",
                                   "extra": _LIFE_P2.format(secs=secs)},
                             east={"suites": "QM-ESP-AES-128-SHA-SUITE"})
    if want:
        ws, es = established(net)
        assert ws.life_seconds == es.life_seconds == want
        assert any(t == "ipsec_sa_expire(vpn)" for t in e.timer_names())
    else:
        assert w.installed() == e.installed() == []
        assert w.counts() == e.counts() == (1, 0)


# ------------------------------------------------------------ key lengths

@pytest.mark.parametrize("east_xf,ok", [("AES-128-SHA-GRP14", False),
                                        ("AES-192-SHA-GRP14", False),
                                        ("AES-SHA-GRP14", True)])
def test_phase1_key_length_range(east_xf, ok):
    net, w, e = gateway_pair(west={"transforms": "AES-256-SHA-GRP14"},
                             east={"transforms": east_xf})
    if ok:
        established(net)
        assert e.isakmp_sas()[0].params.key_len == 32
    else:
        [n] = net.sent[1].payloads()
        assert n.notify_type == NotifyType.NO_PROPOSAL_CHOSEN


@pytest.mark.parametrize("east_suite,ok", [("QM-ESP-AES-128-SHA-SUITE", False),
                                           ("QM-ESP-AES-SHA-SUITE", True)])
def test_phase2_key_length_range(east_suite, ok):
    net, w, e = gateway_pair(west={"suites": "QM-ESP-AES-256-SHA-SUITE"},
                             east={"suites": east_suite})
    if ok:
        ws, es = established(net)
        assert ws.protos[0].key_bits == es.protos[0].key_bits == 256
        assert len(ws.protos[0].keymat_in) == 32 + 20
    else:
        assert w.installed() == e.installed() == []


# ------------------------------------------------------------ unknown attributes

def test_phase1_unknown_attribute_skips_that_transform(monkeypatch):
    real = proposal.ike_transform

    def with_unknown(number, spec):
        xf = real(number, spec)
        if number == 1:
            xf = _core.Transform(xf.number, xf.transform_id,
                                 list(xf.attributes) + [_core.Attribute(16000, 1)])
        return xf

    monkeypatch.setattr(proposal, "ike_transform", with_unknown)
    net, w, e = gateway_pair(
        west={"transforms": "AES-128-SHA-GRP14,AES-256-SHA-GRP14"},
        east={"transforms": "AES-128-SHA-GRP14,AES-256-SHA-GRP14"})
    established(net)
    [sa1] = [x for x in net.sent[0].payloads() if isinstance(x, _core.SA)]
    assert 16000 in [a.type for a in sa1.proposals[0].transforms[0].attributes]
    [sa2] = [x for x in net.sent[1].payloads() if isinstance(x, _core.SA)]
    assert [t.number for t in sa2.proposals[0].transforms] == [2]
    assert e.isakmp_sas()[0].params.transform_name == "AES-256-SHA-GRP14"


def test_phase2_unknown_attribute_skips_that_transform(monkeypatch):
    real = proposal.ipsec_transform

    def with_unknown(number, spec, natt, protocol_id):
        xf = real(number, spec, natt, protocol_id)
        if number == 1:
            xf = _core.Transform(xf.number, xf.transform_id,
                                 list(xf.attributes) + [_core.Attribute(16000, 7)])
        return xf

    monkeypatch.setattr(proposal, "ipsec_transform", with_unknown)
    extra = """
[TWO-SUITE]
Protocols= TWO-ESP

[TWO-ESP]
PROTOCOL_ID= IPSEC_ESP
Transforms= QM-ESP-AES-128-SHA-XF, QM-ESP-AES-256-SHA-XF
"""
    net, w, e = gateway_pair(west={"suites": "TWO-SUITE", "extra": extra},
                             east={"suites": "QM-ESP-AES-128-SHA-SUITE,"
                                             "QM-ESP-AES-256-SHA-SUITE"})
    ws, es = established(net)
    assert ws.protos[0].key_bits == es.protos[0].key_bits == 256
