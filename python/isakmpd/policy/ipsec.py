"""What a phase-2 proposal looks like to the KeyNote policy: isakmpd's
action attributes, and who asks for it (the principals).

:func:`action_attributes` describes one proposal (one transform per
protocol, the client IDs, PFS) under an ISAKMP SA with the attributes and
value formats of isakmpd's policy.c (isakmpd.policy(5)): ``esp_enc_alg ==
"aes"``, ``esp_life_seconds == "1200"``, ``remote_filter ==
"192.168.002.000-192.168.002.255"`` (IPv4 addresses as zero-padded dotted
quads, IPv6 fully expanded), ``phase_1 == "main"`` and so on.

:class:`PeerProof` records how the peer authenticated in phase 1;
:func:`principals` turns it into the requesters of the query:
``passphrase:<key>``, ``passphrase-md5-hex:<md5>`` and
``passphrase-sha1-hex:<sha1>`` for a pre-shared key, ``rsa-hex:<PKCS#1
DER>`` and, with a certificate, ``DN:<subject>`` (OpenSSL's one-line form,
``/C=SE/O=Example/CN=host``) for RSA signatures. A peer certificate also
yields pseudo-credentials from its issuer to it (:func:`x509_credentials`),
so that a policy can name a CA as the licensee.

Deliberate differences from isakmpd's policy.c: an AH transform SHA2_256/
384/512 sets ``ah_hash_alg`` to ``sha2-256``... as isakmpd.policy(5) says
(policy.c writes it to ``ah_auth_alg``, where the authentication
algorithm overwrites it); an ECN_TUNNEL attribute sets only ``*_ecn``
(policy.c falls through and also sets the encapsulation from its value);
a non-printable KEY_ID is written in hex byte by byte (policy.c repeats the
first byte).
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from cryptography.exceptions import UnsupportedAlgorithm

from .. import _core, log
from ..constants import (
    AhTransform,
    AuthAlg,
    AuthMethod,
    CertEncoding,
    EncapMode,
    EspTransform,
    ExchangeType,
    IdType,
    IpcompTransform,
    IpsecAttr,
    LifeType,
    ProtocolId,
)
from ..errors import IsakmpdError, MessageError
from ..exchange.ids import dn_parse
from ..log import Cls

if TYPE_CHECKING:
    from ..pki.cert import Cert
    from ..sa import IsakmpSA

APP_DOMAIN = "IPsec policy"


class PolicyInputError(IsakmpdError):
    """A proposal or SA that cannot be described to the policy (an ID of
    an unknown type or the wrong length): isakmpd refuses those too."""


# ------------------------------------------------------------------ proposals


class ClientId(NamedTuple):
    """A phase-2 client ID (IDci or IDcr) as on the wire."""

    id_type: int
    data: bytes
    protocol: int = 0
    port: int = 0

    @classmethod
    def of(cls, idp: _core.ID) -> ClientId:
        return cls(idp.id_type, idp.data, idp.protocol, idp.port)

    @classmethod
    def host(cls, address: str) -> ClientId:
        """The ID isakmpd assumes when Quick Mode carries none: the IKE
        address (RFC 2409 5.5)."""
        ip = ipaddress.ip_address(address)
        t = IdType.IPV4_ADDR if ip.version == 4 else IdType.IPV6_ADDR
        return cls(int(t), ip.packed)


@dataclass(frozen=True)
class ProtoChoice:
    """One protocol of a proposal with its one transform: the transform ID
    and the attributes (type, value) in their order on the wire."""

    protocol_id: int
    transform_id: int
    attributes: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, protocol_id: int, xf: _core.Transform) -> ProtoChoice:
        attrs = []
        for a in xf.attributes:
            try:
                value = a.as_int()
            except MessageError:
                value = int.from_bytes(bytes(a.value)[:4], "big")  # as policy.c
            attrs.append((a.type, value))
        return cls(protocol_id, xf.transform_id, tuple(attrs))


@dataclass(frozen=True)
class Phase2Proposal:
    """A phase-2 proposal as the policy sees it. ``pfs`` is whether the
    Quick Mode carries a KE payload (isakmpd's ``ie->pfs``); the IDs are
    ours and the peer's."""

    protos: tuple[ProtoChoice, ...]
    pfs: bool
    local_id: ClientId
    remote_id: ClientId

    def summary(self, attrs: dict[str, str] | None = None) -> str:
        """``ESP aes-128 hmac-sha tunnel, PFS`` (for log lines)."""
        a = attrs if attrs is not None else _transform_attributes(self.protos)
        parts = []
        for p in ("esp", "ah", "comp"):
            if a.get(f"{p}_present") != "yes":
                continue
            alg = a.get(f"{p}_enc_alg") or a.get(f"{p}_hash_alg") or a.get(
                f"{p}_alg") or "?"
            if a.get(f"{p}_key_length"):
                alg += "-" + a[f"{p}_key_length"]
            words = [{"comp": "IPCOMP"}.get(p, p.upper()), alg]
            words += [w for w in (a.get(f"{p}_auth_alg"), a.get(f"{p}_encapsulation"))
                      if w]
            parts.append(" ".join(words))
        text = " + ".join(parts) or "no protocol"
        return text + (", PFS" if self.pfs else "")


# ------------------------------------------------------------------ formats


def ipv4_text(packed: bytes) -> str:
    """``010.128.001.012``: isakmpd's zero-padded dotted quad."""
    return ".".join(f"{b:03d}" for b in packed)


def ipv6_text(packed: bytes) -> str:
    """``2001:0db8:0000:...``: every group, four digits, lower case."""
    return ":".join(packed[i:i + 2].hex() for i in range(0, 16, 2))


def address_text(address: str) -> str:
    """An IKE address in the policy's format (isakmpd's sockaddr2text)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    return ipv4_text(ip.packed) if ip.version == 4 else ipv6_text(ip.packed)


def time_of_day(when: float, gmt: bool) -> str:
    """``YYYYMMDDHHmmSS`` (GMTTimeOfDay, LocalTimeOfDay)."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(when) if gmt
                         else time.localtime(when))


