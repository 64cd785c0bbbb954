"""A NAT that changes its mapping mid-tunnel (RFC 3947/3948): the side that
sees the NATed peer follows it to its new port when an authenticated
message comes from there, the ISAKMP and IPsec SAs take the new port and
the kernel's SAs are updated in place; forged or replayed messages move
nothing. NAT-OA in transport mode, both ways."""

from __future__ import annotations

import logging

from enginepair import (
    EAST_IP,
    Nat,
    Network,
    Packet,
    established,
    is_info,
    isakmpd_log_fixture,  # noqa: F401
    open_protected,
    peer_conf,
)
from isakmpd import _core, flows
from isakmpd.constants import EncapMode, ExchangeType, NotifyType, ProtocolId
from isakmpd.engine import InstallSA, RemoveSA, UpdateSA
from isakmpd.exchange import info
from isakmpd.kernel.base import IPPROTO_ESP, Encap
from isakmpd.kernel.null import NullBackend

INSIDE, PUBLIC, PUBLIC2 = "10.0.0.1", "198.51.100.1", "198.51.100.7"
DPD = "DPD-check-interval= 10"


def _natted(west_general: str = DPD, suites: str | None = None, ids: bool = True):
    net = Network()
    kw = {} if suites is None else {"suites": suites}
    wnets = {} if ids else {"my_net": None, "peer_net": None}
    enets = ({"my_net": "10.2.0.0/24", "peer_net": "10.1.0.0/24"} if ids
             else {"my_net": None, "peer_net": None})
    w = net.add("west", peer_conf(INSIDE, EAST_IP, active=True, general=west_general,
                                  **wnets, **kw), 1, INSIDE)
    e = net.add("east", peer_conf(EAST_IP, PUBLIC, active=False, **enets, **kw), 2,
                EAST_IP)
    net.nat = Nat(INSIDE, PUBLIC)
    net.start()
    net.run()
    established(net)
    return net, w, e


class Kernel:
    """East's kernel: a FlowManager over the null backend, fed east's
    events as the daemon would."""

    def __init__(self) -> None:
        self.backend = NullBackend()
        self.flows = flows.FlowManager(self.backend)
        self._done = 0

    def follow(self, events: list) -> None:
        for ev in events[self._done:]:
            if isinstance(ev, InstallSA):
                self.flows.install(ev.sa)
            elif isinstance(ev, RemoveSA):
                self.flows.remove(ev.sa)
        self._done = len(events)

    def esp(self) -> dict[tuple[str, str], tuple[int, Encap | None, bytes]]:
        """(src, dst) -> (SPI, encapsulation, cipher key) of each ESP SA."""
        out = {}
        for spec in self.backend._sas.values():
            if spec.proto == IPPROTO_ESP:
                key = spec.enc.key if spec.enc else b""
                out[(spec.src, spec.dst)] = (spec.spi, spec.encap, key)
        return out


