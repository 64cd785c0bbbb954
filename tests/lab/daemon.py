"""Our isakmpd, run in a namespace the way a user runs it.

Command line (built by :meth:`Isakmpd.argv`; override ``argv`` or pass
``command`` to adapt)::

    python3 -m isakmpd -d -c CONF -f FIFO -i PIDFILE -R REPORT \\
        --result-file RESULT -D A=LEVEL [extra args: -n, -r SEED, -p PORT ...]

Everything lives in a private temporary folder (mode 0700): the
configuration (written 0600, since the daemon refuses configurations others
can read), the FIFO, the pid, report and result files, and ``isakmpd.log``
(the daemon's stderr and stdout).
"""

from __future__ import annotations

import errno
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .netns import popen
from .util import LabError, stop_process, tail, wait_until

REPO = Path(__file__).resolve().parents[2]


class Isakmpd:
    """One daemon in namespace ``ns`` (None = the host's namespace).

    ``config``: the isakmpd.conf text. ``debug``: the ``-D A=`` level.
    ``args``: extra command-line arguments. ``command``: replaces
    ``python3 -m isakmpd`` (e.g. a stand-in script for harness tests).
    ``workdir``: a folder to use instead of a new temporary one.
    """

    def __init__(
        self,
        ns: Any,
        config: str,
        debug: int = 70,
        args: Sequence[str] = (),
        command: Sequence[str] | None = None,
        workdir: Path | str | None = None,
        env: dict[str, str] | None = None,
        name: str = "isakmpd",
    ) -> None:
        self.ns = ns
        self.name = name
        self.debug = debug
        self.args = [str(a) for a in args]
        self.command = list(command) if command else [sys.executable, "-m", "isakmpd"]
        if workdir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="lab-isakmpd-"))
        else:
            self.dir = Path(workdir)
            self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        self.conf_path = self.dir / "isakmpd.conf"
        self.fifo_path = self.dir / "isakmpd.fifo"
        self.pid_path = self.dir / "isakmpd.pid"
        self.report_path = self.dir / "isakmpd.report"
        self.result_path = self.dir / "isakmpd.result"
        self.log_path = self.dir / "isakmpd.log"
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.write_config(config)

    def write_config(self, text: str) -> Path:
        """(Re)write the configuration file, mode 0600."""
        fd = os.open(self.conf_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(self.conf_path, 0o600)
        return self.conf_path

    def argv(self) -> list[str]:
        return [
            *self.command,
            "-d",
            "-c", str(self.conf_path),
            "-f", str(self.fifo_path),
            "-i", str(self.pid_path),
            "-R", str(self.report_path),
            "--result-file", str(self.result_path),
            "-D", f"A={self.debug}",
            *self.args,
        ]  # fmt: skip

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        src = str(REPO / "python")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (src, env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    # -- process -------------------------------------------------------

    def start(self, timeout: float = 15.0) -> Isakmpd:
        """Start the daemon and wait until its FIFO exists."""
        if self.alive():
            raise LabError(f"{self.name} already running")
        self.fifo_path.unlink(missing_ok=True)
        self.result_path.unlink(missing_ok=True)
        self.returncode = None
        with open(self.log_path, "ab") as log:
            self.proc = popen(
                self.ns, self.argv(), stdout=log, stderr=log, env=self.environ(),
                cwd=self.dir,
            )  # fmt: skip

        def fifo_ready() -> bool:
            try:
                return stat.S_ISFIFO(os.stat(self.fifo_path).st_mode)
            except FileNotFoundError:
                return False

        wait_until(fifo_ready, timeout, f"{self.name} FIFO", fail=self._died)
        return self

    def _died(self) -> str | None:
        if self.alive():
            return None
        rc = self.proc.returncode if self.proc else None
        return f"{self.name} exited ({rc}):\n{tail(self.log_path)}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def pidfile_pid(self) -> int | None:
        """The PID the daemon wrote to its ``-i`` file, if any."""
        try:
            return int(self.pid_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if not self.alive():
            raise LabError(f"{self.name} is not running")
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM by PID, wait up to ``timeout`` (then SIGKILL); exit status
        (negative: killed by that signal). Also kept in ``returncode``."""
        if self.proc is None:
            return None
        self.returncode = stop_process(self.proc, timeout)
        return self.returncode

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the daemon to exit by itself (e.g. after FIFO ``Q``)."""
        if self.proc is None:
            raise LabError(f"{self.name} was not started")
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise LabError(f"{self.name} still running after {timeout:g} s") from e
        return self.returncode

    # -- control -------------------------------------------------------

    def fifo(self, cmd: str, timeout: float = 5.0) -> None:
        """Write one command line to the FIFO (waits for the daemon to have
        it open for reading)."""
        if "\n" in cmd:
            raise ValueError("one command per call")
        data = (cmd + "\n").encode()
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(self.fifo_path, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:
                if e.errno not in (errno.ENXIO, errno.ENOENT):
                    raise
                if (reason := self._died()) or time.monotonic() >= deadline:
                    raise LabError(
                        f"FIFO {self.fifo_path}: no reader ({reason})"
                    ) from e
                time.sleep(0.05)
        try:
            os.set_blocking(fd, True)
            os.write(fd, data)
        finally:
            os.close(fd)

    def _fresh_file(
        self, path: Path, action: Callable[[], None], what: str, timeout: float
    ) -> str:
        """Remove ``path``, do ``action``, return the file once it is written
        (it exists and its size has stopped changing)."""
        path.unlink(missing_ok=True)
        action()
        last: list[int] = [-1]

        def settled() -> bool:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                return False
            # the daemon replaces result files whole, so an empty one is
            # a finished (empty) report once its size holds still
            done = size == last[0]
            last[0] = size
            return done

        wait_until(settled, timeout, f"{self.name}: {path.name} after {what}",
                   interval=0.1, fail=self._died)  # fmt: skip
        return path.read_text(errors="replace")

    def sa_report(self, timeout: float = 5.0) -> str:
        """FIFO ``S``: the SA report, read from the result file."""
        return self._fresh_file(
            self.result_path, lambda: self.fifo("S"), "FIFO S", timeout
        )

    def report(self, timeout: float = 5.0) -> str:
        """FIFO ``r``: the full report, read from the report file."""
        return self._fresh_file(
            self.report_path, lambda: self.fifo("r"), "FIFO r", timeout
        )

    def report_by_signal(self, timeout: float = 5.0) -> str:
        """SIGUSR1: the full report, read from the report file."""
        return self._fresh_file(
            self.report_path, lambda: self.signal(signal.SIGUSR1), "SIGUSR1", timeout
        )

    # -- logs ----------------------------------------------------------

    def log(self) -> str:
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )

    def mark(self) -> int:
        """The log's current length: pass it to :meth:`wait_log` as ``since``
        to match only what is written afterwards."""
        return len(self.log())

    def wait_log(
        self, pattern: str, timeout: float = 10.0, since: int = 0
    ) -> re.Match[str]:
        rx = re.compile(pattern, re.MULTILINE)

        def probe() -> re.Match[str] | None:
            return rx.search(self.log(), since)

        return wait_until(
            probe, timeout, f"{self.name} log /{pattern}/", fail=self._died
        )