def protocol_name(number: int) -> str:
    return {6: "tcp", 17: "udp", 97: "etherip"}.get(number, str(number))


_ADDR = {IdType.IPV4_ADDR: (4, "IPv4 address"), IdType.IPV6_ADDR: (16, "IPv6 address"),
         IdType.IPV4_ADDR_RANGE: (4, "IPv4 range"),
         IdType.IPV6_ADDR_RANGE: (16, "IPv6 range"),
         IdType.IPV4_ADDR_SUBNET: (4, "IPv4 subnet"),
         IdType.IPV6_ADDR_SUBNET: (16, "IPv6 subnet")}


def id_values(id_type: int, data: bytes) -> tuple[str, str, str, str]:
    """(type name, text, lower address, upper address) of an ID, as
    policy.c writes ``*_filter_type``, ``*_filter``, ``*_addr_lower`` and
    ``*_addr_upper`` (and ``remote_id*``)."""
    if id_type in _ADDR:
        size, name = _ADDR[IdType(id_type)]
        fmt = ipv4_text if size == 4 else ipv6_text
        want = size if id_type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR) else 2 * size
        if len(data) != want:
            raise PolicyInputError(f"{name} ID of {len(data)} bytes")
        if want == size:
            a = fmt(data)
            return name, a, a, a
        first, second = data[:size], data[size:]
        if id_type in (IdType.IPV4_ADDR_SUBNET, IdType.IPV6_ADDR_SUBNET):
            first = bytes(x & m for x, m in zip(first, second))
            second = bytes(x | (~m & 0xFF) for x, m in zip(first, second))
        lo, hi = fmt(first), fmt(second)
        return name, f"{lo}-{hi}", lo, hi
    if id_type in (IdType.FQDN, IdType.USER_FQDN):
        name = "FQDN" if id_type == IdType.FQDN else "User FQDN"
        return name, _c_string(data), "", ""
    if id_type == IdType.DER_ASN1_DN:
        try:
            return "ASN1 DN", dn_oneline(data, 255), "", ""
        except (ValueError, UnicodeDecodeError):
            raise PolicyInputError("DER_ASN1_DN ID does not decode") from None
    if id_type == IdType.DER_ASN1_GN:
        return "ASN1 GN", "", "", ""
    if id_type == IdType.KEY_ID:
        if all(0x20 <= b <= 0x7E for b in data):
            return "Key ID", data.decode("ascii"), "", ""
        return "Key ID", data.hex(), "", ""
    raise PolicyInputError(f"ID type {id_type} unknown to the policy")


