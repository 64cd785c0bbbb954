"""Phase-1 authentication, shared by Main Mode and Aggressive Mode
(RFC 2409 5, 5.1, 5.4).

Pre-shared keys: SKEYID = prf(key, Ni_b | Nr_b), and each side proves it
knows the key with HASH_I / HASH_R.

RSA signatures (RSA_SIG): SKEYID = prf(Ni_b | Nr_b, g^xy); each side sends
SIG_I / SIG_R, the raw PKCS#1 signature of HASH_I / HASH_R with its private
key, after its certificate (CERT, encoding X509_SIG) unless it has none. CR
payloads name the CAs a side trusts, so the other can pick a certificate
issued under one of them. The receiver checks the certificate chain and that
the ID payload names the certificate's subject (isakmpd.pki), or, without a
certificate, uses a public key it keeps for that ID (Pubkey-directory), and
then the signature.

Keys for Aggressive Mode responders come from isakmpd's Initiator-ID
sections: ``[user@example.com]`` or ``[host.example.com]`` with
``Authentication=``, named by the ID in message 1; without one, the peer
section's key is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from cryptography import x509

from .. import _core, log
from ..conf import model
from ..constants import AuthMethod, CertEncoding, IdType, NotifyType, name_of
from ..errors import ConfigError, IsakmpdError
from ..log import Cls
from ..sa import IsakmpSA, Phase1Params
from . import ids
from .base import ExchangeFailed, InMessage, Rejected

if TYPE_CHECKING:
    from ..conf.model import Phase1Peer
    from ..engine import Engine

_log = log.logger(Cls.EXCHANGE)


def uses_signatures(params: Phase1Params | None) -> bool:
    return params is not None and params.auth_method == AuthMethod.RSA_SIG


def method_name(auth_method: int) -> str:
    return {AuthMethod.PRE_SHARED: "pre-shared key",
            AuthMethod.RSA_SIG: "RSA signature"}.get(
                auth_method, name_of(AuthMethod, auth_method))


def phase1_keys(params: Phase1Params, psk: bytes | None, ni: bytes, nr: bytes,
                gxy: bytes, icookie: bytes, rcookie: bytes) -> _core.Phase1Keys:
    """SKEYID and its children for the agreed authentication method."""
    if params.auth_method == AuthMethod.PRE_SHARED:
        if psk is None:
            raise ExchangeFailed("no pre-shared key for this peer",
                                 NotifyType.AUTHENTICATION_FAILED)
        return _core.Phase1Keys.for_psk(params.hash_alg, psk, ni, nr, gxy,
                                        icookie, rcookie)
    if params.auth_method == AuthMethod.RSA_SIG:
        return _core.Phase1Keys.for_signatures(params.hash_alg, ni, nr, gxy,
                                               icookie, rcookie)
    raise ExchangeFailed(
        f"authentication {name_of(AuthMethod, params.auth_method)} not supported",
        NotifyType.NO_PROPOSAL_CHOSEN)


# ------------------------------------------------------------ pre-shared keys

def psk_for(engine: "Engine", peer: "Phase1Peer",
            peer_id: _core.ID | None) -> bytes | None:
    """The pre-shared key for a peer: its ID's section (Aggressive Mode
    responders know the ID before they need the key), else the peer's."""
    if peer_id is not None:
        name = ids.section_name(peer_id)
        if name is not None and engine.conf.has_section(name):
            try:
                key = model.psk_for_id(engine.conf, name)
            except ConfigError as e:
                _log.error("%s", e)
                key = None
            if key is not None:
                log.debug(Cls.EXCHANGE, 30, f"pre-shared key from section [{name}]")
                return key
    return peer.psk


# ------------------------------------------------------------ the PKI

def get_pki(engine: "Engine") -> Any:
    pki = engine.pki
    if pki is None:
        raise ExchangeFailed("RSA signatures need X.509 support, which is not "
                             "available", NotifyType.AUTHENTICATION_FAILED)
    return pki