def test_new_port_is_followed_and_the_kernel_sas_updated(isakmpd_log):
    net, w, e = _natted()
    kernel = Kernel()
    kernel.follow(e.events)
    [esa] = e.isakmp_sas()
    [es] = e.ipsec_sas()
    old = (PUBLIC, 40001)
    assert esa.remote == es.remote == old
    before = kernel.esp()
    assert before[(EAST_IP, PUBLIC)][1] == Encap(4500, 40001)
    assert before[(PUBLIC, EAST_IP)][1] == Encap(40001, 4500)

    # the NAT reboots: west's port 4500 now shows as 50000
    net.nat = Nat(INSIDE, PUBLIC, first_port=50000)
    start = len(net.sent)
    net.advance(10)  # west's DPD probe is the first message
    new = (PUBLIC, 50000)
    assert esa.remote == es.remote == new
    [ev] = [ev for ev in e.events if isinstance(ev, UpdateSA)]
    assert ev.sa is es and ev.old_remote == old
    assert isakmpd_log.matching("now comes from 198.51.100.1:50000", logging.INFO)
    # east's answer went to the new port and reached west
    acks = [p for p in net.sent[start:] if p.sender == "east" and is_info(p)]
    assert [p.dst for p in acks] == [new]
    [wsa] = w.isakmp_sas()
    assert not wsa.dpd.outstanding
    # the kernel SAs changed in place: same SPIs and keys, new ports
    kernel.follow(e.events)
    after = kernel.esp()
    out, into = (EAST_IP, PUBLIC), (PUBLIC, EAST_IP)
    assert after[out] == (before[out][0], Encap(4500, 50000), before[out][2])
    assert after[into] == (before[into][0], Encap(50000, 4500), before[into][2])
    assert len(after) == 2
    # nothing was removed or negotiated anew
    assert not any(isinstance(x, RemoveSA) for x in e.events)
    assert [type(x) for x in e.events if isinstance(x, InstallSA)] == [InstallSA,
                                                                      UpdateSA]
    # and the side behind the NAT changed nothing
    [ws] = w.ipsec_sas()
    assert ws.remote == (EAST_IP, 4500) and wsa.remote == (EAST_IP, 4500)
    assert [type(x) for x in w.events] == [InstallSA]


def test_quick_mode_from_a_new_port_moves_the_sa():
    net, w, e = _natted(west_general="")
    net.nat = Nat(INSIDE, PUBLIC, first_port=50000)
    net.connect("west", "vpn")
    net.run()
    [esa] = e.isakmp_sas()
    assert esa.remote == (PUBLIC, 50000)
    sas = e.ipsec_sas()
    assert len(sas) == 2 and all(s.remote == (PUBLIC, 50000) for s in sas)
    # the old SA got an update, the new one was made at the new port
    kinds = [type(x) for x in e.events if type(x) in (InstallSA, UpdateSA)]
    assert kinds == [InstallSA, UpdateSA, InstallSA]
    assert e.events[-1].sa.remote == (PUBLIC, 50000)


def _forge_from(net: Network, p: Packet, src) -> None:
    net.inject(p.data, src, p.dst)


def test_replayed_or_forged_messages_move_nothing(isakmpd_log):
    net, w, e = _natted()
    net.advance(10)  # a DPD probe and its answer
    [esa] = e.isakmp_sas()
    old = esa.remote
    [probe] = [p for p in net.sent if p.sender == "west" and is_info(p)]
    events = len(e.events)
    # the same R-U-THERE again, from elsewhere: answered, not followed
    _forge_from(net, probe, (PUBLIC, 6666))
    net.take()
    # garbage with east's cookies
    _forge_from(net, Packet(probe.data[:28] + bytes(64), probe.src, probe.dst),
                (PUBLIC, 6667))
    net.take()
    assert esa.remote == old
    assert len(e.events) == events
    assert not isakmpd_log.matching("now comes from", logging.INFO)


def test_no_nat_no_following(isakmpd_log):
    net = Network()
    w = net.add("west", peer_conf("192.0.2.1", EAST_IP, active=True, general=DPD), 1,
                "192.0.2.1")
    e = net.add("east", peer_conf(EAST_IP, "192.0.2.1", active=False,
                                  my_net="10.2.0.0/24", peer_net="10.1.0.0/24"),
                2, EAST_IP)
    net.start()
    net.run()
    established(net)
    [esa] = e.isakmp_sas()
    # west's probe arrives from another port (say, a load balancer)
    net.rewrite(lambda p: p.sender == "west" and is_info(p),
                lambda p: Packet(p.data, ("192.0.2.1", 7777), p.dst, p.index,
                                 p.sender, p.at))
    net.advance(10)
    assert esa.remote == ("192.0.2.1", 500)
    assert not any(isinstance(x, UpdateSA) for x in e.events)


