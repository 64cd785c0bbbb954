"""Identification payloads (RFC 2407 4.6.2): building them from ID sections,
checking what peers send, comparing them, and the selectors they carry.

Distinguished names (DER_ASN1_DN) are written in the configuration as text,
either in the slash form ``/C=SE/O=Example/CN=host`` or comma separated,
``C=SE, O=Example, CN=host``; in both the components are listed in the order
of the encoding (the country first, as OpenSSL and strongSwan print them).
A backslash escapes a separator inside a value.
"""

from __future__ import annotations

import ipaddress
import socket

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

from .. import _core
from ..addr import mask_network
from ..constants import IdType, NotifyType, name_of
from ..sa import Selector
from .base import ExchangeFailed

_ADDR_TYPES = {IdType.IPV4_ADDR: 4, IdType.IPV6_ADDR: 16}
_NET_TYPES = {IdType.IPV4_ADDR_SUBNET: 4, IdType.IPV6_ADDR_SUBNET: 16}
_RANGE_TYPES = {IdType.IPV4_ADDR_RANGE: 4, IdType.IPV6_ADDR_RANGE: 16}
_NAME_TYPES = (IdType.FQDN, IdType.USER_FQDN)
_V6_TYPES = (IdType.IPV6_ADDR, IdType.IPV6_ADDR_SUBNET, IdType.IPV6_ADDR_RANGE)

_PROTO_NAMES = {"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58, "gre": 47,
                "esp": 50, "ah": 51}


def proto_number(text: str | int | None) -> int:
    if text is None or text == "":
        return 0
    if isinstance(text, int):
        return text
    t = text.strip().lower()
    if t.isdigit():
        return int(t)
    if t in _PROTO_NAMES:
        return _PROTO_NAMES[t]
    return socket.getprotobyname(t)


def address_id(addr: str, protocol: int = 0, port: int = 0) -> _core.ID:
    ip = ipaddress.ip_address(addr)
    t = IdType.IPV4_ADDR if ip.version == 4 else IdType.IPV6_ADDR
    return _core.ID(t, ip.packed, protocol, port)


def network_id(net: ipaddress.IPv4Network | ipaddress.IPv6Network, protocol: int = 0,
               port: int = 0) -> _core.ID:
    """ADDR for a host network (/32, /128), ADDR_SUBNET otherwise."""
    if net.prefixlen == net.max_prefixlen:
        return address_id(str(net.network_address), protocol, port)
    t = IdType.IPV4_ADDR_SUBNET if net.version == 4 else IdType.IPV6_ADDR_SUBNET
    return _core.ID(t, net.network_address.packed + net.netmask.packed, protocol, port)


def selector_id(sel: Selector) -> _core.ID:
    return network_id(sel.network, sel.protocol, sel.port)


# ------------------------------------------------------------------ DNs

#: attribute names of DN text, and the names we print
_DN_NAMES: dict[str, ObjectIdentifier] = {
    "C": NameOID.COUNTRY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "S": NameOID.STATE_OR_PROVINCE_NAME, "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME, "E": NameOID.EMAIL_ADDRESS,
    "EMAIL": NameOID.EMAIL_ADDRESS, "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT, "SN": NameOID.SURNAME,
    "GN": NameOID.GIVEN_NAME, "G": NameOID.GIVEN_NAME,
    "GIVENNAME": NameOID.GIVEN_NAME, "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "T": NameOID.TITLE, "TITLE": NameOID.TITLE, "UID": NameOID.USER_ID,
    "STREET": NameOID.STREET_ADDRESS, "POSTALCODE": NameOID.POSTAL_CODE,
    "PSEUDONYM": NameOID.PSEUDONYM, "DNQUALIFIER": NameOID.DN_QUALIFIER,
    "INITIALS": NameOID.INITIALS, "GENERATIONQUALIFIER": NameOID.GENERATION_QUALIFIER,
}
_DN_PRINT = {NameOID.COUNTRY_NAME: "C", NameOID.STATE_OR_PROVINCE_NAME: "ST",
             NameOID.LOCALITY_NAME: "L", NameOID.ORGANIZATION_NAME: "O",
             NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.COMMON_NAME: "CN",
             NameOID.EMAIL_ADDRESS: "E", NameOID.DOMAIN_COMPONENT: "DC",
             NameOID.SURNAME: "SN", NameOID.GIVEN_NAME: "GN",
             NameOID.SERIAL_NUMBER: "serialNumber", NameOID.TITLE: "T",
             NameOID.USER_ID: "UID", NameOID.STREET_ADDRESS: "street",
             NameOID.POSTAL_CODE: "postalCode"}
