"""SA payloads: building our offers from the configuration, and choosing
among a peer's proposals.

Phase 1 offers one ISAKMP proposal with one transform per configured
ISAKMP-transform. Phase 2 offers one proposal number per configured suite,
with one Proposal payload per protocol of the suite (ESP, AH, IPCOMP), each
listing that protocol's transforms.

A responder takes the peer's proposals in the peer's order and, within one,
the peer's transforms in order, and accepts the first one that matches one of
its own configured transforms; no match anywhere is NO_PROPOSAL_CHOSEN.
Attributes we do not know, and algorithms we cannot do, simply do not match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from .. import _core, log
from ..constants import (KEY_IKE, SUPPORTED_GROUPS, AhTransform, AuthAlg, AuthMethod,
                         Doi, EncAlg, EncapMode, EspTransform, Group, HashAlg, IkeAttr,
                         IpsecAttr, LifeType, NotifyType, ProtocolId, Situation, name_of)
from ..errors import CryptoError, MessageError
from ..kernel import algs
from ..log import Cls
from ..sa import NattState, Phase1Params, base_encap_mode, is_udp_encap
from .base import ExchangeFailed

if TYPE_CHECKING:
    from ..conf.model import IkeTransformSpec, IpsecTransformSpec, LifeSpec, SuiteSpec

IPSEC_SITUATION = int(Situation.IDENTITY_ONLY).to_bytes(4, "big")

#: fixed or default key lengths of the phase-1 ciphers, in bits
_IKE_DEFAULT_KEY_BITS = {EncAlg.TDES_CBC: 192, EncAlg.BLOWFISH_CBC: 128,
                         EncAlg.CAST_CBC: 128, EncAlg.AES_CBC: 128}
_IKE_FIXED = {EncAlg.TDES_CBC}
#: key length bounds per phase-1 cipher, bits
_IKE_KEY_BOUNDS = {EncAlg.BLOWFISH_CBC: (40, 448), EncAlg.CAST_CBC: (40, 128),
                   EncAlg.AES_CBC: (128, 256)}
SUPPORTED_IKE_CIPHERS = frozenset(_IKE_DEFAULT_KEY_BITS)
SUPPORTED_IKE_HASHES = frozenset({HashAlg.MD5, HashAlg.SHA, HashAlg.SHA2_256,
                                  HashAlg.SHA2_384, HashAlg.SHA2_512})
SUPPORTED_AUTH = frozenset({AuthMethod.PRE_SHARED, AuthMethod.RSA_SIG})
ANY = 0  # an algorithm field configured as ANY


def attrs_dict(attrs: Iterable[_core.Attribute], known: type) -> dict[int, list[int]]:
    """Attributes by type; values as ints. Raises ValueError on unknown types."""
    out: dict[int, list[int]] = {}
    for a in attrs:
        try:
            known(a.type)
        except ValueError:
            raise ValueError(f"unknown attribute type {a.type}") from None
        try:
            v = a.as_int()
        except MessageError as e:
            raise ValueError(str(e)) from None
        out.setdefault(a.type, []).append(v)
    return out


def _life_attrs(lifes: Sequence["LifeSpec"], type_attr: int,
                dur_attr: int) -> list[_core.Attribute]:
    out = []
    for life in lifes:
        out.append(_core.Attribute(type_attr, life.life_type))
        out.append(_core.Attribute(dur_attr, life.duration.offer))
    return out


def _life_pairs(attrs: list[_core.Attribute], type_attr: int,
                dur_attr: int) -> list[tuple[int, int]] | None:
    """(LIFE_TYPE, LIFE_DURATION) pairs in order; None if malformed."""
    pairs = []
    pending_type = None
    for a in attrs:
        if a.type == type_attr:
            if pending_type is not None:
                return None
            pending_type = a.as_int()
        elif a.type == dur_attr:
            if pending_type is None:
                return None
            pairs.append((pending_type, a.as_int()))
            pending_type = None
    if pending_type is not None:
        return None
    return pairs


def _lifes_acceptable(pairs: list[tuple[int, int]], lifes: Sequence["LifeSpec"]) -> bool:
    for life_type, value in pairs:
        spec = next((l for l in lifes if l.life_type == life_type), None)
        if spec is None:
            if life_type not in (LifeType.SECONDS, LifeType.KILOBYTES):
                return False
            continue  # a limit we did not configure: accept the peer's
        if not spec.duration.accepts(value):
            return False
    return True


def _lifetimes(pairs: list[tuple[int, int]]) -> tuple[int, int]:
    secs = kb = 0
    for t, v in pairs:
        if t == LifeType.SECONDS:
            secs = v
        elif t == LifeType.KILOBYTES:
            kb = v
    return secs, kb


# ------------------------------------------------------------------ phase 1

def ike_transform(number: int, spec: "IkeTransformSpec") -> _core.Transform:
    attrs = [_core.Attribute(IkeAttr.ENCRYPTION_ALGORITHM, spec.enc_alg)]
    if spec.key_length is not None and spec.enc_alg not in _IKE_FIXED:
        attrs.append(_core.Attribute(IkeAttr.KEY_LENGTH, spec.key_length.offer))
    attrs += [
        _core.Attribute(IkeAttr.HASH_ALGORITHM, spec.hash_alg),
        _core.Attribute(IkeAttr.AUTHENTICATION_METHOD, spec.auth_method),
        _core.Attribute(IkeAttr.GROUP_DESCRIPTION, spec.group),
    ]
    if spec.prf is not None:
        attrs.append(_core.Attribute(IkeAttr.PRF, spec.prf))
    attrs += _life_attrs(spec.lifes, IkeAttr.LIFE_TYPE, IkeAttr.LIFE_DURATION)
    return _core.Transform(number, KEY_IKE, attrs)


def phase1_sa(transforms: Sequence["IkeTransformSpec"]) -> _core.SA:
    xfs = [ike_transform(i + 1, t) for i, t in enumerate(transforms)]
    return _core.SA(Doi.IPSEC, IPSEC_SITUATION,
                    [_core.Proposal(1, ProtocolId.ISAKMP, b"", xfs)])


def _ike_params(xf: _core.Transform, spec: "IkeTransformSpec") -> Phase1Params | None:
    """The agreed parameters if the peer's transform ``xf`` matches ``spec``."""
    if xf.transform_id != KEY_IKE:
        return None
    try:
        d = attrs_dict(xf.attributes, IkeAttr)
        lifes = _life_pairs(xf.attributes, IkeAttr.LIFE_TYPE, IkeAttr.LIFE_DURATION)
    except (ValueError, MessageError):
        return None
    if lifes is None:
        return None
    for t, vals in d.items():
        if len(vals) > 1 and t not in (IkeAttr.LIFE_TYPE, IkeAttr.LIFE_DURATION):
            return None
        if t in (IkeAttr.GROUP_TYPE, IkeAttr.GROUP_PRIME, IkeAttr.GROUP_GENERATOR_ONE,
                 IkeAttr.GROUP_GENERATOR_TWO, IkeAttr.GROUP_CURVE_A,
                 IkeAttr.GROUP_CURVE_B, IkeAttr.FIELD_SIZE, IkeAttr.GROUP_ORDER):
            return None  # private groups: not supported
    one = {t: v[0] for t, v in d.items()}
    enc = one.get(IkeAttr.ENCRYPTION_ALGORITHM)
    hash_alg = one.get(IkeAttr.HASH_ALGORITHM)
    auth = one.get(IkeAttr.AUTHENTICATION_METHOD)
    group = one.get(IkeAttr.GROUP_DESCRIPTION)
    if (not _same(spec.enc_alg, enc) or not _same(spec.hash_alg, hash_alg)
            or not _same(spec.auth_method, auth) or not _same(spec.group, group)
            or one.get(IkeAttr.PRF) != spec.prf):
        return None
    if (enc not in SUPPORTED_IKE_CIPHERS or hash_alg not in SUPPORTED_IKE_HASHES
            or group not in SUPPORTED_GROUPS or auth not in SUPPORTED_AUTH):
        return None
    key_bits = one.get(IkeAttr.KEY_LENGTH)
    if enc in _IKE_FIXED:
        if key_bits is not None and key_bits != _IKE_DEFAULT_KEY_BITS[enc]:
            return None
        key_bits = _IKE_DEFAULT_KEY_BITS[enc]
    else:
        if key_bits is None:
            key_bits = _IKE_DEFAULT_KEY_BITS[enc]
        lo, hi = _IKE_KEY_BOUNDS[enc]
        if not lo <= key_bits <= hi or key_bits % 8:
            return None
        if spec.key_length is not None and not spec.key_length.accepts(key_bits):
            return None
        if enc == EncAlg.AES_CBC and key_bits not in (128, 192, 256):
            return None
    if not getattr(spec, "life_any", False) and not _lifes_acceptable(lifes, spec.lifes):
        return None
    secs, kb = _lifetimes(lifes)
    if not secs and not kb:
        secs = next((l.duration.offer for l in spec.lifes
                     if l.life_type == LifeType.SECONDS), 0)
    return Phase1Params(enc_alg=enc, key_len=key_bits // 8, hash_alg=hash_alg,
                        auth_method=auth, group=group, life_seconds=secs,
                        life_kbytes=kb, prf=spec.prf, transform_name=spec.name)


