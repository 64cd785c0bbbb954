"""Exceptions of the daemon.

The Rust core (``isakmpd._core``) raises these classes too, so that Python
code sees one set of exceptions whichever side detected the problem.
"""

from __future__ import annotations


class IsakmpdError(Exception):
    """Base class of every error this package raises on purpose."""


class MessageError(IsakmpdError):
    """An ISAKMP message or payload that cannot be accepted.

    ``notify`` is the RFC 2408 NOTIFY message type that answers it
    (for example 16 = PAYLOAD-MALFORMED), ``offset`` the byte offset in the
    buffer that was being read when the problem was found, or -1.
    """

    def __init__(self, notify: int, reason: str, offset: int = -1) -> None:
        super().__init__(reason)
        self.notify = notify
        self.reason = reason
        self.offset = offset

    def __str__(self) -> str:
        where = f" at offset {self.offset}" if self.offset >= 0 else ""
        return f"{self.reason}{where}"


class CryptoError(IsakmpdError):
    """A cryptographic operation failed (bad key length, unknown algorithm...).

    ``notify`` is the NOTIFY type to answer with when this came from a
    peer's input (for example 17 = INVALID-KEY-INFORMATION for a DH public
    value outside the group), else 0.
    """

    def __init__(self, reason: str, notify: int = 0) -> None:
        super().__init__(reason)
        self.notify = notify
        self.reason = reason


class ConfigError(IsakmpdError):
    """A configuration problem, naming file, line and reason where known."""

    def __init__(self, reason: str, file: str | None = None, line: int | None = None):
        self.reason = reason
        self.file = file
        self.line = line
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        super().__init__(f"{where}{reason}")


class KernelError(IsakmpdError):
    """The kernel refused a request. ``errno`` is the kernel's error number."""

    def __init__(self, reason: str, errno: int = 0) -> None:
        super().__init__(reason)
        self.errno = errno
        self.reason = reason


class KernelLacksESP(KernelError):
    """The running kernel has no ESP/AH/IPcomp (EPROTONOSUPPORT on NEWSA)."""
