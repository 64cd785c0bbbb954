"""Benchmarks (``make bench``): each group times our implementation and the
alternatives side by side in one run, and the summary prints each group as a
table of ratios (the alternative's time over ours: above 1 means ours is
faster), with the machine's load next to it, since only ratios taken in the
same run mean anything on a shared machine.

Run without ``--benchmark-only`` (a plain ``pytest tests``), every benchmark
runs its function once as a smoke test (pytest-benchmark's disabled mode),
and the expensive parametrizations are skipped.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

#: implementation names in the order the tables show them; "ours" first
ORDER = ["ours", "openssl", "cpython", "struct", "scapy"]
#: the targets the summary checks: group prefix -> (alternative, least ratio)
TARGETS = {
    "modexp": ("openssl", 1 / 1.1),
    "codec": ("scapy", 20.0),
}


def benchmarking(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_only", False))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "heavy: a long benchmark, skipped as a smoke test")


def pytest_collection_modifyitems(config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    if benchmarking(config):
        return
    # plain test run: one call each, no timing
    session = getattr(config, "_benchmarksession", None)
    if session is not None:
        session.disabled = True
    skip = pytest.mark.skip(reason="heavy benchmark: run by make bench")
    for item in items:
        if HERE in Path(str(item.fspath)).parents and item.get_closest_marker("heavy"):
            item.add_marker(skip)


def machine_line() -> str:
    load = os.getloadavg()
    return (f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.node()}, "
            f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
            f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def _impl(bench: Any) -> str:
    info = getattr(bench, "extra_info", None) or {}
    return str(info.get("impl") or bench.name)


def ratio_tables(benchmarks: list[Any]) -> list[str]:
    """Lines of one table per group: implementation, median, min, ratio."""
    groups: dict[str, dict[str, Any]] = {}
    for b in benchmarks:
        if getattr(b, "has_error", False) or b.stats is None:
            continue
        groups.setdefault(b.group or b.name, {})[_impl(b)] = b.stats
    lines: list[str] = []
    verdicts: list[str] = []
    for group in sorted(groups):
        impls = groups[group]
        ours = impls.get("ours")
        lines.append(f"{group}")
        names = sorted(impls, key=lambda n: (ORDER.index(n) if n in ORDER else 99, n))
        for name in names:
            s = impls[name]
            ratio = (f"{s.median / ours.median:8.2f}x" if ours is not None
                     and ours.median > 0 else "       -")
            lines.append(f"    {name:10s} median {s.median * 1e6:11.1f} us   "
                         f"min {s.min * 1e6:11.1f} us   {ratio}")
        for prefix, (alt, least) in TARGETS.items():
            if group.startswith(prefix) and ours is not None and alt in impls:
                r = impls[alt].median / ours.median
                ok = "met" if r >= least else "MISSED"
                verdicts.append(f"  {group}: {alt}/ours = {r:.2f} "
                                f"(target >= {least:.2f}) {ok}")
    if verdicts:
        lines.append("targets:")
        lines.extend(verdicts)
    return lines


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or not benchmarking(config):
        return
    benchmarks = list(getattr(session, "benchmarks", []) or [])
    if not benchmarks:
        return
    tr = terminalreporter
    tr.section("ratios: alternative's median time / ours (above 1: ours is faster)")
    tr.write_line(f"measured {machine_line()}")
    for line in ratio_tables(benchmarks):
        tr.write_line(line)
    tr.write_line(f"load at the end: {machine_line()}")
