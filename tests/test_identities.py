"""Identities between engines: every phase-1 ID type through ID=,
Remote-ID= and [General] Default-phase-1-ID (IPv4 and IPv6 gateways), and
phase-2 IDs (addresses, subnets, ranges, IPv6) with protocol and port, in
the IDs sent, the responder's choice of connection and the selectors."""

from __future__ import annotations

import ipaddress

import pytest
from enginepair import Network, assert_keys_cross, established, isakmpd_log_fixture  # noqa: F401
from isakmpd import _core
from isakmpd.constants import IdType, NotifyType
from isakmpd.exchange.base import ExchangeFailed
from isakmpd.exchange.ids import describe, dn_to_der, id_selector
from isakmpd.report import ipsec_lines, isakmp_lines

PSK = "identity-tests-key-0123456789"
V4 = ("192.0.2.1", "192.0.2.2")
V6 = ("2001:db8::1", "2001:db8::2")


def id_section(name: str, spec: dict[str, str]) -> str:
    return f"[{name}]\n" + "".join(f"{k}= {v}\n" for k, v in spec.items()) + "\n"


def gw_conf(me: str, peer: str, *, active: bool, exchange: str = "ID_PROT",
            p1_id: dict | None = None, p1_remote: dict | None = None,
            default_p1_id: dict | None = None, local: dict | None = None,
            remote: dict | None = None, extra: str = "", general: str = "") -> str:
    """One gateway: peer section ``peer``, connection ``vpn`` with
    Local-ID/Remote-ID sections ``local``/``remote`` (dicts of tags; None:
    no IDs at all), phase-1 ``ID=`` / ``Remote-ID=`` sections, or
    [General] Default-phase-1-ID."""
    which = "Connections" if active else "Passive-connections"
    general = "[General]\nCheck-interval= 100000\n" + general
    sections = ""
    if default_p1_id is not None:
        general += "Default-phase-1-ID= dflt-id\n"
        sections += id_section("dflt-id", default_p1_id)
    peer_tags = ""
    if p1_id is not None:
        peer_tags += "ID= my-id\n"
        sections += id_section("my-id", p1_id)
    if p1_remote is not None:
        peer_tags += "Remote-ID= peer-id\n"
        sections += id_section("peer-id", p1_remote)
    conn_tags = ""
    if local is not None:
        conn_tags += "Local-ID= net-local\n"
        sections += id_section("net-local", local)
    if remote is not None:
        conn_tags += "Remote-ID= net-remote\n"
        sections += id_section("net-remote", remote)
    return f"""{general}
[Phase 1]
{peer}= peer

[Phase 2]
{which}= vpn

[peer]
Phase= 1
Address= {peer}
Local-address= {me}
Authentication= {PSK}
Configuration= p1
{peer_tags}
[p1]
DOI= IPSEC
EXCHANGE_TYPE= {exchange}
Transforms= AES-128-SHA-GRP14

[vpn]
Phase= 2
ISAKMP-peer= peer
Configuration= p2
{conn_tags}
[p2]
DOI= IPSEC
EXCHANGE_TYPE= QUICK_MODE
Suites= QM-ESP-AES-128-SHA-PFS-GRP14-SUITE

{sections}{extra}"""


def pair(addrs=V4, west: dict | None = None, east: dict | None = None,
         start: bool = True) -> tuple[Network, object, object]:
    net = Network()
    w = net.add("west", gw_conf(addrs[0], addrs[1], active=True, **(west or {})), 1,
                addrs[0])
    e = net.add("east", gw_conf(addrs[1], addrs[0], active=False, **(east or {})), 2,
                addrs[1])
    if start:
        net.start()
        net.run()
    return net, w, e


def subnet(net: str) -> dict:
    n = ipaddress.ip_network(net)
    t = "IPV4_ADDR_SUBNET" if n.version == 4 else "IPV6_ADDR_SUBNET"
    return {"ID-type": t, "Network": str(n.network_address), "Netmask": str(n.netmask)}


