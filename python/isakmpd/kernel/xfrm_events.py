"""ACQUIRE, EXPIRE and MAPPING events from the XFRM multicast groups.

The kernel sends XFRM_MSG_ACQUIRE (group XFRMNLGRP_ACQUIRE) when a packet
matches an ipsec policy whose template has no SA, and XFRM_MSG_EXPIRE
(group XFRMNLGRP_EXPIRE) when an SA reaches a soft or hard lifetime, larval
SAs included. These are isakmpd's SADB_ACQUIRE and SADB_EXPIRE.
XFRM_MSG_MAPPING (group XFRMNLGRP_MAPPING) says that authenticated ESP in
UDP came from a new address or port: the peer's NAT changed its mapping.
"""

from __future__ import annotations

import errno
import ipaddress
import select
import socket
import struct

from .. import log
from ..errors import KernelError
from . import xfrm_conv as conv
from . import xfrm_msgs as m
from .base import AcquireEvent, EventSource, ExpireEvent, MappingEvent

RECV_SIZE = 1 << 16
_marshal = m.XfrmMarshal()
XFRM_MSG_MAPPING = 0x26
XFRMNLGRP_MAPPING = 8
#: struct xfrm_user_mapping: xfrm_usersa_id (daddr, spi, family, proto),
#: reqid, old_saddr, new_saddr, old_sport, new_sport
_MAPPING = struct.Struct("=16s4sHBxI16s16s2s2s")
_NLMSGHDR = struct.Struct("=IHHII")


def _address(raw: bytes, family: int) -> str:
    if family == socket.AF_INET:
        return str(ipaddress.IPv4Address(raw[:4]))
    if family == socket.AF_INET6:
        return str(ipaddress.IPv6Address(raw))
    raise ValueError(f"address family {family}")


def decode_mapping(body: bytes) -> MappingEvent:
    """The body of one XFRM_MSG_MAPPING (ValueError if it is not one)."""
    if len(body) < _MAPPING.size:
        raise ValueError(f"XFRM_MSG_MAPPING of {len(body)} bytes")
    daddr, spi, family, proto, reqid, old, new, osport, nsport = _MAPPING.unpack_from(
        body)
    return MappingEvent(
        proto=proto, spi=int.from_bytes(spi, "big"), dst=_address(daddr, family),
        reqid=reqid, old_src=_address(old, family),
        old_sport=int.from_bytes(osport, "big"), new_src=_address(new, family),
        new_sport=int.from_bytes(nsport, "big"))


def _mappings(data: bytes) -> list[MappingEvent]:
    """The MAPPING messages of a netlink datagram (others are left alone)."""
    out = []
    pos = 0
    while pos + _NLMSGHDR.size <= len(data):
        length, kind = _NLMSGHDR.unpack_from(data, pos)[:2]
        if length < _NLMSGHDR.size or pos + length > len(data):
            break
        if kind == XFRM_MSG_MAPPING:
            try:
                out.append(decode_mapping(data[pos + _NLMSGHDR.size:pos + length]))
            except ValueError as e:
                log.logger(log.Cls.SYSDEP).warning("unusable XFRM_MSG_MAPPING: %s", e)
        pos += (length + 3) & ~3
    return out


def decode_events(data: bytes) -> list[AcquireEvent | ExpireEvent | MappingEvent]:
    """The events in one netlink datagram; other messages are ignored.

    A message that cannot be read is logged and skipped, never raised.
    """
    events: list[AcquireEvent | ExpireEvent | MappingEvent] = []
    events.extend(_mappings(bytes(data)))
    try:
        messages = list(_marshal.parse(bytes(data)))
    except Exception as e:
        log.logger(log.Cls.SYSDEP).warning("unreadable XFRM event datagram: %r", e)
        return events
    for msg in messages:
        header = msg.get("header") or {}
        kind = header.get("type")
        if kind not in (m.XFRM_MSG_ACQUIRE, m.XFRM_MSG_EXPIRE):
            continue
        if header.get("error") is not None:
            log.logger(log.Cls.SYSDEP).warning(
                "unreadable XFRM_MSG_%s: %r", m.MSG_NAMES[kind], header["error"]
            )
            continue
        try:
            if kind == m.XFRM_MSG_ACQUIRE:
                events.append(conv.acquire_from(msg))
            else:
                events.append(conv.expire_from(msg))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            log.logger(log.Cls.SYSDEP).warning(
                "unusable XFRM_MSG_%s: %r", m.MSG_NAMES[kind], e
            )
    return events


class XfrmEvents(EventSource):
    """A non-blocking netlink socket in the ACQUIRE and EXPIRE groups, and
    with ``mapping`` the MAPPING group too.

    ``lost`` counts the times the kernel dropped events because the socket
    buffer was full (ENOBUFS).
    """

    # TODO(NAT mapping events in the daemon): XfrmBackend.events() leaves
    # MAPPING out until the privilege-separation monitor passes it on (its
    # event_to_wire knows ACQUIRE and EXPIRE only); the engine takes them
    # (Engine.kernel_event), and IKE messages from the new port do the same
    def __init__(self, rcvbuf: int = 1 << 20, mapping: bool = False) -> None:
        try:
            sock = socket.socket(
                socket.AF_NETLINK,
                socket.SOCK_RAW | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK,
                m.NETLINK_XFRM,
            )
        except OSError as e:
            raise KernelError(
                f"cannot open an XFRM event socket: {e.strerror}", e.errno or 0
            ) from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.bind((0, 0))
            groups = [m.XFRMNLGRP_ACQUIRE, m.XFRMNLGRP_EXPIRE]
            if mapping:
                groups.append(XFRMNLGRP_MAPPING)
            for group in groups:
                sock.setsockopt(m.SOL_NETLINK, m.NETLINK_ADD_MEMBERSHIP, group)
        except OSError as e:
            sock.close()
            raise KernelError(
                f"cannot join the XFRM event groups: {e.strerror}", e.errno or 0
            ) from None
        self._sock = sock
        self.lost = 0

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self) -> list[AcquireEvent | ExpireEvent | MappingEvent]:
        events: list[AcquireEvent | ExpireEvent | MappingEvent] = []
        while True:
            try:
                data, (sender, _) = self._sock.recvfrom(RECV_SIZE)
            except BlockingIOError:
                return events
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    self.lost += 1
                    log.logger(log.Cls.SYSDEP).warning(
                        "XFRM event socket overran: ACQUIRE/EXPIRE events were lost"
                    )
                    continue
                raise KernelError(
                    f"XFRM event socket: {e.strerror}", e.errno or 0
                ) from None
            if sender == 0:  # only the kernel speaks on these groups
                events.extend(decode_events(data))

    def wait(self, timeout: float) -> list[AcquireEvent | ExpireEvent | MappingEvent]:
        """Block up to ``timeout`` seconds for events (for tools and tests)."""
        ready, _, _ = select.select([self._sock], [], [], timeout)
        return self.read() if ready else []

    def close(self) -> None:
        self._sock.close()
