"""Typed, validated views of the configuration, read at the moment of use
(as isakmpd reads its table), so that FIFO edits take effect on the next
negotiation.

- :func:`general` reads [General] with its defaults.
- :func:`phase1_peer` reads an ISAKMP-peer section, its
  ISAKMP-configuration and transforms; :func:`phase1_peer_for_address`
  finds the peer for an incoming phase 1 ([Phase 1] <address>=, else
  Default=).
- :func:`connection` reads an IPsec-connection with its suites;
  :func:`connections` lists [Phase 2] Connections and Passive-connections.
- :func:`check` walks all of them once, for start-up and reload reports.

A missing or malformed section that a peer or connection refers to by a
single tag (Configuration, ISAKMP-peer, ID, Local-ID...) is a ConfigError
naming the referring section and tag, with file and line where known. A
transform, protocol or suite that cannot be used is skipped with a warning
naming it, and a peer or connection left with nothing to propose or accept
gets a warning of its own. Warnings are returned, not logged:
:func:`log_once` logs each message once per loaded configuration.
"""

from __future__ import annotations

import binascii
import functools
import ipaddress
from collections.abc import Callable
from typing import TypeVar

from .. import log
from ..constants import AuthMethod, ExchangeType
from ..errors import ConfigError
from . import defaults, ifaddr
from .algs import ike_transform, ipsec_suite, skipped
from .ids import id_from_address, id_spec, port_number
from .spec import (ANY, Connection, General, IdSpec, IkeTransformSpec,
                   IpsecTransformSpec, LifeSpec, Phase1Peer, ProtocolSpec, Range,
                   SkippedError, SuiteSpec)
from .store import Conf, _View

__all__ = [
    "ANY", "Connection", "General", "IdSpec", "IkeTransformSpec", "IpsecTransformSpec",
    "LifeSpec", "Phase1Peer", "ProtocolSpec", "Range", "SkippedError", "SuiteSpec",
    "check", "connection", "connections", "general", "id_from_address", "id_spec",
    "ike_transform", "ipsec_suite", "log_once", "phase1_peer",
    "phase1_peer_for_address", "psk_for_id", "KNOWN_FLAGS",
]

#: Flags isakmpd knows (sa.c sa_flag); "__ondemand" is set internally (on
#: ACQUIRE-made connections), and "ondemand" asks for a connection's flows to
#: be installed before it has an SA (isakmpd.acquire).
KNOWN_FLAGS = frozenset({"active-only", "ikecfg", "__ondemand", "ondemand"})
_FALSE = {"no", "false", "off", "0"}
_TRUE = {"yes", "true", "on", "1"}
_T = TypeVar("_T")


