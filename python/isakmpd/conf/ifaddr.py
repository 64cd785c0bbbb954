"""Addresses in the configuration: literals, interface names and ``default``.

isakmpd lets an ID's Address, Network and Netmask name an interface (its
address, or its netmask) or say ``default`` (the interface carrying the
default route). Linux gives these through /proc and two ioctls.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: how many times :func:`resolve` looked at an interface (not a literal): a
#: view built with such a lookup is not cached (the address may change)
lookups = 0


def literal(text: str, family: int = 0) -> Address | None:
    """``text`` as an IP address (of ``family`` if given), or None."""
    try:
        a = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if family == socket.AF_INET and a.version != 4:
        return None
    if family == socket.AF_INET6 and a.version != 6:
        return None
    return a


def _default_iface(family: int) -> str | None:
    try:
        if family == socket.AF_INET6:
            with open("/proc/net/ipv6_route") as f:
                for line in f:
                    p = line.split()
                    if len(p) >= 10 and p[0] == "0" * 32 and p[1] == "00":
                        return p[9]
            return None
        with open("/proc/net/route") as f:
            next(f, None)
            for line in f:
                p = line.split()
                if len(p) >= 8 and p[1] == "00000000" and p[7] == "00000000":
                    return p[0]
    except OSError:
        return None
    return None


def _ioctl_v4(iface: str, request: int) -> Address | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("16s16x", iface.encode()[:15])
        res = fcntl.ioctl(s.fileno(), request, req)
    except OSError:
        return None
    finally:
        s.close()
    return ipaddress.IPv4Address(res[20:24])


def _v6_of(iface: str, netmask: bool) -> Address | None:
    """The interface's IPv6 address (global scope preferred), or its mask."""
    best: tuple[int, str, int] | None = None
    try:
        with open("/proc/net/if_inet6") as f:
            for line in f:
                p = line.split()
                if len(p) < 6 or p[5] != iface:
                    continue
                scope = int(p[3], 16)
                rank = 0 if scope == 0 else 1  # global first, link-local last
                if best is None or rank < best[0]:
                    best = (rank, p[0], int(p[2], 16))
    except (OSError, ValueError):
        return None
    if best is None:
        return None
    if netmask:
        return ipaddress.IPv6Network(f"::/{best[2]}").netmask
    return ipaddress.IPv6Address(bytes.fromhex(best[1]))


def resolve(text: str, family: int, netmask: bool = False) -> Address | None:
    """An address from a literal, an interface name or ``default``; with
    ``netmask`` the interface's netmask instead of its address. ``family``
    0 means IPv4 for names, as isakmpd's default. None if nothing fits."""
    global lookups
    a = literal(text, family)
    if a is not None:
        return a
    lookups += 1
    name = text.strip()
    if not name or "/" in name or len(name) > 15:
        return None
    fam = family or socket.AF_INET
    if name == "default":
        iface = _default_iface(fam)
        if iface is None:
            return None
        name = iface
    if fam == socket.AF_INET6:
        return _v6_of(name, netmask)
    return _ioctl_v4(name, _SIOCGIFNETMASK if netmask else _SIOCGIFADDR)
