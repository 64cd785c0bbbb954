"""The FIFO user interface of isakmpd(8), on running daemons: c, t, T, S, Q,
D, bad commands, long lines and several writers."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import lab
import pytest
from test_daemon_support import (
    ESTABLISHED_P1,
    ESTABLISHED_P2,
    conf_for,
    sa_report_any,
    start_pair,
    started,
    wait_established,
    wait_gone,
)

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]

Factory = Callable[..., lab.Isakmpd]

PEER_DELETED_P2 = r"peer 192\.0\.2\.1 deleted IPsec SA east-west(?:-hosts)? "
PEER_DELETED_P1 = r"peer 192\.0\.2\.1 deleted ISAKMP SA "


def passive_pair(pair: lab.NetnsPair, factory: Factory, **kw: object
                 ) -> tuple[lab.Isakmpd, lab.Isakmpd]:
    """Both sides passive: nothing happens until a FIFO ``c``."""
    w, e = pair.west, pair.east
    return start_pair(pair, factory, west_conf=conf_for(w, e, active=False, **kw),
                      east_conf=conf_for(e, w, active=False, **kw), wait=False)


def quiet_for(d: lab.Isakmpd, pattern: str, seconds: float, since: int) -> bool:
    """True if ``pattern`` does not show up in the log for ``seconds``."""
    time.sleep(seconds)
    return re.search(pattern, d.log()[since:], re.MULTILINE) is None


# ------------------------------------------------------------------ c, S
def test_c_starts_a_passive_connection_and_S_reports_it(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    west, east = passive_pair(netns_pair, isakmpd_factory)
    time.sleep(1)
    assert "ISAKMP SA" not in west.log() and "ISAKMP SA" not in east.log()
    assert sa_report_any(west) == ""  # no SA yet
    west.fifo("c west-east")
    wait_established(west, east)
    m = re.search(r"IPsec SA west-east established .*IPSEC_ESP in ([0-9a-f]{8}) "
                  r"out ([0-9a-f]{8})", west.log())
    assert m
    spi_in, spi_out = m.groups()
    w = west.sa_report()
    assert re.search(r"^SA name: peer-east \(Phase 1/Initiator\)$", w, re.MULTILINE)
    assert re.search(r"^SA name: west-east \(Phase 2/Initiator\)$", w, re.MULTILINE)
    assert "src: 192.0.2.1 dst: 192.0.2.2" in w
    assert re.search(r"^icookie [0-9a-f]{16} rcookie [0-9a-f]{16}$", w, re.MULTILINE)
    assert re.search(r"^Lifetime: 1200 seconds$", w, re.MULTILINE)
    assert re.search(r"^Lifetime: 3600 seconds$", w, re.MULTILINE)
    assert re.search(r"^Flags 0x00000001$", w, re.MULTILINE)
    assert f"SPI 0: {spi_out} (out) {spi_in} (in)" in w
    assert "Transform: IPsec ESP" in w
    assert "Encryption algorithm: AES (CBC)" in w
    assert "Encryption key length: 16" in w
    assert "Authentication algorithm: HMAC-SHA1" in w
    assert "Encapsulation: tunnel" in w
    assert "Local ID: 10.1.0.0/24, Remote ID: 10.2.0.0/24" in w
    e = east.sa_report()
    assert re.search(r"^SA name: peer-west \(Phase 1/Responder\)$", e, re.MULTILINE)
    assert re.search(r"^SA name: east-west \(Phase 2/Responder\)$", e, re.MULTILINE)
    assert f"SPI 0: {spi_in} (out) {spi_out} (in)" in e  # the mirror image
    # the cookies of both reports are the same ISAKMP SA
    cw = re.search(r"^icookie (\w+) rcookie (\w+)$", w, re.MULTILINE)
    ce = re.search(r"^icookie (\w+) rcookie (\w+)$", e, re.MULTILINE)
    assert cw and ce and cw.groups() == ce.groups()


def test_c_of_an_unknown_connection_is_logged(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    west, east = passive_pair(netns_pair, isakmpd_factory)
    mark = west.mark()
    west.fifo("c no-such-connection")
    west.wait_log(r"no-such-connection", since=mark)
    west.fifo("c west-east")  # still works afterwards
    wait_established(west, east)


# ------------------------------------------------------------------ t, T
def test_t_tears_down_the_phase2_sa(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    west, east = passive_pair(netns_pair, isakmpd_factory)
    west.fifo("c west-east")
    wait_established(west, east)
    mark = east.mark()
    west.fifo("t west-east")
    east.wait_log(PEER_DELETED_P2, since=mark)
    report = west.sa_report()
    assert "(Phase 2/" not in report
    assert "SA name: peer-east (Phase 1/Initiator)" in report  # phase 1 stays
    assert "(Phase 2/" not in east.sa_report()
    # and it comes back on demand, over the same ISAKMP SA
    wmark, emark = west.mark(), east.mark()
    west.fifo("c west-east")
    wait_established(west, east, since=[wmark, emark])
    assert not re.search(ESTABLISHED_P1, west.log()[wmark:])
    # "t quick" is the same
    mark = east.mark()
    west.fifo("t quick west-east")
    east.wait_log(PEER_DELETED_P2, since=mark)
    assert "(Phase 2/" not in west.sa_report()


@pytest.mark.parametrize("key", ["peer-east", "192.0.2.2"])
def test_t_main_tears_down_the_isakmp_sa(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, key: str
) -> None:
    west, east = passive_pair(netns_pair, isakmpd_factory)
    west.fifo("c west-east")
    wait_established(west, east)
    mark = east.mark()
    west.fifo(f"t main {key}")
    east.wait_log(PEER_DELETED_P1, since=mark)
    assert "(Phase 1/" not in west.sa_report()
    assert "(Phase 1/" not in east.sa_report()
    # the IPsec SA outlives its ISAKMP SA, as in isakmpd
    assert "(Phase 2/Initiator)" in west.sa_report()


def test_T_tears_down_every_phase2_sa(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    west, east = passive_pair(netns_pair, isakmpd_factory, hosts=True)
    west.fifo("c west-east")
    west.fifo("c west-east-hosts")
    west.wait_log(r"IPsec SA west-east-hosts established", 20)
    west.wait_log(r"IPsec SA west-east established", 20)
    lab.wait_until(lambda: len(re.findall(ESTABLISHED_P2, east.log())) == 2, 10,
                   "east: two IPsec SAs")
    assert west.sa_report().count("(Phase 2/Initiator)") == 2
    mark = east.mark()
    west.fifo("T")
    lab.wait_until(lambda: len(re.findall(PEER_DELETED_P2, east.log()[mark:])) == 2,
                   10, "two DELETEs")
    report = west.sa_report()
    assert "(Phase 2/" not in report and "(Phase 1/Initiator)" in report
    assert "(Phase 2/" not in east.sa_report()


def test_t_of_nothing_changes_nothing(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    west, east = passive_pair(netns_pair, isakmpd_factory)
    west.fifo("c west-east")
    wait_established(west, east)
    before = west.sa_report()
    mark, emark = west.mark(), east.mark()
    west.fifo("t no-such-connection")
    west.fifo("t main no-such-peer")
    west.wait_log(r"no-such-peer", since=mark)
    assert re.search(r"no-such-connection", west.log()[mark:])
    assert quiet_for(east, r"deleted", 0.5, emark)
    after = west.sa_report()
    strip = re.compile(r"^(Soft|Hard) timeout in \d+ seconds$", re.MULTILINE)
    assert strip.sub("", before) == strip.sub("", after)


# ------------------------------------------------------------------ Q
def test_Q_shuts_down_like_SIGTERM(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    west, east = start_pair(netns_pair, isakmpd_factory)
    mark = east.mark()
    west.fifo("Q")
    assert west.wait(10) == 0
    east.wait_log(PEER_DELETED_P2, since=mark)
    east.wait_log(PEER_DELETED_P1, since=mark)
    assert wait_gone(west.pid_path) and wait_gone(west.fifo_path)


# ------------------------------------------------------------------ D
def test_D_changes_debug_levels(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    w, e = netns_pair.west, netns_pair.east
    east = isakmpd_factory(e, conf_for(e, w, active=False), args=["-n"])
    west = isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"], debug=0)
    mark = west.mark()
    west.fifo("D 7 50")
    west.fifo("D 10 30")
    west.fifo("c west-east")
    wait_established(west, east)
    west.wait_log(r"^\d{6}\.\d{6} Exch 40 .*peer vendor ID", since=mark)
    west.wait_log(r"^\d{6}\.\d{6} UI   30 ui_handle_command: 'c west-east'", since=mark)
    assert " Trpt " not in west.log()  # class 1 stayed at 0
    # D A 0: all off
    west.fifo("D A 0")
    west.wait_log(r"'D A 0'")
    mark = west.mark()
    west.fifo("S")
    west.fifo("t west-east")
    east.wait_log(PEER_DELETED_P2)
    assert quiet_for(west, r"^\d{6}\.\d{6} (?!Default)", 0.5, mark)
    # D A 70, then D T toggles everything to 0 and back
    west.fifo("D A 70")
    west.fifo("D T")
    west.wait_log(r"'D T'")
    mark = west.mark()
    west.fifo("S")
    assert quiet_for(west, r"ui_handle_command", 0.5, mark)
    west.fifo("D T")
    west.fifo("S")
    west.wait_log(r"UI   30 ui_handle_command: 'S'", since=mark)


@pytest.mark.parametrize("cmd", ["D 11 5", "D 3 100", "D x 5", "D 3", "D 3 x",
                                 "D", "D T T", "D -1 5"])
def test_bad_D_is_refused_and_changes_nothing(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, cmd: str
) -> None:
    w, e = netns_pair.west, netns_pair.east
    d = started(isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"],
                                debug=30))
    mark = d.mark()
    d.fifo(cmd)
    d.fifo("S")
    d.wait_log(r"ui_handle_command: 'S'", since=mark)
    new = d.log()[mark:]
    errors = [ln for ln in new.splitlines() if " Default " in ln]
    assert len(errors) == 1, new
    assert "D" in errors[0] and "Traceback" not in new
    assert d.alive()


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("cmd, words", [
    ("x", ["unrecognized", "'x'"]),
    ("hello world", ["unrecognized", "hello world"]),
    ("c", ["c name"]),
    ("t", ["t [main|quick]"]),
    ("t main", ["t [main|quick]"]),
    ("t bogus west-east", ["t [main|quick]"]),
    ("t main a b", ["t [main|quick]"]),
    ("S extra", []),
    ("\x01\x02\xff", []),
])  # fmt: skip
def test_bad_commands_give_one_log_line(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, cmd: str, words: list[str]
) -> None:
    west, east = passive_pair(netns_pair, isakmpd_factory)
    west.fifo("c west-east")
    wait_established(west, east)
    west.fifo("D 10 0")
    mark, emark = west.mark(), east.mark()
    west.fifo(cmd)
    west.fifo("D 10 30")
    west.fifo("S")
    west.wait_log(r"ui_handle_command: 'S'", since=mark)
    new = west.log()[mark:]
    errors = [ln for ln in new.splitlines() if " Default " in ln]
    assert len(errors) == (0 if cmd == "S extra" else 1), new
    for w in words:
        assert w in errors[0]
    assert west.alive() and "Traceback" not in new
    assert "(Phase 2/Initiator)" in west.sa_report()
    assert not re.search("deleted", east.log()[emark:])


def test_a_10k_garbage_line_is_handled(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """An overlong line is dropped whole: not even its tail (here a "Q" after
    8 KiB, which a reader in 4 KiB pieces could take as a command) acts."""
    w, e = netns_pair.west, netns_pair.east
    d = started(isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"],
                                debug=30))
    mark = d.mark()
    d.fifo("x" * 8192 + "Q")
    d.fifo("garbage " * 1300)
    d.fifo("S")
    d.wait_log(r"ui_handle_command: 'S'", since=mark)
    time.sleep(0.3)
    assert d.alive()
    new = d.log()[mark:]
    assert "shutting down" not in new and "Traceback" not in new
    errors = [ln for ln in new.splitlines() if " Default " in ln]
    assert len(errors) == 2, new
    assert all("longer than" in ln for ln in errors)
    # a long line split over several writes is still one line
    with open(d.fifo_path, "wb", buffering=0) as f:
        f.write(b"y" * 3000)
        time.sleep(0.2)
        f.write(b"y" * 3000 + b" Q")
        time.sleep(0.2)
        f.write(b"\nS\n")
    time.sleep(0.5)
    assert d.alive()


def test_fifo_keeps_working_after_writers_close(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    w, e = netns_pair.west, netns_pair.east
    d = isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"], debug=30)
    for i in range(4):
        d.result_path.unlink(missing_ok=True)
        subprocess.run(["sh", "-c", f'echo S > "{d.fifo_path}"'], check=True,
                       timeout=10)
        lab.wait_until(d.result_path.exists, 5, f"result file, round {i}")
    assert len(re.findall(r"ui_handle_command: 'S'", d.log())) == 4
    # several commands in one write, and one whose newline comes later
    mark = d.mark()
    with open(d.fifo_path, "w") as f:
        f.write("D 7 40\nD 8 40\nD 9")
        f.flush()
        d.wait_log(r"'D 8 40'", since=mark)
        time.sleep(0.2)
        assert "'D 9" not in d.log()[mark:]
        f.write(" 40\n")
    d.wait_log(r"'D 9 40'", since=mark)
    # a writer that closes in the middle of a line: the rest is dropped, and
    # not glued to the next writer's command
    mark = d.mark()
    with open(d.fifo_path, "w") as f:
        f.write("D 7 50\nt west-")
    d.wait_log(r"Default FIFO: 't west-' dropped: the writer closed before the end "
               r"of the line", since=mark)
    with open(d.fifo_path, "w") as f:
        f.write("east\n")
    d.wait_log(r"unrecognized command: 'east'", since=mark)
    assert "'t west-east'" not in d.log()[mark:]
    # and the FIFO still works afterwards
    d.result_path.unlink(missing_ok=True)
    subprocess.run(["sh", "-c", f'echo S > "{d.fifo_path}"'], check=True, timeout=10)
    lab.wait_until(d.result_path.exists, 5, "result file after a dropped line")


def test_established_lines_are_logged(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """The log lines the other tests wait for (sanity)."""
    west, east = start_pair(netns_pair, isakmpd_factory, debug=0)
    for d in (west, east):
        assert re.search(ESTABLISHED_P1, d.log())
        assert re.search(ESTABLISHED_P2, d.log())


# ------------------------------------------------------------------ C, d, r, R
def test_C_edits_the_running_configuration(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """C set/add/rm/rms/get; adding a connection to [Phase 2] Connections
    starts it about 5 s later."""
    west, _east = passive_pair(netns_pair, isakmpd_factory, hosts=True)
    started(west)

    def get(spec: str) -> str:
        west.result_path.unlink(missing_ok=True)
        west.fifo(f"C get {spec}")
        lab.wait_until(west.result_path.exists, 5, "result file")
        time.sleep(0.1)
        return west.result_path.read_text()

    assert get("[Phase 2]:Passive-connections") == "west-east,west-east-hosts\n"
    assert get("[phase 2]:no-such-tag") == "\n"
    west.fifo("C set [test]:Tag=one")
    assert get("[test]:tag") == "one\n"
    mark = west.mark()
    west.fifo("C set [test]:Tag=two")  # exists: needs force
    west.wait_log(r"Default FIFO: .*already set", since=mark)
    assert get("[test]:Tag") == "one\n"
    west.fifo("C set [test]:Tag=two force")
    assert get("[test]:Tag") == "two\n"
    west.fifo("C add [test]:List=a")
    west.fifo("C add [test]:List=b")
    west.fifo("C add [test]:List=a")
    assert get("[test]:List") == "a,b\n"
    west.fifo("C rmv [test]:List=a")
    assert get("[test]:List") == "b\n"
    west.fifo("C rm [test]:List")
    assert get("[test]:List") == "\n"
    west.fifo("C rms [test]")
    assert get("[test]:Tag") == "\n"
    # a new active connection comes up without any "c"
    mark = west.mark()
    t0 = time.monotonic()
    west.fifo("C add [Phase 2]:Connections=west-east")
    west.wait_log(r"IPsec SA west-east established", 20, since=mark)
    assert time.monotonic() - t0 >= 4
    # bad C commands: one line each, nothing changes
    for bad in ("C", "C set", "C set Tag=x", "C set [s]Tag=x", "C set [s]:Tag",
                "C frob [s]:t=v", "C rms [s]:t", "C get [s]:t=v", "C set []:t=v"):
        mark = west.mark()
        west.fifo(bad)
        west.fifo("S")
        west.wait_log(r"ui_handle_command: 'S'", since=mark)
        errors = [ln for ln in west.log()[mark:].splitlines() if " Default " in ln]
        assert len(errors) == 1, (bad, errors)
    assert west.alive()


def test_R_rereads_the_configuration_and_voids_C_edits(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    w, e = netns_pair.west, netns_pair.east
    d = started(isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"]))
    d.fifo("C set [test]:Tag=one")
    mark = d.mark()
    d.fifo("R")
    d.wait_log(r"configuration reloaded", since=mark)
    d.result_path.unlink(missing_ok=True)
    d.fifo("C get [test]:Tag")
    lab.wait_until(d.result_path.exists, 5, "result file")
    time.sleep(0.1)
    assert d.result_path.read_text() == "\n"


def test_d_deletes_an_sa_by_cookies(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    west, east = passive_pair(netns_pair, isakmpd_factory)
    west.fifo("c west-east")
    wait_established(west, east)
    report = west.sa_report()
    m = re.search(r"^icookie (\w{16}) rcookie (\w{16})$", report, re.MULTILINE)
    assert m
    cookies = m.group(1) + m.group(2)
    msgid = re.search(r"QUICK_MODE initiator \w+ \w+ (\w{8}): sending message 1",
                      west.log())
    assert msgid
    mark, emark = west.mark(), east.mark()
    west.fifo(f"d {cookies} 00000001")  # no such phase-2 SA
    west.fifo(f"d {cookies[:30]} -")  # malformed
    west.fifo(f"d {cookies} xyz")
    west.fifo("S")
    west.wait_log(r"ui_handle_command: 'S'", since=mark)
    assert len([ln for ln in west.log()[mark:].splitlines() if " Default " in ln]) == 3
    west.fifo(f"d {cookies} {msgid.group(1)}")
    east.wait_log(PEER_DELETED_P2, since=emark)
    assert "(Phase 2/" not in west.sa_report()
    west.fifo(f"d {cookies} -")
    east.wait_log(PEER_DELETED_P1, since=emark)
    assert sa_report_any(west) == ""


def test_M_passive_stops_and_M_active_starts_negotiating(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """FIFO M: passive drops what comes in and starts nothing (c is
    refused); active answers again and starts the active connections."""
    w, e = netns_pair.west, netns_pair.east
    east = started(isakmpd_factory(e, conf_for(e, w, active=False), args=["-n"],
                                   debug=30))
    mark = east.mark()
    east.fifo("M passive")
    east.wait_log(r"Default switching to passive mode", since=mark)
    east.fifo("c east-west")
    east.wait_log(r"Default connect east-west: passive mode; 'M active' first",
                  since=mark)
    west = started(isakmpd_factory(w, conf_for(w, e), args=["-n"]))
    east.wait_log(r"Mesg 30 passive mode: dropped \d+ bytes from 192\.0\.2\.1:500",
                  since=mark)
    assert not re.search(ESTABLISHED_P1, west.log())
    for bad in ("M", "M on", "M active passive"):
        east.fifo(bad)
    lab.wait_until(lambda: east.log()[mark:].count("FIFO: usage: M active|passive")
                   == 3, 5, "three usage errors")
    east.fifo("M active")
    east.wait_log(r"Default switching to active mode", since=mark)
    wait_established(west, east)  # west's retransmission is answered now
    assert "not supported" not in east.log()
    assert east.alive() and west.alive()


def test_result_and_report_files_are_private_and_errors_logged(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path
) -> None:
    west, _east = start_pair(netns_pair, isakmpd_factory)
    west.sa_report()
    west.report()
    for p in (west.result_path, west.report_path):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    w, e = netns_pair.west, netns_pair.east
    bad = tmp_path / "no-such-dir" / "file"
    d = started(isakmpd_factory(w, conf_for(w, e, active=False),
                                args=["-n", "-p", "1500", "-N", "14500",
                                      "--result-file", str(bad), "-R", str(bad)],
                                name="unwritable"))
    mark = d.mark()
    d.fifo("S")
    d.fifo("r")
    d.wait_log(rf"Default cannot write the report {re.escape(str(bad))}: No such file",
               since=mark)
    assert f"Default cannot write the result file {bad}: No such file" in d.log()
    assert d.alive()


FAULTY = """\
import sys

