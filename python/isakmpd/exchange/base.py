"""What every exchange shares: retransmission, duplicate detection, the
deadline, and building and protecting messages.

An exchange never does I/O. It asks its engine (``self.engine``) to transmit
bytes, to schedule timers, to emit events and to allocate SPIs; the engine
collects the results for the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence, TypeVar

from .. import _core, log
from ..constants import ExchangeType, Flags, NotifyType, name_of
from ..errors import CryptoError, MessageError
from ..log import Cls
from ..sa import Addr, IsakmpSA
from .dhpool import DhPool, Shared

if TYPE_CHECKING:
    from ..engine import Engine
    from ..timers import Timer

P = TypeVar("P")


class ExchangeFailed(Exception):
    """Ends an exchange; ``notify`` (if any) is sent to the peer."""

    def __init__(self, reason: str, notify: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.notify = notify


class Rejected(ExchangeFailed):
    """Drops one message but keeps the exchange: a message that does not
    decrypt, does not verify or does not belong here may be forged or
    damaged, and the genuine one may still come. The reason is kept for the
    log line of the exchange's end, should it fail."""


@dataclass
class InMessage:
    """A received message, parsed and, if it was encrypted, decrypted."""

    header: _core.Header
    payloads: list
    raw: bytes  # the datagram (without any non-ESP marker)
    local: Addr
    remote: Addr
    encrypted: bool

    def all(self, cls: type[P]) -> list[P]:
        return [p for p in self.payloads if isinstance(p, cls)]

    def one(self, cls: type[P], what: str) -> P:
        found = self.all(cls)
        if not found:
            raise ExchangeFailed(f"message lacks the {what} payload",
                                 NotifyType.PAYLOAD_MALFORMED)
        if len(found) > 1:
            raise ExchangeFailed(f"message has {len(found)} {what} payloads",
                                 NotifyType.PAYLOAD_MALFORMED)
        return found[0]

    def opt(self, cls: type[P], what: str) -> P | None:
        found = self.all(cls)
        if len(found) > 1:
            raise ExchangeFailed(f"message has {len(found)} {what} payloads",
                                 NotifyType.PAYLOAD_MALFORMED)
        return found[0] if found else None


def raw_after(payloads: Sequence, first: object) -> bytes:
    """The wire bytes of every payload after ``first`` (for Quick Mode and
    informational HASHes, which cover "the entire message after HASH")."""
    out = []
    seen = False
    for p in payloads:
        if seen:
            out.append(p.raw)
        elif p is first:
            seen = True
    return b"".join(out)


class Sealed(bytes):
    """An encrypted message that keeps its payloads in clear (``plain``,
    possibly followed by padding), for packet capture: see :func:`plaintext`.
    Everywhere else it is the bytes on the wire."""

    plain: bytes


def seal(data: bytes, plain: bytes) -> Sealed:
    out = Sealed(data)
    out.plain = plain
    return out


def plaintext(data: bytes) -> bytes:
    """The message as it would look unencrypted: the ENC flag cleared, the
    payloads in clear without padding and the header's length to match.
    Messages that were not encrypted come back as they are."""
    plain = getattr(data, "plain", None)
    if plain is None or len(data) < 28:
        return bytes(data)
    # the payload chain ends where the padding starts
    end, nxt = 0, data[16]
    while nxt and end + 4 <= len(plain):
        size = int.from_bytes(plain[end + 2:end + 4], "big")
        if size < 4 or end + size > len(plain):
            break
        nxt, end = plain[end], end + size
    body = plain if nxt else plain[:end]  # a broken chain: all of it
    hdr = bytearray(data[:28])
    hdr[19] &= 0xFF ^ Flags.ENC
    hdr[24:28] = (28 + len(body)).to_bytes(4, "big")
    return bytes(hdr) + body


def encode_protected(sa: IsakmpSA, exchange_type: int, mid: int,
                     payloads: Sequence, encrypt: bool = True) -> bytes:
    """A whole message on ``sa``, encrypted with the SA's cipher if ``encrypt``
    (then a :class:`Sealed` that keeps the payloads in clear)."""
    hdr = _core.Header(sa.icookie, sa.rcookie, exchange_type=exchange_type,
                       message_id=mid)
    if not encrypt:
        return _core.encode_message(hdr, list(payloads))
    assert sa.cipher is not None
    body = _core.encode_payloads(list(payloads))
    hdr.next_payload = payloads[0].payload_type
    hdr.flags = Flags.ENC
    return seal(_core.encode_message(hdr, sa.cipher.encrypt(mid, body)), body)


