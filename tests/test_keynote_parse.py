"""KeyNote assertion syntax (RFC 2704 section 4): layout, fields, strings,
Local-Constants, and errors that name file and line."""

from __future__ import annotations

import pytest
from isakmpd.errors import IsakmpdError
from isakmpd.policy.keynote import (
    KeyNoteError,
    KeyNoteSyntaxError,
    Session,
    parse_assertions,
)
from isakmpd.policy.keynote.errors import Source
from isakmpd.policy.keynote.lexer import STR, tokenize


def string_value(literal: str) -> str:
    """The value of one KeyNote string literal."""
    src = Source(literal, "t")
    tokens = tokenize(src, 0, len(literal))
    assert [t.kind for t in tokens[:-1]] == [STR], tokens
    return tokens[0].value


# -- strings (4.3.1) ---------------------------------------------------


RFC_EQUIVALENT = [
    '"this string contains a newline\\n followed by one space."',
    '"this string contains a newline\\n \\\n        followed by one space."',
    (
        '"this str\\\n           ing contains a \\\n             newline\\n '
        'followed by one space."'
    ),
    '"this string contains a newline\\012\\040followed by one space."',
]


@pytest.mark.parametrize("literal", RFC_EQUIVALENT)
def test_rfc_string_examples_are_equivalent(literal: str) -> None:
    assert string_value(literal) == (
        "this string contains a newline\n followed by one space."
    )


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ('"like \\"this\\"."', 'like "this".'),
        ('"back\\\\slash"', "back\\slash"),
        ('"\\n\\r\\t\\f"', "\n\r\t\f"),
        ('"\\101\\102"', "AB"),
        ('"\\012"', "\n"),
        ('"\\01x"', "\x01x"),
        ('"\\0"', "0"),
        ('"\\00"', "00"),
        ('"\\000"', "000"),
        ('"\\377"', "\xff"),
        ('"\\12"', "12"),  # two digits without a leading 0: not octal
        ('"\\a\\q"', "aq"),  # other escapes drop the backslash
        ('"# not a comment"', "# not a comment"),
        ('""', ""),
    ],
)
def test_string_escapes(literal: str, value: str) -> None:
    assert string_value(literal) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('"abc', "unterminated string"),
        ('"ab\ncd"', "newline inside a string"),
        ('"abc\\', "unterminated string"),
    ],
)
def test_bad_strings(text: str, reason: str) -> None:
    src = Source(text, "f")
    with pytest.raises(KeyNoteSyntaxError, match=reason):
        tokenize(src, 0, len(text))


# -- layout (4.1, 4.2) -------------------------------------------------


def test_field_names_are_case_insensitive_and_in_any_order() -> None:
    text = (
        'lOcAl-CoNsTaNtS: K = "Key3"\n'
        "CONDITIONS: true;\n"
        "licensees: K\n"
        'aUtHoRiZeR: "POLICY"\n'
        'comment: anything at all: "unbalanced ( quotes\n'
    )
    (a,) = parse_assertions(text)
    assert a.authorizer == "POLICY"
    assert a.is_policy
    assert a.constants == {"K": "Key3"}
    assert a.comment == 'anything at all: "unbalanced ( quotes'


def test_continuation_lines_and_comments() -> None:
    text = (
        "# leading comment\n"
        "KeyNote-Version: 2 # trailing comment\n"
        "Comment: spans\n"
        "\t two lines\n"
        "# a comment line between fields\n"
        'Authorizer: "POLICY"\n'
        'Licensees: "a" ||\n'
        "# a comment line inside a field\n"
        '    "b"\n'
        'Conditions: x == "#"  # the first # is in a string\n'
        '    -> "true";\n'
    )
    (a,) = parse_assertions(text)
    assert a.version == "2"
    assert a.comment == "spans\n\t two lines"
    s = Session()
    s.add_policy(text)
    assert s.query({"x": "#"}, ["b"]).approved
    assert not s.query({"x": "y"}, ["b"]).approved
    assert not s.query({"x": "#"}, ["c"]).approved


