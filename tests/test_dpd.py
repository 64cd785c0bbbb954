"""Dead peer detection (RFC 3706) between engines: the vendor ID, R-U-THERE
and its ACK on the wire, a dead peer found after five unanswered probes
and its connection started again, sequence numbers checked both ways, no
probes toward a peer that did not announce DPD."""

from __future__ import annotations

import logging

import pytest
from enginepair import (
    EAST_IP,
    WEST_IP,
    Network,
    Packet,
    established,
    gateway_pair,
    is_info,
    isakmpd_log_fixture,  # noqa: F401
    open_protected,
)
from isakmpd import _core
from isakmpd.constants import VID_DPD, ExchangeType, NotifyType, ProtocolId
from isakmpd.engine import InstallSA, RemoveSA
from isakmpd.exchange import dpd, info

INTERVAL = 10
DPD = f"DPD-check-interval= {INTERVAL}"


def _pair(west_general: str = DPD, east_general: str = "", **kw):
    net, w, e = gateway_pair(west={"general": west_general, **kw.pop("west", {})},
                             east={"general": east_general, **kw.pop("east", {})},
                             **kw)
    established(net)
    [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
    return net, w, e, wsa, esa


def _dpd_notifies(net: Network, sa, sender: str, start: int = 0
                  ) -> list[tuple[float, _core.Notify]]:
    """(time sent, notification) of every DPD message ``sender`` sent."""
    out = []
    for p in net.sent[start:]:
        if p.sender != sender or not is_info(p):
            continue
        _, payloads = open_protected(sa, p.data)
        assert isinstance(payloads[0], _core.Hash)
        for n in payloads[1:]:
            if isinstance(n, _core.Notify) and dpd.is_dpd(n):
                out.append((p.at, n))
    return out


def _seq(n: _core.Notify) -> int:
    return int.from_bytes(n.data, "big")


# ------------------------------------------------------------ announcing

def test_both_ends_announce_dpd_in_phase_1():
    net, w, e, wsa, esa = _pair(west_general="", east_general="")
    mm = [p for p in net.sent if p.exchange_type == ExchangeType.ID_PROT]
    for p in mm[:2]:
        vids = [x.data for x in p.payloads() if isinstance(x, _core.VendorID)]
        assert vids.count(bytes.fromhex("afcad71368a1f1c96b8696fc77570100")) == 1
    assert wsa.peer_dpd and esa.peer_dpd


def test_announced_needs_rfc_3706_version_1():
    assert dpd.announced([VID_DPD])
    assert not dpd.announced([VID_DPD[:14] + b"\x02\x00"])  # another major version
    assert not dpd.announced([VID_DPD[:14]])
    assert not dpd.announced([])


# ------------------------------------------------------------ a live peer

def test_quiet_peer_is_probed_and_answers(isakmpd_log):
    net, w, e, wsa, esa = _pair()
    start = len(net.sent)
    t0 = net.now
    net.advance(INTERVAL - 1)
    assert _dpd_notifies(net, wsa, "west", start) == []
    net.advance(1)
    [(at, ask)] = _dpd_notifies(net, wsa, "west", start)
    assert at == t0 + INTERVAL
    assert (ask.notify_type, ask.protocol_id) == (NotifyType.R_U_THERE,
                                                  ProtocolId.ISAKMP)
    assert ask.spi == wsa.cookies and len(ask.data) == 4
    [(_, ack)] = _dpd_notifies(net, esa, "east", start)
    assert (ack.notify_type, ack.spi, ack.data) == (NotifyType.R_U_THERE_ACK,
                                                    esa.cookies, ask.data)
    # the next probe another interval on, with the next sequence number
    net.advance(INTERVAL)
    asks = [n for _, n in _dpd_notifies(net, wsa, "west", start)]
    assert [_seq(n) for n in asks] == [_seq(ask), _seq(ask) + 1]
    # east, with DPD-check-interval 0, answers but never asks
    assert all(n.notify_type == NotifyType.R_U_THERE_ACK
               for _, n in _dpd_notifies(net, esa, "east", start))
    assert not any(isinstance(ev, RemoveSA) for ev in w.events + e.events)
    assert w.counts() == e.counts() == (1, 1)
    assert isakmpd_log.messages(logging.WARNING) == []


def test_sequence_numbers_start_at_random():
    firsts = set()
    for seed in (1, 5, 9):
        net, w, e, wsa, esa = _pair(seed=seed)
        start = len(net.sent)
        net.advance(INTERVAL)
        [(_, ask)] = _dpd_notifies(net, wsa, "west", start)
        firsts.add(_seq(ask))
    assert len(firsts) == 3
    assert all(0 < s < 1 << 31 for s in firsts)


def test_other_traffic_counts_as_alive():
    net, w, e, wsa, esa = _pair()
    start, t0 = len(net.sent), net.now
    net.advance(INTERVAL - 2)
    net.connect("west", "vpn")  # a Quick Mode: east speaks
    net.run()
    net.advance(2)
    assert _dpd_notifies(net, wsa, "west", start) == []
    net.advance(INTERVAL)
    # an interval after east last spoke
    [(at, _)] = _dpd_notifies(net, wsa, "west", start)
    assert at == t0 + 2 * INTERVAL - 2


# ------------------------------------------------------------ a dead peer

def test_dead_peer_is_found_and_the_connection_restarted(isakmpd_log):
    net, w, e, wsa, esa = _pair()
    [ws] = w.ipsec_sas()
    t0 = net.now
    start = len(net.sent)
    down = net.drop_all(lambda p: True)  # east is gone
    net.advance(INTERVAL + 4 * dpd.RETRY_WAIT)
    asks = _dpd_notifies(net, wsa, "west", start)
    assert [at - t0 for at, _ in asks] == [10, 15, 20, 25, 30]
    assert [_seq(n) for _, n in asks] == [_seq(asks[0][1]) + i for i in range(5)]
    assert w.counts() == (1, 1)  # not yet
    net.advance(dpd.RETRY_WAIT)
    # dead: the IPsec SA leaves the kernel, no DELETE goes out
    removed = [ev.sa for ev in w.events if isinstance(ev, RemoveSA)]
    assert removed == [ws]
    assert wsa.state == "dead" and ws.state == "dead"
    lines = isakmpd_log.matching("is dead", logging.WARNING)
    assert len(lines) == 1 and EAST_IP in lines[0] and "5 R-U-THERE" in lines[0]
    after = [p for p in net.sent[start:] if p.sender == "west" and p.at >= t0 + 35]
    assert all(p.exchange_type != ExchangeType.INFO for p in after)
    # the active connection started again at once: Main Mode message 1
    assert [p.exchange_type for p in after][:1] == [ExchangeType.ID_PROT]
    assert after[0].header.rcookie == bytes(8)
    # east comes back: the tunnel returns, with new SPIs
    net.rules.remove(down)
    e.engine.shutdown(net.now)  # east rebooted: it forgot everything
    e.engine.shutting_down = False
    e.events.clear()
    net.take()
    net.settle(60)
    installed = [ev.sa for ev in w.events if isinstance(ev, InstallSA)]
    assert len(installed) == 2 and installed[1].state == "installed"
    assert installed[1].protos[0].spi_in != ws.protos[0].spi_in
    assert [s.state for s in w.ipsec_sas()] == ["installed"]


def test_ack_with_a_wrong_sequence_number_is_ignored(isakmpd_log):
    net, w, e, wsa, esa = _pair()
    forged: list[int] = []

    def wrong_ack(p: Packet) -> list[Packet] | None:
        if p.sender != "east" or not is_info(p):
            return None
        _, payloads = open_protected(esa, p.data)
        [ack] = payloads[1:]
        seq = _seq(ack) + 7
        forged.append(seq)
        n = info.notify_payload(NotifyType.R_U_THERE_ACK, ProtocolId.ISAKMP,
                                esa.cookies, seq.to_bytes(4, "big"))
        data = info.build(esa, e.rand.nonzero_u32(), [n])
        return [Packet(data, p.src, p.dst, p.index, p.sender, p.at)]

    net.add_rule(wrong_ack)
    net.advance(INTERVAL + 5 * dpd.RETRY_WAIT)
    assert len(forged) == 5
    lines = isakmpd_log.matching("R-U-THERE-ACK", logging.WARNING)
    assert len(lines) == 5 and all("expected" in m for m in lines)
    assert wsa.state == "dead"
    assert any(isinstance(ev, RemoveSA) for ev in w.events)


def test_late_ack_of_an_earlier_probe_still_counts(isakmpd_log):
    net, w, e, wsa, esa = _pair()
    net.hold(lambda p: p.sender == "east" and is_info(p), times=2)
    net.advance(INTERVAL + dpd.RETRY_WAIT)  # two R-U-THERE, both ACKs held
    assert len(wsa.dpd.outstanding) == 2
    net.release()
    net.run()
    assert wsa.state == "established" and not wsa.dpd.outstanding
    # the second ACK came after the first had ended the probe: no fuss
    assert isakmpd_log.messages(logging.WARNING) == []


# ------------------------------------------------------------ the answering side

def _inject_r_u_there(net: Network, wsa, seq: int) -> list[Packet]:
    n = info.notify_payload(NotifyType.R_U_THERE, ProtocolId.ISAKMP, wsa.cookies,
                            seq.to_bytes(4, "big"))
    data = info.build(wsa, net["west"].rand.nonzero_u32(), [n])
    before = len(net.sent)
    net.inject(data, wsa.local, wsa.remote)
    net.take()  # east's answer, if any, is not delivered
    return net.sent[before:]


def test_peer_sequence_numbers_must_not_go_back(isakmpd_log):
    net, w, e, wsa, esa = _pair(west_general="")
    [ack] = _inject_r_u_there(net, wsa, 1000)
    _, payloads = open_protected(wsa, ack.data)
    assert (payloads[1].notify_type, _seq(payloads[1])) == (
        NotifyType.R_U_THERE_ACK, 1000)
    # the same number again (a repeat whose ACK was lost): answered again
    assert len(_inject_r_u_there(net, wsa, 1000)) == 1
    assert len(_inject_r_u_there(net, wsa, 1001)) == 1
    # an older one: a replay, not answered
    assert _inject_r_u_there(net, wsa, 999) == []
    assert len(isakmpd_log.matching("below the last one", logging.WARNING)) == 1


def test_dpd_notification_without_a_sequence_number_is_ignored(isakmpd_log):
    net, w, e, wsa, esa = _pair(west_general="")
    n = info.notify_payload(NotifyType.R_U_THERE, ProtocolId.ISAKMP, wsa.cookies, b"")
    before = len(net.sent)
    net.inject(info.build(wsa, 12345, [n]), wsa.local, wsa.remote)
    assert net.sent[before:] == []
    assert isakmpd_log.matching("not a sequence number", logging.WARNING)


def test_unprotected_r_u_there_is_not_answered(isakmpd_log):
    net, w, e, wsa, esa = _pair(west_general="")
    from isakmpd.exchange.base import encode_protected

    n = info.notify_payload(NotifyType.R_U_THERE, ProtocolId.ISAKMP, wsa.cookies,
                            (5).to_bytes(4, "big"))
    data = encode_protected(wsa, ExchangeType.INFO, 0, [n], encrypt=False)
    before = len(net.sent)
    net.inject(data, wsa.local, wsa.remote)
    assert net.sent[before:] == []


# ------------------------------------------------------------ when not to probe

def _strip_dpd_vid(p: Packet) -> Packet:
    hdr, payloads = _core.parse_message(p.data)
    keep = [x for x in payloads
            if not (isinstance(x, _core.VendorID) and x.data == VID_DPD)]
    assert len(keep) == len(payloads) - 1
    return Packet(_core.encode_message(hdr, keep), p.src, p.dst, p.index, p.sender,
                  p.at)


def test_no_probes_toward_a_peer_without_the_vendor_id():
    net, w, e = gateway_pair(west={"general": DPD}, start=False)
    net.rewrite(lambda p: p.index == 1, _strip_dpd_vid)  # east's message 2
    net.start()
    net.run()
    established(net)
    [wsa] = w.isakmp_sas()
    assert not wsa.peer_dpd
    start = len(net.sent)
    net.drop_all(lambda p: True)
    net.advance(10 * INTERVAL)
    assert net.sent[start:] == []
    assert wsa.state == "established"
    assert not any(isinstance(ev, RemoveSA) for ev in w.events)


def test_no_probes_with_the_interval_zero():
    net, w, e, wsa, esa = _pair(west_general="", east_general="")
    assert wsa.peer_dpd and esa.peer_dpd
    start = len(net.sent)
    net.drop_all(lambda p: True)
    net.advance(600)
    assert net.sent[start:] == []
    assert [t for t in w.timer_names() + e.timer_names() if "dpd" in t] == []


def test_both_ends_probing_each_other():
    net, w, e, wsa, esa = _pair(west_general=DPD, east_general="DPD-check-interval= 7")
    start = len(net.sent)
    net.advance(60)
    asks_w = [n for _, n in _dpd_notifies(net, wsa, "west", start)
              if n.notify_type == NotifyType.R_U_THERE]
    asks_e = [n for _, n in _dpd_notifies(net, esa, "east", start)
              if n.notify_type == NotifyType.R_U_THERE]
    # each side's R-U-THERE proves it alive to the other, whose own probe
    # then waits: the quicker one (east) does the asking
    assert asks_e and len(asks_w) < len(asks_e)
    assert w.counts() == e.counts() == (1, 1)
    assert WEST_IP in wsa.local[0]
