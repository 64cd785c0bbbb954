"""Hostile files and FIFO commands at a running daemon with a tunnel up: a
truncated, binary or absurd isakmpd.conf or isakmpd.policy given to a reload
(SIGHUP), and FIFO commands with absurd lengths or bytes. Each must give one
clear error and leave the daemon as it was: alive, its SAs in place, the
running configuration and policy still used (a new Quick Mode succeeds).
"""

from __future__ import annotations

import os
import random
import re
import signal

import lab
import pytest
from test_daemon_support import conf_for, start_pair, wait_established
from test_interop_strongswan import report_sas
from test_policy_daemon import ALLOW, policy_text

pytestmark = [pytest.mark.netns, pytest.mark.timeout(150)]

RELOAD_FAILED = r"reload failed, keeping the running configuration: (.*)$"
POLICY_FAILED = r"policy not reloaded, keeping the running one: (.*)$"


def hostile_confs(good: str) -> dict[str, bytes]:
    rng = random.Random(5)
    g = good.encode()
    return {
        "truncated in a section name": g[:g.index(b"[Phase 2]") + 4],
        "truncated in a tag": g[:g.index(b"Passive-connections") + 7],
        "binary": rng.randbytes(4096),
        "NUL bytes": g.replace(b"[Phase 2]", b"[Pha\0se 2]"),
        "a 2 MB line without =": g + b"\n[x]\n" + b"A" * 2_000_000 + b"\n",
        "absurd Max-Half-Open": g.replace(b"[General]", b"[General]\nMax-Half-Open=-5"),
        "Exchange-max-time 0": g.replace(
            b"[General]", b"[General]\nExchange-max-time=0"),
        "Retransmits not a number": g.replace(
            b"[General]", b"[General]\nRetransmits=9x9"),
    }


def hostile_policies(good: str) -> dict[str, bytes]:
    rng = random.Random(6)
    g = good.encode()
    return {
        "truncated": g[:len(g) // 2],
        "binary": rng.randbytes(2048),
        "unterminated string": g.replace(b'"aes"', b'"aes'),
        "deep nesting": g.replace(b"->", b"&& " + b"(" * 3000 + b"1" + b")" * 3000
                                  + b" ->"),
    }


FIFO = {
    "C set with a 1000-byte value": "C set [General]:Retransmits=" + "9" * 1000,
    "C set of a 900-byte section": "C set [" + "S" * 900 + "]:x=y",
    "c of a 1000-byte name": "c " + "n" * 1000,
    "t main of a 1000-byte name": "t main " + "p" * 1000,
    "D with absurd numbers": "D 99999999999999999999=99999999999999999",
    "D of class -1": "D -1=5",
    "a 100 KB line": "x" * 100_000,
}


def _write(path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _same_sas(d: lab.Isakmpd, before: list) -> None:
    assert d.alive()
    now = [(s.name, s.phase, s.icookie, s.spis) for s in report_sas(d)]
    assert now == before


def test_hostile_files_and_fifo_commands_leave_the_daemon_as_it_was(
        netns_pair: lab.NetnsPair, isakmpd_factory, tmp_path) -> None:
    w, e = netns_pair.west, netns_pair.east
    pol_path = tmp_path / "isakmpd.policy"
    good_policy = policy_text(ALLOW)
    _write(pol_path, good_policy.encode())
    good = conf_for(e, w, active=False, general=f"Policy-file=\t{pol_path}")
    west, east = start_pair(netns_pair, isakmpd_factory, east_conf=good)
    before = [(s.name, s.phase, s.icookie, s.spis) for s in report_sas(east)]
    assert len(before) == 2

    for what, data in hostile_confs(good).items():
        _write(east.conf_path, data)
        mark = east.mark()
        east.signal(signal.SIGHUP)
        m = east.wait_log(RELOAD_FAILED, since=mark)
        assert m.group(1).startswith(str(east.conf_path)), (what, m.group(0))
        assert len(m.group(0)) < 600, (what, m.group(0))  # said briefly
        _same_sas(east, before)
    # bytes that are not UTF-8 in a tag and a value: taken as they are (as
    # isakmpd takes them), or refused; either way the SAs stay
    _write(east.conf_path, good.encode().replace(b"[Phase 2]",
                                                 b"[Phase 2]\n\xff\xfe=\xc3\x28"))
    mark = east.mark()
    east.signal(signal.SIGHUP)
    east.wait_log(r"configuration reloaded|" + RELOAD_FAILED, since=mark)
    _same_sas(east, before)
    _write(east.conf_path, good.encode())

    for what, data in hostile_policies(good_policy).items():
        _write(pol_path, data)
        mark = east.mark()
        east.signal(signal.SIGHUP)
        m = east.wait_log(POLICY_FAILED, since=mark)
        assert str(pol_path) in m.group(1) or "line" in m.group(1), (what, m.group(0))
        _same_sas(east, before)
    _write(pol_path, good_policy.encode())

    for what, cmd in FIFO.items():
        mark = east.mark()
        east.fifo(cmd)
        # an error, or what the command did (a 900-byte section name is a
        # name like another), in a line of its own
        east.wait_log(r"^\S+ (?:Default|UI   \d\d (?!ui_handle_command)).*$",
                      since=mark)
        _same_sas(east, before)
    # bytes that are no text at all
    mark = east.mark()
    with open(east.fifo_path, "wb") as f:
        f.write(b"\xff\xfe\x00\x80 binary \x00\n" + bytes(range(256)) + b"\n")
    east.wait_log(r"Default .*FIFO|Default .*command", since=mark)
    _same_sas(east, before)
    log = east.log()
    assert "Traceback" not in log and "internal error" not in log

    # the running configuration and policy still work: a new Quick Mode
    wmark, emark = west.mark(), east.mark()
    west.fifo("t quick west-east")
    east.wait_log(r"peer 192\.0\.2\.1 deleted IPsec SA east-west", since=emark)
    west.fifo("c west-east")
    wait_established(west, east, since=[wmark, emark])
    assert [s.name for s in report_sas(east, phase=2)] == ["east-west"]
    assert not re.search(r"configuration reloaded", east.log()[emark:])