_PRINT_OIDS = {oid.dotted_string: name for oid, name in _DN_PRINT.items()}


def _split_escaped(text: str, seps: str) -> list[str]:
    out, cur, esc = [], [], False
    for ch in text:
        if esc:
            cur.append(ch)
            esc = False
        elif ch == "\\":
            esc = True
        elif ch in seps:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if esc:
        raise ValueError("DN ends with a lone backslash")
    out.append("".join(cur))
    return out


def dn_components(text: str) -> list[tuple[ObjectIdentifier, str]]:
    """The (attribute, value) pairs of a DN in text, in encoding order.
    ValueError names what is wrong."""
    t = text.strip()
    if not t:
        raise ValueError("empty distinguished name")
    parts = _split_escaped(t[1:], "/") if t.startswith("/") else \
        _split_escaped(t, ",;")
    out = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{part!r} is not NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        k = key.strip()
        oid = _DN_NAMES.get(k.upper())
        if oid is None:
            if not all(c.isdigit() or c == "." for c in k) or "." not in k:
                raise ValueError(f"unknown DN attribute {k!r}")
            oid = ObjectIdentifier(k)
        if not value:
            raise ValueError(f"{k}= has no value")
        out.append((oid, value))
    if not out:
        raise ValueError("empty distinguished name")
    return out


def dn_to_der(text: str) -> bytes:
    """The DER of a DN written as text (ValueError if it is not one)."""
    try:
        attrs = [x509.NameAttribute(oid, value) for oid, value in dn_components(text)]
        return x509.Name(attrs).public_bytes()
    except ValueError as e:
        raise ValueError(f"distinguished name {text.strip()!r}: {e}") from None


class _Der:
    """A strict reader of the few DER shapes a Name is made of."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def tlv(self, pos: int, end: int) -> tuple[int, int, int]:
        """(tag, value start, value end) of the element at ``pos``."""
        d = self.data
        if pos + 2 > end:
            raise ValueError("truncated")
        tag, first = d[pos], d[pos + 1]
        pos += 2
        if first < 0x80:
            n = first
        else:
            k = first & 0x7F
            if k == 0 or k > 4 or pos + k > end:
                raise ValueError("bad length")
            n = int.from_bytes(d[pos:pos + k], "big")
            if n < 0x80 or d[pos] == 0:
                raise ValueError("length not in its shortest form")
            pos += k
        if pos + n > end:
            raise ValueError("element runs past its container")
        return tag, pos, pos + n


def _oid_text(b: bytes) -> str:
    if not b or b[-1] & 0x80:
        raise ValueError("bad OID")
    arcs, v = [], 0
    for byte in b:
        v = (v << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(v)
            v = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first] + arcs[1:]))


_STRING_CODECS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1",
                  0x12: "ascii", 0x1A: "ascii", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}


def dn_parse(der: bytes) -> list[list[tuple[str, str]]]:
    """The RDNs of a DER Name: per RDN its (dotted OID, value) pairs; values
    of non-string types come as ``#hex``. ValueError if it is not a Name."""
    r = _Der(der)
    tag, start, end = r.tlv(0, len(der))
    if tag != 0x30 or end != len(der):
        raise ValueError("not a SEQUENCE of RDNs")
    rdns = []
    pos = start
    while pos < end:
        tag, s_start, s_end = r.tlv(pos, end)
        if tag != 0x31:
            raise ValueError("RDN is not a SET")
        rdn = []
        p = s_start
        while p < s_end:
            tag, a_start, a_end = r.tlv(p, s_end)
            if tag != 0x30:
                raise ValueError("attribute is not a SEQUENCE")
            tag, o_start, o_end = r.tlv(a_start, a_end)
            if tag != 0x06:
                raise ValueError("attribute type is not an OID")
            oid = _oid_text(der[o_start:o_end])
            tag, v_start, v_end = r.tlv(o_end, a_end)
            if v_end != a_end:
                raise ValueError("trailing bytes in an attribute")
            raw = der[v_start:v_end]
            codec = _STRING_CODECS.get(tag)
            if codec is None:
                value = "#" + der[o_end:v_end].hex()
            else:
                value = raw.decode(codec)
            rdn.append((oid, value))
            p = a_end
        if not rdn:
            raise ValueError("empty RDN")
        rdns.append(rdn)
        pos = s_end
    return rdns


