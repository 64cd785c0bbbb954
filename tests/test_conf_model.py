"""Typed views of the configuration (isakmpd.conf.model)."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from isakmpd.conf import Conf
from isakmpd.conf import model as m
from isakmpd.conf.ifaddr import _default_iface
from isakmpd.constants import (AhTransform, AuthAlg, AuthMethod, EncAlg, EncapMode,
                               EspTransform, ExchangeType, Group, HashAlg, IdType,
                               IpcompTransform, LifeType, ProtocolId)
from isakmpd.errors import ConfigError

DATA = Path(__file__).parent / "data" / "conf"
_FIB = Path("/proc/net/fib_trie")
_LO_V4 = _FIB.exists() and "127.0.0.1" in _FIB.read_text()


def fixture(name: str) -> Conf:
    return Conf.load(str(DATA / name), secrecy=False)


# ------------------------------------------------------------------ Range


@pytest.mark.parametrize("text,want", [
    ("3600", (3600, 3600, 3600)), ("3600,60:86400", (3600, 60, 86400)),
    (" 128 , 96 : 192 ", (128, 96, 192)), ("5,5:5", (5, 5, 5)),
])
def test_range_parse(text: str, want: tuple[int, int, int]) -> None:
    r = m.Range.parse(text)
    assert (r.offer, r.low, r.high) == want


@pytest.mark.parametrize("text", ["", "x", "1,2", "1:2", "1,3:2", "1,2:3:4", "1.5"])
def test_range_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        m.Range.parse(text)


def test_range_accepts() -> None:
    r = m.Range(128, 96, 192)
    assert r.accepts(96) and r.accepts(192) and not r.accepts(95) and not r.accepts(193)
    assert m.Range(5, 5, 5).accepts(5) and not m.Range(5, 5, 5).accepts(6)


# ------------------------------------------------------------------ General


def test_general_defaults() -> None:
    g = m.general(Conf.from_text("", "e"))
    assert (g.retransmits, g.exchange_max_time, g.check_interval) == (3, 120, 60)
    assert (g.nat_t_keepalive, g.dpd_check_interval) == (20, 0)
    assert g.default_phase1_lifetime == m.Range(3600, 60, 86400)
    assert g.default_phase2_lifetime == m.Range(1200, 60, 86400)
    assert g.delete_sas and g.use_keynote
    assert not (g.renegotiate_on_hup or g.shared_sadb or g.acquire_only or g.logverbose)
    assert g.policy_file == "/etc/isakmpd/isakmpd.policy"
    assert g.pubkey_directory == "/etc/isakmpd/pubkeys/"
    assert g.default_phase2_suites == ("QM-ESP-3DES-SHA-PFS-SUITE",)
    assert g.listen_on == () and g.loglevel == () and g.default_phase1_id is None
    assert g.dh_exponent_bits is None


def test_general_settings() -> None:
    g = m.general(Conf.from_text("""[General]
Retransmits=5
Exchange-max-time=60
Check-interval=30
Listen-on=10.0.0.1, 2001:DB8::0001, lo
Default-phase-1-lifetime=7200,600:28800
Delete-SAs=no
NAT-T-Keepalive=10
DPD-check-interval=5
Policy-file=policy
Use-Keynote=No
Renegotiate-on-HUP=
Shared-SADB=Defined
Acquire-Only=yes
Default-phase-1-ID=me
Default-phase-2-suites=QM-ESP-AES-SHA-PFS-SUITE,QM-ESP-3DES-SHA-SUITE
Loglevel=A=40,7=90
Logverbose=no
DH-exponent-bits=full
""", "g"))
    assert (g.retransmits, g.exchange_max_time, g.check_interval) == (5, 60, 30)
    assert g.listen_on == ("10.0.0.1", "2001:db8::1", "127.0.0.1")
    assert g.default_phase1_lifetime == m.Range(7200, 600, 28800)
    assert not g.delete_sas and not g.use_keynote
    assert (g.nat_t_keepalive, g.dpd_check_interval) == (10, 5)
    assert g.policy_file == "policy"
    # presence tags, as isakmpd (any value sets them) except an explicit "no"
    assert g.renegotiate_on_hup and g.shared_sadb and g.acquire_only
    assert not g.logverbose
    assert g.default_phase1_id == "me"
    assert g.default_phase2_suites == ("QM-ESP-AES-SHA-PFS-SUITE",
                                       "QM-ESP-3DES-SHA-SUITE")
    assert g.loglevel == ("A=40", "7=90")
    assert g.dh_exponent_bits == 0


@pytest.mark.parametrize("line,tag", [
    ("DH-exponent-bits=100", "DH-exponent-bits"),
    ("DH-exponent-bits=lots", "DH-exponent-bits"),
    ("Loglevel=7=100", "Loglevel"),
    ("Delete-SAs=maybe", "Delete-SAs"),
    ("Retransmits=-1", "Retransmits"),
    ("Retransmits=99999999999999999999999999", "Retransmits"),
    ("Max-Half-Open=2147483648", "Max-Half-Open"),
    ("Check-interval=0", "Check-interval"),
    ("Listen-on=no-such-if0", "Listen-on"),
    ("Listen-on=bogus.example", "Listen-on"),
    ("Check-interval=1m", "Check-interval"),
    ("Default-phase-2-lifetime=1200,60", "Default-phase-2-lifetime"),
])
def test_general_errors_name_tag_and_line(line: str, tag: str) -> None:
    c = Conf.from_text(f"# x\n[General]\n{line}\n", "g.conf")
    with pytest.raises(ConfigError) as ei:
        m.general(c)
    assert (ei.value.file, ei.value.line) == ("g.conf", 3)
    assert tag in ei.value.reason


def test_dh_exponent_bits_number() -> None:
    c = Conf.from_text("[General]\nDH-exponent-bits=256\n", "g")
    assert m.general(c).dh_exponent_bits == 256


# ------------------------------------------------------------------ phase 1

BASE = """\
[Phase 1]
10.0.0.2=\tpeer
2001:db8::2=\tpeer6
Default=\tpassive

