"""The action attributes a phase-2 proposal gets (isakmpd's policy.c), for
ESP and AH, every encapsulation, PFS, lifetimes, IPv4 and IPv6 IDs of every
shape and phase-1 IDs by name. The expected strings are written from the
formats of isakmpd.policy(5) and policy.c, not computed."""

from __future__ import annotations

import time

import pytest
from isakmpd import _core
from isakmpd.constants import (
    AhTransform,
    AuthAlg,
    AuthMethod,
    EncapMode,
    EspTransform,
    ExchangeType,
    IdType,
    IpsecAttr,
    LifeType,
    ProtocolId,
)
from isakmpd.policy.ipsec import (
    DEFAULTS,
    ClientId,
    Phase2Proposal,
    PolicyInputError,
    ProtoChoice,
    action_attributes,
    dn_oneline,
)
from isakmpd.sa import IsakmpSA, Phase1Params

WHEN = 1767225600.0  # 2026-01-01 00:00:00 UTC

LIFE_1200 = ((IpsecAttr.SA_LIFE_TYPE, LifeType.SECONDS),
             (IpsecAttr.SA_LIFE_DURATION, 1200))


def isakmp_sa(*, local_ip: str = "10.1.0.2", remote_ip: str = "10.128.1.12",
              exchange: int = ExchangeType.ID_PROT, group: int = 14,
              peer_id: tuple[int, bytes] | None = None) -> IsakmpSA:
    """An established ISAKMP SA; the peer's phase-1 ID is its address
    unless ``peer_id`` (type, data) is given."""
    sa = IsakmpSA(b"\1" * 8, b"\2" * 8, False, (local_ip, 500), (remote_ip, 500), "peer",
                  exchange, 0.0, state="established")
    sa.params = Phase1Params(enc_alg=7, key_len=16, hash_alg=2,
                             auth_method=AuthMethod.PRE_SHARED, group=group)
    if peer_id is None:
        peer_id = (IdType.IPV4_ADDR, _v4(remote_ip))
    idp = _core.ID(peer_id[0], peer_id[1])
    _core.encode_payloads([idp])
    sa.id_remote, sa.id_remote_type = idp.body, idp.id_type
    return sa


def esp(transform: int = EspTransform.AES, *attrs: tuple[int, int],
        encap: int = EncapMode.TUNNEL, auth: int | None = AuthAlg.HMAC_SHA,
        bits: int | None = 128, group: int | None = 14) -> ProtoChoice:
    a = list(LIFE_1200)
    if group is not None:
        a.append((IpsecAttr.GROUP_DESCRIPTION, group))
    a.append((IpsecAttr.ENCAPSULATION_MODE, encap))
    if auth is not None:
        a.append((IpsecAttr.AUTHENTICATION_ALGORITHM, auth))
    if bits is not None:
        a.append((IpsecAttr.KEY_LENGTH, bits))
    a += attrs
    return ProtoChoice(ProtocolId.IPSEC_ESP, transform, tuple(a))


def subnet(net: str, mask: str, protocol: int = 0, port: int = 0) -> ClientId:
    return ClientId(IdType.IPV4_ADDR_SUBNET, _v4(net) + _v4(mask), protocol, port)