def _same(configured: int, offered: int | None) -> bool:
    """A configured algorithm field matches the peer's value (ANY matches all)."""
    return offered is not None and (configured == ANY or configured == offered)


def select_phase1(peer_sa: _core.SA, ours: Sequence["IkeTransformSpec"],
                  auth_ok: Callable[[int], bool] | None = None,
                  group_ok: Callable[[int], bool] | None = None
                  ) -> tuple[_core.SA, Phase1Params]:
    """Responder: the SA payload to answer with, and the agreed parameters.
    ``auth_ok`` tells whether we can carry out an authentication method (a
    transform we have no key or certificate for is not chosen, even one
    configured as ANY); ``group_ok`` likewise for DH groups (Aggressive
    Mode: the group must fit the KE payload that came with the offer)."""
    check_doi(peer_sa)
    keyless: set[int] = set()
    for prop in peer_sa.proposals:
        if prop.protocol_id != ProtocolId.ISAKMP:
            continue
        for xf in prop.transforms:
            for spec in ours:
                params = _ike_params(xf, spec)
                if params is not None and auth_ok is not None and not auth_ok(
                        params.auth_method):
                    log.debug(Cls.NEGOTIATION, 50, "phase 1 transform %d: no key "
                              "for its authentication method", xf.number)
                    keyless.add(params.auth_method)
                    params = None
                if (params is not None and group_ok is not None
                        and not group_ok(params.group)):
                    params = None
                if params is not None:
                    chosen = _core.Proposal(prop.number, prop.protocol_id, prop.spi, [xf])
                    return _core.SA(peer_sa.doi, peer_sa.situation, [chosen]), params
            log.debug(Cls.NEGOTIATION, 50, "phase 1 transform %d: no match",
                      xf.number)
    why = ""
    if keyless:
        names = ", ".join(AuthMethod.confname(m) for m in sorted(keyless))
        why = f" (we lack the key or certificate for {names})"
    raise ExchangeFailed(f"no acceptable phase 1 proposal{why}; the peer offered "
                         f"{offered_phase1(peer_sa)}", NotifyType.NO_PROPOSAL_CHOSEN)


