"""Peer certificates (Pki.verify_peer) against a CA made with the openssl
command as isakmpd(8) describes (tests/lab/pki_openssl.py)."""

from __future__ import annotations

import ipaddress
import logging
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from isakmpd import _core
from isakmpd.conf import Conf
from isakmpd.constants import IdType, NotifyType
from isakmpd.exchange.ids import dn_to_der
from isakmpd.pki import Pki, PkiError
from lab.pki_openssl import (
    Issued,
    OpenSslCa,
    isakmpd_tree,
    openssl,
    self_signed,
    x509_conf,
)

INVALID_CERT = NotifyType.INVALID_CERTIFICATE
BAD_ID = NotifyType.INVALID_ID_INFORMATION
BAD_ENCODING = NotifyType.INVALID_CERT_ENCODING
V4 = IdType.IPV4_ADDR


def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


@dataclass
class Lab:
    dir: Path
    ca: OpenSslCa
    sub: OpenSslCa
    west: Issued
    east6: Issued
    carol: Issued  # under the intermediate CA
    pss: Issued  # signed with RSA-PSS
    mallory: Issued  # revoked
    old: Issued  # expired
    future: Issued  # not yet valid
    stranger: Issued  # from an unknown CA
    lonely: Issued  # self-signed
    ec: Issued  # P-256 key
    too_deep: Issued  # under a CA whose path length forbids it
    too_deep_ca: OpenSslCa
    pathlen0: OpenSslCa
    forger: OpenSslCa  # a CA with the root's name and another key
    crl: Path
    forged_crl: Path

    def pki(self, name: str, accept_self_signed: str | None = None, crls=None,
            certs=()) -> Pki:
        root = isakmpd_tree(self.dir / name, cas=[self.ca],
                            crls=[self.crl] if crls is None else crls, certs=certs)
        return Pki.from_conf(Conf.from_text(x509_conf(root, accept_self_signed)))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    d = tmp_path_factory.mktemp("pki")
    ca = OpenSslCa(d / "root", "Lab CA")
    sub = ca.intermediate("Lab Sub CA")
    west = ca.issue("west", ip=["192.0.2.1"], dns=["west.lab.example"],
                    email=["west@lab.example"])
    east6 = ca.issue("east6", ip=["2001:db8::2"])
    carol = sub.issue("carol", dns=["carol.lab.example"])
    pss = ca.issue("pss", ip=["192.0.2.7"], sigopt=("rsa_padding_mode:pss",
                                                    "rsa_pss_saltlen:32"))
    mallory = ca.issue("mallory", ip=["192.0.2.66"])
    ca.revoke(mallory)
    crl = ca.gen_crl(d / "lab-ca.crl")
    old = ca.issue("old", ip=["192.0.2.10"], start="20200101000000Z",
                   end="20200201000000Z")
    future = ca.issue("future", ip=["192.0.2.11"], start="20400101000000Z",
                      end="20410101000000Z")
    other = OpenSslCa(d / "other", "Other CA")
    stranger = other.issue("stranger", ip=["192.0.2.12"])
    lonely = self_signed(d / "self", "lonely", ip=["192.0.2.9"])
    ec = ca.issue("ec", ip=["192.0.2.13"], key_type="ec")
    pathlen0 = ca.intermediate("Lab Leaf-only CA", path_len=0)
    too_deep_ca = pathlen0.intermediate("Lab Too Deep CA")
    too_deep = too_deep_ca.issue("deep", ip=["192.0.2.14"])
    forger = OpenSslCa(d / "forger", "Lab CA")
    forger.revoke(west)
    forged_crl = forger.gen_crl(d / "forged.crl")
    return Lab(d, ca, sub, west, east6, carol, pss, mallory, old, future, stranger,
               lonely, ec, too_deep, too_deep_ca, pathlen0, forger, crl, forged_crl)


def refused(pki: Pki, ders, id_type=V4, id_data=b"", now=None) -> PkiError:
    with pytest.raises(PkiError) as e:
        pki.verify_peer(list(ders), id_type, id_data, now)
    return e.value


