"""The isakmpd.conf(5) line parser, and the secrecy check of the files the
daemon reads.

The rules are isakmpd's (conf.c), so that a file means the same thing here:

- Lines end at ``\\n``; a backslash right before the newline joins the next
  line, both characters becoming spaces.
- Only a line *starting* with ``#`` or ``;`` is a comment. A ``#`` after a
  value is part of the value.
- ``[name]`` opens a section; the name runs to the first ``]``, and text
  after it is ignored.
- ``tag=value``: the tag is cut at the first blank or ``=``; the value starts
  after the first ``=`` with leading blanks skipped and trailing whitespace
  removed.
- Sections and tags are case-insensitive; of two equal tags in a section the
  first is kept.

Where isakmpd silently does something surprising we do better and say so:

- the last line is read even without a final newline (isakmpd drops it);
- an indented ``  Tag=value`` is read as ``Tag``, with a warning (isakmpd
  stores it under an empty tag, where nothing finds it);
- a value holding `` #`` or `` ;`` is kept whole, as isakmpd does, with a
  warning since a comment was probably meant;
- a malformed line (no ``=``, no closing ``]``, a value outside any
  section) is an error naming file, line and reason, where isakmpd logs it
  and goes on.

Line numbers are those of the first physical line of a joined line.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from ..errors import ConfigError

_BLANKS = " \t"
WHITESPACE = " \t\r\n\v\f"  # isspace(3) in the C locale
_TAG = re.compile(r"[^ \t]*")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@lru_cache(maxsize=8192)
def key(name: str) -> str:
    """The lookup key of a section or tag name: ASCII case folded, as
    strcasecmp(3) compares."""
    return name.translate(_ASCII_LOWER)


@dataclass
class Tag:
    name: str
    value: str
    line: int | None = None
    file: str | None = None


@dataclass
class Section:
    name: str
    line: int | None = None
    tags: dict[str, Tag] = field(default_factory=dict)


@dataclass
class Parsed:
    """A parsed file: sections in file order (merged when a name repeats)
    and warnings as ``(line, message)``."""

    name: str
    sections: dict[str, Section] = field(default_factory=dict)
    warnings: list[tuple[int, str]] = field(default_factory=list)

    def warning_texts(self) -> list[str]:
        return [f"{self.name}:{ln}: {msg}" for ln, msg in self.warnings]


def _logical_lines(text: str) -> list[tuple[int, str, bool]]:
    """``(first line number, text, joined)`` of each logical line, with the
    backslash-newline joins applied as isakmpd applies them (both characters
    become spaces)."""
    out: list[tuple[int, str, bool]] = []
    parts: list[str] = []
    start = 1
    raws = text.split("\n")
    if raws and raws[-1] == "":
        raws.pop()  # what follows the final newline is not a line
    for ln, raw in enumerate(raws, 1):
        if raw.endswith("\\"):
            parts.append(raw[:-1] + "  ")
            continue
        parts.append(raw)
        out.append((start, "".join(parts), len(parts) > 1))
        parts = []
        start = ln + 1
    if parts:  # a backslash at the very end of the file
        out.append((start, "".join(parts), len(parts) > 1))
    return out


def _check_value(value: str, raw_after_eq: str, ln: int,
                 warn: Callable[[int, str], None]) -> None:
    probe = " " + raw_after_eq
    for mark in ("#", ";"):
        for blank in _BLANKS:
            if blank + mark in probe:
                warn(ln, f"value {value!r} contains {blank + mark!r}; it is kept "
                     "as part of the value (comments must start a line)")
                return


def parse(text: str, name: str = "<text>") -> Parsed:
    """Parse isakmpd.conf text. Raises ConfigError(reason, name, line) on the
    first malformed line; questionable but readable lines become warnings."""
    result = Parsed(name)
    warnings = result.warnings
    section: Section | None = None

    def warn(ln: int, msg: str) -> None:
        warnings.append((ln, msg))

    for ln, line, joined in _logical_lines(text):
        if "\0" in line:
            raise ConfigError("a NUL byte in the line (is this a text file?)", name, ln)
        if line.endswith("\r"):
            line = line[:-1]
        stripped = line.lstrip(WHITESPACE)
        if not stripped:
            continue
        if stripped[:1] in ("#", ";"):  # indented ones are dropped by isakmpd too
            if joined:
                warn(ln, "comment ends in a backslash: the next line is part "
                     "of the comment")
            continue
        indented = len(stripped) != len(line)
        if stripped.startswith("["):
            end = stripped.find("]")
            if end < 0:
                raise ConfigError("section header without a closing ']'", name, ln)
            sname = stripped[1:end]
            if not sname:
                raise ConfigError("empty section name '[]'", name, ln)
            if indented:
                warn(ln, f"indented section header [{sname}] read as a section")
            if sname != sname.strip(_BLANKS):
                warn(ln, f"section name [{sname}] has leading or trailing blanks; "
                     "they are part of the name")
            rest = stripped[end + 1:].strip()
            if rest and rest[0] not in "#;":
                warn(ln, f"text after [{sname}] ignored: {rest!r}")
            k = key(sname)
            section = result.sections.get(k)
            if section is None:
                section = result.sections[k] = Section(sname, ln)
            continue
        eq = line.find("=")
        if eq < 0:
            raise ConfigError("syntax error: expected [section], tag=value or a "
                              "comment", name, ln)
        if section is None:
            raise ConfigError("tag=value line before the first [section]", name, ln)
        head = line[:eq].lstrip(WHITESPACE)
        tag = _TAG.match(head).group()  # type: ignore[union-attr]
        if not tag:
            raise ConfigError("empty tag name before '='", name, ln)
        if head[len(tag):].strip(_BLANKS):
            warn(ln, f"tag {head.strip()!r} contains blanks; read as {tag!r}")
        if indented:
            warn(ln, f"indented line read as tag {tag!r} (isakmpd would store "
                 "it under an empty tag)")
        raw_after = line[eq + 1:]
        value = raw_after.lstrip(_BLANKS).rstrip(WHITESPACE)
        _check_value(value, raw_after, ln, warn)
        tk = key(tag)
        old = section.tags.get(tk)
        if old is not None:
            warn(ln, f"duplicate tag [{section.name}]:{tag}, ignored; the value "
                 f"of line {old.line} is kept")
            continue
        section.tags[tk] = Tag(tag, value, ln, name)
    return result


# --------------------------------------------------------------- secrecy


def check_secrecy_fd(fd: int, path: str) -> os.stat_result:
    """isakmpd's secrecy rule for an open file: owned by root or by the
    running user, and no permission bits at all for group and others.
    Returns the stat result; raises ConfigError saying how to fix it."""
    try:
        st = os.fstat(fd)
    except OSError as e:
        raise ConfigError(f"cannot stat: {e.strerror}", path) from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError("not a regular file", path)
    uid = os.getuid()
    if st.st_uid not in (0, uid):
        raise ConfigError(
            f"not loading: owned by uid {st.st_uid}, neither root nor the running "
            f"user (uid {uid}); fix with: chown {uid} {path}", path)
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        mode = stat.S_IMODE(st.st_mode)
        raise ConfigError(
            f"not loading: permissions {mode:04o} let group or others access it "
            f"and it may hold secrets; fix with: chmod 600 {path}", path)
    return st


def check_secrecy(path: str) -> None:
    """Check ``path`` (the configuration or the policy file) as isakmpd
    does before reading it; raises ConfigError with a fixing hint."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigError(f"cannot open: {e.strerror}", path) from None
    try:
        check_secrecy_fd(fd, path)
    finally:
        os.close(fd)


def read_secret_file(path: str, secrecy: bool = True) -> str:
    """Open, check (unless ``secrecy`` is false) and read a file as text.
    Bytes that are not UTF-8 survive as surrogate escapes, so that a
    pre-shared key keeps its exact bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigError(f"cannot open: {e.strerror}", path) from None
    try:
        if secrecy:
            check_secrecy_fd(fd, path)
        chunks = []
        while True:
            try:
                b = os.read(fd, 65536)
            except OSError as e:
                raise ConfigError(f"cannot read: {e.strerror}", path) from None
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "surrogateescape")


def parse_file(path: str, secrecy: bool = True) -> Parsed:
    return parse(read_secret_file(path, secrecy), path)
