"""Identities on the wire between two of our daemons in a namespace pair:
tshark reads the ID payloads (decrypted with the keys the daemons log at
``-D 3=99``), and the SA reports show the selectors, protocol and port
included.

- IPv4, Main Mode: phase-1 IDs USER_FQDN and DER_ASN1_DN (in messages 5
  and 6, encrypted), phase-2 IDs subnets limited to UDP port 53.
- IPv6, Aggressive Mode: phase-1 IDs KEY_ID and FQDN (in the clear), phase
  2 an IPv6 range and an IPv6 address limited to TCP port 22.
"""

from __future__ import annotations

import lab
import pytest
from lab import tshark
from test_identities import gw_conf, subnet
from test_interop_strongswan import (
    KEYS_DEBUG,
    assert_clean_log,
    decrypt_from_log,
    wait_report,
)

pytestmark = pytest.mark.netns

DN = "/C=SE/O=Example/CN=east"
ID_FIELDS = ["ip.src", "ipv6.src", "isakmp.exchangetype", "isakmp.id.type",
             "isakmp.id.protoid", "isakmp.id.port", "isakmp.id.data.ipv4_addr",
             "isakmp.id.data.ipv4_subnet",
             "isakmp.id.data.ipv6_range_start", "isakmp.id.data.ipv6_range_end",
             "isakmp.id.data.ipv6_addr", "isakmp.id.data.fqdn",
             "isakmp.id.data.user_fqdn", "isakmp.id.data.key_id"]


def _rows(pcap, decrypt):
    rows = tshark.fields(pcap, ID_FIELDS, "isakmp.id.type", decrypt)
    out = [r for r in rows if r["isakmp.id.type"]]
    for r in out:
        r["src"] = r["ip.src"] or r["ipv6.src"]
    return out


@pytest.mark.timeout(90)
def test_ipv4_main_mode_names_and_udp_53(netns_pair, isakmpd_factory, tmp_path):
    lab.require_tool("tcpdump")
    lab.require_tool("tshark")
    udp53 = {"Protocol": "udp", "Port": "domain"}
    west_ids = {"p1_id": {"ID-type": "USER_FQDN", "Name": "west@example.com"},
                "p1_remote": {"ID-type": "DER_ASN1_DN", "Name": "C=SE, O=Example, "
                              "CN=east"},
                "local": {**subnet("10.1.0.0/24"), **udp53},
                "remote": {**subnet("10.2.0.0/24"), **udp53}}
    east_ids = {"p1_id": {"ID-type": "DER_ASN1_DN", "Name": DN},
                "p1_remote": {"ID-type": "USER_FQDN", "Name": "WEST@example.com"},
                "local": {**subnet("10.2.0.0/24"), **udp53},
                "remote": {**subnet("10.1.0.0/24"), **udp53}}
    cap = netns_pair.capture(tmp_path / "ids4.pcap", side="east")
    east = isakmpd_factory(netns_pair.east, gw_conf(
        "192.0.2.2", "192.0.2.1", active=False, general="Listen-on= 192.0.2.2\n",
        **east_ids), args=KEYS_DEBUG)
    west = isakmpd_factory(netns_pair.west, gw_conf(
        "192.0.2.1", "192.0.2.2", active=True, general="Listen-on= 192.0.2.1\n",
        **west_ids), args=KEYS_DEBUG)
    w1, w2 = wait_report(west)
    e1, e2 = wait_report(east)
    pcap = cap.stop()
    assert "Local ID: USER_FQDN west@example.com" in w1.text
    assert "Remote ID: DER_ASN1_DN C=SE, O=Example, CN=east" in w1.text
    assert "Remote ID: USER_FQDN west@example.com" in e1.text
    for text, mine, theirs in ((w2.text, "10.1", "10.2"), (e2.text, "10.2", "10.1")):
        assert (f"Local ID: {mine}.0.0/24 proto 17 port 53, "
                f"Remote ID: {theirs}.0.0/24 proto 17 port 53") in text, text
    rows = _rows(pcap, decrypt_from_log(west.log()))
    mm = [r for r in rows if r["isakmp.exchangetype"] == ["2"]]
    assert [(r["src"][0], r["isakmp.id.type"]) for r in mm] == [
        ("192.0.2.1", ["3"]), ("192.0.2.2", ["9"])]
    assert mm[0]["isakmp.id.data.user_fqdn"] == ["west@example.com"]
    frame = mm[1]["frame.number"][0]
    text = tshark.tshark(pcap, "-V", "-Y", f"frame.number=={frame}",
                         decrypt=decrypt_from_log(west.log()))
    # tshark lists the RDNs last first
    assert ("rdnSequence: 3 items (id-at-commonName=east,id-at-organizationName="
            "Example,id-at-countryName=SE)") in text, text
    qm = [r for r in rows if r["isakmp.exchangetype"] == ["32"]]
    assert len(qm) == 2  # messages 1 and 2
    for r in qm:
        assert r["isakmp.id.type"] == ["4", "4"]
        assert r["isakmp.id.protoid"] == ["17", "17"]
        assert r["isakmp.id.port"] == ["53", "53"]
        assert r["isakmp.id.data.ipv4_addr"] == ["10.1.0.0", "10.2.0.0"]
        assert r["isakmp.id.data.ipv4_subnet"] == ["255.255.255.0"] * 2
    assert_clean_log(west)
    assert_clean_log(east)