# ------------------------------------------------------------ accepted


def test_ip_san_matches_ipv4_id_and_the_key_verifies(lab: Lab) -> None:
    pki = lab.pki("plain")
    key = pki.verify_peer([lab.west.der], V4, ip("192.0.2.1"))
    assert key.subject == "C=SE, O=isakmpd lab, CN=west"
    assert key.cert_der == lab.west.der
    assert "Lab CA" in key.description
    signer = _core.RsaKey(lab.west.key_der())
    assert key.public_der == signer.public_der()
    assert key.verify(b"H" * 20, signer.sign_raw(b"H" * 20))
    assert not key.verify(b"H" * 20, signer.sign_raw(b"I" * 20))
    assert not key.verify(b"H" * 20, b"garbage")


@pytest.mark.parametrize("id_type,id_data", [
    (IdType.FQDN, b"west.lab.example"),
    (IdType.FQDN, b"WEST.Lab.Example"),
    (IdType.USER_FQDN, b"west@lab.example"),
    (IdType.USER_FQDN, b"West@LAB.example"),
    (IdType.DER_ASN1_DN, None),  # the certificate's own subject bytes
    (IdType.DER_ASN1_DN, dn_to_der("C=SE, O=isakmpd lab, CN=west")),
    (IdType.DER_ASN1_DN, dn_to_der("C=se, O=ISAKMPD  Lab, CN=West")),
])
def test_names_match_their_alt_names_or_subject(lab: Lab, id_type, id_data) -> None:
    pki = lab.pki("names")
    if id_data is None:
        id_data = x509.load_der_x509_certificate(lab.west.der).subject.public_bytes()
    key = pki.verify_peer([lab.west.der], id_type, id_data)
    assert key.subject.endswith("CN=west")


def test_ipv6_san_matches_ipv6_id(lab: Lab) -> None:
    pki = lab.pki("v6")
    assert pki.verify_peer([lab.east6.der], IdType.IPV6_ADDR, ip("2001:db8::2"))
    e = refused(pki, [lab.east6.der], IdType.IPV6_ADDR, ip("2001:db8::3"))
    assert e.notify == BAD_ID


def test_intermediate_ca_sent_by_the_peer(lab: Lab) -> None:
    pki = lab.pki("inter")
    for ders in ([lab.carol.der, lab.sub.der], [lab.sub.der, lab.carol.der]):
        key = pki.verify_peer(ders, IdType.FQDN, b"carol.lab.example")
        assert key.subject.endswith("CN=carol")
        assert "Lab Sub CA" in key.description


def test_intermediate_ca_from_cert_directory(lab: Lab) -> None:
    e = refused(lab.pki("inter-missing"), [lab.carol.der], IdType.FQDN,
                b"carol.lab.example")
    assert e.notify == INVALID_CERT
    assert "no path to a trusted CA" in e.reason and "Lab Sub CA" in e.reason
    pki = lab.pki("inter-kept", certs=[lab.sub])
    assert pki.verify_peer([lab.carol.der], IdType.FQDN, b"carol.lab.example")


def test_rsa_pss_signed_certificate(lab: Lab) -> None:
    assert lab.pki("pss").verify_peer([lab.pss.der], V4, ip("192.0.2.7"))


def test_a_ca_certificate_sent_along_is_not_taken_for_the_peer(lab: Lab) -> None:
    # The root CA itself, sent along: the end entity is the non-CA one.
    key = lab.pki("root-along").verify_peer([lab.ca.der, lab.west.der], V4,
                                             ip("192.0.2.1"))
    assert key.cert_der == lab.west.der


# ------------------------------------------------------------- refused


