"""Parsers for the bodies of KeyNote fields (RFC 2704 sections 4.3-4.6.5).

Conditions use one expression grammar in which every operand carries a
type; the RFC's productions (StrEx, IntEx, FloatEx, RelExpr) become type
rules checked as the tree is built, so "(" needs no guessing. Precedence,
lowest first: ``||``; ``&&``; ``!``; comparisons (not chained); ``+ - .``;
``* / %``; ``^``; unary ``- @ & $``; parentheses. Each binary level
associates left to right, as the RFC says.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import nodes as n
from .errors import Source
from .lexer import EOF, FLOAT, INT, KOF, NAME, OP, STR, Token, tokenize
from .regex import RegexError, compile_posix

MAX_DEPTH = 100
_COMPARISONS = frozenset(("==", "!=", "<", ">", "<=", ">=", "~="))
_TYPE_HINT = {
    n.STR: "a string",
    n.INT: "an integer",
    n.FLOAT: "a float",
    n.BOOL: "a test",
    n.WORD: "a string",
    n.PRINCIPALS: "a Licensees expression",
}


@dataclass(frozen=True, slots=True)
class Clause:
    test: n.Node
    value: n.Node | None  # "-> value": a string expression
    body: Program | None  # "-> { program }"


@dataclass(frozen=True, slots=True)
class Program:
    clauses: tuple[Clause, ...]


class Parser:
    """Recursive descent over one field body."""

    def __init__(self, src: Source, start: int, end: int, mode: str) -> None:
        self.src = src
        self.mode = mode  # "conditions", "licensees" or "string"
        self.tokens: list[Token] = tokenize(src, start, end, kof=mode == "licensees")
        self.i = 0
        self.nesting = 0
        #: (line, message) of what parses but cannot work as written
        self.warnings: list[tuple[int, str]] = []

    # -- token helpers -------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def at(self, op: str) -> bool:
        t = self.tokens[self.i]
        return t.kind == OP and t.value == op

    def take(self) -> Token:
        t = self.tokens[self.i]
        if t.kind != EOF:
            self.i += 1
        return t

    def expect(self, op: str, what: str) -> Token:
        if not self.at(op):
            raise self.error(f"expected '{op}' {what}, found {self.tok.describe()}")
        return self.take()

    def error(self, reason: str, pos: int | None = None) -> Exception:
        return self.src.error(reason, self.tok.pos if pos is None else pos)

    def at_end(self) -> bool:
        return self.tok.kind == EOF

    def finish(self) -> None:
        if not self.at_end():
            raise self.error(f"unexpected {self.tok.describe()}")

    def enter(self) -> None:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.error("expression nested too deeply")

    def built(self, node: n.Node) -> n.Node:
        if node.depth > MAX_DEPTH:
            raise self.error("expression too long or nested too deeply", node.pos)
        return node

    def _check_regex(self, pattern: n.StrLit) -> None:
        """A constant regular expression that does not compile: the clause
        is false whenever it is evaluated (RFC 2704), which is legal but
        most likely not meant; said once, when the file is read."""
        try:
            compile_posix(pattern.text)
        except RegexError as e:
            self.warnings.append((self.src.line_of(pattern.pos),
                                  f"invalid regular expression {pattern.text!r} "
                                  f"({e}): the comparison is always false"))

    # -- types ---------------------------------------------------------
    def want(self, node: n.Node, kind: str, context: str) -> n.Node:
        """``node`` as type ``kind`` (resolving true/false), or an error."""
        if node.type == kind:
            return node
        if node.type == n.WORD:
            if kind == n.BOOL:
                assert isinstance(node, n.Word)
                return n.BoolConst(node.pos, node.name.lower() == "true")
            if kind == n.STR:
                return node
        hint = ""
        if kind in (n.INT, n.FLOAT) and node.type in (n.STR, n.WORD):
            hint = " (convert with @ or &)"
        raise self.error(
            f"{context} needs {_TYPE_HINT[kind]}, not {_TYPE_HINT[node.type]}{hint}",
            node.pos,
        )

    def numeric_pair(self, op: Token, a: n.Node, b: n.Node) -> str:
        for side in (a, b):
            if side.type not in (n.INT, n.FLOAT):
                self.want(side, n.INT, f"'{op.value}'")
        if a.type != b.type:
            raise self.error(f"'{op.value}' mixes an integer and a float", op.pos)
        return a.type

    # -- Conditions ----------------------------------------------------
    def program(self, closing: str | None = None) -> Program:
        clauses: list[Clause] = []
        while not (self.at_end() if closing is None else self.at(closing)):
            if self.at_end():
                raise self.error("missing '}' at the end of a nested program")
            clauses.append(self.clause())
            self.expect(";", "after a clause")
        return Program(tuple(clauses))

    def clause(self) -> Clause:
        test = self.want(self.expression(), n.BOOL, "a clause")
        if not self.at("->"):
            return Clause(test, None, None)
        self.take()
        if self.at("{"):
            self.take()
            self.enter()
            body = self.program(closing="}")
            self.nesting -= 1
            self.take()
            return Clause(test, None, body)
        value = self.want(self.expression(), n.STR, "a clause value")
        return Clause(test, value, None)

    def expression(self) -> n.Node:
        """A whole Conditions expression (the ``||`` level)."""
        node = self.and_level()
        while self.at("||"):
            op = self.take()
            right = self.and_level()
            node = self.built(
                n.Or(op.pos, "||", self.want(node, n.BOOL, "'||'"),
                     self.want(right, n.BOOL, "'||'"))
            )  # fmt: skip
        return node

    def and_level(self) -> n.Node:
        node = self.not_level()
        while self.at("&&"):
            op = self.take()
            right = self.not_level()
            node = self.built(
                n.And(op.pos, "&&", self.want(node, n.BOOL, "'&&'"),
                      self.want(right, n.BOOL, "'&&'"))
            )  # fmt: skip
        return node

    def not_level(self) -> n.Node:
        if self.at("!"):
            op = self.take()
            self.enter()
            operand = self.not_level()
            self.nesting -= 1
            return self.built(n.Not(op.pos, self.want(operand, n.BOOL, "'!'")))
        return self.comparison()

    def comparison(self) -> n.Node:
        left = self.additive()
        if self.at("=") and self.mode == "conditions":
            raise self.error("'=' is not a comparison; use '=='")
        if not (self.tok.kind == OP and self.tok.value in _COMPARISONS):
            return left
        op = self.take()
        right = self.additive()
        if self.tok.kind == OP and self.tok.value in _COMPARISONS:
            raise self.error("comparisons cannot be chained; use && or parentheses")
        if op.value == "~=":
            pattern = self.want(right, n.STR, "a regular expression")
            if isinstance(pattern, n.StrLit):
                self._check_regex(pattern)
            return self.built(
                n.Match(op.pos, "~=", self.want(left, n.STR, "'~='"), pattern)
            )  # fmt: skip
        if n.INT in (left.type, right.type) or n.FLOAT in (left.type, right.type):
            kind = self.numeric_pair(op, left, right)
            if kind == n.FLOAT and op.value in ("==", "!="):
                raise self.error(
                    f"floating-point values cannot be compared with '{op.value}'",
                    op.pos,
                )
        else:
            left = self.want(left, n.STR, f"'{op.value}'")
            right = self.want(right, n.STR, f"'{op.value}'")
        return self.built(n.Compare(op.pos, op.value, left, right))

    def additive(self) -> n.Node:
        node = self.multiplicative()
        while self.tok.kind == OP and self.tok.value in ("+", "-", "."):
            op = self.take()
            right = self.multiplicative()
            node = self.built(self.binary(op, node, right))
        return node

    def multiplicative(self) -> n.Node:
        node = self.power()
        while self.tok.kind == OP and self.tok.value in ("*", "/", "%"):
            op = self.take()
            right = self.power()
            node = self.built(self.binary(op, node, right))
        return node

    def power(self) -> n.Node:
        node = self.unary()
        while self.at("^"):
            op = self.take()
            right = self.unary()
            node = self.built(self.binary(op, node, right))
        return node

    def binary(self, op: Token, left: n.Node, right: n.Node) -> n.Node:
        if op.value == ".":
            return n.Concat(
                op.pos,
                ".",
                self.want(left, n.STR, "'.'"),
                self.want(right, n.STR, "'.'"),
            )
        if self.mode != "conditions":
            raise self.error(f"'{op.value}' is only allowed in Conditions", op.pos)
        kind = self.numeric_pair(op, left, right)
        if kind == n.FLOAT:
            if op.value == "%":
                raise self.error("'%' needs integers, not floats", op.pos)
            return n.FloatArith(op.pos, op.value, left, right)
        return n.IntArith(op.pos, op.value, left, right)

    def unary(self) -> n.Node:
        t = self.tok
        if t.kind != OP or t.value not in ("-", "@", "&", "$"):
            return self.primary()
        if t.value != "$" and self.mode != "conditions":
            raise self.error(f"'{t.value}' is only allowed in Conditions")
        self.take()
        self.enter()
        operand = self.unary()
        self.nesting -= 1
        if t.value == "$":
            node: n.Node = n.Deref(t.pos, self.want(operand, n.STR, "'$'"))
        elif t.value == "@":
            node = n.ToInt(t.pos, self.want(operand, n.STR, "'@'"))
        elif t.value == "&":
            node = n.ToFloat(t.pos, self.want(operand, n.STR, "'&'"))
        elif isinstance(operand, n.IntLit):  # fold, so -2147483648 is in range
            node = n.IntLit(t.pos, -operand.number)
        else:
            if operand.type not in (n.INT, n.FLOAT):
                self.want(operand, n.INT, "unary '-'")
            node = n.Neg(t.pos, operand)
        return self.built(node)

    def primary(self) -> n.Node:
        t = self.tok
        if t.kind == STR:
            self.take()
            return n.StrLit(t.pos, t.value)
        if t.kind == NAME:
            self.take()
            if t.value.lower() in ("true", "false"):
                return n.Word(t.pos, t.value)
            return n.Attr(t.pos, t.value)
        if t.kind in (INT, FLOAT) and self.mode == "conditions":
            self.take()
            if t.kind == FLOAT:
                return n.FloatLit(t.pos, t.value)
            # Longer literals are out of range anyway; keep them out of int().
            number = int(t.value) if len(t.value) <= 20 else n.INT_MAX + 1
            return n.IntLit(t.pos, number)
        if self.at("("):
            self.take()
            self.enter()
            if self.mode == "conditions":
                inner = self.expression()
            elif self.mode == "licensees":
                inner = self.licensees_or()
                if isinstance(inner, n.Principal):  # a parenthesised string
                    inner = inner.operand
            else:
                inner = self.additive()
            self.nesting -= 1
            self.expect(")", "to close '('")
            return inner
        if t.kind == EOF:
            raise self.error("expression ends too early")
        raise self.error(f"unexpected {t.describe()}")

    # -- Licensees -----------------------------------------------------
    def licensees(self) -> n.Node | None:
        """The whole Licensees field; None when it is empty."""
        if self.at_end():
            return None
        node = self.licensees_or()
        self.finish()
        return node

    def licensees_or(self) -> n.Node:
        node = self.licensees_and()
        while self.at("||"):
            op = self.take()
            node = self.built(n.LicOr(op.pos, "||", node, self.licensees_and()))
        return node

    def licensees_and(self) -> n.Node:
        node = self.licensee()
        while self.at("&&"):
            op = self.take()
            node = self.built(n.LicAnd(op.pos, "&&", node, self.licensee()))
        return node

    def licensee(self) -> n.Node:
        t = self.tok
        if t.kind == KOF:
            self.take()
            self.expect("(", f"after '{t.value}-of'")
            items = [self.principal()]
            while self.at(","):
                self.take()
                items.append(self.principal())
            self.expect(")", f"to close '{t.value}-of('")
            k = int(t.value) if len(t.value) <= 9 else len(items) + 1
            if len(items) < k:
                raise self.error(
                    f"{t.value}-of lists only {len(items)} principal(s)", t.pos
                )
            return self.built(n.KOf(t.pos, k, items))
        node = self.additive()
        if node.type == n.PRINCIPALS:
            return node
        return self.built(n.Principal(node.pos, self.want(node, n.STR, "a licensee")))

    def principal(self) -> n.Node:
        node = self.additive()
        return self.built(n.Principal(node.pos, self.want(node, n.STR, "a principal")))

    # -- plain strings (Authorizer, Signature) --------------------------
    def string(self, what: str) -> n.Node:
        if self.at_end():
            raise self.error(f"the {what} field is empty")
        node = self.want(self.additive(), n.STR, f"the {what} field")
        self.finish()
        return node

    # -- Local-Constants and KeyNote-Version ----------------------------
    def constants(self) -> list[tuple[Token, str]]:
        pairs: list[tuple[Token, str]] = []
        while not self.at_end():
            name = self.take()
            if name.kind != NAME:
                raise self.error(
                    f"expected a constant name, found {name.describe()}", name.pos
                )
            self.expect("=", f"after '{name.value}'")
            value = self.take()
            if value.kind != STR:
                raise self.error(
                    f"'{name.value}' must be set to a string literal", value.pos
                )
            pairs.append((name, value.value))
        return pairs

    def version(self) -> Token:
        t = self.take()
        if t.kind not in (STR, INT):
            raise self.error("KeyNote-Version needs a number or a string", t.pos)
        self.finish()
        return t
