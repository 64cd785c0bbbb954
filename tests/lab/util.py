"""Small helpers shared by the lab modules: errors, polling, processes, tools."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class LabError(RuntimeError):
    """A lab step failed (a command, a daemon start, a timeout)."""


def wait_until(
    probe: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.05,
    fail: Callable[[], str | None] | None = None,
) -> T:
    """Call ``probe`` until it returns something truthy and return that.

    ``fail`` is checked on every round too; when it returns a message (e.g.
    "daemon exited"), waiting stops at once with that message. Raises
    :class:`LabError` naming ``what`` on timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if fail is not None:
            reason = fail()
            if reason:
                raise LabError(f"{what}: {reason}")
        if time.monotonic() >= deadline:
            raise LabError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


def tail(path: Path | str, lines: int = 30) -> str:
    """The last ``lines`` lines of a text file ("" if it is missing)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # "pid (comm) S ...": the state follows the last ')'
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> int:
    """SIGTERM ``proc`` by its PID, wait, SIGKILL if it lingers; exit status."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout=timeout)


def terminate_pid(pid: int, timeout: float = 3.0) -> None:
    """Stop a process that is not our child (no wait status): TERM, then KILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.05)


def find_tool(name: str) -> str | None:
    """Absolute path of a program (``name`` may itself be a path)."""
    if os.sep in name:
        return name if os.access(name, os.X_OK) else None
    return shutil.which(name)


def apparmor_enabled() -> bool:
    try:
        return (
            Path("/sys/module/apparmor/parameters/enabled").read_text().startswith("Y")
        )
    except OSError:
        return False


def unconfined(argv: list[str]) -> list[str]:
    """``argv`` run outside any AppArmor profile where AppArmor is enabled.

    Debian ships enforcing profiles for charon, swanctl and tcpdump that only
    allow their default paths (``/etc/strongswan.conf``, ``/run/charon.vici``);
    the lab keeps everything in temporary folders, so its tools ask the kernel
    for an unconfined exec. The request holds for the next exec only, so
    ``argv[0]`` must be the confined program itself (not env(1) or a shell).
    Without AppArmor this is ``argv`` unchanged.
    """
    if not apparmor_enabled():
        return argv
    script = (
        "for f in /proc/self/attr/apparmor/exec /proc/self/attr/exec; do "
        '[ -w "$f" ] && echo "exec unconfined" 2>/dev/null >"$f" && break; '
        'done; exec "$@"'
    )
    return ["sh", "-c", script, "sh", *argv]
