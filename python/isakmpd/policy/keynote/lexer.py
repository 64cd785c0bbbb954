"""Tokens of KeyNote field bodies (RFC 2704 sections 4.2-4.6).

The lexer works on a slice of a :class:`Source` so that every token keeps
its offset in the whole text, and errors can name the line.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Source

# Token kinds.
STR = "string"
INT = "integer"
FLOAT = "float"
NAME = "name"
KOF = "k-of"
OP = "operator"
EOF = "end of field"

# Longest first, so that "&&" wins over "&" and "->" over "-".
_OPERATORS = (
    "&&", "||", "->", "~=", "==", "!=", "<=", ">=",
    "(", ")", "{", "}", ";", ",", "!", "<", ">",
    "+", "-", "*", "/", "%", "^", ".", "$", "@", "&", "=",
)  # fmt: skip
_WHITESPACE = " \t\n\r\f\v"
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_OCTAL = frozenset("01234567")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "f": "\f"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: str
    pos: int

    def describe(self) -> str:
        if self.kind == EOF:
            return "the end of the field"
        if self.kind == STR:
            return "a string"
        return f"'{self.value}'"


def tokenize(src: Source, start: int, end: int, kof: bool = False) -> list[Token]:
    """Split ``src.text[start:end]`` into tokens (a final EOF token included).

    ``kof`` recognises the Licensees threshold prefix ``K-of``.
    """
    text = src.text
    tokens: list[Token] = []
    i = start
    while i < end:
        c = text[i]
        if c in _WHITESPACE:
            i += 1
        elif c == "#":
            nl = text.find("\n", i, end)
            i = end if nl < 0 else nl + 1
        elif c == '"':
            value, j = _string_literal(src, i, end)
            tokens.append(Token(STR, value, i))
            i = j
        elif c in _DIGITS:
            i = _number(src, i, end, kof, tokens)
        elif c in _NAME_START:
            j = i + 1
            while j < end and text[j] in _NAME_CHARS:
                j += 1
            tokens.append(Token(NAME, text[i:j], i))
            i = j
        else:
            for op in _OPERATORS:
                if text.startswith(op, i, end):
                    tokens.append(Token(OP, op, i))
                    i += len(op)
                    break
            else:
                raise src.error(f"unexpected character {c!r}", i)
    tokens.append(Token(EOF, "", end))
    return tokens


def _number(src: Source, i: int, end: int, kof: bool, out: list[Token]) -> int:
    text = src.text
    j = i
    while j < end and text[j] in _DIGITS:
        j += 1
    if kof and text.startswith("-of", j, end):
        after = j + 3
        if after >= end or text[after] not in _NAME_CHARS:
            if text[i] == "0":
                raise src.error("a threshold K-of needs K of at least 1", i)
            out.append(Token(KOF, text[i:j], i))
            return after
    if j + 1 < end and text[j] == "." and text[j + 1] in _DIGITS:
        k = j + 1
        while k < end and text[k] in _DIGITS:
            k += 1
        out.append(Token(FLOAT, text[i:k], i))
        return k
    out.append(Token(INT, text[i:j], i))
    return j


def _string_literal(src: Source, start: int, end: int) -> tuple[str, int]:
    """Decode the string literal opening at ``start``; return (value, next)."""
    text = src.text
    out: list[str] = []
    i = start + 1
    while True:
        if i >= end:
            raise src.error("unterminated string literal", start)
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c in "\n\r":
            raise src.error("newline inside a string literal (escape it with \\)", i)
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= end:
            raise src.error("unterminated string literal", start)
        c = text[i]
        if c == "\n" or (c == "\r" and text.startswith("\n", i + 1, end)):
            # Backslash-newline: drop the newline and the indentation after it.
            while i < end and text[i] in _WHITESPACE:
                i += 1
            continue
        octal, used = _octal(text, i, end)
        if used:
            out.append(octal)
            i += used
        elif c in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[c])
            i += 1
        else:
            out.append(c)
            i += 1


def _octal(text: str, i: int, end: int) -> tuple[str, int]:
    """An octal escape at ``i`` ("\\0o", "\\0oo" or "\\ooo"); ("", 0) if none.

    NUL cannot be written this way: such escapes stand for their digits.
    """
    digits = ""
    if text[i] == "0":
        j = i + 1
        while j < end and j < i + 3 and text[j] in _OCTAL:
            digits += text[j]
            j += 1
        used = j - i
    else:
        chunk = text[i : i + 3] if i + 3 <= end else ""
        if len(chunk) == 3 and all(ch in _OCTAL for ch in chunk):
            digits = chunk
        used = 3
    if not digits:
        return "", 0
    value = int(digits, 8)
    if value == 0 or value > 0xFF:
        return "", 0
    return chr(value), used
