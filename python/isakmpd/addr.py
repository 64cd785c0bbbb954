"""Address helpers shared by the configuration and the exchanges."""

from __future__ import annotations

import ipaddress


def mask_network(addr, mask, strict: bool = True):
    """The network of an address and a netmask (either family; Python's
    ipaddress takes IPv6 masks only as prefix lengths). ValueError for a
    mask that is not contiguous or of another family, and with ``strict``
    for an address with host bits set."""
    a = ipaddress.ip_address(addr)
    m = ipaddress.ip_address(mask)
    if a.version != m.version:
        raise ValueError(f"netmask {m} does not go with address {a}")
    bits = int(m)
    width = a.max_prefixlen
    prefix = bin(bits).count("1")
    if bits != ((1 << width) - 1) ^ ((1 << (width - prefix)) - 1):
        raise ValueError(f"netmask {m} is not contiguous")
    return ipaddress.ip_network((a, prefix), strict=strict)
