"""Two network namespaces, west and east, joined by a veth pair.

Layout (the same in every pair)::

    west                                   east
    lo   10.1.0.1/32 (net 10.1.0.0/24)     lo   10.2.0.1/32 (net 10.2.0.0/24)
    veth 192.0.2.1/24, 2001:db8::1/64  <-> veth 192.0.2.2/24, 2001:db8::2/64

Names are unique per pair: namespaces ``lab-<pid36>-<n36>-west`` / ``-east``,
interfaces ``lab-<pid36>-<n36>w`` / ``e`` (at most 15 characters), where
``pid36`` is the creating process's PID and ``n36`` a per-process counter,
both in base 36. :func:`cleanup_stale` deletes pairs whose creating process
is gone (a crashed run) and nothing else.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .util import LabError, pid_alive, terminate_pid

if TYPE_CHECKING:
    from .capture import Capture

PREFIX = "lab-"
_NAME_RE = re.compile(r"^lab-([0-9a-z]{1,6})-([0-9a-z]{1,3})-(west|east)$")
_counter = itertools.count(1)


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def unique_tag(sep: str = "-") -> str:
    """A short name part no other lab of this or another test process
    uses: the PID and a counter, in base 36."""
    return f"{_b36(os.getpid())}{sep}{_b36(next(_counter))}"


@dataclass(frozen=True)
class Side:
    """One end of a pair. ``str(side)`` is its namespace name."""

    name: str  # "west" or "east"
    ns: str
    ifname: str
    addr: str  # on the veth
    addr6: str
    inner: str  # protected address on lo
    net: str  # protected subnet
    prefix: int = 24
    prefix6: int = 64

    def __str__(self) -> str:
        return self.ns


def _ns_argv(ns: Any, argv: Sequence[str]) -> list[str]:
    argv = [str(a) for a in argv]
    if ns is None:
        return argv
    return ["ip", "netns", "exec", str(ns), *argv]


def run(
    ns: Any,
    *argv: str,
    check: bool = True,
    timeout: float = 30.0,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in namespace ``ns`` (a name or :class:`Side`; ``None`` =
    host), capture text stdout/stderr. ``check`` raises :class:`LabError` with
    the output on a non-zero exit; a timeout always raises."""
    full = _ns_argv(ns, argv)
    try:
        res = subprocess.run(
            full,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env=env,
            errors="replace",
        )
    except subprocess.TimeoutExpired as e:
        raise LabError(f"{' '.join(full)}: timed out after {timeout:g} s") from e
    if check and res.returncode != 0:
        raise LabError(
            f"{' '.join(full)}: exit status {res.returncode}\n"
            f"stdout: {res.stdout.strip()}\nstderr: {res.stderr.strip()}"
        )
    return res


def popen(
    ns: Any,
    argv: Sequence[str],
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    stderr: int | IO[Any] | None = subprocess.STDOUT,
    **kwargs: Any,
) -> subprocess.Popen:
    """Start ``argv`` in namespace ``ns``. ``ip netns exec`` execs the program
    without forking, so the returned PID is the program's own. It runs in a
    session of its own, so a terminal's Ctrl-C does not hit it before the
    harness can stop it in order."""
    kwargs.setdefault("start_new_session", True)
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(_ns_argv(ns, argv), stdout=stdout, stderr=stderr, **kwargs)


@dataclass
class PingResult:
    transmitted: int
    received: int
    output: str

    @property
    def ok(self) -> bool:
        return self.transmitted > 0 and self.received == self.transmitted


def ping(
    ns: Any,
    src: str | None,
    dst: str,
    count: int = 3,
    interval: float = 0.2,
    wait: float = 2.0,
) -> PingResult:
    """``ping -c count`` from ``src`` (an address, or None) to ``dst``.

    Never raises for lost packets: check ``.ok`` / ``.received``."""
    argv = ["ping", "-n", "-c", str(count), "-i", f"{interval:g}", "-W", f"{wait:g}"]
    if src:
        argv += ["-I", src]
    res = run(ns, *argv, dst, check=False, timeout=count * (interval + wait) + 10)
    m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", res.stdout)
    if not m:
        raise LabError(f"ping {dst} from {ns}: no summary\n{res.stdout}{res.stderr}")
    return PingResult(int(m.group(1)), int(m.group(2)), res.stdout + res.stderr)


