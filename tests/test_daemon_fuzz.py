"""isakmpd-fuzz against a running daemon with an established tunnel.

East (our daemon, -n) has a tunnel with west (our daemon too). From a
third address in west's namespace, ``python -m isakmpd.fuzzer`` negotiates
with east as a peer of its own and sends batches of mutated phase-1,
Quick Mode and informational messages (phase-2 and informational ones with
a valid HASH under its own ISAKMP SA). After each batch the fuzzer checks
east is alive, its memory and that it still negotiates; after the run this
test checks the west-east tunnel: its SAs are still in east's report, and
a new Quick Mode over it succeeds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import lab
import pytest
from isakmpd.fuzzer.runner import alive, rss_kb
from test_daemon_support import PSK, conf_for, start_pair, wait_established
from test_interop_strongswan import report_sas

pytestmark = [pytest.mark.netns, pytest.mark.timeout(150)]

FUZZER = "192.0.2.3"
FUZZ_PSK = "fuzzing-peer-key-0123456789abcdef"
#: east's memory may not pass this, whatever the fuzzer sends (MB)
MAX_RSS_MB = 250
MESSAGES = 3000


def fuzz_target_conf(east: lab.Side, west: lab.Side) -> str:
    """East's configuration: the tunnel with west, and a passive connection
    for the fuzzer's peer at FUZZER."""
    conf = conf_for(east, west, active=False,
                    general="Max-Half-Open=\t300\nExchange-max-time=\t20")
    conf = conf.replace("[Phase 1]\n", f"[Phase 1]\n{FUZZER}=\tpeer-fuzz\n", 1)
    conf = conf.replace("Passive-connections=\teast-west",
                        "Passive-connections=\teast-west,east-fuzz", 1)
    return conf + f"""
[peer-fuzz]
Phase=\t\t1
Address=\t{FUZZER}
Local-address=\t{east.addr}
Authentication=\t{FUZZ_PSK}
Configuration=\tmm

[east-fuzz]
Phase=\t\t2
ISAKMP-peer=\tpeer-fuzz
Configuration=\tqm
Local-ID=\tnet-east
Remote-ID=\tnet-fuzz

[net-fuzz]
ID-type=\tIPV4_ADDR_SUBNET
Network=\t10.3.0.0
Netmask=\t255.255.255.0
"""


def run_fuzzer(side: lab.Side, target: str, pid: int, out: Path, *args: str
               ) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "isakmpd.fuzzer", "--target", target,
            "--source", FUZZER, "--psk", FUZZ_PSK, "--pid", str(pid),
            "--max-rss-mb", str(MAX_RSS_MB), "--json", str(out), *args]
    return lab.run(side, *argv, check=False, timeout=120)


def test_fuzzing_batches_leave_the_daemon_and_its_tunnel_working(
        netns_pair: lab.NetnsPair, isakmpd_factory, tmp_path: Path) -> None:
    w, e = netns_pair.west, netns_pair.east
    lab.run(None, "ip", "-n", w.ns, "addr", "add", f"{FUZZER}/24", "dev", w.ifname)
    west, east = start_pair(netns_pair, isakmpd_factory,
                            east_conf=fuzz_target_conf(e, w), debug=10)
    assert PSK not in east.log()
    (tunnel,) = report_sas(east, phase=2)
    pid = east.pid
    assert pid is not None
    before = rss_kb(pid)
    mark = east.mark()

    t0 = time.monotonic()
    res = run_fuzzer(w, e.addr, pid, tmp_path / "fuzz.json", "-n", str(MESSAGES),
                     "-b", "600", "--seed", "20261204")
    took = time.monotonic() - t0
    assert res.returncode == 0, res.stdout + res.stderr
    result = json.loads((tmp_path / "fuzz.json").read_text())
    assert result["ok"] and result["messages"] == MESSAGES, result
    batches = result["batches"]
    assert len(batches) == MESSAGES // 600 + 1  # and the final negotiation
    for b in batches:
        assert b["alive"] and b["negotiated"], b
        assert 0 < b["rss_kb"] <= MAX_RSS_MB * 1024, b
    # every kind of mutant went out
    kinds = set().union(*(b["sent"] for b in batches))
    assert kinds == {"phase1", "mm3", "phase2", "info", "replay"}, kinds
    assert took < 90, took

    # east: alive, bounded, no internal error, the mutants reached its checks
    assert alive(pid) and east.alive()
    after = rss_kb(pid)
    assert after <= MAX_RSS_MB * 1024, (before, after)
    log = east.log()[mark:]
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]
    assert len(re.findall(r"dropped message from 192\.0\.2\.3", log)) > 100
    assert re.search(r"ISAKMP SA \S+ \S+ established with 192\.0\.2\.3", log)

    # the tunnel with west is untouched, and a new Quick Mode over it works
    still = [s for s in report_sas(east, phase=2) if s.name == "east-west"]
    assert [s.spis for s in still] == [tunnel.spis]
    wmark, emark = west.mark(), east.mark()
    west.fifo("t quick west-east")
    east.wait_log(r"peer 192\.0\.2\.1 deleted IPsec SA east-west", since=emark)
    west.fifo("c west-east")
    wait_established(west, east, since=[wmark, emark])
    new = [s for s in report_sas(east, phase=2) if s.name == "east-west"]
    assert len(new) == 1 and new[0].spis != tunnel.spis
