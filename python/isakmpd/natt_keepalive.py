"""NAT-T keepalives (RFC 3948 2.3, 4): the NAT in front of us must keep its
mapping of our port 4500 while the SAs through it live, also when neither
IKE nor ESP has anything to say.

When phase 1 found us behind a NAT, every [General] NAT-T-Keepalive seconds
(20 by default; 0 turns them off) one datagram of the single byte 0xff goes
from our NAT-T port to the peer's: once per (local, remote) pair that an
established ISAKMP SA or an installed UDP-encapsulated IPsec SA uses. It
carries no non-ESP marker (the engine marks it ``raw``); the receiver's
kernel or daemon drops it. The side that is not behind a NAT sends none.

One timer serves every peer, so that a daemon with many SAs wakes once per
interval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import log
from .constants import NATT_KEEPALIVE
from .log import Cls
from .sa import Addr, IsakmpSA

if TYPE_CHECKING:
    from .engine import Engine
    from .timers import Timer


def _behind_nat(sa: IsakmpSA) -> bool:
    return sa.natt.local_behind_nat and sa.natt.floated


class Keepalives:
    """The keepalive timer of one engine."""

    def __init__(self, engine: "Engine") -> None:
        self.engine = engine
        self._timer: Timer | None = None
        #: keepalives sent, for reports and tests
        self.sent = 0

    def track(self, sa: IsakmpSA, now: float) -> None:
        """Phase 1 of ``sa`` is done: keep the NAT's mapping if we are
        behind one (the timer starts if it is not running)."""
        if not _behind_nat(sa) or self._timer is not None:
            return
        interval = self.engine.general.nat_t_keepalive
        if interval <= 0:
            log.debug(Cls.TRANSPORT, 20, "NAT-T keepalives off (NAT-T-Keepalive=0)")
            return
        self._timer = self.engine.timers.schedule(now + interval, self._fire,
                                                  "nat_t_send_keepalive")

    def endpoints(self) -> list[tuple[Addr, Addr]]:
        """(local, remote) of every live SA behind a NAT of ours."""
        out: dict[tuple[Addr, Addr], None] = {}
        for sa in self.engine.table.isakmp_sas():
            if sa.established and _behind_nat(sa):
                out[(sa.local, sa.remote)] = None
        for ipsec in self.engine.table.ipsec_sas():
            isakmp = ipsec.isakmp
            if ipsec.state == "installed" and ipsec.udp_encap and _behind_nat(isakmp):
                out[(isakmp.local, isakmp.remote)] = None
        return list(out)

    def _fire(self, now: float) -> None:
        self._timer = None
        interval = self.engine.general.nat_t_keepalive
        if interval <= 0 or self.engine.shutting_down:
            return
        ends = self.endpoints()
        for local, remote in ends:
            log.debug(Cls.TRANSPORT, 70, f"NAT-T keepalive to {remote[0]}:{remote[1]}")
            self.engine.send_raw(NATT_KEEPALIVE, local, remote)
            self.sent += 1
        if ends:
            self._timer = self.engine.timers.schedule(now + interval, self._fire,
                                                      "nat_t_send_keepalive")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