def netns_list() -> list[str]:
    out = run(None, "ip", "netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(ns: str) -> list[int]:
    res = run(None, "ip", "netns", "pids", ns, check=False)
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def _delete_ns(ns: str) -> None:
    """Stop what still runs in a namespace of ours (by PID), then delete it."""
    for pid in netns_pids(ns):
        if pid != os.getpid():
            terminate_pid(pid)
    run(None, "ip", "netns", "del", ns, check=False)


class NetnsPair:
    """West and east namespaces with a veth between them.

    Use as a context manager (or call :meth:`close`): on exit, whatever still
    runs inside the namespaces is stopped by PID and both are deleted.
    """

    def __init__(self) -> None:
        self.tag = unique_tag()
        self.west = Side(
            "west", f"{PREFIX}{self.tag}-west", f"{PREFIX}{self.tag}w",
            "192.0.2.1", "2001:db8::1", "10.1.0.1", "10.1.0.0/24",
        )  # fmt: skip
        self.east = Side(
            "east", f"{PREFIX}{self.tag}-east", f"{PREFIX}{self.tag}e",
            "192.0.2.2", "2001:db8::2", "10.2.0.1", "10.2.0.0/24",
        )  # fmt: skip
        self._created: list[str] = []
        try:
            self._create()
        except BaseException:
            self.close()
            raise

    def side(self, name: str) -> Side:
        return {"west": self.west, "east": self.east}[name]

    def peer(self, side: Side) -> Side:
        return self.east if side is self.west else self.west

    def _create(self) -> None:
        w, e = self.west, self.east
        for s in (w, e):
            if len(s.ifname) > 15:
                raise LabError(f"interface name {s.ifname} longer than 15")
            run(None, "ip", "netns", "add", s.ns)
            self._created.append(s.ns)
        run(
            None, "ip", "link", "add", w.ifname, "netns", w.ns, "type", "veth",
            "peer", "name", e.ifname, "netns", e.ns,
        )  # fmt: skip
        for s in (w, e):
            ip = ["ip", "-n", s.ns]
            run(None, *ip, "link", "set", "lo", "up")
            run(None, *ip, "addr", "add", f"{s.addr}/{s.prefix}", "dev", s.ifname)
            run(
                None, *ip, "-6", "addr", "add", f"{s.addr6}/{s.prefix6}",
                "dev", s.ifname, "nodad",
            )  # fmt: skip
            run(None, *ip, "addr", "add", f"{s.inner}/32", "dev", "lo")
            run(None, *ip, "link", "set", s.ifname, "up")

    def set_link(self, up: bool) -> None:
        """Bring both veth ends up or down (to simulate a dead peer)."""
        for s in (self.west, self.east):
            run(None, "ip", "-n", s.ns, "link", "set", s.ifname, "up" if up else "down")

    def kernel_has_esp(self) -> bool:
        """True if the kernel takes an ESP SA (XFRM with ESP; checked in west,
        which is left without SAs)."""
        w, e = self.west, self.east
        res = run(
            w, "ip", "xfrm", "state", "add", "src", w.addr, "dst", e.addr,
            "proto", "esp", "spi", "0x00000100", "mode", "tunnel",
            "enc", "cbc(aes)", "0x" + "00" * 16, "auth", "hmac(sha1)", "0x" + "00" * 20,
            check=False,
        )  # fmt: skip
        run(w, "ip", "xfrm", "state", "flush", check=False)
        return res.returncode == 0

    def capture(
        self, path: Path | str, side: str = "east", bpf: str = "udp or esp", **kw: Any
    ) -> Capture:
        """Start a capture on one side's veth (see :class:`Capture`)."""
        from .capture import Capture

        s = self.side(side)
        return Capture(s, s.ifname, path, bpf=bpf, **kw).start()

    def close(self) -> None:
        for ns in reversed(self._created):
            _delete_ns(ns)
        self._created.clear()

    def __enter__(self) -> NetnsPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cleanup_stale() -> list[str]:
    """Delete lab namespaces left by runs whose process is gone; their names.

    Only names of this module's pattern are considered, and only when the PID
    encoded in the name is no longer alive, so concurrent runs are safe.
    """
    removed = []
    for ns in netns_list():
        m = _NAME_RE.match(ns)
        if not m:
            continue
        pid = int(m.group(1), 36)
        if pid == os.getpid() or pid_alive(pid):
            continue
        _delete_ns(ns)
        removed.append(ns)
    return removed
