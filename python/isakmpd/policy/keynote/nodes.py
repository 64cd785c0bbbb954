"""Syntax trees of KeyNote expressions, and how they evaluate.

Every node knows its static type (string, integer, float, boolean) and its
depth, which the parser bounds. A runtime error such as a division by zero
raises :class:`Fault`; the Conditions evaluator turns it into a false test
(RFC 2704 section 5.3.4). Integers are those of the RFC, 32-bit: a result
outside that range is a runtime error too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Protocol

from .regex import RegexError, compile_posix

STR = "string"
INT = "integer"
FLOAT = "float"
BOOL = "boolean"
WORD = "word"  # "true"/"false": a boolean, or an attribute name as a string
PRINCIPALS = "principals"  # a Licensees expression

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
# What "@" and "&" accept: digits with at most one decimal point, and a sign.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")


class Fault(Exception):
    """A runtime error while evaluating a test (the test is then false)."""


class Context(Protocol):
    def lookup(self, name: str) -> str: ...

    def set_groups(self, groups: list[str]) -> None: ...

    def principal(self, principal: str) -> int: ...


class Node:
    __slots__ = ("depth", "pos")
    type = STR

    def __init__(self, pos: int, *children: Node) -> None:
        self.pos = pos
        self.depth = 1 + max((c.depth for c in children), default=0)

    def value(self, ctx: Context) -> object:
        raise NotImplementedError

    def principals(self) -> Iterator[Node]:
        """The principal expressions of a Licensees tree."""
        return iter(())


def check_int(v: int) -> int:
    if not INT_MIN <= v <= INT_MAX:
        raise Fault("integer out of range")
    return v


def check_float(v: float) -> float:
    if not math.isfinite(v):
        raise Fault("floating-point result out of range")
    return v


def to_int(s: str) -> int:
    """The "@" conversion: the value rounded down, 0 if not a number."""
    if not _NUMBER.match(s):
        return 0
    whole = s.lstrip("+-").split(".")[0].lstrip("0")
    if len(whole) > 11:  # far outside the 32-bit range: spare the big numbers
        raise Fault("number out of integer range")
    return check_int(math.floor(Decimal(s)))


def to_float(s: str) -> float:
    """The "&" conversion: the value, 0.0 if not a number."""
    if not _NUMBER.match(s):
        return 0.0
    return check_float(float(s))


class StrLit(Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text

    def value(self, ctx: Context) -> str:
        return self.text


class IntLit(Node):
    __slots__ = ("number",)
    type = INT

    def __init__(self, pos: int, number: int) -> None:
        super().__init__(pos)
        self.number = number

    def value(self, ctx: Context) -> int:
        return check_int(self.number)


class FloatLit(Node):
    __slots__ = ("text",)
    type = FLOAT

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text

    def value(self, ctx: Context) -> float:
        return check_float(float(self.text))


class Attr(Node):
    """An attribute dereferenced by name."""

    __slots__ = ("name",)

    def __init__(self, pos: int, name: str) -> None:
        super().__init__(pos)
        self.name = name

    def value(self, ctx: Context) -> str:
        return ctx.lookup(self.name)


class Word(Attr):
    """``true``/``false`` (any case): a keyword where a test is expected,
    otherwise an attribute name (RFC 2704 does not reserve them)."""

    __slots__ = ()
    type = WORD


class BoolConst(Node):
    __slots__ = ("flag",)
    type = BOOL

    def __init__(self, pos: int, flag: bool) -> None:
        super().__init__(pos)
        self.flag = flag

    def value(self, ctx: Context) -> bool:
        return self.flag


class Unary(Node):
    __slots__ = ("operand",)

    def __init__(self, pos: int, operand: Node) -> None:
        super().__init__(pos, operand)
        self.operand = operand


class Deref(Unary):
    """``$x``: the attribute whose name is the string x."""

    __slots__ = ()

    def value(self, ctx: Context) -> str:
        return ctx.lookup(self.operand.value(ctx))  # type: ignore[arg-type]


class ToInt(Unary):
    __slots__ = ()
    type = INT

    def value(self, ctx: Context) -> int:
        return to_int(self.operand.value(ctx))  # type: ignore[arg-type]


class ToFloat(Unary):
    __slots__ = ()
    type = FLOAT

    def value(self, ctx: Context) -> float:
        return to_float(self.operand.value(ctx))  # type: ignore[arg-type]


class Neg(Unary):
    __slots__ = ()

    @property
    def type(self) -> str:  # type: ignore[override]
        return self.operand.type

    def value(self, ctx: Context) -> int | float:
        v = self.operand.value(ctx)
        if isinstance(v, int):
            return check_int(-v)
        return -v  # type: ignore[operator]


class Not(Unary):
    __slots__ = ()
    type = BOOL

    def value(self, ctx: Context) -> bool:
        return not self.operand.value(ctx)


class Binary(Node):
    __slots__ = ("left", "op", "right")

    def __init__(self, pos: int, op: str, left: Node, right: Node) -> None:
        super().__init__(pos, left, right)
        self.op = op
        self.left = left
        self.right = right


class Concat(Binary):
    __slots__ = ()

    def value(self, ctx: Context) -> str:
        return self.left.value(ctx) + self.right.value(ctx)  # type: ignore[operator]


def _trunc_div(a: int, b: int) -> int:
    """C division: the quotient rounded toward zero."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _int_power(a: int, b: int) -> int:
    if b < 0:  # 1 / a^-b in integers
        if a == 0:
            raise Fault("division by zero")
        if a in (1, -1):
            return a ** (-b % 2)
        return 0
    if a in (0, 1) or b == 0:
        return a**b
    if a == -1:
        return -1 if b % 2 else 1
    if b > 64:
        raise Fault("integer out of range")
    return check_int(a**b)


