"""Negotiation on demand: the kernel's ACQUIRE, and the flows of on-demand
connections that make the kernel send it.

An ACQUIRE names the policy a packet hit (its selector becomes the phase-2
IDs), the SA's two ends and the reqid of the policy's template. As in
isakmpd's pf_key_v2_acquire:

- A configured connection (active, passive, or made by an earlier ACQUIRE)
  whose peer has the ACQUIRE's destination as Address and whose IDs are the
  policy's selectors (else: contain the packet's flow) is negotiated.
- Otherwise one is built through a configuration transaction:
  ``[Connection-N]`` (Phase=2, Flags=__ondemand, Acquire-ID, ISAKMP-peer,
  Local-ID, Remote-ID, Configuration), the ID sections ``[from-<network>
  [/<prefix>][=<protocol>[:<port>]]]`` and ``[to-...]`` (a host has no
  prefix), the IPsec-configuration ``[phase2-<from>-<to>]`` with
  ``[General] Default-phase-2-suites``, and for the peer the section that
  ``[Phase 1] <destination>=`` names, else ``[peer-<destination>-local-
  <source>]`` (made with ``[phase1-peer-...]`` and the transforms of
  ``[Default-phase-1-configuration]`` if it does not exist). The new
  connection is added to ``[Phase 2] Passive-connections``, so that the
  peer's own later Quick Modes find it.

The SA then negotiated carries the ACQUIRE's reqid: adding its outbound SA
replaces the kernel's acquire state, and the SA matches the policy's
template even when the policy is not ours (``-a``).

On-demand connections: an active or passive connection whose Flags include
``ondemand`` (isakmpd's own spelling ``__ondemand`` too) has its flows
installed at start-up and after each reload, before it has an SA (unless
``-a`` or ``[General] Acquire-Only``: then the flows are someone else's).
Traffic that matches them makes the kernel send an ACQUIRE, so a passive
on-demand connection comes up when it is first used.
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING

from . import log
from .conf import defaults, model
from .errors import ConfigError
from .log import Cls
from .sa import Selector

if TYPE_CHECKING:
    from .engine import Engine
    from .kernel.base import AcquireEvent
    from .kernel.base import Selector as KernelSelector

_log = log.logger(Cls.SYSDEP)

ONDEMAND_FLAGS = frozenset({"ondemand", "__ondemand"})
#: isakmpd's suite for ACQUIRE-made connections without Default-phase-2-suites
DEFAULT_SUITES = "QM-ESP-3DES-SHA-PFS-SUITE"


@dataclass(frozen=True)
class Trap:
    """The flows of an on-demand connection: its selectors, the two
    gateways, and (protocol id, TUNNEL or TRANSPORT) per protocol of its
    first suite."""

    name: str
    local_sel: Selector
    remote_sel: Selector
    local: str
    remote: str
    protocols: tuple[tuple[int, int], ...]


@dataclass
class InstallTrap:
    trap: Trap


@dataclass
class RemoveTrap:
    trap: Trap


def _net(addr: str, prefix: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(f"{addr}/{prefix}", strict=False)


def id_name(side: str, sel: "KernelSelector", local: bool) -> str:
    """isakmpd's ``from-...``/``to-...`` ID section name for one side of a
    kernel selector."""
    addr, prefix = (sel.src, sel.src_prefix) if local else (sel.dst, sel.dst_prefix)
    port = sel.sport if local else sel.dport
    host = prefix == (32 if ":" not in addr else 128)
    name = f"{side}-{addr}" + ("" if host else f"/{prefix}")
    if sel.proto:
        name += f"={sel.proto}"
        if port:
            name += f":{port}"
    return name


class OnDemand:
    """ACQUIRE handling and the on-demand flows of one engine."""

    def __init__(self, engine: "Engine") -> None:
        self.engine = engine
        #: reqid of the kernel policy each connection serves (from ACQUIREs)
        self._reqids: dict[str, int] = {}
        #: on-demand flows installed, by connection name
        self.traps: dict[str, Trap] = {}
        self._seq = itertools.count(0)

    def reqid_for(self, name: str) -> int | None:
        return self._reqids.get(name.lower())

    # ------------------------------------------------------------ ACQUIRE
    def acquire(self, ev: "AcquireEvent", now: float) -> str | None:
        """Negotiate an SA for the ACQUIRE ``ev``; the connection's name, or
        None if none can be had (logged)."""
        eng = self.engine
        if eng.shutting_down:
            return None
        what = (f"ACQUIRE for {ev.selector} (policy {ev.policy}, {ev.src} -> {ev.dst}, "
                f"reqid {ev.reqid})")
        if ev.policy_direction != "out":
            log.debug(Cls.SYSDEP, 10, f"{what}: not an outbound policy; ignored")
            return None
        log.debug(Cls.SYSDEP, 10, what)
        name = self._configured(ev)
        if name is None:
            try:
                name = self._build(ev)
            except ConfigError as e:
                _log.error("%s: cannot make a connection: %s", what, e)
                return None
            _log.info("%s: connection %s made for it", what, name)
        else:
            log.debug(Cls.SYSDEP, 10, f"{what}: connection {name}")
        old = self._reqids.get(name.lower())
        self._reqids[name.lower()] = ev.reqid
        up = [s for s in eng.table.ipsec_by_name(name) if s.state == "installed"]
        if up and old is not None and old != ev.reqid:
            # the connection is up, but under another policy: a new SA for it
            eng.connect(name, now, force=True)
        elif not eng.connect(name, now):
            return None
        return name

    def _configured(self, ev: "AcquireEvent") -> str | None:
        """A connection for the ACQUIRE: IDs equal to the policy's selector
        first, else IDs that contain the packet's flow."""
        conf, eng = self.engine.conf, self.engine
        pol = ev.policy
        want = (Selector(_net(pol.src, pol.src_prefix), pol.proto, pol.sport),
                Selector(_net(pol.dst, pol.dst_prefix), pol.proto, pol.dport))
        pkt = ev.selector
        flow = (Selector(_net(pkt.src, pkt.src_prefix), pkt.proto, pkt.sport),
                Selector(_net(pkt.dst, pkt.dst_prefix), pkt.proto, pkt.dport))
        ends = SimpleNamespace(local=(ev.src, 0), remote=(ev.dst, 0))
        active, passive = model.connections(conf)
        wider = None
        for name in active + passive:
            try:
                conn = model.connection(conf, name)
                peer = model.phase1_peer(conf, conn.isakmp_peer)
                sels = eng.connection_selectors(conn, ends)  # type: ignore[arg-type]
            except (ConfigError, ValueError):
                continue
            if peer.address != ev.dst:
                continue
            if peer.local_address is not None and peer.local_address != ev.src:
                continue
            if sels == want:
                return conn.name
            if wider is None and _covers(sels[0], flow[0]) and _covers(sels[1], flow[1]):
                wider = conn.name
        return wider

    def _peer_section(self, ev: "AcquireEvent", t) -> str:
        """The ISAKMP-peer for the destination, made if need be."""
        conf = self.engine.conf
        for tag in conf.tags("Phase 1"):
            if tag.lower() == "default":
                continue
            try:
                if ipaddress.ip_address(tag) == ipaddress.ip_address(ev.dst):
                    named = (conf.get("Phase 1", tag) or "").strip()
                    if named and conf.has_section(named):
                        return named
            except ValueError:
                continue
        peer = f"peer-{ev.dst}-local-{ev.src}"
        if t.has_section(peer):
            return peer
        cfg = f"phase1-{peer}"
        t.set(peer, "Phase", "1")
        t.set(peer, "Address", ev.dst)
        t.set(peer, "Local-address", ev.src)
        t.set(peer, "Configuration", cfg)
        if not t.has_section(cfg):
            transforms = (conf.get(defaults.PHASE1_CONFIG, "Transforms")
                          or defaults.DFLT_PHASE1_TRANSFORMS)
            t.set(cfg, "DOI", "IPSEC")
            t.set(cfg, "EXCHANGE_TYPE", "ID_PROT")
            t.set(cfg, "Transforms", transforms)
        return peer

    def _build(self, ev: "AcquireEvent") -> str:
        """A connection for the ACQUIRE's policy, through a transaction."""
        conf = self.engine.conf
        pol = ev.policy
        lname, rname = id_name("from", pol, True), id_name("to", pol, False)
        cfg = f"phase2-{lname}-{rname}"
        with conf.transaction() as t:
            name = next(n for n in (f"Connection-{i}" for i in self._seq)
                        if not t.has_section(n))
            peer = self._peer_section(ev, t)
            for sec, addr, prefix, port in ((lname, pol.src, pol.src_prefix, pol.sport),
                                            (rname, pol.dst, pol.dst_prefix, pol.dport)):
                if t.has_section(sec):
                    continue
                net = _net(addr, prefix)
                v6 = net.version == 6
                if net.prefixlen == net.max_prefixlen:
                    t.set(sec, "ID-type", "IPV6_ADDR" if v6 else "IPV4_ADDR")
                    t.set(sec, "Address", str(net.network_address))
                else:
                    t.set(sec, "ID-type", "IPV6_ADDR_SUBNET" if v6 else
                          "IPV4_ADDR_SUBNET")
                    t.set(sec, "Network", str(net.network_address))
                    t.set(sec, "Netmask", str(net.netmask))
                if pol.proto:
                    t.set(sec, "Protocol", str(pol.proto))
                    if port:
                        t.set(sec, "Port", str(port))
            if not t.has_section(cfg):
                suites = model.general(conf).default_phase2_suites
                t.set(cfg, "DOI", "IPSEC")
                t.set(cfg, "EXCHANGE_TYPE", "QUICK_MODE")
                t.set(cfg, "Suites", ",".join(suites) or DEFAULT_SUITES)
            for tag, value in (("Phase", "2"), ("Flags", "__ondemand"),
                               ("ISAKMP-peer", peer), ("Acquire-ID", str(ev.seq)),
                               ("Local-ID", lname), ("Remote-ID", rname),
                               ("Configuration", cfg)):
                t.set(name, tag, value)
            t.add("Phase 2", "Passive-connections", name)
        return name

    # ------------------------------------------------------------ on-demand flows
    def wanted_traps(self) -> dict[str, Trap]:
        """The flows the configuration's on-demand connections want."""
        eng = self.engine
        conf = eng.conf
        out: dict[str, Trap] = {}
        if model.general(conf).acquire_only:
            return out
        active, passive = model.connections(conf)
        for name in active + passive:
            flags = {f.lower() for f in conf.get_list(name, "Flags")}
            if not flags & ONDEMAND_FLAGS or conf.get(name, "Acquire-ID") is not None:
                continue  # not on demand, or made by an ACQUIRE (the flow exists)
            try:
                trap = self._trap(name)
            except (ConfigError, ValueError, OSError) as e:
                model.log_once(conf, [f"on-demand connection {name}: {e}"])
                continue
            if trap is not None:
                out[trap.name.lower()] = trap
        return out

    def _trap(self, name: str) -> Trap | None:
        eng = self.engine
        conn = model.connection(eng.conf, name)
        peer = model.phase1_peer(eng.conf, conn.isakmp_peer)
        if peer.address is None:
            raise ConfigError(f"peer {peer.name} has no Address")
        if not conn.suites:
            return None
        local = peer.local_address or eng.route_source(peer.address)
        ends = SimpleNamespace(local=(local, 0), remote=(peer.address, 0))
        ls, rs = eng.connection_selectors(conn, ends)  # type: ignore[arg-type]
        protos = tuple((p.protocol_id, p.transforms[0].encap_mode)
                       for p in conn.suites[0].protocols if p.transforms)
        return Trap(conn.name, ls, rs, local, peer.address, protos)

    def sync_traps(self) -> None:
        """Install the on-demand flows the configuration wants now, and
        remove those it no longer wants (start-up, reload)."""
        wanted = self.wanted_traps()
        for key, trap in list(self.traps.items()):
            if wanted.get(key) != trap:
                del self.traps[key]
                self.engine.emit(RemoveTrap(trap))
        for key, trap in wanted.items():
            if key not in self.traps:
                self.traps[key] = trap
                self.engine.emit(InstallTrap(trap))

    def remove_traps(self) -> None:
        for trap in self.traps.values():
            self.engine.emit(RemoveTrap(trap))
        self.traps.clear()


def _covers(outer: Selector, inner: Selector) -> bool:
    if outer.network.version != inner.network.version:
        return False
    if not inner.network.subnet_of(outer.network):  # type: ignore[arg-type]
        return False
    if outer.protocol and outer.protocol != inner.protocol:
        return False
    return not outer.port or outer.port == inner.port


__all__ = ["OnDemand", "Trap", "InstallTrap", "RemoveTrap", "id_name"]