def dn_text(der: bytes) -> str:
    """A DER Name as ``C=SE, O=Example, CN=host`` (ValueError if malformed)."""
    parts = []
    for rdn in dn_parse(der):
        parts.append("+".join(
            f"{_PRINT_OIDS.get(oid, oid)}={_escape(v)}" for oid, v in rdn))
    return ", ".join(parts)


def _escape(v: str) -> str:
    return "".join("\\" + c if c in ",;/+\\" else c for c in v)


def _dn_key(der: bytes) -> list[list[tuple[str, str]]]:
    return [sorted((oid, " ".join(v.split()).casefold()) for oid, v in rdn)
            for rdn in dn_parse(der)]


def same_dn(a: bytes, b: bytes) -> bool:
    """Two DER Names name the same entity (string types and case aside)."""
    if a == b:
        return True
    try:
        return _dn_key(a) == _dn_key(b)
    except (ValueError, UnicodeDecodeError):
        return False


# ------------------------------------------------------------------ building

def spec_id(spec, default_addr: str, phase1: bool = False) -> _core.ID:
    """The ID payload of a configured ID section (``spec``: an
    :class:`~isakmpd.conf.model.IdSpec`; None: ``default_addr``).
    ExchangeFailed names what cannot be sent."""
    if spec is None:
        return address_id(default_addr)
    t = spec.id_type
    where = f"ID section [{spec.section}]" if spec.section else "ID"
    try:
        if t in _ADDR_TYPES:
            addr = ipaddress.ip_address(spec.address or default_addr)
            if (addr.version == 6) != (t == IdType.IPV6_ADDR):
                raise ValueError(f"{addr} is not an address of type "
                                 f"{name_of(IdType, t)}")
            return _core.ID(t, addr.packed, spec.protocol, spec.port)
        if t in _NET_TYPES:
            net = mask_network(spec.address, spec.mask_or_end, strict=False)
            if (net.version == 6) != (t in _V6_TYPES):
                raise ValueError("address family does not match the ID type")
            return _core.ID(t, net.network_address.packed + net.netmask.packed,
                            spec.protocol, spec.port)
        if t in _RANGE_TYPES:
            lo = ipaddress.ip_address(spec.address)
            hi = ipaddress.ip_address(spec.mask_or_end)
            if lo.version != hi.version or (lo.version == 6) != (t in _V6_TYPES):
                raise ValueError("address family does not match the ID type")
            return _core.ID(t, lo.packed + hi.packed, spec.protocol, spec.port)
        if t in _NAME_TYPES or t == IdType.KEY_ID:
            name = (spec.name or "").strip()
            if not name:
                raise ValueError("no Name")
            try:
                data = name.encode("ascii") if t in _NAME_TYPES else name.encode()
            except UnicodeEncodeError:
                raise ValueError(f"{name!r} is not ASCII") from None
            return _core.ID(t, data, spec.protocol, spec.port)
        if t == IdType.DER_ASN1_DN:
            return _core.ID(t, dn_to_der(spec.name or ""), spec.protocol, spec.port)
    except (ValueError, TypeError) as e:
        raise ExchangeFailed(f"{where}: {e}") from None
    raise ExchangeFailed(f"{where}: ID type {name_of(IdType, t)} cannot be sent")


# ------------------------------------------------------------------ checking