def test_several_assertions_separated_by_blank_lines() -> None:
    text = (
        "# only comments: no assertion here\n"
        "\n"
        'Authorizer: "POLICY"\n'
        'Licensees: "a"\n'
        "   \t\n"  # whitespace only: blank too
        'Authorizer: "a"\n'
        'Licensees: "b"\n'
        "\n\n"
        'Authorizer: "b"\n'
    )
    assertions = parse_assertions(text, "file.kn")
    assert [a.authorizer for a in assertions] == ["POLICY", "a", "b"]
    assert [a.line for a in assertions] == [3, 6, 10]
    assert [a.where for a in assertions] == ["file.kn:3", "file.kn:6", "file.kn:10"]


def test_crlf_line_endings() -> None:
    text = 'Authorizer: "POLICY"\r\nLicensees: "a"\r\nConditions: true;\r\n'
    (a,) = parse_assertions(text)
    assert a.authorizer == "POLICY"
    s = Session()
    s.add_policy(text)
    assert s.query({}, ["a"]).approved


def test_bytes_are_read_as_latin1() -> None:
    (a,) = parse_assertions(b'Authorizer: "POLICY"\nConditions: x == "\xe9";\n')
    s = Session()
    s.add_policy(b'Authorizer: "POLICY"\nConditions: x == "\xe9";\n')
    assert s.query({"x": "\xe9"}, ["a"]).approved
    assert a.authorizer == "POLICY"


def test_version_forms() -> None:
    for v in ("2", '"2"'):
        (a,) = parse_assertions(f'KeyNote-Version: {v}\nAuthorizer: "x"\n')
        assert a.version == "2"


def test_local_constants_substitution() -> None:
    text = (
        'Local-Constants: ME = "alice"  OTHER = "bob"\n'
        '    SUFFIX = "ce"\n'
        "Authorizer: ME\n"
        "Licensees: OTHER\n"
        'Conditions: who == ME . "-" . OTHER && app == "x" -> "true";\n'
    )
    (a,) = parse_assertions(text)
    assert a.authorizer == "alice"
    assert a.constants == {"ME": "alice", "OTHER": "bob", "SUFFIX": "ce"}
    s = Session()
    s.add_policy('Authorizer: "POLICY"\nLicensees: "alice"\n')
    s.add_policy(text)
    assert s.query({"who": "alice-bob", "app": "x"}, ["bob"]).approved
    assert not s.query({"who": "alice-bob", "app": "x"}, ["alice2"]).approved
    # A constant overrides an action attribute of the same name.
    assert not s.query({"who": "alice-bob", "app": "x", "ME": "z"}, ["eve"]).approved
    assert s.query({"who": "alice-bob", "app": "x", "ME": "z"}, ["bob"]).approved


def test_authorizer_may_be_an_expression_of_constants() -> None:
    (a,) = parse_assertions(
        'Local-Constants: A = "rsa-" B = "hex:00"\nAuthorizer: (A . B)\n'
    )
    assert a.authorizer == "rsa-hex:00"


# -- errors name the file and line -------------------------------------


