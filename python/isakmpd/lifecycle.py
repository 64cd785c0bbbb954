"""The life of SAs: soft and hard lifetimes, renegotiation before expiry, the
hand-over from an SA to its replacement, INITIAL-CONTACT, Renegotiate-on-HUP
and the kernel's EXPIRE messages.

As in isakmpd's sa.c, an SA with a lifetime has a soft timer and a hard one.
At the soft time a new SA is negotiated while the old one keeps working;
at the hard time the SA is deleted (DELETE to the peer) and, if nothing
replaced it, negotiated again at once.

Who renegotiates an IPsec SA: the side that initiated it. The responder
does too for a connection of its own [Phase 2] Connections, but later than
an initiator would, so that it normally finds the SA replaced by then and
does nothing; a passive responder leaves it to the peer. An ISAKMP SA is
renegotiated by the same rule, as long as it serves something (installed
IPsec SAs with the peer, or an active connection through it); IPsec SAs
outlive their ISAKMP SA, and later Quick Modes use the newest one.

Soft times are a share of the lifetime: from [85%, 95%) for an initiator
(isakmpd's window) and from [95%, 98%) for a responder, drawn per SA from a
hash of its own SPI or cookies. Both ends and many SAs thus spread out, and
a daemon whose random values are seeded (-r) does the same on every run.
Short lifetimes keep :data:`MARGIN` seconds (a responder half of it)
between the soft and the hard time, for the negotiation and the hand-over,
as long as that leaves half the lifetime.

The hand-over of a rekey: its initiator installs the new SA's inbound half
at once and its outbound half :data:`SWITCH_DELAY` seconds later (a peer
that installs the SA only when Quick Mode message 3 arrives has it by
then); its responder installs the inbound half as it sends message 2. The
initiator deletes the old SA, with a DELETE to the peer, :data:`DRAIN`
seconds after the switch, once nothing is in flight on it; a responder
leaves the old SA to that DELETE or to its own hard lifetime.

INITIAL-CONTACT (RFC 2407 4.6.3.3) goes in Main Mode message 5 and
Aggressive Mode message 3 as long as no phase 1 with the peer's address has
completed since start-up. Received (in phase 1 or in a protected
informational message), it deletes, without DELETEs, the SAs with that
peer that were established before the new phase 1 began: they belong to
the peer's previous run. SAs whose ISAKMP SA names another phase-1 ID are
kept (several peers behind one NAT address).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from . import log
from .conf import model
from .constants import ProtocolId
from .errors import ConfigError
from .log import Cls
from .sa import IpsecSA, IsakmpSA

if TYPE_CHECKING:
    from .engine import Engine
    from .kernel.base import ExpireEvent

_log = log.logger(Cls.SA)

#: soft lifetime, as shares of the hard one: (from, to)
INITIATOR_SOFT = (0.85, 0.95)
RESPONDER_SOFT = (0.95, 0.98)
#: seconds an initiator's soft time comes before the hard one, at least
MARGIN = 8.0
#: seconds between a rekey's inbound and outbound halves (initiator)
SWITCH_DELAY = 1.0
#: seconds the replaced SA is kept after the switch, for packets in flight
DRAIN = 2.0
#: a responder told by the kernel that an SA's bytes run low gives the
#: initiator this long to renegotiate first
RESPONDER_GRACE = 5.0

KERNEL_PROTOCOLS = {50: ProtocolId.IPSEC_ESP, 51: ProtocolId.IPSEC_AH,
                    108: ProtocolId.IPCOMP}


def soft_share(seed: bytes, initiator: bool) -> float:
    """The share of an SA's lifetime after which it is renegotiated."""
    lo, hi = INITIATOR_SOFT if initiator else RESPONDER_SOFT
    n = int.from_bytes(hashlib.sha256(b"soft lifetime " + seed).digest()[:4], "big")
    return lo + (hi - lo) * (n % 10000) / 10000


