"""Certificates for the RSA signature tests (a helper module, no tests),
made with ``cryptography``: a CA that issues end-entity certificates (any
subject, subjectAltNames, validity, key) and CRLs, and the directory layout
isakmpd reads (``ca/``, ``certs/``, ``private/local.key``, ``crls/``,
``pubkeys/``).

    ca = Authority("Test CA")
    west = ca.issue("west.example.com", dns=["west.example.com"], ip=["192.0.2.1"])
    root = layout(tmp_path / "west", [ca], west)        # -> Layout
    root.conf_lines()                                  # [X509-certificates] ...
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

_KEYS: list[rsa.RSAPrivateKey] = []
NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


def new_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def key_pool(i: int) -> rsa.RSAPrivateKey:
    """The i-th of a few keys made once per test run (RSA key generation is
    the slow part of making certificates)."""
    while len(_KEYS) <= i:
        _KEYS.append(new_key())
    return _KEYS[i]


def name(text: str) -> x509.Name:
    """``CN=x`` or ``C=SE/O=Example/CN=x``-like text (``/`` separated,
    encoding order) as an x509.Name; a bare string is a CN."""
    oids = {"C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME,
            "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "CN": NameOID.COMMON_NAME,
            "L": NameOID.LOCALITY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME}
    if "=" not in text:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])
    attrs = []
    for part in text.strip("/").split("/"):
        k, _, v = part.partition("=")
        attrs.append(x509.NameAttribute(oids[k.strip()], v.strip()))
    return x509.Name(attrs)


@dataclass
class Issued:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @property
    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def subject_der(self) -> bytes:
        return self.cert.subject.public_bytes()

    @property
    def serial(self) -> int:
        return self.cert.serial_number


@dataclass
class Authority:
    subject: str = "Test CA"
    key_index: int = 0
    issued: list[Issued] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = key_pool(self.key_index)
        self.name = name(self.subject)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY).not_valid_after(NOW + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                key_cert_sign=True, crl_sign=True, encipher_only=False,
                decipher_only=False), True)
            .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def subject_der(self) -> bytes:
        return self.name.public_bytes()

    def issue(self, subject: str, *, dns: tuple[str, ...] | list[str] = (),
              ip: tuple[str, ...] | list[str] = (),
              email: tuple[str, ...] | list[str] = (), key_index: int = 1,
              not_before: datetime.datetime | None = None,
              not_after: datetime.datetime | None = None) -> Issued:
        key = key_pool(key_index)
        b = (x509.CertificateBuilder()
             .subject_name(name(subject)).issuer_name(self.name)
             .public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(not_before or NOW - DAY)
             .not_valid_after(not_after or NOW + 30 * DAY)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), True))
        san = ([x509.DNSName(d) for d in dns]
               + [x509.IPAddress(ipaddress.ip_address(a)) for a in ip]
               + [x509.RFC822Name(e) for e in email])
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), False)
        out = Issued(b.sign(self.key, hashes.SHA256()), key)
        self.issued.append(out)
        return out

    def crl(self, revoked: list[Issued]) -> bytes:
        b = (x509.CertificateRevocationListBuilder()
             .issuer_name(self.name)
             .last_update(NOW - DAY).next_update(NOW + 30 * DAY))
        for r in revoked:
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(r.serial)
                .revocation_date(NOW - DAY).build())
        return b.sign(self.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.PEM)


@dataclass
class Layout:
    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca"

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def crls(self) -> Path:
        return self.root / "crls"

    @property
    def private(self) -> Path:
        return self.root / "private"

    @property
    def pubkeys(self) -> Path:
        return self.root / "pubkeys"

    def conf_lines(self) -> str:
        """[X509-certificates] and [General] Pubkey-directory lines (the
        [General] line goes in the caller's [General])."""
        return (f"[X509-certificates]\nCA-directory= {self.ca}/\n"
                f"Cert-directory= {self.certs}/\nCRL-directory= {self.crls}/\n"
                f"Private-key= {self.private}/local.key\n"
                f"Private-key-directory= {self.private}/\n")

    def general_line(self) -> str:
        return f"Pubkey-directory= {self.pubkeys}/"

    def add_pubkey(self, kind: str, ident: str, pem: bytes) -> Path:
        p = self.pubkeys / kind / ident
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(pem)
        return p


def layout(root: Path, cas: list[Authority], mine: Issued | None,
           crls: list[bytes] = (), kept: list[Issued] = ()) -> Layout:
    """isakmpd's default layout under ``root``: the CAs in ca/, our
    certificate (and ``kept`` peer certificates) in certs/, our key as
    private/local.key (0600), CRLs in crls/, an empty pubkeys/."""
    lay = Layout(Path(root))
    for d in (lay.ca, lay.certs, lay.crls, lay.private, lay.pubkeys):
        d.mkdir(parents=True, exist_ok=True)
    lay.private.chmod(0o700)
    for i, ca in enumerate(cas):
        (lay.ca / f"ca{i}.crt").write_bytes(ca.pem)
    if mine is not None:
        (lay.certs / "local.crt").write_bytes(mine.pem)
        key = lay.private / "local.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(mine.key_pem)
    for i, c in enumerate(crls):
        (lay.crls / f"crl{i}.pem").write_bytes(c)
    for i, k in enumerate(kept):
        (lay.certs / f"peer{i}.crt").write_bytes(k.pem)
    return lay
