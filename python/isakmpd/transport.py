"""UDP sockets for IKE: the listen port (500), the NAT-T port (4500) and an
optional port for initiated exchanges (``-P``).

Wildcard sockets learn each datagram's destination address from IP_PKTINFO /
IPV6_PKTINFO and answer from that same address, so the daemon works on every
address of the host without knowing them in advance. ``Listen-on`` binds
given addresses instead.

On the NAT-T port, IKE messages carry a four-byte zero non-ESP marker; a
single 0xff byte is a NAT-T keepalive; anything else there is ESP the kernel
did not take.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import struct
import time
from typing import Callable

from . import log
from .constants import NATT_KEEPALIVE, NON_ESP_MARKER
from .log import Cls
from .loglimit import LogLimiter
from .sa import Addr

IP_PKTINFO = 8
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
UDP_ENCAP = 100
UDP_ENCAP_ESPINUDP = 2
MAX_DATAGRAM = 65535

Receiver = Callable[[bytes, Addr, Addr], None]

_log = log.logger(Cls.TRANSPORT)
#: sending fails per datagram: a flood of forged, unreachable sources must
#: not flood the log too
_send_limit = LogLimiter()


def _norm(host: str) -> str:
    """IPv4-mapped IPv6 addresses as plain IPv4."""
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return host
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


#: seconds one readiness callback may spend on received messages
READ_BUDGET = 0.02

#: receive buffer of an IKE socket: a burst from thousands of peers (or a
#: daemon busy for a moment) must not overflow the kernel's default 208 KiB
RECEIVE_BUFFER = 4 << 20
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def _grow_receive_buffer(s: socket.socket) -> None:
    """RECEIVE_BUFFER bytes: beyond net.core.rmem_max when we may
    (CAP_NET_ADMIN), else as much of it as rmem_max allows."""
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
    except OSError:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        except OSError:
            pass  # the default then


def bind_udp(family: int, address: str, port: int, natt: bool,
             bypass: Callable[[socket.socket], None] | None = None) -> socket.socket:
    """A non-blocking UDP socket for IKE, bound to ``address`` and ``port``:
    packet info on (the local address of each datagram), IPv6 only on an
    IPv6 socket, ``bypass`` (the kernel backend's IKE bypass policy) and,
    on the NAT-T port, UDP_ENCAP so that the kernel takes ESP in UDP.
    The privileged parent of a separated daemon makes them so too."""
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        # no SO_REUSEADDR: on Linux it lets a second daemon bind the same
        # UDP port and take half of the traffic
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        else:
            s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        _grow_receive_buffer(s)
        if bypass is not None:
            bypass(s)
        try:
            s.bind((address, port))
        except OSError as e:
            raise OSError(e.errno, f"cannot bind {address} port {port}: "
                          f"{e.strerror}") from None
        if natt:
            try:
                s.setsockopt(socket.IPPROTO_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP)
            except OSError as e:
                _log.warning("UDP_ENCAP on %s:%d failed (%s): the kernel will "
                             "not decapsulate ESP in UDP", address, port,
                             e.strerror)
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


#: makes the bound socket of (family, address, port, natt): bind_udp, or a
#: request to the privileged parent
Binder = Callable[[int, str, int, bool], socket.socket]


class UdpSocket:
    """One bound UDP socket feeding ``receiver(data, local, remote)``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, family: int, address: str,
                 port: int, natt: bool, receiver: Receiver,
                 bypass: Callable[[socket.socket], None] | None = None,
                 sock: socket.socket | None = None) -> None:
        """``sock``: a socket already bound and set up (see :func:`bind_udp`)."""
        self.loop = loop
        self.family = family
        self.address = address
        self.port = port
        self.natt = natt
        self.receiver = receiver
        self.wildcard = address in ("0.0.0.0", "::")
        self.sock = sock if sock is not None else bind_udp(family, address, port,
                                                           natt, bypass)
        loop.add_reader(self.sock.fileno(), self._readable)

    def close(self) -> None:
        try:
            self.loop.remove_reader(self.sock.fileno())
        except (ValueError, OSError):
            pass
        self.sock.close()

    def _readable(self) -> None:
        # bounded in count and time, so that timers, signals, the FIFO and the
        # other sockets get their turn even when each message costs much
        # (a flood of Main Mode message 3s in MODP-8192)
        until = time.monotonic() + READ_BUDGET
        for _ in range(64):
            if time.monotonic() > until:
                return
            try:
                data, anc, _flags, src = self.sock.recvmsg(MAX_DATAGRAM, 256)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
                    continue
                _log.warning("receive on port %d: %s", self.port, e)
                return
            local_host = self.address
            for level, typ, cdata in anc:
                if level == socket.IPPROTO_IP and typ == IP_PKTINFO and len(cdata) >= 12:
                    local_host = socket.inet_ntop(socket.AF_INET, cdata[8:12])
                elif (level == socket.IPPROTO_IPV6 and typ == IPV6_PKTINFO
                      and len(cdata) >= 16):
                    local_host = socket.inet_ntop(socket.AF_INET6, cdata[:16])
            remote = (_norm(src[0]), src[1])
            local = (_norm(local_host), self.port)
            if self.natt:
                if data == NATT_KEEPALIVE:
                    log.debug(Cls.TRANSPORT, 90, f"NAT-T keepalive from {remote[0]}")
                    continue
                if not data.startswith(NON_ESP_MARKER):
                    log.debug(Cls.TRANSPORT, 50,
                              f"ESP from {remote[0]}:{remote[1]} reached the daemon "
                              "(the kernel did not decapsulate it); dropped")
                    continue
                data = data[4:]
            if log.enabled(Cls.TRANSPORT, 70):
                log.debug(Cls.TRANSPORT, 70, f"received {len(data)} bytes from "
                          f"{remote[0]}:{remote[1]} on {local[0]}:{local[1]}")
            self.receiver(data, local, remote)

    def send(self, data: bytes, local_host: str, remote: Addr,
             raw: bool = False) -> None:
        """Send ``data``; on the NAT-T port with the non-ESP marker, unless
        ``raw`` or a keepalive (one 0xff byte, never an IKE message)."""
        if self.natt and not raw and data != NATT_KEEPALIVE:
            data = NON_ESP_MARKER + data
        anc = []
        if self.wildcard and local_host:
            try:
                if self.family == socket.AF_INET:
                    spec = socket.inet_pton(socket.AF_INET, local_host)
                    anc = [(socket.IPPROTO_IP, IP_PKTINFO,
                            struct.pack("i4s4s", 0, spec, b"\0" * 4))]
                else:
                    spec = socket.inet_pton(socket.AF_INET6, local_host)
                    anc = [(socket.IPPROTO_IPV6, IPV6_PKTINFO, spec + struct.pack("I", 0))]
            except OSError:
                anc = []
        try:
            self.sock.sendmsg([data], anc, 0, remote)
        except OSError as e:
            _send_limit.warning(_log, "send", time.monotonic(), "send to %s:%d failed: %s",
                                remote[0], remote[1], e.strerror)


