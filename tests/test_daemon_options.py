"""isakmpd(8) options, checked on running daemons in network namespaces:
-d, -D, -f, -i, -n, -a, -p, -P, -N, -r, -4, -6, -T, Listen-on, the flags
that are only accepted, and going to the background without -d."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import lab
import pytest
from lab.util import pid_alive
from test_daemon_support import (
    ESTABLISHED_P1,
    LINE_RE,
    NATT_VIDS,
    PSK,
    UdpSocketInfo,
    conf_for,
    daemon_env,
    exchange_type,
    isakmp_messages,
    isakmpd_cmd,
    kill_pid,
    private_conf,
    sa_report_any,
    start_pair,
    udp_sockets,
    wait_established,
    wait_gone,
    xfrm,
)

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]

Factory = Callable[..., lab.Isakmpd]


def daemon_pids(d: lab.Isakmpd) -> set[int]:
    """The daemon's process and its child (the unprivileged one that holds
    the sockets when the daemon runs separated)."""
    assert d.pid is not None
    pids = {d.pid}
    try:
        text = Path(f"/proc/{d.pid}/task/{d.pid}/children").read_text()
        pids.update(int(p) for p in text.split())
    except OSError:
        pass
    return pids


def daemon_sockets(side: lab.Side, d: lab.Isakmpd) -> list[UdpSocketInfo]:
    """The UDP sockets of the daemon's processes (``ss -ulpn``)."""
    return [s for pid in sorted(daemon_pids(d)) for s in udp_sockets(side, pid)]