def _per_generation(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Keep what ``fn(conf, *args)`` returns for as long as ``conf`` is the
    same generation (a reload, a FIFO edit or a committed transaction starts
    a new one): the views are frozen, and reading them anew for every
    message was most of a responder's work. Errors are not kept, nor views
    that named an interface (its address may change), nor views of a
    :class:`~.store.Transaction`."""
    kind = fn.__name__

    @functools.wraps(fn)
    def cached(conf: _View, *args: str) -> _T:
        if not isinstance(conf, Conf):
            return fn(conf, *args)
        cache = conf.__dict__.get("_views")
        if cache is None or cache[0] != conf.generation:
            cache = (conf.generation, {})
            conf.__dict__["_views"] = cache
        key = (kind, *args)
        views = cache[1]
        if key in views:
            return views[key]
        seen = ifaddr.lookups
        value = fn(conf, *args)
        if ifaddr.lookups == seen:
            views[key] = value
        return value

    return cached


def log_once(conf: Conf, messages) -> None:
    """Log each message as a warning, once per loaded configuration."""
    for m in messages:
        if m not in conf.logged:
            conf.logged.add(m)
            log.logger(log.Cls.MISC).warning("%s", m)


# ------------------------------------------------------------------ General


#: the largest number a [General] setting takes (seconds: 68 years)
INT_MAX = 2**31 - 1


def _int(conf: _View, tag: str, default: int, minimum: int = 0) -> int:
    v = conf.get_int("General", tag, default)
    assert v is not None
    if v < minimum:
        raise conf.error("General", tag, f"[General] {tag}={v} is below {minimum}")
    if v > INT_MAX:
        raise conf.error("General", tag, f"[General] {tag}={v} is above {INT_MAX}")
    return v


def _bool(conf: _View, tag: str, default: bool) -> bool:
    value = conf.get("General", tag)
    if value is None:
        return default
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise conf.error("General", tag, f"[General] {tag}={value!r}: say yes or no")


def _present(conf: _View, tag: str) -> bool:
    """isakmpd tests these tags for presence only; an explicit no/false/off/0
    is read as off here."""
    value = conf.get("General", tag)
    return value is not None and value.strip().lower() not in _FALSE


def _general_range(conf: _View, tag: str, default: str) -> Range:
    value = conf.get("General", tag, default) or default
    try:
        return Range.parse(value)
    except ValueError as e:
        raise conf.error("General", tag, f"[General] {tag}: {e}") from None


@_per_generation
def general(conf: _View) -> General:
    """[General] with isakmpd's defaults, and our ``DH-exponent-bits``.

    ``DH-exponent-bits`` sets the length of our private Diffie-Hellman
    exponents in MODP groups: a number of bits (at least 160), or ``full``
    for exponents as long as the prime, as isakmpd makes them. Left out, each
    group uses twice its security strength (NIST SP 800-57: MODP-1024 160
    bits, MODP-2048 224, MODP-3072 256...), which is several times faster
    and as strong as the group itself.
    """
    loglevel = tuple(conf.get_list("General", "Loglevel"))
    for spec in loglevel:
        try:
            log.parse_spec(spec)
        except ValueError as e:
            raise conf.error("General", "Loglevel",
                             f"[General] Loglevel: {e}") from None
    dh_text = conf.get("General", "DH-exponent-bits")
    dh_bits: int | None = None
    if dh_text is not None:
        t = dh_text.strip().lower()
        if t == "full":
            dh_bits = 0
        elif t.isdigit() and int(t) >= 160:
            dh_bits = int(t)
        else:
            raise conf.error("General", "DH-exponent-bits",
                             f"[General] DH-exponent-bits={dh_text!r}: give a number "
                             "of bits (at least 160) or 'full'")
    suites = conf.get_list("General", "Default-phase-2-suites") or [
        "QM-ESP-3DES-SHA-PFS-SUITE"]
    return General(
        retransmits=_int(conf, "Retransmits", 3),
        exchange_max_time=_int(conf, "Exchange-max-time", 120, 1),
        check_interval=_int(conf, "Check-interval", 60, 1),
        listen_on=tuple(dict.fromkeys(
            _listen(conf, a) for a in conf.get_list("General", "Listen-on"))),
        default_phase1_lifetime=_general_range(conf, "Default-phase-1-lifetime",
                                               defaults.DFLT_LIFE_MAIN_MODE),
        default_phase2_lifetime=_general_range(conf, "Default-phase-2-lifetime",
                                               defaults.DFLT_LIFE_QUICK_MODE),
        delete_sas=_bool(conf, "Delete-SAs", True),
        nat_t_keepalive=_int(conf, "NAT-T-Keepalive", 20),
        dpd_check_interval=_int(conf, "DPD-check-interval", 0),
        policy_file=conf.get("General", "Policy-file") or defaults.DFLT_POLICY_FILE,
        pubkey_directory=(conf.get("General", "Pubkey-directory")
                          or defaults.DFLT_PUBKEY_DIR),
        use_keynote=_bool(conf, "Use-Keynote", True),
        renegotiate_on_hup=_present(conf, "Renegotiate-on-HUP"),
        shared_sadb=_present(conf, "Shared-SADB"),
        acquire_only=_present(conf, "Acquire-Only"),
        default_phase1_id=conf.get("General", "Default-phase-1-ID") or None,
        default_phase2_suites=tuple(suites),
        loglevel=loglevel,
        logverbose=_present(conf, "Logverbose"),
        dh_exponent_bits=dh_bits,
        max_half_open=_int(conf, "Max-Half-Open", 1000),
    )


def _listen(conf: _View, text: str) -> str:
    """A Listen-on entry: an address (normalised), or an interface name or
    ``default`` for that interface's IPv4 address, looked up now."""
    a = ifaddr.resolve(text, 0)
    if a is None:
        raise conf.error("General", "Listen-on", f"[General] Listen-on: {text!r} is "
                         "neither an IP address nor an interface with an address")
    return str(a)


# ------------------------------------------------------------ shared helpers


def _flags(conf: _View, section: str, warnings: list[str]) -> frozenset[str]:
    out = set()
    for f in conf.get_list(section, "Flags"):
        lf = f.lower()
        if lf in KNOWN_FLAGS:
            out.add(lf)
        else:
            warnings.append(f"{conf.at(section, 'Flags')}[{section}] Flags: unknown "
                            f"value {f!r} ignored (known: active-only, ikecfg)")
    return frozenset(out)


def _phase(conf: _View, section: str, want: int) -> None:
    value = conf.get(section, "Phase")
    if value is not None and value.strip() != str(want):
        raise conf.error(section, "Phase", f"[{section}] Phase={value.strip()}, "
                         f"but it is used as a phase {want} section")


def _ref(conf: _View, section: str, tag: str, what: str,
         default: str | None = None, required: bool = False) -> str | None:
    """The section named by [section]:tag (or ``default``), which must
    exist; None if the tag is absent and not ``required``."""
    name = (conf.get(section, tag) or "").strip() or default
    if name is None:
        if required:
            raise conf.error(section, None, f"[{section}] has no {tag}")
        return None
    if not conf.has_section(name):
        raise conf.error(section, tag, f"[{section}] {tag}: {what} section "
                         f"[{name}] does not exist")
    return name


def _id(conf: _View, section: str, tag: str, warnings: list[str],
        phase1: bool = False) -> IdSpec | None:
    """The ID section named by [section]:tag, if the tag is there."""
    name = _ref(conf, section, tag, "ID")
    if name is None:
        return None
    try:
        spec = id_spec(conf, name, phase1)
    except ConfigError as e:
        if e.file is not None:
            raise
        raise conf.error(section, tag, f"[{section}] {tag}: {e.reason}") from None
    if conf.has_tag(name, "Port") and not conf.has_tag(name, "Protocol"):
        warnings.append(f"{conf.at(name, 'Port')}[{name}] Port is ignored "
                        "without a Protocol")
    return spec


def _exchange_type(conf: _View, cfg: str, allowed) -> int:
    doi = conf.get(cfg, "DOI")
    if doi is not None and doi.strip().upper() != "IPSEC":
        raise conf.error(cfg, "DOI", f"[{cfg}] DOI {doi.strip()!r} is not supported "
                         "(only IPSEC)")
    text = conf.get(cfg, "EXCHANGE_TYPE")
    if text is None:
        raise conf.error(cfg, None, f"[{cfg}] has no EXCHANGE_TYPE")
    try:
        xt = ExchangeType.parse(text)
    except ValueError:
        xt = None
    if xt not in allowed:
        names = " or ".join(ExchangeType.confname(a) for a in allowed)
        raise conf.error(cfg, "EXCHANGE_TYPE", f"[{cfg}] EXCHANGE_TYPE "
                         f"{text.strip()!r}: expected {names}")
    return int(xt)  # type: ignore[arg-type]


# ------------------------------------------------------------------ phase 1


def _peer_address(conf: _View, section: str, tag: str) -> str | None:
    value = conf.get(section, tag)
    if value is None or not value.strip():
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise conf.error(section, tag, f"[{section}] {tag}: {value.strip()!r} is "
                         "not an IP address") from None


def _psk(value: str) -> bytes:
    """The pre-shared key: its bytes, or decoded from 0x-prefixed hex as
    isakmpd does."""
    if len(value) > 2 and value[:2].lower() == "0x":
        return binascii.unhexlify(value[2:])
    return value.encode("utf-8", "surrogateescape")


@_per_generation
def phase1_peer(conf: _View, name: str) -> Phase1Peer:
    """An ISAKMP-peer section; ConfigError if it or what it names is
    missing or malformed."""
    if not conf.has_section(name):
        raise ConfigError(f"ISAKMP-peer section [{name}] does not exist")
    warnings: list[str] = []
    _phase(conf, name, 1)
    transport = conf.get(name, "Transport")
    if transport is not None and transport.strip().lower() != "udp":
        raise conf.error(name, "Transport", f"[{name}] Transport {transport.strip()!r}"
                         " is not supported (only udp)")
    try:
        port = port_number(conf.get(name, "Port") or "500", "udp")
    except ValueError as e:
        raise conf.error(name, "Port", f"[{name}] Port: {e}") from None
    cfg = _ref(conf, name, "Configuration", "ISAKMP-configuration",
               defaults.PHASE1_CONFIG)
    assert cfg is not None
    xtype = _exchange_type(conf, cfg, (ExchangeType.ID_PROT, ExchangeType.AGGRESSIVE))
    transforms: list[IkeTransformSpec] = []
    for xf in conf.get_list(cfg, "Transforms"):
        try:
            transforms.append(ike_transform(conf, xf))
        except SkippedError as e:
            warnings.append(skipped(conf, cfg, "Transforms", xf, e))
    if not transforms:
        warnings.append(f"{conf.at(name)}[{name}] has no ISAKMP transform it can "
                        f"propose or accept (see [{cfg}] Transforms)")
    auth = conf.get(name, "Authentication")
    psk = None
    if auth is not None:
        try:
            psk = _psk(auth)
        except (binascii.Error, ValueError):
            raise conf.error(name, "Authentication", f"[{name}] Authentication: "
                             "a key starting with 0x must be hex digits") from None
    elif xtype != ExchangeType.AGGRESSIVE and any(
            t.auth_method == AuthMethod.PRE_SHARED for t in transforms):
        # (an Aggressive Mode peer may take its keys from per-ID sections)
        warnings.append(f"{conf.at(name)}[{name}] has pre-shared key transforms "
                        "but no Authentication (key)")
    if conf.get(name, "ID"):
        ident = _id(conf, name, "ID", warnings, phase1=True)
    else:
        ident = _id(conf, "General", "Default-phase-1-ID", warnings, phase1=True)
    return Phase1Peer(
        name=name,
        address=_peer_address(conf, name, "Address"),
        local_address=_peer_address(conf, name, "Local-address"),
        port=port,
        exchange_type=xtype,
        transforms=tuple(transforms),
        psk=psk,
        id=ident,
        remote_id=_id(conf, name, "Remote-ID", warnings, phase1=True),
        flags=_flags(conf, name, warnings),
        warnings=tuple(warnings),
        configuration=cfg,
    )


def phase1_peer_for_address(conf: _View, addr: str) -> str | None:
    """The ISAKMP-peer for a phase 1 from ``addr``: [Phase 1] <addr>=, else
    Default=. Addresses compare as addresses (any spelling of an IPv6
    address matches), where isakmpd compares text."""
    try:
        want = ipaddress.ip_address(addr.strip())
    except ValueError:
        want = None
    by_address, default = _phase1_table(conf)
    if want in by_address:
        return by_address[want]
    return default


@_per_generation
def _phase1_table(conf: _View) -> tuple[dict, str | None]:
    """[Phase 1] as {address: peer or None} (the first tag of an address
    wins) and Default= (kept per generation: an address a peer sends is
    never a key of the cache)."""
    by_address: dict = {}
    for tag in conf.tags("Phase 1"):
        if tag.lower() == "default":
            continue
        try:
            a = ipaddress.ip_address(tag)
        except ValueError:
            continue
        if a not in by_address:
            by_address[a] = (conf.get("Phase 1", tag) or "").strip() or None
    d = conf.get("Phase 1", "Default")
    return by_address, (d.strip() if d and d.strip() else None)


def psk_for_id(conf: _View, ident: str) -> bytes | None:
    """The pre-shared key of an initiator ID section (``[foo.bar.org]``
    Authentication=), which aggressive mode responders look up by the
    peer's ID."""
    value = conf.get(ident, "Authentication")
    if value is None:
        return None
    try:
        return _psk(value)
    except (binascii.Error, ValueError):
        raise conf.error(ident, "Authentication", f"[{ident}] Authentication: a "
                         "key starting with 0x must be hex digits") from None


# ------------------------------------------------------------------ phase 2


def connections(conf: _View) -> tuple[list[str], list[str]]:
    """([Phase 2] Connections, [Phase 2] Passive-connections)."""
    active, passive = _connections(conf)
    return list(active), list(passive)


@_per_generation
def _connections(conf: _View) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (tuple(conf.get_list("Phase 2", "Connections")),
            tuple(conf.get_list("Phase 2", "Passive-connections")))


@_per_generation
def connection(conf: _View, name: str) -> Connection:
    """An IPsec-connection section with its suites."""
    if not conf.has_section(name):
        raise ConfigError(f"IPsec-connection section [{name}] does not exist")
    warnings: list[str] = []
    _phase(conf, name, 2)
    peer = _ref(conf, name, "ISAKMP-peer", "ISAKMP-peer", required=True)
    cfg = _ref(conf, name, "Configuration", "IPsec-configuration", required=True)
    assert peer is not None and cfg is not None
    _exchange_type(conf, cfg, (ExchangeType.QUICK_MODE,))
    suites: list[SuiteSpec] = []
    for s in conf.get_list(cfg, "Suites"):
        try:
            suites.append(ipsec_suite(conf, s, warnings))
        except SkippedError as e:
            warnings.append(skipped(conf, cfg, "Suites", s, e))
    if not suites:
        warnings.append(f"{conf.at(name)}[{name}] has no IPsec suite it can "
                        f"propose or accept (see [{cfg}] Suites)")
    return Connection(
        name=name,
        isakmp_peer=peer,
        suites=tuple(suites),
        local_id=_id(conf, name, "Local-ID", warnings),
        remote_id=_id(conf, name, "Remote-ID", warnings),
        nat_id=_id(conf, name, "NAT-ID", warnings),
        flags=_flags(conf, name, warnings),
        warnings=tuple(warnings),
        configuration=cfg,
    )


# ------------------------------------------------------------------ check


def check(conf: Conf, log_messages: bool = True) -> list[str]:
    """Build every view the configuration names ([General], each [Phase 1]
    peer, each active and passive connection and its peer) and return the
    problems found in that order, each once (a ConfigError as its message).
    With ``log_messages`` they are also logged (once per configuration)."""
    out: list[str] = []
    try:
        general(conf)
    except ConfigError as e:
        out.append(str(e))
    peers: list[str] = []
    for tag in conf.tags("Phase 1"):
        if tag.lower() != "default":
            try:
                ipaddress.ip_address(tag)
            except ValueError:
                out.append(f"{conf.at('Phase 1', tag)}[Phase 1] {tag}: not an IP "
                           "address, so no peer ever matches it")
        p = (conf.get("Phase 1", tag) or "").strip()
        if p:
            peers.append(p)
    active, passive = connections(conf)
    for c in active + passive:
        try:
            conn = connection(conf, c)
        except ConfigError as e:
            out.append(str(e))
            continue
        out += conn.warnings
        peers.append(conn.isakmp_peer)
    for p in dict.fromkeys(peers):
        try:
            out += phase1_peer(conf, p).warnings
        except ConfigError as e:
            out.append(str(e))
    result = list(dict.fromkeys(out))
    if log_messages:
        log_once(conf, result)
    return result
