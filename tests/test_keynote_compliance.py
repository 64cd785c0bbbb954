"""Compliance checking (RFC 2704 section 5): Licensees expressions, the
assertion graph from POLICY to the requesters, cycles, and the
explanation of each answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from isakmpd.policy.keynote import KeyNoteError, Session

DATA = Path(__file__).parent / "data" / "keynote"
YES_NO = ("false", "true")


def policy(licensees: str, conditions: str | None = None) -> Session:
    s = Session()
    text = f'Authorizer: "POLICY"\nLicensees: {licensees}\n'
    if conditions is not None:
        text += f"Conditions: {conditions}\n"
    s.add_policy(text, "policy")
    return s


@pytest.mark.parametrize(
    ("licensees", "requesters", "expected"),
    [
        ('"a"', ["a"], True),
        ('"a"', ["b"], False),
        ('"a"', ["b", "a"], True),
        ('"a" && "b"', ["a"], False),
        ('"a" && "b"', ["a", "b"], True),
        ('"a" || "b"', ["b"], True),
        ('"a" || "b" && "c"', ["a"], True),  # && binds tighter
        ('"a" || "b" && "c"', ["b"], False),
        ('("a" || "b") && "c"', ["a"], False),
        ('("a" || "b") && "c"', ["b", "c"], True),
        ('2-of("a", "b", "c")', ["a"], False),
        ('2-of("a", "b", "c")', ["c", "a"], True),
        ('3-of("a", "b", "c")', ["c", "a"], False),
        ('1-of("a", "b")', ["b"], True),
        ('2-of ("a", "a")', ["a"], True),  # counted with multiplicity
        ('"a" && 2-of("b", "c", "d") || "e"', ["a", "c", "d"], True),
        ('"a" && 2-of("b", "c", "d") || "e"', ["a", "c"], False),
        ('"a" && 2-of("b", "c", "d") || "e"', ["e"], True),
        ('"a" . "b"', ["ab"], True),
        ('("a") . "b"', ["ab"], True),
        ('"A"', ["a"], False),  # opaque identifiers are case-sensitive
        ("", ["a"], False),  # an empty Licensees field: _MIN_TRUST
    ],
)
def test_licensees(licensees: str, requesters: list[str], expected: bool) -> None:
    assert policy(licensees).query({}, requesters).approved is expected


def test_missing_licensees_is_max_trust() -> None:
    s = Session()
    s.add_policy('Authorizer: "POLICY"\nConditions: app == "x";\n')
    assert s.query({"app": "x"}, ["anyone"]).approved
    assert not s.query({"app": "y"}, ["anyone"]).approved


def test_licensees_with_constants_and_parentheses() -> None:
    s = Session()
    s.add_policy(
        'authorizer: "POLICY"\n'
        'licensees: (ME) && ((("k3") || "k4") && (ME)) || OTHER\n'
        'local-constants: ME = "k3"\n'
        '\t OTHER = "k9"\n'
    )
    assert s.query({}, ["k3"]).approved
    assert s.query({}, ["k9"]).approved
    assert not s.query({}, ["k4"]).approved


def test_licensee_from_an_action_attribute() -> None:
    # Licensees names resolve like Conditions names: constants, then the
    # action attributes.
    s = policy("who")
    assert s.query({"who": "alice"}, ["alice"]).approved
    assert not s.query({"who": "bob"}, ["alice"]).approved


def test_k_of_takes_the_kth_highest_value() -> None:
    # RFC 2704 section 5.3.5: orders (0, 1, 2, 2, 3) and K = 3 give 2.
    values = ("v0", "v1", "v2", "v3")
    text = ""
    for who, value in (("p1", "v1"), ("p2a", "v2"), ("p2b", "v2"), ("p3", "v3")):
        text += (
            f'Authorizer: "{who}"\nLicensees: "req"\nConditions: true -> "{value}";\n\n'
        )
    for k, expected in ((1, "v3"), (2, "v2"), (3, "v2"), (4, "v1"), (5, "v0")):
        s = Session()
        s.add_policy(text, "creds")
        s.add_policy(
            f'Authorizer: "POLICY"\n'
            f'Licensees: {k}-of("p0", "p1", "p2a", "p2b", "p3")\n',
            "policy",
        )
        assert s.query({}, ["req"], values).value == expected, k


def test_rfc2704_spend_examples() -> None:
    s = Session()
    s.load_file(DATA / "spend.kn")
    values = ("Reject", "ApproveAndLog", "Approve")
    cases = [
        ("DSA:978add", "45", "Approve"),
        ("RSA:abc123,DSA:cde333", "550", "Approve"),
        ("DSA:feed1234,DSA:cde333", "5500", "ApproveAndLog"),
        ("DSA:cde333", "150", "ApproveAndLog"),
        ("DSA:def975", "550", "Reject"),
        ("DSA:cde333,DSA:978add", "5500", "Reject"),
    ]
    for requesters, dollars, expected in cases:
        attrs = {"app_domain": "SPEND", "dollars": dollars, "unmentioned": "x"}
        result = s.query(attrs, requesters.split(","), values)
        assert result.value == expected, (requesters, dollars)


RFC_EMAIL = """\
Authorizer: "POLICY"
Licensees: "RSA:abc123"