def soft_after(life: float, seed: bytes, initiator: bool) -> float:
    """Seconds from an SA's start to its soft time (see the module text)."""
    margin = MARGIN if initiator else MARGIN / 2
    return max(life / 2, min(life * soft_share(seed, initiator), life - margin))


class InstallInbound:
    """Install the inbound half of an SA (its inbound kernel SAs and flows);
    an :class:`~isakmpd.engine.InstallSA` of the same SA adds the rest."""

    __slots__ = ("sa",)

    def __init__(self, sa: IpsecSA) -> None:
        self.sa = sa

    def __repr__(self) -> str:
        return f"InstallInbound({self.sa.name})"


def _same_id(a: IsakmpSA, b: IsakmpSA) -> bool:
    return not a.id_remote or not b.id_remote or (
        (a.id_remote_type, a.id_remote) == (b.id_remote_type, b.id_remote))


class Lifecycle:
    """The engine's SA timers and what they do (see the module text)."""

    def __init__(self, engine: "Engine") -> None:
        self.engine = engine
        #: peer addresses we completed a phase 1 with since start-up
        self.contacted: set[str] = set()
        #: SAs being renegotiated, by connection name: the next SA of theirs
        #: that we initiate for the same flow replaces them
        self._rekeying: dict[str, list[IpsecSA]] = {}

    # ------------------------------------------------------------ helpers
    def _emit(self, ev: object) -> None:
        self.engine.emit(ev)  # type: ignore[arg-type]

    def _active(self) -> set[str]:
        return {n.lower() for n in model.connections(self.engine.conf)[0]}

    def _ours(self, ipsec: IpsecSA) -> bool:
        """Whether we renegotiate ``ipsec`` (see the module text)."""
        return ipsec.initiator or ipsec.name.lower() in self._active()

    def _newer(self, ipsec: IpsecSA) -> bool:
        """Whether a newer installed SA protects the same flow."""
        mine = ipsec.established_at or ipsec.created
        return any(s is not ipsec and s.state == "installed"
                   and (s.established_at or s.created) > mine
                   for s in self._same_flow(ipsec))

    def _same_flow(self, ipsec: IpsecSA) -> list[IpsecSA]:
        """The SAs of ``ipsec``'s connection for the same flow (its own
        bucket of the table's flow index: O(1) in the number of SAs)."""
        name = ipsec.name.lower()
        return [s for s in self.engine.table.ipsec_same_flow(ipsec)
                if s.name.lower() == name]

    def _is_rekeying(self, ipsec: IpsecSA) -> bool:
        return any(s is ipsec for s in self._rekeying.get(ipsec.name.lower(), ()))

    def _schedule(self, owner: IpsecSA | IsakmpSA, when: float, callback,
                  name: str) -> None:
        owner.timers.append(self.engine.timers.schedule(when, callback, name))

    # ------------------------------------------------------------ phase 1
    def first_contact(self, peer: str) -> bool:
        """Whether INITIAL-CONTACT goes to ``peer`` (no phase 1 with it yet)."""
        return peer not in self.contacted

    def phase1_up(self, sa: IsakmpSA, now: float) -> None:
        """An ISAKMP SA is established: INITIAL-CONTACT, then its timers."""
        if sa.peer_initial_contact:
            self.initial_contact(sa, now)
        self.contacted.add(sa.remote[0])
        life = sa.params.life_seconds if sa.params is not None else 0
        if not life:
            return
        sa.expires_at = now + life
        sa.soft_at = now + soft_after(life, sa.cookies, sa.initiator)
        self._schedule(sa, sa.soft_at, lambda t: self._isakmp_soft(sa, t),
                       f"isakmp_sa_expire_soft({sa.label()})")
        self._schedule(sa, sa.expires_at, lambda t: self._isakmp_hard(sa, t),
                       f"isakmp_sa_expire({sa.label()})")

    def forget_isakmp(self, sa: IsakmpSA) -> None:
        for t in sa.timers:
            t.cancel()
        sa.timers.clear()

    def _active_through(self, peer_name: str) -> bool:
        conf = self.engine.conf
        return any((conf.get(c, "ISAKMP-peer") or "").strip().lower()
                   == peer_name.lower() for c in model.connections(conf)[0])

    def _phase1_wanted(self, sa: IsakmpSA) -> bool:
        if not (sa.initiator or self._active_through(sa.peer_name)):
            return False
        return self._active_through(sa.peer_name) or any(
            s.state == "installed" and s.remote[0] == sa.remote[0]
            for s in self.engine.table.ipsec_sas())

    def _newer_isakmp(self, sa: IsakmpSA) -> bool:
        return any(o is not sa and o.remote[0] == sa.remote[0]
                   and (o.state == "negotiating" or (o.established
                                                     and o.created > sa.created))
                   for o in self.engine.table.isakmp_sas())

    def _isakmp_soft(self, sa: IsakmpSA, now: float) -> None:
        eng = self.engine
        if not sa.established or eng.shutting_down:
            return
        if not self._phase1_wanted(sa):
            log.debug(Cls.SA, 20, f"ISAKMP SA {sa.label()} with {sa.remote[0]}: soft "
                      "lifetime over; not renegotiated (ours to renegotiate only "
                      "while it serves a connection)")
            return
        if self._newer_isakmp(sa):
            return
        try:
            peer = model.phase1_peer(eng.conf, sa.peer_name)
        except ConfigError as e:
            _log.error("cannot renegotiate ISAKMP SA %s: %s", sa.label(), e)
            return
        if peer.address is None:
            log.debug(Cls.SA, 20, f"ISAKMP SA {sa.label()}: peer {peer.name} has no "
                      "Address; not renegotiated")
            return
        _log.info("renegotiating ISAKMP SA %s with %s before it expires", sa.label(),
                  sa.remote[0])
        eng._start_main_mode(peer, now)

    def _isakmp_hard(self, sa: IsakmpSA, now: float) -> None:
        if sa.state != "dead":
            # its IPsec SAs stay: later exchanges use a newer ISAKMP SA
            self.engine.delete_isakmp(sa, now, send=True, why="expired")

    # ------------------------------------------------------------ phase 2
    def rekeys_flow(self, ipsec: IpsecSA) -> bool:
        """Whether ``ipsec`` would take over from an installed SA."""
        return any(s.state == "installed" for s in self._same_flow(ipsec))

    def _reqid(self, ipsec: IpsecSA, olds: list[IpsecSA]) -> None:
        if ipsec.reqid is None:
            ipsec.reqid = self.engine.ondemand.reqid_for(ipsec.name)
        if ipsec.reqid is None:
            ipsec.reqid = next((s.reqid for s in olds if s.reqid is not None), None)

    def install_inbound(self, ipsec: IpsecSA) -> None:
        """A rekey's responder sends message 2: the inbound half goes in now,
        so that the initiator may switch to the new SA at once."""
        self._reqid(ipsec, self._same_flow(ipsec))
        ipsec.kernel_parts.add("inbound")
        self._emit(InstallInbound(ipsec))

    def phase2_up(self, ipsec: IpsecSA, initiator: bool, now: float) -> None:
        """An IPsec SA is established (and in the table): to the kernel, as
        a whole or by halves, and its timers; the SAs it replaces go."""
        from .engine import InstallSA

        olds = self._take_rekeyed(ipsec) if initiator else []
        self._reqid(ipsec, olds)
        switch = now
        if olds and "inbound" not in ipsec.kernel_parts:
            ipsec.kernel_parts.add("inbound")
            self._emit(InstallInbound(ipsec))
            switch = now + SWITCH_DELAY
            self._schedule(ipsec, switch, lambda t: self._switch(ipsec),
                           f"ipsec_sa_switch({ipsec.name})")
        else:
            ipsec.kernel_parts.update(("inbound", "outbound"))
            self._emit(InstallSA(ipsec))
        for old in olds:
            old.replaced = True
            _log.info("IPsec SA %s with %s: renegotiated, the old SA goes in %g s",
                      old.name, old.remote[0], switch + DRAIN - now)
            self._schedule(old, switch + DRAIN, lambda t, o=old: self._retire(o, t),
                           f"ipsec_sa_replaced({old.name})")
        life = ipsec.life_seconds
        if not life:
            return
        ipsec.expires_at = now + life
        seed = b"".join(p.spi_in for p in ipsec.protos)
        ipsec.soft_at = now + soft_after(life, seed, ipsec.initiator)
        self._schedule(ipsec, ipsec.soft_at, lambda t: self._ipsec_soft(ipsec, t),
                       f"ipsec_sa_expire_soft({ipsec.name})")
        self._schedule(ipsec, ipsec.expires_at, lambda t: self._ipsec_hard(ipsec, t),
                       f"ipsec_sa_expire({ipsec.name})")

    def _take_rekeyed(self, ipsec: IpsecSA) -> list[IpsecSA]:
        waiting = self._rekeying.get(ipsec.name.lower(), [])
        olds = [s for s in waiting if s.same_flow(ipsec) and s.state == "installed"]
        rest = [s for s in waiting if s not in olds and s.state == "installed"]
        if rest:
            self._rekeying[ipsec.name.lower()] = rest
        else:
            self._rekeying.pop(ipsec.name.lower(), None)
        return olds

    def _switch(self, ipsec: IpsecSA) -> None:
        from .engine import InstallSA

        if ipsec.state == "installed" and "outbound" not in ipsec.kernel_parts:
            ipsec.kernel_parts.add("outbound")
            self._emit(InstallSA(ipsec))

    def _retire(self, old: IpsecSA, now: float) -> None:
        self.engine.delete_ipsec(old, now, send=True, why="replaced by a new SA")

    def forget_ipsec(self, ipsec: IpsecSA) -> None:
        """``ipsec`` is gone: its timers too."""
        for t in ipsec.timers:
            t.cancel()
        ipsec.timers.clear()
        key = ipsec.name.lower()
        waiting = self._rekeying.get(key)
        if waiting is not None:
            waiting[:] = [s for s in waiting if s is not ipsec]
            if not waiting:
                del self._rekeying[key]

    def rekey(self, ipsec: IpsecSA, now: float, why: str) -> bool:
        """Negotiate the replacement of ``ipsec`` now."""
        eng = self.engine
        if eng.shutting_down:
            return False
        if not self._is_rekeying(ipsec):
            self._rekeying.setdefault(ipsec.name.lower(), []).append(ipsec)
        _log.info("renegotiating IPsec SA %s with %s (%s)", ipsec.name, ipsec.remote[0],
                  why)
        if eng.connect(ipsec.name, now, force=True):
            return True
        self.forget_rekey(ipsec)
        return False

    def forget_rekey(self, ipsec: IpsecSA) -> None:
        waiting = self._rekeying.get(ipsec.name.lower(), [])
        waiting[:] = [s for s in waiting if s is not ipsec]

    def _ipsec_soft(self, ipsec: IpsecSA, now: float, why: str = "soft lifetime"
                    ) -> None:
        if ipsec.state != "installed" or ipsec.replaced or self._is_rekeying(ipsec):
            return
        if self._newer(ipsec):
            log.debug(Cls.SA, 20, f"IPsec SA {ipsec.name}: {why} over; a newer SA "
                      "took over already")
            return
        if not self._ours(ipsec):
            log.debug(Cls.SA, 20, f"IPsec SA {ipsec.name}: {why} over; the peer "
                      "renegotiates it (a passive connection of ours)")
            return
        self.rekey(ipsec, now, why)

    def _ipsec_hard(self, ipsec: IpsecSA, now: float, why: str = "expired") -> None:
        if ipsec.state == "dead":
            return
        again = not ipsec.replaced and self._ours(ipsec) and not self._newer(ipsec)
        self.engine.delete_ipsec(ipsec, now, send=True, why=why)
        if again and not self.engine.shutting_down:
            # nothing took over: negotiate again at once (isakmpd's stayalive)
            self.engine.connect(ipsec.name, now)

    def soft_expire_all(self, now: float) -> int:
        """Renegotiate-on-HUP (isakmpd's sa_reinit): the soft lifetime of
        every IPsec SA ends now, so ours are renegotiated under the new
        configuration. Returns how many renegotiations started."""
        n = 0
        for s in self.engine.table.ipsec_sas():
            if s.state != "installed" or s.replaced or self._is_rekeying(s):
                continue
            if self._ours(s) and not self._newer(s):
                n += self.rekey(s, now, "Renegotiate-on-HUP")
        _log.info("Renegotiate-on-HUP: %d IPsec SA(s) being renegotiated", n)
        return n

    # ------------------------------------------------------------ the kernel
    def kernel_expire(self, ev: "ExpireEvent", now: float) -> None:
        """The kernel's EXPIRE: soft (its bytes run low) renegotiates, hard
        deletes (and renegotiates, if nothing took over)."""
        what = (f"{'hard' if ev.hard else 'soft'} EXPIRE from the kernel for SA "
                f"{ev.spi:08x} {ev.src}->{ev.dst} (protocol {ev.proto})")
        ipsec = self._kernel_sa(ev)
        if ipsec is None:
            log.debug(Cls.SYSDEP, 20, f"{what}: none of our SAs (larval, or gone)")
            return
        log.debug(Cls.SYSDEP, 10, f"{what}: IPsec SA {ipsec.name}")
        if ev.hard:
            self._ipsec_hard(ipsec, now, "expired (kernel hard lifetime)")
        elif ipsec.initiator:
            self._ipsec_soft(ipsec, now, "kernel soft lifetime")
        elif self._ours(ipsec):
            self._schedule(ipsec, now + RESPONDER_GRACE,
                           lambda t: self._ipsec_soft(ipsec, t, "kernel soft lifetime"),
                           f"ipsec_sa_expire_soft({ipsec.name})")

    def _kernel_sa(self, ev: "ExpireEvent") -> IpsecSA | None:
        pid = KERNEL_PROTOCOLS.get(ev.proto)
        if pid is None or not 0 < ev.spi <= 0xFFFFFFFF:
            return None
        spi = ev.spi.to_bytes(4, "big")
        table = self.engine.table
        s = table.find_by_spi_in(pid, spi)
        if s is not None and s.isakmp.local[0] == ev.dst:
            return s
        s = table.find_by_spi_out(pid, spi)
        if s is not None and s.remote[0] == ev.dst:
            return s
        # two peers may have chosen the same SPI: look further
        return next((x for x in table.ipsec_sas() if x.remote[0] == ev.dst and any(
            p.protocol_id == pid and p.spi_out == spi for p in x.protos)), None)

    # ------------------------------------------------------------ INITIAL-CONTACT
    def initial_contact(self, sa: IsakmpSA, now: float) -> None:
        """The peer of ``sa`` restarted: its older SAs are gone on its side."""
        eng = self.engine
        peer, cutoff = sa.remote[0], sa.created
        old1 = [o for o in eng.table.isakmp_with(peer)
                if o is not sa and o.established
                and (o.established_at or 0.0) < cutoff and _same_id(o, sa)]
        old2 = [s for s in eng.table.ipsec_with(peer)
                if s.isakmp is not sa
                and (s.established_at or 0.0) < cutoff and _same_id(s.isakmp, sa)]
        if not old1 and not old2:
            log.debug(Cls.SA, 20, f"INITIAL-CONTACT from {peer}: no SAs of an "
                      "earlier run")
            return
        _log.info("INITIAL-CONTACT from %s: deleting %d ISAKMP and %d IPsec SA(s) "
                  "of its previous run", peer, len(old1), len(old2))
        for s in old2:
            eng.delete_ipsec(s, now, send=False, why="the peer restarted")
        for o in old1:
            eng.delete_isakmp(o, now, send=False, why="the peer restarted")


__all__ = ["Lifecycle", "InstallInbound", "soft_share", "soft_after"]