def can_sign(engine: "Engine") -> bool:
    """Whether we hold a certificate with its private key at all."""
    pki = engine.pki
    if pki is None:
        return False
    try:
        return pki.local_identity(None, None, []) is not None
    except (IsakmpdError, ValueError) as e:
        _log.error("certificates: %s", getattr(e, "reason", e))
        return False


def usable_methods(engine: "Engine", psk: bytes | None) -> Callable[[int], bool]:
    """For a responder's choice: the methods it can carry out."""
    cache: dict[int, bool] = {}

    def ok(method: int) -> bool:
        if method not in cache:
            if method == AuthMethod.PRE_SHARED:
                cache[method] = psk is not None
            elif method == AuthMethod.RSA_SIG:
                cache[method] = can_sign(engine)
            else:
                cache[method] = False
        return cache[method]

    return ok


def cert_requests(engine: "Engine") -> list[_core.CertReq]:
    """CR payloads naming the CAs we trust (one without a name if none)."""
    pki = get_pki(engine)
    try:
        names = list(pki.ca_names())
    except (IsakmpdError, ValueError) as e:
        _log.error("CA certificates: %s", getattr(e, "reason", e))
        names = []
    if not names:
        return [_core.CertReq(CertEncoding.X509_SIG, b"")]
    return [_core.CertReq(CertEncoding.X509_SIG, n) for n in names]


def requested_authorities(msg: InMessage) -> list[bytes]:
    """The CAs a peer's CR payloads name (X.509 signature certificates)."""
    out = []
    for cr in msg.all(_core.CertReq):
        if cr.cert_type != CertEncoding.X509_SIG:
            log.debug(Cls.EXCHANGE, 30,
                      f"CR for certificate type {name_of(CertEncoding, cr.cert_type)} "
                      "ignored")
            continue
        if cr.authority:
            out.append(cr.authority)
    return out


def _subject_der(cert_der: bytes) -> bytes | None:
    try:
        return x509.load_der_x509_certificate(cert_der).subject.public_bytes()
    except ValueError:
        return None


def local_identity(engine: "Engine", peer: "Phase1Peer", local_addr: str,
                   signatures: bool, requested: list[bytes]
                   ) -> tuple[_core.ID, Any]:
    """Our phase-1 ID payload, and with signatures the credential (the
    certificate and key) for it. The ID is the peer's ``ID=`` section (or
    [General] Default-phase-1-ID); without one it is our address, or with
    signatures, when no certificate carries our address, the identity of
    our first certificate."""
    spec = peer.id
    idp = ids.spec_id(spec, local_addr, phase1=True) if spec is not None else None
    if not signatures:
        return idp or ids.address_id(local_addr), None
    pki = get_pki(engine)
    try:
        if idp is not None:
            cred = pki.local_identity(idp.id_type, idp.data, requested)
            if cred is None:
                raise ExchangeFailed(
                    f"no certificate with a private key for our ID "
                    f"{ids.describe(idp.id_type, idp.data)}")
            if idp.id_type == IdType.DER_ASN1_DN and cred.cert_der:
                # send the subject exactly as the certificate encodes it
                subject = _subject_der(cred.cert_der)
                if subject is not None and ids.same_dn(subject, idp.data):
                    idp = _core.ID(idp.id_type, subject, idp.protocol, idp.port)
            return idp, cred
        addr = ids.address_id(local_addr)
        cred = pki.local_identity(addr.id_type, addr.data, requested)
        if cred is not None:
            return addr, cred
        cred = pki.local_identity(None, None, requested)
        if cred is None:
            raise ExchangeFailed("no certificate with a private key for RSA "
                                 "signatures (see [X509-certificates])")
        t, data = cred.default_id()
        return _core.ID(t, data), cred
    except IsakmpdError as e:
        if isinstance(e, ExchangeFailed):
            raise
        raise ExchangeFailed(f"our certificate: {getattr(e, 'reason', e)}") from None


