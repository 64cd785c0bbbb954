"""Compliance checking (RFC 2704 section 5): the API the daemon uses.

A :class:`Session` holds trusted policy assertions and verified
credentials. :meth:`Session.query` computes the Policy Compliance Value:

- the value of a principal is _MAX_TRUST if it requested the action, and
  at least the value of every assertion it authorised;
- the value of an assertion is the lower of its Conditions value and its
  Licensees value (found from the values of the principals named there);
- the answer is the highest value among the POLICY assertions.

These definitions refer to each other, and delegation can loop. The
answer is their least fixed point: every value starts at _MIN_TRUST and is
raised until nothing changes. All operations are monotonic, so this ends,
and a loop of assertions never raises a value by itself. Only assertions
reachable from POLICY through Licensees are evaluated.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .assertion import Assertion, parse_assertions
from .errors import KeyNoteError
from .evaluate import Environment, QueryState, conditions_value, licensees_value
from .keys import PrincipalId, canonical
from .signature import read_credentials, verify

_ATTRIBUTE_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"
)


@dataclass(frozen=True)
class Verdict:
    """How one assertion evaluated in a query."""

    assertion: Assertion
    conditions: str
    licensees: str
    value: str

    def __str__(self) -> str:
        return (
            f"{self.assertion}: Conditions {self.conditions!r}, "
            f"Licensees {self.licensees!r} -> {self.value!r}"
        )


@dataclass(frozen=True)
class Result:
    """The answer to a query.

    ``deciding`` explains it: when the value is above _MIN_TRUST, the
    POLICY assertions that gave it and the credentials that carried it to
    the requesters; when it is _MIN_TRUST, the POLICY assertions, each
    with the Conditions and Licensees values that held it down.
    ``verdicts`` lists every assertion that was evaluated.
    """

    value: str
    values: tuple[str, ...]
    deciding: tuple[Verdict, ...]
    verdicts: tuple[Verdict, ...]

    @property
    def index(self) -> int:
        return self.values.index(self.value)

    @property
    def approved(self) -> bool:
        """True when the value is _MAX_TRUST."""
        return self.value == self.values[-1]

    @property
    def deciding_assertions(self) -> tuple[Assertion, ...]:
        return tuple(v.assertion for v in self.deciding)


class Session:
    """Policies and credentials, and queries against them."""

    def __init__(self) -> None:
        self._assertions: list[Assertion] = []
        self._trusted: set[int] = set()

    @property
    def assertions(self) -> tuple[Assertion, ...]:
        return tuple(self._assertions)

    def add_policy(
        self, text: str | bytes, filename: str = "<policy>"
    ) -> list[Assertion]:
        """Add locally trusted assertions (a policy file). A Signature, if
        present, must still verify."""
        parsed = parse_assertions(text, filename)
        for a in parsed:
            if a.signature is not None:
                verify(a)
        self._add(parsed, trusted=True)
        return parsed

    def add_credential(
        self, text: str | bytes, filename: str = "<credential>"
    ) -> list[Assertion]:
        """Add signed credentials. All of them are checked before any is
        added; a bad one raises :class:`KeyNoteSignatureError`."""
        parsed = read_credentials(text, filename)
        self._add(parsed, trusted=False)
        return parsed

    def load_file(
        self, path: str | os.PathLike[str], trusted: bool = True
    ) -> list[Assertion]:
        """Read a policy (``trusted``) or credential file. Checking who may
        write the file is the caller's business."""
        name = os.fspath(path)
        try:
            with open(name, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise KeyNoteError(f"cannot read: {exc.strerror or exc}", name) from None
        if trusted:
            return self.add_policy(data, name)
        return self.add_credential(data, name)

    def remove(self, assertion: Assertion) -> None:
        self._assertions = [a for a in self._assertions if a is not assertion]
        self._trusted.discard(id(assertion))

    def _add(self, parsed: list[Assertion], trusted: bool) -> None:
        for a in parsed:
            self._assertions.append(a)
            if trusted:
                self._trusted.add(id(a))

    def query(
        self,
        attributes: Mapping[str, str],
        authorizers: Iterable[str],
        values: Sequence[str] = ("false", "true"),
        credentials: Iterable[Assertion] = (),
    ) -> Result:
        """The Policy Compliance Value of an action requested by
        ``authorizers`` and described by ``attributes``, among ``values``
        (ordered from _MIN_TRUST to _MAX_TRUST). ``credentials`` are used
        for this query only (e.g. those a peer sent); they must come from
        :func:`read_credentials`, which checks their signatures."""
        values = _check_values(values)
        authorizers = tuple(authorizers)
        _check_query(attributes, authorizers)
        extra = tuple(credentials)
        for a in extra:
            if not a.verified:
                raise KeyNoteError(f"credential {a} has no verified signature")
        return _Query(self, attributes, authorizers, values, extra).run()

    def _is_trusted(self, a: Assertion) -> bool:
        return id(a) in self._trusted


def _check_values(values: Sequence[str]) -> tuple[str, ...]:
    values = tuple(values)
    if not values:
        raise KeyNoteError("a query needs at least one compliance value")
    if not all(isinstance(v, str) for v in values):
        raise KeyNoteError("compliance values are strings")
    if len(set(values)) != len(values):
        raise KeyNoteError("compliance values must be distinct")
    return values


def _check_query(attributes: Mapping[str, str], authorizers: tuple[str, ...]) -> None:
    if not authorizers:
        raise KeyNoteError("a query needs at least one action authorizer")
    for p in authorizers:
        if not isinstance(p, str) or not p:
            raise KeyNoteError(f"bad action authorizer {p!r}")
    for name, value in attributes.items():
        if (
            not isinstance(name, str)
            or not name
            or not _ATTRIBUTE_CHARS.issuperset(name)
        ):
            raise KeyNoteError(f"bad action attribute name {name!r}")
        if name[0] == "_" or name[0].isdigit():
            raise KeyNoteError(
                f"action attribute {name!r}: names must start with a letter "
                "(those starting with '_' are reserved)"
            )
        if not isinstance(value, str):
            raise KeyNoteError(f"action attribute {name!r} must be a string")


class _Query:
    """One evaluation: principal and assertion values, from the bottom up."""

    def __init__(
        self,
        session: Session,
        attributes: Mapping[str, str],
        authorizers: tuple[str, ...],
        values: tuple[str, ...],
        credentials: tuple[Assertion, ...] = (),
    ) -> None:
        self.session = session
        self.state = QueryState(values, dict(attributes), authorizers, self.principal)
        self.values = values
        self.top = len(values) - 1
        self.requesters = {canonical(p) for p in authorizers}
        self.by_authorizer: dict[PrincipalId, list[Assertion]] = {}
        self.all = session.assertions + credentials
        for a in self.all:
            if a.is_policy and not session._is_trusted(a):
                continue  # never trust an untrusted "POLICY"
            self.by_authorizer.setdefault(a.authorizer_id, []).append(a)
        self.pcv: dict[PrincipalId, int] = {p: self.top for p in self.requesters}
        self.acv: dict[int, int] = {}
        self.cond: dict[int, int] = {}
        self.lic: dict[int, int] = {}
        self.envs: dict[int, Environment] = {}
        self.named: dict[int, list[PrincipalId]] = {}

    def principal(self, principal: str) -> int:
        return self.pcv.get(canonical(principal), 0)

    def env(self, a: Assertion) -> Environment:
        env = self.envs.get(id(a))
        if env is None:
            env = self.envs[id(a)] = Environment(self.state, a.constants)
        return env

    def licensees_of(self, a: Assertion) -> list[PrincipalId]:
        """The principals named in the Licensees of ``a`` (for this query)."""
        named = self.named.get(id(a))
        if named is None:
            named = []
            if a.licensees is not None:
                env = self.env(a)
                for p in a.licensees.principals():
                    named.append(canonical(str(p.value(env))))
            self.named[id(a)] = named
        return named

    def reachable(self) -> list[Assertion]:
        """The assertions on some path from POLICY, in the session's order."""
        seen: set[int] = set()
        todo = list(self.by_authorizer.get(canonical("POLICY"), []))
        while todo:
            a = todo.pop()
            if id(a) in seen:
                continue
            seen.add(id(a))
            for p in self.licensees_of(a):
                if p not in self.requesters:
                    todo.extend(self.by_authorizer.get(p, []))
        order = []
        for a in self.all:
            if id(a) in seen:
                seen.discard(id(a))  # once, even if given twice
                order.append(a)
        return order

    def run(self) -> Result:
        graph = self.reachable()
        # Who must be looked at again when a principal's value rises.
        dependents: dict[PrincipalId, list[Assertion]] = {}
        for a in graph:
            for p in set(self.licensees_of(a)):
                dependents.setdefault(p, []).append(a)
            self.cond[id(a)] = conditions_value(a.conditions, self.env(a))
            self.acv[id(a)] = 0
        queue = deque(reversed(graph))  # delegation chains end last
        queued = {id(a) for a in graph}
        while queue:
            a = queue.popleft()
            key = id(a)
            queued.discard(key)
            if self.acv[key] >= self.cond[key]:
                continue
            lic = licensees_value(a.licensees, a.has_licensees, self.env(a))
            value = min(self.cond[key], lic)
            if value <= self.acv[key]:
                continue
            self.acv[key] = value
            if value > self.pcv.get(a.authorizer_id, 0):
                self.pcv[a.authorizer_id] = value
                for b in dependents.get(a.authorizer_id, ()):
                    if id(b) not in queued:
                        queued.add(id(b))
                        queue.append(b)
        for a in graph:  # final Licensees values, for the verdicts
            self.lic[id(a)] = licensees_value(a.licensees, a.has_licensees, self.env(a))
        policies = [a for a in graph if a.is_policy]
        best = max((self.acv[id(a)] for a in policies), default=0)
        verdicts = {id(a): self.verdict(a) for a in graph}
        if best == 0:
            deciding = [verdicts[id(a)] for a in policies]
        else:
            deciding = [verdicts[id(a)] for a in self.support(policies, best)]
        return Result(
            self.values[best],
            self.values,
            tuple(deciding),
            tuple(verdicts[id(a)] for a in graph),
        )

    def verdict(self, a: Assertion) -> Verdict:
        key = id(a)
        return Verdict(
            a,
            self.values[self.cond[key]],
            self.values[self.lic[key]],
            self.values[self.acv[key]],
        )

    def support(self, policies: list[Assertion], best: int) -> list[Assertion]:
        """The assertions that carry ``best`` from POLICY to the requesters."""
        chosen: list[Assertion] = []
        seen: set[int] = set()
        todo = [a for a in policies if self.acv[id(a)] == best]
        while todo:
            a = todo.pop(0)
            if id(a) in seen:
                continue
            seen.add(id(a))
            chosen.append(a)
            need = self.acv[id(a)]
            for p in self.licensees_of(a):
                if p in self.requesters or self.pcv.get(p, 0) < need:
                    continue
                todo.extend(
                    b
                    for b in self.by_authorizer.get(p, [])
                    if self.acv.get(id(b), 0) >= need
                )
        return chosen
