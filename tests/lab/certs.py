"""A small test PKI: one CA and an RSA certificate per lab side.

Each side's certificate has the subject ``CN=<name>.lab.example`` and
subjectAltNames for the DNS name and the side's veth address, so a peer may
identify it by DN, FQDN or IPv4 address.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

DOMAIN = "lab.example"
DEFAULT_ADDRS = {"west": "192.0.2.1", "east": "192.0.2.2"}


@dataclass
class Pki:
    dir: Path
    ca_cert: Path
    ca_key: Path
    certs: dict[str, Path] = field(default_factory=dict)  # name -> PEM cert
    keys: dict[str, Path] = field(default_factory=dict)  # name -> PEM key (PKCS#8)
    der_certs: dict[str, Path] = field(default_factory=dict)

    @staticmethod
    def dn(name: str) -> str:
        return f"CN={name}.{DOMAIN}"

    @staticmethod
    def fqdn(name: str) -> str:
        return f"{name}.{DOMAIN}"


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def make_pki(
    directory: Path | str,
    addrs: dict[str, str] | None = None,
    key_size: int = 2048,
) -> Pki:
    """Write ``ca.crt``/``ca.key`` and ``<name>.crt``/``.key``/``.der`` for
    each name of ``addrs`` (default west and east with their lab addresses)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    addrs = addrs or DEFAULT_ADDRS
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=365)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Lab CA {DOMAIN}")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(d, d / "ca.crt", d / "ca.key")
    pki.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_key(ca_key, pki.ca_key)
    for name, addr in addrs.items():
        key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        san = [x509.DNSName(Pki.fqdn(name))]
        if addr:
            san.append(x509.IPAddress(ipaddress.ip_address(addr)))
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, Pki.fqdn(name))])
            )
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .sign(ca_key, hashes.SHA256())
        )
        pki.certs[name] = d / f"{name}.crt"
        pki.certs[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pki.der_certs[name] = d / f"{name}.der"
        pki.der_certs[name].write_bytes(cert.public_bytes(serialization.Encoding.DER))
        pki.keys[name] = d / f"{name}.key"
        _write_key(key, pki.keys[name])
    return pki