[peer]
Phase=\t1
Address=\t10.0.0.2
Local-address=\t10.0.0.1
Authentication=\tsecret
Configuration=\tmm

[mm]
DOI=\tIPSEC
EXCHANGE_TYPE=\tID_PROT
Transforms=\t{transforms}
"""


def peer_conf(transforms: str = "AES-128-SHA-GRP14", extra: str = "") -> Conf:
    return Conf.from_text(BASE.format(transforms=transforms) + extra, "p.conf")


def test_phase1_peer() -> None:
    p = m.phase1_peer(peer_conf("AES-128-SHA-GRP14,3DES-SHA"), "PEER")
    assert (p.name, p.address, p.local_address, p.port) == ("PEER", "10.0.0.2",
                                                            "10.0.0.1", 500)
    assert p.exchange_type == ExchangeType.ID_PROT and p.configuration == "mm"
    assert p.psk == b"secret" and p.id is None and p.remote_id is None
    assert p.flags == frozenset() and p.warnings == ()
    aes, tdes = p.transforms
    assert aes == m.IkeTransformSpec(
        "AES-128-SHA-GRP14", EncAlg.AES_CBC, m.Range(128, 128, 128), HashAlg.SHA, None,
        AuthMethod.PRE_SHARED, Group.MODP_2048,
        (m.LifeSpec(LifeType.SECONDS, m.Range(3600, 60, 86400)),))
    assert (tdes.enc_alg, tdes.key_length, tdes.group) == (EncAlg.TDES_CBC, None, 2)


@pytest.mark.parametrize("name,reason", [
    ("3DES-SHA-DSS", "AUTHENTICATION_METHOD: DSS (2) is not supported"),
    ("AES-SHA-GRP26", "GROUP_DESCRIPTION: ECP_224 (26) is not supported"),
    ("BLF-SHA-GRP30", "GROUP_DESCRIPTION: BP_512 (30) is not supported"),
    ("NO-SUCH-XF", "transform section [NO-SUCH-XF] does not exist"),
    ("DES-XF", "ENCRYPTION_ALGORITHM: DES_CBC (1) is not supported"),
    ("IDEA-XF", "ENCRYPTION_ALGORITHM: IDEA_CBC (2) is not supported"),
    ("TIGER-XF", "HASH_ALGORITHM: TIGER (3) is not supported"),
    ("EC2N-XF", "GROUP_DESCRIPTION: EC2N_155 (3) is not supported"),
    ("TYPO-XF", "unknown value '3DES_CBX'"),
    ("NOGROUP-XF", "has no GROUP_DESCRIPTION"),
    ("BADKEY-XF", "KEY_LENGTH 100 is not a valid key length"),
    ("PRF-XF", "no PRF attribute is supported"),
])
def test_unusable_transforms_skipped_with_one_warning(name: str, reason: str) -> None:
    extra = """