def test_new_address_renegotiates(isakmpd_log):
    """Another public address: the kernel SAs cannot move in place; east
    deletes its IPsec SA (west hears of it at the new address) and west's
    active connection brings a new one."""
    net, w, e = _natted()
    [esa] = e.isakmp_sas()
    [es] = e.ipsec_sas()
    net.nat = Nat(INSIDE, PUBLIC2, first_port=50000)
    start = len(net.sent)
    net.advance(10)
    assert esa.remote == (PUBLIC2, 50000)
    assert es.state == "dead"
    assert [x.sa for x in e.events if isinstance(x, RemoveSA)] == [es]
    deletes = []
    for p in net.sent[start:]:
        if p.sender == "east" and is_info(p):
            _, payloads = open_protected(esa, p.data)
            deletes += [x for x in payloads if isinstance(x, _core.Delete)]
            assert p.dst == (PUBLIC2, 50000)
    assert [d.protocol_id for d in deletes] == [ProtocolId.IPSEC_ESP]
    assert w.ipsec_sas() == []  # west took the DELETE
    net.connect("west", "vpn", force=False)  # its connection check
    net.run()
    [es2] = e.ipsec_sas()
    assert es2.remote == (PUBLIC2, 50000) and es2.state == "installed"


# ------------------------------------------------------------ NAT-OA

TRP = "QM-ESP-TRP-AES-SHA-SUITE"


