"""The configuration store: isakmpd's section/tag table with its defaults
layer and transactions.

Values read from the file, or set later through transactions (the FIFO's
``C`` commands, ACQUIRE-made connections), live in one layer; under it lies
the defaults layer of :mod:`.defaults`, which never overrides a value of the
upper layer. Removing a tag or a section hides the default beneath it too,
as it does in isakmpd where both share one table.

All changes go through :meth:`Conf.transaction`; a transaction is applied
whole when its ``with`` block ends normally and not at all otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from ..errors import ConfigError
from . import defaults
from .parser import WHITESPACE, Section, Tag, key, parse, read_secret_file

_BAD_SECTION_CHARS = "]\n\r"
_BAD_TAG_CHARS = "= \t\n\r"


@dataclass
class _State:
    sections: dict[str, Section] = field(default_factory=dict)
    masked_sections: set[str] = field(default_factory=set)
    masked_tags: set[tuple[str, str]] = field(default_factory=set)

    def copy(self) -> "_State":
        # Sections are copied when first changed (see Transaction._section).
        return _State(dict(self.sections), set(self.masked_sections),
                      set(self.masked_tags))


class _View:
    """Read access shared by :class:`Conf` and :class:`Transaction`."""

    _state: _State

    def _general(self, tag: str) -> str | None:
        s = self._state.sections.get("general")
        t = s.tags.get(key(tag)) if s is not None else None
        return t.value if t is not None else None

    def _default_tags(self, sk: str) -> defaults.Tags | None:
        if sk in self._state.masked_sections:
            return None
        return defaults.lookup(sk, self._general)

    def _find(self, section: str, tag: str) -> tuple[str, Tag | None]:
        """(value, file-layer Tag or None) of a tag, or raises KeyError."""
        sk, tk = key(section), key(tag)
        s = self._state.sections.get(sk)
        if s is not None:
            t = s.tags.get(tk)
            if t is not None:
                return t.value, t
        if (sk, tk) not in self._state.masked_tags:
            d = self._default_tags(sk)
            if d is not None and tk in d:
                return d[tk][1], None
        raise KeyError(tag)

    def get(self, section: str, tag: str, default: str | None = None) -> str | None:
        try:
            return self._find(section, tag)[0]
        except KeyError:
            return default

    def get_int(self, section: str, tag: str, default: int | None = None) -> int | None:
        """An integer tag; ConfigError naming file and line if it is not one
        (isakmpd's atoi would silently read 0)."""
        try:
            value = self._find(section, tag)[0]
        except KeyError:
            return default
        try:
            return int(value.strip(), 10)
        except ValueError:
            raise self.error(section, tag,
                             f"[{section}]:{tag}={value!r} is not a number") from None

    def get_list(self, section: str, tag: str) -> list[str]:
        """A comma-separated list: fields trimmed, empty fields skipped."""
        value = self.get(section, tag)
        if value is None:
            return []
        fields = (f.strip(WHITESPACE) for f in value.split(","))
        return [f for f in fields if f]

    def has_tag(self, section: str, tag: str) -> bool:
        try:
            self._find(section, tag)
        except KeyError:
            return False
        return True

    def tags(self, section: str) -> list[str]:
        """Tag names of a section: the file's in order, then defaults."""
        sk = key(section)
        out: list[str] = []
        seen: set[str] = set()
        s = self._state.sections.get(sk)
        if s is not None:
            for tk, t in s.tags.items():
                out.append(t.name)
                seen.add(tk)
        d = self._default_tags(sk)
        if d is not None:
            for tk, (name, _) in d.items():
                if tk not in seen and (sk, tk) not in self._state.masked_tags:
                    out.append(name)
        return out

    def has_section(self, name: str) -> bool:
        sk = key(name)
        s = self._state.sections.get(sk)
        if s is not None and s.tags:
            return True
        return bool(self.tags(name))

    def sections(self) -> list[str]:
        """Every section with at least one tag: the file's, then defaults."""
        out: list[str] = []
        seen: set[str] = set()
        for sk, s in self._state.sections.items():
            if s.tags:
                out.append(s.name)
                seen.add(sk)
        masked = {sk for sk, _ in self._state.masked_tags}
        for name in defaults.names():
            sk = key(name)
            if sk in seen or sk in self._state.masked_sections:
                continue
            if sk in masked and not self.tags(name):
                continue
            seen.add(sk)
            out.append(name)
        return out

    def is_default(self, section: str, tag: str) -> bool:
        """Whether a tag's value comes from the defaults layer."""
        try:
            return self._find(section, tag)[1] is None
        except KeyError:
            return False

    def where(self, section: str, tag: str | None = None
              ) -> tuple[str | None, int | None]:
        """(file, line) a tag, or a section, was read from, where known."""
        s = self._state.sections.get(key(section))
        if s is None:
            return None, None
        if tag is None:
            t = next(iter(s.tags.values()), None)
            return (t.file if t else None), s.line
        t = s.tags.get(key(tag))
        return (t.file, t.line) if t is not None else (None, None)

    def at(self, section: str, tag: str | None = None) -> str:
        """``file:line: `` of [section]:tag as a message prefix, or ""."""
        f, ln = self.where(section, tag)
        if f is None:
            return ""
        return f"{f}:{ln}: " if ln is not None else f"{f}: "

    def error(self, section: str, tag: str | None, reason: str) -> ConfigError:
        """A ConfigError placed at the file and line of [section]:tag."""
        f, ln = self.where(section, tag)
        return ConfigError(reason, f, ln)


class Transaction(_View):
    """A set of changes applied together; see :meth:`Conf.transaction`.

    Reads through a transaction see its own pending changes.
    """

    def __init__(self, conf: "Conf") -> None:
        self._conf = conf
        self._base_generation = conf.generation
        self._state = conf._state.copy()
        self._own: set[str] = set()

    def _section(self, section: str, create: bool) -> Section | None:
        sk = key(section)
        s = self._state.sections.get(sk)
        if s is not None and sk not in self._own:
            s = Section(s.name, s.line, dict(s.tags))
            self._state.sections[sk] = s
            self._own.add(sk)
        elif s is None and create:
            s = self._state.sections[sk] = Section(section)
            self._own.add(sk)
        return s

    def set(self, section: str, tag: str, value: str, override: bool = False, *,
            file: str | None = None, line: int | None = None) -> None:
        """Set [section]:tag. Without ``override`` (the FIFO's ``force``) it
        is an error for the tag to exist already, defaults included."""
        _check_names(section, tag)
        if "\n" in value or "\r" in value:
            raise ConfigError(f"[{section}]:{tag}: a value cannot hold a newline")
        if not override:
            try:
                old = self._find(section, tag)[0]
            except KeyError:
                pass
            else:
                raise ConfigError(f"[{section}]:{tag} is already set (to {old!r}); "
                                  "set it with override ('force') to replace it")
        s = self._section(section, True)
        assert s is not None
        s.tags[key(tag)] = Tag(tag, value, line, file)

    def add(self, section: str, tag: str, value: str) -> None:
        """Append ``value`` to the list [section]:tag unless it is in it
        (the FIFO's ``C add``)."""
        old = self.get(section, tag)
        if old is None:
            self.set(section, tag, value, override=True)
        elif value not in self.get_list(section, tag):
            sep = "" if old.endswith(",") else ","
            self.set(section, tag, old + sep + value, override=True)

    def rmv(self, section: str, tag: str, value: str) -> None:
        """Remove ``value`` from the list [section]:tag, and the tag when the
        list becomes empty (the FIFO's ``C rmv``)."""
        if not self.has_tag(section, tag):
            return
        rest = [f for f in self.get_list(section, tag) if f != value]
        if rest:
            self.set(section, tag, ",".join(rest), override=True)
        else:
            self.remove(section, tag)

    def remove(self, section: str, tag: str) -> None:
        """Remove a tag; a default value beneath it goes too."""
        sk, tk = key(section), key(tag)
        s = self._section(section, False)
        if s is not None:
            s.tags.pop(tk, None)
        self._state.masked_tags.add((sk, tk))

    def remove_section(self, section: str) -> None:
        """Remove a whole section, defaults included."""
        sk = key(section)
        self._state.sections.pop(sk, None)
        self._own.discard(sk)
        self._state.masked_sections.add(sk)
        self._state.masked_tags = {p for p in self._state.masked_tags if p[0] != sk}

    def commit(self) -> None:
        if self._conf.generation != self._base_generation:
            raise ConfigError("the configuration changed (reload or another "
                              "transaction) while this transaction was open")
        self._conf._state = self._state
        self._conf.generation += 1

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()


def _check_names(section: str, tag: str) -> None:
    if not section or any(c in section for c in _BAD_SECTION_CHARS):
        raise ConfigError(f"bad section name {section!r}")
    if not tag or any(c in tag for c in _BAD_TAG_CHARS):
        raise ConfigError(f"bad tag name {tag!r} in [{section}]")


class Conf(_View):
    """isakmpd's configuration: sections of tags over a defaults layer.

    ``Conf.load(path)`` and ``Conf.from_text(text)`` build one; lookups are
    case-insensitive. ``warnings`` holds the parser's warnings of the last
    (re)load as ``file:line: message``; ``generation`` grows with every
    change, for callers that cache what they derive from the configuration.
    """

    def __init__(self, name: str = "<none>") -> None:
        self.name = name
        self.path: str | None = None
        self._text: str | None = None
        self._secrecy = True
        self._state = _State()
        self.warnings: list[str] = []
        self.generation = 0
        #: messages already logged for this configuration (see model.log_once)
        self.logged: set[str] = set()

    @classmethod
    def load(cls, path: str, secrecy: bool = True) -> "Conf":
        """Read ``path``; with ``secrecy`` the file must pass
        :func:`~.parser.check_secrecy`. ConfigError(reason, file, line) on a
        bad file."""
        conf = cls(path)
        conf.path = path
        conf._secrecy = secrecy
        conf.reload()
        return conf

    @classmethod
    def from_text(cls, text: str, name: str = "<text>") -> "Conf":
        conf = cls(name)
        conf._text = text
        conf.reload()
        return conf

    def reload(self) -> list[str]:
        """Read the file (or text) again, dropping changes made since, as
        isakmpd's SIGHUP and FIFO ``R``. On error the running configuration
        stays and ConfigError is raised for the caller to log. Returns the
        parser's warnings."""
        if self.path is not None:
            text = read_secret_file(self.path, self._secrecy)
        else:
            text = self._text or ""
        parsed = parse(text, self.name)
        self._state = _State(parsed.sections)
        self.warnings = parsed.warning_texts()
        self.generation += 1
        self.logged = set()
        return list(self.warnings)

    def transaction(self) -> Transaction:
        """``with conf.transaction() as t: t.set(...); t.remove(...)``"""
        return Transaction(self)

    def dump(self, nondefault_only: bool = True) -> list[str]:
        """The configuration as isakmpd's report prints it: ``[section]``,
        then ``tag=<TAB>value`` lines, a blank line between sections. With
        ``nondefault_only`` (isakmpd's choice) default values are left out."""
        if nondefault_only:
            items = ((s.name, [(t.name, t.value) for t in s.tags.values()])
                     for s in self._state.sections.values() if s.tags)
        else:
            items = ((n, [(t, self.get(n, t)) for t in self.tags(n)])
                     for n in self.sections())
        out: list[str] = []
        for name, pairs in items:
            if out:
                out.append("")
            out.append(f"[{name}]")
            out += [f"{t}=\t{v}" for t, v in pairs]
        return out

    def iter_file_sections(self) -> Iterator[str]:
        """Names of the sections that hold non-default values."""
        return (s.name for s in self._state.sections.values() if s.tags)