def test_revoked_certificate(lab: Lab) -> None:
    e = refused(lab.pki("crl"), [lab.mallory.der], V4, ip("192.0.2.66"))
    assert e.notify == INVALID_CERT
    assert e.reason == (f"certificate C=SE, O=isakmpd lab, CN=mallory is revoked "
                        f"(CRL {lab.dir / 'crl' / 'crls' / 'lab-ca.crl'})")
    # the other certificates of the CA are fine
    assert lab.pki("crl").verify_peer([lab.west.der], V4, ip("192.0.2.1"))
    # without the CRL the revocation is unknown
    assert lab.pki("no-crl", crls=[]).verify_peer([lab.mallory.der], V4,
                                                  ip("192.0.2.66"))


def test_revoked_with_a_der_crl(lab: Lab) -> None:
    der = lab.dir / "lab-ca.der.crl"
    der.write_bytes(openssl("crl", "-in", lab.crl, "-outform", "DER", binary=True))
    e = refused(lab.pki("crl-der", crls=[der]), [lab.mallory.der], V4,
                ip("192.0.2.66"))
    assert "revoked" in e.reason


def test_an_out_of_date_crl_is_used_with_a_warning(lab: Lab, caplog) -> None:
    pki = lab.pki("crl-old")
    later = time.time() + 40 * 86400  # past the CRL's next update (30 days)
    with caplog.at_level(logging.WARNING, logger="isakmpd"):
        e = refused(pki, [lab.mallory.der], V4, ip("192.0.2.66"), now=later)
    assert "revoked" in e.reason
    assert any("out of date" in r.getMessage() and "using it anyway" in r.getMessage()
               for r in caplog.records)


def test_a_crl_whose_signature_fails_is_ignored(lab: Lab, caplog) -> None:
    # Same issuer name as our CA, another key: it "revokes" west.
    with caplog.at_level(logging.WARNING, logger="isakmpd"):
        pki = lab.pki("forged-crl", crls=[lab.forged_crl])
        assert pki.verify_peer([lab.west.der], V4, ip("192.0.2.1"))
    assert any("forged.crl ignored" in r.getMessage() for r in caplog.records)


def test_expired_certificate(lab: Lab) -> None:
    e = refused(lab.pki("old"), [lab.old.der], V4, ip("192.0.2.10"))
    assert e.notify == INVALID_CERT
    assert e.reason == ("certificate C=SE, O=isakmpd lab, CN=old expired at "
                        "2020-02-01 00:00:00 UTC")


def test_not_yet_valid_certificate(lab: Lab) -> None:
    e = refused(lab.pki("future"), [lab.future.der], V4, ip("192.0.2.11"))
    assert e.notify == INVALID_CERT
    assert "not yet valid" in e.reason and "2040-01-01" in e.reason


def test_validity_is_judged_at_now(lab: Lab) -> None:
    pki = lab.pki("now")
    in_2045 = 2366841600.0
    e = refused(pki, [lab.west.der], V4, ip("192.0.2.1"), now=in_2045)
    assert "expired" in e.reason
    # the CA's own validity counts too: in 2040 "future" is valid, the CA not
    e = refused(pki, [lab.future.der], V4, ip("192.0.2.11"), now=2209075200.0)
    assert "expired" in e.reason and "Lab CA" in e.reason


def test_unknown_ca(lab: Lab) -> None:
    e = refused(lab.pki("unknown"), [lab.stranger.der], V4, ip("192.0.2.12"))
    assert e.notify == INVALID_CERT
    assert "no path to a trusted CA" in e.reason and "Other CA" in e.reason


def test_self_signed_needs_accept_self_signed(lab: Lab) -> None:
    e = refused(lab.pki("ss-default"), [lab.lonely.der], V4, ip("192.0.2.9"))
    assert e.notify == INVALID_CERT and "self-signed" in e.reason
    e = refused(lab.pki("ss-no", "no"), [lab.lonely.der], V4, ip("192.0.2.9"))
    assert "Accept-self-signed is off" in e.reason
    pki = lab.pki("ss-yes", "yes")
    key = pki.verify_peer([lab.lonely.der], V4, ip("192.0.2.9"))
    assert "self-signed" in key.description
    # still only for its own identity
    assert refused(pki, [lab.lonely.der], V4, ip("192.0.2.8")).notify == BAD_ID
    # and a certificate of an unknown CA stays refused
    assert refused(pki, [lab.stranger.der], V4,
                   ip("192.0.2.12")).notify == INVALID_CERT


