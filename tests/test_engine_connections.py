"""Active and passive connections, the connection checker, teardown and
shutdown."""

from __future__ import annotations

import ipaddress

import pytest

from enginepair import (
    EAST_IP,
    WEST_IP,
    Network,
    established,
    gateway_pair,
    is_info,
    open_protected,
    peer_conf,
)
from isakmpd import _core
from isakmpd.constants import ExchangeType, ProtocolId
from isakmpd.engine import InstallSA, RemoveSA


def test_passive_connection_never_starts():
    net = Network()
    e = net.add("east", peer_conf(EAST_IP, WEST_IP, active=False,
                                  check_interval=None), 2, EAST_IP)
    net.start()
    net.advance(600)
    assert net.sent == []
    assert not e.engine.connecting
    assert e.timer_names() == ["connection_checker"]


def test_active_connection_starts_at_start():
    net = Network()
    w = net.add("west", peer_conf(WEST_IP, EAST_IP, active=True), 1, WEST_IP)
    assert net.pending() == []
    net.start()
    [mm1] = net.take()
    assert (mm1.src, mm1.dst) == ((WEST_IP, 500), (EAST_IP, 500))
    assert mm1.exchange_type == ExchangeType.ID_PROT and mm1.message_id == 0
    assert w.engine.connecting == {"vpn"}
    # a second start, or connect(), while it negotiates starts nothing new
    assert net.connect("west", "vpn")
    assert net.pending() == []


def test_several_active_connections_share_one_phase_1():
    extra = """
[vpn2]
Phase= 2
ISAKMP-peer= peer-vpn
Configuration= qm-vpn
Local-ID= id-local-vpn
Remote-ID= id-remote-vpn
"""
    wconf = peer_conf(WEST_IP, EAST_IP, active=True, extra=extra).replace(
        "Connections= vpn", "Connections= vpn,vpn2")
    net = Network()
    w = net.add("west", wconf, 1, WEST_IP)
    e = net.add("east", peer_conf(EAST_IP, WEST_IP, active=False,
                                  my_net="10.2.0.0/24", peer_net="10.1.0.0/24"),
                2, EAST_IP)
    net.start()
    net.run()
    assert sorted(s.name for s in w.installed()) == ["vpn", "vpn2"]
    assert len(e.installed()) == 2
    assert w.counts() == (1, 2) and e.counts() == (1, 2)
    assert [p.exchange_type for p in net.sent].count(ExchangeType.ID_PROT) == 6


def test_checker_restarts_a_deleted_connection():
    net, w, e = gateway_pair(west={"check_interval": 30},
                             east={"check_interval": 30})
    established(net)
    n = len(net.sent)
    net.advance(10)
    assert len(net.sent) == n  # up: nothing to do
    assert e.engine.teardown("vpn", net.now) == 1
    net.run()
    assert len(w.removed()) == 1 and w.counts() == (1, 0)
    net.advance(19.5)  # t = 29.5: not yet
    assert w.counts() == (1, 0)
    net.advance(1)  # the check at t = 30
    assert w.counts() == e.counts() == (1, 1)
    again = net.sent[n + 1:]
    # one Quick Mode on the existing ISAKMP SA, at the check
    assert [p.exchange_type for p in again] == [ExchangeType.QUICK_MODE] * 3
    assert {p.at for p in again} == {30.0}
    assert [type(ev) for ev in w.events] == [InstallSA, RemoveSA, InstallSA]
    assert [type(ev) for ev in e.events] == [InstallSA, RemoveSA, InstallSA]
    # the new bundle has new SPIs
    assert w.events[2].sa.protos[0].spi_in != w.events[0].sa.protos[0].spi_in
    net.advance(200)
    assert len(w.installed()) == 2  # and no more


def test_checker_restarts_phase_1_too():
    net, w, e = gateway_pair(west={"check_interval": 30})
    established(net)
    e.engine.teardown("vpn", net.now)
    e.engine.teardown_main("peer-vpn", net.now)
    net.run()
    assert w.counts() == (0, 0)
    net.advance(30)
    assert w.counts() == e.counts() == (1, 1)
    kinds = [p.exchange_type for p in net.sent if p.at == 30.0]
    assert kinds == [ExchangeType.ID_PROT] * 6 + [ExchangeType.QUICK_MODE] * 3


# ------------------------------------------------------------ teardown

def test_teardown_sends_a_delete_the_peer_acts_on():
    net, w, e = gateway_pair()
    ws, es = established(net)
    assert w.engine.teardown("vpn", net.now) == 1
    assert w.engine.teardown("vpn", net.now) == 0  # nothing left
    [d] = net.pending()
    assert d.sender == "west" and is_info(d)
    net.run()
    assert w.removed() == [ws] and e.removed() == [es]
    assert w.counts() == e.counts() == (1, 0)


