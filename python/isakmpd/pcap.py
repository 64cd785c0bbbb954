"""Packet capture: IKE messages in clear, as isakmpd's ``-L``/``-l`` write them.

The file is a classic pcap file (magic a1b2c3d4 in host byte order,
version 2.4, snaplen 65536) with link type DLT_LOOP (108): each frame is a
4-byte address family in network byte order, then an IP packet. The family
values are BSD's, which Wireshark expects whatever system wrote the file:
2 for IPv4 and 24 for IPv6 (Linux's AF_INET6 is 10).

Each message is the one the daemon handled, decrypted: the engine hands
over received messages after decryption and sent ones before encryption,
with the ENC flag cleared and the length fitted to the payloads in clear.
It is wrapped in a made-up IPv4 header (the IP ID counts the frames, the
header checksum is real) or IPv6 header, and a UDP header with its
checksum computed. Messages to or from a NAT-T port carry the four zero
bytes of the non-ESP marker after the UDP header, as on the wire.
Addresses of no known family (or of two families) become 2.2.2.2 to
1.1.1.1, as in isakmpd.

An existing file is appended to, once its header shows it is a capture of
this kind; anything else is left alone.
"""

from __future__ import annotations

import ipaddress
import os
import struct
import time
from typing import BinaryIO

from .constants import NATT_PORT, NON_ESP_MARKER

MAGIC = 0xA1B2C3D4
VERSION = (2, 4)
SNAPLEN = 65536
DLT_LOOP = 108
#: BSD address families, as DLT_LOOP frames carry them
AF_INET = 2
AF_INET6 = 24
#: isakmpd's stand-in addresses for a family it cannot write
UNKNOWN_SRC, UNKNOWN_DST = "2.2.2.2", "1.1.1.1"
TTL = 64
IPPROTO_UDP = 17

_FILE_HEADER = struct.Struct("=IHHiIII")
_RECORD_HEADER = struct.Struct("=IIII")


class CaptureError(Exception):
    """The capture file cannot be opened or is not one we can append to."""


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _addresses(src: str, dst: str) -> tuple[IPAddress, IPAddress]:
    try:
        s = ipaddress.ip_address(src.split("%")[0])
        d = ipaddress.ip_address(dst.split("%")[0])
    except ValueError:
        s = d = None
    if s is None or d is None or s.version != d.version:
        return ipaddress.ip_address(UNKNOWN_SRC), ipaddress.ip_address(UNKNOWN_DST)
    return s, d


def frame(message: bytes, src: tuple[str, int], dst: tuple[str, int], ip_id: int,
          natt_ports: frozenset[int] = frozenset({NATT_PORT})) -> bytes:
    """One DLT_LOOP frame: address family, IP and UDP headers, the non-ESP
    marker where a NAT-T port is involved, and ``message``."""
    s, d = _addresses(src[0], dst[0])
    payload = message
    if src[1] in natt_ports or dst[1] in natt_ports:
        payload = NON_ESP_MARKER + message
    ulen = 8 + len(payload)
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!xBH", IPPROTO_UDP, ulen & 0xFFFF)
    else:
        pseudo = s.packed + d.packed + struct.pack("!I3xB", ulen, IPPROTO_UDP)
    udp = struct.pack("!HHHH", src[1], dst[1], ulen & 0xFFFF, 0)
    # a computed checksum of 0 is sent as 0xffff (RFC 768)
    csum = checksum(pseudo + udp + payload) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum)
    if s.version == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, (20 + ulen) & 0xFFFF,
                         ip_id & 0xFFFF, 0, TTL, IPPROTO_UDP, 0, s.packed, d.packed)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        family = AF_INET
    else:
        ip = struct.pack("!IHBB", 0x60000000, ulen & 0xFFFF, IPPROTO_UDP, TTL)
        ip += s.packed + d.packed
        family = AF_INET6
    return struct.pack("!I", family) + ip + udp + payload


def file_header() -> bytes:
    return _FILE_HEADER.pack(MAGIC, *VERSION, 0, 0, SNAPLEN, DLT_LOOP)


class PacketLog:
    """An open capture file. :meth:`write` adds one message."""

    def __init__(self, path: str, natt_ports: frozenset[int] = frozenset({NATT_PORT})
                 ) -> None:
        self.path = path
        self.natt_ports = natt_ports
        self._ip_id = 0
        self.frames = 0
        self._f: BinaryIO = self._open(path)

    @staticmethod
    def _open(path: str) -> BinaryIO:
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as e:
            raise CaptureError(f"cannot open {path}: {e.strerror}") from None
        f = os.fdopen(fd, "r+b", buffering=0)
        try:
            head = f.read(_FILE_HEADER.size)
            if not head:
                f.write(file_header())
            elif (len(head) < _FILE_HEADER.size
                  or _FILE_HEADER.unpack(head)[0] != MAGIC
                  or _FILE_HEADER.unpack(head)[6] != DLT_LOOP):
                raise CaptureError(f"{path} exists and is not a packet capture of "
                                   "this kind (pcap, DLT_LOOP): not appending to it")
        except OSError as e:
            f.close()
            raise CaptureError(f"cannot use {path}: {e.strerror}") from None
        except CaptureError:
            f.close()
            raise
        return f

    def write(self, message: bytes, src: tuple[str, int], dst: tuple[str, int],
              when: float | None = None) -> None:
        """Add ``message`` (in clear) as sent from ``src`` to ``dst``."""
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        data = frame(message, src, dst, self._ip_id, self.natt_ports)
        stamp = time.time() if when is None else when
        sec = int(stamp)
        usec = min(int((stamp - sec) * 1_000_000), 999_999)
        caplen = min(len(data), SNAPLEN)
        self._f.write(_RECORD_HEADER.pack(sec, usec, caplen, len(data)) + data[:caplen])
        self.frames += 1

    def close(self) -> None:
        self._f.close()
