"""Identification payloads (RFC 2407 4.6.2) and the selectors they carry."""

from __future__ import annotations

import ipaddress
import socket

from .. import _core
from ..constants import IdType, name_of
from ..sa import Selector
from .base import ExchangeFailed
from ..constants import NotifyType

_ADDR_TYPES = {IdType.IPV4_ADDR: 4, IdType.IPV6_ADDR: 16}
_NET_TYPES = {IdType.IPV4_ADDR_SUBNET: 4, IdType.IPV6_ADDR_SUBNET: 16}
_RANGE_TYPES = {IdType.IPV4_ADDR_RANGE: 4, IdType.IPV6_ADDR_RANGE: 16}

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


def id_selector(idp: _core.ID) -> Selector:
    """The flow selector an ID payload describes (phase 2 IDs)."""
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
            mask = ipaddress.ip_address(data[n:])
            net = ipaddress.ip_network(f"{addr}/{mask}", strict=False)
            if net.network_address != addr:
                raise ValueError("address has host bits set")
        elif t in _RANGE_TYPES:
            n = _RANGE_TYPES[t]
            if len(data) != 2 * n:
                raise ValueError("range length")
            lo = ipaddress.ip_address(data[:n])
            hi = ipaddress.ip_address(data[n:])
            nets = list(ipaddress.summarize_address_range(lo, hi))
            if len(nets) != 1:
                # TODO(ranges that are not one prefix need several policies)
                raise ValueError("range is not a single prefix")
            net = nets[0]
        else:
            raise ValueError(f"ID type {name_of(IdType, t)} is not an address")
    except ValueError as e:
        raise ExchangeFailed(f"bad {name_of(IdType, t)} ID: {e}",
                             NotifyType.INVALID_ID_INFORMATION) from None
    return Selector(net, idp.protocol, idp.port)


def describe(id_type: int, data: bytes) -> str:
    """An ID for logs and reports."""
    try:
        if id_type in _ADDR_TYPES or id_type in _NET_TYPES or id_type in _RANGE_TYPES:
            sel = id_selector(_core.ID(id_type, data))
            return f"{name_of(IdType, id_type)} {sel.network}"
        if id_type in (IdType.FQDN, IdType.USER_FQDN):
            return f"{name_of(IdType, id_type)} {data.decode('ascii', 'replace')}"
    except ExchangeFailed:
        pass
    return f"{name_of(IdType, id_type)} {data.hex()}"
