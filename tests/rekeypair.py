"""Helpers for the rekey and ACQUIRE engine tests: short-lived suites and
transforms, and a model of each node's kernel that follows the engine's
events in time, so that a test can ask whether traffic would pass at each
moment (as Linux does it: the newest outbound SA of a flow carries the
traffic, and a packet is taken if its SPI is one of the receiver's inbound
SAs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from enginepair import Network, Node
from isakmpd.acquire import InstallTrap, RemoveTrap
from isakmpd.engine import InstallSA, ReleaseSPI, RemoveSA
from isakmpd.lifecycle import InstallInbound
from isakmpd.sa import IpsecSA

SHORT_P2 = """
[SHORT-SUITE]
Protocols= SHORT-ESP

[SHORT-ESP]
PROTOCOL_ID= IPSEC_ESP
Transforms= SHORT-XF

[SHORT-XF]
TRANSFORM_ID= AES
KEY_LENGTH= 128
ENCAPSULATION_MODE= TUNNEL
AUTHENTICATION_ALGORITHM= HMAC_SHA
GROUP_DESCRIPTION= MODP_2048
Life= SHORT-LIFE

[SHORT-LIFE]
LIFE_TYPE= SECONDS
LIFE_DURATION= {p2},10:86400
"""

SHORT_P1 = """
[P1-SHORT]
ENCRYPTION_ALGORITHM= AES_CBC
KEY_LENGTH= 128
HASH_ALGORITHM= SHA
AUTHENTICATION_METHOD= PRE_SHARED
GROUP_DESCRIPTION= MODP_2048
Life= P1-LIFE

[P1-LIFE]
LIFE_TYPE= SECONDS
LIFE_DURATION= {p1},10:86400
"""


def short(p2: int = 30, p1: int | None = None) -> dict:
    """peer_conf arguments for phase-2 SAs of ``p2`` seconds (and ISAKMP SAs
    of ``p1`` seconds)."""
    kw = {"suites": "SHORT-SUITE", "extra": SHORT_P2.format(p2=p2)}
    if p1 is not None:
        kw["transforms"] = "P1-SHORT"
        kw["extra"] += SHORT_P1.format(p1=p1)
    return kw


@dataclass
class KernelModel:
    """What one node's kernel would hold, following its events."""

    node: Node
    seen: int = 0
    #: SAs whose inbound half is in: id -> SA
    inbound: dict[int, IpsecSA] = field(default_factory=dict)
    #: SAs whose outbound half is in: id -> (SA, when added)
    outbound: dict[int, tuple[IpsecSA, float]] = field(default_factory=dict)
    traps: dict[str, object] = field(default_factory=dict)
    log: list[tuple[float, str, IpsecSA | None]] = field(default_factory=list)

    def follow(self, now: float) -> None:
        for ev in self.node.events[self.seen:]:
            if isinstance(ev, InstallInbound):
                self.inbound[id(ev.sa)] = ev.sa
                self.log.append((now, "inbound", ev.sa))
            elif isinstance(ev, InstallSA):
                self.inbound[id(ev.sa)] = ev.sa
                self.outbound[id(ev.sa)] = (ev.sa, now)
                self.log.append((now, "install", ev.sa))
            elif isinstance(ev, RemoveSA):
                self.inbound.pop(id(ev.sa), None)
                self.outbound.pop(id(ev.sa), None)
                self.log.append((now, "remove", ev.sa))
            elif isinstance(ev, InstallTrap):
                self.traps[ev.trap.name] = ev.trap
            elif isinstance(ev, RemoveTrap):
                self.traps.pop(ev.trap.name, None)
            elif isinstance(ev, ReleaseSPI):
                self.log.append((now, "release", None))
        self.seen = len(self.node.events)

    def sending(self) -> IpsecSA | None:
        """The SA outbound traffic takes: the newest one added."""
        if not self.outbound:
            return None
        return max(self.outbound.values(), key=lambda v: (v[1], v[0].created))[0]

    def takes(self, spi: bytes) -> bool:
        return any(p.spi_in == spi for s in self.inbound.values() for p in s.protos)


def passes(a: KernelModel, b: KernelModel) -> bool:
    """Whether a packet from ``a`` to ``b`` would get through now."""
    sa = a.sending()
    return sa is not None and b.takes(sa.protos[0].spi_out)


def run_watching(net: Network, seconds: float, models: list[KernelModel],
                 step: float = 0.1) -> list[tuple[float, str]]:
    """Advance ``seconds`` in ``step``s; returns the moments when traffic
    would not pass, each way ("west->east" or "east->west")."""
    w, e = models
    gaps = []
    end = net.now + seconds
    while net.now < end - 1e-9:
        net.advance(min(step, end - net.now))
        for m in models:
            m.follow(net.now)
        if not passes(w, e):
            gaps.append((net.now, "west->east"))
        if not passes(e, w):
            gaps.append((net.now, "east->west"))
    return gaps
