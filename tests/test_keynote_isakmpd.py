"""isakmpd.policy(5): the sample policy and a stricter one, queried with
the action attributes isakmpd's policy.c sets for a phase-2 proposal."""

from __future__ import annotations

from pathlib import Path

import pytest
from isakmpd.policy.keynote import Session

DATA = Path(__file__).parent / "data" / "keynote"
PSK = "passphrase:mekmitasdigoat"


def proposal(**changes: str) -> dict[str, str]:
    """Attributes of an ESP tunnel proposal (AES-128, HMAC-SHA1, PFS) between
    192.168.1.0/24 and 192.168.2.0/24, as policy.c describes it."""
    attrs = {
        "app_domain": "IPsec policy",
        "doi": "ipsec",
        "initiator": "no",
        "pfs": "yes",
        "phase_1": "main",
        "phase1_group_desc": "2",
        "GMTTimeOfDay": "20260501120000",
        "LocalTimeOfDay": "20260501140000",
        "esp_present": "yes",
        "ah_present": "no",
        "comp_present": "no",
        "esp_enc_alg": "aes",
        "esp_auth_alg": "hmac-sha",
        "esp_encapsulation": "tunnel",
        "esp_key_length": "128",
        "esp_life_seconds": "1200",
        "esp_group_desc": "2",
        "local_filter_type": "IPv4 subnet",
        "local_filter": "192.168.001.000-192.168.001.255",
        "local_filter_addr_lower": "192.168.001.000",
        "local_filter_addr_upper": "192.168.001.255",
        "local_filter_port": "0",
        "local_filter_proto": "0",
        "remote_filter_type": "IPv4 subnet",
        "remote_filter": "192.168.002.000-192.168.002.255",
        "remote_filter_addr_lower": "192.168.002.000",
        "remote_filter_addr_upper": "192.168.002.255",
        "remote_filter_port": "0",
        "remote_filter_proto": "0",
        "remote_id_type": "IPv4 address",
        "remote_id": "010.001.000.001",
        "remote_ike_address": "010.001.000.001",
        "local_ike_address": "010.001.000.002",
        "remote_negotiation_address": "010.001.000.001",
        "local_negotiation_address": "010.001.000.002",
    }
    attrs.update(changes)
    return attrs


@pytest.fixture
def sample() -> Session:
    s = Session()
    s.load_file(DATA / "isakmpd.policy")
    return s


def test_sample_policy_accepts_esp_with_the_shared_secret(sample: Session) -> None:
    result = sample.query(proposal(), [PSK])
    assert result.value == "true"
    (verdict,) = result.deciding
    assert verdict.assertion.where.endswith("isakmpd.policy:3")


@pytest.mark.parametrize(
    ("changes", "requester"),
    [
        ({}, "passphrase:wrong"),
        ({}, "passphrase-md5-hex:0123456789abcdef0123456789abcdef"),
        ({"esp_present": "no", "ah_present": "yes"}, PSK),  # AH only
        ({"app_domain": "IPsec"}, PSK),
    ],
)
def test_sample_policy_refuses(sample: Session, changes: dict, requester: str) -> None:
    result = sample.query(proposal(**changes), [requester])
    assert result.value == "false"
    (verdict,) = result.deciding
    assert verdict.value == "false"
    if requester == PSK:
        assert verdict.conditions == "false" and verdict.licensees == "true"
    else:
        assert verdict.conditions == "true" and verdict.licensees == "false"


def test_sample_policy_with_several_requesters(sample: Session) -> None:
    # isakmpd passes the peer's principals (e.g. key and DN): one suffices.
    assert sample.query(proposal(), ["DN:/CN=peer", PSK]).approved


@pytest.fixture
def strict() -> Session:
    s = Session()
    s.load_file(DATA / "isakmpd-strict.policy")
    return s


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "true"),
        ({"esp_auth_alg": "hmac-sha2-256"}, "true"),
        ({"esp_auth_alg": "hmac-sha2-512"}, "true"),
        ({"esp_key_length": "256"}, "true"),
        ({"esp_auth_alg": "hmac-md5"}, "false"),
        ({"esp_auth_alg": "hmac-sha2-128"}, "false"),
        ({"esp_enc_alg": "des"}, "false"),
        ({"esp_enc_alg": "null"}, "false"),
        ({"esp_key_length": "64"}, "false"),
        ({"esp_key_length": ""}, "false"),  # not negotiated: @"" is 0
        ({"pfs": "no"}, "false"),
        ({"ah_present": "yes"}, "false"),
        ({"phase_1": "aggressive"}, "false"),
        ({"local_filter": "192.168.003.000-192.168.003.255"}, "false"),
        ({"remote_filter_type": "IPv4 range"}, "false"),
        ({"remote_filter_addr_lower": "192.168.002.128"}, "false"),
        ({"GMTTimeOfDay": "20380119031408"}, "false"),
    ],
)
def test_strict_policy(strict: Session, changes: dict, expected: str) -> None:
    assert strict.query(proposal(**changes), [PSK]).value == expected


def test_strict_policy_licensees(strict: Session) -> None:
    dn = "DN:/C=CA/O=Example/CN=west.example.net"
    assert strict.query(proposal(), [dn]).approved
    assert not strict.query(
        proposal(), ["DN:/C=CA/O=Example/CN=east.example.net"]
    ).approved


def test_attributes_are_untouched_between_queries(sample: Session) -> None:
    attrs = proposal()
    before = dict(attrs)
    sample.query(attrs, [PSK])
    assert attrs == before
    # A session serves many queries; nothing leaks from one to the next.
    assert not sample.query(proposal(esp_present="no"), [PSK]).approved
    assert sample.query(proposal(), [PSK]).approved