def hash_payload_prf(sa: IsakmpSA, mid: int, payloads: Sequence,
                     prefix: bytes = b"") -> bytes:
    """prf(SKEYID_a, M-ID | prefix | payloads...) for a message whose first
    payload is the HASH being computed (the payloads are encoded here)."""
    assert sa.keys is not None
    rest = _core.encode_payloads(list(payloads)) if payloads else b""
    return sa.keys.prf_a(mid.to_bytes(4, "big") + prefix + rest)


def make_dh(engine: "Engine", group: int) -> _core.DhKey:
    """A fresh DH private value in ``group`` with the configured exponent
    length (longer than the prime makes no sense: it is capped)."""
    bits = engine.general.dh_exponent_bits
    try:
        kind, size, _ = _core.group_info(group)
        if kind == "modp" and bits:
            bits = min(bits, size * 8 - 1)
        pool = getattr(engine, "dh_pool", None)
        if pool is not None and (pair := pool.take(group, bits)) is not None:
            return pair
        need = _core.random_bytes_needed(group, bits)
        return _core.DhKey(group, engine.rand.bytes(need), bits)
    except CryptoError as e:
        raise ExchangeFailed(f"DH group {group}: {e}",
                             NotifyType.NO_PROPOSAL_CHOSEN) from None


def start_shared(engine: "Engine", dh: _core.DhKey, peer_public: bytes,
                 defer: bool) -> Shared | bytes:
    """g^xy of ``dh`` and the peer's public value, which is checked here (a
    bad one fails the exchange with INVALID-KEY-INFORMATION). ``defer``:
    computed by the engine's DH workers if it has them (collect it with
    :func:`shared_value` when the keys are needed), else now."""
    try:
        dh.check_peer(peer_public)
        pool = engine.dh_pool
        if defer and isinstance(pool, DhPool):
            return pool.shared(dh, peer_public)
        return dh.compute(peer_public)
    except CryptoError as e:
        raise ExchangeFailed(f"peer's KE: {e}",
                             NotifyType.INVALID_KEY_INFORMATION) from None


def shared_value(gxy: Shared | bytes) -> bytes:
    """The value of what :func:`start_shared` returned."""
    if isinstance(gxy, bytes):
        return gxy
    try:
        return gxy.result()
    except CryptoError as e:
        raise ExchangeFailed(f"peer's KE: {e}",
                             NotifyType.INVALID_KEY_INFORMATION) from None


