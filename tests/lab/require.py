"""Skip a test when the machine cannot run it, or fail under CI.

In CI (environment variable ``CI`` set to anything but "", "0" or "false")
every tool is installed by ``tools/install-deps.sh``, so a missing one is a
broken setup: these helpers then fail the test instead of skipping it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .util import find_tool


#: the mark of the tests that run inside the qemu VM only (tests/guest/)
in_vm_only = pytest.mark.skipif(
    os.environ.get("ISAKMPD_IN_VM") != "1",
    reason="runs inside the qemu VM (tests/test_vm.py starts it)",
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip with ``reason`` (fail in CI)."""
    if in_ci():
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_root() -> None:
    if os.geteuid() != 0:
        unavailable("needs root (network namespaces)")


def require_tool(name: str) -> str:
    """The tool's absolute path; skip (CI: fail) when it is not installed."""
    path = find_tool(name)
    if path is None:
        unavailable(f"{name} is not installed (tools/install-deps.sh installs it)")
    assert path is not None
    return path


def require_netns() -> None:
    """Root, ``ip``, and network namespaces in this kernel."""
    require_root()
    require_tool("ip")
    if not Path("/proc/self/ns/net").exists():
        unavailable("kernel without network namespaces")


def require_strongswan() -> None:
    from .strongswan import CHARON, SWANCTL

    require_tool(CHARON)
    require_tool(SWANCTL)
    require_tool("unshare")
