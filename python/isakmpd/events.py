"""What the engine gives the daemon besides its timers: datagrams to send
and requests for the kernel (:mod:`isakmpd.engine` re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass

from .sa import Addr, IpsecSA


@dataclass
class Datagram:
    """A message to send from ``local`` to ``remote``. Sent from the NAT-T
    port, it goes with the non-ESP marker (the daemon adds it), unless it is
    ``raw`` (a NAT-T keepalive: the one byte 0xff and nothing else)."""

    data: bytes
    local: Addr
    remote: Addr
    raw: bool = False


@dataclass
class InstallSA:
    sa: IpsecSA


@dataclass
class UpdateSA(InstallSA):
    """The peer of an installed UDP-encapsulated SA now comes from another
    port (its NAT's mapping changed; ``sa.remote`` is the new one): the
    kernel's SAs take the new encapsulation ports in place, keeping keys,
    sequence numbers and replay state. It is an InstallSA, and installing an
    SA that is installed already updates it (:class:`isakmpd.flows.FlowManager`),
    so a daemon that only knows InstallSA does the right thing."""

    old_remote: Addr = ("", 0)


@dataclass
class RemoveSA:
    sa: IpsecSA


@dataclass
class ReleaseSPI:
    protocol_id: int
    spi: bytes
    src: str
    dst: str