def id_selector(idp: _core.ID) -> Selector:
    """The flow selector an ID payload describes (phase 2 IDs). A range is
    accepted when it is exactly one prefix: the kernel's policies select by
    prefix, and several policies for one SA are not made."""
    t, data = idp.id_type, idp.data
    try:
        if t in _ADDR_TYPES:
            if len(data) != _ADDR_TYPES[t]:
                raise ValueError("address length")
            net = ipaddress.ip_network(ipaddress.ip_address(data))
        elif t in _NET_TYPES:
            n = _NET_TYPES[t]
            if len(data) != 2 * n:
                raise ValueError("subnet length")
            addr = ipaddress.ip_address(data[:n])
            net = mask_network(addr, ipaddress.ip_address(data[n:]), strict=False)
            if net.network_address != addr:
                raise ValueError("address has host bits set")
        elif t in _RANGE_TYPES:
            lo, hi = _range(t, data)
            nets = list(ipaddress.summarize_address_range(lo, hi))
            if len(nets) != 1:
                raise ValueError(f"range {lo}-{hi} is not one prefix (only ranges "
                                 "that are one subnet can become kernel policies)")
            net = nets[0]
        else:
            raise ValueError(f"ID type {name_of(IdType, t)} is not an address")
    except ValueError as e:
        raise ExchangeFailed(f"bad {name_of(IdType, t)} ID: {e}",
                             NotifyType.INVALID_ID_INFORMATION) from None
    return Selector(net, idp.protocol, idp.port)


def _range(t: int, data: bytes):
    n = _RANGE_TYPES[t]
    if len(data) != 2 * n:
        raise ValueError("range length")
    lo = ipaddress.ip_address(data[:n])
    hi = ipaddress.ip_address(data[n:])
    if lo > hi:
        raise ValueError(f"range {lo}-{hi} ends before it starts")
    return lo, hi


def check_id(idp: _core.ID) -> None:
    """A peer's phase-1 ID must be well formed (ExchangeFailed
    INVALID_ID_INFORMATION naming the problem)."""
    t, data = idp.id_type, idp.data
    try:
        if t in _ADDR_TYPES or t in _NET_TYPES:
            id_selector(idp)
        elif t in _RANGE_TYPES:
            _range(t, data)
        elif t in _NAME_TYPES:
            if not data or any(b < 0x21 or b > 0x7E for b in data):
                raise ValueError("not a printable ASCII name")
        elif t == IdType.DER_ASN1_DN:
            dn_parse(data)
        elif t == IdType.KEY_ID:
            if not data:
                raise ValueError("empty")
        else:
            raise ValueError("type not supported")
    except (ValueError, UnicodeDecodeError) as e:
        raise ExchangeFailed(f"malformed {name_of(IdType, t)} ID "
                             f"({data[:64].hex()}): {e}",
                             NotifyType.INVALID_ID_INFORMATION) from None


def same_id(a: _core.ID, b: _core.ID) -> bool:
    """Two IDs name the same thing: DNs component-wise, names without regard
    to case, everything else byte for byte (protocol and port included)."""
    if a.id_type != b.id_type or (a.protocol, a.port) != (b.protocol, b.port):
        return False
    if a.id_type == IdType.DER_ASN1_DN:
        return same_dn(a.data, b.data)
    if a.id_type in _NAME_TYPES:
        return a.data.lower() == b.data.lower()
    return a.data == b.data


def section_name(idp: _core.ID) -> str | None:
    """The section name an ID is looked up under (isakmpd's Initiator-ID
    sections for pre-shared keys): the address, or the name."""
    t, data = idp.id_type, idp.data
    if t in _ADDR_TYPES and len(data) == _ADDR_TYPES[t]:
        return str(ipaddress.ip_address(data))
    if t in _NAME_TYPES or t == IdType.KEY_ID:
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            return None
        if text and text.isprintable() and "]" not in text:
            return text
    return None


def describe(id_type: int, data: bytes, protocol: int = 0, port: int = 0) -> str:
    """An ID for logs and reports."""
    text = f"{data.hex()}"
    try:
        if id_type in _ADDR_TYPES:
            id_selector(_core.ID(id_type, data))  # checks the length
            text = str(ipaddress.ip_address(data))
        elif id_type in _NET_TYPES:
            text = str(id_selector(_core.ID(id_type, data)).network)
        elif id_type in _RANGE_TYPES:
            lo, hi = _range(id_type, data)
            text = f"{lo}-{hi}"
        elif id_type in _NAME_TYPES:
            text = data.decode("ascii", "replace")
        elif id_type == IdType.DER_ASN1_DN:
            text = dn_text(data)
    except (ExchangeFailed, ValueError, UnicodeDecodeError):
        pass
    out = f"{name_of(IdType, id_type)} {text}"
    if protocol:
        out += f" proto {protocol}"
    if port:
        out += f" port {port}"
    return out
