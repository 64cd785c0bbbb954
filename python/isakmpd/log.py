"""Logging in isakmpd's debug classes.

isakmpd has eleven debug classes (0 Misc ... 10 FIFO UI), each with a level
0-99 set by ``-D class=level``, ``Loglevel`` or the FIFO ``D`` command. A
debug message of level N in class C is printed when C's level is >= N.
Plain messages (errors, warnings, notices) are always printed.

Each class is a logger (``isakmpd.misc``, ``isakmpd.exchange``...) so that the
standard logging machinery does the output; :func:`debug` does the level
check first, so a disabled debug message costs one list lookup.

Stderr lines look like isakmpd's:
``HHMMSS.uuuuuu Exch 10 message`` for debug messages and
``HHMMSS.uuuuuu Default message`` for plain ones.
"""

from __future__ import annotations

import logging
import sys
import time
from enum import IntEnum


class Cls(IntEnum):
    MISC = 0
    TRANSPORT = 1
    MESSAGE = 2
    CRYPTO = 3
    TIMER = 4
    SYSDEP = 5
    SA = 6
    EXCHANGE = 7
    NEGOTIATION = 8
    POLICY = 9
    UI = 10


#: isakmpd's four-letter tags per class
TAGS = ("Misc", "Trpt", "Mesg", "Cryp", "Timr", "Sdep", "SA  ", "Exch", "Negt",
        "Plcy", "UI  ")
LOGGER_NAMES = ("misc", "transport", "message", "crypto", "timer", "sysdep", "sa",
                "exchange", "negotiation", "policy", "ui")
LOG_MAX_LEVEL = 99
#: isakmpd truncates messages to this many characters (we cut debug messages only)
MAX_LINE = 200

_levels = [0] * len(Cls)
_saved_levels: list[int] | None = None
_loggers = [logging.getLogger(f"isakmpd.{n}") for n in LOGGER_NAMES]
root = logging.getLogger("isakmpd")


def logger(cls: Cls) -> logging.Logger:
    return _loggers[cls]


def level(cls: Cls) -> int:
    return _levels[cls]


def set_level(cls: int | str, lvl: int) -> None:
    """Set one class (0-10) or all (``"A"``) to ``lvl`` (0-99)."""
    if not 0 <= lvl <= LOG_MAX_LEVEL:
        raise ValueError(f"debug level {lvl} out of range 0-{LOG_MAX_LEVEL}")
    if isinstance(cls, str) and cls.upper() == "A":
        for i in range(len(_levels)):
            _levels[i] = lvl
        return
    c = int(cls)
    if not 0 <= c < len(_levels):
        raise ValueError(f"debug class {cls} out of range 0-{len(_levels) - 1}")
    _levels[c] = lvl


def parse_spec(spec: str) -> tuple[int | str, int]:
    """``"7=90"`` or ``"A=40"`` as given to -D / Loglevel → (class, level)."""
    cls_text, sep, lvl_text = spec.partition("=")
    if not sep:
        raise ValueError(f"debug spec {spec!r} is not class=level")
    cls_text = cls_text.strip()
    try:
        lvl = int(lvl_text.strip())
        cls: int | str = "A" if cls_text.upper() == "A" else int(cls_text)
    except ValueError:
        raise ValueError(f"debug spec {spec!r} is not class=level") from None
    if not 0 <= lvl <= LOG_MAX_LEVEL:
        raise ValueError(f"debug level in {spec!r} out of range 0-{LOG_MAX_LEVEL}")
    if cls != "A" and not 0 <= int(cls) < len(_levels):
        raise ValueError(f"debug class in {spec!r} out of range 0-{len(_levels) - 1}")
    return cls, lvl


def toggle() -> None:
    """FIFO ``D T``: all classes to 0, and back to the saved levels."""
    global _saved_levels
    if _saved_levels is None:
        _saved_levels = list(_levels)
        for i in range(len(_levels)):
            _levels[i] = 0
    else:
        _levels[:] = _saved_levels
        _saved_levels = None


def debug(cls: Cls, lvl: int, msg: str, *args: object) -> None:
    """A debug message of class ``cls`` at level ``lvl`` (1-99)."""
    if _levels[cls] >= lvl:
        _loggers[cls].debug(msg, *args, extra={"isakmpd_level": lvl})