KeyNote-Version: 2
Local-Constants: Alice="DSA:4401ff92"  # Alice's key
                 Bob="RSA:d1234f"      # Bob's key
Authorizer: "RSA:abc123"
Licensees: Alice || Bob
Conditions: (app_domain == "RFC822-EMAIL") &&
            (address ~=   # only applies to one domain
              "^.*@keynote\\\\.research\\\\.att\\\\.com$");

KeyNote-Version: 2
Authorizer: "DSA:4401ff92"  # the Alice CA
Licensees: "DSA:12340987"   # mab's key
Conditions: ((app_domain == "RFC822-EMAIL") &&
             (name == "M. Blaze" || name == "") &&
             (address == "mab@keynote.research.att.com"));

KeyNote-Version: "2"
Authorizer: "DSA:4401ff92"   # the Alice CA
Licensees: "DSA:abc991" ||   # jf's DSA key
           "RSA:cde773" ||   # jf's RSA key
           "BFIK:fd091a"     # jf's BFIK key
Conditions: ((app_domain == "RFC822-EMAIL") &&
             (name == "J. Feigenbaum" || name == "") &&
             (address == "jf@keynote.research.att.com"));
"""


@pytest.mark.parametrize(
    ("requester", "attrs", "expected"),
    [
        ("DSA:12340987", {"address": "mab@keynote.research.att.com"}, True),
        (
            "DSA:12340987",
            {"address": "mab@keynote.research.att.com", "name": "M. Blaze"},
            True,
        ),
        ("DSA:12340987", {"address": "angelos@dsl.cis.upenn.edu"}, False),
        (
            "DSA:abc991",
            {"address": "mab@keynote.research.att.com", "name": "M. Blaze"},
            False,
        ),
        (
            "DSA:12340987",
            {"address": "mab@keynote.research.att.com", "name": "J. Feigenbaum"},
            False,
        ),
        ("BFIK:fd091a", {"address": "jf@keynote.research.att.com"}, True),
    ],
)
def test_rfc2704_email_examples(requester: str, attrs: dict, expected: bool) -> None:
    # RFC 2704 section 6, examples A-D (without their fictitious signatures;
    # the RFC writes the requester "dsa:12340987" in lower case, which as
    # an opaque identifier would not match "DSA:12340987").
    s = Session()
    s.add_policy(RFC_EMAIL, "email")
    attrs = {"app_domain": "RFC822-EMAIL", **attrs}
    assert s.query(attrs, [requester]).approved is expected


CHAIN = """\
Authorizer: "POLICY"
Licensees: "A"
Conditions: app == "ipsec" -> "true";

Authorizer: "A"
Licensees: "B"
Conditions: alg == "aes" -> "true";

