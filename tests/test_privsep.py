"""Privilege separation on running daemons: the child is unprivileged and
locked in an empty directory, negotiations still work, signals reach the
child, and when the child dies the parent removes what it installed.

The daemons run as root in the lab's namespaces, so they separate unless
told ``--no-privsep``. (tests/test_privsep_monitor.py drives the parent
directly with a fake child.)"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import lab
import pytest
from isakmpd.privsep import RUN_EMPTY, VAR_EMPTY
from test_daemon_support import (
    LINE_RE,
    PSK,
    conf_for,
    start_pair,
    started,
    wait_gone,
    xfrm,
)

pytestmark = [pytest.mark.netns, pytest.mark.timeout(180)]

Factory = Callable[..., lab.Isakmpd]
PEER_DELETED_P1 = r"peer 192\.0\.2\.1 deleted ISAKMP SA "
PEER_DELETED_P2 = r"peer 192\.0\.2\.1 deleted IPsec SA "


def child_of(d: lab.Isakmpd, timeout: float = 10.0) -> int:
    """The PID of the daemon's unprivileged child."""
    assert d.pid is not None
    path = Path(f"/proc/{d.pid}/task/{d.pid}/children")

    def probe() -> int | None:
        pids = path.read_text().split()
        return int(pids[0]) if len(pids) == 1 else None

    return lab.wait_until(probe, timeout, f"{d.name}: its child")


def status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def ids(text: str) -> set[int]:
    return {int(x) for x in text.split()}


