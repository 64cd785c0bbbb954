"""The isakmpd.conf(5) line parser: isakmpd's rules (spec §1.4) and where we
read more than isakmpd does (spec §0)."""

from __future__ import annotations

import pytest

from isakmpd.conf import Conf
from isakmpd.conf.parser import parse
from isakmpd.errors import ConfigError

# (id, text, {(section, tag): value} that must hold, warning fragments)
READS = [
    # §1.4: a backslash before the newline joins lines, both becoming spaces
    ("continuation", "[s]\nt=one\\\ntwo\n", {("s", "t"): "one  two"}, []),
    ("continuation-3", "[s]\nt=a\\\nb\\\nc\nu=d\n",
     {("s", "t"): "a  b  c", ("s", "u"): "d"}, []),
    # §1.4: only lines starting with # or ; are comments
    ("hash-comment", "# c\n[s]\n#t=1\nu=2\n", {("s", "t"): None, ("s", "u"): "2"}, []),
    ("semicolon-comment", "[s]\n;t=1\n", {("s", "t"): None}, []),
    # ... a # after a value is part of it (§0: kept, with a warning)
    ("trailing-hash", "[s]\nt=value # note\n", {("s", "t"): "value # note"},
     ["' #'"]),
    ("trailing-semicolon", "[s]\nt=value\t; note\n", {("s", "t"): "value\t; note"},
     ["'\\t;'"]),
    ("hash-after-eq", "[s]\nt= #x\n", {("s", "t"): "#x"}, ["' #'"]),
    ("hash-inside-word", "[s]\nt=ab#cd\n", {("s", "t"): "ab#cd"}, []),
    # §1.4: [name] up to the first ], the rest ignored
    ("section-rest", "[s]x]\nt=1\n", {("s", "t"): "1"}, ["text after [s] ignored"]),
    ("section-comment", "[s] # the s section\nt=1\n", {("s", "t"): "1"}, []),
    ("section-blanks", "[ s ]\nt=1\n", {(" s ", "t"): "1", ("s", "t"): None},
     ["leading or trailing blanks"]),
    # §1.4: the tag is cut at the first blank or =
    ("tag-blank-eq", "[s]\ntag =v\n", {("s", "tag"): "v"}, []),
    ("tag-tab-eq", "[s]\ntag\t\t=v\n", {("s", "tag"): "v"}, []),
    ("tag-two-words", "[s]\ntag name=v\n", {("s", "tag"): "v", ("s", "tag name"): None},
     ["contains blanks"]),
    # ... the value loses leading blanks and trailing whitespace
    ("value-strip", "[s]\nt=  \t v a l  \t \n", {("s", "t"): "v a l"}, []),
    ("value-with-eq", "[s]\nt=a=b\n", {("s", "t"): "a=b"}, []),
    ("empty-value", "[s]\nt=\n", {("s", "t"): ""}, []),
    ("crlf", "[s]\r\nt=v\r\n\r\nu=w\r\n", {("s", "t"): "v", ("s", "u"): "w"}, []),
    # §1.4: case-insensitive sections and tags
    ("case", "[GeNeRaL]\nRETRANSMITS=7\n", {("general", "retransmits"): "7"}, []),
    # §1.4: duplicate tag -> first kept, with a warning
    ("duplicate", "[s]\nt=1\nT=2\n", {("s", "t"): "1"}, ["duplicate tag [s]:T"]),
    # a repeated section name adds to the section
    ("section-twice", "[s]\nt=1\n[x]\na=b\n[S]\nu=2\n",
     {("s", "t"): "1", ("s", "u"): "2"}, []),
    # §0: the last line is read without a final newline (isakmpd drops it)
    ("no-final-newline", "[s]\nt=1\nu=2", {("s", "u"): "2"}, []),
    # §0: an indented Tag=value is read as Tag, with a warning
    ("indented-tag", "[s]\n   t=1\n", {("s", "t"): "1"}, ["indented line read as tag"]),
    ("indented-comment", "[s]\n   # t=1\n", {("s", "t"): None}, []),
    ("blank-lines", "\n  \n[s]\n\t\nt=1\n", {("s", "t"): "1"}, []),
    # a comment line ending in a backslash swallows the next line
    ("comment-continues", "[s]\n# c \\\nt=1\nu=2\n",
     {("s", "t"): None, ("s", "u"): "2"}, ["next line is part of the comment"]),
    # bytes that are not UTF-8 survive (pre-shared keys are bytes)
    ("latin1", b"[s]\nt=caf\xe9\n".decode("utf-8", "surrogateescape"),
     {("s", "t"): "caf\udce9"}, []),
]


@pytest.mark.parametrize("text,values,warns", [r[1:] for r in READS],
                         ids=[r[0] for r in READS])
def test_reads(text: str, values: dict, warns: list[str]) -> None:
    conf = Conf.from_text(text, "t.conf")
    for (section, tag), want in values.items():
        assert conf.get(section, tag) == want, (section, tag)
    for frag in warns:
        assert any(frag in w for w in conf.warnings), (frag, conf.warnings)
    if not warns:
        assert conf.warnings == []


# (id, text, line, reason fragment): §0, malformed lines are errors
ERRORS = [
    ("no-section", "t=1\n[s]\n", 1, "before the first [section]"),
    ("unclosed", "[s]\nt=1\n[broken\nu=2\n", 3, "without a closing ']'"),
    ("syntax", "[s]\nt=1\njust words\n", 3, "syntax error"),
    ("empty-tag", "[s]\n=1\n", 2, "empty tag"),
    ("empty-section", "[]\nt=1\n", 1, "empty section name"),
    ("after-join", "[s]\nt=a\\\nb\nnonsense\n", 4, "syntax error"),
    ("joined-bad", "[s]\nbad\\\nline\n", 2, "syntax error"),
]


@pytest.mark.parametrize("text,line,reason", [r[1:] for r in ERRORS],
                         ids=[r[0] for r in ERRORS])
def test_errors_name_file_line_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(ConfigError) as ei:
        Conf.from_text(text, "bad.conf")
    e = ei.value
    assert (e.file, e.line) == ("bad.conf", line)
    assert reason in e.reason
    assert str(e).startswith(f"bad.conf:{line}: ")


def test_warning_lines_are_first_physical_lines() -> None:
    p = parse("[s]\nt=1\nu=a\\\nb # c\nt=2\n", "w.conf")
    assert [ln for ln, _ in p.warnings] == [3, 5]
    assert p.warning_texts()[1].startswith("w.conf:5: duplicate tag")


def test_tag_and_section_keep_their_spelling_and_lines() -> None:
    p = parse("# x\n[Phase 1]\n10.0.0.1=\tpeer\n", "f")
    s = p.sections["phase 1"]
    assert (s.name, s.line) == ("Phase 1", 2)
    t = s.tags["10.0.0.1"]
    assert (t.name, t.value, t.line, t.file) == ("10.0.0.1", "peer", 3, "f")


def test_empty_text_is_an_empty_configuration() -> None:
    conf = Conf.from_text("", "empty")
    assert conf.warnings == []
    assert list(conf.iter_file_sections()) == []
