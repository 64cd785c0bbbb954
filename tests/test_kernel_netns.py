"""Network namespaces for the kernel tests, and a check that they work.

Other kernel tests import the fixtures from here (``from test_kernel_netns
import ns, pair``); the guest tests in ``tests/guest`` do too. Every
namespace is called ``kt-...`` and is deleted after its test.

``pair`` is two namespaces joined by a veth link: side A has 192.0.2.1/24
and 2001:db8::1/64 on ``va``, side B 192.0.2.2/24 and 2001:db8::2/64 on
``vb``. XFRM needs such a device: ``lo`` has xfrm disabled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

PREFIX = "kt-"
A4, B4 = "192.0.2.1", "192.0.2.2"
A6, B6 = "2001:db8::1", "2001:db8::2"


def netns_unavailable() -> str | None:
    """Why namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    return None


def ip(*args: str, ns: str | None = None, check: bool = True) -> str:
    """Run ``ip [-n ns] args``; its stdout."""
    cmd = ["ip"] + (["-n", ns] if ns else []) + list(args)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return done.stdout


def in_ns(
    ns: str, *cmd: str, timeout: float = 30, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a command inside namespace ``ns``."""
    return subprocess.run(
        ["ip", "netns", "exec", ns, *cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def blocks(text: str) -> list[str]:
    """Split ``ip xfrm state/policy`` output into one text per entry."""
    out: list[str] = []
    for line in text.splitlines():
        if line and not line[0].isspace():
            out.append(line)
        elif out:
            out[-1] += "\n" + line
    return out


def write_sysctl(ns: str, path: str, value: str) -> None:
    """Set /proc/sys/``path`` inside ``ns`` (net.* values are per namespace)."""
    done = in_ns(ns, "sh", "-c", f"echo {value} > /proc/sys/{path}")
    assert done.returncode == 0, done.stderr


@contextmanager
def make_netns(tag: str) -> Iterator[str]:
    name = f"{PREFIX}{tag}-{uuid.uuid4().hex[:6]}"
    assert name.startswith(PREFIX)
    ip("netns", "add", name)
    try:
        ip("link", "set", "lo", "up", ns=name)
        yield name
    finally:
        ip("netns", "del", name, check=False)


@dataclass
class Pair:
    a: str
    b: str


@contextmanager
def make_pair(tag: str) -> Iterator[Pair]:
    with make_netns(f"{tag}a") as a, make_netns(f"{tag}b") as b:
        ip("link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b, ns=a)
        for ns, dev, v4, v6 in ((a, "va", A4, A6), (b, "vb", B4, B6)):
            ip("addr", "add", f"{v4}/24", "dev", dev, ns=ns)
            ip("addr", "add", f"{v6}/64", "dev", dev, "nodad", ns=ns)
            ip("link", "set", dev, "up", ns=ns)
        yield Pair(a, b)


@pytest.fixture
def ns() -> Iterator[str]:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    with make_netns("x") as name:
        yield name


@pytest.fixture
def pair() -> Iterator[Pair]:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    with make_pair("p") as p:
        yield p


@pytest.mark.netns
def test_pair_is_connected_and_private(pair: Pair) -> None:
    for dst in (B4, B6):
        done = in_ns(pair.a, "ping", "-c", "1", "-W", "2", dst)
        assert done.returncode == 0, done.stdout + done.stderr
    # the addresses exist only inside the pair
    assert A4 not in ip("-br", "addr")
    assert "va" in ip("-br", "link", ns=pair.a)
    assert "vb" in ip("-br", "link", ns=pair.b)


@pytest.mark.netns
def test_namespaces_are_removed() -> None:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    with make_netns("gone") as name:
        assert name in ip("netns", "list")
    assert name not in ip("netns", "list")