from isakmpd import cli, daemon, engine

_receive = engine.Engine.receive_datagram


def receive(self, data, *args, **kw):
    if data.startswith(b"BOOM"):
        raise RuntimeError("injected fault")
    return _receive(self, data, *args, **kw)


def teardown_all(self):
    raise RuntimeError("injected fault in T")


engine.Engine.receive_datagram = receive
daemon.Daemon.teardown_all = teardown_all
sys.exit(cli.main())
"""


def test_an_internal_error_is_logged_and_the_daemon_goes_on(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path
) -> None:
    """A bug met while handling a datagram or a FIFO command is logged in
    the daemon's format, with its traceback, and the daemon keeps working."""
    script = tmp_path / "faulty.py"
    script.write_text(FAULTY)
    w, e = netns_pair.west, netns_pair.east
    west = started(isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"],
                                   command=[sys.executable, str(script)]))
    lab.run(e, sys.executable, "-c",
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            f"s.sendto(b'BOOM' + bytes(40), ('{w.addr}', 500))")
    west.wait_log(r"^\d{6}\.\d{6} Default internal error on a message from "
                  r"192\.0\.2\.2:\d+; dropped$")
    west.wait_log(r"RuntimeError: injected fault")
    west.fifo("T")
    west.wait_log(r"Default FIFO: command 'T' failed")
    west.wait_log(r"RuntimeError: injected fault in T")
    assert west.alive()
    assert "Exception in callback" not in west.log()  # not asyncio's raw report
    # it still negotiates
    east = isakmpd_factory(e, conf_for(e, w, active=False), args=["-n"])
    west.fifo("c west-east")
    wait_established(west, east)