#: at most this many of a peer's transforms are named in a log line
OFFERED_MAX = 8


def offered_phase1(peer_sa: _core.SA) -> str:
    """The peer's phase-1 transforms in isakmpd's words, e.g.
    ``AES_CBC-256/SHA/PRE_SHARED/MODP_2048``, for the operator who has to
    find out why nothing matched."""
    names: list[str] = []
    fields = ((IkeAttr.ENCRYPTION_ALGORITHM, EncAlg), (IkeAttr.HASH_ALGORITHM, HashAlg),
              (IkeAttr.AUTHENTICATION_METHOD, AuthMethod),
              (IkeAttr.GROUP_DESCRIPTION, Group))
    for prop in peer_sa.proposals:
        for xf in prop.transforms:
            try:
                attrs = attrs_dict(xf.attributes, IkeAttr)
            except ValueError as e:
                names.append(f"#{xf.number} ({e})")
                continue
            parts = []
            for attr, enum in fields:
                vals = attrs.get(attr)
                parts.append(enum.confname(vals[0]) if vals else "-")
            if IkeAttr.KEY_LENGTH in attrs:
                parts[0] += f"-{attrs[IkeAttr.KEY_LENGTH][0]}"
            names.append("/".join(parts))
    return _first_names(names, "no ISAKMP transform")


def _first_names(names: list[str], none: str) -> str:
    """``names`` joined for a log line, at most :data:`OFFERED_MAX` of them."""
    if not names:
        return none
    more = len(names) - OFFERED_MAX
    return ", ".join(names[:OFFERED_MAX]) + (f" and {more} more" if more > 0 else "")