def _c_string(data: bytes) -> str:
    """Bytes as policy.c hands them to KeyNote: up to a NUL, 8-bit."""
    return data.split(b"\0", 1)[0].decode("latin-1")


#: OpenSSL's short names for the attributes of distinguished names
_SHORT_NAMES = {
    "2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C",
    "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.12": "title", "2.5.4.13": "description",
    "2.5.4.15": "businessCategory", "2.5.4.17": "postalCode", "2.5.4.41": "name",
    "2.5.4.42": "GN", "2.5.4.43": "initials", "2.5.4.44": "generationQualifier",
    "2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym",
    "2.5.4.97": "organizationIdentifier",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.1": "UID", "0.9.2342.19200300.100.1.25": "DC",
}


def dn_oneline(der: bytes, limit: int = 256) -> str:
    """A DER Name as OpenSSL's X509_NAME_oneline writes it (as isakmpd
    names ``DN:`` principals): ``/C=SE/O=Example/CN=host``, bytes outside
    printable ASCII as ``\\xHH``, and entries that would pass ``limit``
    characters left out. ValueError if ``der`` is not a Name."""
    out = ""
    for rdn in dn_parse(der):
        for oid, value in rdn:
            # TODO(BMPString/UniversalString values: OpenSSL prints their raw
            # UCS bytes; here their UTF-8 form)
            raw = value.encode("utf-8")
            text = "".join(chr(b) if 0x20 <= b <= 0x7E else f"\\x{b:02X}" for b in raw)
            entry = f"/{_SHORT_NAMES.get(oid, oid)}={text}"
            if len(out) + len(entry) > limit:
                return out
            out += entry
    return out


# ------------------------------------------------------------------ attributes

_ESP_ENC = {EspTransform.DES_IV64: "des-iv64", EspTransform.DES: "des",
            EspTransform.TDES: "3des", EspTransform.AES: "aes",
            EspTransform.AES_CTR: "aes", EspTransform.AES_GCM_16: "aes",
            EspTransform.AES_GMAC: "aes", EspTransform.RC5: "rc5",
            EspTransform.IDEA: "idea", EspTransform.CAST: "cast",
            EspTransform.BLOWFISH: "blowfish", EspTransform.TIDEA: "3idea",
            EspTransform.DES_IV32: "des-iv32", EspTransform.RC4: "rc4",
            EspTransform.NULL: "null"}
_AH_HASH = {AhTransform.MD5: "md5", AhTransform.SHA: "sha",
            AhTransform.RIPEMD: "ripemd",
            AhTransform.SHA2_256: "sha2-256", AhTransform.SHA2_384: "sha2-384",
            AhTransform.SHA2_512: "sha2-512", AhTransform.DES: "des"}
_COMP = {IpcompTransform.OUI: "oui", IpcompTransform.DEFLATE: "deflate",
         IpcompTransform.LZS: "lzs", IpcompTransform.V42BIS: "v42bis"}
_AUTH = {AuthAlg.HMAC_MD5: "hmac-md5", AuthAlg.HMAC_SHA: "hmac-sha",
         AuthAlg.HMAC_RIPEMD: "hmac-ripemd", AuthAlg.HMAC_SHA2_256: "hmac-sha2-256",
         AuthAlg.HMAC_SHA2_384: "hmac-sha2-384", AuthAlg.HMAC_SHA2_512: "hmac-sha2-512",
         AuthAlg.DES_MAC: "des-mac", AuthAlg.KPDK: "kpdk"}
_PREFIX = {ProtocolId.IPSEC_AH: "ah", ProtocolId.IPSEC_ESP: "esp",
           ProtocolId.IPCOMP: "comp"}
_UDP_TUNNEL = (EncapMode.UDP_ENCAP_TUNNEL, EncapMode.UDP_ENCAP_TUNNEL_DRAFT)
_PHASE_1 = {ExchangeType.ID_PROT: "main", ExchangeType.AGGRESSIVE: "aggressive"}

