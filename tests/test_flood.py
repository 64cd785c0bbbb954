"""A flood of half-open Main Mode exchanges from many addresses.

East (our daemon, -n, [General] Max-Half-Open=200) has a tunnel with west.
From west's namespace, which owns 198.18.0.0/16 (a local route: any address
in it can be bound), strongSwan's Main Mode message 1 goes to east from
thousands of source addresses, each with a cookie of its own, and nobody
answers east's message 2. East must keep at most 200 such exchanges (the
oldest dropped first), its memory bounded, its log short, the tunnel with
west working during the flood (a new Quick Mode over it), and negotiate
again afterwards.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from pathlib import Path

import lab
import pytest
from isakmpd.fuzzer.runner import rss_kb
from test_daemon_support import conf_for, sa_report_any, start_pair, wait_established
from test_interop_strongswan import report_sas

pytestmark = [pytest.mark.netns, pytest.mark.timeout(150)]

MM1 = (Path(__file__).parent / "data" / "codec" / "mm-psk-aes-1.bin").read_bytes()
LIMIT = 200
FLOOD = 12000
MAX_RSS_MB = 250

SENDER = r"""
import json, os, socket, sys, time
mm1, dst, n, rate = json.load(sys.stdin)
mm1 = bytes.fromhex(mm1)
start = time.monotonic()
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((f"198.18.{(i >> 8) & 255}.{(i & 255) or 1}", 0))
    s.sendto(os.urandom(8) + mm1[8:], (dst, 500))
    s.close()
    due = start + (i + 1) / rate
    if due > time.monotonic():
        time.sleep(due - time.monotonic())
print(json.dumps(time.monotonic() - start))
"""


def half_open(report: str) -> int:
    """Responder phase-1 SAs still negotiating in a FIFO S report."""
    return len(re.findall(r"\(Phase 1/Responder\)\n(?:.*\n){0,4}?.*state: negotiating",
                          report))


def flood_conf(east: lab.Side, west: lab.Side) -> str:
    """East answers Main Mode from anywhere ([Phase 1] Default), with a
    half-open limit."""
    conf = conf_for(east, west, active=False,
                    general=f"Max-Half-Open=\t{LIMIT}\nExchange-max-time=\t15")
    return conf.replace("[Phase 1]\n", "[Phase 1]\nDefault=\tpeer-any\n", 1) + """
[peer-any]
Phase=\t\t1
Authentication=\tsome-other-key-nobody-knows-0123456789
Configuration=\tmm
"""


def test_half_open_flood_is_bounded_and_the_tunnel_survives(
        netns_pair: lab.NetnsPair, isakmpd_factory, tmp_path: Path) -> None:
    w, e = netns_pair.west, netns_pair.east
    lab.run(None, "ip", "-n", w.ns, "route", "add", "local", "198.18.0.0/16",
            "dev", "lo")
    lab.run(None, "ip", "-n", e.ns, "route", "add", "198.18.0.0/16", "via", w.addr)
    west, east = start_pair(netns_pair, isakmpd_factory,
                            east_conf=flood_conf(e, w), debug=0)
    (tunnel,) = report_sas(east, phase=2)
    pid = east.pid
    assert pid is not None
    before = rss_kb(pid)
    mark = east.mark()

    done: dict[str, object] = {}

    def flood() -> None:
        payload = json.dumps([MM1.hex(), e.addr, FLOOD, 1500])
        done["res"] = lab.run(w, sys.executable, "-c", SENDER, input=payload,
                              timeout=100)

    t = threading.Thread(target=flood)
    t.start()
    try:
        time.sleep(3)  # well into the flood
        during = sa_report_any(east)
        rss_during = rss_kb(pid)
        # the tunnel is there, and a new Quick Mode over it succeeds now
        wmark, emark = west.mark(), east.mark()
        west.fifo("t quick west-east")
        east.wait_log(r"peer 192\.0\.2\.1 deleted IPsec SA east-west", since=emark,
                      timeout=20)
        west.fifo("c west-east")
        wait_established(west, east, since=[wmark, emark], timeout=30)
        assert t.is_alive(), "the flood ended before the check"
    finally:
        t.join(120)
    res = done["res"]
    took = json.loads(res.stdout)  # type: ignore[union-attr]

    assert LIMIT // 2 <= half_open(during) <= LIMIT, half_open(during)
    assert "(Phase 1/Initiator)" in during or "(Phase 1/Responder)" in during
    assert "SA name: east-west (Phase 2/Responder)" in during
    after = rss_kb(pid)
    assert east.alive() and after <= MAX_RSS_MB * 1024, (before, rss_during, after)
    assert after - before < 80 * 1024, (before, rss_during, after)

    # east said so, briefly: the limit line is rate-limited, nothing else
    # is logged per message at the default level
    log = east.log()[mark:]
    assert re.search(r"phase-1 exchanges started by peers are open "
                     r"\(Max-Half-Open\): dropping the oldest", log)
    assert len(log.splitlines()) < 400, (took, log[-2000:])
    assert "Traceback" not in log

    # the flood over, the half-open ones expire and new negotiations succeed
    lab.wait_until(lambda: half_open(sa_report_any(east)) == 0, 40,
                   "half-open exchanges gone")
    (p2,) = [s for s in report_sas(east, phase=2) if s.name == "east-west"]
    assert p2.spis != tunnel.spis
    wmark, emark = west.mark(), east.mark()
    west.fifo("t main peer-east")
    east.wait_log(r"peer 192\.0\.2\.1 deleted ISAKMP SA", since=emark)
    west.fifo("t quick west-east")
    west.fifo("c west-east")
    east.wait_log(r"ISAKMP SA \S+ \S+ established with 192\.0\.2\.1", since=emark,
                  timeout=20)
    wait_established(west, east, since=[wmark, emark], timeout=20)