def _v4(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


LOCAL = subnet("192.168.1.0", "255.255.255.0")
REMOTE = subnet("192.168.2.7", "255.255.255.0")  # host bits set: policy.c masks


def attrs(protos, *, pfs: bool = True, local: ClientId = LOCAL,
          remote: ClientId = REMOTE, initiator: bool = False, **sa_kw) -> dict:
    prop = Phase2Proposal(tuple(protos), pfs, local, remote)
    return action_attributes(prop, isakmp_sa(**sa_kw), initiator, WHEN)


def test_esp_tunnel_every_attribute() -> None:
    """The whole table for ESP AES-128/HMAC-SHA1 in tunnel mode with PFS
    between two IPv4 subnets, as responder after Main Mode."""
    got = attrs([esp()])
    assert got == {
        "app_domain": "IPsec policy", "doi": "ipsec",
        "initiator": "no", "pfs": "yes", "phase_1": "main", "phase1_group_desc": "14",
        "GMTTimeOfDay": "20260101000000",
        "LocalTimeOfDay": time.strftime("%Y%m%d%H%M%S", time.localtime(WHEN)),
        "esp_present": "yes", "ah_present": "no", "comp_present": "no",
        "esp_enc_alg": "aes", "esp_auth_alg": "hmac-sha", "esp_key_length": "128",
        "esp_key_rounds": "", "esp_encapsulation": "tunnel",
        "esp_life_seconds": "1200", "esp_life_kbytes": "", "esp_group_desc": "14",
        "esp_ecn": "no",
        "ah_hash_alg": "", "ah_auth_alg": "", "ah_key_length": "", "ah_key_rounds": "",
        "ah_encapsulation": "", "ah_life_seconds": "", "ah_life_kbytes": "",
        "ah_group_desc": "", "ah_ecn": "no",
        "comp_alg": "", "comp_encapsulation": "", "comp_life_seconds": "",
        "comp_life_kbytes": "", "comp_group_desc": "", "comp_dict_size": "",
        "comp_private_alg": "", "comp_ecn": "no",
        "local_filter_type": "IPv4 subnet",
        "local_filter": "192.168.001.000-192.168.001.255",
        "local_filter_addr_lower": "192.168.001.000",
        "local_filter_addr_upper": "192.168.001.255",
        "local_filter_port": "0", "local_filter_proto": "0",
        "remote_filter_type": "IPv4 subnet",
        "remote_filter": "192.168.002.000-192.168.002.255",
        "remote_filter_addr_lower": "192.168.002.000",
        "remote_filter_addr_upper": "192.168.002.255",
        "remote_filter_port": "0", "remote_filter_proto": "0",
        "remote_id_type": "IPv4 address", "remote_id": "010.128.001.012",
        "remote_id_addr_lower": "010.128.001.012",
        "remote_id_addr_upper": "010.128.001.012",
        "remote_id_port": "0", "remote_id_proto": "0",
        "remote_ike_address": "010.128.001.012",
        "remote_negotiation_address": "010.128.001.012",
        "local_ike_address": "010.001.000.002",
        "local_negotiation_address": "010.001.000.002",
    }
    assert set(got) == set(DEFAULTS)  # nothing more, nothing less than policy.c


def test_local_time_of_day_follows_the_time_zone(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "EST5")
    time.tzset()
    try:
        got = attrs([esp()])
    finally:
        monkeypatch.undo()
        time.tzset()
    assert (got["GMTTimeOfDay"], got["LocalTimeOfDay"]) == (
        "20260101000000", "20251231190000")


@pytest.mark.parametrize(("transform", "name"), [
    (EspTransform.TDES, "3des"), (EspTransform.AES, "aes"),
    (EspTransform.AES_CTR, "aes"), (EspTransform.AES_GCM_16, "aes"),
    (EspTransform.AES_GMAC, "aes"), (EspTransform.BLOWFISH, "blowfish"),
    (EspTransform.CAST, "cast"), (EspTransform.NULL, "null"),
    (EspTransform.DES, "des"), (EspTransform.AES_CCM_8, ""),
])
def test_esp_enc_alg_names(transform: int, name: str) -> None:
    assert attrs([esp(transform)])["esp_enc_alg"] == name


@pytest.mark.parametrize(("auth", "name"), [
    (AuthAlg.HMAC_MD5, "hmac-md5"), (AuthAlg.HMAC_SHA, "hmac-sha"),
    (AuthAlg.HMAC_SHA2_256, "hmac-sha2-256"), (AuthAlg.HMAC_SHA2_384, "hmac-sha2-384"),
    (AuthAlg.HMAC_SHA2_512, "hmac-sha2-512"), (AuthAlg.HMAC_RIPEMD, "hmac-ripemd"),
    (None, ""),
])
def test_esp_auth_alg_names(auth: int | None, name: str) -> None:
    assert attrs([esp(auth=auth)])["esp_auth_alg"] == name


@pytest.mark.parametrize(("encap", "name"), [
    (EncapMode.TUNNEL, "tunnel"), (EncapMode.TRANSPORT, "transport"),
    (EncapMode.UDP_ENCAP_TUNNEL, "udp-encap-tunnel"),
    (EncapMode.UDP_ENCAP_TUNNEL_DRAFT, "udp-encap-tunnel"),
    (EncapMode.UDP_ENCAP_TRANSPORT, "transport"),  # as policy.c (its XXX)
    (EncapMode.UDP_ENCAP_TRANSPORT_DRAFT, "transport"),
])
def test_encapsulation(encap: int, name: str) -> None:
    assert attrs([esp(encap=encap)])["esp_encapsulation"] == name


def test_no_pfs_and_no_group() -> None:
    got = attrs([esp(group=None)], pfs=False)
    assert (got["pfs"], got["esp_group_desc"]) == ("no", "")


def test_lifetimes_in_seconds_and_kilobytes() -> None:
    p = ProtoChoice(ProtocolId.IPSEC_ESP, EspTransform.TDES, (
        (IpsecAttr.SA_LIFE_TYPE, LifeType.SECONDS), (IpsecAttr.SA_LIFE_DURATION, 86400),
        (IpsecAttr.SA_LIFE_TYPE, LifeType.KILOBYTES),
        (IpsecAttr.SA_LIFE_DURATION, 4608000),
        (IpsecAttr.ENCAPSULATION_MODE, EncapMode.TUNNEL),
        (IpsecAttr.AUTHENTICATION_ALGORITHM, AuthAlg.HMAC_MD5)))
    got = attrs([p])
    assert (got["esp_life_seconds"], got["esp_life_kbytes"]) == ("86400", "4608000")
    assert (got["esp_key_length"], got["esp_enc_alg"]) == ("", "3des")


def test_ah_transport_with_esp_bundle() -> None:
    """AH with SHA2-256 in transport mode after ESP: AH's duration without
    a type of its own counts in the unit ESP's last type gave (policy.c
    keeps it), its hash is named as isakmpd.policy(5) says."""
    ah = ProtoChoice(ProtocolId.IPSEC_AH, AhTransform.SHA2_256, (
        (IpsecAttr.SA_LIFE_DURATION, 600),
        (IpsecAttr.ENCAPSULATION_MODE, EncapMode.TRANSPORT),
        (IpsecAttr.AUTHENTICATION_ALGORITHM, AuthAlg.HMAC_SHA2_256),
        (IpsecAttr.ECN_TUNNEL, 1)))
    got = attrs([esp(encap=EncapMode.TRANSPORT, group=None), ah], pfs=False)
    assert got["esp_present"] == got["ah_present"] == "yes"
    assert (got["ah_hash_alg"], got["ah_auth_alg"]) == ("sha2-256", "hmac-sha2-256")
    assert (got["ah_encapsulation"], got["esp_encapsulation"]) == (
        "transport", "transport")
    assert (got["ah_life_seconds"], got["ah_life_kbytes"]) == ("600", "")
    assert (got["ah_ecn"], got["esp_ecn"]) == ("yes", "no")


@pytest.mark.parametrize(("transform", "name"), [
    (AhTransform.MD5, "md5"), (AhTransform.SHA, "sha"), (AhTransform.RIPEMD, "ripemd"),
    (AhTransform.SHA2_512, "sha2-512"),
])
def test_ah_hash_names(transform: int, name: str) -> None:
    ah = ProtoChoice(ProtocolId.IPSEC_AH, transform,
                     ((IpsecAttr.AUTHENTICATION_ALGORITHM, AuthAlg.HMAC_SHA),))
    got = attrs([ah], pfs=False)
    assert (got["ah_hash_alg"], got["esp_present"], got["esp_enc_alg"]) == (
        name, "no", "")


def test_initiator_and_aggressive_mode() -> None:
    got = attrs([esp()], initiator=True, exchange=ExchangeType.AGGRESSIVE, group=2)
    assert (got["initiator"], got["phase_1"], got["phase1_group_desc"]) == (
        "yes", "aggressive", "2")


def test_ipv4_address_and_range_ids_with_protocol_and_port() -> None:
    local = ClientId(IdType.IPV4_ADDR, _v4("10.1.0.5"), 6, 80)
    remote = ClientId(IdType.IPV4_ADDR_RANGE, _v4("10.2.0.16") + _v4("10.2.0.31"), 17,
                      53)
    got = attrs([esp()], local=local, remote=remote)
    assert (got["local_filter_type"], got["local_filter"],
            got["local_filter_addr_lower"], got["local_filter_addr_upper"],
            got["local_filter_proto"], got["local_filter_port"]) == (
        "IPv4 address", "010.001.000.005", "010.001.000.005", "010.001.000.005",
        "tcp", "80")
    assert (got["remote_filter_type"], got["remote_filter"],
            got["remote_filter_addr_lower"], got["remote_filter_addr_upper"],
            got["remote_filter_proto"], got["remote_filter_port"]) == (
        "IPv4 range", "010.002.000.016-010.002.000.031", "010.002.000.016",
        "010.002.000.031", "udp", "53")


def test_other_protocols_are_numbers() -> None:
    got = attrs([esp()], local=ClientId(IdType.IPV4_ADDR, _v4("10.1.0.5"), 47),
                remote=ClientId(IdType.IPV4_ADDR, _v4("10.2.0.5"), 97))
    assert (got["local_filter_proto"], got["remote_filter_proto"]) == ("47", "etherip")


V6 = bytes.fromhex("20010db8000000000000000000000001")


def test_ipv6_ids_fully_expanded() -> None:
    mask64 = bytes.fromhex("ffffffffffffffff0000000000000000")
    local = ClientId(IdType.IPV6_ADDR_SUBNET, V6 + mask64)
    remote = ClientId(IdType.IPV6_ADDR, bytes.fromhex("fe800000000000000000000000abcdef"))
    got = attrs([esp()], local=local, remote=remote,
                local_ip="2001:db8::1", remote_ip="2001:db8::2",
                peer_id=(IdType.IPV6_ADDR, bytes.fromhex(
                    "20010db8000000000000000000000002")))
    assert got["local_filter_type"] == "IPv6 subnet"
    assert got["local_filter_addr_lower"] == "2001:0db8:0000:0000:0000:0000:0000:0000"
    assert got["local_filter_addr_upper"] == "2001:0db8:0000:0000:ffff:ffff:ffff:ffff"
    assert got["local_filter"] == ("2001:0db8:0000:0000:0000:0000:0000:0000-"
                                   "2001:0db8:0000:0000:ffff:ffff:ffff:ffff")
    assert (got["remote_filter_type"], got["remote_filter"]) == (
        "IPv6 address", "fe80:0000:0000:0000:0000:0000:00ab:cdef")
    assert got["local_ike_address"] == "2001:0db8:0000:0000:0000:0000:0000:0001"
    assert got["remote_ike_address"] == "2001:0db8:0000:0000:0000:0000:0000:0002"
    assert (got["remote_id_type"], got["remote_id"]) == (
        "IPv6 address", "2001:0db8:0000:0000:0000:0000:0000:0002")


def test_ipv6_range() -> None:
    last = bytes.fromhex("20010db80000000000000000000000ff")
    got = attrs([esp()], remote=ClientId(IdType.IPV6_ADDR_RANGE, V6 + last))
    assert (got["remote_filter_type"], got["remote_filter_addr_lower"],
            got["remote_filter_addr_upper"]) == (
        "IPv6 range", "2001:0db8:0000:0000:0000:0000:0000:0001",
        "2001:0db8:0000:0000:0000:0000:0000:00ff")


@pytest.mark.parametrize(("peer_id", "kind", "text"), [
    ((IdType.FQDN, b"east.example.net"), "FQDN", "east.example.net"),
    ((IdType.USER_FQDN, b"admin@example.net"), "User FQDN", "admin@example.net"),
    ((IdType.KEY_ID, b"key-1"), "Key ID", "key-1"),
    ((IdType.KEY_ID, b"\x01\xfe"), "Key ID", "01fe"),
    ((IdType.DER_ASN1_GN, b"\x30\x00"), "ASN1 GN", ""),
])
def test_phase1_ids_by_name(peer_id, kind: str, text: str) -> None:
    got = attrs([esp()], peer_id=peer_id)
    assert (got["remote_id_type"], got["remote_id"], got["remote_id_addr_lower"],
            got["remote_id_addr_upper"]) == (kind, text, "", "")


def test_phase1_id_distinguished_name() -> None:
    # C=SE, O=Example, CN=east é (UTF8String), DER written out by hand
    cn = "east é".encode()
    def atv(oid: bytes, tag: int, value: bytes) -> bytes:
        body = b"\x06" + bytes([len(oid)]) + oid + bytes([tag, len(value)]) + value
        return b"\x31" + bytes([len(body) + 2, 0x30, len(body)]) + body
    rdns = (atv(b"\x55\x04\x06", 0x13, b"SE") + atv(b"\x55\x04\x0a", 0x0C, b"Example")
            + atv(b"\x55\x04\x03", 0x0C, cn))
    der = b"\x30" + bytes([len(rdns)]) + rdns
    got = attrs([esp()], peer_id=(IdType.DER_ASN1_DN, der))
    assert (got["remote_id_type"], got["remote_id"]) == (
        "ASN1 DN", "/C=SE/O=Example/CN=east \\xC3\\xA9")
    assert dn_oneline(der, limit=20) == "/C=SE/O=Example"  # whole entries only


def test_no_client_ids_means_the_ike_addresses() -> None:
    sa = isakmp_sa()
    prop = Phase2Proposal((esp(),), True, ClientId.host(sa.local[0]),
                          ClientId.host(sa.remote[0]))
    got = action_attributes(prop, sa, False, WHEN)
    assert (got["local_filter_type"], got["local_filter"], got["local_filter_proto"],
            got["local_filter_port"]) == ("IPv4 address", "010.001.000.002", "0", "0")
    assert got["remote_filter"] == got["remote_filter_addr_upper"] == "010.128.001.012"


@pytest.mark.parametrize("bad", [
    ClientId(IdType.IPV4_ADDR, b"\1\2\3"),
    ClientId(IdType.IPV6_ADDR_SUBNET, V6),
    ClientId(200, b"x"),
])
def test_ids_policy_c_cannot_describe_are_refused(bad: ClientId) -> None:
    with pytest.raises(PolicyInputError):
        attrs([esp()], remote=bad)


def test_summary_for_log_lines() -> None:
    prop = Phase2Proposal((esp(),), True, LOCAL, REMOTE)
    assert prop.summary() == "ESP aes-128 hmac-sha tunnel, PFS"
