"""Exceptions of the KeyNote engine, and where in a text they point."""

from __future__ import annotations

import bisect

from ...errors import IsakmpdError


class KeyNoteError(IsakmpdError):
    """A KeyNote problem, naming file and line where known."""

    def __init__(self, reason: str, file: str | None = None, line: int | None = None):
        self.reason = reason
        self.file = file
        self.line = line
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        elif line is not None:
            where = f"line {line}: "
        super().__init__(f"{where}{reason}")


class KeyNoteSyntaxError(KeyNoteError):
    """An assertion that does not follow the RFC 2704 grammar."""


class KeyNoteSignatureError(KeyNoteError):
    """A credential whose Signature is missing, unsupported or wrong."""


class Source:
    """A text being parsed, with its name, mapping offsets to line numbers."""

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self._starts = [0]
        pos = text.find("\n")
        while pos >= 0:
            self._starts.append(pos + 1)
            pos = text.find("\n", pos + 1)

    def line_of(self, pos: int) -> int:
        """1-based line number of offset ``pos``."""
        return bisect.bisect_right(self._starts, pos)

    def error(self, reason: str, pos: int) -> KeyNoteSyntaxError:
        return KeyNoteSyntaxError(reason, self.filename, self.line_of(pos))
