"""The kernel's ACQUIRE and on-demand flows, engine level (isakmpd.acquire),
and the flow manager's share of them (isakmpd.flows)."""

from __future__ import annotations

import ipaddress

from enginepair import (
    EAST_IP,
    EAST_NET,
    WEST_IP,
    WEST_NET,
    Network,
    assert_keys_cross,
    established,
    gateway_pair,
    isakmpd_log_fixture,  # noqa: F401
    peer_conf,
)
from isakmpd.acquire import InstallTrap, RemoveTrap, id_name
from isakmpd.conf.store import Conf
from isakmpd.constants import ExchangeType, ProtocolId
from isakmpd.engine import InstallSA
from isakmpd.flows import FlowManager
from isakmpd.kernel.base import AcquireEvent, Selector, Template
from isakmpd.kernel.null import NullBackend

SUITE = "QM-ESP-AES-128-SHA-PFS-GRP14-SUITE"


def acquire(src_net: str, dst_net: str, *, reqid: int = 77, seq: int = 5,
            proto: int = 0, dport: int = 0, src: str = WEST_IP,
            dst: str = EAST_IP) -> AcquireEvent:
    """An ACQUIRE for a packet from the first host of ``src_net`` to the
    first host of ``dst_net``, which hit the policy ``src_net`` ->
    ``dst_net``."""
    s, d = ipaddress.ip_network(src_net), ipaddress.ip_network(dst_net)
    host_s, host_d = str(next(iter(s.hosts()), s[0])), str(next(iter(d.hosts()), d[0]))
    return AcquireEvent(
        proto=50, src=src, dst=dst,
        selector=Selector.of(host_s, host_d, proto, 0, dport),
        policy=Selector.of(src_net, dst_net, proto, 0, dport),
        policy_index=1000, policy_direction="out", reqid=reqid, mode="tunnel",
        seq=seq, templates=(Template(50, "tunnel", src, dst, reqid),))


def _passive_pair(west_general: str = "", east_nets=(EAST_NET, WEST_NET),
                  east_extra: str = ""):
    net = Network()
    w = net.add("west", peer_conf(WEST_IP, EAST_IP, active=False,
                                  general=west_general), 1, WEST_IP)
    e = net.add("east", peer_conf(EAST_IP, WEST_IP, active=False,
                                  my_net=east_nets[0], peer_net=east_nets[1],
                                  extra=east_extra), 2, EAST_IP)
    net.start()
    net.run()
    assert net.sent == []
    return net, w, e


def test_acquire_for_a_configured_connection():
    net, w, e = _passive_pair()
    name = w.engine.kernel_event(acquire(WEST_NET, EAST_NET, reqid=77), net.now)
    assert name is None  # kernel_event returns nothing; the connection starts
    assert w.engine.connecting == {"vpn"}
    net.run()
    ws, es = established(net)
    assert ws.name == "vpn" and ws.initiator
    assert ws.reqid == 77 and es.reqid is None
    assert_keys_cross(ws, es)
    # no connection was made up
    assert not w.engine.conf.has_section("Connection-0")
    # a second ACQUIRE while it is up (another packet in the larval window)
    n = len(net.sent)
    w.engine.kernel_event(acquire(WEST_NET, EAST_NET, reqid=77, seq=6), net.now)
    net.run()
    assert len(net.sent) == n


def test_acquire_for_a_narrower_flow_takes_the_connection_that_covers_it():
    net, w, e = _passive_pair()
    w.engine.kernel_event(acquire("10.1.0.0/25", "10.2.0.128/26"), net.now)
    net.run()
    ws, es = established(net)
    assert ws.name == "vpn"
    assert str(ws.local_sel) == WEST_NET and str(ws.remote_sel) == EAST_NET


