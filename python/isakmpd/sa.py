"""Security associations: the ISAKMP SA of phase 1 and the IPsec SAs of
phase 2, and the tables that find them by cookies, SPI and name.

These are records; the exchanges fill them in and the engine keeps them.
Lookups by cookie pair, by SPI and by message ID are dictionary lookups, so
they stay O(1) however many SAs there are.
"""

from __future__ import annotations

import ipaddress
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

from .constants import EncapMode, ProtocolId

if TYPE_CHECKING:
    from . import _core

Addr = tuple[str, int]
ZERO_COOKIE = b"\0" * 8


@dataclass(slots=True)
class NattState:
    """What NAT-T (RFC 3947 and drafts) found for one ISAKMP SA."""

    #: payload type of NAT-D in use (20 for RFC 3947, 130 for the drafts), 0 = none
    natd_type: int = 0
    #: which vendor ID both sides announced ("rfc", "draft-03", "draft-02")
    version: str = ""
    local_behind_nat: bool = False
    peer_behind_nat: bool = False
    #: moved to port 4500 (with the non-ESP marker)
    floated: bool = False

    @property
    def nat_detected(self) -> bool:
        return self.local_behind_nat or self.peer_behind_nat

    def encap_mode(self, mode: int) -> int:
        """The ENCAPSULATION_MODE value to send for TUNNEL/TRANSPORT ``mode``."""
        if not self.nat_detected:
            return mode
        rfc = self.natd_type == 20
        if mode == EncapMode.TUNNEL:
            return EncapMode.UDP_ENCAP_TUNNEL if rfc else EncapMode.UDP_ENCAP_TUNNEL_DRAFT
        if mode == EncapMode.TRANSPORT:
            return (EncapMode.UDP_ENCAP_TRANSPORT if rfc
                    else EncapMode.UDP_ENCAP_TRANSPORT_DRAFT)
        return mode


@dataclass(slots=True)
class DpdState:
    """Dead peer detection (RFC 3706) on one ISAKMP SA (see
    :mod:`isakmpd.exchange.dpd`)."""

    #: sequence number of our last R-U-THERE (0: none sent yet)
    seq: int = 0
    #: our R-U-THERE of the probe under way, none acknowledged yet
    outstanding: set[int] = field(default_factory=set)
    #: R-U-THERE sent in the probe under way
    tries: int = 0
    #: sequence number of the peer's last R-U-THERE (None: none yet)
    peer_seq: int | None = None
    #: when an authenticated message from the peer last came
    last_heard: float = 0.0
    #: the pending check or retry (a :class:`isakmpd.timers.Timer`)
    timer: object | None = None


def base_encap_mode(mode: int) -> int:
    """TUNNEL or TRANSPORT for any of the UDP-encapsulated variants."""
    if mode in (EncapMode.UDP_ENCAP_TUNNEL, EncapMode.UDP_ENCAP_TUNNEL_DRAFT):
        return EncapMode.TUNNEL
    if mode in (EncapMode.UDP_ENCAP_TRANSPORT, EncapMode.UDP_ENCAP_TRANSPORT_DRAFT):
        return EncapMode.TRANSPORT
    return mode


def is_udp_encap(mode: int) -> bool:
    return base_encap_mode(mode) != mode


@dataclass(slots=True)
class Phase1Params:
    """The phase-1 transform both sides agreed on."""

    enc_alg: int
    key_len: int  # bytes
    hash_alg: int
    auth_method: int
    group: int
    life_seconds: int = 0
    life_kbytes: int = 0
    prf: int | None = None
    transform_name: str = ""


