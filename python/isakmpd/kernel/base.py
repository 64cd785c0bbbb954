"""The kernel interface: what the daemon asks of a kernel backend.

The engine requests kernel work as events; the daemon hands them to a
:class:`KernelBackend` (XFRM netlink on Linux, or the null backend of
``-n``). The records here carry everything an SA or a policy needs, with
addresses as strings and numbers as ints; the backends do the encoding.

Shapes the daemon fills in:

- Tunnel mode: ``SaSpec.src``/``dst`` are the gateways; ``selector`` is
  usually None (the policies choose the traffic). Policies carry a template
  with the same gateways.
- Transport mode: ``src``/``dst`` are the hosts themselves; ``selector``
  names the two hosts (``/32`` or ``/128``), templates carry no addresses.
- UDP encapsulation (NAT-T): ``encap`` holds the UDP ports of the SA's
  outer header, source first, as seen on this SA's packets; an inbound SA
  has the peer's port as ``sport`` and 4500 as ``dport``. ``oa`` is the
  peer's original address from NAT-OA, or None.
- An inbound SA completes the larval SA made by ``get_spi`` (``inbound``
  True: XFRM_MSG_UPDSA); an outbound one is new (XFRM_MSG_NEWSA).
- ``update_sa`` changes an installed SA in place (XFRM_MSG_UPDSA): its
  UDP encapsulation ports when the peer's NAT changed its mapping.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import NamedTuple

from ..errors import KernelError, KernelLacksESP

__all__ = [
    "IPPROTO_ESP",
    "IPPROTO_AH",
    "IPPROTO_COMP",
    "PROTO_NAMES",
    "Selector",
    "Algo",
    "AuthAlgo",
    "AeadAlgo",
    "Lifetimes",
    "Encap",
    "SaSpec",
    "Template",
    "PolicySpec",
    "SaRecord",
    "AcquireEvent",
    "ExpireEvent",
    "MappingEvent",
    "EventSource",
    "KernelBackend",
    "KernelError",
    "KernelLacksESP",
    "family_of",
]

IPPROTO_ESP = 50
IPPROTO_AH = 51
IPPROTO_COMP = 108
PROTO_NAMES = {IPPROTO_ESP: "esp", IPPROTO_AH: "ah", IPPROTO_COMP: "comp"}
MODES = ("tunnel", "transport")
DIRECTIONS = ("in", "out", "fwd")
ACTIONS = ("ipsec", "allow", "block")
#: ``Encap.type`` of RFC 3948 UDP encapsulation (UDP_ENCAP_ESPINUDP)
ESPINUDP = 2


def family_of(address: str) -> int:
    """``socket.AF_INET`` or ``AF_INET6`` of an address; ValueError if none."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"{address!r} is not an IP address") from None
    return socket.AF_INET if ip.version == 4 else socket.AF_INET6


def _check_proto(proto: int) -> None:
    if proto not in PROTO_NAMES:
        raise ValueError(
            f"IPsec protocol {proto} is not ESP (50), AH (51) or IPcomp (108)"
        )


def _check_port(what: str, port: int) -> None:
    if not 0 <= port <= 0xFFFF:
        raise ValueError(f"{what} {port} out of range 0-65535")


