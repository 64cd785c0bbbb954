"""NAT-T and DPD over IPv6 between engines: NAT-D hashes over 16-byte
addresses (checked against hashlib), the float to port 4500 behind an
IPv6 NAT, IPv6 subnet IDs in Quick Mode, the kernel SAs and flows they make,
keepalives and a moved mapping."""

from __future__ import annotations

import hashlib
import ipaddress

from enginepair import (
    Nat,
    Network,
    assert_keys_cross,
    established,
    open_protected,
)
from isakmpd import _core, flows
from isakmpd.constants import EncapMode, ExchangeType, IdType, PayloadType
from isakmpd.engine import UpdateSA
from isakmpd.kernel.base import Encap, Selector

INSIDE, PUBLIC, EAST = "2001:db8:1::10", "2001:db8:ff::1", "2001:db8::2"
WEST_NET, EAST_NET = "2001:db8:a::/64", "2001:db8:b::/64"
PSK = "an-ipv6-pre-shared-key-0123456789"


def conf6(me: str, peer: str, my_net: str, peer_net: str, active: bool,
          general: str = "") -> str:
    which = "Connections" if active else "Passive-connections"
    ids = []
    for sec, net in (("id-local", my_net), ("id-remote", peer_net)):
        n = ipaddress.ip_network(net)
        ids += [f"[{sec}]", "ID-type= IPV6_ADDR_SUBNET",
                f"Network= {n.network_address}", f"Netmask= {n.netmask}", ""]
    return "\n".join([
        "[General]", f"Listen-on= {me}", "Check-interval= 100000", general, "",
        "[Phase 1]", f"{peer}= peer", "",
        "[Phase 2]", f"{which}= vpn6", "",
        "[peer]", "Phase= 1", f"Address= {peer}", f"Local-address= {me}",
        f"Authentication= {PSK}", "Configuration= mm", "",
        "[mm]", "DOI= IPSEC", "EXCHANGE_TYPE= ID_PROT", "Transforms= AES-128-SHA-GRP14",
        "",
        "[vpn6]", "Phase= 2", "ISAKMP-peer= peer", "Configuration= qm",
        "Local-ID= id-local", "Remote-ID= id-remote", "",
        *ids,
        "[qm]", "DOI= IPSEC", "EXCHANGE_TYPE= QUICK_MODE",
        "Suites= QM-ESP-AES-128-SHA-PFS-GRP14-SUITE", ""])


def _pair(nat: bool = True, west_general: str = ""):
    net = Network()
    west_ip = INSIDE if nat else "2001:db8::1"
    w = net.add("west", conf6(west_ip, EAST, WEST_NET, EAST_NET, True, west_general),
                1, west_ip)
    e = net.add("east", conf6(EAST, PUBLIC if nat else west_ip, EAST_NET, WEST_NET,
                              False), 2, EAST)
    if nat:
        net.nat = Nat(INSIDE, PUBLIC)
    net.start()
    net.run()
    ws, es = established(net)
    assert_keys_cross(ws, es)
    return net, w, e, ws, es


def _natd(icookie: bytes, rcookie: bytes, host: str, port: int) -> bytes:
    return hashlib.sha1(icookie + rcookie + ipaddress.ip_address(host).packed
                        + port.to_bytes(2, "big")).digest()


def test_natd_hashes_cover_16_byte_addresses():
    net, w, e, ws, es = _pair()
    [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
    mm = [p for p in net.sent if p.exchange_type == ExchangeType.ID_PROT]
    ic, rc = wsa.icookie, wsa.rcookie
    m3 = [x.data for x in mm[2].payloads() if isinstance(x, _core.NatD)]
    m4 = [x.data for x in mm[3].payloads() if isinstance(x, _core.NatD)]
    # west: east as it sees it, then itself (inside the NAT)
    assert m3 == [_natd(ic, rc, EAST, 500), _natd(ic, rc, INSIDE, 500)]
    # east: west as it sees it (the NAT's address and port), then itself
    assert m4 == [_natd(ic, rc, PUBLIC, 40000), _natd(ic, rc, EAST, 500)]
    assert (wsa.natt.local_behind_nat, wsa.natt.peer_behind_nat) == (True, False)
    assert (esa.natt.local_behind_nat, esa.natt.peer_behind_nat) == (False, True)
    assert wsa.natt.floated and esa.natt.floated
    assert esa.remote == (PUBLIC, 40001) and wsa.remote == (EAST, 4500)
    assert ws.protos[0].encap_mode == EncapMode.UDP_ENCAP_TUNNEL
    assert wsa.peer_dpd and esa.peer_dpd


def test_ipv6_subnet_ids_and_kernel_records():
    net, w, e, ws, es = _pair()
    [wsa] = w.isakmp_sas()
    qm1 = [p for p in net.sent if p.exchange_type == ExchangeType.QUICK_MODE][0]
    _, payloads = open_protected(wsa, qm1.data)
    ids = [x for x in payloads if isinstance(x, _core.ID)]
    a, b = ipaddress.ip_network(WEST_NET), ipaddress.ip_network(EAST_NET)
    assert [(i.id_type, i.data) for i in ids] == [
        (IdType.IPV6_ADDR_SUBNET, a.network_address.packed + a.netmask.packed),
        (IdType.IPV6_ADDR_SUBNET, b.network_address.packed + b.netmask.packed)]
    specs = flows.sa_specs(es, 7)
    by_dir = {s.inbound: s for s in specs}
    assert (by_dir[True].src, by_dir[True].dst) == (PUBLIC, EAST)
    assert by_dir[True].encap == Encap(40001, 4500)
    assert (by_dir[False].src, by_dir[False].dst) == (EAST, PUBLIC)
    assert by_dir[False].encap == Encap(4500, 40001)
    pols = {p.direction: p for p in flows.policy_specs(es, 7)}
    assert pols["out"].selector == Selector("2001:db8:b::", 64, "2001:db8:a::", 64)
    assert pols["in"].selector == Selector("2001:db8:a::", 64, "2001:db8:b::", 64)
    assert pols["out"].templates[0][2:4] == (EAST, PUBLIC)
    assert set(pols) == {"in", "out", "fwd"}


def test_no_nat_over_ipv6():
    net, w, e, ws, es = _pair(nat=False)
    [wsa] = w.isakmp_sas()
    assert wsa.natt.natd_type == PayloadType.NAT_D and not wsa.natt.nat_detected
    assert {(p.src[1], p.dst[1]) for p in net.sent} == {(500, 500)}
    assert not ws.udp_encap


def test_keepalives_and_a_moved_mapping_over_ipv6():
    net, w, e, ws, es = _pair(west_general="DPD-check-interval= 10")
    keepalives = []
    net.add_rule(lambda p: keepalives.append(p) if p.data == b"\xff" else None)
    net.advance(20)
    assert [(p.src, p.dst) for p in keepalives] == [((INSIDE, 4500), (EAST, 4500))]
    net.nat = Nat(INSIDE, PUBLIC, first_port=50000)
    net.advance(10)
    [esa] = e.isakmp_sas()
    assert esa.remote == es.remote == (PUBLIC, 50000)
    [ev] = [x for x in e.events if isinstance(x, UpdateSA)]
    assert ev.old_remote == (PUBLIC, 40001)
    out = [s for s in flows.sa_specs(es, 1) if not s.inbound]
    assert out[0].encap == Encap(4500, 50000)
