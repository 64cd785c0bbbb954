"""Reading transforms, protocols, suites and lifetimes into typed specs.

Whatever cannot be used (an algorithm the daemon cannot do, an unknown name,
a missing section) raises :class:`~.spec.SkippedError`; the callers skip that
item with a warning naming it and go on with the rest, so one bad transform
does not take a whole peer or connection down.
"""

from __future__ import annotations

from typing import TypeVar

from ..constants import (SUPPORTED_GROUPS, AhTransform, AuthAlg, AuthMethod, EncAlg,
                         EncapMode, EspTransform, Group, HashAlg, IpcompTransform,
                         LifeType, ProtocolId, _Named)
from ..errors import ConfigError
from .spec import (ANY, IkeTransformSpec, IpsecTransformSpec, LifeSpec, ProtocolSpec,
                   Range, SkippedError, SuiteSpec)
from .store import _View

E = TypeVar("E", bound=_Named)

IKE_CIPHERS = frozenset({EncAlg.TDES_CBC, EncAlg.AES_CBC, EncAlg.BLOWFISH_CBC,
                         EncAlg.CAST_CBC})
IKE_HASHES = frozenset({HashAlg.MD5, HashAlg.SHA, HashAlg.SHA2_256, HashAlg.SHA2_384,
                        HashAlg.SHA2_512})
IKE_AUTH = frozenset({AuthMethod.PRE_SHARED, AuthMethod.RSA_SIG})
ESP_TRANSFORMS = frozenset({EspTransform.TDES, EspTransform.CAST, EspTransform.BLOWFISH,
                            EspTransform.AES, EspTransform.AES_CTR,
                            EspTransform.AES_GCM_16, EspTransform.AES_GMAC,
                            EspTransform.NULL})
ESP_AEAD = frozenset({EspTransform.AES_GCM_16, EspTransform.AES_GMAC})
AUTH_ALGS = frozenset({AuthAlg.HMAC_MD5, AuthAlg.HMAC_SHA, AuthAlg.HMAC_RIPEMD,
                       AuthAlg.HMAC_SHA2_256, AuthAlg.HMAC_SHA2_384,
                       AuthAlg.HMAC_SHA2_512})
AH_TRANSFORMS = {AhTransform.MD5: AuthAlg.HMAC_MD5, AhTransform.SHA: AuthAlg.HMAC_SHA,
                 AhTransform.RIPEMD: AuthAlg.HMAC_RIPEMD,
                 AhTransform.SHA2_256: AuthAlg.HMAC_SHA2_256,
                 AhTransform.SHA2_384: AuthAlg.HMAC_SHA2_384,
                 AhTransform.SHA2_512: AuthAlg.HMAC_SHA2_512}
IPCOMP_TRANSFORMS = frozenset({IpcompTransform.DEFLATE, IpcompTransform.LZS})
GROUPS = frozenset(Group(g) for g in SUPPORTED_GROUPS)
#: key length bounds in bits (low, high, step) of the variable-key ciphers
_AES_BITS = (128, 256, 64)
IKE_KEY_BITS = {EncAlg.AES_CBC: _AES_BITS, EncAlg.BLOWFISH_CBC: (40, 448, 8),
                EncAlg.CAST_CBC: (40, 128, 8)}
ESP_KEY_BITS = {EspTransform.AES: _AES_BITS, EspTransform.AES_CTR: _AES_BITS,
                EspTransform.AES_GCM_16: _AES_BITS, EspTransform.AES_GMAC: _AES_BITS,
                EspTransform.BLOWFISH: (40, 448, 8), EspTransform.CAST: (40, 128, 8)}
_ANY_DURATION = Range(0, 0, 2**32 - 1)


def _names(values) -> str:
    return ", ".join(sorted(v.confname(v) for v in values))


def _skip(conf: _View, section: str, tag: str | None, reason: str) -> SkippedError:
    return SkippedError(reason, *conf.where(section, tag))


def _enum(conf: _View, section: str, tag: str, enum: type[E], supported,
          allow_any: bool = False) -> int | None:
    """An algorithm-like tag: None if absent, ANY, or a supported value."""
    value = conf.get(section, tag)
    if value is None:
        return None
    if allow_any and value.strip().upper() == "ANY":
        return ANY
    try:
        v = enum.parse(value)
    except ValueError:
        raise _skip(conf, section, tag,
                    f"[{section}] {tag}: unknown value {value.strip()!r}") from None
    if v not in supported:
        raise _skip(conf, section, tag,
                    f"[{section}] {tag}: {enum.confname(v)} ({int(v)}) is not "
                    f"supported (supported: {_names(supported)})")
    return int(v)


def _need(conf: _View, section: str, tag: str, enum: type[E], supported,
          allow_any: bool = False) -> int:
    v = _enum(conf, section, tag, enum, supported, allow_any)
    if v is None:
        raise _skip(conf, section, None, f"[{section}] has no {tag}")
    return v