# ------------------------------------------------------------------ phase 1

DN = "/C=SE/O=Example/CN=west"
PHASE1_IDS = {
    "ipv4": ({"ID-type": "IPV4_ADDR", "Address": "192.0.2.1"},
             IdType.IPV4_ADDR, bytes([192, 0, 2, 1])),
    "fqdn": ({"ID-type": "FQDN", "Name": "west.example.com"},
             IdType.FQDN, b"west.example.com"),
    "user-fqdn": ({"ID-type": "USER_FQDN", "Name": "west@example.com"},
                  IdType.USER_FQDN, b"west@example.com"),
    "dn-slash": ({"ID-type": "DER_ASN1_DN", "Name": DN},
                 IdType.DER_ASN1_DN, dn_to_der(DN)),
    "dn-comma": ({"ID-type": "DER_ASN1_DN", "Name": "C=SE, O=Example, CN=west"},
                 IdType.DER_ASN1_DN, dn_to_der(DN)),
    "key-id": ({"ID-type": "KEY_ID", "Name": "west-key-17"},
               IdType.KEY_ID, b"west-key-17"),
    "ipv4-subnet": ({"ID-type": "IPV4_ADDR_SUBNET", "Network": "192.0.2.0",
                     "Netmask": "255.255.255.0"}, IdType.IPV4_ADDR_SUBNET,
                    bytes([192, 0, 2, 0, 255, 255, 255, 0])),
    "ipv4-range": ({"ID-type": "IPV4_ADDR_RANGE", "Address": "192.0.2.1",
                    "End-address": "192.0.2.9"}, IdType.IPV4_ADDR_RANGE,
                   bytes([192, 0, 2, 1, 192, 0, 2, 9])),
}


@pytest.mark.parametrize("exchange", ["ID_PROT", "AGGRESSIVE"])
@pytest.mark.parametrize("name", list(PHASE1_IDS))
def test_phase1_id_types(name, exchange):
    spec, t, data = PHASE1_IDS[name]
    net, w, e = pair(west={"p1_id": spec, "exchange": exchange},
                     east={"p1_remote": spec, "exchange": exchange})
    ws, es = established(net)
    assert_keys_cross(ws, es)
    [esa], [wsa] = e.isakmp_sas(), w.isakmp_sas()
    assert (esa.id_remote_type, esa.id_remote[4:]) == (t, data)
    assert (wsa.id_local_type, wsa.id_local[4:]) == (t, data)
    text = "\n".join(isakmp_lines(esa, net.now))
    assert f"Remote ID: {describe(t, data)}" in text


IPV6_IDS = {
    "ipv6": ({"ID-type": "IPV6_ADDR", "Address": "2001:db8::1"},
             IdType.IPV6_ADDR, ipaddress.ip_address("2001:db8::1").packed),
    "ipv6-subnet": ({"ID-type": "IPV6_ADDR_SUBNET", "Network": "2001:db8::",
                     "Netmask": "64"}, IdType.IPV6_ADDR_SUBNET,
                    ipaddress.ip_network("2001:db8::/64").network_address.packed
                    + ipaddress.ip_network("2001:db8::/64").netmask.packed),
    "ipv6-range": ({"ID-type": "IPV6_ADDR_RANGE", "Address": "2001:db8::1",
                    "End-address": "2001:db8::ff"}, IdType.IPV6_ADDR_RANGE,
                   ipaddress.ip_address("2001:db8::1").packed
                   + ipaddress.ip_address("2001:db8::ff").packed),
}