BAD = [
    ('Authorizer: "POLICY"\nLicnesees: "a"\n', 2, "unknown field 'Licnesees'"),
    ('Authorizer: "a"\nAuthorizer: "b"\n', 2, "Authorizer appears twice"),
    ('Authorizer: "a"\nKeyNote-Version: 2\n', 2, "KeyNote-Version must be the first"),
    (
        'Authorizer: "a"\nSignature: "sig-rsa-sha1-hex:00"\nComment: x\n',
        3,
        "Signature must be the last",
    ),
    ('Licensees: "a"\nConditions: true;\n', 1, "no Authorizer"),
    ('  Authorizer: "a"\n', 1, "indented line before the first field"),
    ('Authorizer "a"\n', 1, "expected a field"),
    ('Authorizer: "POLICY"\nKeyNote-Version: 3\n', 2, "first field"),
    ('KeyNote-Version: 3\nAuthorizer: "POLICY"\n', 1, "unsupported KeyNote-Version"),
    ('KeyNote-Version: two\nAuthorizer: "x"\n', 1, "number or a string"),
    ('Local-Constants: A = "x" A = "y"\nAuthorizer: A\n', 1, "sets 'A' twice"),
    ('Local-Constants: _A = "x"\nAuthorizer: "a"\n', 1, "reserved"),
    ('Local-Constants: A = B\nAuthorizer: "a"\n', 1, "string literal"),
    ("Authorizer: UNDEFINED\n", 1, "refers to 'UNDEFINED'"),
    ('Authorizer: ""\n', 1, "Authorizer field is empty"),
    ("Authorizer:\n", 1, "Authorizer field is empty"),
    ('Authorizer: "a" "b"\n', 1, "unexpected a string"),
    ('Authorizer: "POLICY"\nSignature: "sig-rsa-sha1-hex:00"\n', 2, "cannot be signed"),
    ('Authorizer: "a"\nLicensees: 3-of("a", "b")\n', 2, "3-of lists only 2"),
    ('Authorizer: "a"\nLicensees: 0-of("a")\n', 2, "at least 1"),
    ('Authorizer: "a"\nLicensees: "a" &&\n', 2, "ends too early"),
    ('Authorizer: "a"\nLicensees: "a" "b"\n', 2, "unexpected a string"),
    ('Authorizer: "a"\nLicensees: ("a" && "b") . "c"\n', 2, "needs a string"),
    ('Authorizer: "a"\nLicensees: @a\n', 2, "only allowed in Conditions"),
    ('Authorizer: "a"\nLicensees: 12\n', 2, "unexpected '12'"),
    ('Authorizer: "a"\nConditions: true\n', 2, "expected ';'"),
    ('Authorizer: "a"\nConditions: true -> { true;\n', 2, "missing '}'"),
    ('Authorizer: "a"\nConditions: true; }\n', 2, "unexpected '}'"),
    ('Authorizer: "a"\nConditions:\n  a == "b" &&\n  c ?= "d";\n', 4, "'?'"),
    # A blank line ends the assertion (then the rest is a bad second one).
    ('Authorizer: "a"\nConditions:\n  a == "b" &&\n\n  c == "d";\n', 3, "early"),
    ('Authorizer: "a"\nConditions: a == "b";\n\n  c == "d";\n', 4, "blank"),
    ('Authorizer: "a"\nConditions: "x" == "\n"y";\n', 3, "expected a field"),
    ('Authorizer: "a"\nConditions: "x" == "\n  y";\n', 2, "newline inside"),
    ('Authorizer: "a"\nConditions: x == "abc\n', 2, "unterminated"),
    ('Authorizer: "a"\x00\n', 1, "NUL"),
]


@pytest.mark.parametrize(("text", "line", "reason"), BAD)
def test_syntax_errors_name_file_and_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(KeyNoteSyntaxError) as info:
        parse_assertions(text, "policy.kn")
    err = info.value
    assert isinstance(err, KeyNoteError) and isinstance(err, IsakmpdError)
    assert reason in err.reason
    assert (err.file, err.line) == ("policy.kn", line), str(err)
    assert str(err).startswith(f"policy.kn:{line}: ")


def test_error_in_a_later_assertion_names_its_line() -> None:
    text = 'Authorizer: "POLICY"\n\nAuthorizer: "a"\nConditions: 1 +;\n'
    with pytest.raises(KeyNoteSyntaxError) as info:
        parse_assertions(text, "f")
    assert info.value.line == 4


def test_load_file_reports_missing_file(tmp_path) -> None:
    with pytest.raises(KeyNoteError, match="cannot read"):
        Session().load_file(tmp_path / "nope")


def test_load_file(tmp_path) -> None:
    path = tmp_path / "p.kn"
    path.write_text('Authorizer: "POLICY"\nLicensees: "a"\n')
    s = Session()
    (a,) = s.load_file(path)
    assert a.source == str(path)
    assert s.query({}, ["a"]).approved