def _int(conf: _View, section: str, tag: str, default: int | None) -> int | None:
    try:
        return conf.get_int(section, tag, default)
    except ConfigError as e:
        raise SkippedError(e.reason, e.file, e.line) from None


def _range(conf: _View, section: str, tag: str) -> Range | None:
    value = conf.get(section, tag)
    if value is None:
        return None
    try:
        return Range.parse(value)
    except ValueError as e:
        raise _skip(conf, section, tag, f"[{section}] {tag}: {e}") from None


def _key_length(conf: _View, section: str, bounds) -> Range | None:
    r = _range(conf, section, "KEY_LENGTH")
    if r is None or bounds is None:
        return r
    low, high, step = bounds
    for v in {r.offer, r.low, r.high}:
        if not low <= v <= high or v % step:
            raise _skip(conf, section, "KEY_LENGTH",
                        f"[{section}] KEY_LENGTH {v} is not a valid key length "
                        f"({low}-{high} bits in steps of {step})")
    return r


#: the largest lifetime (seconds or kilobytes): 32 bits, the most any IKEv1
#: peer sends and far beyond any sensible lifetime
MAX_LIFE = 0xFFFFFFFF


def life(conf: _View, section: str) -> LifeSpec:
    if not conf.has_section(section):
        raise SkippedError(f"lifetime section [{section}] does not exist")
    t = _need(conf, section, "LIFE_TYPE", LifeType, frozenset(LifeType))
    value = conf.get(section, "LIFE_DURATION")
    if value is None:
        raise _skip(conf, section, None, f"[{section}] has no LIFE_DURATION")
    if value.strip().upper() == "ANY":
        return LifeSpec(t, _ANY_DURATION)
    r = _range(conf, section, "LIFE_DURATION")
    assert r is not None
    if r.low < 0:
        raise _skip(conf, section, "LIFE_DURATION",
                    f"[{section}] LIFE_DURATION {value!r} is negative")
    if r.offer <= 0 or r.high <= 0:
        raise _skip(conf, section, "LIFE_DURATION",
                    f"[{section}] LIFE_DURATION {value!r}: a lifetime must be above 0")
    if max(r.offer, r.high) > MAX_LIFE:
        raise _skip(conf, section, "LIFE_DURATION",
                    f"[{section}] LIFE_DURATION {value!r} is above {MAX_LIFE}")
    return LifeSpec(t, r)


def _lifes(conf: _View, section: str) -> tuple[tuple[LifeSpec, ...], bool]:
    value = conf.get(section, "Life")
    if value is not None and value.strip().upper() == "ANY":
        return (), True
    out = []
    for name in conf.get_list(section, "Life"):
        try:
            out.append(life(conf, name))
        except SkippedError as e:
            raise _skip(conf, section, "Life",
                        f"[{section}] Life: {e.reason}") from None
    return tuple(out), False


def ike_transform(conf: _View, name: str) -> IkeTransformSpec:
    """An ISAKMP-transform section; SkippedError if it cannot be used."""
    if not conf.has_section(name):
        raise SkippedError(f"transform section [{name}] does not exist")
    enc = _need(conf, name, "ENCRYPTION_ALGORITHM", EncAlg, IKE_CIPHERS, True)
    hash_ = _need(conf, name, "HASH_ALGORITHM", HashAlg, IKE_HASHES, True)
    auth = _need(conf, name, "AUTHENTICATION_METHOD", AuthMethod, IKE_AUTH, True)
    # Private groups (GROUP_PRIME...) are not supported: a group is needed.
    group = _need(conf, name, "GROUP_DESCRIPTION", Group, GROUPS, True)
    prf = conf.get(name, "PRF")
    if prf is not None and prf.strip().upper() != "ANY":
        raise _skip(conf, name, "PRF", f"[{name}] PRF {prf.strip()!r}: no PRF "
                    "attribute is supported (the PRF is the HMAC of the hash)")
    for tag in ("GROUP_PRIME", "GROUP_GENERATOR_ONE",
                "GROUP_GENERATOR_TWO", "GROUP_CURVE_A", "GROUP_CURVE_B",
                "FIELD_SIZE", "GROUP_ORDER"):
        if conf.has_tag(name, tag):
            raise _skip(conf, name, tag, f"[{name}] {tag}: private groups are not "
                        "supported")
    key_len = _key_length(conf, name, IKE_KEY_BITS.get(enc))
    lifes, life_any = _lifes(conf, name)
    return IkeTransformSpec(name, enc, key_len, hash_,
                            ANY if prf is not None else None, auth, group, lifes,
                            life_any)


