"""The typed views of the configuration, as frozen dataclasses.

Importers should use :mod:`isakmpd.conf.model`, which re-exports these with
the functions that build them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError

#: Value of an algorithm field configured as ``ANY``: a responder accepts
#: whatever the peer proposes there (isakmpd's attribute_unacceptable). No
#: algorithm, method or group has the number 0. A transform holding ANY
#: cannot be proposed, only matched.
ANY = 0


class SkippedError(ConfigError):
    """A transform, protocol or suite that cannot be used (an algorithm we
    cannot do, a missing or malformed section). Views skip it with a warning
    rather than fail."""


_RANGE = re.compile(r"^\s*(-?\d+)\s*(?:,\s*(-?\d+)\s*:\s*(-?\d+)\s*)?$")


@dataclass(frozen=True)
class Range:
    """``X`` or ``X,Y:Z``: offer X, accept Y..Z (accept X..X with no range)."""

    offer: int
    low: int
    high: int

    def accepts(self, v: int) -> bool:
        return self.low <= v <= self.high

    @classmethod
    def parse(cls, text: str) -> "Range":
        """Raises ValueError on anything but ``X`` or ``X,Y:Z`` with Y <= Z."""
        m = _RANGE.match(text)
        if not m:
            raise ValueError(f"{text!r} is not 'X' or 'X,LOW:HIGH'")
        offer = int(m.group(1))
        if m.group(2) is None:
            return cls(offer, offer, offer)
        low, high = int(m.group(2)), int(m.group(3))
        if low > high:
            raise ValueError(f"{text!r}: range {low}:{high} is empty")
        return cls(offer, low, high)


@dataclass(frozen=True)
class LifeSpec:
    """A Life=... section (LIFE_TYPE, LIFE_DURATION). A duration of ANY
    accepts every value and offers 0: ``Range(0, 0, 2**32 - 1)``."""

    life_type: int
    duration: Range


@dataclass(frozen=True)
class IkeTransformSpec:
    """An ISAKMP-transform section. ``key_length`` None: no KEY_LENGTH
    attribute (a fixed-key cipher, or the cipher's default length).
    Algorithm fields may be :data:`ANY`; ``life_any`` is Life=ANY."""

    name: str
    enc_alg: int
    key_length: Range | None
    hash_alg: int
    prf: int | None
    auth_method: int
    group: int
    lifes: tuple[LifeSpec, ...]
    life_any: bool = False


@dataclass(frozen=True)
class IdSpec:
    """A Phase1-ID or IPsec-ID section, or an ID derived from an address.

    ``address``: IPV4/IPV6_ADDR address, *_SUBNET network, or *_RANGE first
    address (tag ``Address``; ``End-address`` gives the last). Addresses are
    in their compact text form. ``name``: FQDN, USER_FQDN, DER_ASN1_DN,
    DER_ASN1_GN or KEY_ID text (tag ``Name``).
    """

    section: str | None
    id_type: int
    address: str | None
    mask_or_end: str | None
    name: str | None
    protocol: int
    port: int


@dataclass(frozen=True)
class Phase1Peer:
    """An ISAKMP-peer section. ``configuration`` names its
    ISAKMP-configuration section (the negotiation's policy)."""

    name: str
    address: str | None
    local_address: str | None
    port: int
    exchange_type: int
    transforms: tuple[IkeTransformSpec, ...]
    psk: bytes | None
    id: IdSpec | None
    remote_id: IdSpec | None
    flags: frozenset[str]
    warnings: tuple[str, ...]
    configuration: str = ""


@dataclass(frozen=True)
class IpsecTransformSpec:
    """An IPsec-transform section. ``transform_id`` is an EspTransform,
    AhTransform or IpcompTransform value according to the protocol;
    ``group`` is the PFS group, None for no PFS."""

    name: str
    transform_id: int
    encap_mode: int
    auth_alg: int | None
    group: int | None
    key_length: Range | None
    key_rounds: int | None
    lifes: tuple[LifeSpec, ...]
    life_any: bool = False


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    protocol_id: int
    replay_window: int
    transforms: tuple[IpsecTransformSpec, ...]


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    protocols: tuple[ProtocolSpec, ...]


@dataclass(frozen=True)
class Connection:
    """An IPsec-connection section. ``configuration`` names its
    IPsec-configuration section."""

    name: str
    isakmp_peer: str
    suites: tuple[SuiteSpec, ...]
    local_id: IdSpec | None
    remote_id: IdSpec | None
    nat_id: IdSpec | None
    flags: frozenset[str]
    warnings: tuple[str, ...]
    configuration: str = ""


@dataclass(frozen=True)
class General:
    """[General], defaults applied. ``dh_exponent_bits`` is our
    ``DH-exponent-bits`` setting: None = the group's default (twice its
    strength, NIST SP 800-57), 0 = full length as isakmpd."""

    retransmits: int
    exchange_max_time: int
    check_interval: int
    listen_on: tuple[str, ...]
    default_phase1_lifetime: Range
    default_phase2_lifetime: Range
    delete_sas: bool
    nat_t_keepalive: int
    dpd_check_interval: int
    policy_file: str
    pubkey_directory: str
    use_keynote: bool
    renegotiate_on_hup: bool
    shared_sadb: bool
    acquire_only: bool
    default_phase1_id: str | None
    default_phase2_suites: tuple[str, ...]
    loglevel: tuple[str, ...]
    logverbose: bool
    dh_exponent_bits: int | None
    #: ``Max-Half-Open``: phase-1 exchanges a peer started and has not
    #: completed that are kept at once, the oldest dropped first (0: no limit)
    max_half_open: int = 1000
