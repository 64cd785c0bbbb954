"""Our side of the PKI: local certificates and private keys, CR names,
Pubkey-directory and kept peer certificates, file handling."""

from __future__ import annotations

import ipaddress
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from isakmpd import _core
from isakmpd.conf import Conf
from isakmpd.constants import IdType
from isakmpd.pki import Pki
from lab.pki_openssl import (
    Issued,
    OpenSslCa,
    isakmpd_tree,
    openssl,
    self_signed,
    x509_conf,
)


def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def subject_der(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).subject.public_bytes()


@dataclass
class Lab:
    dir: Path
    ca_a: OpenSslCa
    ca_b: OpenSslCa
    sub: OpenSslCa  # under ca_a
    west: Issued  # ca_a, IP + DNS
    west_b: Issued  # ca_b, DNS only
    west_sub: Issued  # sub, email only
    plain: Issued  # ca_a, no subjectAltName
    east: Issued  # ca_a, a peer's
    east_old: Issued  # ca_a, expired peer

    def tree(self, name: str, **kw) -> Path:
        kw.setdefault("cas", [self.ca_a, self.ca_b])
        return isakmpd_tree(self.dir / name, **kw)


def make_pki(root: Path, accept_self_signed: str | None = None) -> Pki:
    return Pki.from_conf(Conf.from_text(x509_conf(root, accept_self_signed)))


def add_key(root: Path, issued: Issued, name: str, mode: int = 0o600) -> Path:
    dst = root / "private" / name
    shutil.copyfile(issued.key, dst)
    dst.chmod(mode)
    return dst


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    d = tmp_path_factory.mktemp("pki-local")
    ca_a = OpenSslCa(d / "a", "CA A")
    ca_b = OpenSslCa(d / "b", "CA B")
    sub = ca_a.intermediate("CA A Sub")
    return Lab(
        d, ca_a, ca_b, sub,
        west=ca_a.issue("west", ip=["192.0.2.1"], dns=["west.lab.example"]),
        west_b=ca_b.issue("west-b", dns=["west.b.example"]),
        west_sub=sub.issue("west-sub", email=["ike@west.lab.example"]),
        plain=ca_a.issue("plain"),
        east=ca_a.issue("east", ip=["192.0.2.2"], dns=["east.lab.example"],
                        email=["ike@east.lab.example"]),
        east_old=ca_a.issue("east-old", dns=["old.lab.example"],
                            start="20200101000000Z", end="20200201000000Z"),
    )


# ---------------------------------------------------------------- CR names


def test_ca_names_are_the_der_subjects_of_the_trusted_cas(lab: Lab) -> None:
    pki = make_pki(lab.tree("ca-names"))
    assert pki.ca_names() == [subject_der(lab.ca_a.der), subject_der(lab.ca_b.der)]
    # the bytes of the certificates themselves, not a re-encoding
    for name, ca in zip(pki.ca_names(), (lab.ca_a, lab.ca_b), strict=True):
        assert name in ca.der


def test_no_ca_directory_no_names(lab: Lab) -> None:
    root = lab.tree("no-ca", cas=[])
    shutil.rmtree(root / "ca")
    assert make_pki(root).ca_names() == []


# ---------------------------------------------------------- local identity


def test_local_certificate_and_key(lab: Lab) -> None:
    pki = make_pki(lab.tree("local", certs=[lab.west, lab.east], key=lab.west))
    cred = pki.local_identity(None, None, [])
    assert cred is not None
    assert cred.cert_der == lab.west.der
    assert cred.chain_ders == []
    assert cred.default_id() == (IdType.IPV4_ADDR, ip("192.0.2.1"))
    # the key is the certificate's: cryptography recovers what it signed
    pub = x509.load_der_x509_certificate(cred.cert_der).public_key()
    sig = cred.key.sign_raw(b"HASH_I" * 4)
    recovered = pub.recover_data_from_signature(sig, padding.PKCS1v15(), None)
    assert recovered == b"HASH_I" * 4
    # by ID
    assert pki.local_identity(IdType.IPV4_ADDR, ip("192.0.2.1"), []) is not None
    assert pki.local_identity(IdType.FQDN, b"West.Lab.Example", []) is not None
    assert pki.local_identity(IdType.IPV4_ADDR, ip("192.0.2.2"), []) is None
    assert pki.local_identity(IdType.FQDN, b"east.lab.example", []) is None


