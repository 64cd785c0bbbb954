"""The Conditions language (RFC 2704 sections 4.4, 4.6.5 and 5.3.4):
every operator and precedence level, conversions, dereferencing, regular
expressions with their group attributes, and runtime errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from isakmpd.policy.keynote import KeyNoteSyntaxError, Session, parse_assertions

ATTRS = {
    "foo": "bar",
    "bar": "xyz",
    "xyz": "qua",
    "n": "12",
    "m": "3",
    "f": "1.5",
    "neg": "-7",
    "big": "99999999999",
    "addr": "10.20",
    "email": "user@example.com",
    "empty": "",
    "huge": "1" + "0" * 308,
}


def conditions(
    program: str,
    attrs: Mapping[str, str] = ATTRS,
    values: Sequence[str] = ("false", "true"),
    authorizers: Sequence[str] = ("alice",),
) -> str:
    """The value of a POLICY assertion with this Conditions field (no
    Licensees field, so the Conditions value is the answer)."""
    body = "\n".join("    " + line for line in program.splitlines())
    s = Session()
    s.add_policy(f'Authorizer: "POLICY"\nConditions:\n{body}\n', "test")
    return s.query(attrs, authorizers, values).value


def holds(test: str, attrs: Mapping[str, str] = ATTRS) -> bool:
    return conditions(f'{test} -> "true";', attrs) == "true"


CASES = [
    # booleans, and the precedence of ! over && over ||
    ("true", True),
    ("false", False),
    ("TRUE", True),
    ("False", False),
    ("!false", True),
    ("!true", False),
    ("true && false", False),
    ("false || true", True),
    ("true || false && false", True),  # && binds tighter than ||
    ("(true || false) && false", False),
    ("!false && false", False),  # ! binds tighter than &&
    ("!(false && false)", True),
    ("!!true", True),
    # string comparisons (case-sensitive, byte order)
    ('foo == "bar"', True),
    ('foo != "bar"', False),
    ('foo == "Bar"', False),
    ('"abc" < "abd"', True),
    ('"b" > "abc"', True),
    ('"abc" <= "abc"', True),
    ('"abc" >= "abd"', False),
    ('"" < "a"', True),
    ('"B" < "a"', True),
    ('"3" < "12"', False),  # strings, not numbers
    ('unset == ""', True),
    ("empty == unset", True),
    # concatenation
    ('foo . "x" == "barx"', True),
    ('"a" . "b" . "c" == "abc"', True),
    ('(foo . bar) == "barxyz"', True),
    ('foo . bar == "barxyz"', True),
    # dereferencing (RFC 2704 section 4.4's example and precedence)
    ('$("foo") == "bar"', True),
    ('$foo == "xyz"', True),
    ('$(foo) == "xyz"', True),
    ('$$foo == "qua"', True),
    ('$foo . "1" == "xyz1"', True),  # $ binds tighter than .
    ('$(foo . "1") == ""', True),  # attribute "bar1" is unset
    ('$ "fo" . "o" == "o"', True),
    ('$ ("fo" . "o") == "bar"', True),
    ('$"no such" == ""', True),
    ('$"_MAX_TRUST" == "true"', True),
    # integers: conversions
    ("@n == 12", True),
    ("@f == 1", True),  # rounded down
    ('@"-1.5" == -2', True),
    ("@neg == -7", True),
    ('@"abc" == 0', True),
    ('@"12abc" == 0', True),
    ('@" 12" == 0', True),
    ('@"" == 0', True),
    ("@unset == 0", True),
    ("@(foo . bar) == 0", True),
    # integers: each operator
    ("@n + @m == 15", True),
    ("@n - @m == 9", True),
    ("@n * @m == 36", True),
    ("@n / 5 == 2", True),
    ("@n % 5 == 2", True),
    ("2 ^ 10 == 1024", True),
    ("2 ^ -1 == 0", True),
    ("1 ^ -3 == 1", True),
    ("(-1) ^ -3 == -1", True),
    ("0 ^ 5 == 0", True),
    ("(-1) ^ 3 == -1", True),
    ("(-1) ^ 4 == 1", True),
    ("7 ^ 0 == 1", True),
    ("-7 / 2 == -3", True),  # C division truncates toward zero
    ("7 / -2 == -3", True),
    ("-7 % 2 == -1", True),  # the sign follows the dividend
    ("@n != 12", False),
    ("3 < 12", True),
    ("@n > 11", True),
    ("@n <= 11", False),
    ("@n >= 12", True),
    # integers: precedence and associativity
    ("2 + 3 * 4 == 14", True),
    ("(2 + 3) * 4 == 20", True),
    ("2 * 3 ^ 2 == 18", True),
    ("-2 ^ 2 == 4", True),  # unary minus binds tighter than ^
    ("2 ^ 3 ^ 2 == 64", True),  # left to right
    ("10 - 3 - 2 == 5", True),
    ("100 / 10 / 5 == 2", True),
    ("7 % 4 * 2 == 6", True),
    ("2 * 7 % 4 == 2", True),
    ("2 ^ 2 / 4 == 1", True),
    ("- - 3 == 3", True),
    ("-@n == -12", True),
    ("@n + 1 == @m * 4 + 1", True),
    ("-2147483648 < 0", True),  # the smallest long is a valid literal
    ("2147483647 > 0", True),
    # floats
    ("&f > 1.4", True),
    ("&f < 1.6", True),
    ("&f * 2.0 >= 3.0", True),
    ("1.5 + 1.5 <= 3.0", True),
    ('&"2.5" / 0.5 > 4.9', True),
    ("2.0 ^ 0.5 > 1.41 && 2.0 ^ 0.5 < 1.42", True),
    ("-&f < 0.0", True),
    ("&f - 0.5 > 0.99 && &f - 0.5 < 1.01", True),
    ('&"abc" <= 0.0', True),
    ("&n > 11.5", True),
    # special attributes
    ('_MIN_TRUST == "false"', True),
    ('_MAX_TRUST == "true"', True),
    ('_VALUES == "false,true"', True),
    ('_ACTION_AUTHORIZERS == "alice"', True),
    ('_NOT_SPECIAL == ""', True),
    # "true"/"false" are not reserved: elsewhere they are attribute names
    ('true == ""', True),
    ('false . "x" == "x"', True),
    # regular expressions
    ('foo ~= "^b.r$"', True),
    ('foo ~= "^B"', False),
    ('foo ~= "a"', True),  # a search, not a full match
    ('"a.b" ~= "^a\\\\.b$"', True),
    ('"axb" ~= "^a\\\\.b$"', False),
    (
        'addr ~= "^([0-9]+)\\\\.([0-9]+)$" && _0 == "2" && _1 == "10" && _2 == "20"',
        True,
    ),
    ('email ~= "^(.*)@(.*)$" && @_0 == 2 && _2 == "example.com"', True),
    ('"ab" ~= "(a)" && !("zz" ~= "(b)") && _1 == "a"', True),  # last success
    ('"ab" ~= "(a)(b)" && "c" ~= "(c)" && _1 == "c" && _2 == ""', True),
    ('"abc1" ~= "^[[:alpha:]]+[[:digit:]]$"', True),
    # _0 counts the groups of the pattern (as libkeynote's re_nsub does)
    ('"b" ~= "(a)|(b)" && _0 == "2" && _1 == "" && _2 == "b"', True),
    ('"x" ~= "x" && _0 == "0"', True),
    ('"a\\\\b" ~= "^a[\\\\]b$"', True),  # a backslash is literal in brackets
    ('"ab\\n" ~= "b$"', False),  # $ only at the very end
    ('"a\\nb" ~= "^a.b$"', True),  # . matches a newline
    ('"aaa" ~= "^(a*?)" && _1 == "aaa"', True),  # (a*)?, not lazy
    ('"aaa" ~= "^a*+a$"', True),  # (a*)+, not possessive
    ('"aa" ~= "^a{2}$"', True),
    ('"aaa" ~= "^a{2}$"', False),
    ('"aaa" ~= "^a{2,}$"', True),
    ('"a(b" ~= "a\\\\(b"', True),
    ('"x" ~= foo . "|x"', True),  # the pattern is a string expression
    # short-circuit evaluation avoids runtime errors
    ("true || 1 / 0 == 0", True),
    ("false && 1 / 0 == 0", False),
    ("!(false && 1 / 0 == 0)", True),
]


@pytest.mark.parametrize(("test", "expected"), CASES)
def test_expression(test: str, expected: bool) -> None:
    assert holds(test) is expected
    # The negation, to be sure the result was not false by accident.
    assert holds(f"!({test})") is (not expected)


RUNTIME_ERRORS = [
    "1 / 0 == 0",
    "1 % 0 == 0",
    "0 ^ -1 == 0",
    "2147483647 + 1 > 0",  # 32-bit overflow
    "-2147483648 - 1 < 0",
    "(-2147483648) / -1 > 0",
    "2 ^ 31 > 0",
    "2 ^ 100 > 0",
    '@"123456789012345678901234567890" > 0',
    "&huge * 10.0 > 0.0",
    "@big > 0",
    "2147483648 > 0",
    "&f / 0.0 > 0.0",
    '&"-1" ^ 0.5 > 0.0',
    "10.0 ^ 400.0 > 0.0",
    'foo ~= "("',  # invalid regular expressions
    'foo ~= "a**"',  # a valid POSIX "(a*)*" though
    'foo ~= "*x"',
    'foo ~= "[z-a]"',
    'foo ~= "x{3,2}"',
    'foo ~= "[[:nope:]]"',
]


@pytest.mark.parametrize("test", RUNTIME_ERRORS)
def test_runtime_error_makes_the_clause_false(test: str) -> None:
    if test == 'foo ~= "a**"':
        assert holds('"aa" ~= "^a**$"')
        return
    assert not holds(test)
    # The whole test is false, even under a negation.
    assert not holds(f"!({test})")
    assert not holds(f"true && !({test})")


def test_runtime_error_only_voids_its_clause() -> None:
    # RFC 2704 section 5.3.4's example.
    program = (
        'foo == "bar" -> {\n'
        '    @a == 1/0 -> "oneval";\n'
        '    @a == 2 -> "anotherval";\n'
        "};"
    )
    values = ("none", "anotherval", "oneval")
    assert conditions(program, {"foo": "bar", "a": "2"}, values) == "anotherval"
    assert conditions(program, {"foo": "bar", "a": "1"}, values) == "none"


def test_clause_values_take_the_maximum() -> None:
    # RFC 2704 section 5.3.4's example.
    program = (
        '@user_id == 0 -> "full_access";\n'
        '@user_id < 1000 -> "user_access";\n'
        '@user_id < 10000 -> "guest_access";\n'
        'user_name == "root" -> "full_access";'
    )
    values = ("no_access", "guest_access", "user_access", "full_access")
    result = conditions(program, {"user_id": "1073", "user_name": "root"}, values)
    assert result == "full_access"
    result = conditions(program, {"user_id": "1073", "user_name": "bob"}, values)
    assert result == "guest_access"
    result = conditions(program, {"user_id": "19283", "user_name": "nobody"}, values)
    assert result == "no_access"
    result = conditions(program, {"user_id": "12", "user_name": "x"}, values)
    assert result == "user_access"


def test_nested_programs() -> None:
    program = (
        'a == "b" -> { b == "c" -> "value1";\n'
        '              d == "e" -> "value2";\n'
        '              true -> "value3"; };'
    )
    values = ("none", "value3", "value1", "value2")
    assert conditions(program, {"a": "b", "d": "e"}, values) == "value2"
    assert conditions(program, {"a": "b", "b": "c"}, values) == "value1"
    assert conditions(program, {"a": "b"}, values) == "value3"
    assert conditions(program, {"a": "x", "d": "e"}, values) == "none"


def test_clause_without_value_is_max_trust() -> None:
    values = ("no", "maybe", "yes")
    assert conditions('foo == "bar";', values=values) == "yes"
    assert conditions('foo == "baz";', values=values) == "no"


def test_unknown_value_counts_as_min_trust() -> None:
    values = ("no", "yes")
    assert conditions('true -> "perhaps";', values=values) == "no"
    assert conditions('true -> "perhaps"; true -> "yes";', values=values) == "yes"


def test_value_is_a_string_expression() -> None:
    values = ("false", "ApproveAndLog", "true")
    assert conditions('true -> "Approve" . "AndLog";', values=values) == "ApproveAndLog"
    assert conditions("true -> _MAX_TRUST;", values=values) == "true"
    assert conditions("true -> foo;", {"foo": "v"}, ("x", "v")) == "v"
    assert conditions("true -> $name;", {"name": "foo", "foo": "v"}, ("x", "v")) == "v"


def test_regex_groups_reach_the_value_and_nested_clauses() -> None:
    values = ("false", "example.com", "example.org")
    program = 'email ~= "@(.*)$" -> _1;'
    assert conditions(program, values=values) == "example.com"
    nested = 'email ~= "^(user)@" -> { _1 == "user" -> "example.org"; };'
    assert conditions(nested, values=values) == "example.org"


def test_regex_groups_do_not_outlive_their_clause() -> None:
    program = 'email ~= "^(user)@";\n_1 == "user" -> "true";'
    assert conditions(program) == "true"  # by the first clause
    program = 'email ~= "^(user)@" -> "false";\n_1 == "user" -> "true";'
    assert conditions(program) == "false"


def test_missing_and_empty_conditions() -> None:
    s = Session()
    s.add_policy('Authorizer: "POLICY"\nLicensees: "a"\n')
    assert s.query({}, ["a"]).approved  # missing: _MAX_TRUST
    s = Session()
    s.add_policy('Authorizer: "POLICY"\nLicensees: "a"\nConditions:\n')
    assert not s.query({}, ["a"]).approved  # empty: _MIN_TRUST
    s = Session()
    s.add_policy('Authorizer: "POLICY"\nConditions: # nothing\n  # at all\n')
    assert not s.query({}, ["a"]).approved


TYPE_ERRORS = [
    ('@foo == "12"', "mixes|needs an integer"),
    ("&f == 1.5", "cannot be compared with '=='"),
    ("&f != 1.5", "cannot be compared with '!='"),
    ("@n == 1.0", "mixes an integer and a float"),
    ("@n + 1.0 > 1.0", "mixes an integer and a float"),
    ("foo + 1 == 2", "needs an integer"),
    ("1.5 % 1.0 < 1.0", "'%' needs integers"),
    ('a == b == "c"', "cannot be chained"),
    ("foo", "needs a test"),
    ('"abc"', "needs a test"),
    ("@n", "needs a test"),
    ('@foo . "x" == "1x"', "'.' needs a string"),
    ("true -> @n;", "clause value needs a string"),
    ("!foo", "'!' needs a test"),
    ("foo && true", "'&&' needs a test"),
    ("@-3 == 0", "'@' needs a string"),
    ("$3 == 0", "'$' needs a string"),
    ('-foo == ""', "unary '-' needs an integer"),
    ('(a == "b") == "c"', "needs a string, not a test"),
    ('1 ~= "1"', "'~=' needs a string"),
    ('a = "b"', "use '=='"),
    ("a ? b", "unexpected character '?'"),
    ("(true", "expected ')'"),
    ("true)", "expected ';'"),
]


@pytest.mark.parametrize(("test", "reason"), TYPE_ERRORS)
def test_type_errors_are_syntax_errors(test: str, reason: str) -> None:
    with pytest.raises(KeyNoteSyntaxError) as info:
        parse_assertions(f'Authorizer: "a"\nConditions: {test};\n', "f")
    assert any(r in info.value.reason for r in reason.split("|")), info.value
    assert info.value.line == 2


def test_nesting_is_bounded() -> None:
    deep = "(" * 150 + "true" + ")" * 150
    with pytest.raises(KeyNoteSyntaxError, match="nested too deeply"):
        parse_assertions(f'Authorizer: "a"\nConditions: {deep};\n')
    long = " + ".join(["1"] * 300)
    with pytest.raises(KeyNoteSyntaxError, match="too long"):
        parse_assertions(f'Authorizer: "a"\nConditions: {long} > 0;\n')
    ok = "(" * 40 + "true" + ")" * 40
    assert holds(ok)