@dataclass(slots=True)
class IsakmpSA:
    icookie: bytes
    rcookie: bytes
    initiator: bool
    local: Addr
    remote: Addr
    peer_name: str
    exchange_type: int
    created: float
    state: str = "negotiating"  # negotiating | established | dead
    params: Phase1Params | None = None
    keys: "_core.Phase1Keys | None" = None
    cipher: "_core.IkeCipher | None" = None
    natt: NattState = field(default_factory=NattState)
    #: bodies of the ID payloads (IDii_b / IDir_b as seen from our side)
    id_local: bytes = b""
    id_remote: bytes = b""
    id_remote_type: int = 0
    id_local_type: int = 0
    #: how the peer proved its identity ("pre-shared key", "RSA signature ...")
    peer_auth: str = ""
    #: subject of the peer's certificate (RSA_SIG with a certificate), else ""
    peer_cert_subject: str = ""
    established_at: float | None = None
    expires_at: float | None = None
    #: connection names waiting for this SA to do their phase 2
    pending: list[str] = field(default_factory=list)
    #: message IDs of phase-2 and INFO exchanges seen on this SA
    message_ids: set[int] = field(default_factory=set)
    #: the peer announced DPD (RFC 3706)
    peer_dpd: bool = False
    dpd: DpdState = field(default_factory=DpdState)
    flags: int = 0
    #: exchanges on this SA by message ID (0 = the phase-1 exchange)
    exchanges: dict = field(default_factory=dict)
    #: the peer's phase-1 vendor IDs
    peer_vids: list[bytes] = field(default_factory=list)
    #: when the soft lifetime ends (a new ISAKMP SA may be negotiated then)
    soft_at: float | None = None
    #: the peer sent INITIAL-CONTACT in the exchange that made this SA
    peer_initial_contact: bool = False
    #: the lifetime timers, cancelled when the SA goes (see lifecycle.py)
    timers: list = field(default_factory=list)
    #: (remote host, local host) the table indexes it under
    _hosts: tuple[str, str] = field(default=("", ""), repr=False, compare=False)

    @property
    def cookies(self) -> bytes:
        return self.icookie + self.rcookie

    @property
    def established(self) -> bool:
        return self.state == "established"

    def label(self) -> str:
        """The cookie pair as isakmpd prints it."""
        return f"{self.icookie.hex()} {self.rcookie.hex()}"