def enabled(cls: Cls, lvl: int) -> bool:
    return _levels[cls] >= lvl


def crypto_secrets_enabled() -> bool:
    """Key material may be logged only at crypto level 99 (isakmpd's -D 3=99)."""
    return _levels[Cls.CRYPTO] >= LOG_MAX_LEVEL


def hexdump(data: bytes) -> list[str]:
    """isakmpd's hex dump: 32 bytes a line in groups of 4."""
    lines = []
    for off in range(0, len(data), 32):
        chunk = data[off:off + 32].hex()
        lines.append(" ".join(chunk[i:i + 8] for i in range(0, len(chunk), 8)))
    return lines


def stamp(t: float) -> str:
    """isakmpd's time stamp: local ``HHMMSS.uuuuuu``."""
    return time.strftime("%H%M%S", time.localtime(t)) + f".{int((t % 1) * 1e6):06d}"


class IsakmpdFormatter(logging.Formatter):
    """isakmpd's stderr line format."""

    def __init__(self, suffix: str = "") -> None:
        super().__init__()
        self.suffix = suffix

    def format(self, record: logging.LogRecord) -> str:
        when = stamp(record.created)
        msg = record.getMessage()
        lvl = getattr(record, "isakmpd_level", None)
        # debug messages are cut as isakmpd cuts them; errors and warnings
        # are kept whole, so that the reason and the fixing hint survive
        if (lvl is not None and len(msg) > MAX_LINE
                and not getattr(record, "isakmpd_nolimit", False)):
            msg = msg[:MAX_LINE]
        if lvl is not None:
            name = record.name.rsplit(".", 1)[-1]
            try:
                tag = TAGS[LOGGER_NAMES.index(name)]
            except ValueError:
                tag = "Misc"
            head = f"{when} {tag} {lvl:02d} "
        else:
            head = f"{when} Default "
        if record.exc_info and record.levelno >= logging.ERROR:
            msg += "\n" + self.formatException(record.exc_info)
        return head + msg + self.suffix


_syslog = False
SYSLOG_SOCKET = "/dev/log"


def uses_syslog() -> bool:
    return _syslog


def setup(to_stderr: bool, verbose: bool = False, suffix: str = "") -> None:
    """Send the package's log to stderr (``-d``) or syslog.

    Without a syslog socket (no /dev/log) the log goes to stderr anyway.
    """
    for h in list(root.handlers):
        root.removeHandler(h)
    handler: logging.Handler
    if not to_stderr:
        try:
            from logging.handlers import SysLogHandler

            handler = SysLogHandler(address=SYSLOG_SOCKET,
                                    facility=SysLogHandler.LOG_DAEMON)
            # Python 3.11+ defers a failed connect to the first message
            if handler.socket.fileno() < 0:
                handler.close()
                raise OSError(f"no syslog at {SYSLOG_SOCKET}")
            handler.setFormatter(logging.Formatter("isakmpd[%(process)d]: %(message)s"))
        except OSError:
            to_stderr = True
    global _syslog
    _syslog = not to_stderr
    if to_stderr:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(IsakmpdFormatter(suffix))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    root.propagate = False
    _ = verbose
    if suffix:
        set_suffix(suffix)


def set_suffix(suffix: str) -> None:
    """End every line with ``suffix``: isakmpd's `` [priv]`` marks the
    privileged parent's lines of a separated daemon."""
    for h in root.handlers:
        if isinstance(h.formatter, IsakmpdFormatter):
            h.formatter.suffix = suffix
        else:
            h.setFormatter(logging.Formatter(
                "isakmpd[%(process)d]: %(message)s" + suffix.replace("%", "%%")))


def handler_fds() -> set[int]:
    """The descriptors the log writes to (kept open by a separated child)."""
    fds = set()
    for h in root.handlers:
        for obj in (getattr(h, "socket", None), getattr(h, "stream", None)):
            try:
                fd = obj.fileno() if obj is not None else -1
            except (OSError, ValueError, AttributeError):
                fd = -1
            if fd >= 0:
                fds.add(fd)
    return fds
