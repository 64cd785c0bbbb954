"""Generated inputs: the parser and evaluator raise nothing but
KeyNoteError, whatever the text; well-typed generated programs parse.

A small random generator over the grammar (seeded, no extra dependency):
well-typed Conditions and Licensees, then mutations of them, token soup
and raw bytes.
"""

from __future__ import annotations

import random

import pytest
from isakmpd.policy.keynote import KeyNoteError, Session, parse_assertions

NAMES = ["foo", "bar", "n", "f", "x_1", "true", "FALSE", "_0", "_1", "_MAX_TRUST",
         "_VALUES", "_ACTION_AUTHORIZERS", "_MIN_TRUST", "app_domain"]  # fmt: skip
ATTR_NAMES = ["foo", "bar", "n", "f", "x_1", "app_domain", "true"]
PRINCIPALS = ["alice", "bob", "POLICY", "rsa-hex:00", "passphrase:x", ""]
VALUES = [("false", "true"), ("no", "log", "yes"), ("only",)]
TOKENS = ["&&", "||", "!", "==", "!=", "<", ">", "<=", ">=", "~=", "+", "-",
          "*", "/", "%", "^", ".", "$", "@", "&", "(", ")", "{", "}", ";", ",",
          "->", "=", "2-of", "0-of", "1", "2147483648", "1.5", "true", "false",
          "foo", '"x"', '"(a|b)*"', '"\\', "#", "\n", "\n ", "\n\n", "Conditions:",
          "Licensees:", "Authorizer:", "Signature:", "KeyNote-Version:",
          "Local-Constants:", "Comment:", '"POLICY"', "_0"]  # fmt: skip