def test_default_id_falls_back_to_the_subject(lab: Lab) -> None:
    pki = make_pki(lab.tree("plain", certs=[lab.plain], key=lab.plain))
    cred = pki.local_identity(None, None, [])
    assert cred is not None
    assert cred.default_id() == (IdType.DER_ASN1_DN, subject_der(lab.plain.der))
    assert pki.local_identity(IdType.DER_ASN1_DN, subject_der(lab.plain.der), [])


def test_several_local_certificates_and_requested_cas(lab: Lab) -> None:
    root = lab.tree("several", certs=[lab.west, lab.west_b, lab.west_sub, lab.sub],
                    key=lab.west)
    add_key(root, lab.west_b, "b.key")
    add_key(root, lab.west_sub, "sub.key")
    pki = make_pki(root)
    a, b = subject_der(lab.ca_a.der), subject_der(lab.ca_b.der)
    sub = subject_der(lab.sub.der)
    # Private-key's certificate first
    assert pki.local_identity(None, None, []).cert_der == lab.west.der
    assert pki.local_identity(None, None, [b]).cert_der == lab.west_b.der
    assert pki.local_identity(None, None, [a]).cert_der == lab.west.der
    assert pki.local_identity(None, None, [sub]).cert_der == lab.west_sub.der
    # a CA we have nothing under: still our first certificate
    other = x509.Name.from_rfc4514_string("CN=Nobody").public_bytes()
    assert pki.local_identity(None, None, [other]).cert_der == lab.west.der
    # the ID decides before the preference
    cred = pki.local_identity(IdType.FQDN, b"west.b.example", [a])
    assert cred.cert_der == lab.west_b.der
    assert cred.default_id() == (IdType.FQDN, b"west.b.example")
    cred = pki.local_identity(IdType.USER_FQDN, b"ike@west.lab.example", [])
    assert cred.cert_der == lab.west_sub.der
    # the intermediate goes along, up to (not including) the trusted CA
    assert cred.chain_ders == [lab.sub.der]
    assert cred.default_id() == (IdType.USER_FQDN, b"ike@west.lab.example")
    assert pki.local_identity(IdType.KEY_ID, b"west", []) is None


def test_self_signed_local_certificate_with_ca_true(lab: Lab) -> None:
    # what `openssl req -x509` makes by default: CA:TRUE on one's own cert
    me = self_signed(lab.dir / "ss-local", "me", ip=["192.0.2.5"], ca=True)
    root = lab.tree("ss-local-tree", certs=[me], key=me)
    cred = make_pki(root).local_identity(IdType.IPV4_ADDR, ip("192.0.2.5"), [])
    assert cred is not None and cred.cert_der == me.der
    assert cred.chain_ders == [] and cred.anchor_der is None
    assert cred.default_id() == (IdType.IPV4_ADDR, ip("192.0.2.5"))


def test_private_key_directory_only(lab: Lab) -> None:
    root = lab.tree("keydir", certs=[lab.west_b])
    add_key(root, lab.west_b, "some-name.pem")
    cred = make_pki(root).local_identity(None, None, [])
    assert cred is not None and cred.cert_der == lab.west_b.der
    assert cred.key_path.endswith("some-name.pem")


def test_pkcs1_and_der_key_files(lab: Lab) -> None:
    root = lab.tree("pkcs1", certs=[lab.west, lab.west_b])
    openssl("rsa", "-in", lab.west.key, "-traditional", "-out",
            root / "private" / "local.key")
    (root / "private" / "local.key").chmod(0o600)
    text = (root / "private" / "local.key").read_text()
    assert text.startswith("-----BEGIN RSA PRIVATE KEY-----")
    der = root / "private" / "b.der"
    der.write_bytes(lab.west_b.key_der())
    der.chmod(0o600)
    pki = make_pki(root)
    assert pki.local_identity(IdType.FQDN, b"west.lab.example", []) is not None
    assert pki.local_identity(IdType.FQDN, b"west.b.example", []) is not None


def test_a_readable_private_key_is_refused(lab: Lab, caplog) -> None:
    root = lab.tree("secrecy", certs=[lab.west], key=lab.west)
    key = root / "private" / "local.key"
    key.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="isakmpd"):
        pki = make_pki(root)
    assert pki.local_identity(None, None, []) is None
    msgs = [r.getMessage() for r in caplog.records]
    assert any(f"private key {key} not used" in m and f"chmod 600 {key}" in m
               for m in msgs), msgs
    key.chmod(0o640)
    assert make_pki(root).local_identity(None, None, []) is None
    key.chmod(0o600)
    assert make_pki(root).local_identity(None, None, []) is not None


