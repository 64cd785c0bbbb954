r"""POSIX extended regular expressions (RFC 2704 "~=") on top of Python ``re``.

The pattern is translated, never handed to ``re`` as is, because the two
dialects differ: a backslash is literal inside POSIX brackets, "[:alpha:]"
classes exist, "$" only matches at the very end, "." matches a newline,
"a*?" and "a*+" mean "(a*)?" and "(a*)+" (lazy and possessive in Python),
and "(?" is not an extension but an error. Literal characters are written
as escapes so nothing in them is special to ``re``. Besides POSIX, the GNU
escapes \w \W \s \S \b \B \< \> and back-references \1-\9 work, and
the BSD word boundaries [[:<:]] and [[:>:]].

Known difference (TODO(leftmost-longest)): POSIX picks the longest of the
leftmost matches and fills groups accordingly; ``re`` takes the first
alternative that matches. Whether a pattern matches is the same; the text
captured into _1, _2, ... can differ for ambiguous patterns like "(a|ab)".
"""

from __future__ import annotations

import functools
import re

_RE_DUP_MAX = 255
_INTERVAL = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")
_CLASSES = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r"\x20\t\n\r\f\v",
    "blank": r"\x20\t",
    "punct": r"\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e",
    "print": r"\x20-\x7e",
    "graph": r"\x21-\x7e",
    "cntrl": r"\x00-\x1f\x7f",
    "xdigit": "0-9A-Fa-f",
}
_ESCAPES = {
    "w": r"\w",
    "W": r"\W",
    "s": r"\s",
    "S": r"\S",
}
_ANCHOR_ESCAPES = {
    "b": r"\b",
    "B": r"\B",
    "<": r"\b(?=\w)",
    ">": r"\b(?<=\w)",
    "`": r"\A",
    "'": r"\Z",
}


class RegexError(ValueError):
    """A pattern that is not a valid POSIX extended regular expression."""


def _lit(c: str) -> str:
    """``c`` as a literal for ``re``, inside or outside brackets."""
    if c.isascii() and c.isalnum():
        return c
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


@functools.lru_cache(maxsize=512)
def compile_posix(pattern: str) -> re.Pattern[str]:
    """Compile a POSIX ERE; raise :class:`RegexError` if it is invalid."""
    try:
        return re.compile(translate(pattern), re.DOTALL | re.ASCII)
    except (re.error, RecursionError, OverflowError) as exc:
        raise RegexError(str(exc)) from None


def translate(pattern: str) -> str:
    """The ``re`` pattern equivalent to the POSIX ERE ``pattern``."""
    out: list[str] = []
    atom = -1  # index in out where the last quantifiable atom starts
    quantified = False
    groups: list[int] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        quant = ""
        if c in "*+?":
            quant = c
            i += 1
        elif c == "{":
            m = _INTERVAL.match(pattern, i)
            if m is None:
                raise RegexError(f"invalid interval at offset {i}")
            low = int(m.group(1)) if len(m.group(1)) < 5 else _RE_DUP_MAX + 1
            high_text = m.group(3)
            high = low if m.group(2) is None else None
            if high_text:
                high = int(high_text) if len(high_text) < 5 else _RE_DUP_MAX + 1
            if low > _RE_DUP_MAX or (
                high is not None and not low <= high <= _RE_DUP_MAX
            ):
                raise RegexError(f"invalid interval {m.group(0)}")
            quant = m.group(0)
            i = m.end()
        if quant:
            if atom < 0:
                raise RegexError(f"repetition {quant!r} without an operand")
            if quantified:  # POSIX "a**" is "(a*)*", not a Python modifier
                out[atom:] = ["(?:" + "".join(out[atom:]) + ")"]
            out.append(quant)
            quantified = True
            continue
        quantified = False
        if c == "(":
            groups.append(len(out))
            out.append("(")
            atom = -1
        elif c == ")":
            if not groups:
                raise RegexError("unmatched ')'")
            atom = groups.pop()
            out.append(")")
        elif c == "|":
            out.append("|")
            atom = -1
        elif c == "^":
            out.append("^")
            atom = -1
        elif c == "$":
            out.append(r"\Z")
            atom = -1
        elif c == ".":
            atom = len(out)
            out.append(".")
        elif c == "[" and pattern.startswith(("[[:<:]]", "[[:>:]]"), i):
            # BSD word boundaries, as OpenBSD's regcomp has them.
            out.append(_ANCHOR_ESCAPES[pattern[i + 3]])
            atom = -1
            i += 7
            continue
        elif c == "[":
            atom = len(out)
            text, i = _bracket(pattern, i + 1)
            out.append(text)
            continue
        elif c == "\\":
            i += 1
            if i >= n:
                raise RegexError("trailing backslash")
            e = pattern[i]
            if e in _ANCHOR_ESCAPES:
                out.append(_ANCHOR_ESCAPES[e])
                atom = -1
            else:
                atom = len(out)
                if e in "123456789":
                    out.append("\\" + e)
                else:
                    out.append(_ESCAPES.get(e) or _lit(e))
        else:
            atom = len(out)
            out.append(_lit(c))
        i += 1
    if groups:
        raise RegexError("unmatched '('")
    return "".join(out)


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """Translate the bracket expression whose body starts at ``i``."""
    n = len(pattern)
    negate = i < n and pattern[i] == "^"
    if negate:
        i += 1
    items: list[str] = []
    first = True
    while True:
        if i >= n:
            raise RegexError("unterminated bracket expression")
        c = pattern[i]
        if c == "]" and not first:
            i += 1
            break
        first = False
        if c == "[" and i + 1 < n and pattern[i + 1] == ":":
            end = pattern.find(":]", i + 2)
            if end < 0 or pattern[i + 2 : end] not in _CLASSES:
                raise RegexError(f"unknown character class at offset {i}")
            items.append(_CLASSES[pattern[i + 2 : end]])
            i = end + 2
            continue
        low, i = _bracket_char(pattern, i)
        if i + 1 < n and pattern[i] == "-" and pattern[i + 1] != "]":
            high, i = _bracket_char(pattern, i + 1)
            if ord(high) < ord(low):
                raise RegexError(f"invalid range {low}-{high}")
            items.append(_lit(low) + "-" + _lit(high))
        else:
            items.append(_lit(low))
    return "[" + ("^" if negate else "") + "".join(items) + "]", i


def _bracket_char(pattern: str, i: int) -> tuple[str, int]:
    """One bracket character: plain, or a collating "[.c.]" / "[=c=]"."""
    n = len(pattern)
    if pattern[i] == "[" and i + 1 < n and pattern[i + 1] in ".=":
        close = pattern[i + 1] + "]"
        end = pattern.find(close, i + 2)
        if end != i + 3:
            raise RegexError(f"unsupported collating element at offset {i}")
        return pattern[i + 2], end + 2
    return pattern[i], i + 1