def accept_phase1_reply(reply: _core.SA, ours: Sequence["IkeTransformSpec"]
                        ) -> Phase1Params:
    """Initiator: the responder's choice must be one transform we offered."""
    check_doi(reply)
    if len(reply.proposals) != 1 or len(reply.proposals[0].transforms) != 1:
        raise ExchangeFailed("responder did not choose exactly one transform",
                             NotifyType.BAD_PROPOSAL_SYNTAX)
    xf = reply.proposals[0].transforms[0]
    for spec in ours:
        params = _ike_params(xf, spec)
        if params is not None:
            return params
    raise ExchangeFailed("responder chose a transform we did not offer",
                         NotifyType.NO_PROPOSAL_CHOSEN)


def aggressive_group(transforms: Sequence["IkeTransformSpec"]) -> int:
    """The one DH group of an Aggressive Mode offer. Its KE payload goes in
    the first message, before the responder chooses, so every transform
    offered must ask for the same group (ExchangeFailed otherwise)."""
    groups = sorted({t.group for t in transforms})
    if not groups:
        raise ExchangeFailed("no phase 1 transform to offer")
    if ANY in groups:
        raise ExchangeFailed("a transform with GROUP_DESCRIPTION=ANY cannot be "
                             "offered in Aggressive Mode")
    if len(groups) > 1:
        raise ExchangeFailed(
            f"the transforms offered in Aggressive Mode ask for different DH "
            f"groups ({', '.join(map(str, groups))}), but Aggressive Mode sends "
            "its KE payload in the first message: all must use one group")
    return groups[0]


def check_doi(sa: _core.SA) -> None:
    if sa.doi != Doi.IPSEC:
        raise ExchangeFailed(f"DOI {sa.doi} not supported", NotifyType.DOI_NOT_SUPPORTED)
    if sa.situation[:4] != IPSEC_SITUATION:
        raise ExchangeFailed("situation not supported",
                             NotifyType.SITUATION_NOT_SUPPORTED)


# ------------------------------------------------------------------ phase 2

@dataclass
class Chosen:
    """The outcome of phase-2 selection: one transform per protocol."""

    proposal_number: int
    suite_name: str
    #: (protocol payload as the peer sent it, chosen transform, our spec)
    protos: list[tuple[_core.Proposal, _core.Transform, "IpsecTransformSpec"]]
    group: int | None
    #: protocol id -> (life seconds, life kbytes) as the peer proposed
    lifes: dict[int, tuple[int, int]] = field(default_factory=dict)
    replay_windows: dict[int, int] = field(default_factory=dict)


def ipsec_transform(number: int, spec: "IpsecTransformSpec", natt: NattState,
                    protocol_id: int) -> _core.Transform:
    attrs = _life_attrs(spec.lifes, IpsecAttr.SA_LIFE_TYPE, IpsecAttr.SA_LIFE_DURATION)
    if spec.group is not None:
        attrs.append(_core.Attribute(IpsecAttr.GROUP_DESCRIPTION, spec.group))
    if protocol_id != ProtocolId.IPCOMP or spec.encap_mode:
        attrs.append(_core.Attribute(IpsecAttr.ENCAPSULATION_MODE,
                                     natt.encap_mode(spec.encap_mode)))
    if spec.auth_alg is not None:
        attrs.append(_core.Attribute(IpsecAttr.AUTHENTICATION_ALGORITHM, spec.auth_alg))
    if spec.key_length is not None:
        attrs.append(_core.Attribute(IpsecAttr.KEY_LENGTH, spec.key_length.offer))
    if spec.key_rounds is not None:
        attrs.append(_core.Attribute(IpsecAttr.KEY_ROUNDS, spec.key_rounds))
    return _core.Transform(number, spec.transform_id, attrs)


def phase2_sa(suites: Sequence["SuiteSpec"], spis: dict[int, bytes],
              natt: NattState) -> _core.SA:
    """Our Quick Mode offer; ``spis`` maps protocol id to our inbound SPI."""
    props = []
    for n, suite in enumerate(suites, start=1):
        for proto in suite.protocols:
            xfs = [ipsec_transform(i + 1, t, natt, proto.protocol_id)
                   for i, t in enumerate(proto.transforms)]
            props.append(_core.Proposal(n, proto.protocol_id, spis[proto.protocol_id],
                                        xfs))
    return _core.SA(Doi.IPSEC, IPSEC_SITUATION, props)