def test_encrypted_and_foreign_keys_are_skipped(lab: Lab, caplog) -> None:
    root = lab.tree("encrypted", certs=[lab.west, lab.west_b])
    enc = root / "private" / "local.key"
    openssl("pkcs8", "-topk8", "-in", lab.west.key, "-out", enc, "-passout",
            "pass:secret", "-v2", "aes-256-cbc")
    enc.chmod(0o600)
    ec = root / "private" / "ec.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", ec)
    ec.chmod(0o600)
    junk = root / "private" / "junk"
    junk.write_bytes(b"not a key")
    junk.chmod(0o600)
    add_key(root, lab.west_b, "b.key")
    with caplog.at_level(logging.WARNING, logger="isakmpd"):
        pki = make_pki(root)
    msgs = " | ".join(r.getMessage() for r in caplog.records)
    assert "encrypted" in msgs and str(ec) in msgs and str(junk) in msgs
    assert pki.local_identity(None, None, []).cert_der == lab.west_b.der


def test_a_key_without_its_certificate_is_no_credential(lab: Lab) -> None:
    root = lab.tree("no-cert", certs=[lab.east], key=lab.west)
    assert make_pki(root).local_identity(None, None, []) is None


def test_malformed_files_are_skipped_with_one_warning_each(lab: Lab, caplog) -> None:
    root = lab.tree("junkfiles", certs=[lab.west], key=lab.west)
    (root / "ca" / "junk.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n"
                                           b"-----END CERTIFICATE-----\n")
    (root / "certs" / "junk.der").write_bytes(b"\x30\x82\x01\x00junk")
    (root / "crls" / "junk.crl").write_text("not a CRL\n")
    (root / "ca" / ".hidden").write_text("ignored\n")
    with caplog.at_level(logging.WARNING, logger="isakmpd"):
        pki = make_pki(root)
    msgs = [r.getMessage() for r in caplog.records]
    for name in ("ca/junk.crt", "certs/junk.der", "crls/junk.crl"):
        assert sum(name in m for m in msgs) == 1, (name, msgs)
    assert not any(".hidden" in m for m in msgs)
    assert len(pki.ca_names()) == 2
    assert pki.local_identity(None, None, []) is not None


# ------------------------------------------------------------------ pubkeys


def _write_pub(path: Path, issued: Issued, fmt: str = "PUBLIC KEY") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ["pkey", "-in", issued.key, "-pubout", "-out", path]
    if fmt == "RSA PUBLIC KEY":
        args = ["rsa", "-in", issued.key, "-RSAPublicKey_out", "-out", path]
    openssl(*args)
    assert path.read_text().startswith(f"-----BEGIN {fmt}-----")


def _check_key(pki: Pki, id_type: int, id_data: bytes, issued: Issued) -> None:
    key = pki.key_for_id(id_type, id_data)
    assert key is not None, (id_type, id_data)
    signer = _core.RsaKey(issued.key_der())
    assert key.public_der == signer.public_der()
    assert key.verify(b"x" * 20, signer.sign_raw(b"x" * 20))
    assert key.cert_der is None


@pytest.mark.parametrize("sub,name,id_type,id_data", [
    ("ipv4", "192.0.2.2", IdType.IPV4_ADDR, ip("192.0.2.2")),
    ("ipv6", "2001:db8::2", IdType.IPV6_ADDR, ip("2001:db8::2")),
    ("ipv6", "2001:0db8:0000:0000:0000:0000:0000:0002", IdType.IPV6_ADDR,
     ip("2001:db8::2")),
    ("fqdn", "east.lab.example", IdType.FQDN, b"east.lab.example"),
    ("fqdn", "east.lab.example", IdType.FQDN, b"EAST.lab.example"),
    ("ufqdn", "ike@east.lab.example", IdType.USER_FQDN, b"ike@east.lab.example"),
])
def test_pubkeys_lookup(lab: Lab, sub, name, id_type, id_data) -> None:
    root = lab.tree(f"pub-{sub}-{len(name)}-{id_data[:1].hex()}")
    _write_pub(root / "pubkeys" / sub / name, lab.east)
    pki = make_pki(root)
    _check_key(pki, id_type, id_data, lab.east)
    assert name in pki.key_for_id(id_type, id_data).description
    # another identity of the same type has no key
    other = {IdType.IPV4_ADDR: ip("192.0.2.3"), IdType.IPV6_ADDR: ip("2001:db8::3"),
             IdType.FQDN: b"west.lab.example",
             IdType.USER_FQDN: b"ike@west.lab.example"}[id_type]
    assert pki.key_for_id(id_type, other) is None


