"""Memory per SA and idle timers at scale, in memory (``isakmpd-bench scale``).

A :class:`~isakmpd.bench.mesh.Mesh` sets up ``n`` ISAKMP SAs (Main Mode
only), then one IPsec SA on each (Quick Mode with PFS), and the responder's
memory is taken after each step: the growth of the process' resident set
(of both engines) and the bytes Python allocated for the responder
alone (tracemalloc, counted per call into each engine; the Rust core's
own heap, a few hundred bytes of keys per SA, is not traced: the daemon's
resident memory per SA comes from ``isakmpd-bench run``). The
responder's SA records hold what a daemon keeps: keys, ciphers, proposals,
timers. Finished exchanges linger for Exchange-max-time (to answer a
retransmission) before they go: the numbers are taken after that. Then the
idle check: with every SA up, how many timers are scheduled, when the
next one is due, and how many fire in the next minute
(none should: a daemon with 100 k idle SAs sleeps).
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from dataclasses import dataclass

from ..conf import model
from . import confgen, procstat
from .mesh import Mesh


@dataclass
class ScaleResult:
    n: int
    isakmp_sas: int
    ipsec_sas: int
    rss_per_isakmp: float
    rss_per_ipsec: float
    traced_per_isakmp: float
    traced_per_ipsec: float
    rss_total: int
    phase1_seconds: float
    phase2_seconds: float
    timers: int
    next_timer_in: float
    fired_idle_minute: int
    idle_cpu_seconds: float


def _rss() -> int:
    gc.collect()
    import os

    return procstat.rss(os.getpid())


def _phase1(mesh: Mesh, count: int, window: int) -> int:
    """Main Mode only with the first ``count`` peers, ``window`` at a time;
    the number of ISAKMP SAs the responder has established."""
    ini = mesh.initiator
    for first in range(0, count, window):
        mesh.now = time.monotonic()
        for i in range(first, min(count, first + window)):
            ini._start_main_mode(model.phase1_peer(ini.conf, f"p{i}"), mesh.now)
        mesh.drain()
    return sum(1 for sa in mesh.responder.table.isakmp_sas() if sa.established)


class _Account:
    """Python allocations per side: the traced memory's change across each
    call into one engine is that engine's (the datagrams that pass between
    them are freed within a call or two, so they nearly cancel)."""

    def __init__(self, mesh: Mesh) -> None:
        self.bytes = {"initiator": 0, "responder": 0}
        self._inner = mesh._timed
        mesh._timed = self  # type: ignore[method-assign]

    def __call__(self, side: str, fn, *args) -> None:  # type: ignore[no-untyped-def]
        before = tracemalloc.get_traced_memory()[0]
        self._inner(side, fn, *args)
        self.bytes[side] += tracemalloc.get_traced_memory()[0] - before


def settle(mesh: Mesh, account: _Account | None) -> None:
    """Let the responder's finished exchanges go: they linger for
    Exchange-max-time to answer retransmissions, then only the SAs stay."""
    rsp = mesh.responder
    later = time.monotonic() + rsp.general.exchange_max_time + 1
    before = tracemalloc.get_traced_memory()[0] if account else 0
    rsp.timers.run_due(later)
    gc.collect()
    if account is not None:
        account.bytes["responder"] += tracemalloc.get_traced_memory()[0] - before


def run(n: int, profile: confgen.Profile, window: int = 64,
        trace: bool = True) -> ScaleResult:
    # first use of the configuration's tables, the Rust statics...: not per SA
    Mesh(16, profile).run(16)
    mesh = Mesh(n, profile)
    rsp = mesh.responder
    account = None
    if trace:
        tracemalloc.start()
        account = _Account(mesh)
    base_rss = _rss()
    t0 = time.monotonic()
    p1 = _phase1(mesh, n, window)
    t1 = time.monotonic()
    settle(mesh, account)
    traced1 = account.bytes["responder"] if account else 0
    rss1 = _rss()
    mesh.run(n, window=window, first=0)
    settle(mesh, account)
    t2 = time.monotonic()
    rss2 = _rss()
    traced2 = account.bytes["responder"] if account else 0
    if trace:
        tracemalloc.stop()
    n_isakmp, n_ipsec = rsp.table.counts()
    # idle: nothing but the timers; a minute of them
    now = time.monotonic() + rsp.general.exchange_max_time + 1
    nxt = rsp.next_timer()
    fired = 0
    cpu0 = time.process_time()
    for k in range(1, 61):
        fired += rsp.timers.run_due(now + k)
    idle_cpu = time.process_time() - cpu0
    return ScaleResult(
        n=n, isakmp_sas=n_isakmp, ipsec_sas=n_ipsec,
        rss_per_isakmp=(rss1 - base_rss) / p1 if p1 else 0.0,
        rss_per_ipsec=(rss2 - rss1) / n_ipsec if n_ipsec else 0.0,
        traced_per_isakmp=traced1 / p1 if p1 else 0.0,
        traced_per_ipsec=(traced2 - traced1) / n_ipsec if n_ipsec else 0.0,
        rss_total=rss2, phase1_seconds=t1 - t0, phase2_seconds=t2 - t1,
        timers=len(rsp.timers), next_timer_in=(nxt - now) if nxt else float("inf"),
        fired_idle_minute=fired, idle_cpu_seconds=idle_cpu)


def report(r: ScaleResult) -> str:
    both = r.traced_per_isakmp + r.traced_per_ipsec
    lines = [
        f"responder with {r.isakmp_sas} ISAKMP SAs and {r.ipsec_sas} IPsec SAs "
        f"(set up in {r.phase1_seconds:.1f} s + {r.phase2_seconds:.1f} s)",
        f"  responder's Python allocations per ISAKMP SA {r.traced_per_isakmp:8.0f} B,"
        f" per IPsec SA {r.traced_per_ipsec:8.0f} B",
        f"  (both engines in this process: resident memory grew "
        f"{r.rss_per_isakmp:.0f} B per ISAKMP SA, {r.rss_per_ipsec:.0f} B per IPsec SA;"
        f" RSS {r.rss_total / 2**20:.1f} MiB)",
        f"  100 k IPsec SAs, each with its ISAKMP SA, at this rate: "
        f"{100_000 * both / 2**30:.2f} GiB",
        f"  idle: {r.timers} timers scheduled, next due in {r.next_timer_in:.0f} s, "
        f"{r.fired_idle_minute} fired in the next minute "
        f"({r.idle_cpu_seconds * 1e3:.1f} ms CPU)",
    ]
    return "\n".join(lines)
