"""The PKI of RSA_SIG authentication: trusted CAs, our certificates and
private keys, peers' kept certificates, CRLs and raw public keys, read from
the directories of ``[X509-certificates]`` and ``[General]
Pubkey-directory``."""

from __future__ import annotations

import datetime
import os
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .. import _core, log
from ..conf import Conf
from ..conf.defaults import DFLT_PUBKEY_DIR, ISAKMPD_ROOT
from ..constants import NotifyType
from ..exchange.ids import describe, same_dn
from ..log import Cls
from . import files, pubkeys
from .cert import Cert
from .chain import Crl, TrustStore
from .errors import PkiError
from .keys import LocalCredential, PeerKey

X509 = "X509-certificates"
#: RSA modulus sizes the core signs and verifies with
MIN_BITS, MAX_BITS = 1024, 8192
_FALSE = {"no", "false", "off", "0"}


@dataclass(frozen=True)
class Settings:
    ca_directory: str
    cert_directory: str
    crl_directory: str
    private_key: str
    private_key_directory: str
    accept_self_signed: bool
    pubkey_directory: str

    @classmethod
    def from_conf(cls, conf: Conf) -> Settings:
        def get(tag: str, default: str) -> str:
            return conf.get(X509, tag) or default

        accept = conf.get(X509, "Accept-self-signed")
        return cls(
            ca_directory=get("CA-directory", ISAKMPD_ROOT + "ca/"),
            cert_directory=get("Cert-directory", ISAKMPD_ROOT + "certs/"),
            crl_directory=get("CRL-directory", ISAKMPD_ROOT + "crls/"),
            private_key=get("Private-key", ISAKMPD_ROOT + "private/local.key"),
            private_key_directory=get("Private-key-directory",
                                      ISAKMPD_ROOT + "private/"),
            # isakmpd tests the tag for presence; an explicit "no" is off here
            accept_self_signed=(accept is not None
                                and accept.strip().lower() not in _FALSE),
            pubkey_directory=conf.get("General", "Pubkey-directory") or DFLT_PUBKEY_DIR,
        )


def _warn(msg: str, *args: object) -> None:
    log.logger(Cls.CRYPTO).warning(msg, *args)


def _public_numbers(spki: bytes) -> rsa.RSAPublicNumbers | None:
    key = serialization.load_der_public_key(spki)
    return key.public_numbers() if isinstance(key, rsa.RSAPublicKey) else None


def _when(now: float | None) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(time.time() if now is None else now,
                                           datetime.UTC)


