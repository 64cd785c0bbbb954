"""Packet capture on running daemons: -l, -L's file, FIFO p, IPv6, NAT-T.

Two of our daemons negotiate in the lab's namespaces (``-n``) while each
writes its capture; tcpdump watches the veth at the same time. tshark must
read each daemon's file as the same messages as the wire (addresses, ports,
cookies, message IDs, in order), all valid ISAKMP with good IP and UDP
checksums, and in clear: the Quick Mode IDs readable without any key.
Against strongSwan (which floats to port 4500) the frames on 4500 carry the
non-ESP marker and still dissect.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import lab
import pytest
from lab import tshark
from test_daemon_support import conf_for, start_pair, started, wait_established
from test_interop_strongswan import isakmpd_conf, wait_report

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]

CHECKSUMS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
#: what identifies a message, compared between the wire and the daemons' files
IDENT = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "udp.srcport", "udp.dstport",
         "isakmp.ispi", "isakmp.rspi", "isakmp.exchangetype", "isakmp.messageid",
         "isakmp.nextpayload"]
#: seconds to wait for a negotiation (the machine may be busy)
SLOW = 60.0
QM_IDS = [("10.1.0.0", "255.255.255.0"), ("10.2.0.0", "255.255.255.0")]


def _idents(pcap: Path) -> list[tuple[str, ...]]:
    """Each message once (a retransmission repeats it byte for byte), in
    order."""
    rows = tshark.fields(pcap, ["udp.payload", *IDENT], "isakmp")
    first = {}
    for r in rows:
        # the first occurrence: the header's fields (the payloads' own
        # next-payload fields are only visible in clear)
        first.setdefault(r["udp.payload"][0], tuple(r[n][0] if r[n] else ""
                                                    for n in IDENT))
    return list(first.values())


def _exchanges(pcap: Path) -> Counter[int]:
    """Messages per exchange type, each message once."""
    rows = tshark.fields(pcap, ["udp.payload", "isakmp.exchangetype"], "isakmp")
    unique = {r["udp.payload"][0]: r["isakmp.exchangetype"][0] for r in rows}
    return Counter(int(t, 0) for t in unique.values())


def _pair(netns_pair: lab.NetnsPair, factory, **kw) -> tuple[lab.Isakmpd, lab.Isakmpd]:
    west, east = start_pair(netns_pair, factory, wait=False, **kw)
    wait_established(west, east, timeout=SLOW)
    return west, east


def _qm_ids(pcap: Path) -> list[list[tuple[str, str]]]:
    names = ["isakmp.id.data.ipv4_addr", "isakmp.id.data.ipv4_subnet"]
    rows = tshark.fields(pcap, names, "isakmp.exchangetype == 32")
    return [list(zip(r[names[0]], r[names[1]], strict=True)) for r in rows]


def assert_clear_capture(pcap: Path, family: int = 2) -> None:
    """Every frame: valid ISAKMP, ENC flag clear, checksums right, the
    address family ``family`` (BSD's numbers); MM 6 + QM 3 (retransmitted
    copies aside)."""
    frames = tshark.assert_valid_isakmp(pcap)
    counts = _exchanges(pcap)
    assert counts == {tshark.MAIN: 6, tshark.QUICK: 3}, counts
    rows = tshark.fields(pcap, ["null.family", "isakmp.flags", "ip.checksum.status",
                                "udp.checksum.status"], decrypt=CHECKSUMS)
    assert len(rows) == frames >= 9
    for r in rows:
        assert r["null.family"] == [str(family)], r
        assert int(r["isakmp.flags"][0], 16) & 1 == 0, r  # not encrypted
        assert r["udp.checksum.status"] == ["1"], r  # 1: good
        if family == 2:
            assert r["ip.checksum.status"] == ["1"], r


def test_both_daemons_capture_what_the_wire_carries(
    netns_pair: lab.NetnsPair, isakmpd_factory, tmp_path: Path
) -> None:
    lab.require_tool("tshark")
    lab.require_tool("tcpdump")
    wire = netns_pair.capture(tmp_path / "wire.pcap", side="east", bpf="udp")
    wfile, efile = tmp_path / "west.pcap", tmp_path / "east.pcap"
    west, east = _pair(netns_pair, isakmpd_factory,
                       west_args=["-n", "-l", str(wfile)],
                       east_args=["-n", "-l", str(efile)])
    wire_pcap = wire.stop()
    on_wire = _idents(wire_pcap)
    assert len(on_wire) == 9, on_wire
    for pcap in (wfile, efile):
        assert_clear_capture(pcap)
        assert _idents(pcap) == on_wire
        # Main Mode 5 and 6 and the Quick Mode IDs: in clear, no keys given
        assert _qm_ids(pcap)[:3] == [QM_IDS, QM_IDS, []]
        p1 = tshark.fields(pcap, ["isakmp.id.data.ipv4_addr"],
                           "isakmp.exchangetype == 2 && isakmp.id.type")
        assert [r["isakmp.id.data.ipv4_addr"] for r in p1][:2] == [["192.0.2.1"],
                                                                  ["192.0.2.2"]]
    # on the wire they were encrypted: tshark shows no ID there
    assert not any(_qm_ids(wire_pcap))
    # the IP IDs count the frames of each file
    ids = [int(r["ip.id"][0], 16) for r in tshark.fields(wfile, ["ip.id"])]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) >= 9
    for d in (west, east):
        assert re.search(r"packet capture to \S+ started", d.log())
        assert "Traceback" not in d.log()


def test_fifo_p_starts_stops_and_appends(
    netns_pair: lab.NetnsPair, isakmpd_factory, tmp_path: Path
) -> None:
    lab.require_tool("tshark")
    w, e = netns_pair.west, netns_pair.east
    first = tmp_path / "first.pcap"
    fifo_file = tmp_path / "fifo.pcap"
    # FIFO p to files named nowhere else: not within a separated daemon's
    # allowed paths (tests/test_privsep.py), so one process
    west, east = start_pair(
        netns_pair, isakmpd_factory, wait=False,
        west_args=["-n", "--no-privsep", "-l", str(first)],
        west_conf=conf_for(w, e, active=False), east_conf=conf_for(e, w, active=False))
    started(west, SLOW)
    started(east, SLOW)
    west.fifo("p off")
    west.wait_log(r"packet capture to \S+first\.pcap stopped \(0 messages\)", SLOW)
    mark, emark = west.mark(), east.mark()
    west.fifo(f"p on={fifo_file}")
    west.fifo("c west-east")
    wait_established(west, east, since=[mark, emark], timeout=SLOW)
    assert_clear_capture(fifo_file)
    size = fifo_file.stat().st_size
    # off: the teardown's DELETE is not captured
    west.fifo("p off")
    stopped = west.wait_log(r"packet capture to \S+fifo\.pcap stopped \((\d+) "
                            r"messages\)", SLOW, since=mark)
    assert int(stopped[1]) == len(tshark.fields(fifo_file, [])) >= 9
    emark = east.mark()
    west.fifo("t west-east")
    east.wait_log(r"peer 192\.0\.2\.1 deleted IPsec SA", SLOW, since=emark)
    assert fifo_file.stat().st_size == size
    # on again, same file: appended to; a new Quick Mode on the ISAKMP SA
    mark, emark = west.mark(), east.mark()
    west.fifo(f"p on={fifo_file}")
    west.wait_log(r"packet capture to \S+fifo\.pcap started", SLOW, since=mark)
    west.fifo("c west-east")
    wait_established(west, east, since=[mark, emark], timeout=SLOW)
    time.sleep(0.5)
    counts = _exchanges(fifo_file)
    assert counts == {tshark.MAIN: 6, tshark.QUICK: 6}, counts
    assert tshark.assert_valid_isakmp(fifo_file) >= 12
    qm = [ids for ids in _qm_ids(fifo_file) if ids]
    assert qm == [QM_IDS] * 4
    # "p on" alone takes the -l file again; bad forms are refused
    mark = west.mark()
    west.fifo("p on")
    west.wait_log(r"packet capture to \S+first\.pcap started", SLOW, since=mark)
    for bad in ("p maybe", "p on=", "p off=x", "p"):
        west.fifo(bad)
    lab.wait_until(lambda: west.log()[mark:].count("FIFO: usage: p on[=file] | p off")
                   == 4, SLOW, "four usage errors")
    west.fifo(f"p on={tmp_path / 'no-such-dir' / 'x.pcap'}")
    west.wait_log(r"packet capture: cannot open \S+x\.pcap: No such file", SLOW,
                  since=mark)
    assert west.alive() and "Traceback" not in west.log()


def test_ipv6_frames(
    netns_pair: lab.NetnsPair, isakmpd_factory, tmp_path: Path
) -> None:
    lab.require_tool("tshark")
    w, e = netns_pair.west, netns_pair.east
    wfile, efile = tmp_path / "west6.pcap", tmp_path / "east6.pcap"
    _pair(netns_pair, isakmpd_factory,
          west_conf=conf_for(w, e, ipv6=True),
          east_conf=conf_for(e, w, ipv6=True, active=False),
          west_args=["-n", "-l", str(wfile)], east_args=["-n", "-l", str(efile)])
    for pcap in (wfile, efile):
        assert_clear_capture(pcap, family=24)
        rows = tshark.fields(pcap, ["ipv6.src", "ipv6.dst", "ip.src"])
        assert {(r["ipv6.src"][0], r["ipv6.dst"][0]) for r in rows} == {
            (w.addr6, e.addr6), (e.addr6, w.addr6)}
        assert not any(r["ip.src"] for r in rows)
        assert _qm_ids(pcap)[:3] == [QM_IDS, QM_IDS, []]


@pytest.mark.strongswan
def test_natt_marker_with_strongswan(
    netns_pair: lab.NetnsPair, charon_factory, isakmpd_factory, tmp_path: Path
) -> None:
    """charon (kernel-libipsec) fakes a NAT and moves to port 4500 after
    Main Mode message 4: from there our file has the non-ESP marker."""
    lab.require_tool("tshark")
    w, e = netns_pair.west, netns_pair.east
    charon = charon_factory(e)
    _, east_conn = lab.conn_pair(netns_pair, proposals="aes128-sha1-modp2048",
                                 esp_proposals="aes128-sha1-modp2048")
    charon.load(east_conn)
    ours_file = tmp_path / "ours.pcap"
    ours = isakmpd_factory(w, isakmpd_conf(), args=["-n", "-l", str(ours_file)])
    charon.wait_for(ike="lab", child="net", timeout=SLOW)
    wait_report(ours, timeout=SLOW)
    time.sleep(0.5)
    assert_clear_capture(ours_file)
    rows = tshark.fields(ours_file, ["udp.srcport", "udp.dstport", "udp.payload",
                                     "isakmp.exchangetype", "isakmp.ispi"])
    ports = [(int(r["udp.srcport"][0]), int(r["udp.dstport"][0])) for r in rows]
    # Main Mode 1-4 on 500, then 5, 6 and Quick Mode on 4500
    assert list(dict.fromkeys(ports)) == [(500, 500), (4500, 4500)], ports
    assert len([p for p in ports if p == (4500, 4500)]) >= 5
    assert [r["isakmp.exchangetype"][0] for r in rows if r["udp.srcport"] == ["500"]
            ] == ["2"] * ports.count((500, 500))
    for r, (sport, _) in zip(rows, ports, strict=True):
        payload = r["udp.payload"][0].replace(":", "") if r["udp.payload"] else ""
        cookie = r["isakmp.ispi"][0]
        if sport == 4500:
            # marker, then the ISAKMP header (initiator cookie first)
            assert payload.startswith("00000000" + cookie), payload[:40]
        else:
            assert not payload or payload.startswith(cookie)
    assert [ids for ids in _qm_ids(ours_file) if ids] == [QM_IDS, QM_IDS]
