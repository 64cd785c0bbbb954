"""NAT traversal between engines: a NAT simulated by rewriting west's
address and port in flight, the float to port 4500, UDP encapsulation, and
a peer that speaks only the drafts."""

from __future__ import annotations

from enginepair import (
    EAST_IP,
    Nat,
    Network,
    Packet,
    assert_keys_cross,
    established,
    open_protected,
    peer_conf,
)
from isakmpd import _core
from isakmpd.constants import (
    VID_DPD,
    VID_NATT_DRAFT_02,
    VID_NATT_DRAFT_02N,
    VID_NATT_DRAFT_03,
    VID_NATT_RFC3947,
    EncapMode,
    ExchangeType,
    IpsecAttr,
    PayloadType,
)

INSIDE, PUBLIC = "10.0.0.1", "198.51.100.1"


def _natted(seed: int = 1, rewrite=None) -> tuple[Network, object, object]:
    """West at 10.0.0.1 behind a NAT that shows it as 198.51.100.1."""
    net = Network()
    w = net.add("west", peer_conf(INSIDE, EAST_IP, active=True), seed, INSIDE)
    e = net.add("east", peer_conf(EAST_IP, PUBLIC, active=False,
                                  my_net="10.2.0.0/24", peer_net="10.1.0.0/24"),
                seed + 1, EAST_IP)
    net.nat = Nat(INSIDE, PUBLIC)
    if rewrite is not None:
        net.rewrite(lambda p: p.index == 0, rewrite)
    net.start()
    net.run()
    return net, w, e


def _natds(p: Packet) -> list:
    return [x for x in p.payloads() if isinstance(x, _core.NatD)]


def test_nat_is_detected_and_the_exchange_floats():
    net, w, e = _natted()
    ws, es = established(net)
    assert_keys_cross(ws, es)
    mm = [p for p in net.sent if p.exchange_type == ExchangeType.ID_PROT]
    qm = [p for p in net.sent if p.exchange_type == ExchangeType.QUICK_MODE]
    # messages 1-4 on port 500, from 5 on both ends on 4500 (as sent, before
    # the NAT: east answers the NAT's ports)
    assert [p.src[1] for p in mm[:4]] == [500] * 4
    assert [p.src[1] for p in mm[4:] + qm] == [4500] * 5
    assert [p.dst for p in mm + qm if p.sender == "west"] == [
        (EAST_IP, 500)] * 2 + [(EAST_IP, 4500)] * 3
    assert [p.dst for p in mm + qm if p.sender == "east"] == [
        (PUBLIC, 40000)] * 2 + [(PUBLIC, 40001)] * 2
    # what east saw: the NAT's address, a new mapping for port 4500
    [esa], [wsa] = e.isakmp_sas(), w.isakmp_sas()
    assert esa.remote == (PUBLIC, 40001) and esa.local == (EAST_IP, 4500)
    assert wsa.remote == (EAST_IP, 4500) and wsa.local == (INSIDE, 4500)
    assert (wsa.natt.local_behind_nat, wsa.natt.peer_behind_nat) == (True, False)
    assert (esa.natt.local_behind_nat, esa.natt.peer_behind_nat) == (False, True)
    assert wsa.natt.floated and esa.natt.floated
    assert wsa.natt.natd_type == esa.natt.natd_type == PayloadType.NAT_D
    assert [len(_natds(p)) for p in mm[2:4]] == [2, 2]
    # Quick Mode offered and agreed UDP-encapsulated tunnel mode
    _, q1 = open_protected(wsa, qm[0].data)
    [sa] = [x for x in q1 if isinstance(x, _core.SA)]
    modes = [a.as_int() for a in sa.proposals[0].transforms[0].attributes
             if a.type == IpsecAttr.ENCAPSULATION_MODE]
    assert modes == [EncapMode.UDP_ENCAP_TUNNEL]
    for s in (ws, es):
        assert s.protos[0].encap_mode == EncapMode.UDP_ENCAP_TUNNEL
        assert s.udp_encap
    assert es.remote == (PUBLIC, 40001) and ws.remote == (EAST_IP, 4500)


def test_no_nat_no_float():
    net = Network()
    w = net.add("west", peer_conf("192.0.2.1", EAST_IP, active=True), 1,
                "192.0.2.1")
    e = net.add("east", peer_conf(EAST_IP, "192.0.2.1", active=False,
                                  my_net="10.2.0.0/24", peer_net="10.1.0.0/24"),
                2, EAST_IP)
    net.start()
    net.run()
    ws, es = established(net)
    assert {(p.src[1], p.dst[1]) for p in net.sent} == {(500, 500)}
    for n in (w, e):
        [sa] = n.isakmp_sas()
        assert sa.natt.natd_type == PayloadType.NAT_D and sa.natt.version == "rfc"
        assert not sa.natt.nat_detected and not sa.natt.floated
    assert ws.protos[0].encap_mode == es.protos[0].encap_mode == EncapMode.TUNNEL
    assert not ws.udp_encap
    # NAT-D payloads were still exchanged, two each way
    assert [len(_natds(p)) for p in net.sent[2:4]] == [2, 2]