#: every attribute policy.c answers, with its value before a proposal fills it in
DEFAULTS: dict[str, str] = {
    "app_domain": APP_DOMAIN, "doi": "ipsec", "initiator": "", "pfs": "no",
    "phase_1": "", "phase1_group_desc": "",
    "GMTTimeOfDay": "", "LocalTimeOfDay": "",
    "remote_ike_address": "", "local_ike_address": "",
    "remote_negotiation_address": "", "local_negotiation_address": "",
    **{f"{p}_present": "no" for p in ("esp", "ah", "comp")},
    **{f"{p}_ecn": "no" for p in ("esp", "ah", "comp")},
    **{f"{p}_{k}": "" for p in ("esp", "ah", "comp")
       for k in ("encapsulation", "life_seconds", "life_kbytes", "group_desc")},
    **{f"{p}_{k}": "" for p in ("esp", "ah") for k in ("key_length", "key_rounds")},
    "esp_enc_alg": "", "esp_auth_alg": "", "ah_hash_alg": "", "ah_auth_alg": "",
    "comp_alg": "", "comp_dict_size": "", "comp_private_alg": "",
    **{f"{side}_filter{k}": "" for side in ("local", "remote")
       for k in ("_type", "", "_addr_lower", "_addr_upper", "_port", "_proto")},
    **{f"remote_id{k}": "" for k in ("_type", "", "_addr_lower", "_addr_upper",
                                     "_port", "_proto")},
}


def _transform_attributes(protos: Iterable[ProtoChoice]) -> dict[str, str]:
    out: dict[str, str] = {}
    life_type = 0  # policy.c keeps it from one protocol to the next
    for p in protos:
        prefix = _PREFIX.get(p.protocol_id)
        if prefix is None:
            continue
        out[f"{prefix}_present"] = "yes"
        if p.protocol_id == ProtocolId.IPSEC_ESP:
            out["esp_enc_alg"] = _ESP_ENC.get(p.transform_id, "")
        elif p.protocol_id == ProtocolId.IPSEC_AH:
            out["ah_hash_alg"] = _AH_HASH.get(p.transform_id, "")
        else:
            out["comp_alg"] = _COMP.get(p.transform_id, "")
        for t, v in p.attributes:
            if t == IpsecAttr.SA_LIFE_TYPE:
                life_type = v
            elif t == IpsecAttr.SA_LIFE_DURATION:
                unit = "seconds" if life_type == LifeType.SECONDS else "kbytes"
                out[f"{prefix}_life_{unit}"] = str(v)
            elif t == IpsecAttr.GROUP_DESCRIPTION:
                out[f"{prefix}_group_desc"] = str(v)
            elif t == IpsecAttr.ECN_TUNNEL:
                if v:
                    out[f"{prefix}_ecn"] = "yes"
            elif t == IpsecAttr.ENCAPSULATION_MODE:
                out[f"{prefix}_encapsulation"] = (
                    "tunnel" if v == EncapMode.TUNNEL
                    else "udp-encap-tunnel" if v in _UDP_TUNNEL else "transport")
            elif t == IpsecAttr.AUTHENTICATION_ALGORITHM:
                if prefix != "comp":
                    out[f"{prefix}_auth_alg"] = _AUTH.get(v, "")
            elif t in (IpsecAttr.KEY_LENGTH, IpsecAttr.KEY_ROUNDS):
                if prefix != "comp":
                    what = "length" if t == IpsecAttr.KEY_LENGTH else "rounds"
                    out[f"{prefix}_key_{what}"] = str(v)
            elif t == IpsecAttr.COMPRESS_DICTIONARY_SIZE:
                out["comp_dict_size"] = str(v)
            elif t == IpsecAttr.COMPRESS_PRIVATE_ALGORITHM:
                out["comp_private_alg"] = str(v)
    return out


def _id_attributes(prefix: str, cid: ClientId) -> dict[str, str]:
    kind, text, lo, hi = id_values(cid.id_type, cid.data)
    return {f"{prefix}_type": kind, prefix: text, f"{prefix}_addr_lower": lo,
            f"{prefix}_addr_upper": hi, f"{prefix}_port": str(cid.port),
            f"{prefix}_proto": protocol_name(cid.protocol)}