_EAST_FOR_MADE = f"""
[made]
Phase= 2
ISAKMP-peer= peer-vpn
Configuration= qm-vpn
Local-ID= made-local
Remote-ID= made-remote

[made-local]
ID-type= IPV4_ADDR_SUBNET
Network= 10.2.7.0
Netmask= 255.255.255.0
Protocol= 17
Port= 53

[made-remote]
ID-type= IPV4_ADDR_SUBNET
Network= 10.1.5.0
Netmask= 255.255.255.0
Protocol= 17
"""


def test_acquire_for_an_unconfigured_flow_builds_the_connection(isakmpd_log):
    net, w, e = _passive_pair(
        west_general=f"Default-phase-2-suites= {SUITE}",
        east_extra=_EAST_FOR_MADE)
    # east lists "made" as a passive connection too
    with e.engine.conf.transaction() as t:
        t.add("Phase 2", "Passive-connections", "made")
    ev = acquire("10.1.5.0/24", "10.2.7.0/24", proto=17, dport=53, reqid=9, seq=41)
    w.engine.kernel_event(ev, net.now)
    conf = w.engine.conf
    assert conf.get("Connection-0", "Phase") == "2"
    assert conf.get("Connection-0", "Flags") == "__ondemand"
    assert conf.get("Connection-0", "Acquire-ID") == "41"
    # the peer of [Phase 1] 192.0.2.2=
    assert conf.get("Connection-0", "ISAKMP-peer") == "peer-vpn"
    assert conf.get("Connection-0", "Local-ID") == "from-10.1.5.0/24=17"
    assert conf.get("Connection-0", "Remote-ID") == "to-10.2.7.0/24=17:53"
    cfg = "phase2-from-10.1.5.0/24=17-to-10.2.7.0/24=17:53"
    assert conf.get("Connection-0", "Configuration") == cfg
    assert conf.get(cfg, "EXCHANGE_TYPE") == "QUICK_MODE"
    assert conf.get(cfg, "Suites") == SUITE
    assert (conf.get("from-10.1.5.0/24=17", "ID-type"),
            conf.get("from-10.1.5.0/24=17", "Network"),
            conf.get("from-10.1.5.0/24=17", "Netmask"),
            conf.get("from-10.1.5.0/24=17", "Protocol"),
            conf.get("from-10.1.5.0/24=17", "Port")) == (
        "IPV4_ADDR_SUBNET", "10.1.5.0", "255.255.255.0", "17", None)
    assert conf.get("to-10.2.7.0/24=17:53", "Port") == "53"
    assert "Connection-0" in conf.get_list("Phase 2", "Passive-connections")
    assert isakmpd_log.matching("connection Connection-0 made for it")
    net.run()
    ws, es = established(net)
    assert (ws.name, es.name) == ("Connection-0", "made")
    assert ws.reqid == 9
    assert (str(ws.local_sel), str(ws.remote_sel)) == ("10.1.5.0/24 proto 17",
                                                       "10.2.7.0/24 proto 17 port 53")
    # the next ACQUIRE for that flow finds the connection made for it
    w.engine.teardown("Connection-0", net.now)
    net.run()
    w.engine.kernel_event(acquire("10.1.5.0/24", "10.2.7.0/24", proto=17, dport=53,
                                  reqid=9, seq=42), net.now)
    net.run()
    assert not conf.has_section("Connection-1")
    assert [s.name for s in w.ipsec_sas()] == ["Connection-0"]


