"""Entering a named network namespace for a moment.

Sockets belong to the namespace they were created in, so a backend or a
socket made inside ``with enter_netns("name"):`` keeps working in that
namespace after the block. Only the calling thread moves.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import KernelError

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):  # Python 3.12+
        os.setns(fd, CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def netns_path(name: str) -> str:
    """``/run/netns/NAME`` as ``ip netns`` names it, or a path as given."""
    if "/" in name:
        return name
    if not name or name in (".", ".."):
        raise KernelError(f"bad network namespace name {name!r}", errno.EINVAL)
    return os.path.join(NETNS_RUN_DIR, name)


@contextmanager
def enter_netns(name: str | None) -> Iterator[None]:
    """Run the block in namespace ``name`` (None: stay where we are)."""
    if name is None:
        yield
        return
    path = netns_path(name)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise KernelError(
            f"cannot open network namespace {name!r} ({path}): {e.strerror}", e.errno
        ) from None
    try:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                _setns(target)
            except OSError as e:
                raise KernelError(
                    f"cannot enter network namespace {name!r}: {e.strerror}", e.errno
                ) from None
            try:
                yield
            finally:
                _setns(home)
        finally:
            os.close(home)
    finally:
        os.close(target)