def pfs_group(suites: Sequence["SuiteSpec"]) -> int | None:
    """The DH group of our KE payload. Quick Mode carries one KE payload, so
    the transforms we offer may not ask for different groups (isakmpd too
    refuses "differing group descriptions in one QM"): a responder taking
    one with another group could not use our KE."""
    groups = sorted({t.group for suite in suites for proto in suite.protocols
                     for t in proto.transforms if t.group is not None})
    if len(groups) > 1:
        raise ExchangeFailed(
            f"the suites offered ask for different PFS groups "
            f"({', '.join(map(str, groups))}), but Quick Mode has one KE payload")
    return groups[0] if groups else None


def _ipsec_match(xf: _core.Transform, spec: "IpsecTransformSpec", protocol_id: int,
                 natt: NattState) -> tuple[int, int] | None:
    """(life seconds, life kbytes) if the peer's ``xf`` matches ``spec``."""
    if xf.transform_id != spec.transform_id:
        return None
    try:
        d = attrs_dict(xf.attributes, IpsecAttr)
        lifes = _life_pairs(xf.attributes, IpsecAttr.SA_LIFE_TYPE,
                            IpsecAttr.SA_LIFE_DURATION)
    except (ValueError, MessageError):
        return None
    if lifes is None:
        return None
    for t, vals in d.items():
        if len(vals) > 1 and t not in (IpsecAttr.SA_LIFE_TYPE, IpsecAttr.SA_LIFE_DURATION):
            return None
        if t in (IpsecAttr.COMPRESS_DICTIONARY_SIZE, IpsecAttr.COMPRESS_PRIVATE_ALGORITHM):
            return None
    one = {t: v[0] for t, v in d.items()}
    mode = one.get(IpsecAttr.ENCAPSULATION_MODE, EncapMode.TUNNEL)
    if protocol_id != ProtocolId.IPCOMP or IpsecAttr.ENCAPSULATION_MODE in one:
        if base_encap_mode(mode) != spec.encap_mode:
            return None
        if is_udp_encap(mode) and not natt.natd_type:
            return None
    if one.get(IpsecAttr.AUTHENTICATION_ALGORITHM) != spec.auth_alg:
        return None
    if one.get(IpsecAttr.GROUP_DESCRIPTION) != spec.group:
        return None
    if one.get(IpsecAttr.KEY_ROUNDS) not in (None, spec.key_rounds):
        return None
    bits = one.get(IpsecAttr.KEY_LENGTH)
    if spec.key_length is None:
        if bits is not None:
            return None
    elif bits is None:
        if not spec.key_length.accepts(spec.key_length.offer):
            return None
    elif not spec.key_length.accepts(bits):
        return None
    if not getattr(spec, "life_any", False) and not _lifes_acceptable(lifes, spec.lifes):
        return None
    if not _kernel_can(protocol_id, xf.transform_id, bits, spec.auth_alg):
        return None
    return _lifetimes(lifes)


def _kernel_can(protocol_id: int, transform_id: int, bits: int | None,
                auth_alg: int | None) -> bool:
    """Whether we can key this transform at all (known algorithm and size)."""
    try:
        if protocol_id == ProtocolId.IPSEC_ESP:
            algs.esp_keymat_lengths(transform_id, bits, auth_alg)
        elif protocol_id == ProtocolId.IPSEC_AH:
            algs.ah_keymat_length(transform_id, auth_alg)
    except (CryptoError, ValueError, KeyError):
        return False
    return True


def select_phase2(peer_sa: _core.SA, suites: Sequence["SuiteSpec"], natt: NattState,
                  policy: Callable[[Chosen], bool] | None = None) -> Chosen:
    """Responder: the first peer proposal (by number) one of our suites takes
    and ``policy`` (if given) allows; a proposal it refuses is skipped."""
    check_doi(peer_sa)
    refused = 0
    groups: dict[int, list[_core.Proposal]] = {}
    for p in peer_sa.proposals:
        groups.setdefault(p.number, []).append(p)
    for number, props in groups.items():
        for suite in suites:
            if [p.protocol_id for p in props] != [s.protocol_id for s in suite.protocols]:
                continue
            picked = []
            lifes: dict[int, tuple[int, int]] = {}
            for prop, ours in zip(props, suite.protocols):
                found = None
                for xf in prop.transforms:
                    for spec in ours.transforms:
                        lt = _ipsec_match(xf, spec, prop.protocol_id, natt)
                        if lt is not None:
                            found = (prop, xf, spec)
                            lifes[prop.protocol_id] = lt
                            break
                    if found:
                        break
                if found is None:
                    break
                picked.append(found)
            else:
                groups_used = {s.group for _, _, s in picked if s.group is not None}
                if len(groups_used) > 1:
                    continue
                windows = {p.protocol_id: p.replay_window for p in suite.protocols}
                chosen = Chosen(number, suite.name, picked,
                                groups_used.pop() if groups_used else None, lifes,
                                windows)
                if policy is not None and not policy(chosen):
                    refused += 1
                    break  # as isakmpd: the proposal is refused, on to the next
                return chosen
    why = f" ({refused} refused by the policy)" if refused else ""
    raise ExchangeFailed(f"no acceptable phase 2 proposal{why}; the peer offered "
                         f"{offered_phase2(peer_sa)}", NotifyType.NO_PROPOSAL_CHOSEN)


