"""Evaluation of Conditions programs and Licensees expressions for a query
(RFC 2704 sections 5.3.4 and 5.3.5). Compliance values are handled as
their index in the query's ordered value list: 0 is _MIN_TRUST.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .nodes import Fault, Node
from .parser import Program

SPECIAL_NAMES = ("_MIN_TRUST", "_MAX_TRUST", "_VALUES", "_ACTION_AUTHORIZERS")


@dataclass
class QueryState:
    """What one query knows: its values, attributes and principal values."""

    values: tuple[str, ...]
    attributes: Mapping[str, str]
    authorizers: tuple[str, ...]
    principal: Callable[[str], int]
    index: dict[str, int] = field(init=False)
    specials: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {v: i for i, v in enumerate(self.values)}
        self.specials = {
            "_MIN_TRUST": self.values[0],
            "_MAX_TRUST": self.values[-1],
            "_VALUES": ",".join(self.values),
            "_ACTION_AUTHORIZERS": ",".join(self.authorizers),
        }

    @property
    def max(self) -> int:
        return len(self.values) - 1


class Environment:
    """Name resolution inside one assertion: special attributes, then the
    groups of the last regular-expression match, then Local-Constants,
    then the action attributes. Unknown names are the empty string."""

    __slots__ = ("constants", "groups", "state")

    def __init__(self, state: QueryState, constants: Mapping[str, str]) -> None:
        self.state = state
        self.constants = constants
        self.groups: dict[str, str] = {}

    def lookup(self, name: str) -> str:
        if name.startswith("_"):
            special = self.state.specials.get(name)
            if special is not None:
                return special
            return self.groups.get(name, "")
        value = self.constants.get(name)
        if value is not None:
            return value
        return self.state.attributes.get(name, "")

    def set_groups(self, groups: list[str]) -> None:
        self.groups = {f"_{i}": g for i, g in enumerate(groups)}

    def principal(self, principal: str) -> int:
        return self.state.principal(principal)


def conditions_value(program: Program | None, env: Environment) -> int:
    """The Conditions Compliance Value; a missing field is _MAX_TRUST."""
    if program is None:
        return env.state.max
    return _program(program, env)


def _program(program: Program, env: Environment) -> int:
    best = 0
    top = env.state.max
    outer = env.groups
    for clause in program.clauses:
        # Match groups live for one clause, nested clauses included.
        env.groups = dict(outer)
        try:
            if not clause.test.value(env):
                continue
            if clause.body is not None:
                value = _program(clause.body, env)
            elif clause.value is not None:
                value = env.state.index.get(str(clause.value.value(env)), 0)
            else:
                value = top
        except Fault:
            continue
        finally:
            env.groups = outer
        if value > best:
            best = value
            if best == top:
                break
    return best


def licensees_value(node: Node | None, present: bool, env: Environment) -> int:
    """The Licensee Compliance Value: _MAX_TRUST when the field is missing,
    _MIN_TRUST when it is empty."""
    if not present:
        return env.state.max
    if node is None:
        return 0
    return node.value(env)  # type: ignore[return-value]