def test_transport_mode_nat_oa_both_ways():
    net, w, e = _natted(west_general="", suites=TRP, ids=False)
    [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
    qm = [p for p in net.sent if p.exchange_type == ExchangeType.QUICK_MODE]
    _, q1 = open_protected(wsa, qm[0].data)
    _, q2 = open_protected(esa, qm[1].data, qm[0].data)

    def oa(payloads: list) -> list[bytes]:
        return [x.data for x in payloads if isinstance(x, _core.NatOA)]

    # NAT-OAi then NAT-OAr, each as its sender knows them
    assert oa(q1) == [bytes([10, 0, 0, 1]), bytes([192, 0, 2, 2])]
    assert oa(q2) == [bytes([198, 51, 100, 1]), bytes([192, 0, 2, 2])]
    [ws], [es] = w.ipsec_sas(), e.ipsec_sas()
    assert ws.protos[0].encap_mode == EncapMode.UDP_ENCAP_TRANSPORT
    assert ws.peer_oa == EAST_IP  # east's own address
    assert es.peer_oa == INSIDE  # west's own, behind its NAT
    specs = flows.sa_specs(es, 1)
    assert {s.encap.oa for s in specs if s.encap} == {INSIDE}


def test_tunnel_mode_has_no_nat_oa():
    net, w, e = _natted(west_general="")
    [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
    qm = [p for p in net.sent if p.exchange_type == ExchangeType.QUICK_MODE]
    _, q1 = open_protected(wsa, qm[0].data)
    _, q2 = open_protected(esa, qm[1].data, qm[0].data)
    for payloads in (q1, q2):
        assert not [x for x in payloads if isinstance(x, _core.NatOA)]
    [es] = e.ipsec_sas()
    assert es.peer_oa is None
    assert {s.encap.oa for s in flows.sa_specs(es, 1) if s.encap} == {None}


def test_r_u_there_ack_answers_are_protected_info():
    """What east sent back to the probe is a protected informational
    message: HASH first, then R-U-THERE-ACK."""
    net, w, e = _natted()
    net.advance(10)
    [esa] = e.isakmp_sas()
    [ack] = [p for p in net.sent if p.sender == "east" and is_info(p)]
    hdr, payloads = open_protected(esa, ack.data)
    assert hdr.message_id != 0 and ack.encrypted
    assert [type(x) for x in payloads] == [_core.Hash, _core.Notify]
    assert payloads[1].notify_type == NotifyType.R_U_THERE_ACK
    assert info  # the module that built it


# ------------------------------------------------------------ the kernel's word

def _mapping_datagram(spi: int, dst: str, old: tuple[str, int], new: tuple[str, int],
                      family: int = 2, reqid: int = 3) -> bytes:
    """An XFRM_MSG_MAPPING as the kernel sends it (struct xfrm_user_mapping)."""
    import ipaddress
    import struct

    def addr(a: str) -> bytes:
        return ipaddress.ip_address(a).packed.ljust(16, b"\0")

    body = struct.pack("=16s4sHBxI16s16s2s2s", addr(dst), spi.to_bytes(4, "big"),
                       family, 50, reqid, addr(old[0]), addr(new[0]),
                       old[1].to_bytes(2, "big"), new[1].to_bytes(2, "big"))
    return struct.pack("=IHHII", 16 + len(body), 0x26, 0, 0, 0) + body


def test_xfrm_mapping_messages_are_decoded(isakmpd_log):
    from isakmpd.kernel.base import MappingEvent
    from isakmpd.kernel.xfrm_events import decode_events

    data = _mapping_datagram(0x1234ABCD, EAST_IP, (PUBLIC, 40001), (PUBLIC, 50000))
    assert decode_events(data) == [MappingEvent(50, 0x1234ABCD, EAST_IP, 3, PUBLIC,
                                                40001, PUBLIC, 50000)]
    v6 = _mapping_datagram(0x100, "2001:db8::2", ("2001:db8:ff::1", 4500),
                           ("2001:db8:ff::1", 4501), family=10)
    [ev] = decode_events(v6)
    assert (ev.dst, ev.old_src, ev.new_sport) == ("2001:db8::2", "2001:db8:ff::1",
                                                  4501)
    # damaged: a warning, never an exception
    assert decode_events(data[:40]) == []
    assert decode_events(data[:16] + data[16:40]) == []
    bad_family = _mapping_datagram(0x100, EAST_IP, (PUBLIC, 1), (PUBLIC, 2),
                                   family=99)
    assert decode_events(bad_family) == []
    assert isakmpd_log.matching("unusable XFRM_MSG_MAPPING", logging.WARNING)


def test_kernel_mapping_event_moves_the_sa():
    from isakmpd.kernel.base import MappingEvent

    net, w, e = _natted(west_general="")
    [esa] = e.isakmp_sas()
    [es] = e.ipsec_sas()
    spi = int.from_bytes(es.protos[0].spi_in, "big")
    # another SPI, or ours from the same place: nothing
    e.engine.kernel_event(MappingEvent(50, spi ^ 1, EAST_IP, 1, PUBLIC, 40001,
                                       PUBLIC, 50000), net.now)
    e.engine.kernel_event(MappingEvent(50, spi, EAST_IP, 1, PUBLIC, 40001,
                                       PUBLIC, 40001), net.now)
    net.run()
    assert esa.remote == es.remote == (PUBLIC, 40001)
    assert not any(isinstance(x, UpdateSA) for x in e.events)
    e.engine.kernel_event(MappingEvent(50, spi, EAST_IP, 1, PUBLIC, 40001,
                                       PUBLIC, 50000), net.now)
    net.run()
    assert esa.remote == es.remote == (PUBLIC, 50000)
    [ev] = [x for x in e.events if isinstance(x, UpdateSA)]
    assert ev.sa is es and ev.old_remote == (PUBLIC, 40001)


def test_kernel_mapping_event_without_the_isakmp_sa():
    """Phase 1 gone, phase 2 alive: the kernel's word still moves it."""
    from isakmpd.kernel.base import MappingEvent

    net, w, e = _natted(west_general="")
    [esa] = e.isakmp_sas()
    [es] = e.ipsec_sas()
    e.engine.delete_isakmp(esa, net.now)
    net.run()
    assert es.state == "installed"
    spi = int.from_bytes(es.protos[0].spi_in, "big")
    e.engine.kernel_event(MappingEvent(50, spi, EAST_IP, 1, PUBLIC, 40001,
                                       PUBLIC, 50000), net.now)
    net.run()
    assert es.remote == (PUBLIC, 50000)
    assert any(isinstance(x, UpdateSA) and x.sa is es for x in e.events)
