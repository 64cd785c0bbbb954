"""What the exchanges get from the PKI: our credential (certificate, chain
and private key) and a peer's trusted public key."""

from __future__ import annotations

from dataclasses import dataclass

from .. import _core
from ..errors import CryptoError
from .cert import Cert


@dataclass(frozen=True)
class PeerKey:
    """A peer's public key that the PKI trusts, from a verified certificate
    or from Pubkey-directory."""

    #: SubjectPublicKeyInfo DER
    public_der: bytes
    #: who the key belongs to: the certificate's subject, or the ID of a raw key
    subject: str
    #: for logs and the SA report
    description: str
    #: the peer's certificate, None for a raw public key
    cert_der: bytes | None = None

    def __repr__(self) -> str:
        return f"<PeerKey {self.description}>"

    def verify(self, data: bytes, sig: bytes) -> bool:
        """Whether ``sig`` is the raw PKCS#1 v1.5 RSA signature of ``data``."""
        try:
            return _core.rsa_verify_raw(self.public_der, data, sig)
        except CryptoError:
            return False


@dataclass(frozen=True)
class LocalCredential:
    """One of our certificates with the private key of its public key."""

    cert: Cert
    #: the intermediates up to, not including, a trusted CA (issuer first)
    chain: tuple[Cert, ...]
    key: _core.RsaKey
    #: the private key's file
    key_path: str
    #: subject DER of the trusted CA above the chain, None if none was found
    anchor_der: bytes | None

    def __repr__(self) -> str:
        return f"<LocalCredential {self.cert.subject} key {self.key_path}>"

    @property
    def cert_der(self) -> bytes:
        return self.cert.der

    @property
    def chain_ders(self) -> list[bytes]:
        return [c.der for c in self.chain]

    @property
    def subject(self) -> str:
        return self.cert.subject

    def default_id(self) -> tuple[int, bytes]:
        """(id_type, id_data): the first subjectAltName (IP address ->
        IPV4_ADDR/IPV6_ADDR, dNSName -> FQDN, rfc822Name -> USER_FQDN), or
        else the subject (DER_ASN1_DN)."""
        return self.cert.identities()[0]

    def issuer_names(self) -> list[bytes]:
        """DER names of the CAs above the certificate (for CR matching)."""
        names = [self.cert.issuer_der] + [c.issuer_der for c in self.chain]
        if self.anchor_der is not None:
            names.append(self.anchor_der)
        return names