def _decrypt_all(sa, packets):
    out = []
    for p in packets:
        _, payloads = open_protected(sa, p.data)
        out.append([(x.protocol_id, x.spis) for x in payloads
                    if isinstance(x, _core.Delete)])
    return out


def test_shutdown_deletes_phase_2_then_phase_1():
    net, w, e = gateway_pair()
    established(net)
    assert net.connect("west", "vpn")  # a second bundle of the connection
    net.run()
    bundles = w.ipsec_sas()
    assert len(bundles) == 2
    [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
    w.engine.shutdown(net.now)
    sent = net.pending()
    assert all(p.sender == "west" and is_info(p) and p.encrypted for p in sent)
    deletes = _decrypt_all(esa, sent)
    esp = sorted([(ProtocolId.IPSEC_ESP, [s.protos[0].spi_in]) for s in bundles])
    assert sorted(deletes[0] + deletes[1]) == esp
    assert deletes[2] == [(ProtocolId.ISAKMP, [wsa.cookies])]
    assert len(deletes) == 3
    assert sorted(id(s) for s in w.removed()) == sorted(id(s) for s in bundles)
    assert w.counts() == (0, 0)
    # only SA lifetimes are left, and they find their SAs dead
    assert all("sa_expire(" in t for t in w.timer_names()), w.timer_names()
    net.run()
    assert len(e.removed()) == 2 and e.counts() == (0, 0)
    # a stopping daemon answers no new Main Mode
    net.inject(net.sent[0].data, (EAST_IP, 500), (WEST_IP, 500))
    assert net.pending() == []


def test_shutdown_without_delete_sas():
    net, w, e = gateway_pair(west={"general": "Delete-SAs= no"})
    ws, es = established(net)
    w.engine.shutdown(net.now)
    assert net.pending() == []
    assert w.removed() == [ws]
    assert w.counts() == (0, 0)
    assert e.counts() == (1, 1) and e.removed() == []


def test_events_name_the_sa_to_remove():
    net, w, e = gateway_pair()
    ws, es = established(net)
    w.engine.teardown_all(net.now)
    net.run()
    [rw], [re_] = w.removed(), e.removed()
    assert rw.protos[0].spi_out == re_.protos[0].spi_in
    assert rw.state == re_.state == "dead"


def test_both_sides_active():
    """Both ends start the connection at once: two ISAKMP SAs and two
    bundles, each keyed the same on both ends, and no endless renewal."""
    net = Network()
    w = net.add("west", peer_conf(WEST_IP, EAST_IP, active=True, check_interval=30),
                1, WEST_IP)
    e = net.add("east", peer_conf(EAST_IP, WEST_IP, active=True, check_interval=30,
                                  my_net="10.2.0.0/24", peer_net="10.1.0.0/24"),
                2, EAST_IP)
    net.start()
    net.run()
    assert len(w.installed()) == len(e.installed()) == 2
    by_spi = {s.protos[0].spi_in: s for s in e.installed()}
    for ws in w.installed():
        es = by_spi[ws.protos[0].spi_out]
        assert es.protos[0].keymat_out == ws.protos[0].keymat_in
        assert es.initiator != ws.initiator
    n = len(net.sent)
    net.advance(100)
    assert len(net.sent) == n


def test_connect_on_a_connection_that_is_up_does_nothing():
    # isakmpd(8): "c name: start the named connection, if stopped or inactive"
    net, w, e = gateway_pair()
    established(net)
    sent = len(net.sent)
    assert net.connect("west", "vpn", force=False)
    net.run()
    assert len(net.sent) == sent
    assert len(w.ipsec_sas()) == 1 and len(e.ipsec_sas()) == 1


NETS = ["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32",
        "10.2.0.0/16", "11.0.0.0/8", "192.0.2.128/25", "192.0.2.0/25",
        "::/0", "2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::1/128",
        "2001:db9::/32"]


@pytest.mark.parametrize("outer", NETS)
def test_selector_containment_is_subnet_of_with_protocol_and_port(outer: str) -> None:
    from isakmpd.connections import contains
    from isakmpd.sa import Selector

    o = ipaddress.ip_network(outer)
    for inner in NETS:
        i = ipaddress.ip_network(inner)
        want = o.version == i.version and i.subnet_of(o)  # type: ignore[arg-type]
        assert contains(Selector(o), Selector(i, 6, 22)) == want, (outer, inner)
        # a protocol or port of the outer selector must be matched exactly
        assert contains(Selector(o, 6), Selector(i, 6, 22)) == want
        assert not contains(Selector(o, 17), Selector(i, 6, 22))
        assert contains(Selector(o, 6, 22), Selector(i, 6, 22)) == want
        assert not contains(Selector(o, 6, 23), Selector(i, 6, 22))