class Transport:
    """All the daemon's IKE sockets, chosen by local port and family."""

    def __init__(self, loop: asyncio.AbstractEventLoop, receiver: Receiver,
                 bypass: Callable[[socket.socket], None] | None = None,
                 binder: Binder | None = None) -> None:
        """``binder``: where bound sockets come from (default: bind here)."""
        self.loop = loop
        self.receiver = receiver
        self.bypass = bypass
        self.binder = binder
        self.sockets: list[UdpSocket] = []

    def open(self, addresses: list[str], ports: list[tuple[int, bool]]) -> None:
        for addr in addresses:
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            for port, natt in ports:
                sock = (self.binder(family, addr, port, natt)
                        if self.binder is not None else None)
                self.sockets.append(UdpSocket(self.loop, family, addr, port, natt,
                                              self.receiver, self.bypass, sock))
                _log.info("listening on %s port %d%s", addr, port,
                          " (NAT-T)" if natt else "")

    def send(self, data: bytes, local: Addr, remote: Addr, raw: bool = False) -> None:
        family = socket.AF_INET6 if ":" in remote[0] else socket.AF_INET
        best = None
        for s in self.sockets:
            if s.family != family or s.port != local[1]:
                continue
            if s.address == local[0]:
                best = s
                break
            if s.wildcard and best is None:
                best = s
        if best is None:
            _log.warning("no socket for %s port %d to reach %s", local[0], local[1],
                         remote[0])
            return
        best.send(data, local[0], remote, raw)

    def close(self) -> None:
        for s in self.sockets:
            s.close()
        self.sockets.clear()


def route_source(remote: str) -> str:
    """The address the kernel would send from to reach ``remote``."""
    family = socket.AF_INET6 if ":" in remote else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.connect((remote, 9))
            return _norm(s.getsockname()[0])
        except OSError:
            return "::" if family == socket.AF_INET6 else "0.0.0.0"