def test_acquire_for_a_host_pair_and_an_unknown_peer():
    net = Network()
    w = net.add("west", "[General]\nListen-on= 192.0.2.1\n", 1, WEST_IP)
    net.start()
    w.engine.kernel_event(acquire("10.1.0.5/32", "10.2.0.9/32", src=WEST_IP,
                                  dst="192.0.2.77"), net.now)
    conf = w.engine.conf
    peer = "peer-192.0.2.77-local-192.0.2.1"
    assert conf.get("Connection-0", "ISAKMP-peer") == peer
    assert conf.get("Connection-0", "Local-ID") == "from-10.1.0.5"
    assert (conf.get("from-10.1.0.5", "ID-type"),
            conf.get("from-10.1.0.5", "Address")) == ("IPV4_ADDR", "10.1.0.5")
    assert conf.get("Connection-0", "Configuration") == (
        "phase2-from-10.1.0.5-to-10.2.0.9")
    assert conf.get("phase2-from-10.1.0.5-to-10.2.0.9", "Suites") == (
        "QM-ESP-3DES-SHA-PFS-SUITE")
    assert (conf.get(peer, "Phase"), conf.get(peer, "Address"),
            conf.get(peer, "Local-address"), conf.get(peer, "Configuration")) == (
        "1", "192.0.2.77", WEST_IP, f"phase1-{peer}")
    assert conf.get(f"phase1-{peer}", "Transforms") == "3DES-SHA-RSA_SIG"
    assert conf.get(f"phase1-{peer}", "EXCHANGE_TYPE") == "ID_PROT"
    # Main Mode went to the destination
    [mm1] = net.take()
    assert mm1.dst == ("192.0.2.77", 500) and mm1.exchange_type == ExchangeType.ID_PROT


def test_acquire_id_section_names_ipv6():
    v6 = Selector.of("fd00:1::/64", "fd00:2::7/128", 6, 0, 443)
    assert id_name("from", v6, True) == "from-fd00:1::/64=6"
    assert id_name("to", v6, False) == "to-fd00:2::7=6:443"


def test_acquire_ignored_while_shutting_down_or_inbound():
    net, w, e = _passive_pair()
    ev = acquire(WEST_NET, EAST_NET)
    inbound = AcquireEvent(**{**ev.__dict__, "policy_direction": "in"})
    w.engine.kernel_event(inbound, net.now)
    assert net.take() == []
    w.engine.shutdown(net.now)
    w.engine.kernel_event(ev, net.now)
    assert net.take() == [] and not w.engine.connecting


# ------------------------------------------------------------ on-demand flows

def _ondemand(flags: str = "ondemand", general: str = "") -> str:
    return peer_conf(WEST_IP, EAST_IP, active=False, general=general).replace(
        "[vpn]\nPhase= 2\n", f"[vpn]\nPhase= 2\nFlags= {flags}\n")


def test_ondemand_connection_flows_are_installed_at_start_and_go_on_reload():
    net = Network()
    w = net.add("west", _ondemand(), 1, WEST_IP)
    net.start()
    [ev] = w.events
    assert isinstance(ev, InstallTrap)
    trap = ev.trap
    assert (trap.name, str(trap.local_sel), str(trap.remote_sel)) == (
        "vpn", WEST_NET, EAST_NET)
    assert (trap.local, trap.remote) == (WEST_IP, EAST_IP)
    assert trap.protocols == ((ProtocolId.IPSEC_ESP, 1),)  # ESP, tunnel
    assert net.sent == []  # nothing negotiated before traffic comes
    # a reload keeps it; one without the flag removes it
    w.engine.reconfigure(w.engine.conf)
    net.run()
    assert len(w.events) == 1
    w.engine.reconfigure(Conf.from_text(peer_conf(WEST_IP, EAST_IP, active=False)))
    net.run()
    assert len(w.events) == 2
    assert isinstance(w.events[1], RemoveTrap) and w.events[1].trap == trap
    # isakmpd's own spelling works too
    w2 = Network().add("w2", _ondemand("__ondemand"), 1, WEST_IP)
    w2.engine.start(0.0)
    assert isinstance(w2.engine.next_event(), InstallTrap)


def test_acquire_only_installs_no_flows():
    net = Network()
    w = net.add("west", _ondemand(general="Acquire-Only= yes"), 1, WEST_IP)
    net.start()
    assert w.events == []