def phase1_remote_id(sa: IsakmpSA) -> ClientId:
    """The peer's phase-1 ID (IDii_b or IDir_b: type, protocol, port, data)."""
    body = sa.id_remote
    if len(body) < 4:
        raise PolicyInputError("the peer's phase-1 ID is not known")
    return ClientId(body[0], body[4:], body[1], int.from_bytes(body[2:4], "big"))


def action_attributes(proposal: Phase2Proposal, sa: IsakmpSA, initiator: bool,
                      when: float) -> dict[str, str]:
    """The action attributes of ``proposal`` under ISAKMP SA ``sa`` (we are
    the Quick Mode ``initiator`` or not), at wall-clock time ``when``.
    PolicyInputError if an ID cannot be described."""
    a = dict(DEFAULTS)
    a.update(_transform_attributes(proposal.protos))
    a["pfs"] = "yes" if proposal.pfs else "no"
    a["initiator"] = "yes" if initiator else "no"
    if sa.params is not None:
        a["phase1_group_desc"] = str(sa.params.group)
    a["phase_1"] = _PHASE_1.get(sa.exchange_type, "")
    a["local_ike_address"] = a["local_negotiation_address"] = address_text(
        sa.local[0])
    a["remote_ike_address"] = a["remote_negotiation_address"] = address_text(
        sa.remote[0])
    a.update(_id_attributes("remote_id", phase1_remote_id(sa)))
    a.update(_id_attributes("local_filter", proposal.local_id))
    a.update(_id_attributes("remote_filter", proposal.remote_id))
    a["GMTTimeOfDay"] = time_of_day(when, gmt=True)
    a["LocalTimeOfDay"] = time_of_day(when, gmt=False)
    return a


# ------------------------------------------------------------------ principals


@dataclass(frozen=True)
class PeerProof:
    """How the peer proved its identity in phase 1: the pre-shared key, or
    its RSA public key (PKCS#1 DER), with the subject of its certificate
    and the pseudo-credentials (KeyNote text, name) its certificate path
    yields."""

    psk: bytes | None = None
    public_key: bytes | None = None
    subject: str = ""
    credentials: tuple[tuple[str, str], ...] = ()

    @property
    def what(self) -> str:
        """For log lines, without secrets."""
        if self.psk is not None:
            return "pre-shared key"
        if self.public_key is not None:
            return f"RSA key of {self.subject}" if self.subject else "raw RSA key"
        return "unknown authentication"


def principals(proof: PeerProof | None) -> list[str]:
    """The requesters of the query, as isakmpd's check_policy makes them."""
    if proof is None:
        return []
    if proof.psk is not None:
        key = proof.psk.split(b"\0", 1)[0]  # isakmpd takes strlen() of it
        return [f"passphrase:{key.decode('latin-1')}",
                f"passphrase-md5-hex:{hashlib.md5(key).hexdigest()}",
                f"passphrase-sha1-hex:{hashlib.sha1(key).hexdigest()}"]
    if proof.public_key is not None:
        out = [f"rsa-hex:{proof.public_key.hex()}"]
        if proof.subject:
            out.append(f"DN:{proof.subject}")
        return out
    return []


def shown(principal: str) -> str:
    """A principal for a log line: pre-shared keys and their hashes hidden."""
    if principal.startswith("passphrase"):
        head = principal.partition(":")[0]
        return f"{head}:<hidden>"
    return principal if len(principal) <= 60 else principal[:57] + "..."


