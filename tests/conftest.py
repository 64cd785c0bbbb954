"""Shared fixtures: namespaces, strongSwan peers, our daemon (see tests/lab/).

Fixtures:
    netns_pair       a fresh :class:`lab.NetnsPair` (west/east), deleted after
    charon_factory   charon_factory(side, **Charon kwargs) -> started Charon
    isakmpd_factory  isakmpd_factory(side, config, **Isakmpd kwargs) -> started
                     Isakmpd (start=False to only prepare it)
Each factory stops what it started when the test ends. A missing tool or
missing root skips the test, or fails it when the CI variable is set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

if str(Path(__file__).parent) not in sys.path:  # --import-mode=importlib
    sys.path.insert(0, str(Path(__file__).parent))

import lab  # noqa: E402
from lab.netns import cleanup_stale  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _lab_stale_namespaces() -> None:
    """Delete lab namespaces a crashed earlier run left behind (only those
    named by tests/lab/netns.py whose creating process is gone)."""
    if os.geteuid() != 0 or lab.util.find_tool("ip") is None:
        return
    removed = cleanup_stale()
    if removed:
        print(f"\nlab: removed stale namespaces {' '.join(removed)}")


@pytest.fixture
def netns_pair() -> Iterator[lab.NetnsPair]:
    lab.require_netns()
    with lab.NetnsPair() as pair:
        yield pair


@pytest.fixture
def charon_factory(tmp_path: Path) -> Iterator[Callable[..., lab.Charon]]:
    """``charon_factory(side, **kw)``: a started :class:`lab.Charon` in
    ``side`` (a :class:`lab.Side` or namespace name), its files under
    ``tmp_path/<name>``; ``name`` defaults to the side's name."""
    lab.require_strongswan()
    started: list[lab.Charon] = []

    def make(side: Any, **kw: Any) -> lab.Charon:
        name = kw.pop("name", getattr(side, "name", None) or f"charon{len(started)}")
        c = lab.Charon(side, tmp_path / name, name=name, **kw)
        started.append(c)
        return c.start()

    yield make
    for c in reversed(started):
        c.stop()


@pytest.fixture
def isakmpd_factory(tmp_path: Path) -> Iterator[Callable[..., lab.Isakmpd]]:
    """``isakmpd_factory(side, config, start=True, **kw)``: an
    :class:`lab.Isakmpd` in ``side`` (None: the host namespace), its files
    under ``tmp_path/isakmpd-<name>``."""
    made: list[lab.Isakmpd] = []

    def make(side: Any, config: str, start: bool = True, **kw: Any) -> lab.Isakmpd:
        name = kw.pop("name", f"isakmpd-{getattr(side, 'name', None) or len(made)}")
        d = lab.Isakmpd(side, config, workdir=tmp_path / name, name=name, **kw)
        made.append(d)
        return d.start() if start else d

    yield make
    for d in reversed(made):
        d.stop()
