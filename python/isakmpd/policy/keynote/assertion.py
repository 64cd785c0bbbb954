"""KeyNote assertions: splitting a text into assertions and fields, and
parsing each field (RFC 2704 section 4).

Layout rules: assertions are separated by blank lines (a line of only
whitespace counts as blank); a line starting with "#" is a comment; a line
starting with whitespace continues the field above it; any other line
starts a field, ``Name:`` with the name in any case. KeyNote-Version must
be the first field and Signature the last; each appears at most once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from .errors import KeyNoteSyntaxError, Source
from .keys import PrincipalId, canonical
from .nodes import Node
from .parser import Parser, Program

FIELDS = {
    name.lower(): name
    for name in (
        "KeyNote-Version",
        "Local-Constants",
        "Authorizer",
        "Licensees",
        "Comment",
        "Conditions",
        "Signature",
    )
}
VERSION = "2"
_NOT_8BIT = re.compile(r"[\x00\u0100-\U0010ffff]")
POLICY = "POLICY"


@dataclass(frozen=True, slots=True)
class FieldSpan:
    name: str  # as spelled in FIELDS
    line_start: int  # offset of the line holding the field name
    body_start: int  # just after the colon
    body_end: int  # end of the field's last line, newline excluded


@dataclass(frozen=True, slots=True)
class Layout:
    start: int  # first character of the assertion (leading comments included)
    end: int  # just after its last line
    fields: tuple[FieldSpan, ...]

    def get(self, name: str) -> FieldSpan | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


@dataclass(eq=False, repr=False)
class Assertion:
    """One parsed assertion. ``signed_data`` holds the text(s) a signature
    may cover (see :mod:`.signature`)."""

    source: str
    line: int
    text: str
    authorizer: str
    constants: Mapping[str, str]
    licensees: Node | None
    has_licensees: bool
    conditions: Program | None
    comment: str | None = None
    version: str | None = None
    signature: str | None = None
    signed_data: tuple[str, ...] = ()
    #: (line, message) of clauses that parse but cannot work as written
    #: (a constant regular expression that does not compile)
    warnings: tuple[tuple[int, str], ...] = ()
    authorizer_id: PrincipalId = field(init=False)
    verified: bool = field(init=False, default=False)  # set by signature.verify

    def __post_init__(self) -> None:
        self.authorizer_id = canonical(self.authorizer)

    @property
    def is_policy(self) -> bool:
        return self.authorizer == POLICY

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def __str__(self) -> str:
        who = (
            self.authorizer
            if len(self.authorizer) <= 40
            else (self.authorizer[:37] + "...")
        )
        return f"{self.where} (Authorizer {who})"

    def __repr__(self) -> str:
        return f"<Assertion {self}>"


def check_text(text: str | bytes, filename: str) -> str:
    """Assertions are 8-bit text without NUL; bytes are read as Latin-1."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    bad = _NOT_8BIT.search(text)
    if bad is not None:
        c = bad.group()
        what = "a NUL character" if c == "\0" else f"the character {c!r}"
        raise Source(text, filename).error(f"{what} cannot appear here", bad.start())
    return text


def split(src: Source) -> Iterator[Layout]:
    """The layout of every assertion in ``src`` (comment-only blocks skipped)."""
    text = src.text
    block_start = -1
    pos = 0
    while pos <= len(text):
        nl = text.find("\n", pos)
        line_end = len(text) if nl < 0 else nl
        blank = text[pos:line_end].strip() == ""
        if not blank and block_start < 0:
            block_start = pos
        if (blank or nl < 0) and block_start >= 0:
            block_end = pos if blank else len(text)
            layout = _layout(src, block_start, block_end)
            if layout is not None:
                yield layout
            block_start = -1
        if nl < 0:
            break
        pos = nl + 1


def _layout(src: Source, start: int, end: int) -> Layout | None:
    text = src.text
    fields: list[FieldSpan] = []
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl
        c = text[pos]
        if c == "#":
            if fields:
                fields[-1] = _extend(fields[-1], line_end)
        elif c in " \t\r\f\v":
            if not fields:
                raise src.error(
                    "indented line before the first field (blank lines end "
                    "an assertion)",
                    pos,
                )
            fields[-1] = _extend(fields[-1], line_end)
        else:
            colon = text.find(":", pos, line_end)
            if colon < 0:
                raise src.error("expected a field ('Name: ...')", pos)
            label = text[pos:colon]
            name = FIELDS.get(label.lower())
            if name is None:
                raise src.error(f"unknown field {label!r}", pos)
            fields.append(FieldSpan(name, pos, colon + 1, line_end))
        pos = line_end + 1
    if not fields:
        return None
    seen: dict[str, FieldSpan] = {}
    for i, f in enumerate(fields):
        if f.name in seen:
            first = src.line_of(seen[f.name].line_start)
            raise src.error(
                f"{f.name} appears twice (first on line {first})", f.line_start
            )
        seen[f.name] = f
        if f.name == "KeyNote-Version" and i != 0:
            raise src.error("KeyNote-Version must be the first field", f.line_start)
        if f.name == "Signature" and i != len(fields) - 1:
            raise src.error(
                "Signature must be the last field", fields[i + 1].line_start
            )
    if "Authorizer" not in seen:
        raise src.error("assertion has no Authorizer field", fields[0].line_start)
    return Layout(start, end, tuple(fields))