@dataclass(frozen=True)
class Selector:
    """The traffic an SA or a policy applies to (``struct xfrm_selector``).

    ``proto`` 0 is any protocol; ports 0 are any port (for ICMP, ``sport``
    is the type and ``dport`` the code, as XFRM has it).
    """

    src: str
    src_prefix: int
    dst: str
    dst_prefix: int
    proto: int = 0
    sport: int = 0
    dport: int = 0

    def __post_init__(self) -> None:
        fam = family_of(self.src)
        if family_of(self.dst) != fam:
            raise ValueError(
                f"selector mixes address families: {self.src} and {self.dst}"
            )
        bits = 32 if fam == socket.AF_INET else 128
        for what, plen in (
            ("source", self.src_prefix),
            ("destination", self.dst_prefix),
        ):
            if not 0 <= plen <= bits:
                raise ValueError(
                    f"selector {what} prefix /{plen} out of range 0-{bits}"
                )
        if not 0 <= self.proto <= 255:
            raise ValueError(f"selector protocol {self.proto} out of range 0-255")
        _check_port("selector source port", self.sport)
        _check_port("selector destination port", self.dport)

    @property
    def family(self) -> int:
        return family_of(self.src)

    @classmethod
    def of(
        cls, src: str, dst: str, proto: int = 0, sport: int = 0, dport: int = 0
    ) -> Selector:
        """From two networks written ``"10.0.0.0/24"`` (a bare address is a host)."""
        s = ipaddress.ip_network(src, strict=False)
        d = ipaddress.ip_network(dst, strict=False)
        return cls(
            str(s.network_address),
            s.prefixlen,
            str(d.network_address),
            d.prefixlen,
            proto,
            sport,
            dport,
        )

    def __str__(self) -> str:
        text = f"{self.src}/{self.src_prefix} -> {self.dst}/{self.dst_prefix}"
        if self.proto:
            text += f" proto {self.proto}"
        if self.sport or self.dport:
            text += f" ports {self.sport}->{self.dport}"
        return text


@dataclass(frozen=True)
class Algo:
    """An XFRM cipher or compressor: kernel crypto name and key."""

    name: str
    key: bytes = b""

    def __repr__(self) -> str:  # keys stay out of logs
        return f"{type(self).__name__}({self.name!r}, <{len(self.key)} key bytes>)"


@dataclass(frozen=True, repr=False)
class AuthAlgo(Algo):
    """An XFRM integrity algorithm; ``trunc_bits`` is the ICV length sent."""

    trunc_bits: int = 96


@dataclass(frozen=True, repr=False)
class AeadAlgo(Algo):
    """An XFRM AEAD; ``key`` includes the salt, ``icv_bits`` the tag length."""

    icv_bits: int = 128


@dataclass(frozen=True)
class Lifetimes:
    """SA lifetimes; 0 means none. Seconds count from when the SA is added."""

    soft_seconds: int = 0
    hard_seconds: int = 0
    soft_bytes: int = 0
    hard_bytes: int = 0

    def __post_init__(self) -> None:
        for name in ("soft_seconds", "hard_seconds", "soft_bytes", "hard_bytes"):
            if not 0 <= getattr(self, name) < 1 << 64:
                raise ValueError(f"lifetime {name} {getattr(self, name)} out of range")


@dataclass(frozen=True)
class Encap:
    """UDP encapsulation of ESP (RFC 3948): outer UDP ports of this SA."""

    sport: int
    dport: int
    oa: str | None = None
    type: int = ESPINUDP

    def __post_init__(self) -> None:
        _check_port("encapsulation source port", self.sport)
        _check_port("encapsulation destination port", self.dport)
        if self.oa is not None:
            family_of(self.oa)


@dataclass
class SaSpec:
    """One IPsec SA to install (``struct xfrm_usersa_info`` and attributes)."""

    proto: int
    spi: int
    src: str
    dst: str
    mode: str = "tunnel"
    enc: Algo | None = None
    aead: AeadAlgo | None = None
    auth: AuthAlgo | None = None
    comp: Algo | None = None
    replay_window: int = 32
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    encap: Encap | None = None
    selector: Selector | None = None
    reqid: int = 0
    inbound: bool = False

    def __post_init__(self) -> None:
        _check_proto(self.proto)
        if not 1 <= self.spi <= 0xFFFFFFFF:
            raise ValueError(f"SPI {self.spi:#x} out of range 1-0xffffffff")
        if self.proto == IPPROTO_COMP and self.spi > 0xFFFF:
            raise ValueError(f"IPcomp CPI {self.spi:#x} is more than 16 bits")
        if family_of(self.src) != family_of(self.dst):
            raise ValueError(f"SA mixes address families: {self.src} and {self.dst}")
        if self.mode not in MODES:
            raise ValueError(f"SA mode {self.mode!r} is not one of {MODES}")
        if not 0 <= self.replay_window <= 4096:
            raise ValueError(f"replay window {self.replay_window} out of range 0-4096")
        if not 0 <= self.reqid <= 0xFFFFFFFF:
            raise ValueError(f"reqid {self.reqid} out of range")
        self._check_algorithms()
        if self.encap is not None and self.proto != IPPROTO_ESP:
            raise ValueError("UDP encapsulation applies to ESP only")

    def _check_algorithms(self) -> None:
        name = PROTO_NAMES[self.proto].upper()
        if self.proto == IPPROTO_ESP:
            if self.comp is not None:
                raise ValueError("an ESP SA has no compression algorithm")
            if self.aead is not None and (
                self.enc is not None or self.auth is not None
            ):
                raise ValueError("an ESP SA with an AEAD has no other cipher or MAC")
            if self.aead is None and self.enc is None:
                raise ValueError("an ESP SA needs a cipher (enc) or an AEAD")
        elif self.proto == IPPROTO_AH:
            if self.auth is None or self.enc or self.aead or self.comp:
                raise ValueError("an AH SA has exactly one integrity algorithm (auth)")
        elif self.comp is None or self.enc or self.aead or self.auth:
            raise ValueError(f"an {name} SA has exactly one compression algorithm")

    @property
    def family(self) -> int:
        return family_of(self.dst)