[DES-XF]
ENCRYPTION_ALGORITHM=DES_CBC
HASH_ALGORITHM=MD5
AUTHENTICATION_METHOD=PRE_SHARED
GROUP_DESCRIPTION=MODP_768
[IDEA-XF]
ENCRYPTION_ALGORITHM=IDEA_CBC
HASH_ALGORITHM=MD5
AUTHENTICATION_METHOD=PRE_SHARED
GROUP_DESCRIPTION=MODP_1024
[TIGER-XF]
ENCRYPTION_ALGORITHM=3DES_CBC
HASH_ALGORITHM=TIGER
AUTHENTICATION_METHOD=PRE_SHARED
GROUP_DESCRIPTION=MODP_1024
[EC2N-XF]
ENCRYPTION_ALGORITHM=BLOWFISH_CBC
HASH_ALGORITHM=SHA
AUTHENTICATION_METHOD=PRE_SHARED
GROUP_DESCRIPTION=EC2N_155
[TYPO-XF]
ENCRYPTION_ALGORITHM=3DES_CBX
HASH_ALGORITHM=SHA
AUTHENTICATION_METHOD=PRE_SHARED
GROUP_DESCRIPTION=MODP_1024
[NOGROUP-XF]
ENCRYPTION_ALGORITHM=3DES_CBC
HASH_ALGORITHM=SHA
AUTHENTICATION_METHOD=PRE_SHARED
[BADKEY-XF]
ENCRYPTION_ALGORITHM=AES_CBC
KEY_LENGTH=100
HASH_ALGORITHM=SHA
AUTHENTICATION_METHOD=PRE_SHARED
GROUP_DESCRIPTION=MODP_1024
[PRF-XF]
ENCRYPTION_ALGORITHM=AES_CBC
HASH_ALGORITHM=SHA
PRF=HMAC_SHA
AUTHENTICATION_METHOD=PRE_SHARED
GROUP_DESCRIPTION=MODP_1024
"""
    p = m.phase1_peer(peer_conf(f"{name},3DES-SHA", extra), "peer")
    assert [t.name for t in p.transforms] == ["3DES-SHA"]
    assert len(p.warnings) == 1
    w = p.warnings[0]
    assert w.startswith("p.conf:16: [mm] Transforms: ") and name in w and reason in w


def test_peer_left_with_nothing_is_reported() -> None:
    p = m.phase1_peer(peer_conf("3DES-SHA-DSS,DES-SHA"), "peer")
    assert p.transforms == ()
    assert len(p.warnings) == 3
    assert "[peer] has no ISAKMP transform it can propose or accept" in p.warnings[2]


def test_any_values() -> None:
    p = m.phase1_peer(peer_conf("ANY-XF", """
[ANY-XF]
ENCRYPTION_ALGORITHM=ANY
HASH_ALGORITHM=any
AUTHENTICATION_METHOD=PRE_SHARED
GROUP_DESCRIPTION=ANY
Life=ANY
"""), "peer")
    (x,) = p.transforms
    assert (x.enc_alg, x.hash_alg, x.group, x.auth_method) == (m.ANY, m.ANY, m.ANY, 1)
    assert x.life_any and x.lifes == ()


def test_lifetimes() -> None:
    p = m.phase1_peer(peer_conf("L-XF", """
[L-XF]
ENCRYPTION_ALGORITHM=CAST_CBC
KEY_LENGTH=128,40:128
HASH_ALGORITHM=MD5
AUTHENTICATION_METHOD=RSA_SIG
GROUP_DESCRIPTION=MODP_1536
Life=L_SECS, L_KB
[L_SECS]
LIFE_TYPE=SECONDS
LIFE_DURATION=600,450:720
[L_KB]
LIFE_TYPE=KILOBYTES
LIFE_DURATION=ANY
"""), "peer")
    (x,) = p.transforms
    assert x.key_length == m.Range(128, 40, 128) and x.auth_method == AuthMethod.RSA_SIG
    assert x.lifes == (m.LifeSpec(LifeType.SECONDS, m.Range(600, 450, 720)),
                       m.LifeSpec(LifeType.KILOBYTES, m.Range(0, 0, 2**32 - 1)))


def test_bad_life_section_skips_the_transform() -> None:
    p = m.phase1_peer(peer_conf("L-XF,3DES-SHA", """
