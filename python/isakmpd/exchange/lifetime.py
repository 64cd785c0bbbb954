"""RESPONDER-LIFETIME (RFC 2407 4.6.3.1) in Quick Mode.

A responder takes a proposal whose lifetime is longer than the longest it
accepts (the high end of its LIFE_DURATION range) rather than refusing it:
the SA gets the responder's limit, and message 2 says so with a
RESPONDER-LIFETIME notification per protocol, whose data are SA_LIFE_TYPE /
SA_LIFE_DURATION attributes. An initiator that receives one shortens its SA
to it (a longer one is ignored: the initiator's own limit stands).

The notification names the responder's SPI of the protocol; one naming the
initiator's SPI is taken too.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Sequence

from .. import _core, log
from ..constants import Doi, IpsecAttr, LifeType, NotifyType, ProtocolId, name_of
from ..errors import MessageError
from ..log import Cls

if TYPE_CHECKING:
    from ..conf.model import IpsecTransformSpec, SuiteSpec
    from .proposal import Chosen

#: the longest lifetime a relaxed transform accepts (the attribute's range)
MAX_LIFE = (1 << 32) - 1
#: the attribute payload type used to reach the codec's attribute parser
_ATTRIBUTES = 14


def relaxed(suites: Sequence["SuiteSpec"]
            ) -> tuple[tuple["SuiteSpec", ...],
                       dict[int, "IpsecTransformSpec"]]:
    """``suites`` whose transforms accept any lifetime above their lower
    bound, and a map from each relaxed transform (by id) to the original."""
    originals: dict[int, IpsecTransformSpec] = {}
    out = []
    for suite in suites:
        protocols = []
        for proto in suite.protocols:
            xfs = []
            for xf in proto.transforms:
                lifes = tuple(dataclasses.replace(
                    life, duration=dataclasses.replace(life.duration, high=MAX_LIFE))
                    for life in xf.lifes)
                new = dataclasses.replace(xf, lifes=lifes)
                originals[id(new)] = xf
                xfs.append(new)
            protocols.append(dataclasses.replace(proto, transforms=tuple(xfs)))
        out.append(dataclasses.replace(suite, protocols=tuple(protocols)))
    return tuple(out), originals


def cap(chosen: "Chosen", originals: dict[int, "IpsecTransformSpec"]
        ) -> dict[int, tuple[int, int]]:
    """Responder: bring the chosen lifetimes down to what our own transforms
    accept (``chosen.lifes`` changes), and return, per protocol whose
    lifetime was cut, the (seconds, kilobytes) to announce."""
    notes: dict[int, tuple[int, int]] = {}
    for i, (prop, xf, spec) in enumerate(chosen.protos):
        ours = originals.get(id(spec), spec)
        chosen.protos[i] = (prop, xf, ours)
        pid = prop.protocol_id
        secs, kb = chosen.lifes.get(pid, (0, 0))
        if getattr(ours, "life_any", False):
            continue
        cut = False
        for life in ours.lifes:
            high = life.duration.high
            if life.life_type == LifeType.SECONDS and secs > high:
                secs, cut = high, True
            elif life.life_type == LifeType.KILOBYTES and kb > high:
                kb, cut = high, True
        if cut:
            chosen.lifes[pid] = (secs, kb)
            notes[pid] = (secs, kb)
    return notes


def encode(secs: int, kbytes: int) -> bytes:
    """The notification data: SA_LIFE_TYPE/SA_LIFE_DURATION pairs."""
    attrs = []
    for life_type, value in ((LifeType.SECONDS, secs), (LifeType.KILOBYTES, kbytes)):
        if value:
            attrs += [_core.Attribute(IpsecAttr.SA_LIFE_TYPE, life_type),
                      _core.Attribute(IpsecAttr.SA_LIFE_DURATION, value)]
    payload = _core.Attributes(1, 0, attrs)
    _core.encode_payloads([payload])
    return payload.body[4:]


def decode(data: bytes) -> tuple[int, int] | None:
    """(seconds, kilobytes) of the notification data (0: not given); None
    if the data are not such attributes."""
    raw = bytes([0, 0]) + (8 + len(data)).to_bytes(2, "big") + b"\1\0\0\0" + data
    try:
        [payload] = _core.parse_payloads(_ATTRIBUTES, raw)
        pairs = [(a.type, a.as_int()) for a in payload.attributes]
    except (MessageError, ValueError, OverflowError):
        return None
    secs = kb = 0
    life_type = None
    for t, v in pairs:
        if t == IpsecAttr.SA_LIFE_TYPE:
            life_type = v
        elif t == IpsecAttr.SA_LIFE_DURATION and life_type is not None:
            if life_type == LifeType.SECONDS:
                secs = v
            elif life_type == LifeType.KILOBYTES:
                kb = v
            life_type = None
    if not secs and not kb:
        return None
    return secs, kb


def notifications(notes: dict[int, tuple[int, int]], spis: dict[int, bytes]
                  ) -> list[_core.Notify]:
    """Responder: the RESPONDER-LIFETIME payloads for message 2."""
    return [_core.Notify(Doi.IPSEC, pid, NotifyType.RESPONDER_LIFETIME, spis[pid],
                         encode(secs, kb))
            for pid, (secs, kb) in notes.items()]


def apply(chosen: "Chosen", notifies: Sequence[_core.Notify],
          ours: dict[int, bytes], theirs: dict[int, bytes], peer: str) -> None:
    """Initiator: shorten the chosen lifetimes to the responder's."""
    for n in notifies:
        if n.notify_type != NotifyType.RESPONDER_LIFETIME:
            continue
        pid = n.protocol_id
        what = f"RESPONDER-LIFETIME from {peer} for {name_of(ProtocolId, pid)}"
        if pid not in chosen.lifes and pid not in {p.protocol_id
                                                    for p, _, _ in chosen.protos}:
            log.debug(Cls.NEGOTIATION, 10, f"{what}: no such protocol; ignored")
            continue
        if n.spi and n.spi not in (ours.get(pid), theirs.get(pid)):
            log.debug(Cls.NEGOTIATION, 10, f"{what}: SPI {n.spi.hex()} is not this "
                      "SA's; ignored")
            continue
        got = decode(n.data)
        if got is None:
            log.debug(Cls.NEGOTIATION, 10, f"{what}: no lifetime in it; ignored")
            continue
        secs, kb = chosen.lifes.get(pid, (0, 0))
        new_secs = min(x for x in (secs, got[0]) if x) if secs or got[0] else 0
        new_kb = min(x for x in (kb, got[1]) if x) if kb or got[1] else 0
        if (new_secs, new_kb) != (secs, kb):
            log.logger(Cls.NEGOTIATION).info(
                "%s: lifetime %s s / %s KB instead of %s s / %s KB", what,
                new_secs or "-", new_kb or "-", secs or "-", kb or "-")
        chosen.lifes[pid] = (new_secs, new_kb)


__all__ = ["relaxed", "cap", "encode", "decode", "notifications", "apply"]
