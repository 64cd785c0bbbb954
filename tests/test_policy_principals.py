"""Who asks the policy: the principals of pre-shared-key and RSA peers,
X.509 certificates turned into credentials from issuer to subject, KeyNote
credentials kept in Credential-directory; and the shipped sample policy
(examples/isakmpd.policy) and OpenBSD's sample shape, accepting and refusing
what they should."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from certs_kit import Authority, new_key
from enginepair import (
    EAST_IP,
    PSK,
    WEST_IP,
    established,
    isakmpd_log_fixture,  # noqa: F401
)
from isakmpd import _core
from isakmpd.constants import AuthAlg, EncapMode, EspTransform, IdType, IpsecAttr
from isakmpd.policy.check import Policy
from isakmpd.policy.ipsec import (
    ClientId,
    PeerProof,
    Phase2Proposal,
    ProtoChoice,
    principals,
    shown,
)
from isakmpd.policy.keynote import encode_public_key, sign_assertion
from test_certs import rsa_pair
from test_policy_attributes import WHEN, isakmp_sa

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXAMPLE_PSK = "change-this-to-the-same-long-random-secret-on-both"


def openssl(*args: str, data: bytes = b"") -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True,
                          check=True).stdout


# ------------------------------------------------------------ pre-shared keys

def test_psk_principals() -> None:
    # the hashes as md5sum and sha1sum print them for "mekmitasdigoat"
    assert principals(PeerProof(psk=b"mekmitasdigoat")) == [
        "passphrase:mekmitasdigoat",
        "passphrase-md5-hex:227f500abfe58f5f5d61e7f6053d8d85",
        "passphrase-sha1-hex:bf1091800d1221f9a35ec087a67e2d6209d6478e",
    ]


def test_psk_principal_stops_at_nul_as_isakmpd() -> None:
    # isakmpd takes strlen() of a key that 0x... hex decoded into bytes
    assert principals(PeerProof(psk=b"ab\0cd"))[0] == "passphrase:ab"


def test_psk_never_shown_in_logs() -> None:
    for p in principals(PeerProof(psk=b"mekmitasdigoat")):
        assert "mekmitasdigoat" not in shown(p)
        assert "227f500a" not in shown(p) and "bf109180" not in shown(p)


# ------------------------------------------------------------ RSA peers

@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority("C=SE/O=Example/CN=Test CA", key_index=0)


@pytest.fixture(scope="module")
def certs(ca):
    w = ca.issue("C=SE/O=Example/CN=west", dns=["west.example.com"], ip=[WEST_IP],
                 key_index=1)
    e = ca.issue("C=SE/O=Example/CN=east", dns=["east.example.com"], ip=[EAST_IP],
                 key_index=2)
    return w, e


def _pkcs1_hex(issued_or_ca, tmp_path: Path) -> str:
    """openssl's PKCS#1 DER of a certificate's public key, in hex."""
    pem = tmp_path / "c.pem"
    pem.write_bytes(issued_or_ca.pem)
    pub = openssl("x509", "-in", str(pem), "-noout", "-pubkey")
    return openssl("rsa", "-pubin", "-RSAPublicKey_out", "-outform", "DER",
                   data=pub).hex()


def _subject_oneline(issued, tmp_path: Path) -> str:
    pem = tmp_path / "s.pem"
    pem.write_bytes(issued.pem)
    out = openssl("x509", "-in", str(pem), "-noout", "-subject", "-nameopt", "compat")
    return out.decode().strip().removeprefix("subject=")


def _policy(licensee: str) -> Policy:
    return Policy.from_text(f'Authorizer: "POLICY"\nLicensees: "{licensee}"\n'
                            'Conditions: esp_present == "yes" -> "true";\n',
                            "rsa.policy")


def test_rsa_principals_of_a_certificate_peer(tmp_path, ca, certs) -> None:
    w_cert, e_cert = certs
    net, _w, e, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert)
    established(net)
    [esa] = e.isakmp_sas()
    proof = e.engine.peer_proofs[esa.cookies]
    assert principals(proof) == [f"rsa-hex:{_pkcs1_hex(w_cert, tmp_path)}",
                                 f"DN:{_subject_oneline(w_cert, tmp_path)}"]
    assert principals(proof)[1] == "DN:/C=SE/O=Example/CN=west"


@pytest.mark.parametrize(("licensee", "ok"), [
    ("DN:/C=SE/O=Example/CN=west", True),     # the peer itself
    ("DN:/C=SE/O=Example/CN=Test CA", True),  # its CA, through the pseudo-credential
    ("DN:/C=SE/O=Example/CN=east", False),
    ("DN:/C=SE/O=Example/CN=Other CA", False),
])
def test_certificates_become_credentials(tmp_path, ca, certs, licensee, ok) -> None:
    w_cert, e_cert = certs
    net, w, e, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert, start=False)
    e.engine.policy = _policy(licensee)
    net.start()
    net.run()
    assert len(e.installed()) == (1 if ok else 0)
    assert len(w.installed()) == (1 if ok else 0)


def test_ca_key_as_licensee(tmp_path, ca, certs) -> None:
    w_cert, e_cert = certs
    net, _w, e, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert, start=False)
    e.engine.policy = _policy(f"rsa-hex:{_pkcs1_hex(ca, tmp_path)}")
    net.start()
    net.run()
    established(net)


def test_raw_key_peer_has_only_its_key(tmp_path, ca, certs, monkeypatch) -> None:
    w_cert, e_cert = certs
    from isakmpd.exchange import auth

    real = auth.auth_payloads
    monkeypatch.setattr(auth, "auth_payloads", lambda p, c, h: [
        x for x in real(p, c, h) if not isinstance(x, _core.Cert)])
    net, _w, e, lw, le = rsa_pair(tmp_path, ca, w_cert, e_cert, start=False)
    le.add_pubkey("ipv4", WEST_IP, w_cert.public_pem)
    lw.add_pubkey("ipv4", EAST_IP, e_cert.public_pem)
    e.engine.policy = _policy("DN:/C=SE/O=Example/CN=Test CA")
    net.start()
    net.run()
    [esa] = e.isakmp_sas()
    assert principals(e.engine.peer_proofs[esa.cookies]) == [
        f"rsa-hex:{_pkcs1_hex(w_cert, tmp_path)}"]
    assert e.installed() == []  # no certificate: the CA cannot vouch for it


# ------------------------------------------------------------ Credential-directory

def _proposal(sa) -> Phase2Proposal:
    xf = ProtoChoice(3, EspTransform.AES, (
        (IpsecAttr.ENCAPSULATION_MODE, EncapMode.TUNNEL),
        (IpsecAttr.AUTHENTICATION_ALGORITHM, AuthAlg.HMAC_SHA),
        (IpsecAttr.KEY_LENGTH, 128)))
    return Phase2Proposal((xf,), True, ClientId.host(sa.local[0]),
                          ClientId.host(sa.remote[0]))


@pytest.fixture(scope="module")
def admin():
    return new_key(1024)


def _delegating_policy(admin, cdir: Path | None) -> Policy:
    text = (f'Authorizer: "POLICY"\nLicensees: "{encode_public_key(admin)}"\n'
            'Conditions: app_domain == "IPsec policy" -> "true";\n')
    return Policy.from_text(text, "admin.policy",
                            credential_dir=str(cdir) if cdir else None)


def _credential(admin, conditions: str = 'esp_enc_alg == "aes"') -> str:
    return sign_assertion(
        f'KeyNote-Version: 2\nAuthorizer: "{encode_public_key(admin)}"\n'
        f'Licensees: "passphrase:{PSK}"\nConditions: {conditions} -> "true";\n', admin)


@pytest.mark.parametrize(("peer", "dirname"), [
    ((IdType.IPV4_ADDR, bytes([10, 128, 1, 12])), "10.128.1.12"),
    ((IdType.FQDN, b"east.example.net"), "east.example.net"),
    ((IdType.USER_FQDN, b"vpn@example.net"), "vpn@example.net"),
])
def test_credentials_kept_for_the_peer_id(tmp_path, admin, peer, dirname) -> None:
    sa = isakmp_sa(peer_id=peer)
    proof = PeerProof(psk=PSK.encode())
    policy = _delegating_policy(admin, tmp_path)
    policy.clock = lambda: WHEN
    ok, why = policy.allowed(_proposal(sa), sa, "responder", proof)
    assert not ok and "admin.policy:1 (Authorizer POLICY)" in why
    (tmp_path / dirname).mkdir()
    (tmp_path / dirname / "credentials").write_text(_credential(admin))
    ok, why = policy.allowed(_proposal(sa), sa, "responder", proof)
    assert ok, why
    # the credential's own Conditions still apply
    (tmp_path / dirname / "credentials").write_text(
        _credential(admin, 'esp_enc_alg == "3des"'))
    assert not policy.allowed(_proposal(sa), sa, "responder", proof)[0]


def test_tampered_credential_is_not_used(tmp_path, admin, isakmpd_log) -> None:
    sa = isakmp_sa()
    (tmp_path / "10.128.1.12").mkdir()
    text = _credential(admin).replace('"aes"', '"3des"')
    (tmp_path / "10.128.1.12" / "credentials").write_text(text)
    policy = _delegating_policy(admin, tmp_path)
    ok, _ = policy.allowed(_proposal(sa), sa, "responder", PeerProof(psk=PSK.encode()))
    assert not ok
    assert isakmpd_log.matching("signature does not verify")


def test_peer_names_cannot_leave_the_directory(tmp_path, admin) -> None:
    sa = isakmp_sa(peer_id=(IdType.FQDN, b".."))
    (tmp_path / "credentials").write_text(_credential(admin))
    policy = _delegating_policy(admin, tmp_path / "dir")
    assert not policy.allowed(_proposal(sa), sa, "responder",
                              PeerProof(psk=PSK.encode()))[0]


# ------------------------------------------------------------ sample policies

OPENBSD_SAMPLE = '''\
KeyNote-Version: 2
Comment: This policy accepts ESP SAs from a remote that uses the right password
Authorizer: "POLICY"
Licensees: "passphrase:mekmitasdigoat"
Conditions: app_domain == "IPsec policy" &&
            esp_present == "yes" -> "true";
'''


def _esp(transform: int = EspTransform.AES, bits: int | None = 128,
         auth: int = AuthAlg.HMAC_SHA, encap: int = EncapMode.TUNNEL,
         group: int | None = 14) -> ProtoChoice:
    a = [(IpsecAttr.SA_LIFE_TYPE, 1), (IpsecAttr.SA_LIFE_DURATION, 1200),
         (IpsecAttr.ENCAPSULATION_MODE, encap),
         (IpsecAttr.AUTHENTICATION_ALGORITHM, auth)]
    if group is not None:
        a.append((IpsecAttr.GROUP_DESCRIPTION, group))
    if bits is not None:
        a.append((IpsecAttr.KEY_LENGTH, bits))
    return ProtoChoice(3, transform, tuple(a))


def _net(text: str) -> ClientId:
    addr = bytes(int(x) for x in text.split("."))
    return ClientId(IdType.IPV4_ADDR_SUBNET, addr + bytes([255, 255, 255, 0]))


def _ask(policy: Policy, protos, *, psk: str = EXAMPLE_PSK, pfs: bool = True,
         local: str = "10.1.0.0", remote: str = "10.2.0.0", **sa_kw) -> bool:
    sa = isakmp_sa(local_ip="192.0.2.1", remote_ip="192.0.2.2", **sa_kw)
    prop = Phase2Proposal(tuple(protos), pfs, _net(local), _net(remote))
    policy.clock = lambda: WHEN
    return policy.allowed(prop, sa, "responder", PeerProof(psk=psk.encode()))[0]


def test_openbsd_sample_policy() -> None:
    p = Policy.from_text(OPENBSD_SAMPLE, "policy")
    ah = ProtoChoice(2, 3, ((IpsecAttr.AUTHENTICATION_ALGORITHM, 2),))
    assert _ask(p, [_esp()], psk="mekmitasdigoat")
    assert _ask(p, [_esp(EspTransform.TDES, bits=None)], psk="mekmitasdigoat",
                pfs=False)
    assert not _ask(p, [_esp()], psk="another-key")
    assert not _ask(p, [ah], psk="mekmitasdigoat")


@pytest.fixture(scope="module")
def example() -> Policy:
    return Policy.from_text((EXAMPLES / "isakmpd.policy").read_bytes(),
                            "examples/isakmpd.policy")


def test_example_policy_accepts_what_the_examples_negotiate(example) -> None:
    assert _ask(example, [_esp()])  # QM-ESP-AES-128-SHA-PFS-GRP14-SUITE
    assert _ask(example, [_esp()], local="10.2.0.0", remote="10.1.0.0")  # east
    assert _ask(example, [_esp(encap=EncapMode.UDP_ENCAP_TUNNEL)])  # behind a NAT
    assert _ask(example, [_esp(bits=256, auth=AuthAlg.HMAC_SHA2_256)])


@pytest.mark.parametrize(("protos", "kw"), [
    ([_esp(EspTransform.TDES, bits=None)], {}),
    ([_esp(auth=AuthAlg.HMAC_MD5)], {}),
    ([_esp(encap=EncapMode.TRANSPORT)], {}),
    ([_esp(group=None)], {"pfs": False}),
    ([_esp()], {"psk": "another-key"}),
    ([_esp()], {"remote": "10.3.0.0"}),
    ([_esp()], {"local": "10.1.0.0", "remote": "10.1.0.0"}),
    ([_esp()], {"exchange": 4}),  # Aggressive Mode
    ([_esp(), ProtoChoice(2, 3, ((IpsecAttr.AUTHENTICATION_ALGORITHM, 2),))], {}),
])
def test_example_policy_refuses(example, protos, kw) -> None:
    assert not _ask(example, protos, **kw)


def test_example_readme_lists_the_policy() -> None:
    text = (EXAMPLES / "README.md").read_text()
    assert "| `isakmpd.policy` | both |" in text