Authorizer: "B"
Licensees: "C" || "D"
Conditions: @bits >= 128;
"""


@pytest.mark.parametrize(
    ("requester", "attrs", "expected"),
    [
        ("C", {"app": "ipsec", "alg": "aes", "bits": "256"}, True),
        ("D", {"app": "ipsec", "alg": "aes", "bits": "128"}, True),
        ("C", {"app": "ipsec", "alg": "aes", "bits": "64"}, False),  # B refuses
        ("C", {"app": "ipsec", "alg": "des", "bits": "256"}, False),  # A refuses
        ("C", {"app": "ike", "alg": "aes", "bits": "256"}, False),  # POLICY
        ("B", {"app": "ipsec", "alg": "aes", "bits": "1"}, True),  # B itself
        ("E", {"app": "ipsec", "alg": "aes", "bits": "256"}, False),
    ],
)
def test_delegation_chain(requester: str, attrs: dict, expected: bool) -> None:
    s = Session()
    s.add_policy(CHAIN, "chain")
    assert s.query(attrs, [requester]).approved is expected


def test_chain_takes_the_lowest_value_along_the_path() -> None:
    values = ("no", "log", "yes")
    s = Session()
    s.add_policy(
        'Authorizer: "POLICY"\nLicensees: "A"\nConditions: true -> "yes";\n\n'
        'Authorizer: "A"\nLicensees: "B"\nConditions: true -> "log";\n\n'
        'Authorizer: "A"\nLicensees: "C"\n',
        "p",
    )
    assert s.query({}, ["B"], values).value == "log"
    assert s.query({}, ["C"], values).value == "yes"
    assert s.query({}, ["B", "C"], values).value == "yes"
    assert s.query({}, ["Z"], values).value == "no"


def test_cycles() -> None:
    s = Session()
    s.add_policy(
        'Authorizer: "POLICY"\nLicensees: "A"\n\n'
        'Authorizer: "A"\nLicensees: "B"\n\n'
        'Authorizer: "B"\nLicensees: "A" || "C"\n\n'
        'Authorizer: "C"\nLicensees: "C" && "B"\n',
        "cycle",
    )
    # The loop A -> B -> A grants nothing by itself.
    assert not s.query({}, ["X"]).approved
    assert s.query({}, ["A"]).approved
    assert s.query({}, ["B"]).approved
    # C is licensed by B, and C's own loop needs B too.
    assert s.query({}, ["C"]).approved
    only_loop = Session()
    only_loop.add_policy(
        'Authorizer: "POLICY"\nLicensees: "A"\n\nAuthorizer: "A"\nLicensees: "A"\n',
        "self",
    )
    assert not only_loop.query({}, ["B"]).approved


def test_cycle_with_values() -> None:
    values = ("v0", "v1", "v2")
    s = Session()
    s.add_policy(
        'Authorizer: "POLICY"\nLicensees: "A"\n\n'
        'Authorizer: "A"\nLicensees: "B"\nConditions: true -> "v1";\n\n'
        'Authorizer: "B"\nLicensees: "A" || "R"\n',
        "p",
    )
    assert s.query({}, ["R"], values).value == "v1"
    assert s.query({}, ["B"], values).value == "v1"
    assert s.query({}, ["A"], values).value == "v2"


def test_policy_value_is_the_best_policy_assertion() -> None:
    values = ("no", "log", "yes")
    s = Session()
    s.add_policy(
        'Authorizer: "POLICY"\nLicensees: "A"\nConditions: true -> "log";\n\n'
        'Authorizer: "POLICY"\nLicensees: "A"\nConditions: x == "1" -> "yes";\n',
        "p",
    )
    assert s.query({}, ["A"], values).value == "log"
    assert s.query({"x": "1"}, ["A"], values).value == "yes"


def test_no_policy_means_min_trust() -> None:
    s = Session()
    s.add_policy('Authorizer: "A"\nLicensees: "B"\n', "p")
    result = s.query({}, ["B"])
    assert result.value == "false" and result.deciding == ()


def test_deciding_names_the_refusing_policy() -> None:
    s = Session()
    s.add_policy(
        "# comment\n"
        'Authorizer: "POLICY"\nLicensees: "A"\nConditions: app == "ipsec";\n',
        "isakmpd.policy",
    )
    refused = s.query({"app": "ike"}, ["A"])
    assert not refused.approved
    (verdict,) = refused.deciding
    assert verdict.assertion.where == "isakmpd.policy:2"
    assert (verdict.conditions, verdict.licensees, verdict.value) == (
        "false",
        "true",
        "false",
    )
    assert "isakmpd.policy:2" in str(verdict) and "Conditions 'false'" in str(verdict)
    refused = s.query({"app": "ipsec"}, ["B"])
    (verdict,) = refused.deciding
    assert (verdict.conditions, verdict.licensees) == ("true", "false")


def test_deciding_lists_the_supporting_chain() -> None:
    s = Session()
    s.add_policy(CHAIN, "chain")
    s.add_policy('Authorizer: "A"\nLicensees: "unrelated"\n', "extra")
    result = s.query({"app": "ipsec", "alg": "aes", "bits": "256"}, ["C"])
    assert result.approved
    assert [a.where for a in result.deciding_assertions] == [
        "chain:1",
        "chain:5",
        "chain:9",
    ]
    assert {v.assertion.where for v in result.verdicts} == {
        "chain:1",
        "chain:5",
        "chain:9",
        "extra:1",
    }
    refused = s.query({"app": "ipsec", "alg": "aes", "bits": "1"}, ["C"])
    assert [a.where for a in refused.deciding_assertions] == ["chain:1"]
    by_where = {v.assertion.where: v for v in refused.verdicts}
    assert by_where["chain:9"].conditions == "false"
    assert by_where["chain:1"].licensees == "false"


def test_unreachable_assertions_are_not_evaluated() -> None:
    # An assertion nobody trusts is never run: its regex cannot cost us.
    s = Session()
    s.add_policy('Authorizer: "POLICY"\nLicensees: "A"\n', "p")
    s.add_policy('Authorizer: "Z"\nLicensees: "A"\nConditions: 1/0 == 0;\n', "z")
    result = s.query({}, ["A"])
    assert [v.assertion.where for v in result.verdicts] == ["p:1"]


def test_remove() -> None:
    s = Session()
    (a,) = s.add_policy('Authorizer: "POLICY"\nLicensees: "A"\n', "p")
    assert s.query({}, ["A"]).approved
    s.remove(a)
    assert not s.query({}, ["A"]).approved
    assert s.assertions == ()


@pytest.mark.parametrize(
    ("attrs", "requesters", "values", "reason"),
    [
        ({"_x": "1"}, ["a"], YES_NO, "reserved"),
        ({"1x": "1"}, ["a"], YES_NO, "must start with a letter"),
        ({"a b": "1"}, ["a"], YES_NO, "bad action attribute name"),
        ({"a": 1}, ["a"], YES_NO, "must be a string"),
        ({}, [], YES_NO, "at least one action authorizer"),
        ({}, [""], YES_NO, "bad action authorizer"),
        ({}, ["a"], (), "at least one compliance value"),
        ({}, ["a"], ("x", "x"), "distinct"),
    ],
)
def test_bad_queries(attrs: dict, requesters: list, values: tuple, reason: str) -> None:
    with pytest.raises(KeyNoteError, match=reason):
        policy('"a"').query(attrs, requesters, values)


def test_result_index() -> None:
    values = ("no", "log", "yes")
    s = policy('"a"', 'true -> "log";')
    result = s.query({}, ["a"], values)
    assert (result.value, result.index, result.approved) == ("log", 1, False)
    with pytest.raises(KeyNoteError, match="strings"):
        s.query({}, ["a"], ("no", 1))  # type: ignore[arg-type]


def test_single_compliance_value() -> None:
    result = policy('"a"').query({}, ["a"], ("only",))
    assert result.value == "only" and result.approved