def test_self_signed_ca_true_peer_with_accept_self_signed(lab: Lab) -> None:
    peer = self_signed(lab.dir / "ss-ca", "proud", ip=["192.0.2.16"], ca=True)
    e = refused(lab.pki("ss-ca-no"), [peer.der], V4, ip("192.0.2.16"))
    assert "self-signed" in e.reason
    assert lab.pki("ss-ca-yes", "yes").verify_peer([peer.der], V4, ip("192.0.2.16"))


def test_self_signed_certificate_in_ca_directory_is_trusted(lab: Lab) -> None:
    root = isakmpd_tree(lab.dir / "ss-in-ca", cas=[lab.ca, lab.lonely])
    pki = Pki.from_conf(Conf.from_text(x509_conf(root)))
    assert pki.verify_peer([lab.lonely.der], V4, ip("192.0.2.9"))


@pytest.mark.parametrize("id_type,id_data", [
    (V4, ip("192.0.2.2")),
    (IdType.IPV6_ADDR, ip("::ffff:192.0.2.1")),
    (IdType.FQDN, b"east.lab.example"),
    (IdType.FQDN, b"west@lab.example"),
    (IdType.USER_FQDN, b"west.lab.example"),
    (IdType.DER_ASN1_DN, dn_to_der("C=SE, O=isakmpd lab, CN=east")),
    (IdType.DER_ASN1_DN, b"\x30\x03garbage"),
    (IdType.KEY_ID, b"west"),
    (IdType.IPV4_ADDR_SUBNET, ip("192.0.2.1") + b"\xff" * 4),
    (V4, b"\xc0\x00\x02"),
])
def test_id_not_matching_the_certificate(lab: Lab, id_type, id_data) -> None:
    e = refused(lab.pki("id"), [lab.west.der], id_type, id_data)
    assert e.notify == BAD_ID
    assert "does not match certificate C=SE, O=isakmpd lab, CN=west" in e.reason


def test_wrong_signature_on_the_certificate(lab: Lab) -> None:
    der = bytearray(lab.west.der)
    der[-10] ^= 0x01  # inside the signature value
    e = refused(lab.pki("badsig"), [bytes(der)], V4, ip("192.0.2.1"))
    assert e.notify == INVALID_CERT
    assert "signature does not verify" in e.reason and "CN=west" in e.reason


def test_issuer_that_is_not_a_ca(lab: Lab) -> None:
    d = lab.dir / "not-a-ca"
    d.mkdir()
    openssl("genrsa", "-out", d / "k", "2048")
    openssl("req", "-new", "-key", d / "k", "-out", d / "csr", "-subj",
            "/C=SE/O=isakmpd lab/CN=underling")
    (d / "ext").write_text("[e]\nsubjectAltName=IP:192.0.2.15\n")
    openssl("x509", "-req", "-in", d / "csr", "-CA", lab.west.cert, "-CAkey",
            lab.west.key, "-CAcreateserial", "-extfile", d / "ext", "-extensions",
            "e", "-out", d / "crt", "-days", "30")
    der = openssl("x509", "-in", d / "crt", "-outform", "DER", binary=True)
    e = refused(lab.pki("not-a-ca"), [der, lab.west.der], V4, ip("192.0.2.15"))
    assert e.notify == INVALID_CERT
    assert "CN=west is not a CA" in e.reason


def test_path_length_constraint(lab: Lab) -> None:
    e = refused(lab.pki("pathlen"), [lab.too_deep.der, lab.too_deep_ca.der,
                                     lab.pathlen0.der], V4, ip("192.0.2.14"))
    assert e.notify == INVALID_CERT
    assert "path length constraint 0 of CA" in e.reason
    assert "Leaf-only" in e.reason