@pytest.mark.parametrize("name", list(IPV6_IDS))
def test_phase1_ipv6_ids_between_ipv6_gateways(name):
    spec, t, data = IPV6_IDS[name]
    net, w, e = pair(V6, west={"p1_id": spec, "local": subnet("fd00:1::/64"),
                               "remote": subnet("fd00:2::/64")},
                     east={"p1_remote": spec, "local": subnet("fd00:2::/64"),
                           "remote": subnet("fd00:1::/64")})
    ws, es = established(net)
    [esa] = e.isakmp_sas()
    assert (esa.id_remote_type, esa.id_remote[4:]) == (t, data)
    assert str(ws.local_sel) == "fd00:1::/64" and str(es.local_sel) == "fd00:2::/64"


def test_default_ids_are_the_addresses_v6():
    net, w, e = pair(V6)
    established(net)
    [esa] = e.isakmp_sas()
    assert esa.id_remote_type == IdType.IPV6_ADDR
    assert esa.id_remote[4:] == ipaddress.ip_address(V6[0]).packed


def test_default_phase1_id_from_general():
    spec, t, data = PHASE1_IDS["fqdn"]
    net, w, e = pair(west={"default_p1_id": spec}, east={"p1_remote": spec})
    established(net)
    [esa] = e.isakmp_sas()
    assert (esa.id_remote_type, esa.id_remote[4:]) == (t, data)


def test_peer_id_takes_precedence_over_default():
    net, w, e = pair(west={"default_p1_id": PHASE1_IDS["fqdn"][0],
                           "p1_id": PHASE1_IDS["user-fqdn"][0]},
                     east={"p1_remote": PHASE1_IDS["user-fqdn"][0]})
    established(net)


@pytest.mark.parametrize("exchange", ["ID_PROT", "AGGRESSIVE"])
def test_unexpected_phase1_id_refused(exchange, isakmpd_log):
    net, w, e = pair(west={"p1_id": PHASE1_IDS["fqdn"][0], "exchange": exchange},
                     east={"p1_remote": PHASE1_IDS["dn-slash"][0],
                           "exchange": exchange})
    assert not w.installed() and not e.installed()
    fails = isakmpd_log.matching("with 192.0.2.1 failed")
    assert len(fails) == 1, fails
    assert ("peer identified as FQDN west.example.com, expected DER_ASN1_DN "
            "C=SE, O=Example, CN=west") in fails[0]
    assert e.counts() == (0, 0)


def test_names_compare_without_case_and_dns_by_components():
    net, w, e = pair(
        west={"p1_id": {"ID-type": "DER_ASN1_DN", "Name": "/C=SE/O=EXAMPLE/CN=West"}},
        east={"p1_remote": {"ID-type": "DER_ASN1_DN",
                            "Name": "C=se, O=example, CN=west"}})
    established(net)


def test_bad_dn_text_in_configuration(isakmpd_log):
    """A DN that cannot be encoded stops our phase 1 with a clear line."""
    net, w, e = pair(west={"p1_id": {"ID-type": "DER_ASN1_DN",
                                     "Name": "/C=SE/NOPE=x"}})
    errs = [m for m in isakmpd_log.messages() if "unknown DN attribute 'NOPE'" in m]
    assert errs, isakmpd_log.messages()
    assert not w.installed()


# ------------------------------------------------------------------ phase 2

def _qm_ids(net, w) -> list[tuple]:
    """(type, data, protocol, port) of IDci and IDcr in west's Quick Mode
    message 1, decrypted with west's SA."""
    from enginepair import open_protected

    [wsa] = w.isakmp_sas()
    [qm1] = [p for p in net.sent if p.sender == "west" and p.exchange_type == 32][:1]
    _, payloads = open_protected(wsa, qm1.data)
    return [(i.id_type, i.data, i.protocol, i.port) for i in payloads
            if isinstance(i, _core.ID)]