class Exchange:
    """Base of Main Mode, Quick Mode and the informational exchange."""

    kind: int = ExchangeType.NONE

    def __init__(self, engine: "Engine", sa: IsakmpSA, mid: int, initiator: bool,
                 now: float) -> None:
        self.engine = engine
        self.sa = sa
        self.mid = mid
        self.initiator = initiator
        self.step = 0
        self.started = now
        self.last_sent: bytes | None = None
        self.last_received: bytes | None = None
        #: the received message that ``last_sent`` answers (None: it answers
        #: nothing, e.g. the initiator's first message)
        self.answers: bytes | None = None
        #: why the last message dropped by this exchange was dropped
        self.rejected = ""
        self.xmits = 0
        self.done = False
        self.failed = False
        self._retransmit: Timer | None = None
        self._deadline: Timer | None = engine.timers.schedule(
            now + engine.general.exchange_max_time, self._expire,
            lambda: f"exchange_max_time({self.name})")
        self._linger: Timer | None = None
        #: an exchange that does Diffie-Hellman: its key pair, and g^xy or
        #: its computation under way (:func:`start_shared`)
        self.dh: _core.DhKey | None = None
        self.gxy: Shared | bytes | None = None

    # ---- naming and logging
    @property
    def name(self) -> str:
        role = "initiator" if self.initiator else "responder"
        return f"{name_of(ExchangeType, self.kind)} {role} {self.sa.label()} {self.mid:08x}"

    def debug(self, lvl: int, msg: str, *args: object) -> None:
        if log.enabled(Cls.EXCHANGE, lvl):
            log.debug(Cls.EXCHANGE, lvl, f"{self.name}: {msg}", *args)

    # ---- sending
    def transmit(self, data: bytes, now: float, expect_reply: bool) -> None:
        """Send ``data`` now and keep it for retransmission."""
        self.last_sent = data
        self.answers = self.last_received
        self.xmits = 0
        self.engine.transmit(self.sa, data)
        self._cancel_retransmit()
        if expect_reply:
            self._schedule_retransmit(now)

    def _schedule_retransmit(self, now: float) -> None:
        # isakmpd's schedule: 5 s, then 2 s more for every further try
        delay = self.xmits * 2 + 5
        self._retransmit = self.engine.timers.schedule(
            now + delay, self._on_retransmit,
            lambda: f"message_send_expire({self.name})")

    def _cancel_retransmit(self) -> None:
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None

    def _on_retransmit(self, now: float) -> None:
        self._retransmit = None
        if self.done or self.last_sent is None:
            return
        if self.xmits >= self.engine.general.retransmits:
            self.fail(now, f"no reply from {self.sa.remote[0]} after "
                      f"{self.xmits} retransmissions{self._why_silent()}")
            return
        self.xmits += 1
        self.debug(30, "retransmission %d", self.xmits)
        self.engine.transmit(self.sa, self.last_sent)
        self._schedule_retransmit(now)

    def resend_on_duplicate(self) -> None:
        """The peer repeated its last message: our answer was lost. A repeat
        of a message we sent nothing after (the last one of the exchange)
        gets no answer: answering it with our previous message would make
        the peer answer that in turn, for ever."""
        if self.last_sent is not None and self.answers is not None and (
                self.answers == self.last_received):
            self.debug(30, "duplicate message, sending our last one again")
            self.engine.transmit(self.sa, self.last_sent)

    # ---- ending
    def finish(self, now: float) -> None:
        """The exchange completed; keep it a while to answer duplicates."""
        self.done = True
        self._cancel_retransmit()
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        linger = self.engine.general.exchange_max_time
        self._linger = self.engine.timers.schedule(
            now + linger, self._forget, lambda: f"exchange_linger({self.name})")
        # while it lingers to answer repeats it needs its last messages only
        self.dh = self.gxy = None

    def _forget(self, now: float) -> None:
        self.engine.forget_exchange(self)

    def _expire(self, now: float) -> None:
        self._deadline = None
        if not self.done:
            self.fail(now, "exchange took longer than Exchange-max-time"
                      + self._why_silent())

    def fail(self, now: float, reason: str, notify: int = 0) -> None:
        """End the exchange unsuccessfully (logged once, here)."""
        if self.done:
            return
        self.done = True
        self.failed = True
        self._cancel_retransmit()
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if notify:
            self.engine.send_notify(self.sa, notify, now, self.notify_spi(notify))
        # kept a while to swallow repeats of the message that failed it, then
        # dropped (the engine drops a failed phase 1 with its SA at once)
        self._linger = self.engine.timers.schedule(
            now + self.engine.general.exchange_max_time, self._forget,
            lambda: f"exchange_linger({self.name})")
        self.engine.exchange_failed(self, reason, now)

    def _why_silent(self) -> str:
        if self.rejected:
            return f" (dropped: {self.rejected})"
        return self.no_reply_hint()

    def no_reply_hint(self) -> str:
        """Why the peer may have gone quiet, for the log line (or "")."""
        return ""

    def reject(self, reason: str) -> None:
        """Drop the message being handled; the exchange goes on."""
        self.rejected = reason
        self.debug(10, "message dropped: %s", reason)

    def notify_spi(self, notify: int) -> tuple[int, bytes]:
        """(protocol id, SPI) to put in a NOTIFY about this exchange."""
        return (1, self.sa.cookies)

    def cleanup(self) -> None:
        """Release timers (the engine calls this when it drops the exchange)
        and a shared secret no thread has begun (its keys are not needed:
        the SA went, or the half-open limit took it)."""
        self._cancel_retransmit()
        for t in (self._deadline, self._linger):
            if t is not None:
                t.cancel()
        self._deadline = self._linger = None
        if isinstance(self.gxy, Shared) and not self.gxy.ready:
            self.gxy.cancel()

    # ---- receiving
    def receive(self, msg: InMessage, now: float) -> None:
        """Handle a message of this exchange (duplicates already filtered)."""
        if self.done:
            return
        try:
            self.handle(msg, now)
        except Rejected as e:
            self.reject(e.reason)
        except ExchangeFailed as e:
            self.fail(now, e.reason, e.notify)
        except MessageError as e:
            self.fail(now, f"malformed message: {e}", e.notify)

    def handle(self, msg: InMessage, now: float) -> None:  # pragma: no cover
        raise NotImplementedError

    def keys_due(self, now: float) -> None:
        """An encrypted message came for an SA without keys: a phase 1 that
        left its shared secret to a worker derives the keys now."""

    def got_reply(self, msg: InMessage) -> None:
        """Bookkeeping when a message moves the exchange forward."""
        self.last_received = msg.raw
        self._cancel_retransmit()