def auth_payloads(params: Phase1Params, cred: Any, hash_value: bytes) -> list:
    """What proves our identity: HASH, or [CERT...,] SIG."""
    if not uses_signatures(params):
        return [_core.Hash(hash_value)]
    out: list = []
    cert = getattr(cred, "cert_der", b"") or b""
    if cert:
        out.append(_core.Cert(CertEncoding.X509_SIG, cert))
        out += [_core.Cert(CertEncoding.X509_SIG, c)
                for c in (getattr(cred, "chain_ders", None) or ())]
    try:
        sig = cred.key.sign_raw(hash_value)
    except (IsakmpdError, ValueError) as e:
        raise ExchangeFailed(f"signing with our private key failed: {e}") from None
    out.append(_core.Sig(sig))
    return out


def verify(engine: "Engine", sa: IsakmpSA, params: Phase1Params, msg: InMessage,
           idp: _core.ID, expected: bytes, what: str) -> None:
    """Check the peer's HASH_I/HASH_R (``what``) or its signature of it.

    A HASH that does not verify drops the message (Rejected: a damaged or
    forged one may be followed by the genuine one). A refused certificate
    or signature ends the exchange with the NOTIFY that names the reason;
    an encrypted message is accepted into the IV chain first, so that the
    peer can read that NOTIFY."""
    if not uses_signatures(params):
        h = msg.one(_core.Hash, "HASH").data
        if not _core.ct_eq(h, expected):
            raise Rejected(f"{what} does not verify (wrong pre-shared key?)",
                           NotifyType.INVALID_HASH_INFORMATION)
        sa.peer_auth = "pre-shared key"
        return
    sig = msg.one(_core.Sig, "SIG").data  # missing: dropped, not refused
    try:
        _verify_signature(engine, sa, msg, idp, sig, expected, what)
    except Rejected:
        raise
    except ExchangeFailed:
        if msg.encrypted and sa.cipher is not None:
            sa.cipher.commit(0)
        raise


def _verify_signature(engine: "Engine", sa: IsakmpSA, msg: InMessage,
                      idp: _core.ID, sig: bytes, expected: bytes, what: str) -> None:
    who = ids.describe(idp.id_type, idp.data)
    certs = []
    for c in msg.all(_core.Cert):
        if c.encoding == CertEncoding.X509_SIG:
            certs.append(c.data)
        else:
            log.debug(Cls.EXCHANGE, 30, f"CERT of encoding "
                      f"{name_of(CertEncoding, c.encoding)} ignored")
    pki = get_pki(engine)
    try:
        if certs:
            key = pki.verify_peer(certs, idp.id_type, idp.data)
        else:
            key = pki.key_for_id(idp.id_type, idp.data)
            if key is None:
                raise ExchangeFailed(
                    f"peer {who} sent no certificate, and no public key is kept "
                    "for that ID", NotifyType.AUTHENTICATION_FAILED)
    except ExchangeFailed:
        raise
    except IsakmpdError as e:
        notify = getattr(e, "notify", 0) or NotifyType.INVALID_CERTIFICATE
        raise ExchangeFailed(f"certificate of peer {who} refused: "
                             f"{getattr(e, 'reason', e)}", notify) from None
    except ValueError as e:
        raise ExchangeFailed(f"certificate of peer {who} refused: {e}",
                             NotifyType.INVALID_CERT_ENCODING) from None
    try:
        good = bool(key.verify(expected, sig))
    except (IsakmpdError, ValueError):
        good = False
    desc = str(getattr(key, "description", "") or getattr(key, "subject", ""))
    if not good:
        raise ExchangeFailed(f"signature of {what} by peer {who} does not verify "
                             f"with {desc or 'its key'}", NotifyType.INVALID_SIGNATURE)
    sa.peer_auth = f"RSA signature, {desc}" if desc else "RSA signature"
    sa.peer_cert_subject = str(getattr(key, "subject", "") or "") if certs else ""