def test_trap_then_acquire_then_sa_share_the_flows():
    net = Network()
    w = net.add("west", _ondemand(), 1, WEST_IP)
    e = net.add("east", peer_conf(EAST_IP, WEST_IP, active=False, my_net=EAST_NET,
                                  peer_net=WEST_NET), 2, EAST_IP)
    net.start()
    kernel = NullBackend()
    flows = FlowManager(kernel)
    [trap_ev] = w.events
    flows.install_trap(trap_ev.trap)
    pols = {(p.selector, p.direction): p for p in kernel.list_policies()}
    assert sorted(d for _, d in pols) == ["fwd", "in", "out"]
    [out] = [p for (s, d), p in pols.items() if d == "out"]
    reqid = out.templates[0].reqid
    assert out.templates[0] == Template(50, "tunnel", WEST_IP, EAST_IP, reqid)
    # the kernel's ACQUIRE for the trap's policy
    w.engine.kernel_event(acquire(WEST_NET, EAST_NET, reqid=reqid), net.now)
    net.run()
    ws, _ = established(net)
    assert ws.reqid == reqid
    [install] = [ev for ev in w.events if isinstance(ev, InstallSA)]
    flows.install(install.sa)
    assert {(p.selector, p.direction): p for p in kernel.list_policies()} == pols
    assert {r.reqid for r in kernel.list_sas()} == {reqid}
    # the SA goes: the on-demand flows stay for the next packet
    flows.remove(ws)
    assert {(p.selector, p.direction): p for p in kernel.list_policies()} == pols
    assert kernel.list_sas() == []
    flows.remove_trap("vpn")
    assert kernel.list_policies() == []


def test_flows_install_by_halves_and_keep_an_acquire_reqid():
    net, w, e = gateway_pair()
    ws, es = established(net)
    kernel = NullBackend()
    flows = FlowManager(kernel)
    ws.reqid = 4242
    flows.install_inbound(ws)
    sas = kernel.list_sas()
    assert [(r.spi, r.dst) for r in sas] == [
        (int.from_bytes(ws.protos[0].spi_in, "big"), WEST_IP)]
    assert sorted(p.direction for p in kernel.list_policies()) == ["fwd", "in"]
    flows.install(ws)
    assert sorted((r.dst, r.reqid) for r in kernel.list_sas()) == [
        (WEST_IP, 4242), (EAST_IP, 4242)]
    assert sorted(p.direction for p in kernel.list_policies()) == ["fwd", "in", "out"]
    assert {t.reqid for p in kernel.list_policies() for t in p.templates} == {4242}
    flows.remove(ws)
    assert kernel.list_sas() == [] and kernel.list_policies() == []


def test_flows_lifetimes_hard_in_both_units_soft_in_bytes_only():
    from isakmpd.flows import sa_specs

    extra = """
[KB-SUITE]
Protocols= KB-ESP
[KB-ESP]
PROTOCOL_ID= IPSEC_ESP
Transforms= KB-XF
[KB-XF]
TRANSFORM_ID= AES
KEY_LENGTH= 128
ENCAPSULATION_MODE= TUNNEL
AUTHENTICATION_ALGORITHM= HMAC_SHA
Life= KB-S,KB-K
[KB-S]
LIFE_TYPE= SECONDS
LIFE_DURATION= 600,60:86400
[KB-K]
LIFE_TYPE= KILOBYTES
LIFE_DURATION= 2000,100:100000
"""
    net, w, e = gateway_pair(suites="KB-SUITE", extra=extra)
    ws, _ = established(net)
    for spec in sa_specs(ws, 1):
        lt = spec.lifetimes
        assert (lt.hard_seconds, lt.soft_seconds) == (600, 0)
        assert (lt.hard_bytes, lt.soft_bytes) == (2000 * 1024, int(2000 * 1024 * 0.9))


def test_flows_off_leave_policies_alone_but_sas_keep_the_acquire_reqid():
    net, w, e = gateway_pair()
    ws, _ = established(net)
    kernel = NullBackend()
    flows = FlowManager(kernel, install_flows=False)
    ws.reqid = 7
    flows.install(ws)
    assert kernel.list_policies() == []
    assert {r.reqid for r in kernel.list_sas()} == {7}
    net2 = Network()
    w2 = net2.add("west", _ondemand(), 1, WEST_IP)
    net2.start()
    flows.install_trap(w2.events[0].trap)
    assert kernel.list_policies() == []