class IntArith(Binary):
    __slots__ = ()
    type = INT

    def value(self, ctx: Context) -> int:
        a: int = self.left.value(ctx)  # type: ignore[assignment]
        b: int = self.right.value(ctx)  # type: ignore[assignment]
        op = self.op
        if op == "+":
            return check_int(a + b)
        if op == "-":
            return check_int(a - b)
        if op == "*":
            return check_int(a * b)
        if op == "^":
            return _int_power(a, b)
        if b == 0:
            raise Fault("division by zero")
        if op == "/":
            return check_int(_trunc_div(a, b))
        return a - b * _trunc_div(a, b)  # "%": the sign follows the dividend


class FloatArith(Binary):
    __slots__ = ()
    type = FLOAT

    def value(self, ctx: Context) -> float:
        a: float = self.left.value(ctx)  # type: ignore[assignment]
        b: float = self.right.value(ctx)  # type: ignore[assignment]
        op = self.op
        if op == "+":
            return check_float(a + b)
        if op == "-":
            return check_float(a - b)
        if op == "*":
            return check_float(a * b)
        if op == "/":
            if b == 0:
                raise Fault("division by zero")
            return check_float(a / b)
        try:
            return check_float(math.pow(a, b))
        except (ValueError, OverflowError) as exc:
            raise Fault(str(exc)) from None


_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


class Compare(Binary):
    __slots__ = ()
    type = BOOL

    def value(self, ctx: Context) -> bool:
        a = self.left.value(ctx)
        b = self.right.value(ctx)
        return bool(_COMPARE[self.op](a, b))


class Match(Binary):
    """``s ~= regex``: POSIX extended regular expression search; on success
    the groups become the attributes _0 (their number), _1, _2, ..."""

    __slots__ = ()
    type = BOOL

    def value(self, ctx: Context) -> bool:
        subject: str = self.left.value(ctx)  # type: ignore[assignment]
        pattern: str = self.right.value(ctx)  # type: ignore[assignment]
        try:
            compiled = compile_posix(pattern)
        except RegexError as exc:
            raise Fault(f"invalid regular expression: {exc}") from None
        m = compiled.search(subject)
        if m is None:
            return False
        ctx.set_groups([str(compiled.groups)] + [g or "" for g in m.groups()])
        return True


class And(Binary):
    __slots__ = ()
    type = BOOL

    def value(self, ctx: Context) -> bool:
        return bool(self.left.value(ctx)) and bool(self.right.value(ctx))


class Or(Binary):
    __slots__ = ()
    type = BOOL

    def value(self, ctx: Context) -> bool:
        return bool(self.left.value(ctx)) or bool(self.right.value(ctx))


# Licensees expressions: their value is the index of a compliance value.


class Principal(Unary):
    __slots__ = ()
    type = PRINCIPALS

    def value(self, ctx: Context) -> int:
        return ctx.principal(self.operand.value(ctx))  # type: ignore[arg-type]

    def principals(self) -> Iterator[Node]:
        yield self.operand


class LicAnd(Binary):
    __slots__ = ()
    type = PRINCIPALS

    def value(self, ctx: Context) -> int:
        return min(self.left.value(ctx), self.right.value(ctx))  # type: ignore

    def principals(self) -> Iterator[Node]:
        yield from self.left.principals()
        yield from self.right.principals()


class LicOr(LicAnd):
    __slots__ = ()

    def value(self, ctx: Context) -> int:
        return max(self.left.value(ctx), self.right.value(ctx))  # type: ignore


class KOf(Node):
    """``K-of(p1, p2, ...)``: the K-th highest value, with multiplicity."""

    __slots__ = ("items", "k")
    type = PRINCIPALS

    def __init__(self, pos: int, k: int, items: list[Node]) -> None:
        super().__init__(pos, *items)
        self.k = k
        self.items = items

    def value(self, ctx: Context) -> int:
        ranked = sorted((item.value(ctx) for item in self.items), reverse=True)
        return ranked[self.k - 1]  # type: ignore[no-any-return]

    def principals(self) -> Iterator[Node]:
        for item in self.items:
            yield from item.principals()