_PHASE2_NAMES: dict[int, tuple[str, type]] = {
    ProtocolId.IPSEC_ESP: ("ESP", EspTransform), ProtocolId.IPSEC_AH: ("AH", AhTransform)}


def offered_phase2(peer_sa: _core.SA) -> str:
    """The peer's phase-2 proposals in isakmpd's words, e.g. ``#1 ESP
    AES-128/HMAC_SHA/MODP_2048/TUNNEL/5s``: lifetimes outside our range
    and the like show there."""
    names: list[str] = []
    for prop in peer_sa.proposals:
        label, enum = _PHASE2_NAMES.get(prop.protocol_id,
                                        (name_of(ProtocolId, prop.protocol_id), None))
        for xf in prop.transforms:
            try:
                one = {t: v[0] for t, v in attrs_dict(xf.attributes, IpsecAttr).items()}
                lifes = _life_pairs(xf.attributes, IpsecAttr.SA_LIFE_TYPE,
                                    IpsecAttr.SA_LIFE_DURATION) or []
            except (ValueError, MessageError) as e:
                names.append(f"#{prop.number} {label} ({e})")
                continue
            alg = enum.confname(xf.transform_id) if enum else str(xf.transform_id)
            if IpsecAttr.KEY_LENGTH in one:
                alg += f"-{one[IpsecAttr.KEY_LENGTH]}"
            parts = [alg]
            if IpsecAttr.AUTHENTICATION_ALGORITHM in one:
                parts.append(AuthAlg.confname(one[IpsecAttr.AUTHENTICATION_ALGORITHM]))
            if IpsecAttr.GROUP_DESCRIPTION in one:
                parts.append(Group.confname(one[IpsecAttr.GROUP_DESCRIPTION]))
            parts.append(EncapMode.confname(
                one.get(IpsecAttr.ENCAPSULATION_MODE, EncapMode.TUNNEL)))
            parts += [f"{v}{'kB' if t == LifeType.KILOBYTES else 's'}" for t, v in lifes]
            names.append(f"#{prop.number} {label} " + "/".join(parts))
    return _first_names(names, "nothing")


def accept_phase2_reply(reply: _core.SA, suites: Sequence["SuiteSpec"],
                        natt: NattState) -> Chosen:
    """Initiator: the responder's answer must be one of our proposals, with
    one transform per protocol."""
    check_doi(reply)
    numbers = {p.number for p in reply.proposals}
    if len(numbers) != 1 or any(len(p.transforms) != 1 for p in reply.proposals):
        raise ExchangeFailed("responder did not choose exactly one proposal",
                             NotifyType.BAD_PROPOSAL_SYNTAX)
    number = numbers.pop()
    if not 1 <= number <= len(suites):
        raise ExchangeFailed("responder chose a proposal we did not make",
                             NotifyType.NO_PROPOSAL_CHOSEN)
    suite = suites[number - 1]
    try:
        chosen = select_phase2(reply, [suite], natt)
    except ExchangeFailed:
        raise ExchangeFailed("responder chose a transform we did not offer",
                             NotifyType.NO_PROPOSAL_CHOSEN) from None
    chosen.proposal_number = number
    return chosen


def responder_sa(peer_sa: _core.SA, chosen: Chosen, spis: dict[int, bytes]) -> _core.SA:
    props = [_core.Proposal(prop.number, prop.protocol_id, spis[prop.protocol_id], [xf])
             for prop, xf, _ in chosen.protos]
    return _core.SA(peer_sa.doi, peer_sa.situation, props)


def esp_auth_name(alg: int | None) -> str:
    if alg is None:
        return "none"
    try:
        return AuthAlg(alg).name
    except ValueError:
        return str(alg)