def test_non_rsa_key_is_unsupported(lab: Lab) -> None:
    e = refused(lab.pki("ec"), [lab.ec.der], V4, ip("192.0.2.13"))
    assert e.notify == NotifyType.CERT_TYPE_UNSUPPORTED


def test_no_certificate(lab: Lab) -> None:
    e = refused(lab.pki("none"), [], V4, ip("192.0.2.1"))
    assert e.notify == NotifyType.CERTIFICATE_UNAVAILABLE


# ------------------------------------------------------------ malformed


@pytest.mark.parametrize("der", [b"", b"garbage", b"\x30", b"\x30\x82\x01\x00",
                                 b"\x00" * 64, bytes(range(256))])
def test_garbage_is_invalid_cert_encoding(lab: Lab, der: bytes) -> None:
    e = refused(lab.pki("garbage"), [der], V4, ip("192.0.2.1"))
    assert e.notify == BAD_ENCODING
    assert "certificate 1 of 1 cannot be decoded" in e.reason


def test_truncated_certificates(lab: Lab) -> None:
    pki = lab.pki("truncated")
    der = lab.west.der
    for cut in range(0, len(der), 3):
        e = refused(pki, [der[:cut]], V4, ip("192.0.2.1"))
        assert e.notify == BAD_ENCODING, cut
    e = refused(pki, [lab.west.der, lab.sub.der[:100]], V4, ip("192.0.2.1"))
    assert e.notify == BAD_ENCODING and "certificate 2 of 2" in e.reason


def test_mutated_certificates_raise_only_pki_errors(lab: Lab) -> None:
    """Any byte changed anywhere: refused with a PkiError (the signature
    covers everything a change could make acceptable), nothing else."""
    pki = lab.pki("mutated")
    rnd = random.Random(4)
    der = lab.carol.der
    for i in range(len(der)):
        bad = bytearray(der)
        bad[i] ^= rnd.choice((0x01, 0x80, 0xff))
        try:
            pki.verify_peer([bytes(bad), lab.sub.der], IdType.FQDN,
                            b"carol.lab.example")
        except PkiError as e:
            assert e.notify in (BAD_ENCODING, INVALID_CERT, BAD_ID,
                                NotifyType.CERT_TYPE_UNSUPPORTED), e
        else:
            # accepted only if what the CA signed is unchanged (e.g. the
            # unused-bits octet of the signature BIT STRING)
            tbs = x509.load_der_x509_certificate(bytes(bad)).tbs_certificate_bytes
            assert tbs == x509.load_der_x509_certificate(der).tbs_certificate_bytes, i


def test_reload_reads_a_new_ca(lab: Lab) -> None:
    root = isakmpd_tree(lab.dir / "reload", cas=[lab.ca])
    pki = Pki.from_conf(Conf.from_text(x509_conf(root)))
    assert refused(pki, [lab.stranger.der], V4, ip("192.0.2.12")).notify == INVALID_CERT
    other = lab.dir / "other" / "ca.crt"
    shutil.copyfile(other, root / "ca" / "other.crt")
    pki.reload()
    assert pki.verify_peer([lab.stranger.der], V4, ip("192.0.2.12"))


def test_many_look_alike_cas_do_not_blow_up_the_search(lab: Lab) -> None:
    """30 CA certificates with one name and one key, each able to sign any
    other: the path search stays bounded."""
    import datetime

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Loop CA")])
    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: x509.Name, ca: bool, serial: int) -> bytes:
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(name)
             .public_key(key.public_key()).serial_number(serial)
             .not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True))
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("192.0.2.99"))]), False)
        return b.sign(key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)

    ee = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ee")]), False, 1)
    cas = [cert(name, True, 100 + i) for i in range(30)]
    start = time.monotonic()
    e = refused(lab.pki("loop"), [ee] + cas, V4, ip("192.0.2.99"))
    assert time.monotonic() - start < 5
    assert e.notify == INVALID_CERT and "Loop CA" in e.reason
