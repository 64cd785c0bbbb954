"""POSIX extended regular expressions for "~=", mapped onto Python re."""

from __future__ import annotations

import pytest
from isakmpd.policy.keynote.regex import RegexError, compile_posix, translate

MATCHES = [
    # (pattern, subject, groups or None when there is no match)
    ("abc", "xxabcxx", ()),
    ("^abc$", "abc", ()),
    ("^abc$", "abc\n", None),  # $ is the end of the string, nothing else
    ("a.c", "a\nc", ()),  # . matches any character
    ("a|b|c", "c", ()),
    ("(a|b)+", "abba", ("a",)),
    ("^(x)?y$", "y", ("",)),  # an unused group is empty
    ("[abc]+", "cab", ()),
    ("[^abc]", "abcd", ()),
    ("[^abc]", "abc", None),
    ("[]a]+$", "]a]", ()),  # "]" first is literal
    ("[^]a]", "]a", None),
    ("[a-]+$", "a-a", ()),  # "-" last is literal
    ("[\\d]", "d", ()),  # backslash is literal in brackets
    ("[\\d]", "\\", ()),
    ("[\\d]", "1", None),
    ("[[:alpha:]]+", "abC", ()),
    ("^[[:digit:][:upper:]]+$", "A1B2", ()),
    ("^[[:space:]]$", "\t", ()),
    ("^[[:xdigit:]]+$", "00ffAA", ()),
    ("^[[:punct:]]+$", "!-/:@[`{~", ()),
    ("^[[:alnum:]_]+$", "a_1", ()),
    ("[[.-.]]", "-", ()),
    ("[[=a=]]", "a", ()),
    ("a{2}", "aa", ()),
    ("^a{2}$", "aaa", None),
    ("^a{1,2}$", "aa", ()),
    ("^a{2,}$", "aaaa", ()),
    ("^(ab){2}$", "abab", ("ab",)),
    ("^a**$", "aaa", ()),  # (a*)*
    ("^a*?$", "aaa", ()),  # (a*)? — not lazy
    ("^(a*?)", "aaa", ("aaa",)),
    ("^a*+b$", "aab", ()),  # (a*)+ — not possessive
    ("^a+?b$", "aab", ()),
    ("\\.", "a.b", ()),
    ("\\.", "ab", None),
    ("\\(\\)", "()", ()),
    ("a\\|b", "a|b", ()),
    ("\\n", "n", ()),  # an ordinary character escaped is itself
    ("(a)\\1", "aa", ("a",)),  # back-references (as glibc allows)
    ("(a)\\1", "ab", None),
    ("\\bfoo\\b", "a foo b", ()),
    ("\\<foo\\>", "foo", ()),
    ("\\<foo", "xfoo", None),
    ("[[:<:]]foo[[:>:]]", "a foo b", ()),  # BSD word boundaries
    ("[[:<:]]foo", "xfoo", None),
    ("foo[[:>:]]", "foox", None),
    ("^(.*)@(.*)$", "u@h@d", ("u@h", "d")),
    ("é", "café", ()),
    ("#", "a#b", ()),
    ("^ a b$", " a b", ()),  # whitespace is literal
    ("a{,2}", "", "invalid"),
]


@pytest.mark.parametrize(("pattern", "subject", "groups"), MATCHES)
def test_matches(pattern: str, subject: str, groups) -> None:
    if groups == "invalid":
        with pytest.raises(RegexError):
            compile_posix(pattern)
        return
    m = compile_posix(pattern).search(subject)
    if groups is None:
        assert m is None
    else:
        assert m is not None
        assert tuple(g or "" for g in m.groups()) == groups


@pytest.mark.parametrize(
    "pattern",
    [
        "(",
        ")",
        "a)",
        "(a",
        "*a",
        "+",
        "a|*b",
        "(*a)",
        "^*",
        "(?:a)",  # not an extension in POSIX: "?" has no operand
        "(?P<x>a)",
        "[",
        "[a",
        "[]",
        "[z-a]",
        "[[:nope:]]",
        "[[:alpha:]",
        "[[.ab.]]",
        "a{3,2}",
        "a{256}",
        "a{1",
        "a{x}",
        "{1}",
        "\\",
        "(a)\\2",
    ],
)
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(RegexError):
        compile_posix(pattern)


def test_translation_escapes_literals() -> None:
    # Nothing from the pattern reaches re unescaped, so no "(?" or flags.
    assert translate("a.b") == "a.b"
    assert translate("x-y") == "x\\x2dy"
    assert translate("a$") == "a\\Z"
    assert translate("[a-c]") == "[a-c]"
    assert translate("a**") == "(?:a*)*"
    assert translate("(a)+?") == "(?:(a)+)?"