def test_pkcs1_public_key_file(lab: Lab) -> None:
    root = lab.tree("pub-pkcs1")
    _write_pub(root / "pubkeys" / "ipv4" / "192.0.2.2", lab.east, "RSA PUBLIC KEY")
    _check_key(make_pki(root), IdType.IPV4_ADDR, ip("192.0.2.2"), lab.east)


@pytest.mark.parametrize("id_type,id_data", [
    (IdType.FQDN, b"../ipv4/192.0.2.2"),
    (IdType.FQDN, b".."),
    (IdType.USER_FQDN, b"a/../../ipv4/192.0.2.2"),
    (IdType.FQDN, b""),
    (IdType.FQDN, b"east\x00"),
    (IdType.FQDN, b"\xff\xfe"),
    (IdType.IPV4_ADDR, b"\xc0\x00\x02"),
    (IdType.KEY_ID, b"192.0.2.2"),
    (IdType.DER_ASN1_DN, b"\x30\x00"),
])
def test_pubkeys_refuse_odd_names(lab: Lab, id_type, id_data) -> None:
    root = lab.tree("pub-odd")
    _write_pub(root / "pubkeys" / "ipv4" / "192.0.2.2", lab.east)
    assert make_pki(root).key_for_id(id_type, id_data) is None


def test_bad_pubkey_file_is_skipped(lab: Lab, caplog) -> None:
    root = lab.tree("pub-bad")
    bad = root / "pubkeys" / "ipv4" / "192.0.2.2"
    bad.parent.mkdir(parents=True)
    bad.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with caplog.at_level(logging.WARNING, logger="isakmpd"):
        assert make_pki(root).key_for_id(IdType.IPV4_ADDR, ip("192.0.2.2")) is None
    assert any(str(bad) in r.getMessage() for r in caplog.records)


def test_kept_peer_certificate_in_cert_directory(lab: Lab) -> None:
    root = lab.tree("kept", certs=[lab.west, lab.east, lab.east_old], key=lab.west)
    pki = make_pki(root)
    for id_type, id_data in ((IdType.IPV4_ADDR, ip("192.0.2.2")),
                             (IdType.FQDN, b"east.lab.example"),
                             (IdType.USER_FQDN, b"ike@east.lab.example"),
                             (IdType.DER_ASN1_DN, subject_der(lab.east.der))):
        key = pki.key_for_id(id_type, id_data)
        assert key is not None and key.cert_der == lab.east.der
        signer = _core.RsaKey(lab.east.key_der())
        assert key.verify(b"y" * 32, signer.sign_raw(b"y" * 32))
    # an expired kept certificate is not used; our own is not a peer's
    assert pki.key_for_id(IdType.FQDN, b"old.lab.example") is None
    assert pki.key_for_id(IdType.IPV4_ADDR, ip("192.0.2.1")) is None


def test_pubkey_directory_before_kept_certificates(lab: Lab) -> None:
    root = lab.tree("pub-first", certs=[lab.east])
    _write_pub(root / "pubkeys" / "ipv4" / "192.0.2.2", lab.west)
    key = make_pki(root).key_for_id(IdType.IPV4_ADDR, ip("192.0.2.2"))
    assert key.public_der == _core.RsaKey(lab.west.key_der()).public_der()


def test_settings_from_the_configuration(lab: Lab) -> None:
    root = lab.tree("settings")
    conf = Conf.from_text(x509_conf(root, "Yes"))
    pki = Pki.from_conf(conf)
    s = pki.settings
    assert s.ca_directory == f"{root}/ca/" and s.pubkey_directory == f"{root}/pubkeys/"
    assert s.accept_self_signed is True
    defaults = Pki.from_conf(Conf.from_text("")).settings
    assert defaults.ca_directory == "/etc/isakmpd/ca/"
    assert defaults.private_key == "/etc/isakmpd/private/local.key"
    assert defaults.pubkey_directory == "/etc/isakmpd/pubkeys/"
    assert defaults.accept_self_signed is False


def test_public_der_is_what_cryptography_writes(lab: Lab) -> None:
    key = _core.RsaKey(lab.west.key_der())
    priv = serialization.load_pem_private_key(lab.west.key.read_bytes(), None)
    pub = priv.public_key()
    assert key.public_der() == pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