[L-XF]
ENCRYPTION_ALGORITHM=3DES_CBC
HASH_ALGORITHM=MD5
AUTHENTICATION_METHOD=PRE_SHARED
GROUP_DESCRIPTION=MODP_1024
Life=NO_SUCH_LIFE
"""), "peer")
    assert [t.name for t in p.transforms] == ["3DES-SHA"]
    assert "lifetime section [NO_SUCH_LIFE] does not exist" in p.warnings[0]


@pytest.mark.parametrize("extra,line,reason", [
    # the line of the referring tag, or of the ID section that is wrong
    ("[peer]\nID=nowhere\n", 18, "[peer] ID: ID section [nowhere] does not exist"),
    ("[peer]\nRemote-ID=gone\n", 18, "[peer] Remote-ID: ID section [gone] does not"),
    ("[peer]\nID=x-id\n[x-id]\nID-type=FQDN\n", 19, "[x-id] has no Name"),
    ("[mm]\nSomething=x\n", None, None),
])
def test_peer_reference_errors(extra: str, line, reason) -> None:
    c = Conf.from_text(BASE.format(transforms="3DES-SHA") + extra, "p.conf")
    if reason is None:
        m.phase1_peer(c, "peer")
        return
    with pytest.raises(ConfigError) as ei:
        m.phase1_peer(c, "peer")
    assert ei.value.file == "p.conf" and ei.value.line == line
    assert reason in ei.value.reason


def test_missing_configuration_section_names_referrer() -> None:
    c = Conf.from_text(BASE.format(transforms="x").replace("Configuration=\tmm",
                                                            "Configuration=\tmm2"), "p")
    with pytest.raises(ConfigError) as ei:
        m.phase1_peer(c, "peer")
    assert str(ei.value) == ("p:11: [peer] Configuration: ISAKMP-configuration "
                             "section [mm2] does not exist")


def test_missing_exchange_type_and_bad_values() -> None:
    conf = peer_conf()
    with conf.transaction() as t:
        t.remove("mm", "EXCHANGE_TYPE")
    with pytest.raises(ConfigError, match=r"\[mm\] has no EXCHANGE_TYPE"):
        m.phase1_peer(conf, "peer")
    for tag, value, frag in [("EXCHANGE_TYPE", "QUICK_MODE", "expected ID_PROT or "
                              "AGGRESSIVE"), ("DOI", "ISAKMP", "only IPSEC")]:
        conf = peer_conf()
        with conf.transaction() as t:
            t.set("mm", tag, value, override=True)
        with pytest.raises(ConfigError, match=frag):
            m.phase1_peer(conf, "peer")
    for tag, value, frag in [("Phase", "2", "Phase=2"), ("Address", "east", "not an "
                             "IP address"), ("Transport", "tcp", "only udp"),
                             ("Port", "nonsense", "unknown port"),
                             ("Authentication", "0xabc", "hex digits")]:
        conf = peer_conf()
        with conf.transaction() as t:
            t.set("peer", tag, value, override=True)
        with pytest.raises(ConfigError, match=frag):
            m.phase1_peer(conf, "peer")
    with pytest.raises(ConfigError, match="does not exist"):
        m.phase1_peer(peer_conf(), "nobody")


def test_psk_port_flags_and_defaults() -> None:
    conf = peer_conf()
    with conf.transaction() as t:
        t.set("peer", "Authentication", "0x00ff10", override=True)
        t.set("peer", "Port", "isakmp")
        t.set("peer", "Flags", "Active-Only, ikecfg, Stayalive")
        t.set("General", "Default-phase-1-ID", "my-fqdn")
        t.set("my-fqdn", "ID-type", "FQDN")
        t.set("my-fqdn", "Name", "east.example.org")
    p = m.phase1_peer(conf, "peer")
    assert p.psk == b"\x00\xff\x10" and p.port == 500
    assert p.flags == frozenset({"active-only", "ikecfg"})
    assert len(p.warnings) == 1 and "unknown value 'Stayalive'" in p.warnings[0]
    assert p.id == m.IdSpec("my-fqdn", IdType.FQDN, None, None, "east.example.org",
                            0, 0)
    d = m.phase1_peer(conf, "Default-phase-1")  # the always-present default peer
    assert d.address is None and d.exchange_type == ExchangeType.ID_PROT
    assert [t.name for t in d.transforms] == ["3DES-SHA-RSA_SIG"]
    assert d.id is not None and d.id.name == "east.example.org"
    assert d.psk is None and d.warnings == ()


def test_psk_without_key_warns() -> None:
    conf = peer_conf()
    with conf.transaction() as t:
        t.remove("peer", "Authentication")
    (w,) = m.phase1_peer(conf, "peer").warnings
    assert "pre-shared key transforms but no Authentication" in w


def test_phase1_peer_for_address() -> None:
    c = peer_conf()
    assert m.phase1_peer_for_address(c, "10.0.0.2") == "peer"
    assert m.phase1_peer_for_address(c, "2001:DB8:0:0::2") == "peer6"
    assert m.phase1_peer_for_address(c, "10.0.0.3") == "passive"
    assert m.phase1_peer_for_address(c, "junk") == "passive"
    assert m.phase1_peer_for_address(Conf(), "10.0.0.3") == "Default-phase-1"
    with c.transaction() as t:
        t.remove("Phase 1", "Default")
    assert m.phase1_peer_for_address(c, "10.0.0.3") is None


def test_psk_for_id() -> None:
    c = Conf.from_text("[foo.bar.org]\nAuthentication=0x6162\n[x@y]\n"
                       "Authentication=k\n", "i")
    assert m.psk_for_id(c, "FOO.bar.org") == b"ab"
    assert m.psk_for_id(c, "x@y") == b"k" and m.psk_for_id(c, "z") is None


# ------------------------------------------------------------------ IDs

IDS = """\
[a4]
ID-type=IPV4_ADDR
Address=10.0.0.1
Protocol=tcp
Port=22
[a6]
ID-type=IPV6_ADDR
Address=2001:DB8::1
[n4]
ID-type=IPV4_ADDR_SUBNET
Network=10.1.0.0
Netmask=255.255.0.0
[n4p]
ID-type=IPV4_ADDR_SUBNET
Network=10.1.0.0
Netmask=16
Protocol=17
Port=isakmp
[n6]
ID-type=IPV6_ADDR_SUBNET
Network=2001:db8:1::
Netmask=48
[r4]
ID-type=IPV4_RANGE
Address=10.0.0.10
End-address=10.0.0.20
[fq]
ID-type=FQDN
Name=host.example.org
[uf]
ID-type=USER_FQDN
Name=user@example.org
[kid]
ID-type=KEY_ID
Name=opaque
[dn]
ID-type=DER_ASN1_DN
Name=/C=SE/O=Example/CN=east
[lo]
ID-type=IPV4_ADDR
Address=lo
[portonly]
ID-type=IPV4_ADDR
Address=10.0.0.1
Port=80
"""


@pytest.mark.parametrize("section,want", [
    ("a4", (IdType.IPV4_ADDR, "10.0.0.1", None, None, 6, 22)),
    ("a6", (IdType.IPV6_ADDR, "2001:db8::1", None, None, 0, 0)),
    ("n4", (IdType.IPV4_ADDR_SUBNET, "10.1.0.0", "255.255.0.0", None, 0, 0)),
    ("n4p", (IdType.IPV4_ADDR_SUBNET, "10.1.0.0", "255.255.0.0", None, 17, 500)),
    ("n6", (IdType.IPV6_ADDR_SUBNET, "2001:db8:1::", "ffff:ffff:ffff::", None, 0, 0)),
    ("r4", (IdType.IPV4_ADDR_RANGE, "10.0.0.10", "10.0.0.20", None, 0, 0)),
    ("fq", (IdType.FQDN, None, None, "host.example.org", 0, 0)),
    ("uf", (IdType.USER_FQDN, None, None, "user@example.org", 0, 0)),
    ("kid", (IdType.KEY_ID, None, None, "opaque", 0, 0)),
    ("dn", (IdType.DER_ASN1_DN, None, None, "/C=SE/O=Example/CN=east", 0, 0)),
    pytest.param("lo", (IdType.IPV4_ADDR, "127.0.0.1", None, None, 0, 0),
                 marks=pytest.mark.skipif(not _LO_V4, reason="lo has no IPv4 address")),
    ("portonly", (IdType.IPV4_ADDR, "10.0.0.1", None, None, 0, 0)),
])
def test_id_specs(section: str, want: tuple) -> None:
    spec = m.id_spec(Conf.from_text(IDS, "ids"), section)
    assert spec == m.IdSpec(section, *want)


@pytest.mark.parametrize("text,frag", [
    ("[x]\nAddress=1.2.3.4\n", "has no ID-type"),
    ("[x]\nID-type=IPV5_ADDR\n", "unknown ID type 'IPV5_ADDR'"),
    ("[x]\nID-type=IPV4_ADDR\n", "has no Address"),
    ("[x]\nID-type=IPV4_ADDR\nAddress=2001:db8::1\n", "is not an IPv4 address"),
    ("[x]\nID-type=IPV4_ADDR\nAddress=no-such-if9\n", "is not an IPv4 address"),
    ("[x]\nID-type=IPV4_ADDR_SUBNET\nNetwork=10.0.0.0\n", "has no Netmask"),
    ("[x]\nID-type=IPV4_ADDR_SUBNET\nNetwork=10.0.0.0\nNetmask=33\n", "prefix length"),
    ("[x]\nID-type=IPV4_RANGE\nAddress=10.0.0.9\nEnd-address=10.0.0.1\n", "before"),
    ("[x]\nID-type=IPV4_ADDR\nAddress=1.2.3.4\nProtocol=nosuchproto\n",
     "unknown protocol"),
    ("[x]\nID-type=IPV4_ADDR\nAddress=1.2.3.4\nProtocol=6\nPort=99999\n",
     "unknown port"),
    ("[x]\nID-type=FQDN\nName=\n", "has no Name"),
])
def test_id_errors(text: str, frag: str) -> None:
    with pytest.raises(ConfigError) as ei:
        m.id_spec(Conf.from_text(text, "ids"), "x")
    assert frag in ei.value.reason and ei.value.file == "ids"


def test_phase1_id_may_leave_out_address() -> None:
    c = Conf.from_text("[x]\nID-type=IPV4_ADDR\n", "i")
    assert m.id_spec(c, "x", phase1=True).address is None
    with pytest.raises(ConfigError):
        m.id_spec(c, "x")


@pytest.mark.skipif(_default_iface(socket.AF_INET) is None, reason="no default route")
def test_default_address_is_the_default_route_interface() -> None:
    c = Conf.from_text("[x]\nID-type=IPV4_ADDR\nAddress=default\n", "i")
    a = m.id_spec(c, "x").address
    assert a is not None and socket.inet_aton(a)


def test_id_from_address() -> None:
    assert m.id_from_address("10.0.0.1") == m.IdSpec(None, IdType.IPV4_ADDR,
                                                     "10.0.0.1", None, None, 0, 0)
    assert m.id_from_address("2001:db8::0:1", 17, 500).id_type == IdType.IPV6_ADDR


def test_port_without_protocol_warns() -> None:
    text = BASE.format(transforms="3DES-SHA").replace(
        "Configuration=\tmm", "Configuration=\tmm\nRemote-ID=\tportonly") + IDS
    (w,) = m.phase1_peer(Conf.from_text(text, "p"), "peer").warnings
    assert "[portonly] Port is ignored without a Protocol" in w


# ------------------------------------------------------------------ phase 2

CONN = """\
[Phase 2]
Connections=\tc1
Passive-connections=\tc2, c3

