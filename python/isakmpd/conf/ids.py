"""Phase1-ID and IPsec-ID sections as :class:`~.spec.IdSpec`.

Tags: ID-type; Address (IPV4/IPV6_ADDR, and the first address of a range);
Network and Netmask (*_SUBNET); End-address (the last address of a range,
our addition: isakmpd cannot configure ranges); Name (FQDN, USER_FQDN,
DER_ASN1_DN, DER_ASN1_GN, KEY_ID); Protocol (number or name such as
``tcp``) and Port (number or service name, read only with a Protocol, as
isakmpd does).

Address, Network and Netmask may also name an interface, or say
``default`` for the interface of the default route; they are looked up
when the view is built (see :mod:`.ifaddr`). A Netmask may be a prefix
length.
"""

from __future__ import annotations

import ipaddress
import socket

from ..addr import mask_network
from ..constants import IdType
from ..errors import ConfigError
from . import ifaddr
from .spec import IdSpec
from .store import _View

_V4 = (IdType.IPV4_ADDR, IdType.IPV4_ADDR_SUBNET, IdType.IPV4_ADDR_RANGE)
_V6 = (IdType.IPV6_ADDR, IdType.IPV6_ADDR_SUBNET, IdType.IPV6_ADDR_RANGE)
_NAMED = (IdType.FQDN, IdType.USER_FQDN, IdType.DER_ASN1_DN, IdType.DER_ASN1_GN,
          IdType.KEY_ID)
_SERVICES = {"isakmp": 500, "ipsec-nat-t": 4500}


def protocol_number(text: str) -> int:
    """A protocol number or name (``tcp``); ValueError if unknown."""
    t = text.strip()
    if t.isdigit():
        n = int(t)
    else:
        try:
            n = socket.getprotobyname(t)
        except OSError:
            n = {"ip": 0, "icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "esp": 50,
                 "ah": 51, "ipv6-icmp": 58, "sctp": 132}.get(t.lower(), -1)
    if not 0 <= n <= 255:
        raise ValueError(f"unknown protocol {t!r}")
    return n


def port_number(text: str, protocol: str | None = None) -> int:
    """A port number or service name; ValueError if unknown."""
    t = text.strip()
    if t.isdigit():
        n = int(t)
    elif t.lower() in _SERVICES:
        n = _SERVICES[t.lower()]
    else:
        try:
            n = socket.getservbyname(t, protocol) if protocol else \
                socket.getservbyname(t)
        except OSError:
            n = -1
    if not 0 <= n <= 65535:
        raise ValueError(f"unknown port {t!r}")
    return n


def _err(conf: _View, section: str, tag: str | None, reason: str) -> ConfigError:
    return conf.error(section, tag, f"[{section}] {reason}")


def _address(conf: _View, section: str, tag: str, family: int, required: bool,
             netmask: bool = False) -> str | None:
    value = conf.get(section, tag)
    if value is None:
        if required:
            raise _err(conf, section, None, f"has no {tag}")
        return None
    if netmask and value.strip().isdigit():
        bits = int(value.strip())
        width = 32 if family == socket.AF_INET else 128
        if bits > width:
            raise _err(conf, section, tag, f"{tag}: prefix length {bits} > {width}")
        net = ipaddress.ip_network(f"{'0.0.0.0' if width == 32 else '::'}/{bits}")
        return str(net.netmask)
    a = ifaddr.resolve(value, family, netmask)
    if a is None:
        what = "IPv4" if family == socket.AF_INET else "IPv6"
        raise _err(conf, section, tag, f"{tag}: {value.strip()!r} is not an {what} "
                   "address, an interface with one, or 'default'")
    return str(a)


def id_spec(conf: _View, section: str, phase1: bool = False) -> IdSpec:
    """Read an ID section. ``phase1``: an IPV4/IPV6_ADDR ID may leave out
    Address (isakmpd then sends the address it negotiates from)."""
    if not conf.has_section(section):
        raise ConfigError(f"ID section [{section}] does not exist")
    type_text = conf.get(section, "ID-type")
    if type_text is None:
        raise _err(conf, section, None, "has no ID-type")
    try:
        id_type = IdType.parse(type_text)
    except ValueError:
        raise _err(conf, section, "ID-type",
                   f"ID-type: unknown ID type {type_text.strip()!r}") from None
    family = socket.AF_INET if id_type in _V4 else socket.AF_INET6
    address = mask_or_end = name = None
    if id_type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR):
        address = _address(conf, section, "Address", family, not phase1)
    elif id_type in (IdType.IPV4_ADDR_SUBNET, IdType.IPV6_ADDR_SUBNET):
        address = _address(conf, section, "Network", family, True)
        mask_or_end = _address(conf, section, "Netmask", family, True, netmask=True)
        try:
            net = mask_network(address, mask_or_end, strict=False)
        except ValueError as e:
            raise _err(conf, section, "Netmask", f"Netmask: {e}") from None
        if str(net.network_address) != str(ipaddress.ip_address(address)):
            raise _err(conf, section, "Network",
                       f"Network {address} has host bits set for Netmask "
                       f"{mask_or_end} (did you mean {net.network_address}?)")
    elif id_type in (IdType.IPV4_ADDR_RANGE, IdType.IPV6_ADDR_RANGE):
        address = _address(conf, section, "Address", family, True)
        mask_or_end = _address(conf, section, "End-address", family, True)
        if ipaddress.ip_address(address) > ipaddress.ip_address(mask_or_end):
            raise _err(conf, section, "End-address",
                       f"End-address {mask_or_end} is before Address {address}")
    elif id_type in _NAMED:
        name = conf.get(section, "Name")
        if not name:
            raise _err(conf, section, None, "has no Name")
    protocol = port = 0
    ptext = conf.get(section, "Protocol")
    if ptext is not None:
        try:
            protocol = protocol_number(ptext)
        except ValueError as e:
            raise _err(conf, section, "Protocol", f"Protocol: {e}") from None
    port_text = conf.get(section, "Port")
    if port_text is not None and protocol:
        pname = ptext.strip().lower() if ptext and not ptext.strip().isdigit() else None
        try:
            port = port_number(port_text, pname)
        except ValueError as e:
            raise _err(conf, section, "Port", f"Port: {e}") from None
    return IdSpec(section, int(id_type), address, mask_or_end, name, protocol, port)


def id_from_address(addr: str, protocol: int = 0, port: int = 0) -> IdSpec:
    """An IPV4_ADDR or IPV6_ADDR ID for an address (no section)."""
    a = ipaddress.ip_address(addr)
    t = IdType.IPV4_ADDR if a.version == 4 else IdType.IPV6_ADDR
    return IdSpec(None, int(t), str(a), None, None, protocol, port)
