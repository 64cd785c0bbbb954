"""The informational exchange (RFC 2408 4.8, RFC 2409 5.7): NOTIFY and
DELETE.

Once the ISAKMP SA has keys, informational messages are encrypted and start
with HASH(1) = prf(SKEYID_a, M-ID | N/D). Only such protected messages act on
SAs. An unprotected NOTIFY (before phase 1 has keys) is logged and may end the
phase-1 exchange it answers; it never deletes or changes an established SA.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _core, log
from ..constants import Doi, ExchangeType, NotifyType, ProtocolId, name_of
from ..log import Cls
from ..sa import IsakmpSA
from . import dpd
from .base import InMessage, encode_protected, raw_after

if TYPE_CHECKING:
    from ..engine import Engine

#: notify types below this are errors (RFC 2408 3.14.1)
ERROR_NOTIFY_LIMIT = 8192


def build(sa: IsakmpSA, mid: int, payloads: list) -> bytes:
    """A protected informational message when the SA has keys, else plain."""
    if sa.keys is None or sa.cipher is None:
        return encode_protected(sa, ExchangeType.INFO, 0, payloads, encrypt=False)
    rest = _core.encode_payloads(payloads)
    h = sa.keys.prf_a(mid.to_bytes(4, "big") + rest)
    data = encode_protected(sa, ExchangeType.INFO, mid, [_core.Hash(h)] + payloads)
    sa.cipher.forget(mid)
    return data


def notify_payload(notify_type: int, protocol_id: int, spi: bytes,
                   data: bytes = b"") -> _core.Notify:
    return _core.Notify(Doi.IPSEC, protocol_id, notify_type, spi, data)


def delete_payload(protocol_id: int, spis: list[bytes]) -> _core.Delete:
    size = 16 if protocol_id == ProtocolId.ISAKMP else 4
    return _core.Delete(Doi.IPSEC, protocol_id, size, spis)


def describe_notify(n: _core.Notify) -> str:
    return (f"{name_of(NotifyType, n.notify_type)} "
            f"(protocol {name_of(ProtocolId, n.protocol_id)}, SPI {n.spi.hex() or '-'})")


def handle(engine: "Engine", sa: IsakmpSA, msg: InMessage, now: float) -> None:
    """Act on a received informational message."""
    peer = msg.remote[0]
    if not msg.encrypted:
        for n in msg.all(_core.Notify):
            engine.unprotected_notify(sa, n, msg, now)
        if msg.all(_core.Delete):
            engine.loglimit.warning(log.logger(Cls.EXCHANGE), "unprotected delete",
                                    now, "ignoring unprotected DELETE from %s", peer)
        return
    payloads = msg.payloads
    if msg.header.message_id == 0:
        # message ID 0 belongs to phase 1: its IV must not move
        log.logger(Cls.EXCHANGE).warning(
            "encrypted informational message from %s with message ID 0 dropped", peer)
        return
    assert sa.keys is not None and sa.cipher is not None
    if not payloads or not isinstance(payloads[0], _core.Hash):
        sa.cipher.forget(msg.header.message_id)
        log.logger(Cls.EXCHANGE).warning(
            "informational message from %s without HASH dropped", peer)
        return
    want = sa.keys.prf_a(msg.header.message_id.to_bytes(4, "big")
                         + raw_after(payloads, payloads[0]))
    if not _core.ct_eq(payloads[0].data, want):
        sa.cipher.forget(msg.header.message_id)
        log.logger(Cls.EXCHANGE).warning(
            "informational message from %s with a bad HASH dropped", peer)
        return
    sa.cipher.commit(msg.header.message_id)
    sa.cipher.forget(msg.header.message_id)
    # the peer lives (and may have moved behind its NAT); DPD notifications
    # are judged on their own, since a stale sequence number proves nothing
    if any(not (isinstance(p, _core.Notify) and dpd.is_dpd(p)) for p in payloads[1:]):
        engine.peer_authentic(sa, msg, now)
    for p in payloads[1:]:
        if isinstance(p, _core.Notify) and dpd.is_dpd(p):
            dpd.handle_notify(engine, sa, p, msg, now)
        elif isinstance(p, _core.Notify):
            engine.protected_notify(sa, p, now)
        elif isinstance(p, _core.Delete):
            engine.peer_delete(sa, p, now)