[c1]
Phase=\t2
ISAKMP-peer=\tpeer
Configuration=\tqm
Local-ID=\tn4
Remote-ID=\tr4
Flags=\tactive-only

[qm]
EXCHANGE_TYPE=\tQUICK_MODE
Suites=\t{suites}
"""


def conn_conf(suites: str, extra: str = "") -> Conf:
    return Conf.from_text(BASE.format(transforms="3DES-SHA") + CONN.format(
        suites=suites) + IDS + extra, "c.conf")


def test_connection() -> None:
    c = m.connection(conn_conf("QM-ESP-AES-128-SHA-PFS-GRP14-SUITE,QM-AH-TRP-SHA2-256-"
                               "SUITE"), "c1")
    assert (c.name, c.isakmp_peer, c.configuration) == ("c1", "peer", "qm")
    assert c.flags == frozenset({"active-only"}) and c.warnings == ()
    assert c.local_id is not None and c.local_id.section == "n4"
    assert c.remote_id is not None and c.remote_id.id_type == IdType.IPV4_ADDR_RANGE
    assert c.nat_id is None
    esp, ah = c.suites
    (p,) = esp.protocols
    assert (p.name, p.protocol_id, p.replay_window) == ("QM-ESP-AES-128-SHA-PFS-GRP14",
                                                        ProtocolId.IPSEC_ESP, 16)
    assert p.transforms == (m.IpsecTransformSpec(
        "QM-ESP-AES-128-SHA-PFS-GRP14-XF", EspTransform.AES, EncapMode.TUNNEL,
        AuthAlg.HMAC_SHA, Group.MODP_2048, m.Range(128, 128, 128), None,
        (m.LifeSpec(LifeType.SECONDS, m.Range(1200, 60, 86400)),)),)
    (x,) = ah.protocols[0].transforms
    assert ah.protocols[0].protocol_id == ProtocolId.IPSEC_AH
    assert (x.transform_id, x.encap_mode, x.auth_alg, x.group) == (
        AhTransform.SHA2_256, EncapMode.TRANSPORT, AuthAlg.HMAC_SHA2_256, None)


def test_pfs_suites_really_do_pfs() -> None:
    c = m.connection(conn_conf("QM-ESP-AESGCM-256-PFS-GRP14-SUITE,QM-ESP-NULL-PFS-"
                               "SUITE,QM-ESP-AESGMAC-128-PFS-GRP19-SUITE"), "c1")
    groups = [s.protocols[0].transforms[0].group for s in c.suites]
    assert groups == [Group.MODP_2048, Group.MODP_1024, Group.ECP_256]
    gcm = c.suites[0].protocols[0].transforms[0]
    assert gcm.transform_id == EspTransform.AES_GCM_16 and gcm.auth_alg is None


EXPLICIT = """
[MY-SUITE]
Protocols=MY-ESP,MY-COMP
[MY-ESP]
PROTOCOL_ID=IPSEC_ESP
ReplayWindow=64
Transforms=MY-DES-XF,MY-BLF-XF,MY-GCM-XF,MY-CAST-XF
[MY-COMP]
PROTOCOL_ID=IPCOMP
Transforms=MY-DEFLATE-XF
[MY-DES-XF]
TRANSFORM_ID=DES
AUTHENTICATION_ALGORITHM=HMAC_MD5
[MY-BLF-XF]
TRANSFORM_ID=BLOWFISH
KEY_LENGTH=160,128:448
AUTHENTICATION_ALGORITHM=HMAC_RIPEMD
ENCAPSULATION_MODE=UDP_ENCAP_TUNNEL
KEY_ROUNDS=16
[MY-GCM-XF]
TRANSFORM_ID=AES_GCM_16
AUTHENTICATION_ALGORITHM=HMAC_SHA
[MY-CAST-XF]
TRANSFORM_ID=CAST
KEY_LENGTH=256
[MY-DEFLATE-XF]
TRANSFORM_ID=DEFLATE
[AH-SUITE]
Protocols=AH-P
[AH-P]
PROTOCOL_ID=AH
Transforms=AH-BAD-XF,AH-MD5-XF
[AH-BAD-XF]
TRANSFORM_ID=SHA
AUTHENTICATION_ALGORITHM=HMAC_MD5
[AH-MD5-XF]
TRANSFORM_ID=MD5
GROUP_DESCRIPTION=MODP_768
"""


def test_explicit_suites_skip_what_cannot_be_done() -> None:
    c = m.connection(conn_conf("MY-SUITE,AH-SUITE", EXPLICIT), "c1")
    esp, comp = c.suites[0].protocols
    assert esp.replay_window == 64
    (blf,) = esp.transforms
    assert (blf.transform_id, blf.key_length, blf.auth_alg, blf.encap_mode,
            blf.key_rounds) == (EspTransform.BLOWFISH, m.Range(160, 128, 448),
                                AuthAlg.HMAC_RIPEMD, EncapMode.UDP_ENCAP_TUNNEL, 16)
    assert comp.protocol_id == ProtocolId.IPCOMP
    assert comp.transforms[0].transform_id == IpcompTransform.DEFLATE
    (ah,) = c.suites[1].protocols[0].transforms
    # AH's implied HMAC filled in (the old sample's AH transform lacks it)
    assert (ah.transform_id, ah.auth_alg, ah.group) == (AhTransform.MD5,
                                                        AuthAlg.HMAC_MD5, 1)
    text = "\n".join(c.warnings)
    assert len(c.warnings) == 4, text
    assert "MY-DES-XF skipped: [MY-DES-XF] TRANSFORM_ID: DES (2) is not supported" \
        in text
    assert "MY-GCM-XF skipped" in text and "must not be set" in text
    assert "MY-CAST-XF skipped" in text and "KEY_LENGTH 256" in text
    assert "AH-BAD-XF skipped" in text and "needs AUTHENTICATION_ALGORITHM HMAC_SHA" \
        in text


def test_suite_with_an_unusable_protocol_is_skipped_whole() -> None:
    extra = EXPLICIT + "\n[BUNDLE-SUITE]\nProtocols=MY-ESP,DES-ONLY\n[DES-ONLY]\n" \
        "PROTOCOL_ID=IPSEC_ESP\nTransforms=MY-DES-XF\n"
    c = m.connection(conn_conf("BUNDLE-SUITE,QM-ESP-DES-SUITE", extra), "c1")
    assert c.suites == ()
    joined = "\n".join(c.warnings)
    assert "BUNDLE-SUITE skipped: [MY-DES-XF] TRANSFORM_ID: DES (2) is not supported" \
        in joined
    assert "QM-ESP-DES-SUITE skipped: suite section [QM-ESP-DES-SUITE] does not exist" \
        in joined
    assert "[c1] has no IPsec suite it can propose or accept" in c.warnings[-1]


@pytest.mark.parametrize("change,frag", [
    (("c1", "ISAKMP-peer", None), "[c1] has no ISAKMP-peer"),
    (("c1", "ISAKMP-peer", "ghost"), "ISAKMP-peer section [ghost] does not exist"),
    (("c1", "Configuration", None), "[c1] has no Configuration"),
    (("c1", "Configuration", "nothing"), "[c1] Configuration: IPsec-configuration "
     "section [nothing] does not exist"),
    (("qm", "EXCHANGE_TYPE", "ID_PROT"), "expected QUICK_MODE"),
    (("c1", "Local-ID", "nowhere"), "[c1] Local-ID: ID section [nowhere]"),
    (("c1", "NAT-ID", "nowhere"), "[c1] NAT-ID: ID section [nowhere]"),
    (("c1", "Phase", "1"), "Phase=1"),
])
def test_connection_errors(change: tuple, frag: str) -> None:
    conf = conn_conf("QM-ESP-AES-SHA-SUITE")
    section, tag, value = change
    with conf.transaction() as t:
        if value is None:
            t.remove(section, tag)
        else:
            t.set(section, tag, value, override=True)
    with pytest.raises(ConfigError) as ei:
        m.connection(conf, "c1")
    assert frag in ei.value.reason
    with pytest.raises(ConfigError, match="does not exist"):
        m.connection(conf, "c9")


def test_fifo_edits_take_effect_on_next_view() -> None:
    conf = conn_conf("QM-ESP-AES-SHA-SUITE")
    assert m.connection(conf, "c1").suites[0].name == "QM-ESP-AES-SHA-SUITE"
    with conf.transaction() as t:
        t.set("qm", "Suites", "QM-ESP-3DES-MD5-SUITE", override=True)
    assert m.connection(conf, "c1").suites[0].name == "QM-ESP-3DES-MD5-SUITE"


def test_connections() -> None:
    assert m.connections(conn_conf("x")) == (["c1"], ["c2", "c3"])
    assert m.connections(Conf()) == ([], [])


# ------------------------------------------------------------------ samples


def test_vpn_east_sample() -> None:
    conf = fixture("vpn-east.conf")
    assert conf.warnings == []
    assert m.connections(conf) == (["IPsec-east-west"], [])
    assert m.phase1_peer_for_address(conf, "10.1.0.1") == "ISAKMP-peer-west"
    g = m.general(conf)
    assert g.retransmits == 5 and g.listen_on == ("10.1.0.2",)
    p = m.phase1_peer(conf, "ISAKMP-peer-west")
    (x,) = p.transforms
    assert (x.name, x.enc_alg, x.group) == ("3DES-SHA", EncAlg.TDES_CBC, 2)
    assert x.lifes == (m.LifeSpec(LifeType.SECONDS, m.Range(3600, 1800, 7200)),)
    assert p.psk == b"mekmitasdigoat" and p.flags == frozenset()
    (w,) = p.warnings
    assert w == ("tests/data/conf/vpn-east.conf:30: [ISAKMP-peer-west] Flags: unknown "
                 "value 'Stayalive' ignored (known: active-only, ikecfg)"
                 ).replace("tests/data/conf/", str(DATA) + "/")
    c = m.connection(conf, "IPsec-east-west")
    assert [s.name for s in c.suites] == ["QM-ESP-3DES-SHA-PFS-SUITE"]
    xf = c.suites[0].protocols[0].transforms[0]
    assert (xf.transform_id, xf.auth_alg, xf.group) == (EspTransform.TDES,
                                                        AuthAlg.HMAC_SHA, 2)
    assert xf.lifes == (m.LifeSpec(LifeType.SECONDS, m.Range(600, 450, 720)),)
    assert c.local_id == m.IdSpec("Net-east", IdType.IPV4_ADDR_SUBNET, "192.168.2.0",
                                  "255.255.255.0", None, 0, 0)
    assert len(c.warnings) == 2
    assert "QM-ESP-DES-MD5-PFS-SUITE skipped" in c.warnings[0]
    assert "TRANSFORM_ID: DES (2) is not supported" in c.warnings[0]
    assert "[IPsec-east-west] Flags: unknown value 'Stayalive'" in c.warnings[1]
    # explicit sections the configuration lists nowhere still read
    blf = m.ike_transform(conf, "BLF-SHA-M1024")
    assert blf.key_length == m.Range(128, 96, 192) and len(blf.lifes) == 2
    with pytest.raises(m.SkippedError, match="EC2N_155"):
        m.ike_transform(conf, "BLF-SHA-EC155")
    bundle = m.ipsec_suite(conf, "QM-AH-MD5-ESP-3DES-SHA-SUITE")
    assert [p.protocol_id for p in bundle.protocols] == [2, 3]


def test_vpn_west_sample() -> None:
    conf = fixture("vpn-west.conf")
    c = m.connection(conf, "IPsec-west-east")
    assert c.local_id is not None and c.local_id.address == "192.168.1.0"
    assert m.phase1_peer(conf, c.isakmp_peer).address == "10.1.0.2"


@pytest.mark.parametrize("name,me,other", [("singlehost-east.conf", "east", "west"),
                                           ("singlehost-west.conf", "west", "east")])
def test_singlehost_samples(name: str, me: str, other: str) -> None:
    conf = fixture(name)
    g = m.general(conf)
    assert g.shared_sadb and g.policy_file == "policy"
    agg = m.phase1_peer_for_address(conf, "10.9.9.9")
    assert agg == f"ISAKMP-peer-{other}-aggressive"
    p = m.phase1_peer(conf, agg)
    assert p.exchange_type == ExchangeType.AGGRESSIVE and p.transforms == ()
    assert "3DES-SHA-RSA skipped: transform section [3DES-SHA-RSA] does not exist" \
        in p.warnings[0]
    assert "has no ISAKMP transform it can propose or accept" in p.warnings[1]
    c = m.connection(conf, f"IPsec-{me}-{other}")
    (s,) = c.suites
    xf = s.protocols[0].transforms[0]
    assert (s.name, xf.transform_id, xf.key_length, xf.group) == (
        "QM-ESP-AES-SHA-PFS-SUITE", EspTransform.AES, m.Range(128, 128, 256), 2)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_check_reports_each_problem_once_and_logs_once() -> None:
    conf = fixture("vpn-east.conf")
    collect = _Collect()
    logger = logging.getLogger("isakmpd.misc")
    logger.addHandler(collect)
    try:
        first = m.check(conf)
        assert len(first) == 3 and all(str(DATA) in msg for msg in first)
        assert sum("Stayalive" in msg for msg in first) == 2
        assert collect.messages == first
        assert m.check(conf) == first
        assert len(collect.messages) == 3  # already logged for this configuration
        conf.reload()
        m.check(conf)
        assert len(collect.messages) == 6  # a reload logs them again
    finally:
        logger.removeHandler(collect)


def test_check_reports_configuration_errors() -> None:
    conf = Conf.from_text("""[General]
Retransmits=x
[Phase 1]
peer.example.org=p
[Phase 2]
Connections=c, missing
[c]
ISAKMP-peer=ghost
Configuration=qm
[qm]
EXCHANGE_TYPE=QUICK_MODE
""", "k.conf")
    msgs = m.check(conf, log_messages=False)
    assert msgs[0].startswith("k.conf:2: [General]:Retransmits='x' is not a number")
    assert "k.conf:4: [Phase 1] peer.example.org: not an IP address" in msgs[1]
    assert "k.conf:8: [c] ISAKMP-peer: ISAKMP-peer section [ghost] does not exist" \
        in msgs[2]
    assert "IPsec-connection section [missing] does not exist" in msgs[3]
    assert "ISAKMP-peer section [p] does not exist" in msgs[4]
    assert len(msgs) == 5


def test_listen_on_an_interface_name_is_its_address() -> None:
    c = Conf.from_text("[General]\nListen-on=lo, 192.0.2.1\n", "g")
    assert m.general(c).listen_on == ("127.0.0.1", "192.0.2.1")