@dataclass(slots=True)
class Selector:
    """One side of a flow: a network (or host) with protocol and port."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    protocol: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self.network = _shared_network(self.network)

    def __str__(self) -> str:
        s = str(self.network)
        if self.protocol:
            s += f" proto {self.protocol}"
        if self.port:
            s += f" port {self.port}"
        return s


@dataclass(slots=True)
class IpsecProto:
    """One protocol (ESP, AH or IPCOMP) of an IPsec SA bundle."""

    protocol_id: int
    spi_in: bytes  # the SPI we chose: peer → us
    spi_out: bytes = b""  # the SPI the peer chose: us → peer
    transform_id: int = 0
    encap_mode: int = EncapMode.TUNNEL  # as negotiated (may be a UDP_ENCAP_* value)
    auth_alg: int | None = None
    key_bits: int | None = None
    key_rounds: int | None = None
    group: int | None = None
    life_seconds: int = 0
    life_kbytes: int = 0
    replay_window: int = 16
    keymat_in: bytes = b""
    keymat_out: bytes = b""

    @property
    def ip_proto(self) -> int:
        return {ProtocolId.IPSEC_ESP: 50, ProtocolId.IPSEC_AH: 51,
                ProtocolId.IPCOMP: 108}[ProtocolId(self.protocol_id)]

    @property
    def mode(self) -> int:
        return base_encap_mode(self.encap_mode)


@dataclass(slots=True)
class IpsecSA:
    """An IPsec SA bundle negotiated by one Quick Mode."""

    name: str  # the connection's name
    isakmp: IsakmpSA
    initiator: bool
    protos: list[IpsecProto]
    local: Addr  # IKE endpoints when negotiated
    remote: Addr
    local_sel: Selector
    remote_sel: Selector
    created: float
    message_id: int
    suite_name: str = ""
    pfs_group: int | None = None
    state: str = "negotiating"  # negotiating | installed | dead
    established_at: float | None = None
    kernel_error: str = ""
    #: reqid of the kernel policies the SA serves (an ACQUIRE's); None: ours
    reqid: int | None = None
    #: soft and hard lifetime ends (seconds of the engine's clock), if any
    soft_at: float | None = None
    expires_at: float | None = None
    #: a newer SA of the same flow took over; this one goes soon
    replaced: bool = False
    #: what has been handed to the kernel so far: "inbound", "outbound"
    kernel_parts: set[str] = field(default_factory=set)
    #: the lifetime timers, cancelled when the SA goes (see lifecycle.py)
    timers: list = field(default_factory=list)
    #: the peer's original address from its NAT-OA payload (transport mode
    #: behind a NAT), for the kernel's checksum fix-up; None: none came
    peer_oa: str | None = None

    #: flow_key() computed once (the selectors do not change)
    _flow: tuple[str, str, str] | None = field(default=None, repr=False,
                                               compare=False)

    def flow_key(self) -> tuple[str, str, str]:
        """What :meth:`same_flow` compares: both selectors and the peer."""
        flow = self._flow
        if flow is None or flow[2] != self.remote[0]:
            flow = self._flow = (str(self.local_sel), str(self.remote_sel),
                                 self.remote[0])
        return flow

    def same_flow(self, other: "IpsecSA") -> bool:
        """Whether ``other`` protects the same traffic with the same peer
        (a rekey of this SA would)."""
        return self.flow_key() == other.flow_key()

    @property
    def life_seconds(self) -> int:
        return min((p.life_seconds for p in self.protos if p.life_seconds), default=0)

    @property
    def life_kbytes(self) -> int:
        return min((p.life_kbytes for p in self.protos if p.life_kbytes), default=0)

    @property
    def udp_encap(self) -> bool:
        return any(is_udp_encap(p.encap_mode) for p in self.protos)


#: one network object per network in use: the SAs of a connection share
#: theirs (an ipaddress network with its cached properties is ~0.5 KB)
_NETWORKS: "weakref.WeakValueDictionary[tuple[int, int, int], object]" = (
    weakref.WeakValueDictionary())


def _shared_network(net):  # type: ignore[no-untyped-def]
    try:
        key = (net.version, int(net.network_address), net.prefixlen)
    except (AttributeError, TypeError, ValueError):
        return net
    return _NETWORKS.setdefault(key, net)


class SATable:
    """All SAs of the daemon, indexed so that what runs per message is O(1)
    (cookies, SPIs, message IDs) and what runs per peer is O(SAs with that
    peer) (by remote host, by peer name, by ISAKMP SA), however many SAs
    there are. The host indexes follow :meth:`rehome` when a NAT moves a
    peer."""

    def __init__(self) -> None:
        self._by_cookies: dict[bytes, IsakmpSA] = {}
        #: initiator's phase-1 SAs waiting for the responder cookie
        self._by_icookie: dict[bytes, IsakmpSA] = {}
        #: responder's phase-1 SAs by initiator cookie, so that a repeated
        #: first message (responder cookie still zero) finds its exchange
        self._responding: dict[bytes, IsakmpSA] = {}
        #: phase-1 SAs a peer started that are not established yet, oldest
        #: first (by id()): the half-open limit drops from the front
        self._half_open: dict[int, IsakmpSA] = {}
        self._ipsec_by_spi: dict[tuple[int, bytes], IpsecSA] = {}
        self._ipsec_by_name: dict[str, dict[int, IpsecSA]] = {}
        #: every ISAKMP SA in the table by id(), and by remote host and by
        #: peer name (lower case)
        self._isakmp_all: dict[int, IsakmpSA] = {}
        self._isakmp_by_host: dict[str, dict[int, IsakmpSA]] = {}
        self._isakmp_by_peer: dict[str, dict[int, IsakmpSA]] = {}
        #: by (remote host, local host), in the order they were made
        self._isakmp_by_hosts: dict[tuple[str, str], dict[int, IsakmpSA]] = {}
        #: every IPsec SA by id(), by remote host and by its ISAKMP SA's id()
        self._ipsec_all: dict[int, IpsecSA] = {}
        self._ipsec_by_host: dict[str, dict[int, IpsecSA]] = {}
        self._ipsec_by_parent: dict[int, dict[int, IpsecSA]] = {}
        self._ipsec_by_flow: dict[tuple[str, str, str], dict[int, IpsecSA]] = {}

    # ISAKMP SAs
    def add_isakmp(self, sa: IsakmpSA) -> None:
        if sa.rcookie == ZERO_COOKIE:
            self._by_icookie[sa.icookie] = sa
        else:
            self._by_cookies[sa.cookies] = sa
            if not sa.initiator:
                self._responding[sa.icookie] = sa
        key = id(sa)
        if not sa.initiator and sa.state == "negotiating":
            self._half_open[key] = sa
        self._isakmp_all[key] = sa
        self._isakmp_by_host.setdefault(sa.remote[0], {})[key] = sa
        self._isakmp_by_peer.setdefault(sa.peer_name.lower(), {})[key] = sa
        self._isakmp_by_hosts.setdefault((sa.remote[0], sa.local[0]), {})[key] = sa
        sa._hosts = (sa.remote[0], sa.local[0])

    def phase1_done(self, sa: IsakmpSA) -> None:
        """Phase 1 is over: a zero responder cookie no longer finds ``sa``."""
        if self._responding.get(sa.icookie) is sa:
            del self._responding[sa.icookie]
        self._half_open.pop(id(sa), None)

    def half_open(self) -> int:
        """How many phase-1 exchanges peers started are not established."""
        return len(self._half_open)

    def oldest_half_open(self) -> IsakmpSA | None:
        return next(iter(self._half_open.values()), None)

    def set_rcookie(self, sa: IsakmpSA, rcookie: bytes) -> None:
        self._by_icookie.pop(sa.icookie, None)
        sa.rcookie = rcookie
        self._by_cookies[sa.cookies] = sa

    def find_isakmp(self, icookie: bytes, rcookie: bytes) -> IsakmpSA | None:
        sa = self._by_cookies.get(icookie + rcookie)
        if sa is None and rcookie != ZERO_COOKIE:
            # the responder's first reply to one of our own phase-1 exchanges
            sa = self._by_icookie.get(icookie)
            if sa is not None and not sa.initiator:
                sa = None
        if sa is None and rcookie == ZERO_COOKIE:
            sa = self._by_icookie.get(icookie) or self._responding.get(icookie)
        return sa

    def remove_isakmp(self, sa: IsakmpSA) -> None:
        if self._by_cookies.get(sa.cookies) is sa:
            del self._by_cookies[sa.cookies]
        if self._by_icookie.get(sa.icookie) is sa:
            del self._by_icookie[sa.icookie]
        self.phase1_done(sa)
        key = id(sa)
        if self._isakmp_all.pop(key, None) is not None:
            _unindex(self._isakmp_by_host, sa.remote[0], key)
            _unindex(self._isakmp_by_peer, sa.peer_name.lower(), key)
            _unindex(self._isakmp_by_hosts, sa._hosts, key)

    def isakmp_sas(self) -> Iterator[IsakmpSA]:
        yield from list(self._by_icookie.values())
        yield from list(self._by_cookies.values())

    def isakmp_with(self, remote_host: str) -> list[IsakmpSA]:
        """The ISAKMP SAs with the peer at ``remote_host``."""
        return [sa for sa in self._isakmp_by_host.get(remote_host, {}).values()
                if sa.remote[0] == remote_host]

    def rehome(self, sa: "IsakmpSA | IpsecSA", old_remote: Addr) -> None:
        """``sa.remote`` changed from ``old_remote`` (NAT-T): re-index it."""
        key = id(sa)
        if isinstance(sa, IsakmpSA):
            hosts = (sa.remote[0], sa.local[0])
            if key in self._isakmp_all and hosts != sa._hosts:
                _unindex(self._isakmp_by_hosts, sa._hosts, key)
                self._isakmp_by_hosts.setdefault(hosts, {})[key] = sa
                sa._hosts = hosts
        if old_remote[0] == sa.remote[0]:
            return
        if isinstance(sa, IsakmpSA):
            if key in self._isakmp_all:
                _unindex(self._isakmp_by_host, old_remote[0], key)
                self._isakmp_by_host.setdefault(sa.remote[0], {})[key] = sa
        elif key in self._ipsec_all:
            _unindex(self._ipsec_by_host, old_remote[0], key)
            self._ipsec_by_host.setdefault(sa.remote[0], {})[key] = sa
            if sa._flow is not None:
                _unindex(self._ipsec_by_flow, sa._flow, key)
            self._ipsec_by_flow.setdefault(sa.flow_key(), {})[key] = sa

    def established_to(self, peer_name: str, remote_host: str,
                       local_host: str | None = None) -> IsakmpSA | None:
        """The newest established ISAKMP SA with a peer (by section, or by
        host: with ``local_host``, only an SA from that local address)."""
        best = None
        peer = peer_name.lower()
        for sa in self._isakmp_by_peer.get(peer, {}).values():
            if (sa.established and self._by_cookies.get(sa.cookies) is sa
                    and (best is None or sa.created > best.created)):
                best = sa
        # by host, newest first: a bucket is in the order the SAs were made
        # (or moved there by rehome), so the first that fits is the one (this
        # stays O(1) when many peer sections name one host, from one local
        # address or from many)
        bucket = (self._isakmp_by_host.get(remote_host, {}) if local_host is None
                  else self._isakmp_by_hosts.get((remote_host, local_host), {}))
        for sa in reversed(bucket.values()):
            if best is not None and sa.created <= best.created:
                break
            if sa.established and self._by_cookies.get(sa.cookies) is sa:
                return sa
        return best

    def negotiating_to(self, peer_name: str) -> IsakmpSA | None:
        for sa in self._isakmp_by_peer.get(peer_name.lower(), {}).values():
            if sa.state == "negotiating" and sa.initiator:
                return sa
        return None

    # IPsec SAs
    def add_ipsec(self, sa: IpsecSA) -> None:
        for p in sa.protos:
            self._ipsec_by_spi[(p.protocol_id, p.spi_in)] = sa
            if p.spi_out:
                self._ipsec_by_spi[(p.protocol_id, b"out" + p.spi_out)] = sa
        key = id(sa)
        self._ipsec_by_name.setdefault(sa.name.lower(), {})[key] = sa
        self._ipsec_all[key] = sa
        self._ipsec_by_host.setdefault(sa.remote[0], {})[key] = sa
        self._ipsec_by_parent.setdefault(id(sa.isakmp), {})[key] = sa
        self._ipsec_by_flow.setdefault(sa.flow_key(), {})[key] = sa

    def index_outbound(self, sa: IpsecSA) -> None:
        for p in sa.protos:
            if p.spi_out:
                self._ipsec_by_spi[(p.protocol_id, b"out" + p.spi_out)] = sa

    def find_by_spi_in(self, protocol_id: int, spi: bytes) -> IpsecSA | None:
        return self._ipsec_by_spi.get((protocol_id, spi))

    def find_by_spi_out(self, protocol_id: int, spi: bytes) -> IpsecSA | None:
        return self._ipsec_by_spi.get((protocol_id, b"out" + spi))

    def remove_ipsec(self, sa: IpsecSA) -> None:
        for p in sa.protos:
            if self._ipsec_by_spi.get((p.protocol_id, p.spi_in)) is sa:
                del self._ipsec_by_spi[(p.protocol_id, p.spi_in)]
            key = (p.protocol_id, b"out" + p.spi_out)
            if self._ipsec_by_spi.get(key) is sa:
                del self._ipsec_by_spi[key]
        k = id(sa)
        _unindex(self._ipsec_by_name, sa.name.lower(), k)
        if self._ipsec_all.pop(k, None) is not None:
            _unindex(self._ipsec_by_host, sa.remote[0], k)
            _unindex(self._ipsec_by_parent, id(sa.isakmp), k)
            flow = sa._flow
            if flow is not None:
                _unindex(self._ipsec_by_flow, flow, k)

    def ipsec_by_name(self, name: str) -> list[IpsecSA]:
        return list(self._ipsec_by_name.get(name.lower(), {}).values())

    def any_installed(self, name: str) -> bool:
        """Whether connection ``name`` has an installed IPsec SA (stops at
        the first)."""
        return any(s.state == "installed"
                   for s in self._ipsec_by_name.get(name.lower(), {}).values())

    def ipsec_sas(self) -> list[IpsecSA]:
        return list(self._ipsec_all.values())

    def ipsec_with(self, remote_host: str) -> list[IpsecSA]:
        """The IPsec SAs with the peer at ``remote_host``."""
        return [s for s in self._ipsec_by_host.get(remote_host, {}).values()
                if s.remote[0] == remote_host]

    def ipsec_same_flow(self, ipsec: IpsecSA) -> list[IpsecSA]:
        """The IPsec SAs in the table that protect the same traffic with the
        same peer as ``ipsec`` (:meth:`IpsecSA.same_flow`), ``ipsec`` too if
        it is in the table."""
        return [s for s in self._ipsec_by_flow.get(ipsec.flow_key(), {}).values()
                if s.same_flow(ipsec)]

    def ipsec_of(self, isakmp: IsakmpSA) -> list[IpsecSA]:
        return [s for s in self._ipsec_by_parent.get(id(isakmp), {}).values()
                if s.isakmp is isakmp]

    def counts(self) -> tuple[int, int]:
        return (len(self._by_cookies) + len(self._by_icookie), len(self._ipsec_all))


def _unindex(index: dict, key: object, member: int) -> None:
    """Drop ``member`` from the bucket ``index[key]`` (and an empty bucket)."""
    bucket = index.get(key)
    if bucket is not None:
        bucket.pop(member, None)
        if not bucket:
            del index[key]
