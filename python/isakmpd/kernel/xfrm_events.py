"""ACQUIRE and EXPIRE events from the XFRM multicast groups.

The kernel sends XFRM_MSG_ACQUIRE (group XFRMNLGRP_ACQUIRE) when a packet
matches an ipsec policy whose template has no SA, and XFRM_MSG_EXPIRE
(group XFRMNLGRP_EXPIRE) when an SA reaches a soft or hard lifetime, larval
SAs included. These are isakmpd's SADB_ACQUIRE and SADB_EXPIRE.
"""

from __future__ import annotations

import errno
import select
import socket

from .. import log
from ..errors import KernelError
from . import xfrm_conv as conv
from . import xfrm_msgs as m
from .base import AcquireEvent, EventSource, ExpireEvent

RECV_SIZE = 1 << 16
_marshal = m.XfrmMarshal()


def decode_events(data: bytes) -> list[AcquireEvent | ExpireEvent]:
    """The events in one netlink datagram; other messages are ignored.

    A message that cannot be read is logged and skipped, never raised.
    """
    events: list[AcquireEvent | ExpireEvent] = []
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
    """A non-blocking netlink socket in the ACQUIRE and EXPIRE groups.

    ``lost`` counts the times the kernel dropped events because the socket
    buffer was full (ENOBUFS).
    """

    def __init__(self, rcvbuf: int = 1 << 20) -> None:
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
            # TODO(NAT-T mapping changes): join XFRMNLGRP_MAPPING too, so that a
            # peer's new NAT address or port (XFRM_MSG_MAPPING) is followed.
            for group in (m.XFRMNLGRP_ACQUIRE, m.XFRMNLGRP_EXPIRE):
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

    def read(self) -> list[AcquireEvent | ExpireEvent]:
        events: list[AcquireEvent | ExpireEvent] = []
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

    def wait(self, timeout: float) -> list[AcquireEvent | ExpireEvent]:
        """Block up to ``timeout`` seconds for events (for tools and tests)."""
        ready, _, _ = select.select([self._sock], [], [], timeout)
        return self.read() if ready else []

    def close(self) -> None:
        self._sock.close()
