"""Phase-2 IDs with protocol and port against strongSwan's charon: only
UDP port 53 between the two nets, both roles. charon's traffic selectors
``10.1.0.0/24[udp/53]`` become IDci/IDcr with protocol 17 and port 53, and
ours must match them exactly."""

from __future__ import annotations

import lab
import pytest
from lab import tshark
from test_identities import PSK, gw_conf, subnet
from test_interop_strongswan import (
    KEYS_DEBUG,
    assert_clean_log,
    decrypt_from_log,
    wait_report,
)

pytestmark = [pytest.mark.netns, pytest.mark.strongswan]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("we_initiate", [True, False],
                         ids=["ours-initiates", "charon-initiates"])
def test_udp_53_only_with_strongswan(netns_pair, charon_factory, isakmpd_factory,
                                     tmp_path, we_initiate) -> None:
    lab.require_tool("tcpdump")
    lab.require_tool("tshark")
    charon = charon_factory(netns_pair.east)
    _, east = lab.conn_pair(netns_pair, psk=PSK, local_ts="10.1.0.0/24[udp/53]",
                            remote_ts="10.2.0.0/24[udp/53]")
    charon.load(east)
    udp53 = {"Protocol": "udp", "Port": "53"}
    conf = gw_conf("192.0.2.1", "192.0.2.2", active=we_initiate,
                   general="Listen-on= 192.0.2.1\n",
                   local={**subnet("10.1.0.0/24"), **udp53},
                   remote={**subnet("10.2.0.0/24"), **udp53})
    cap = netns_pair.capture(tmp_path / "udp53.pcap", side="east")
    ours = isakmpd_factory(netns_pair.west, conf, args=KEYS_DEBUG)
    if not we_initiate:
        res = charon.initiate("net", timeout=15)
        assert "successfully" in res.stdout, res.stdout
    sa = charon.wait_for(ike="lab", child="net", timeout=20)
    _, p2 = wait_report(ours)
    pcap = cap.stop()
    (child,) = sa["children"]
    assert child["local-ts"] == ["10.2.0.0/24[udp/domain]"]
    assert child["remote-ts"] == ["10.1.0.0/24[udp/domain]"]
    assert ("Local ID: 10.1.0.0/24 proto 17 port 53, Remote ID: 10.2.0.0/24 "
            "proto 17 port 53") in p2.text, p2.text
    rows = tshark.fields(pcap, ["isakmp.id.type", "isakmp.id.protoid",
                                "isakmp.id.port"], "isakmp.exchangetype == 32",
                         decrypt_from_log(ours.log()))
    ids = [r for r in rows if r["isakmp.id.type"]]
    assert len(ids) == 2, rows
    for r in ids:
        assert r["isakmp.id.type"] == ["4", "4"]
        assert r["isakmp.id.protoid"] == ["17", "17"]
        assert r["isakmp.id.port"] == ["53", "53"]
    assert_clean_log(ours)


@pytest.mark.timeout(60)
def test_charon_asks_for_tcp_where_we_allow_udp_53(netns_pair, charon_factory,
                                                   isakmpd_factory) -> None:
    charon = charon_factory(netns_pair.east)
    _, east = lab.conn_pair(netns_pair, psk=PSK, local_ts="10.1.0.0/24[tcp/53]",
                            remote_ts="10.2.0.0/24[tcp/53]")
    charon.load(east)
    udp53 = {"Protocol": "udp", "Port": "53"}
    conf = gw_conf("192.0.2.1", "192.0.2.2", active=False,
                   general="Listen-on= 192.0.2.1\n",
                   local={**subnet("10.1.0.0/24"), **udp53},
                   remote={**subnet("10.2.0.0/24"), **udp53})
    ours = isakmpd_factory(netns_pair.west, conf, args=["-n"])
    res = charon.initiate("net", timeout=10, check=False)
    assert res.returncode != 0
    m = ours.wait_log(r"Quick Mode with 192\.0\.2\.2 failed: (.*)$")
    assert ("no connection for 10.2.0.0/24 proto 6 port 53 - 10.1.0.0/24 proto 6 "
            "port 53") in m.group(1), m.group(0)
    charon.wait_log(r"received INVALID_ID_INFORMATION error notify")
    assert_clean_log(ours)