def _quoted(text: str) -> str:
    """A KeyNote string literal holding ``text``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _key_hex(cert: Cert) -> str | None:
    key = cert.rsa_public_key()
    if key is None:
        return None
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.PKCS1).hex()


def x509_credentials(path: Sequence[Cert], anchor: Cert) -> list[tuple[str, str]]:
    """isakmpd's x509_generate_kn for a verified certificate path (end
    entity first, up to ``anchor``): for each certificate, an assertion
    from its issuer's key to its key and one from the issuer's DN to its
    DN, valid while the certificate is. (KeyNote text, name) pairs."""
    out = []
    chain = list(path) + ([anchor] if (not path or path[-1] is not anchor) else [])
    for subject, issuer in itertools.pairwise(chain):
        s_key, i_key = _key_hex(subject), _key_hex(issuer)
        if s_key is None or i_key is None or subject.der == issuer.der:
            continue
        try:
            s_dn, i_dn = dn_oneline(subject.subject_der), dn_oneline(issuer.subject_der)
        except (ValueError, UnicodeDecodeError):
            continue
        when = (f'app_domain == "{APP_DOMAIN}" && '
                f'GMTTimeOfDay >= "{subject.not_before:%Y%m%d%H%M%S}" && '
                f'GMTTimeOfDay <= "{subject.not_after:%Y%m%d%H%M%S}";')
        name = f"<certificate {subject.subject}>"
        for issuer_p, subject_p in ((f"rsa-hex:{i_key}", f"rsa-hex:{s_key}"),
                                    (f"DN:{i_dn}", f"DN:{s_dn}")):
            text = (f"Authorizer: {_quoted(issuer_p)}\n"
                    f"Licensees: {_quoted(subject_p)}\nConditions: {when}\n")
            out.append((text, name))
    return out


def _message_certs(raw: bytes | None) -> list[bytes]:
    """The X.509 certificates of a (received, possibly decrypted) message."""
    if not raw or len(raw) < 28:
        return []
    try:
        hdr = _core.parse_header(raw)
        plain = getattr(raw, "plain", None)
        if plain is not None:
            payloads = _core.parse_payloads(hdr.next_payload, plain,
                                            allow_trailing=True)
        else:
            payloads = _core.parse_payloads(hdr.next_payload, bytes(raw[28:]))
    except MessageError:
        return []
    return [p.data for p in payloads
            if isinstance(p, _core.Cert) and p.encoding == CertEncoding.X509_SIG]


def peer_proof(sa: IsakmpSA, exchange: Any, pki: Any) -> PeerProof | None:
    """What the phase-1 ``exchange`` (just completed on ``sa``) learnt of the
    peer: its pre-shared key, or its RSA key and certificate (from the
    CERT payloads of its last message, else the key the PKI keeps for its
    ID)."""
    # TODO(KeyNote credentials sent in CERT payloads, whose last licensee is
    # the peer's principal in isakmpd, are not read; nor are ours sent)
    params = sa.params
    if params is None:
        return None
    if params.auth_method == AuthMethod.PRE_SHARED:
        psk = getattr(exchange, "psk", None)
        return PeerProof(psk=psk) if psk is not None else None
    if params.auth_method != AuthMethod.RSA_SIG or pki is None:
        return None
    from ..pki.cert import Cert

    try:
        certs = [Cert.decode(d) for d in _message_certs(
            getattr(exchange, "last_received", None))]
        if certs:
            ee = next((c for c in certs if not c.is_ca), certs[0])
            extra = [c for c in certs if c is not ee]
        else:
            rid = phase1_remote_id(sa)
            key = pki.key_for_id(rid.id_type, rid.data)
            if key is None:
                return None
            if key.cert_der is None:
                from cryptography.hazmat.primitives import serialization

                public = serialization.load_der_public_key(key.public_der)
                der = public.public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.PKCS1)
                return PeerProof(public_key=der)
            ee, extra = Cert.decode(key.cert_der), []
        rsa_hex = _key_hex(ee)
        if rsa_hex is None:
            return None
        creds: list[tuple[str, str]] = []
        try:
            path, anchor = pki.trust.find_path(ee, extra)
            creds = x509_credentials(path, anchor)
        except (IsakmpdError, ValueError):
            pass  # self-signed, accepted as such: no issuer to delegate from
        return PeerProof(public_key=bytes.fromhex(rsa_hex),
                         subject=dn_oneline(ee.subject_der), credentials=tuple(creds))
    except (IsakmpdError, ValueError, TypeError, UnsupportedAlgorithm) as e:
        log.debug(Cls.POLICY, 30, f"the peer's key for the policy: {e}")
        return None


__all__ = [
    "APP_DOMAIN",
    "DEFAULTS",
    "ClientId",
    "PeerProof",
    "Phase2Proposal",
    "PolicyInputError",
    "ProtoChoice",
    "action_attributes",
    "address_text",
    "dn_oneline",
    "id_values",
    "ipv4_text",
    "ipv6_text",
    "peer_proof",
    "principals",
    "shown",
    "time_of_day",
    "x509_credentials",
]