class Pki:
    """Certificates and keys; ``reload()`` reads them all again (SIGHUP)."""

    def __init__(self, settings: Settings, conf: Conf | None = None) -> None:
        self._conf = conf
        self.settings = settings
        self.trust = TrustStore()
        self._local: list[LocalCredential] = []
        self._kept: list[Cert] = []
        self._load()

    @classmethod
    def from_conf(cls, conf: Conf) -> Pki:
        return cls(Settings.from_conf(conf), conf)

    def reload(self) -> None:
        if self._conf is not None:
            self.settings = Settings.from_conf(self._conf)
        self._load()

    # ------------------------------------------------------------- loading

    def _read_certs(self, directory: str, what: str) -> list[Cert]:
        out = []
        try:
            paths = files.directory_files(directory)
        except ValueError as e:
            _warn("%s: %s", what, e)
            return out
        for path in paths:
            try:
                out.extend(Cert.decode(der, path) for der in
                           files.certificate_ders(files.read_file(path)))
            except ValueError as e:
                _warn("%s file %s skipped: %s", what, path, e)
        return out

    def _read_crls(self, directory: str) -> list[Crl]:
        out = []
        try:
            paths = files.directory_files(directory)
        except ValueError as e:
            _warn("CRL-directory: %s", e)
            return out
        for path in paths:
            try:
                out.extend(Crl(path, c, c.issuer.public_bytes())
                           for c in files.parse_crls(files.read_file(path)))
            except ValueError as e:
                _warn("CRL file %s skipped: %s", path, e)
        return out

    def _read_keys(self) -> list[tuple[str, _core.RsaKey]]:
        s = self.settings
        paths = []
        if os.path.exists(s.private_key):
            paths.append(s.private_key)
        else:
            log.debug(Cls.CRYPTO, 30, "Private-key %s does not exist", s.private_key)
        try:
            paths += files.directory_files(s.private_key_directory)
        except ValueError as e:
            _warn("Private-key-directory: %s", e)
        seen, keys = set(), []
        for path in paths:
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            try:
                keys.append((path, files.load_private_key(path)))
            except ValueError as e:
                _warn("private key %s not used: %s", path, e)
        return keys

    def _load(self) -> None:
        s = self.settings
        anchors = self._read_certs(s.ca_directory, "CA certificate")
        certs = self._read_certs(s.cert_directory, "certificate")
        keys = self._read_keys()
        key_numbers = [_public_numbers(key.public_der()) for _, key in keys]
        # Ours: the certificates whose key we hold (a self-signed one may
        # well say CA:TRUE); the others are intermediates (CAs) or peers'.
        mine: dict[int, int] = {}  # certificate index -> key index
        for ci, cert in enumerate(certs):
            public = cert.rsa_public_key()
            if public is not None and public.public_numbers() in key_numbers:
                mine[ci] = key_numbers.index(public.public_numbers())
        others = [c for ci, c in enumerate(certs) if ci not in mine]
        self.trust = TrustStore(
            anchors=anchors,
            intermediates=[c for c in others if c.is_ca],
            crls=self._read_crls(s.crl_directory),
            ca_directory=s.ca_directory)
        # Private-key's certificates first, then by file
        order = sorted(mine, key=lambda ci: (mine[ci], ci))
        self._local = [self._credential(certs[ci], *keys[mine[ci]]) for ci in order]
        self._kept = [c for c in others if not c.is_ca or c.is_self_signed()]
        for ki, (path, _) in enumerate(keys):
            if ki not in mine.values():
                log.debug(Cls.CRYPTO, 30, "private key %s: no certificate for it in %s",
                          path, s.cert_directory)
        log.debug(Cls.CRYPTO, 20, "PKI: %d CAs, %d intermediates, %d CRLs, %d local "
                  "certificates, %d other certificates", len(anchors),
                  len(self.trust.intermediates), len(self.trust.crls),
                  len(self._local), len(self._kept))

    def _credential(self, cert: Cert, key_path: str,
                    key: _core.RsaKey) -> LocalCredential:
        try:
            path, anchor = self.trust.find_path(cert, [])
            chain, anchor_der = tuple(path[1:]), anchor.subject_der
        except PkiError as e:
            if not cert.is_self_signed():
                _warn("local certificate %s (%s): %s", cert.subject, cert.path,
                      e.reason)
            chain, anchor_der = (), None
        why = cert.date_problem(_when(None))
        if why is not None:
            _warn("local %s (%s)", why, cert.path)
        return LocalCredential(cert, chain, key, key_path, anchor_der)

    # ------------------------------------------------------------- queries

    def ca_names(self) -> list[bytes]:
        """DER subjects of the trusted CAs, for CERT_REQUEST payloads."""
        return list(dict.fromkeys(a.subject_der for a in self.trust.anchors))

    def local_identity(self, id_type: int | None, id_data: bytes | None,
                       requested: list[bytes]) -> LocalCredential | None:
        """Our credential whose certificate names the ID (any with
        ``id_type`` None), preferring one under a CA the peer asked for."""
        cands = [c for c in self._local
                 if id_type is None or c.cert.matches_id(id_type, id_data or b"")]
        for c in cands:
            if any(same_dn(r, n) for r in requested for n in c.issuer_names()):
                return c
        if cands and requested:
            log.debug(Cls.CRYPTO, 30, "no local certificate under the requested CAs; "
                      "using %s", cands[0].subject)
        return cands[0] if cands else None

    def verify_peer(self, cert_ders: list[bytes], id_type: int, id_data: bytes,
                    now: float | None = None) -> PeerKey:
        """The key of a peer's certificate, once its path to a trusted CA is
        verified and it names the peer's phase-1 ID; else PkiError."""
        if not cert_ders:
            raise PkiError(int(NotifyType.CERTIFICATE_UNAVAILABLE),
                           "the peer sent no certificate")
        certs = [_decode(der, i, len(cert_ders)) for i, der in enumerate(cert_ders)]
        ee = next((c for c in certs if not c.is_ca), certs[0])
        extra = [c for c in certs if c is not ee]
        spki = _rsa_key_of(ee)
        how = self._verify_chain(ee, extra, _when(now))
        if not ee.matches_id(id_type, id_data):
            names = "; ".join(describe(t, d) for t, d in ee.identities())
            raise PkiError(int(NotifyType.INVALID_ID_INFORMATION),
                           f"ID {describe(id_type, id_data)} does not match "
                           f"certificate {ee.subject} (it names {names})")
        return PeerKey(spki, ee.subject, f"certificate {ee.subject} ({how})", ee.der)

    def key_for_id(self, id_type: int, id_data: bytes,
                   now: float | None = None) -> PeerKey | None:
        """A trusted public key for the ID without a certificate from the
        peer: a raw key in Pubkey-directory, or a peer certificate kept in
        Cert-directory that names the ID and verifies."""
        for path in pubkeys.candidate_paths(self.settings.pubkey_directory,
                                            id_type, id_data):
            if not os.path.lexists(path):
                continue
            try:
                spki, bits = files.load_public_key(path)
            except ValueError as e:
                _warn("public key %s not used: %s", path, e)
                continue
            if not MIN_BITS <= bits <= MAX_BITS:
                _warn("public key %s not used: RSA key of %d bits", path, bits)
                continue
            return PeerKey(spki, describe(id_type, id_data),
                           f"public key {path} (RSA {bits} bits)")
        for cert in self._kept:
            if not cert.matches_id(id_type, id_data):
                continue
            try:
                spki = _rsa_key_of(cert)
                how = self._verify_chain(cert, [], _when(now))
            except PkiError as e:
                _warn("kept certificate %s not used: %s", cert.path, e.reason)
                continue
            return PeerKey(spki, cert.subject,
                           f"certificate {cert.subject} from {cert.path} ({how})",
                           cert.der)
        return None

    def _verify_chain(self, ee: Cert, extra: list[Cert],
                      now: datetime.datetime) -> str:
        """Verify ``ee`` up to a trusted CA, or accept it self-signed if
        configured; PkiError if neither. Returns how it was trusted."""
        try:
            path, anchor = self.trust.find_path(ee, extra)
        except PkiError:
            if not ee.is_self_signed():
                raise
            if not self.settings.accept_self_signed:
                raise PkiError(int(NotifyType.INVALID_CERTIFICATE),
                               f"certificate {ee.subject} is self-signed and not in "
                               f"CA-directory (Accept-self-signed is off)") from None
            self.trust.check_self_signed(ee, now)
            return "self-signed, accepted by Accept-self-signed"
        self.trust.check_path(path, anchor, now)
        if anchor is ee:
            return "in CA-directory"
        via = "".join(f" through {c.subject}" for c in path[1:])
        return f"verified up to CA {anchor.subject}{via}"


def _decode(der: bytes, i: int, n: int) -> Cert:
    try:
        return Cert.decode(der)
    except ValueError as e:
        raise PkiError(int(NotifyType.INVALID_CERT_ENCODING),
                       f"certificate {i + 1} of {n} cannot be decoded: {e}") from None


def _rsa_key_of(cert: Cert) -> bytes:
    key = cert.rsa_public_key()
    if key is None:
        raise PkiError(int(NotifyType.CERT_TYPE_UNSUPPORTED),
                       f"certificate {cert.subject}: not an RSA key "
                       f"({cert.x509.public_key_algorithm_oid.dotted_string})")
    if not MIN_BITS <= key.key_size <= MAX_BITS:
        raise PkiError(int(NotifyType.CERT_TYPE_UNSUPPORTED),
                       f"certificate {cert.subject}: RSA key of {key.key_size} bits "
                       f"(supported: {MIN_BITS}-{MAX_BITS})")
    return cert.spki()