class Template(NamedTuple):
    """One transform of a policy (``struct xfrm_user_tmpl``).

    ``src``/``dst`` are the tunnel ends (tunnel mode) or None (transport
    mode: the packet's own addresses); ``spi`` 0 is any SA.
    """

    proto: int
    mode: str
    src: str | None = None
    dst: str | None = None
    reqid: int = 0
    spi: int = 0


@dataclass
class PolicySpec:
    """One security policy (``struct xfrm_userpolicy_info`` and templates).

    ``action``: ``"ipsec"`` (allow through the templates), ``"allow"`` (no
    IPsec) or ``"block"``. A lower ``priority`` number wins.
    """

    selector: Selector
    direction: str
    action: str = "ipsec"
    priority: int = 0
    templates: list[Template] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(
                f"policy direction {self.direction!r} is not one of {DIRECTIONS}"
            )
        if self.action not in ACTIONS:
            raise ValueError(f"policy action {self.action!r} is not one of {ACTIONS}")
        if not 0 <= self.priority <= 0xFFFFFFFF:
            raise ValueError(f"policy priority {self.priority} out of range")
        self.templates = [Template(*t) for t in self.templates]
        if self.action == "ipsec" and not self.templates:
            raise ValueError("an ipsec policy needs at least one template")
        if self.action != "ipsec" and self.templates:
            raise ValueError(f"a policy with action {self.action!r} has no templates")
        for t in self.templates:
            _check_proto(t.proto)
            if t.mode not in MODES:
                raise ValueError(f"template mode {t.mode!r} is not one of {MODES}")
            if t.mode == "tunnel" and (t.src is None or t.dst is None):
                raise ValueError("a tunnel-mode template needs both tunnel ends")
            if (t.src is None) != (t.dst is None):
                raise ValueError("a template has both tunnel ends or neither")
            if t.src is not None and family_of(t.src) != family_of(t.dst or ""):
                raise ValueError(f"template mixes address families: {t.src}, {t.dst}")


@dataclass(frozen=True)
class SaRecord:
    """An SA as a backend lists it, for reports (no keys)."""

    proto: int
    spi: int
    src: str
    dst: str
    mode: str
    reqid: int = 0
    enc: str | None = None
    auth: str | None = None
    aead: str | None = None
    comp: str | None = None
    encap: Encap | None = None
    selector: Selector | None = None
    bytes: int = 0
    packets: int = 0
    larval: bool = False


@dataclass(frozen=True)
class AcquireEvent:
    """The kernel wants an SA: a packet matched an ipsec policy with none.

    ``src``/``dst`` are the SA's ends (the template's tunnel ends, or the
    packet's addresses in transport mode), ``selector`` the packet's own
    flow, ``policy`` the selector of the policy it hit. ``seq`` numbers the
    acquire. The kernel keeps an acquire state (SPI 0) for the outbound
    SA meanwhile; adding that SA with the same ends, mode and ``reqid``
    replaces it, and otherwise it expires (``net.core.xfrm_acq_expires``).
    """

    proto: int
    src: str
    dst: str
    selector: Selector
    policy: Selector
    policy_index: int
    policy_direction: str
    reqid: int
    mode: str
    seq: int
    templates: tuple[Template, ...] = ()


