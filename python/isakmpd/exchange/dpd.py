"""Dead peer detection (RFC 3706) for IKEv1.

Both ends announce DPD with a vendor ID in the first two phase-1 messages.
We always announce it, as isakmpd does, and so always answer: a peer's
R-U-THERE gets an R-U-THERE-ACK. Each is a protected informational
notification with protocol ISAKMP, the cookie pair as SPI and a four-byte
sequence number as data, which the ACK echoes.

With [General] DPD-check-interval above 0, an established ISAKMP SA whose
peer announced DPD is watched: when nothing authenticated has come from the
peer for that many seconds, we send R-U-THERE (the first sequence number is
random, each later one the previous plus one). Without an answer it goes
again every :data:`RETRY_WAIT` seconds, with the next number; when
:data:`TRIES` of them went unanswered (25 s with isakmpd's 5 x 5 s) the peer
is dead. Its IPsec SAs leave our tables and the kernel and its ISAKMP SAs
ours, without DELETE (nobody would read it), and its active connections are
started again at once, so that the tunnel comes back when the peer does (or
at a later connection check).

"Heard from" means an authenticated IKE message: one that moved an exchange
on, an informational message whose HASH verifies, an R-U-THERE that is not
older than the last one, or an ACK of one of our R-U-THERE. An ACK with a
sequence number we are not waiting for (late or replayed) is ignored, as
isakmpd does. ESP traffic does not count: the kernel's SA counters are not
read. TODO(count inbound ESP on the peer's SAs as liveness, as isakmpd does
with the kernel's SA use times)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _core, log
from ..conf import model
from ..constants import VID_DPD, NotifyType, ProtocolId
from ..log import Cls
from ..sa import IsakmpSA
from . import info

if TYPE_CHECKING:
    from ..engine import Engine
    from .base import InMessage

#: R-U-THERE sent without an answer before the peer is dead (isakmpd's
#: DPD_RETRANS_MAX)
TRIES = 5
#: seconds between them (DPD_RETRANS_WAIT)
RETRY_WAIT = 5.0
#: the vendor ID is "afcad71368a1f1c96b8696fc7757" and a major/minor version
_VID_PREFIX = VID_DPD[:14]
_SEQ_MASK = 0xFFFFFFFF

_log = log.logger(Cls.EXCHANGE)


def vendor_id() -> _core.VendorID:
    return _core.VendorID(VID_DPD)


def announced(vids: list[bytes]) -> bool:
    """Whether the peer's vendor IDs announce RFC 3706 DPD (major version 1)."""
    return any(len(v) == 16 and v[:14] == _VID_PREFIX and v[14] == 1 for v in vids)


def is_dpd(n: _core.Notify) -> bool:
    return n.notify_type in (NotifyType.R_U_THERE, NotifyType.R_U_THERE_ACK)


def _debug(lvl: int, msg: str) -> None:
    log.debug(Cls.MESSAGE, lvl, msg)


# ------------------------------------------------------------------ watching
def start(engine: "Engine", sa: IsakmpSA, now: float) -> None:
    """Phase 1 is done: watch the peer if both sides want DPD."""
    sa.dpd.last_heard = now
    interval = engine.general.dpd_check_interval
    if interval <= 0 or not sa.peer_dpd:
        if interval > 0:
            _debug(20, f"DPD: peer {sa.remote[0]} of ISAKMP SA {sa.label()} did not "
                   "announce DPD; not checked")
        return
    _arm(engine, sa, now + interval, _check, "dpd_event")


def _arm(engine: "Engine", sa: IsakmpSA, when: float, what, name: str) -> None:
    if sa.dpd.timer is not None:
        sa.dpd.timer.cancel()  # type: ignore[attr-defined]
    sa.dpd.timer = engine.timers.schedule(
        when, lambda t: what(engine, sa, t), f"{name}({sa.label()})")


def stop(sa: IsakmpSA) -> None:
    if sa.dpd.timer is not None:
        sa.dpd.timer.cancel()  # type: ignore[attr-defined]
        sa.dpd.timer = None


def heard(engine: "Engine", sa: IsakmpSA, now: float) -> None:
    """Something authenticated came from the peer: it lives. A probe under
    way ends; the next check is an interval from now."""
    d = sa.dpd
    d.last_heard = now
    if d.outstanding:
        _debug(30, f"DPD: peer {sa.remote[0]} alive, probe ended")
        d.outstanding.clear()
        d.tries = 0
        interval = engine.general.dpd_check_interval
        if interval > 0 and sa.established:
            _arm(engine, sa, now + interval, _check, "dpd_event")
        else:
            stop(sa)


def _check(engine: "Engine", sa: IsakmpSA, now: float) -> None:
    """The check timer: probe the peer if it was quiet for an interval."""
    d = sa.dpd
    d.timer = None
    if not sa.established:
        return
    interval = engine.general.dpd_check_interval
    if interval <= 0:
        _debug(20, f"DPD: checks off (DPD-check-interval); {sa.label()} not checked")
        return
    if now - d.last_heard < interval:
        _arm(engine, sa, d.last_heard + interval, _check, "dpd_event")
        return
    d.tries = 0
    d.outstanding.clear()
    _probe(engine, sa, now)


