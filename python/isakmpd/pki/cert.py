"""One X.509 certificate with what chain building and identity matching
need of it, decoded once."""

from __future__ import annotations

import datetime
import ipaddress
import warnings

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning

from ..constants import IdType
from ..exchange.ids import dn_text, same_dn

_Ident = tuple[int, bytes]
_SHA256 = hashes.SHA256()


def name_text(der: bytes, fallback: x509.Name | None = None) -> str:
    """A DER Name as the project prints DNs (``C=SE, O=Example, CN=host``)."""
    try:
        return dn_text(der) or "<empty DN>"
    except (ValueError, UnicodeDecodeError):
        return fallback.rfc4514_string() if fallback is not None else der.hex()


def _ext(cert: x509.Certificate, cls: type) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


class Cert:
    """A decoded certificate. ``path`` is its file, or None for a peer's."""

    def __init__(self, cert: x509.Certificate, path: str | None = None) -> None:
        self.x509 = cert
        self.path = path
        self.der = cert.public_bytes(serialization.Encoding.DER)
        self.fingerprint = cert.fingerprint(_SHA256)
        self.subject_der = cert.subject.public_bytes()
        self.issuer_der = cert.issuer.public_bytes()
        self.subject = name_text(self.subject_der, cert.subject)
        self.issuer = name_text(self.issuer_der, cert.issuer)
        bc = _ext(cert, x509.BasicConstraints)
        self.is_ca = bool(bc is not None and bc.ca)
        self.path_length = bc.path_length if bc is not None and bc.ca else None
        ku = _ext(cert, x509.KeyUsage)
        self.may_sign_certs = ku is None or ku.key_cert_sign
        self.may_sign_crls = ku is None or ku.crl_sign
        ski = _ext(cert, x509.SubjectKeyIdentifier)
        self.ski = ski.digest if ski is not None else None
        aki = _ext(cert, x509.AuthorityKeyIdentifier)
        self.aki = aki.key_identifier if aki is not None else None
        san = _ext(cert, x509.SubjectAlternativeName)
        self.alt_names = list(san) if san is not None else []
        self.unknown_critical = [
            e.oid.dotted_string for e in cert.extensions
            if e.critical and isinstance(e.value, x509.UnrecognizedExtension)]
        self.not_before = cert.not_valid_before_utc
        self.not_after = cert.not_valid_after_utc

    @classmethod
    def decode(cls, der: bytes, path: str | None = None) -> Cert:
        """A certificate from DER; ValueError if any part of it that is
        used cannot be decoded."""
        try:
            with warnings.catch_warnings():  # e.g. a negative serial number
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                return cls(x509.load_der_x509_certificate(der), path)
        except Exception as e:  # noqa: BLE001 (cryptography raises many types)
            raise ValueError(str(e) or type(e).__name__) from None

    def __repr__(self) -> str:
        return f"<Cert {self.subject}>"

    # ------------------------------------------------------------ relations

    def same_name_as_issuer(self) -> bool:
        return same_dn(self.subject_der, self.issuer_der)

    def may_have_issued(self, child: Cert) -> bool:
        """Names and key identifiers allow this certificate to be the
        issuer of ``child`` (the signature is checked apart)."""
        if not same_dn(self.subject_der, child.issuer_der):
            return False
        return child.aki is None or self.ski is None or child.aki == self.ski

    def signed(self, child: Cert) -> str | None:
        """None if ``child``'s signature verifies with this certificate's
        key, else why not."""
        return verify_signature(self.x509, child.x509)

    def is_self_signed(self) -> bool:
        return self.same_name_as_issuer() and self.signed(self) is None

    # ------------------------------------------------------------- validity

    def date_problem(self, now: datetime.datetime) -> str | None:
        if now < self.not_before:
            return (f"certificate {self.subject} is not yet valid "
                    f"(valid from {self.not_before:%Y-%m-%d %H:%M:%S} UTC)")
        if now > self.not_after:
            return (f"certificate {self.subject} expired at "
                    f"{self.not_after:%Y-%m-%d %H:%M:%S} UTC")
        return None

    # ------------------------------------------------------------- identity

    def identities(self) -> list[_Ident]:
        """The IKE identities the certificate names: its subjectAltNames
        (IP address, DNS name, email) in order, then its subject."""
        out: list[_Ident] = []
        for gn in self.alt_names:
            if isinstance(gn, x509.IPAddress) and isinstance(
                    gn.value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
                t = IdType.IPV4_ADDR if gn.value.version == 4 else IdType.IPV6_ADDR
                out.append((int(t), gn.value.packed))
            elif isinstance(gn, x509.DNSName):
                out.append((int(IdType.FQDN), gn.value.encode("ascii", "replace")))
            elif isinstance(gn, x509.RFC822Name):
                out.append((int(IdType.USER_FQDN), gn.value.encode("ascii", "replace")))
        if len(self.x509.subject) or not out:
            out.append((int(IdType.DER_ASN1_DN), self.subject_der))
        return out

    def matches_id(self, id_type: int, id_data: bytes) -> bool:
        """The rules of RSA_SIG: an address ID an iPAddress subjectAltName,
        FQDN a dNSName, USER_FQDN an rfc822Name (names without regard to
        case), DER_ASN1_DN the subject; KEY_ID and the rest never."""
        if id_type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR):
            return any(t == id_type and d == id_data for t, d in self.identities())
        if id_type in (IdType.FQDN, IdType.USER_FQDN):
            want = _fold_name(id_data)
            return want is not None and any(
                t == id_type and _fold_name(d) == want for t, d in self.identities())
        if id_type == IdType.DER_ASN1_DN:
            return len(self.x509.subject) > 0 and same_dn(id_data, self.subject_der)
        return False

    # ------------------------------------------------------------------ key

    def rsa_public_key(self) -> rsa.RSAPublicKey | None:
        try:
            key = self.x509.public_key()
        except (ValueError, UnsupportedAlgorithm):
            return None
        return key if isinstance(key, rsa.RSAPublicKey) else None

    def spki(self) -> bytes:
        return self.x509.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)


def _fold_name(data: bytes) -> str | None:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    text = text.rstrip(".").casefold()
    return text or None


def verify_signature(issuer: x509.Certificate,
                     signed: x509.Certificate | x509.CertificateRevocationList
                     ) -> str | None:
    """Check the signature of a certificate or CRL with ``issuer``'s key:
    RSA PKCS#1 v1.5, RSA-PSS, ECDSA, Ed25519 and Ed448. None if it
    verifies, else why not."""
    try:
        sig = signed.signature
        if isinstance(signed, x509.CertificateRevocationList):
            tbs = signed.tbs_certlist_bytes
        else:
            tbs = signed.tbs_certificate_bytes
        params = signed.signature_algorithm_parameters
        key = issuer.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            if not isinstance(params, (padding.PKCS1v15, padding.PSS)):
                return "signature algorithm is not RSA"
            key.verify(sig, tbs, params, signed.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(params, ec.ECDSA):
                return "signature algorithm is not ECDSA"
            key.verify(sig, tbs, params)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(sig, tbs)
        else:
            return "the issuer's key type is not supported"
    except InvalidSignature:
        return "signature does not verify"
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        return f"signature cannot be checked ({e})"
    return None