@dataclass(frozen=True)
class ExpireEvent:
    """An SA reached its soft (renegotiate) or hard (gone) lifetime.

    Larval SAs from ``get_spi`` expire too, hard, once the kernel's
    acquire timeout passes (``net.core.xfrm_acq_expires``, 30 s by default).
    """

    proto: int
    spi: int
    src: str
    dst: str
    mode: str
    reqid: int
    hard: bool
    selector: Selector | None = None


@dataclass(frozen=True)
class MappingEvent:
    """ESP for a UDP-encapsulated inbound SA (``spi`` to ``dst``) came, and
    passed its integrity and replay checks, from another address or port
    than the SA names: the peer's NAT changed its mapping (XFRM_MSG_MAPPING)."""

    proto: int
    spi: int
    dst: str
    reqid: int
    old_src: str
    old_sport: int
    new_src: str
    new_sport: int


class EventSource(ABC):
    """Kernel events for the daemon's event loop (``add_reader(fileno())``)."""

    @abstractmethod
    def fileno(self) -> int: ...

    @abstractmethod
    def read(self) -> list[AcquireEvent | ExpireEvent]:
        """Every event waiting now (never blocks; [] if none)."""

    @abstractmethod
    def close(self) -> None: ...


class KernelBackend(ABC):
    """Installs SAs and policies. Calls are synchronous and quick.

    Errors are :class:`KernelError` (``errno`` set); ``add_sa`` raises
    :class:`KernelLacksESP` on a kernel without ESP/AH/IPcomp.
    """

    #: False for a backend that only records what it is asked (``-n``)
    changes_kernel = True

    @abstractmethod
    def get_spi(
        self,
        proto: int,
        src: str,
        dst: str,
        *,
        reqid: int = 0,
        seq: int = 0,
        spi_min: int = 0,
        spi_max: int = 0,
    ) -> int:
        """A fresh inbound SPI (CPI for IPcomp) for SAs from ``src`` to ``dst``.

        The default range is 0x100-0xffffffff (IPcomp: 0x100-0xffff).
        """

    @abstractmethod
    def add_sa(self, sa: SaSpec) -> None: ...

    def update_sa(self, sa: SaSpec) -> None:
        """Change the installed SA that ``sa`` names (protocol, SPI,
        addresses) to ``sa``'s UDP encapsulation and lifetimes, keeping its
        keys, sequence numbers and replay state; an SA that is gone is added.

        This default asks ``add_sa`` for an update (``inbound`` set: what
        completes a larval SA changes a complete one too), so that a backend
        that forwards ``add_sa`` elsewhere updates as well."""
        self.add_sa(dataclasses.replace(sa, inbound=True))

    @abstractmethod
    def delete_sa(
        self,
        proto: int,
        spi: int,
        dst: str,
        family: int | None = None,
        src: str | None = None,
    ) -> None: ...

    @abstractmethod
    def add_policy(self, policy: PolicySpec) -> None:
        """Install ``policy``, replacing one with the same selector and direction."""

    @abstractmethod
    def delete_policy(self, policy: PolicySpec) -> None: ...

    @abstractmethod
    def list_sas(self) -> list[SaRecord]: ...

    @abstractmethod
    def list_policies(self) -> list[PolicySpec]: ...

    @abstractmethod
    def bypass_socket(self, sock: socket.socket) -> None:
        """Let ``sock``'s own traffic (IKE) pass any policy, in and out."""

    @abstractmethod
    def events(self) -> EventSource | None:
        """A new source of ACQUIRE and EXPIRE events, or None (no kernel)."""

    @abstractmethod
    def flush(self) -> None:
        """Remove every SA and policy of the namespace, ours or not (tests)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> KernelBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