@pytest.mark.timeout(90)
def test_ipv6_aggressive_mode_key_id_and_tcp_22(netns_pair, isakmpd_factory,
                                               tmp_path):
    lab.require_tool("tcpdump")
    lab.require_tool("tshark")
    w6, e6 = netns_pair.west.addr6, netns_pair.east.addr6
    rng = {"ID-type": "IPV6_ADDR_RANGE", "Address": "fd00:1::",
           "End-address": "fd00:1::ff"}
    host = {"ID-type": "IPV6_ADDR", "Address": "fd00:2::1", "Protocol": "tcp",
            "Port": "22"}
    west_ids = {"exchange": "AGGRESSIVE",
                "p1_id": {"ID-type": "KEY_ID", "Name": "west-key-1"},
                "p1_remote": {"ID-type": "FQDN", "Name": "east.example.com"},
                "local": rng, "remote": host}
    east_ids = {"exchange": "AGGRESSIVE",
                "p1_id": {"ID-type": "FQDN", "Name": "east.example.com"},
                "p1_remote": {"ID-type": "KEY_ID", "Name": "west-key-1"},
                "local": host, "remote": subnet("fd00:1::/64")}
    cap = netns_pair.capture(tmp_path / "ids6.pcap", side="east")
    east = isakmpd_factory(netns_pair.east, gw_conf(
        e6, w6, active=False, general=f"Listen-on= {e6}\n", **east_ids),
        args=KEYS_DEBUG)
    west = isakmpd_factory(netns_pair.west, gw_conf(
        w6, e6, active=True, general=f"Listen-on= {w6}\n", **west_ids),
        args=KEYS_DEBUG)
    w1, w2 = wait_report(west)
    e1, e2 = wait_report(east)
    pcap = cap.stop()
    assert "Exchange type: AGGRESSIVE" in w1.text
    assert f"src: {w6} dst: {e6}" in w1.text
    assert "Remote ID: KEY_ID " in e1.text
    assert "Local ID: fd00:1::/120, Remote ID: fd00:2::1/128 proto 6 port 22" in w2.text
    assert "Local ID: fd00:2::1/128 proto 6 port 22, Remote ID: fd00:1::/120" in e2.text
    rows = _rows(pcap, decrypt_from_log(west.log()))
    am = [r for r in rows if r["isakmp.exchangetype"] == ["4"]]
    assert [(r["src"][0], r["isakmp.id.type"]) for r in am] == [
        (w6, ["11"]), (e6, ["2"])]  # in the clear
    assert am[0]["isakmp.id.data.key_id"] == [b"west-key-1".hex()]
    assert am[1]["isakmp.id.data.fqdn"] == ["east.example.com"]
    qm = [r for r in rows if r["isakmp.exchangetype"] == ["32"]]
    assert len(qm) == 2
    for r in qm:
        assert r["isakmp.id.type"] == ["8", "5"]
        assert r["isakmp.id.protoid"] == ["0", "6"]
        assert r["isakmp.id.port"] == ["0", "22"]
        assert r["isakmp.id.data.ipv6_range_start"] == ["fd00:1::"]
        assert r["isakmp.id.data.ipv6_range_end"] == ["fd00:1::ff"]
        assert r["isakmp.id.data.ipv6_addr"] == ["fd00:2::1"]
    assert_clean_log(west)
    assert_clean_log(east)