def test_phase2_protocol_and_port():
    """Only UDP port 53 between the two nets: the IDs carry protocol 17 and
    port 53, the selectors (and so the kernel policies) too."""
    udp53 = {"Protocol": "udp", "Port": "53"}
    net, w, e = pair(west={"local": {**subnet("10.1.0.0/24"), **udp53},
                           "remote": {**subnet("10.2.0.0/24"), **udp53}},
                     east={"local": {**subnet("10.2.0.0/24"), **udp53},
                           "remote": {**subnet("10.1.0.0/24"), **udp53}})
    ws, es = established(net)
    ids = _qm_ids(net, w)
    assert [(i[0], i[2], i[3]) for i in ids] == [(IdType.IPV4_ADDR_SUBNET, 17, 53)] * 2
    assert (str(ws.local_sel), str(ws.remote_sel)) == (
        "10.1.0.0/24 proto 17 port 53", "10.2.0.0/24 proto 17 port 53")
    assert (es.local_sel.protocol, es.local_sel.port) == (17, 53)
    text = "\n".join(ipsec_lines(es, net.now))
    assert ("Local ID: 10.2.0.0/24 proto 17 port 53, Remote ID: 10.1.0.0/24 "
            "proto 17 port 53") in text


def test_phase2_narrower_protocol_accepted_by_a_wider_responder():
    """East allows anything between the nets; west asks for TCP to port 22
    only: east accepts exactly that."""
    tcp22 = {"Protocol": "tcp", "Port": "22"}
    net, w, e = pair(west={"local": subnet("10.1.0.0/24"),
                           "remote": {**subnet("10.2.0.0/24"), **tcp22}},
                     east={"local": subnet("10.2.0.0/24"),
                           "remote": subnet("10.1.0.0/24")})
    ws, es = established(net)
    assert (es.local_sel.protocol, es.local_sel.port) == (6, 22)
    assert es.remote_sel.protocol == 0


def test_phase2_other_protocol_refused(isakmpd_log):
    """East allows only UDP port 53; west asks for TCP port 53."""
    net, w, e = pair(west={"local": {**subnet("10.1.0.0/24"), "Protocol": "tcp",
                                     "Port": "53"},
                           "remote": {**subnet("10.2.0.0/24"), "Protocol": "tcp",
                                      "Port": "53"}},
                     east={"local": {**subnet("10.2.0.0/24"), "Protocol": "udp",
                                     "Port": "53"},
                           "remote": {**subnet("10.1.0.0/24"), "Protocol": "udp",
                                      "Port": "53"}})
    assert not w.installed() and not e.installed()
    fails = isakmpd_log.matching("Quick Mode with 192.0.2.1 failed")
    assert fails and "no connection for 10.1.0.0/24 proto 6 port 53" in fails[0]


PHASE2 = {
    "addresses": ({"ID-type": "IPV4_ADDR", "Address": "10.1.0.1"},
                  {"ID-type": "IPV4_ADDR", "Address": "10.2.0.1"},
                  IdType.IPV4_ADDR, "10.1.0.1/32"),
    "ranges": ({"ID-type": "IPV4_ADDR_RANGE", "Address": "10.1.0.0",
                "End-address": "10.1.0.255"},
               {"ID-type": "IPV4_ADDR_RANGE", "Address": "10.2.0.0",
                "End-address": "10.2.0.255"},
               IdType.IPV4_ADDR_RANGE, "10.1.0.0/24"),
}


@pytest.mark.parametrize("name", list(PHASE2))
def test_phase2_id_types(name):
    mine, theirs, t, sel = PHASE2[name]
    net, w, e = pair(west={"local": mine, "remote": theirs},
                     east={"local": theirs, "remote": mine})
    ws, es = established(net)
    ids = _qm_ids(net, w)
    assert [i[0] for i in ids] == [t, t]
    assert str(ws.local_sel) == sel and str(es.remote_sel) == sel