def literal(value: str) -> str:
    """A KeyNote string literal for ``value``."""
    out = []
    for c in value:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif ord(c) < 32 and c != "\t":
            out.append(f"\\{ord(c):03o}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


class Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def text(self) -> str:
        alphabet = 'ab01.*+?()[]{}|^$\\-:@ \t\n"é'
        return "".join(self.r.choice(alphabet) for _ in range(self.r.randint(0, 6)))

    def string(self, d: int) -> str:
        r = self.r
        k = r.randint(0, 5 if d > 0 else 1)
        if k == 0:
            return literal(self.text())
        if k == 1:
            return r.choice(NAMES)
        if k == 2:
            return "$" + self.string(d - 1)
        if k == 3:
            return f"{self.string(d - 1)} . {self.string(d - 1)}"
        return f"({self.string(d - 1)})"

    def number(self, d: int, flt: bool) -> str:
        r = self.r
        k = r.randint(0, 4 if d > 0 else 1)
        if k == 0:
            if flt:
                return f"{r.randint(0, 99)}.{r.randint(0, 99)}"
            return str(r.choice([0, 1, 2, 7, 31, 2147483647, 2147483648, 10**30]))
        if k == 1:
            return ("&" if flt else "@") + self.string(0)
        if k == 2:
            op = r.choice("+-*/^" if flt else "+-*/%^")
            return f"{self.number(d - 1, flt)} {op} {self.number(d - 1, flt)}"
        if k == 3:
            return "- " + self.number(d - 1, flt)
        return f"({self.number(d - 1, flt)})"

    def test(self, d: int) -> str:
        r = self.r
        k = r.randint(0, 8 if d > 0 else 4)
        if k == 0:
            return r.choice(["true", "false", "True", "FALSE"])
        all_ops = ["==", "!=", "<", ">", "<=", ">="]
        if k == 1:
            a, b = self.number(d - 1, False), self.number(d - 1, False)
            return f"{a} {r.choice(all_ops)} {b}"
        if k == 2:  # no float equality
            a, b = self.number(d - 1, True), self.number(d - 1, True)
            return f"{a} {r.choice(all_ops[2:])} {b}"
        if k == 3:
            return f"{self.string(d - 1)} {r.choice(all_ops)} {self.string(d - 1)}"
        if k == 4:
            return f"{self.string(d - 1)} ~= {self.string(d - 1)}"
        if k == 5:
            return "!" + self.test(d - 1)
        if k == 6:
            return f"{self.test(d - 1)} && {self.test(d - 1)}"
        if k == 7:
            return f"{self.test(d - 1)} || {self.test(d - 1)}"
        return f"({self.test(d - 1)})"

    def program(self, d: int) -> str:
        r = self.r
        clauses = []
        for _ in range(r.randint(0, 3)):
            clause = self.test(3)
            k = r.randint(0, 2 if d > 0 else 1)
            if k == 1:
                clause += " -> " + r.choice(['"true"', '"yes"', '"log"', "_MAX_TRUST",
                                             self.string(2)])  # fmt: skip
            elif k == 2:
                body = self.program(d - 1)  # no whitespace-only line: blank
                clause += " -> {\n  " + body + "\n }" if body else " -> { }"
            clauses.append(clause + ";")
        return "\n   ".join(clauses)

    def licensees(self, d: int) -> str:
        r = self.r
        k = r.randint(0, 4 if d > 0 else 0)
        if k == 0:
            return r.choice([literal(p) for p in PRINCIPALS] + ["K1", "who"])
        if k == 1:
            return f"{self.licensees(d - 1)} && {self.licensees(d - 1)}"
        if k == 2:
            return f"{self.licensees(d - 1)} || {self.licensees(d - 1)}"
        if k == 3:
            items = [self.licensees(0) for _ in range(r.randint(1, 4))]
            return f"{r.randint(1, len(items))}-of({', '.join(items)})"
        return f"({self.licensees(d - 1)})"

    def assertion(self) -> str:
        r = self.r
        lines = []
        if r.random() < 0.3:
            lines.append("KeyNote-Version: 2")
        if r.random() < 0.3:
            lines.append(
                f"Local-Constants: K1 = {literal(r.choice(PRINCIPALS) or 'k')}"
            )
        authorizer = r.choice(['"POLICY"', '"POLICY"', '"alice"', '"bob"'])
        fields = [f"Authorizer: {authorizer}"]
        if r.random() < 0.8:
            fields.append(
                "Licensees: " + (self.licensees(2) if r.random() < 0.9 else "")
            )
        if r.random() < 0.8:
            fields.append("Conditions: " + self.program(2))
        if r.random() < 0.2:
            fields.append("Comment: " + self.text().replace("\n", " "))
        r.shuffle(fields)
        return "\n".join(lines + fields) + "\n"

    def attributes(self) -> dict[str, str]:
        r = self.r
        return {
            name: r.choice([self.text(), str(r.randint(-5, 300)), "1.5", "foo", ""])
            for name in r.sample(ATTR_NAMES, r.randint(0, len(ATTR_NAMES)))
        }

    def mutate(self, text: str) -> str:
        r = self.r
        chars = list(text)
        for _ in range(r.randint(1, 4)):
            k = r.randint(0, 3)
            pos = r.randint(0, len(chars))
            if k == 0 and chars:
                del chars[min(pos, len(chars) - 1)]
            elif k == 1:
                chars.insert(pos, r.choice(TOKENS))
            elif k == 2:
                chars.insert(pos, chr(r.randint(0, 255)))
            elif chars:
                a = r.randint(0, len(chars) - 1)
                chars[a:a] = chars[a : a + r.randint(1, 10)]
        return "".join(chars)

    def soup(self) -> str:
        return " ".join(self.r.choice(TOKENS) for _ in range(self.r.randint(1, 30)))

    def noise(self) -> bytes:
        return bytes(self.r.randint(0, 255) for _ in range(self.r.randint(0, 200)))


def exercise(text: str | bytes, g: Gen) -> int:
    """Parse and query; return how many assertions parsed. Only
    KeyNoteError may come out of the engine."""
    try:
        assertions = parse_assertions(text, "fuzz")
    except KeyNoteError:
        return 0
    s = Session()
    try:
        s.add_policy(text, "fuzz")
    except KeyNoteError:
        return len(assertions)
    try:
        s.add_credential(text, "fuzz")
    except KeyNoteError:
        pass
    for _ in range(2):
        values = g.r.choice(VALUES)
        result = s.query(g.attributes(), g.r.sample(["alice", "bob", "x"], 2), values)
        assert result.value in values
        for verdict in result.verdicts:
            str(verdict)
    return len(assertions)


@pytest.mark.parametrize("seed", range(4))
def test_generated_assertions_parse_and_evaluate(seed: int) -> None:
    g = Gen(seed)
    for i in range(400):
        text = "\n".join(g.assertion() for _ in range(g.r.randint(1, 3)))
        try:
            assertions = parse_assertions(text, "gen")
        except KeyNoteError as exc:  # pragma: no cover - a generator bug or ours
            pytest.fail(f"case {seed}/{i}: {exc}\n{text}")
        assert len(assertions) == text.count("Authorizer:")
        exercise(text, g)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_assertions_only_raise_keynote_errors(seed: int) -> None:
    g = Gen(1000 + seed)
    parsed = 0
    for _ in range(500):
        text = g.mutate(g.assertion())
        parsed += exercise(text, g) > 0
    assert 0 < parsed < 500  # both outcomes were exercised


@pytest.mark.parametrize("seed", range(2))
def test_token_soup_and_bytes_only_raise_keynote_errors(seed: int) -> None:
    g = Gen(2000 + seed)
    for _ in range(500):
        exercise(g.soup(), g)
        exercise(g.noise(), g)
        exercise(g.noise().decode("latin-1"), g)
