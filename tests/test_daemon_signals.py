"""Signals, as isakmpd(8) describes them: SIGTERM/SIGINT shut down cleanly
(DELETE for the phase-2 then the phase-1 SAs, unless Delete-SAs=no), SIGHUP
re-reads the configuration and keeps the SAs, SIGUSR1 writes the report."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from pathlib import Path

import lab
import pytest
from test_daemon_support import (
    ESTABLISHED_P2,
    PSK,
    conf_for,
    exchange_type,
    isakmp_messages,
    sa_report_any,
    start_pair,
    wait_established,
    wait_gone,
)

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]

Factory = Callable[..., lab.Isakmpd]

PEER_DELETED_P2 = r"peer 192\.0\.2\.1 deleted IPsec SA east-west "
PEER_DELETED_P1 = r"peer 192\.0\.2\.1 deleted ISAKMP SA "
INFO = 5


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_with_deletes(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path, sig: int
) -> None:
    w, _e = netns_pair.west, netns_pair.east
    west, east = start_pair(netns_pair, isakmpd_factory)
    cap = netns_pair.capture(tmp_path / "stop.pcap", side="east", bpf="udp")
    mark = east.mark()
    west.signal(sig)
    assert west.wait(10) == 0
    east.wait_log(PEER_DELETED_P1, since=mark)
    msgs = isakmp_messages(cap.stop())
    info = [m for m in msgs if exchange_type(m.payload) == INFO and m.src == w.addr]
    assert len(info) == 2  # one DELETE for ESP, one for the ISAKMP SA
    assert all(m.payload[19] & 1 for m in info)  # encrypted
    log = east.log()[mark:]
    p2, p1 = re.search(PEER_DELETED_P2, log), re.search(PEER_DELETED_P1, log)
    assert p2 and p1 and p2.start() < p1.start()  # phase 2 first
    assert wait_gone(west.pid_path) and wait_gone(west.fifo_path)
    assert "shutting down" in west.log()
    assert sa_report_any(east) == ""  # east has nothing left
    assert east.alive()


def test_delete_sas_no_suppresses_the_deletes(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path
) -> None:
    w, e = netns_pair.west, netns_pair.east
    west, east = start_pair(netns_pair, isakmpd_factory,
                            west_conf=conf_for(w, e, general="Delete-SAs=\tno"))
    cap = netns_pair.capture(tmp_path / "stop.pcap", side="east", bpf="udp")
    mark = east.mark()
    west.signal(signal.SIGTERM)
    assert west.wait(10) == 0
    msgs = isakmp_messages(cap.stop())
    assert [m for m in msgs if m.src == w.addr] == []
    assert "deleted" not in east.log()[mark:]
    assert "(Phase 2/Responder)" in east.sa_report()
    assert not west.pid_path.exists() and not west.fifo_path.exists()


# ------------------------------------------------------------------ SIGHUP
def test_sighup_rereads_the_configuration_and_keeps_the_sas(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    w, e = netns_pair.west, netns_pair.east
    west, east = start_pair(netns_pair, isakmpd_factory,
                            east_conf=conf_for(e, w, active=False, hosts=True))
    before = west.sa_report()
    cookies = re.search(r"^icookie .*$", before, re.MULTILINE)
    assert cookies
    # the new configuration has a second (passive) connection
    text = conf_for(w, e, hosts=True).replace(
        "Connections=\twest-east,west-east-hosts",
        "Connections=\twest-east\nPassive-connections=\twest-east-hosts")
    assert "Passive-connections=\twest-east-hosts" in text
    west.write_config(text)
    wmark, emark = west.mark(), east.mark()
    west.fifo("c west-east-hosts")  # not known yet
    west.wait_log(r"west-east-hosts", since=wmark)
    assert not re.search(ESTABLISHED_P2, west.log()[wmark:])
    west.signal(signal.SIGHUP)
    west.wait_log(r"configuration reloaded", since=wmark)
    west.fifo("c west-east-hosts")
    west.wait_log(r"IPsec SA west-east-hosts established", 20, since=wmark)
    after = west.sa_report()
    assert cookies.group(0) in after  # the same ISAKMP SA
    assert "SA name: west-east (Phase 2/Initiator)" in after
    assert "SA name: west-east-hosts (Phase 2/Initiator)" in after
    assert "deleted" not in east.log()[emark:]


@pytest.mark.parametrize("breakage", ["bad line", "readable by others", "missing"])
def test_sighup_with_a_broken_config_keeps_the_old_one(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, breakage: str
) -> None:
    west, east = start_pair(netns_pair, isakmpd_factory)
    good = west.conf_path.read_text()
    if breakage == "bad line":
        west.write_config(good.replace("[Phase 2]", "[Phase 2]\nno equals sign here"))
    elif breakage == "readable by others":
        west.conf_path.chmod(0o644)
    else:
        west.conf_path.unlink()
    mark, emark = west.mark(), east.mark()
    west.signal(signal.SIGHUP)
    m = west.wait_log(r"^\d{6}\.\d{6} Default reload failed, keeping the running "
                      r"configuration: (.*)$", since=mark)
    why = m.group(1)
    assert why.startswith(f"{west.conf_path}")
    if breakage == "bad line":
        assert re.match(rf"{re.escape(str(west.conf_path))}:\d+: ", why)
    elif breakage == "readable by others":
        assert "chmod 600" in why
    else:
        assert "No such file" in why
    assert west.alive()
    # the running configuration still works: tear down and bring back
    west.fifo("t west-east")
    east.wait_log(PEER_DELETED_P2, since=emark)
    mark = west.mark()
    west.fifo("c west-east")
    wait_established(west, since=[mark])
    # and a fixed file is taken on the next SIGHUP
    west.write_config(good)
    mark = west.mark()
    west.signal(signal.SIGHUP)
    west.wait_log(r"configuration reloaded", since=mark)


# ------------------------------------------------------------------ SIGUSR1
def test_sigusr1_writes_the_report(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    west, _east = start_pair(netns_pair, isakmpd_factory)
    text = west.report_by_signal()
    lines = text.splitlines()
    assert lines and all(re.match(r"^\d{6}\.\d{6} Report> ", ln) for ln in lines)
    assert re.search(r"Report> sa_report: .*peer-east", text)
    assert re.search(r"Report> sa_report: .*west-east", text)
    assert re.search(r"Report> connection_report: ", text)
    assert re.search(r"Report> timer_report: event \S+ scheduled in \d+ seconds", text)
    # the configuration, without the pre-shared key
    assert re.search(r"Report> \[peer-east\]", text)
    assert PSK not in text
    assert west.alive()
    # the FIFO "r" does the same
    assert "Report> sa_report:" in west.report()


def test_sighup_starts_a_new_active_connection(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """A connection added to [Phase 2] Connections comes up on SIGHUP, well
    before the next connection check (60 s)."""
    w, e = netns_pair.west, netns_pair.east
    west, _east = start_pair(netns_pair, isakmpd_factory,
                            east_conf=conf_for(e, w, active=False, hosts=True))
    west.write_config(conf_for(w, e, hosts=True))
    mark = west.mark()
    west.signal(signal.SIGHUP)
    west.wait_log(r"IPsec SA west-east-hosts established", 10, since=mark)
    # the established one is neither renegotiated nor dropped
    assert not re.search(r"IPsec SA west-east established", west.log()[mark:])