# ------------------------------------------------------------------ the child
def test_child_is_unprivileged_and_locked_in(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    w, e = netns_pair.west, netns_pair.east
    d = started(isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"]))
    child = child_of(d)
    st, parent = status(child), status(d.pid)
    # the child: no root in any of its ids, no groups, no capabilities
    assert 0 not in ids(st["Uid"]) and 0 not in ids(st["Gid"])
    assert st["Groups"] == ""
    assert int(st["CapEff"], 16) == int(st["CapPrm"], 16) == 0
    assert st["NoNewPrivs"] == "1"
    assert ids(parent["Uid"]) == {0}
    # locked in an empty directory: /etc/shadow and /etc/isakmpd do not
    # exist for it
    root = os.readlink(f"/proc/{child}/root")
    assert root in (VAR_EMPTY, RUN_EMPTY)
    assert os.readlink(f"/proc/{child}/cwd") == root
    assert os.listdir(f"/proc/{child}/root") == []
    for path in ("etc/shadow", "etc/passwd", "etc/isakmpd", "proc", "dev"):
        assert not os.path.lexists(f"/proc/{child}/root/{path}")
    with pytest.raises(FileNotFoundError):
        open(f"/proc/{child}/root/etc/shadow")  # noqa: SIM115
    # the pid file names the parent, which says who the child is
    assert d.pidfile_pid() == d.pid
    d.wait_log(rf"Default monitor: child {child} runs as \S+ \(uid \d+, gid \d+\) in "
               rf"{re.escape(root)} \[priv\]$")
    # the parent's lines end in " [priv]", the child's do not
    lines = d.log().splitlines()
    assert all(re.match(LINE_RE, ln) for ln in lines)
    assert any(ln.endswith(" [priv]") for ln in lines)
    assert not any("[priv]" in ln for ln in lines if "listening on" in ln)


def test_the_child_cannot_open_what_it_may_not(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """Asked (on the FIFO) to write where it may not, the child cannot: the
    parent refuses and says why; /var/run is isakmpd's own area."""
    w, e = netns_pair.west, netns_pair.east
    d = started(isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"]))
    mark = d.mark()
    forbidden = f"/etc/isakmpd-privsep-test-{os.getpid()}.pcap"
    d.fifo(f"p on={forbidden}")
    d.wait_log(rf"Default packet capture: cannot open {re.escape(forbidden)}: "
               r".*not a path the daemon may have written \(privilege separation\)",
               since=mark)
    assert re.search(rf"monitor: refused GET_FD: {re.escape(forbidden)}: .*\[priv\]",
                     d.log()[mark:])
    assert not os.path.exists(forbidden)
    d.fifo(f"k on=/root/isakmpd-privsep-test-{os.getpid()}")
    d.wait_log(r"key export: cannot make /root/isakmpd-privsep-test-\d+: .*privilege "
               r"separation", since=mark)
    assert not os.path.exists(f"/root/isakmpd-privsep-test-{os.getpid()}")
    allowed = Path(f"/var/run/isakmpd-privsep-test-{os.getpid()}.pcap")
    try:
        d.fifo(f"p on={allowed}")
        d.wait_log(r"packet capture to \S+ started", since=mark)
        st = allowed.stat()
        assert st.st_uid == 0 and st.st_mode & 0o777 == 0o600
        d.fifo("p off")
        d.wait_log(r"packet capture to \S+ stopped", since=mark)
    finally:
        allowed.unlink(missing_ok=True)
    assert d.alive() and "Traceback" not in d.log()


def test_no_privsep_runs_one_process(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    w, e = netns_pair.west, netns_pair.east
    d = started(isakmpd_factory(w, conf_for(w, e, active=False),
                                args=["-n", "--no-privsep"]))
    assert Path(f"/proc/{d.pid}/task/{d.pid}/children").read_text().split() == []
    assert ids(status(d.pid)["Uid"]) == {0}
    assert "[priv]" not in d.log() and "monitor:" not in d.log()
    assert d.stop() == 0


def test_privsep_user_option(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    w, e = netns_pair.west, netns_pair.east
    d = started(isakmpd_factory(w, conf_for(w, e, active=False),
                                args=["-n", "--privsep-user", "nobody"]))
    assert "runs as nobody" in d.log()
    assert d.stop() == 0
    bad = isakmpd_factory(w, conf_for(w, e, active=False), name="bad", start=False,
                          args=["-n", "--privsep-user", "no-such-user-here"])
    with pytest.raises(lab.LabError, match=r"exited \(1\)"):
        bad.start(timeout=15)
    assert "privilege separation: no user no-such-user-here" in bad.log()
    root = isakmpd_factory(w, conf_for(w, e, active=False), name="root", start=False,
                           args=["-n", "--privsep-user", "root"])
    with pytest.raises(lab.LabError, match=r"exited \(1\)"):
        root.start(timeout=15)
    assert "user root has uid or gid 0" in root.log()


def test_not_started_as_root_runs_unseparated(
    netns_pair: lab.NetnsPair, tmp_path: Path
) -> None:
    """A daemon started by another user cannot separate: it says so once
    and runs as one process (unprivileged ports, -n)."""
    lab.require_tool("setpriv")
    w, e = netns_pair.west, netns_pair.east
    work = Path(tempfile.mkdtemp(prefix="lab-isakmpd-nobody-"))  # /tmp: 1777
    d = lab.Isakmpd(w, conf_for(w, e, active=False), workdir=work, name="nobody",
                    command=["setpriv", "--reuid=65534", "--regid=65534",
                             "--clear-groups", sys.executable, "-m", "isakmpd"],
                    args=["-n", "-p", "1500", "-N", "14500"])
    for p in (work, d.conf_path):
        os.chown(p, 65534, 65534)
    try:
        started(d.start(timeout=30), timeout=30)
        assert ids(status(d.pid)["Uid"]) == {65534}
        assert Path(f"/proc/{d.pid}/task/{d.pid}/children").read_text().split() == []
        assert ("Default not started as root: running without privilege "
                "separation") in d.log()
        assert "[priv]" not in d.log()
        assert d.stop() == 0
    finally:
        d.stop()
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------ negotiating
def test_separated_daemons_negotiate_install_and_delete(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """Without -n: the parent installs what the child negotiated; SIGTERM
    to the parent sends the DELETEs and leaves the kernel empty."""
    w = netns_pair.west
    esp = netns_pair.kernel_has_esp()  # before: the probe flushes west's SAs
    west, east = start_pair(netns_pair, isakmpd_factory, west_args=[],
                            east_args=[])
    policies = xfrm(w, "policy")
    assert "src 10.1.0.0/24 dst 10.2.0.0/24" in policies
    assert "tmpl src 192.0.2.1 dst 192.0.2.2" in policies
    if esp:
        assert "proto esp" in xfrm(w, "state")
    mark = east.mark()
    west.signal(signal.SIGTERM)
    assert west.wait(15) == 0
    east.wait_log(PEER_DELETED_P2, since=mark)
    east.wait_log(PEER_DELETED_P1, since=mark)
    assert xfrm(w, "policy") == "" and xfrm(w, "state") == ""
    assert wait_gone(west.pid_path) and wait_gone(west.fifo_path)
    assert "removing what the child left" not in west.log()
    assert PSK not in west.log()


def test_signals_to_the_parent_reach_the_child(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path
) -> None:
    """SIGUSR1 writes the child's report; SIGHUP reloads, and the parent
    re-reads the configuration for the paths it may hand over (a policy
    file in a new folder)."""
    w, e = netns_pair.west, netns_pair.east
    west, east = start_pair(netns_pair, isakmpd_factory)
    report = west.report_by_signal()
    assert re.search(r"^\d{6}\.\d{6} Report> ", report, re.MULTILINE)
    assert "Report> transport_report: udp_report: fd" in report
    folder = tmp_path / "new-policy"
    folder.mkdir()
    policy = folder / "isakmpd.policy"
    policy.write_text('KeyNote-Version: 2\nAuthorizer: "POLICY"\n'
                      'Conditions: app_domain == "IPsec policy" -> "true";\n')
    policy.chmod(0o600)
    west.write_config(conf_for(w, e, general=f"Policy-file=\t{policy}"))
    mark = west.mark()
    west.signal(signal.SIGHUP)
    west.wait_log(r"Default configuration reloaded from", since=mark)
    west.wait_log(rf"policy: \d+ assertions? from {re.escape(str(policy))}",
                  since=mark)
    assert "refused" not in west.log()[mark:]
    assert west.alive() and east.alive()


def test_child_killed_the_parent_cleans_up_and_fails(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    w = netns_pair.west
    west, east = start_pair(netns_pair, isakmpd_factory, west_args=[],
                            east_args=[])
    assert "src 10.1.0.0/24 dst 10.2.0.0/24" in xfrm(w, "policy")
    child = child_of(west)
    os.kill(child, signal.SIGKILL)
    assert west.wait(15) != 0
    west.wait_log(rf"the child \(pid {child}\) was killed by signal 9 \[priv\]")
    assert re.search(r"removing what the child left in the kernel: \d+ SAs, \d+ SPIs, "
                     r"[1-9]\d* policies \[priv\]", west.log())
    assert xfrm(w, "policy") == "" and xfrm(w, "state") == ""
    assert wait_gone(west.pid_path) and wait_gone(west.fifo_path)
    assert east.alive()


def test_parent_killed_the_child_exits(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """Without the parent nothing can be installed: the child stops."""
    w, e = netns_pair.west, netns_pair.east
    d = started(isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"]))
    child = child_of(d)
    os.kill(d.pid, signal.SIGKILL)
    d.wait()
    lab.wait_until(lambda: not Path(f"/proc/{child}").exists()
                   or status(child).get("State", "").startswith("Z"), 10,
                   "the child to exit")
    assert "the privileged parent is gone; exiting" in d.log()


def test_detached_separated_daemon_starts_and_stops(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path
) -> None:
    """Without -d the command returns once the child is ready; the pid
    file names the parent, and SIGTERM to it stops both."""
    w, e = netns_pair.west, netns_pair.east
    d = isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"], start=False)
    argv = [a for a in d.argv() if a != "-d"]
    with open(tmp_path / "stderr", "wb") as err:
        proc = lab.popen(w, argv, stdout=err, stderr=err, env=d.environ())
        assert proc.wait(30) == 0, (tmp_path / "stderr").read_text()
    pid = d.pidfile_pid()
    assert pid is not None
    child = int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])
    assert 0 not in ids(status(child)["Uid"])
    os.kill(pid, signal.SIGTERM)
    lab.wait_until(lambda: not d.pid_path.exists(), 15, "pid file removed")
    lab.wait_until(lambda: not Path(f"/proc/{child}").exists(), 15, "child gone")


def test_stdin_commands_reach_a_separated_child(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """-f -: the child reads the inherited standard input."""
    w, e = netns_pair.west, netns_pair.east
    d = isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"], start=False)
    argv = [a if a != str(d.fifo_path) else "-" for a in d.argv()]
    proc = lab.popen(w, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, env=d.environ())
    try:
        assert proc.stdin is not None
        time.sleep(2)
        proc.stdin.write(b"D 7 55\nQ\n")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.decode()
    assert proc.returncode == 0, text
    assert "ui_handle_command: 'D 7 55'" in text and "shutting down" in text
    assert "[priv]" in text


def test_without_chroot_capability_runs_unseparated(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    """Root without CAP_SYS_CHROOT (a confining service manager) cannot lock
    a child in: the daemon says why and runs as one process."""
    lab.require_tool("setpriv")
    w, e = netns_pair.west, netns_pair.east
    d = started(isakmpd_factory(
        w, conf_for(w, e, active=False), args=["-n"],
        command=["setpriv", "--bounding-set=-sys_chroot", sys.executable, "-m",
                 "isakmpd"]))
    assert re.search(r"Default privilege separation is not possible here \(.*"
                     r"Operation not permitted.*\): running as one process", d.log())
    assert Path(f"/proc/{d.pid}/task/{d.pid}/children").read_text().split() == []
    assert "[priv]" not in d.log()
    assert d.stop() == 0
