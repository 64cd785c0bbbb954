"""Certificate paths: from an end-entity certificate through intermediates
to a trusted CA, by names and key identifiers, then checked: signatures,
validity dates, CA flags and path lengths, CRLs.

TODO(name and policy constraints): nameConstraints and policy extensions of
CA certificates are not enforced.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from itertools import pairwise

from cryptography import x509

from .. import log
from ..constants import NotifyType
from ..exchange.ids import same_dn
from ..log import Cls
from .cert import Cert, verify_signature
from .errors import PkiError

#: The longest path searched, end entity and trusted CA included.
MAX_DEPTH = 10

_INVALID = int(NotifyType.INVALID_CERTIFICATE)


@dataclass
class Crl:
    path: str
    crl: x509.CertificateRevocationList
    issuer_der: bytes


@dataclass
class TrustStore:
    """The trusted CAs, the other certificates that may serve as
    intermediates, and the CRLs."""

    anchors: list[Cert] = field(default_factory=list)
    intermediates: list[Cert] = field(default_factory=list)
    crls: list[Crl] = field(default_factory=list)
    ca_directory: str = ""
    #: (CRL index, issuer fingerprint) -> the CRL's signature verifies
    _crl_ok: dict[tuple[int, bytes], bool] = field(default_factory=dict)
    _warned: set[str] = field(default_factory=set)

    def is_anchor(self, cert: Cert) -> bool:
        return any(a.der == cert.der for a in self.anchors)

    def _warn_once(self, msg: str) -> None:
        if msg not in self._warned:
            self._warned.add(msg)
            log.logger(Cls.CRYPTO).warning("%s", msg)

    # ------------------------------------------------------------ building

    def find_path(self, ee: Cert, extra: list[Cert]) -> tuple[list[Cert], Cert]:
        """(path from ``ee`` up to, not including, the trusted CA; that CA).
        ``extra`` are intermediates the peer sent. PkiError if there is no
        path whose signatures verify."""
        if self.is_anchor(ee):
            return [], ee
        pool = extra + [c for c in self.intermediates
                        if all(c.der != e.der for e in extra)]
        search = _Search(self.anchors, pool)
        found = search.extend([ee])
        if found is not None:
            return found
        if search.bad_sigs:
            raise PkiError(_INVALID, search.bad_sigs[0])
        top = search.missing[0] if search.missing else ee.issuer
        where = "" if self.anchors else f" (no certificates in {self.ca_directory})"
        raise PkiError(_INVALID, f"certificate {ee.subject}: no path to a trusted CA; "
                                 f"{top} is not in CA-directory{where}")

    # ---------------------------------------------------------- validation

    def check_path(self, path: list[Cert], anchor: Cert,
                   now: datetime.datetime) -> None:
        """Dates, CA flags, path lengths, critical extensions and CRLs of a
        path ``find_path`` gave; PkiError INVALID_CERTIFICATE on the first
        problem."""
        chain = path + [anchor]
        for c in chain:
            why = c.date_problem(now)
            if why is not None:
                raise PkiError(_INVALID, why)
            if c.unknown_critical and c is not anchor:
                raise PkiError(_INVALID,
                               f"certificate {c.subject} has unknown critical "
                               f"extensions {', '.join(c.unknown_critical)}")
        # Issuers: every certificate above the end entity.
        for below, (child, issuer) in enumerate(pairwise(chain)):
            if not issuer.is_ca and not (issuer is anchor and issuer.x509.version
                                         == x509.Version.v1):
                raise PkiError(_INVALID, f"certificate {issuer.subject} is not a CA "
                                         f"(no basicConstraints CA:TRUE) but issued "
                                         f"{child.subject}")
            if not issuer.may_sign_certs:
                raise PkiError(_INVALID, f"the keyUsage of CA {issuer.subject} does "
                                         f"not allow signing certificates")
            # ``below`` = intermediate CA certificates between issuer and end entity
            if issuer.path_length is not None and below > issuer.path_length:
                raise PkiError(_INVALID, f"path length constraint {issuer.path_length} "
                                         f"of CA {issuer.subject} exceeded by "
                                         f"{below} intermediate CAs")
        for child, issuer in pairwise(chain):
            self.check_revocation(child, issuer, now)

    def check_self_signed(self, ee: Cert, now: datetime.datetime) -> None:
        why = ee.date_problem(now)
        if why is not None:
            raise PkiError(_INVALID, why)

    # ---------------------------------------------------------------- CRLs

    def _crl_verifies(self, i: int, crl: Crl, issuer: Cert) -> bool:
        key = (i, issuer.fingerprint)
        ok = self._crl_ok.get(key)
        if ok is None:
            why = verify_signature(issuer.x509, crl.crl)
            ok = why is None and issuer.may_sign_crls
            self._crl_ok[key] = ok
            if not ok:
                self._warn_once(f"CRL {crl.path} ignored: "
                                f"{why or 'the keyUsage of its CA forbids CRL signing'}"
                                f" with the key of {issuer.subject}")
        return ok

    def check_revocation(self, cert: Cert, issuer: Cert,
                         now: datetime.datetime) -> None:
        """PkiError if a CRL of ``issuer`` whose signature verifies lists
        ``cert``. An out-of-date CRL is still used, with a warning."""
        for i, crl in enumerate(self.crls):
            if not same_dn(crl.issuer_der, issuer.subject_der):
                continue
            if not self._crl_verifies(i, crl, issuer):
                continue
            next_update = crl.crl.next_update_utc
            if next_update is not None and next_update < now:
                self._warn_once(f"CRL {crl.path} of {issuer.subject} is out of date "
                                f"(next update was due {next_update:%Y-%m-%d %H:%M:%S}"
                                f" UTC); using it anyway")
            if crl.crl.get_revoked_certificate_by_serial_number(
                    cert.x509.serial_number) is not None:
                raise PkiError(_INVALID, f"certificate {cert.subject} is revoked "
                                         f"(CRL {crl.path})")
            log.debug(Cls.CRYPTO, 50, "certificate %s not in CRL %s", cert.subject,
                      crl.path)


class _Search:
    """Depth-first search for a path to a trusted CA. A certificate from
    which no path was found is not searched again, and the signatures
    checked are bounded, so that a peer sending many certificates with one
    name and key cannot make the search explode."""

    MAX_SIGNATURES = 64

    def __init__(self, anchors: list[Cert], pool: list[Cert]) -> None:
        self.anchors = anchors
        self.pool = pool
        self.bad_sigs: list[str] = []
        self.missing: list[str] = []
        self.dead: set[bytes] = set()
        self.budget = self.MAX_SIGNATURES

    def _signed(self, issuer: Cert, child: Cert, what: str) -> bool:
        if self.budget <= 0:
            return False
        self.budget -= 1
        why = issuer.signed(child)
        if why is not None:
            self.bad_sigs.append(f"certificate {child.subject}: {why} with the key "
                                 f"of {what}{issuer.subject}")
        return why is None

    def extend(self, path: list[Cert]) -> tuple[list[Cert], Cert] | None:
        cur = path[-1]
        for anchor in self.anchors:
            if anchor.may_have_issued(cur) and self._signed(anchor, cur, "CA "):
                return path, anchor
        if len(path) + 1 < MAX_DEPTH:
            for cand in self.pool:
                if (cand.der in self.dead or any(cand.der == p.der for p in path)
                        or not cand.may_have_issued(cur)
                        or not self._signed(cand, cur, "")):
                    continue
                found = self.extend(path + [cand])
                if found is not None:
                    return found
        self.dead.add(cur.der)
        self.missing.append(cur.issuer)
        return None