def _drafts_only(p: Packet) -> Packet:
    hdr, payloads = _core.parse_message(p.data)
    keep = [x for x in payloads if not (isinstance(x, _core.VendorID)
                                        and x.data == VID_NATT_RFC3947)]
    assert len(keep) == len(payloads) - 1
    return Packet(_core.encode_message(hdr, keep), p.src, p.dst, p.index, p.sender,
                  p.at)


def test_peer_with_draft_vendor_ids_only():
    net, w, e = _natted(rewrite=_drafts_only)
    ws, es = established(net)
    assert_keys_cross(ws, es)
    # east answered with the best draft it saw, and both use NAT-D type 130
    [vid] = [x.data for x in net.sent[1].payloads()
             if isinstance(x, _core.VendorID) and x.data != VID_DPD]
    assert vid == VID_NATT_DRAFT_03
    for p in net.sent[2:4]:
        assert [x.payload_type for x in _natds(p)] == [PayloadType.NAT_D_DRAFT] * 2
    for n in (w, e):
        [sa] = n.isakmp_sas()
        assert sa.natt.version == "draft-03" and sa.natt.natd_type == 130
        assert sa.natt.floated
    for s in (ws, es):
        assert s.protos[0].encap_mode == EncapMode.UDP_ENCAP_TUNNEL_DRAFT == 61443
        assert s.udp_encap


def test_peer_with_draft_02_only():
    def old(p: Packet) -> Packet:
        hdr, payloads = _core.parse_message(p.data)
        keep = [x for x in payloads if not isinstance(x, _core.VendorID)
                or x.data in (VID_NATT_DRAFT_02, VID_NATT_DRAFT_02N)]
        return Packet(_core.encode_message(hdr, keep), p.src, p.dst, p.index,
                      p.sender, p.at)

    net, w, e = _natted(rewrite=old)
    ws, es = established(net)
    [vid] = [x.data for x in net.sent[1].payloads()
             if isinstance(x, _core.VendorID) and x.data != VID_DPD]
    assert vid == VID_NATT_DRAFT_02N
    assert es.protos[0].encap_mode == EncapMode.UDP_ENCAP_TUNNEL_DRAFT


def test_transport_mode_behind_nat_sends_nat_oa():
    net = Network()
    w = net.add("west", peer_conf(INSIDE, EAST_IP, active=True, my_net=None,
                                  peer_net=None,
                                  suites="QM-ESP-TRP-AES-SHA-SUITE"), 3, INSIDE)
    e = net.add("east", peer_conf(EAST_IP, PUBLIC, active=False, my_net=None,
                                  peer_net=None,
                                  suites="QM-ESP-TRP-AES-SHA-SUITE"), 4, EAST_IP)
    net.nat = Nat(INSIDE, PUBLIC)
    net.start()
    net.run()
    [wsa] = w.isakmp_sas()
    qm1 = [p for p in net.sent if p.exchange_type == ExchangeType.QUICK_MODE][0]
    _, q1 = open_protected(wsa, qm1.data)
    oas = [x for x in q1 if isinstance(x, _core.NatOA)]
    assert [(o.payload_type, o.data) for o in oas] == [
        (21, bytes([10, 0, 0, 1])), (21, bytes([192, 0, 2, 2]))]
    assert len(w.installed()) == 1 and len(e.installed()) == 1
    assert w.installed()[0].protos[0].encap_mode == EncapMode.UDP_ENCAP_TRANSPORT


def test_lost_messages_after_the_float_are_recovered():
    for lost in (4, 5, 6, 7, 8):
        net = Network()
        net.add("west", peer_conf(INSIDE, EAST_IP, active=True), 1, INSIDE)
        net.add("east", peer_conf(EAST_IP, PUBLIC, active=False, my_net="10.2.0.0/24",
                                  peer_net="10.1.0.0/24"), 2, EAST_IP)
        net.nat = Nat(INSIDE, PUBLIC)
        net.drop(lambda p, i=lost: p.index == i)
        net.start()
        net.settle(100)
        ws, es = established(net)
        assert_keys_cross(ws, es)
        assert es.udp_encap and ws.udp_encap
        # encrypted messages, retransmissions too, went over port 4500 (a
        # repeated message 4 still goes from port 500)
        assert all(p.src[1] == 4500 for p in net.sent if p.encrypted), lost
        assert len(net.sent) > 9