def _extend(f: FieldSpan, body_end: int) -> FieldSpan:
    return FieldSpan(f.name, f.line_start, f.body_start, body_end)


class _Undefined(Exception):
    pass


class _ConstantsOnly:
    """Names in Authorizer and Signature: Local-Constants, nothing else."""

    def __init__(self, constants: Mapping[str, str]) -> None:
        self.constants = constants

    def lookup(self, name: str) -> str:
        if name in self.constants:
            return self.constants[name]
        raise _Undefined(name)

    def set_groups(self, groups: list[str]) -> None:  # pragma: no cover
        raise _Undefined("_0")

    def principal(self, principal: str) -> int:  # pragma: no cover
        raise _Undefined(principal)


def parse_assertions(text: str | bytes, filename: str = "<string>") -> list[Assertion]:
    """Parse every assertion of ``text``; raise :class:`KeyNoteSyntaxError`
    (with file and line) at the first error."""
    src = Source(check_text(text, filename), filename)
    return [parse_layout(src, layout) for layout in split(src)]


def parse_layout(src: Source, layout: Layout) -> Assertion:
    constants = _constants(src, layout.get("Local-Constants"))
    version = _version(src, layout.get("KeyNote-Version"))
    env = _ConstantsOnly(constants)
    auth = layout.get("Authorizer")
    assert auth is not None
    authorizer = _string_field(src, auth, env)
    lic = layout.get("Licensees")
    licensees = None
    if lic is not None:
        licensees = Parser(src, lic.body_start, lic.body_end, "licensees").licensees()
    cond = layout.get("Conditions")
    conditions = None
    warnings: tuple[tuple[int, str], ...] = ()
    if cond is not None:
        parser = Parser(src, cond.body_start, cond.body_end, "conditions")
        conditions = parser.program()
        warnings = tuple(parser.warnings)
    comment_span = layout.get("Comment")
    comment = None
    if comment_span is not None:
        raw = src.text[comment_span.body_start : comment_span.body_end]
        lines = [ln for ln in raw.split("\n") if not ln.startswith("#")]
        comment = "\n".join(lines).strip()
    sig = layout.get("Signature")
    signature = None
    signed: tuple[str, ...] = ()
    if sig is not None:
        if authorizer == POLICY:
            raise src.error('an assertion by "POLICY" cannot be signed', sig.line_start)
        signature = _string_field(src, sig, env)
        # libkeynote signs from the first line, comments included; RFC 2704
        # says from the first field. Both are accepted.
        signed = (src.text[layout.start : sig.line_start],)
        first_field = layout.fields[0].line_start
        if first_field != layout.start:
            signed += (src.text[first_field : sig.line_start],)
    end = layout.end
    return Assertion(
        source=src.filename,
        line=src.line_of(layout.fields[0].line_start),
        text=src.text[layout.start : end],
        authorizer=authorizer,
        constants=constants,
        licensees=licensees,
        has_licensees=lic is not None,
        conditions=conditions,
        comment=comment,
        version=version,
        signature=signature,
        signed_data=signed,
        warnings=warnings,
    )


def _constants(src: Source, span: FieldSpan | None) -> dict[str, str]:
    constants: dict[str, str] = {}
    if span is None:
        return constants
    for name, value in Parser(
        src, span.body_start, span.body_end, "string"
    ).constants():
        if name.value.startswith("_"):
            raise src.error(
                f"Local-Constants name {name.value!r}: names starting with '_' "
                "are reserved",
                name.pos,
            )
        if name.value in constants:
            raise src.error(f"Local-Constants sets {name.value!r} twice", name.pos)
        constants[name.value] = value
    return constants


def _version(src: Source, span: FieldSpan | None) -> str | None:
    if span is None:
        return None
    tok = Parser(src, span.body_start, span.body_end, "string").version()
    if tok.value != VERSION:
        raise src.error(
            f"unsupported KeyNote-Version {tok.value!r} (only {VERSION} is known)",
            tok.pos,
        )
    return tok.value


def _string_field(src: Source, span: FieldSpan, env: _ConstantsOnly) -> str:
    node = Parser(src, span.body_start, span.body_end, "string").string(span.name)
    try:
        value = node.value(env)
    except _Undefined as exc:
        raise src.error(
            f"{span.name} refers to {exc.args[0]!r}, which Local-Constants "
            "does not define",
            span.line_start,
        ) from None
    if not isinstance(value, str) or value == "":
        raise src.error(f"the {span.name} field is empty", span.line_start)
    return value


__all__ = ["Assertion", "KeyNoteSyntaxError", "parse_assertions"]