def ipsec_transform(conf: _View, name: str, protocol_id: int) -> IpsecTransformSpec:
    """An IPsec-transform section of a protocol (ESP, AH or IPCOMP)."""
    if not conf.has_section(name):
        raise SkippedError(f"transform section [{name}] does not exist")
    auth = _enum(conf, name, "AUTHENTICATION_ALGORITHM", AuthAlg, AUTH_ALGS)
    bounds = None
    if protocol_id == ProtocolId.IPSEC_ESP:
        tid = _need(conf, name, "TRANSFORM_ID", EspTransform, ESP_TRANSFORMS)
        if tid in ESP_AEAD and auth is not None:
            raise _skip(conf, name, "AUTHENTICATION_ALGORITHM",
                        f"[{name}] {EspTransform.confname(tid)} carries its own "
                        "integrity check: AUTHENTICATION_ALGORITHM must not be set")
        bounds = ESP_KEY_BITS.get(tid)
    elif protocol_id == ProtocolId.IPSEC_AH:
        tid = _need(conf, name, "TRANSFORM_ID", AhTransform, frozenset(AH_TRANSFORMS))
        implied = AH_TRANSFORMS[AhTransform(tid)]
        if auth is None:
            auth = int(implied)  # RFC 2407 4.5: AH carries the matching one
        elif auth != implied:
            raise _skip(conf, name, "AUTHENTICATION_ALGORITHM",
                        f"[{name}] AH {AhTransform.confname(tid)} needs "
                        f"AUTHENTICATION_ALGORITHM {AuthAlg.confname(implied)}")
    elif protocol_id == ProtocolId.IPCOMP:
        tid = _need(conf, name, "TRANSFORM_ID", IpcompTransform, IPCOMP_TRANSFORMS)
    else:
        raise SkippedError(f"[{name}]: protocol {protocol_id} has no IPsec transforms")
    mode = _enum(conf, name, "ENCAPSULATION_MODE", EncapMode, frozenset(EncapMode))
    group = _enum(conf, name, "GROUP_DESCRIPTION", Group, GROUPS)
    key_len = _key_length(conf, name, bounds)
    rounds = _int(conf, name, "KEY_ROUNDS", None)
    lifes, life_any = _lifes(conf, name)
    if mode is None:
        mode = int(EncapMode.TUNNEL)
    return IpsecTransformSpec(name, tid, mode, auth, group, key_len, rounds, lifes,
                              life_any)


def ipsec_protocol(conf: _View, name: str, warnings: list[str]) -> ProtocolSpec:
    """An IPsec-protocol section; unusable transforms are skipped with a
    warning, and SkippedError is raised when none is left."""
    if not conf.has_section(name):
        raise SkippedError(f"protocol section [{name}] does not exist")
    proto = _need(conf, name, "PROTOCOL_ID", ProtocolId,
                  frozenset({ProtocolId.IPSEC_ESP, ProtocolId.IPSEC_AH,
                             ProtocolId.IPCOMP}))
    window = _int(conf, name, "ReplayWindow", 16)
    if window is None or window < 0:
        raise _skip(conf, name, "ReplayWindow", f"[{name}] ReplayWindow {window} "
                    "is negative")
    xfs = []
    errors: list[tuple[str, SkippedError]] = []
    for xf in conf.get_list(name, "Transforms"):
        try:
            xfs.append(ipsec_transform(conf, xf, proto))
        except SkippedError as e:
            errors.append((xf, e))
    if not xfs:
        # One message for the lot: the caller skips the whole suite with it.
        if len(errors) == 1:
            raise errors[0][1]
        if not errors:
            raise _skip(conf, name, None, f"[{name}] has no Transforms")
        raise _skip(conf, name, "Transforms", f"[{name}] has no usable transform: "
                    + "; ".join(e.reason for _, e in errors))
    warnings += [skipped(conf, name, "Transforms", xf, e) for xf, e in errors]
    return ProtocolSpec(name, proto, window, tuple(xfs))


def ipsec_suite(conf: _View, name: str, warnings: list[str] | None = None) -> SuiteSpec:
    """An IPsec-suite: every protocol of it must be usable, else SkippedError
    (with the reason of the first protocol that is not)."""
    if warnings is None:
        warnings = []
    if not conf.has_section(name):
        raise SkippedError(f"suite section [{name}] does not exist")
    protos = []
    for p in conf.get_list(name, "Protocols"):
        protos.append(ipsec_protocol(conf, p, warnings))
    if not protos:
        raise _skip(conf, name, None, f"[{name}] has no Protocols")
    return SuiteSpec(name, tuple(protos))


def skipped(conf: _View, section: str, tag: str, item: str, e: SkippedError) -> str:
    """The warning for ``item`` of the list [section]:tag, skipped for ``e``."""
    inner = f" ({e.file}:{e.line})" if e.file is not None and e.line is not None else ""
    return (f"{conf.at(section, tag)}[{section}] {tag}: {item} skipped: "
            f"{e.reason}{inner}")