# ------------------------------------------------------------------ -d, -D
def test_foreground_log_lines_have_isakmpds_format(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    west, _east = start_pair(netns_pair, isakmpd_factory)
    assert west.stop() == 0
    lines = [ln for ln in west.log().splitlines() if ln]
    assert len(lines) > 10
    bad = [ln for ln in lines if not re.match(LINE_RE, ln)]
    assert bad == []
    text = "\n".join(lines)
    assert re.search(r"^\d{6}\.\d{6} Default isakmpd \S+ started", text, re.MULTILINE)
    assert re.search(r"^\d{6}\.\d{6} Exch 10 ", text, re.MULTILINE)
    assert re.search(r"^\d{6}\.\d{6} Trpt 70 received", text, re.MULTILINE)
    # the stamp is the local time of day
    first = lines[0][:6]
    assert 0 <= int(first[:2]) < 24 and int(first[2:4]) < 60


def test_debug_classes_and_levels(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """-D is repeatable, later values win, A= sets every class."""
    w, e = netns_pair.west, netns_pair.east
    east = isakmpd_factory(e, conf_for(e, w, active=False), debug=70,
                           args=["-n", "-D", "1=0", "-D", "10=0"])
    west = isakmpd_factory(w, conf_for(w, e), debug=0,
                           args=["-n", "-D", "7=10", "-D", "A=0", "-D", "7=10"])
    wait_established(west, east)
    west.fifo("S")
    east.fifo("S")
    west.wait_log(r"^\d{6}\.\d{6} Exch 10 ")
    east.wait_log(r"Exch 40 .*peer vendor ID")
    time.sleep(0.5)
    wl, el = west.log(), east.log()
    assert "Exch 40 " not in wl  # class 7 stays at 10
    assert not re.search(r" (Trpt|UI  |Sdep) \d\d ", wl)  # A=0 switched them off
    assert " Trpt " not in el and " UI   " not in el  # 1=0 and 10=0 after A=70
    assert re.search(r" Sdep 10 recorded \(-n\) 2 SAs", el)


def test_loglevel_in_the_configuration(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """[General] Loglevel applies when no -D is given."""
    w, e = netns_pair.west, netns_pair.east
    d = isakmpd_factory(e, conf_for(e, w, active=False, general="Loglevel=\tA=0,10=30"),
                        start=False)
    d.debug = 0
    d.argv = lambda: [  # type: ignore[method-assign]
        *isakmpd_cmd(), "-d", "-n", "-c", str(d.conf_path), "-f", str(d.fifo_path),
        "-i", str(d.pid_path), "--result-file", str(d.result_path)]
    d.start()
    d.fifo("S")
    d.wait_log(r"UI   30 ui_handle_command: 'S'")
    assert " Trpt " not in d.log()


# ------------------------------------------------------------------ -f, -i
def test_fifo_is_created_0600_and_pid_file_names_the_daemon(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    w, e = netns_pair.west, netns_pair.east
    # a stale FIFO from an earlier run is replaced
    os.mkfifo(Path(isakmpd_factory(w, "", start=False).fifo_path), 0o666)
    d = isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"])
    st = os.stat(d.fifo_path)
    assert stat.S_ISFIFO(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.getuid()
    assert d.pidfile_pid() == d.pid
    assert d.stop() == 0
    assert not d.pid_path.exists()
    assert not d.fifo_path.exists()


def test_fifo_path_taken_by_a_regular_file(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    w, e = netns_pair.west, netns_pair.east
    d = isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"], start=False)
    d.fifo_path.write_text("keep me\n")
    proc = lab.popen(w, d.argv(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     env=d.environ())
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode != 0
    assert f"{d.fifo_path} exists and is not a FIFO" in out.decode()
    assert d.fifo_path.read_text() == "keep me\n"


def test_fifo_dash_reads_commands_from_stdin(
    netns_pair: lab.NetnsPair, tmp_path: Path
) -> None:
    w, e = netns_pair.west, netns_pair.east
    conf = private_conf(tmp_path / "isakmpd.conf", conf_for(w, e, active=False))
    result, pid = tmp_path / "result", tmp_path / "pid"
    log = open(tmp_path / "log", "wb")  # noqa: SIM115
    proc = lab.popen(w, [*isakmpd_cmd("-d", "-n", "-c", str(conf), "-f", "-",
                                      "-i", str(pid), "--result-file", str(result),
                                      "-D", "A=30")],
                     stdin=subprocess.PIPE, stdout=log, stderr=log, env=daemon_env())
    try:
        assert proc.stdin is not None
        lab.wait_until(lambda: "started" in (tmp_path / "log").read_text(), 15,
                       "start")
        proc.stdin.write(b"S\n")
        proc.stdin.flush()
        lab.wait_until(result.exists, 5, "result file")
        assert not (tmp_path / "isakmpd.fifo").exists()
        proc.stdin.write(b"D 7 50\nQ\n")
        proc.stdin.flush()
        assert proc.wait(10) == 0
        text = (tmp_path / "log").read_text()
        assert "ui_handle_command: 'D 7 50'" in text
        assert not pid.exists()
    finally:
        lab.util.stop_process(proc)
        if proc.stdin:
            proc.stdin.close()
        log.close()


def test_stdin_closing_does_not_stop_the_daemon(
    netns_pair: lab.NetnsPair, tmp_path: Path
) -> None:
    w, e = netns_pair.west, netns_pair.east
    conf = private_conf(tmp_path / "isakmpd.conf", conf_for(w, e, active=False))
    log = open(tmp_path / "log", "wb")  # noqa: SIM115
    proc = lab.popen(w, isakmpd_cmd("-d", "-n", "-c", str(conf), "-f", "-",
                                    "-i", str(tmp_path / "pid")),
                     stdin=subprocess.PIPE, stdout=log, stderr=log, env=daemon_env())
    try:
        assert proc.stdin is not None
        lab.wait_until(lambda: "started" in (tmp_path / "log").read_text(), 15,
                       "start")
        proc.stdin.close()
        time.sleep(1)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        lab.util.stop_process(proc)
        log.close()


# ------------------------------------------------------------------ background
def test_without_d_the_daemon_goes_to_the_background(
    netns_pair: lab.NetnsPair, tmp_path: Path
) -> None:
    w, e = netns_pair.west, netns_pair.east
    conf = private_conf(tmp_path / "isakmpd.conf", conf_for(w, e, active=False))
    fifo, pidf, result = tmp_path / "fifo", tmp_path / "pid", tmp_path / "result"
    err = open(tmp_path / "stderr", "wb")  # noqa: SIM115
    proc = lab.popen(w, isakmpd_cmd("-n", "-c", str(conf), "-f", str(fifo),
                                    "-i", str(pidf), "--result-file", str(result)),
                     stdout=err, stderr=err, env=daemon_env())
    try:
        assert proc.wait(15) == 0  # the parent leaves at once
        lab.wait_until(lambda: fifo.exists() and pidf.exists(), 10, "pid file")
        pid = int(pidf.read_text().split()[0])
        assert pid != proc.pid and pid_alive(pid)
        assert pid in lab.netns.netns_pids(w.ns)
        # detached: a session of its own, no controlling terminal, cwd /
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        assert int(fields[3]) not in (os.getsid(0), proc.pid)  # a new session
        assert int(fields[4]) == 0  # no controlling terminal
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        # it answers the FIFO and stops cleanly on SIGTERM
        with open(fifo, "w") as f:
            f.write("S\n")
        lab.wait_until(result.exists, 5, "result file")
        kill_pid(pid)
        lab.wait_until(lambda: not pid_alive(pid), 10, "daemon exit")
        assert wait_gone(pidf) and wait_gone(fifo)
    finally:
        if pidf.exists():
            kill_pid(int(pidf.read_text().split()[0]), signal.SIGKILL)
        err.close()


def test_without_d_a_bad_config_fails_in_the_foreground(tmp_path: Path) -> None:
    conf = private_conf(tmp_path / "isakmpd.conf", "[General]\nnonsense\n")
    argv = isakmpd_cmd("-n", "-c", str(conf), "-f", str(tmp_path / "f"),
                       "-i", str(tmp_path / "pid"))
    proc = subprocess.run(argv, check=False, capture_output=True, text=True,
                          timeout=20, env=daemon_env())
    assert proc.returncode != 0
    assert f"{conf}:2:" in proc.stderr
    assert not (tmp_path / "pid").exists()


# ------------------------------------------------------------------ -n, -a
def test_n_leaves_the_kernel_alone(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    start_pair(netns_pair, isakmpd_factory)
    for side in (netns_pair.west, netns_pair.east):
        assert xfrm(side, "state") == ""
        assert xfrm(side, "policy") == ""


def test_without_n_flows_are_installed_and_a_skips_them(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """Control for -n, and -a: without -n the flows reach the kernel (also
    where it has no ESP); with -a only the IKE sockets' bypass policies."""
    west, east = start_pair(netns_pair, isakmpd_factory, west_args=[],
                            east_args=["-a"])
    west.wait_log(r"add_policy: out policy 10\.1\.0\.0/24 -> 10\.2\.0\.0/24")
    wpol, epol = xfrm(netns_pair.west, "policy"), xfrm(netns_pair.east, "policy")
    assert "dir out" in wpol and "dir fwd" in wpol and "tmpl src 192.0.2.1" in wpol
    assert "dir out" not in epol and "dir in " not in epol and "dir fwd" not in epol
    assert "socket in" in epol  # IKE itself bypasses IPsec
    assert west.stop() == 0 and east.stop() == 0
    for side in (netns_pair.west, netns_pair.east):
        assert "dir " not in xfrm(side, "policy")
        assert xfrm(side, "state") == ""


# ------------------------------------------------------------------ ports
def test_listen_port_and_local_port(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path
) -> None:
    """East listens on 2500 (-p); west's peer section says Port=2500, west
    listens on 1500 and initiates from 1501 (-P)."""
    w, e = netns_pair.west, netns_pair.east
    cap = netns_pair.capture(tmp_path / "ports.pcap", side="east", bpf="udp")
    west, east = start_pair(
        netns_pair, isakmpd_factory, east_args=["-n", "-p", "2500"],
        west_args=["-n", "-p", "1500", "-P", "1501"],
        west_conf=conf_for(w, e, port=2500), east_conf=conf_for(e, w, active=False,
                                                                port=1500))
    msgs = isakmp_messages(cap.stop())
    assert msgs
    ports = {(m.src, m.sport, m.dst, m.dport) for m in msgs}
    assert ports == {(w.addr, 1501, e.addr, 2500), (e.addr, 2500, w.addr, 1501)}
    assert {s.port for s in daemon_sockets(w, west)} == {1500, 1501, 4500}
    assert {s.port for s in daemon_sockets(e, east)} == {2500, 4500}
    # the responder keeps answering the initiator's source port: a DELETE
    # from east goes to 1501 as well
    report = east.sa_report()
    assert "src: 192.0.2.2 dst: 192.0.2.1" in report


def test_natt_port_option(netns_pair: lab.NetnsPair, isakmpd_factory: Factory) -> None:
    w, e = netns_pair.west, netns_pair.east
    d = isakmpd_factory(w, conf_for(w, e, active=False), args=["-n", "-N", "14500"])
    assert {s.port for s in daemon_sockets(w, d)} == {500, 14500}


def test_port_in_use_is_a_clear_error(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """A second daemon on the same port fails, naming address and port, and
    leaves the first one's pid file alone."""
    w, e = netns_pair.west, netns_pair.east
    first = isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"],
                            name="first")
    second = isakmpd_factory(w, conf_for(w, e, active=False),
                             args=["-n", "-i", str(first.pid_path)], name="second",
                             start=False)
    with pytest.raises(lab.LabError, match=r"exited \(1\)"):
        second.start(timeout=10)
    assert re.search(r"^\d{6}\.\d{6} Default cannot bind 192\.0\.2\.1 port 500: "
                     "Address already in use$", second.log(), re.MULTILINE)
    assert "Traceback" not in second.log()
    assert first.pidfile_pid() == first.pid
    assert first.alive()


def test_background_start_that_fails_exits_non_zero(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path
) -> None:
    """Without -d the command waits until the daemon is ready: a daemon that
    cannot bind its port makes it exit 1."""
    w, e = netns_pair.west, netns_pair.east
    isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"])
    conf = private_conf(tmp_path / "isakmpd.conf", conf_for(w, e, active=False))
    res = lab.run(w, *isakmpd_cmd("-n", "-c", str(conf), "-f", str(tmp_path / "f"),
                                  "-i", str(tmp_path / "pid")),
                  check=False, env=daemon_env(), timeout=20)
    assert res.returncode == 1
    assert "cannot bind 192.0.2.1 port 500" in res.stderr
    assert not (tmp_path / "pid").exists() and not (tmp_path / "f").exists()


# ------------------------------------------------------------------ -r
def _seeded_run(netns_pair: lab.NetnsPair, west: lab.Isakmpd, east: lab.Isakmpd,
                pcap: Path) -> list[bytes]:
    cap = netns_pair.capture(pcap, side="east", bpf="udp")
    east.start()
    west.start()
    wait_established(west, east)
    msgs = isakmp_messages(cap.stop())
    assert west.stop() == 0 and east.stop() == 0
    mm = [m.payload for m in msgs if exchange_type(m.payload) == 2
          and m.src == netns_pair.west.addr]
    assert len(mm) == 3
    return mm


def test_seed_makes_main_mode_reproducible(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path
) -> None:
    w, e = netns_pair.west, netns_pair.east
    east = isakmpd_factory(e, conf_for(e, w, active=False), args=["-n", "-r", "7"],
                           start=False)
    west = isakmpd_factory(w, conf_for(w, e), args=["-n", "-r", "11"], start=False)
    one = _seeded_run(netns_pair, west, east, tmp_path / "one.pcap")
    two = _seeded_run(netns_pair, west, east, tmp_path / "two.pcap")
    assert one[0] == two[0]  # message 1: cookie, SA, vendor IDs
    assert one[1] == two[1]  # message 3: KE, nonce, NAT-D
    west.args = ["-n", "-r", "12"]
    three = _seeded_run(netns_pair, west, east, tmp_path / "three.pcap")
    assert three[0][:8] != one[0][:8]
    assert three[1] != one[1]


# ------------------------------------------------------------------ families
def _families(side: lab.Side, d: lab.Isakmpd) -> set[str]:
    return {"6" if ":" in s.address or s.address == "*" else "4"
            for s in daemon_sockets(side, d)}


@pytest.mark.parametrize("flag, families", [("-4", {"4"}), ("-6", {"6"}),
                                            (None, {"4", "6"})])
def test_address_family_options(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, flag: str | None,
    families: set[str]
) -> None:
    w, e = netns_pair.west, netns_pair.east
    args = ["-n"] + ([flag] if flag else [])
    d = isakmpd_factory(w, conf_for(w, e, active=False, listen_on=False), args=args)
    socks = daemon_sockets(w, d)
    assert _families(w, d) == families
    assert {s.address for s in socks} <= {"0.0.0.0", "::", "*"}
    assert {s.port for s in socks} == {500, 4500}


def test_ipv6_only_daemons_negotiate_over_ipv6(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    w, e = netns_pair.west, netns_pair.east
    west, _east = start_pair(
        netns_pair, isakmpd_factory, west_args=["-n", "-6"], east_args=["-n", "-6"],
        west_conf=conf_for(w, e, ipv6=True, listen_on=False),
        east_conf=conf_for(e, w, ipv6=True, active=False, listen_on=False))
    report = west.sa_report()
    assert f"src: {w.addr6} dst: {e.addr6}" in report
    assert "(Phase 2/Initiator)" in report


def test_listen_on_binds_only_the_listed_addresses(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    w, e = netns_pair.west, netns_pair.east
    d = isakmpd_factory(w, conf_for(w, e, active=False, listen_on=False,
                                    general=f"Listen-on=\t{w.addr},{w.inner}"),
                        args=["-n"])
    socks = {(s.address, s.port) for s in daemon_sockets(w, d)}
    assert socks == {(w.addr, 500), (w.addr, 4500), (w.inner, 500), (w.inner, 4500)}


def test_listen_on_other_family_than_the_option_is_reported(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """-4 with only an IPv6 Listen-on address leaves nothing to listen on."""
    w, e = netns_pair.west, netns_pair.east
    d = isakmpd_factory(w, conf_for(w, e, active=False, listen_on=False,
                                    general=f"Listen-on=\t{w.addr6}"),
                        args=["-n", "-4"], start=False)
    with pytest.raises(lab.LabError, match=r"exited \(1\)"):
        d.start(timeout=10)
    assert "no address to listen on" in d.log()


# ------------------------------------------------------------------ -T
def _vids(msg: bytes) -> set[bytes]:
    """Vendor ID payloads (type 13) of a cleartext ISAKMP message."""
    out, nxt, off = set(), msg[16], 28
    while nxt and off + 4 <= len(msg):
        length = int.from_bytes(msg[off + 2:off + 4], "big")
        if length < 4:
            break
        if nxt == 13:
            out.add(msg[off + 4:off + length])
        nxt, off = msg[off], off + length
    return out


@pytest.mark.parametrize("no_natt", [False, True])
def test_T_sends_no_natt_vendor_ids(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path, no_natt: bool
) -> None:
    w, e = netns_pair.west, netns_pair.east
    cap = netns_pair.capture(tmp_path / "t.pcap", side="east", bpf="udp")
    t = ["-T"] if no_natt else []
    west, _east = start_pair(netns_pair, isakmpd_factory, west_args=["-n", *t],
                            east_args=["-n", *t])
    msgs = isakmp_messages(cap.stop())
    first = [m for m in msgs if exchange_type(m.payload) == 2][:2]
    assert [m.src for m in first] == [w.addr, e.addr]
    natt = set(NATT_VIDS.values())
    for m in first:
        if no_natt:
            assert not _vids(m.payload) & natt
        else:
            assert NATT_VIDS["rfc3947"] in _vids(m.payload)
    ports = {s.port for s in daemon_sockets(w, west)}
    assert ports == ({500} if no_natt else {500, 4500})
    if no_natt:
        assert "NAT-T" not in west.sa_report()


# ------------------------------------------------------------------ accepted
def test_flags_that_are_accepted(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path
) -> None:
    """-K, -L, -l, -R, -v and -N are taken; the daemon negotiates."""
    west, east = start_pair(
        netns_pair, isakmpd_factory,
        west_args=["-n", "-K", "-v", "-l", str(tmp_path / "w.pcap"), "-N", "4501"],
        east_args=["-n", "-K", "-L", "-l", str(tmp_path / "e.pcap"),
                   "-R", str(tmp_path / "east.report")])
    assert west.stop() == 0 and east.stop() == 0
    for d in (west, east):
        assert "Traceback" not in d.log()
        assert "not supported" not in d.log()
        assert re.search(r"Default packet capture to \S+ started", d.log())
    assert PSK not in west.log() + east.log()


def test_S_starts_passive_and_M_switches(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path
) -> None:
    """-S: nothing is started, answered or sent (isakmpd's high-availability
    standby); FIFO 'M active' starts the active connections; 'M passive'
    stops negotiating and keeps the SAs that are up."""
    w, e = netns_pair.west, netns_pair.east
    cap = netns_pair.capture(tmp_path / "s.pcap", side="west", bpf="udp")
    east = isakmpd_factory(e, conf_for(e, w, active=False), args=["-n"])
    west = isakmpd_factory(w, conf_for(w, e), args=["-n", "-S"], debug=30)
    west.wait_log(r"Default isakmpd \S+ started .*in passive mode \(-S\)")
    # a passive daemon does not answer either: east's attempt is dropped
    mark = east.mark()
    east.fifo("c east-west")
    west.wait_log(r"Mesg 30 passive mode: dropped \d+ bytes from 192\.0\.2\.2:500")
    west.fifo("c west-east")
    west.wait_log(r"connect west-east: passive mode; 'M active' first")
    time.sleep(1)
    assert not re.search(ESTABLISHED_P1, west.log() + east.log()[mark:])
    msgs = isakmp_messages(cap.stop())
    assert msgs and all(m.src == e.addr for m in msgs)  # west sent nothing
    assert sa_report_any(west) == ""
    # M active: west starts its connection
    west.fifo("M active")
    west.wait_log(r"Default switching to active mode")
    wait_established(west, east)
    report = west.sa_report()
    assert "SA name: west-east (Phase 2/Initiator)" in report
    # M passive: the SA stays, nothing new is negotiated or answered
    mark, emark = west.mark(), east.mark()
    west.fifo("M passive")
    west.wait_log(r"Default switching to passive mode", since=mark)
    west.fifo("M passive")
    west.wait_log(r"UI   20 already in passive mode", since=mark)
    west.fifo("M sideways")
    west.wait_log(r"FIFO: usage: M active\|passive", since=mark)
    east.fifo("t main peer-west")  # east's DELETE is dropped by west
    west.wait_log(r"passive mode: dropped \d+ bytes from 192\.0\.2\.2", since=mark)
    assert "SA name: west-east (Phase 2/Initiator)" in west.sa_report()
    assert "deleted" not in west.log()[mark:]
    # and shut down passive, it says goodbye to nobody
    assert west.stop() == 0
    assert "peer 192.0.2.1 deleted" not in east.log()[emark:]


def test_fifo_in_a_missing_folder_is_a_clear_error(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path
) -> None:
    w, e = netns_pair.west, netns_pair.east
    fifo = tmp_path / "no-such-dir" / "fifo"
    d = isakmpd_factory(w, conf_for(w, e, active=False), args=["-n", "-f", str(fifo)],
                        start=False)
    proc = lab.popen(w, d.argv(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     env=d.environ())
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert f"Default {fifo}: FIFO: No such file or directory" in out.decode()
    assert not d.pid_path.exists()


@pytest.mark.parametrize("separated", [True, False], ids=["privsep", "no-privsep"])
def test_a_pid_file_that_cannot_be_written_is_fatal(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path,
    separated: bool
) -> None:
    w, e = netns_pair.west, netns_pair.east
    nowhere = tmp_path / "no-such-dir" / "isakmpd.pid"
    extra = [] if separated else ["--no-privsep"]
    d = isakmpd_factory(w, conf_for(w, e, active=False),
                        args=["-n", *extra, "-i", str(nowhere)], start=False)
    proc = lab.popen(w, d.argv(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     env=d.environ())
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out.decode()
    assert f"cannot write pid file {nowhere}" in out.decode()
    assert not d.fifo_path.exists()