def _next_seq(engine: "Engine", sa: IsakmpSA) -> int:
    d = sa.dpd
    if d.seq == 0:
        # RFC 3706 7: a random start, with room to count up
        d.seq = engine.rand.u32() & 0x7FFFFFFF or 1
    else:
        d.seq = (d.seq + 1) & _SEQ_MASK or 1
    return d.seq


def _probe(engine: "Engine", sa: IsakmpSA, now: float) -> None:
    d = sa.dpd
    seq = _next_seq(engine, sa)
    d.outstanding.add(seq)
    d.tries += 1
    _debug(10, f"DPD: R-U-THERE {seq} to {sa.remote[0]} ({d.tries} of {TRIES}), "
           f"nothing heard for {now - d.last_heard:.0f} s")
    send(engine, sa, NotifyType.R_U_THERE, seq)
    _arm(engine, sa, now + RETRY_WAIT, _retry, "dpd_check_event")


def _retry(engine: "Engine", sa: IsakmpSA, now: float) -> None:
    d = sa.dpd
    d.timer = None
    if not sa.established or not d.outstanding:
        return
    if d.tries < TRIES:
        _probe(engine, sa, now)
        return
    peer_dead(engine, sa, now)


def send(engine: "Engine", sa: IsakmpSA, notify_type: int, seq: int) -> None:
    """A protected R-U-THERE or R-U-THERE-ACK on ``sa``."""
    n = info.notify_payload(notify_type, ProtocolId.ISAKMP, sa.cookies,
                            seq.to_bytes(4, "big"))
    engine.transmit(sa, info.build(sa, engine.rand.nonzero_u32(), [n]))


# ------------------------------------------------------------------ receiving
def handle_notify(engine: "Engine", sa: IsakmpSA, n: _core.Notify, msg: "InMessage",
                  now: float) -> None:
    """A protected R-U-THERE or R-U-THERE-ACK from the peer."""
    peer = msg.remote[0]
    if len(n.data) != 4:
        _log.warning("DPD notification from %s with %d bytes of data (not a "
                     "sequence number) ignored", peer, len(n.data))
        return
    seq = int.from_bytes(n.data, "big")
    if n.spi != sa.cookies:
        _debug(20, f"DPD: {peer}'s notification names SPI {n.spi.hex() or '-'}, "
               "not the cookies")
    d = sa.dpd
    if n.notify_type == NotifyType.R_U_THERE:
        if d.peer_seq is not None and seq < d.peer_seq:
            _log.warning("DPD: R-U-THERE from %s with sequence number %d below "
                         "the last one (%d) ignored", peer, seq, d.peer_seq)
            return
        repeat = seq == d.peer_seq
        _debug(30, f"DPD: R-U-THERE {seq} from {peer}"
               f"{' again' if repeat else ''}; answering")
        d.peer_seq = seq
        if not repeat:  # a repeat may be a replay: no proof of anything
            engine.peer_authentic(sa, msg, now)
        send(engine, sa, NotifyType.R_U_THERE_ACK, seq)
        return
    if seq not in d.outstanding:
        if d.seq and 0 <= (d.seq - seq) & _SEQ_MASK < TRIES:
            # one of our last few: the answer to a probe that ended
            _debug(30, f"DPD: late R-U-THERE-ACK {seq} from {peer}")
            return
        _log.warning("DPD: R-U-THERE-ACK from %s with sequence number %d, "
                     "expected %s; ignored", peer, seq,
                     " or ".join(str(s) for s in sorted(d.outstanding)) or "none")
        return
    _debug(30, f"DPD: R-U-THERE-ACK {seq} from {peer}")
    engine.peer_authentic(sa, msg, now)


# ------------------------------------------------------------------ the end
def peer_dead(engine: "Engine", sa: IsakmpSA, now: float) -> None:
    """No answer: delete the peer's SAs (from the kernel too) without telling
    it, then start its active connections again."""
    peer = sa.remote
    _log.warning("DPD: peer %s (%s) is dead: %d R-U-THERE without an answer; "
                 "deleting its SAs", peer[0], sa.peer_name, sa.dpd.tries)
    stop(sa)
    sa.dpd.outstanding.clear()
    isakmp = [s for s in engine.table.isakmp_sas()
              if s is sa or (s.remote == peer and s.peer_name == sa.peer_name)]
    names: list[str] = []
    for ipsec in engine.table.ipsec_sas():
        if ipsec.isakmp in isakmp or (ipsec.isakmp.state == "dead"
                                      and ipsec.isakmp.remote == peer
                                      and ipsec.isakmp.peer_name == sa.peer_name):
            if ipsec.name not in names:
                names.append(ipsec.name)
            engine.delete_ipsec(ipsec, now, send=False, why="peer is dead (DPD)")
    for s in isakmp:
        stop(s)
        engine.delete_isakmp(s, now, send=False, why="peer is dead (DPD)")
    if engine.shutting_down:
        return
    active, _ = model.connections(engine.conf)
    wanted = {a.lower() for a in active}
    for name in names:
        if name.lower() in wanted:
            _log.info("DPD: starting connection %s again", name)
            engine.connect(name, now)
