"""The FIFO user interface (isakmpd(8) "The FIFO user interface").

Commands are single lines starting with one letter. A bad command is logged
with the reason and changes nothing.
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import TYPE_CHECKING

from . import log
from .log import Cls

if TYPE_CHECKING:
    from .daemon import Daemon

_log = log.logger(Cls.UI)
#: isakmpd scans fields with a 200-character limit; a longer line is refused
MAX_LINE = 1024


class Ui:
    def __init__(self, daemon: "Daemon", loop: asyncio.AbstractEventLoop) -> None:
        self.daemon = daemon
        self.loop = loop
        self.fd: int | None = None
        self.path: str | None = None
        self._buf = b""

    def open(self, path: str) -> None:
        if path == "-":
            self.fd = 0
            os.set_blocking(0, False)
        else:
            try:
                st = os.lstat(path)
                if not stat.S_ISFIFO(st.st_mode):
                    raise OSError(f"{path} exists and is not a FIFO")
                os.unlink(path)
            except FileNotFoundError:
                pass
            os.mkfifo(path, 0o600)
            # opened read-write so that a writer closing never gives EOF
            self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
            self.path = path
        self.loop.add_reader(self.fd, self._readable)

    def close(self) -> None:
        if self.fd is None:
            return
        try:
            self.loop.remove_reader(self.fd)
        except (ValueError, OSError):
            pass
        if self.fd != 0:
            os.close(self.fd)
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        self.fd = None

    def _readable(self) -> None:
        assert self.fd is not None
        try:
            chunk = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        except OSError as e:
            _log.error("FIFO read: %s", e)
            return
        if not chunk:  # stdin closed
            self.loop.remove_reader(self.fd)
            return
        self._buf += chunk
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            self.command(line.decode("utf-8", "replace").strip())
        if len(self._buf) > MAX_LINE:
            _log.error("FIFO: command longer than %d bytes discarded", MAX_LINE)
            self._buf = b""

    def command(self, line: str) -> None:
        if not line:
            return
        if len(line) > MAX_LINE:
            _log.error("FIFO: command longer than %d characters ignored", MAX_LINE)
            return
        log.debug(Cls.UI, 30, f"ui_handle_command: {line!r}")
        cmd, _, rest = line.partition(" ")
        rest = rest.strip()
        d = self.daemon
        try:
            if cmd == "c":
                if not rest:
                    raise ValueError("usage: c name")
                d.connect(rest)
            elif cmd == "t":
                words = rest.split()
                if len(words) == 1:
                    d.teardown("quick", words[0])
                elif len(words) == 2 and words[0] in ("main", "quick"):
                    d.teardown(words[0], words[1])
                else:
                    raise ValueError("usage: t [main|quick] name|address")
            elif cmd == "T":
                d.teardown_all()
            elif cmd == "S":
                d.write_sa_report()
            elif cmd == "Q":
                d.request_shutdown()
            elif cmd == "D":
                self._debug(rest)
            else:
                raise ValueError(f"unrecognized command: {line!r}")
        except ValueError as e:
            _log.error("FIFO: %s", e)
        finally:
            d.pump()

    def _debug(self, rest: str) -> None:
        words = rest.split()
        if words == ["T"]:
            log.toggle()
            return
        if len(words) != 2:
            raise ValueError("usage: D class level | D A level | D T")
        cls: int | str = "A" if words[0].upper() == "A" else words[0]
        try:
            lvl = int(words[1])
            if cls != "A":
                cls = int(cls)
        except ValueError:
            raise ValueError(f"bad debug command 'D {rest}'") from None
        log.set_level(cls, lvl)