def test_phase2_ipv6_ids():
    net, w, e = pair(V6, west={"local": {"ID-type": "IPV6_ADDR_RANGE",
                                         "Address": "fd00:1::",
                                         "End-address": "fd00:1::ffff"},
                               "remote": {"ID-type": "IPV6_ADDR",
                                          "Address": "fd00:2::1",
                                          "Protocol": "ipv6-icmp"}},
                     east={"local": {"ID-type": "IPV6_ADDR", "Address": "fd00:2::1",
                                     "Protocol": "ipv6-icmp"},
                           "remote": subnet("fd00:1::/64")})
    ws, es = established(net)
    ids = _qm_ids(net, w)
    assert [(i[0], i[2]) for i in ids] == [(IdType.IPV6_ADDR_RANGE, 0),
                                            (IdType.IPV6_ADDR, 58)]
    assert str(ws.local_sel) == "fd00:1::/112"
    assert str(es.local_sel) == "fd00:2::1/128 proto 58"


def test_range_that_is_not_one_prefix_is_refused_clearly(isakmpd_log):
    """10.1.0.1-10.1.0.6 is not one subnet: the kernel policy of an SA is one
    prefix, so the connection cannot be used (and says why)."""
    net, w, e = pair(west={"local": {"ID-type": "IPV4_ADDR_RANGE",
                                     "Address": "10.1.0.1",
                                     "End-address": "10.1.0.6"},
                           "remote": subnet("10.2.0.0/24")},
                     east={"local": subnet("10.2.0.0/24"),
                           "remote": subnet("10.1.0.0/24")})
    assert not w.installed()
    fails = isakmpd_log.matching("Quick Mode with 192.0.2.2 failed")
    assert fails and "range 10.1.0.1-10.1.0.6 is not one prefix" in fails[0], fails


def test_responder_refuses_a_range_that_is_not_one_prefix():
    idp = _core.ID(IdType.IPV4_ADDR_RANGE, bytes([10, 1, 0, 1, 10, 1, 0, 6]))
    with pytest.raises(ExchangeFailed) as ei:
        id_selector(idp)
    assert ei.value.notify == NotifyType.INVALID_ID_INFORMATION
    assert "range 10.1.0.1-10.1.0.6 is not one prefix" in ei.value.reason
    one = _core.ID(IdType.IPV4_ADDR_RANGE, bytes([10, 1, 0, 0, 10, 1, 0, 127]), 17, 53)
    assert str(id_selector(one)) == "10.1.0.0/25 proto 17 port 53"


@pytest.mark.parametrize("t,data", [
    (IdType.IPV4_ADDR, b"\x01\x02\x03"),
    (IdType.IPV6_ADDR_SUBNET, b"\x00" * 31),
    (IdType.IPV4_ADDR_SUBNET, bytes([10, 1, 0, 1, 255, 255, 255, 0])),
    (IdType.IPV4_ADDR_RANGE, bytes([10, 1, 0, 9, 10, 1, 0, 1])),
])
def test_malformed_address_ids(t, data):
    with pytest.raises(ExchangeFailed) as ei:
        id_selector(_core.ID(t, data))
    assert ei.value.notify == NotifyType.INVALID_ID_INFORMATION
    assert describe(t, data)  # describing it never raises


def test_netmasks_of_either_family():
    from isakmpd.exchange.ids import mask_network

    assert str(mask_network("fd00:1::", "ffff:ffff:ffff:ffff::")) == "fd00:1::/64"
    assert str(mask_network("10.1.0.0", "255.255.0.0")) == "10.1.0.0/16"
    assert str(mask_network("10.1.2.3", "255.255.0.0", strict=False)) == "10.1.0.0/16"
    with pytest.raises(ValueError, match="not contiguous"):
        mask_network("10.1.0.0", "255.0.255.0")
    with pytest.raises(ValueError, match="does not go with"):
        mask_network("10.1.0.0", "ffff::")
    with pytest.raises(ValueError):
        mask_network("10.1.2.3", "255.255.0.0")  # host bits set
    sub = _core.ID(IdType.IPV6_ADDR_SUBNET,
                   ipaddress.ip_address("fd00:1::").packed
                   + ipaddress.ip_address("ffff:ffff:ffff:ffff::").packed, 17, 53)
    assert str(id_selector(sub)) == "fd00:1::/64 proto 17 port 53"
