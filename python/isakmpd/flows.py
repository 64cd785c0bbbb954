"""From negotiated IPsec SAs to kernel SAs and flows (policies).

For each protocol of an IPsec SA bundle two kernel SAs are made: inbound
(peer → us, our SPI, completing the larval SA of ALLOCSPI) and outbound
(us → peer, the peer's SPI). Flows follow isakmpd: an outbound policy from
our selector to the peer's, and inbound (plus forward, in tunnel mode) the
other way, all requiring the negotiated protocol between the two gateways.
Several SAs may share a flow (a rekey, or both ends negotiating at once):
flows are counted and removed with the last SA that uses them.

On a kernel without ESP the SAs cannot be installed; the flows still are,
and the error goes back to the daemon, which reports it once.

An SA may go in by halves: its inbound SAs first (:meth:`FlowManager.
install_inbound`: a rekey's responder as it answers, or a rekey's initiator
that keeps sending on the old SA a moment longer), then the rest with
:meth:`FlowManager.install`. On-demand connections have their flows
installed before any SA exists (:meth:`FlowManager.install_trap`): traffic
that matches them makes the kernel send an ACQUIRE.

Lifetimes: the kernel gets the hard limits (seconds and bytes) and a soft
limit in bytes only; the daemon keeps its own soft timers for seconds, so an
EXPIRE marked soft from the kernel means that the bytes ran low.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from . import log
from .constants import ProtocolId
from .errors import KernelError, KernelLacksESP
from .kernel import algs
from .kernel.base import (IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP, AeadAlgo, Encap,
                          KernelBackend,
                          Lifetimes, PolicySpec, SaSpec, Selector, Template)
from .kernel.null import NullBackend
from .log import Cls
from .sa import IpsecProto, IpsecSA
from .sa import Selector as NetSelector

if TYPE_CHECKING:
    from .cli import Options
    from .acquire import Trap
    from .engine import ReleaseSPI
    from .rand import Random

_log = log.logger(Cls.SYSDEP)
#: soft lifetime, as a share of the hard one, when the kernel should warn
SOFT_SHARE = 0.9
#: priority of our flows (a lower number wins in XFRM)
FLOW_PRIORITY = 2000

_IP_PROTO = {ProtocolId.IPSEC_ESP: IPPROTO_ESP, ProtocolId.IPSEC_AH: IPPROTO_AH,
             ProtocolId.IPCOMP: IPPROTO_COMP}


def ip_proto(protocol_id: int) -> int:
    return _IP_PROTO[ProtocolId(protocol_id)]


def open_backend(opts: "Options", rand: "Random") -> KernelBackend:
    if opts.no_kernel:
        return NullBackend(rand.u32)
    from .kernel.xfrm import XfrmBackend

    return XfrmBackend()


def _mode(p: IpsecProto) -> str:
    return "tunnel" if p.mode == 1 else "transport"


def _lifetimes(p: IpsecProto) -> Lifetimes:
    secs = p.life_seconds
    kbytes = p.life_kbytes
    # the soft limit in seconds is the daemon's own (a jittered timer)
    return Lifetimes(soft_seconds=0, hard_seconds=secs,
                     soft_bytes=int(kbytes * 1024 * SOFT_SHARE), hard_bytes=kbytes * 1024)


def sa_specs(ipsec: IpsecSA, reqid: int) -> list[SaSpec]:
    """The kernel SAs of a bundle: inbound and outbound for each protocol."""
    local, remote = ipsec.isakmp.local, ipsec.isakmp.remote
    out = []
    for p in ipsec.protos:
        proto = ip_proto(p.protocol_id)
        mode = _mode(p)
        for inbound in (True, False):
            keymat = p.keymat_in if inbound else p.keymat_out
            kw: dict = {}
            if proto == IPPROTO_ESP:
                enc, auth = algs.esp_xfrm_algs(p.transform_id, p.key_bits, p.auth_alg,
                                               keymat)
                kw["aead" if isinstance(enc, AeadAlgo) else "enc"] = enc
                kw["auth"] = auth
                if ipsec.udp_encap:
                    # transport mode: the peer's original address (NAT-OA)
                    oa = ipsec.peer_oa if mode == "transport" else None
                    kw["encap"] = (Encap(sport=remote[1], dport=local[1], oa=oa)
                                   if inbound
                                   else Encap(sport=local[1], dport=remote[1], oa=oa))
            elif proto == IPPROTO_AH:
                kw["auth"] = algs.ah_xfrm_alg(p.transform_id, p.auth_alg, keymat)
            else:
                kw["comp"] = algs.ipcomp_xfrm_alg(p.transform_id)
            if mode == "transport":
                kw["selector"] = (Selector.of(remote[0], local[0]) if inbound
                                  else Selector.of(local[0], remote[0]))
            spec = SaSpec(
                proto=proto, spi=int.from_bytes(p.spi_in if inbound else p.spi_out, "big"),
                src=remote[0] if inbound else local[0],
                dst=local[0] if inbound else remote[0],
                mode=mode, replay_window=p.replay_window, lifetimes=_lifetimes(p),
                reqid=reqid, inbound=inbound, **kw)
            out.append(spec)
    return out


def _sel(net: object, other: object, proto: int, sport: int, dport: int) -> Selector:
    return Selector.of(str(net), str(other), proto, sport, dport)


def policy_specs(ipsec: IpsecSA, reqid: int) -> list[PolicySpec]:
    """Flows of a bundle: out (ours → theirs) and in/fwd (theirs → ours)."""
    return _flow_policies(ipsec.local_sel, ipsec.remote_sel, ipsec.isakmp.local[0],
                          ipsec.isakmp.remote[0],
                          [(p.protocol_id, p.mode) for p in ipsec.protos], reqid)


def trap_policy_specs(trap: "Trap", reqid: int) -> list[PolicySpec]:
    """The flows of an on-demand connection, before it has an SA."""
    return _flow_policies(trap.local_sel, trap.remote_sel, trap.local, trap.remote,
                          list(trap.protocols), reqid)


def _flow_policies(ls: NetSelector, rs: NetSelector, local: str, remote: str,
                   protos: list[tuple[int, int]], reqid: int) -> list[PolicySpec]:
    """``protos``: (protocol id, TUNNEL or TRANSPORT) of each protocol, in
    the order of the bundle."""
    proto = ls.protocol or rs.protocol
    tunnel = any(mode == 1 for _, mode in protos)
    mode_name = {1: "tunnel"}
    out_t = [Template(ip_proto(pid), mode_name.get(mode, "transport"),
                      local if mode == 1 else None, remote if mode == 1 else None,
                      reqid) for pid, mode in reversed(protos)]
    in_t = [Template(ip_proto(pid), mode_name.get(mode, "transport"),
                     remote if mode == 1 else None, local if mode == 1 else None,
                     reqid) for pid, mode in reversed(protos)]
    outbound = _sel(ls.network, rs.network, proto, ls.port, rs.port)
    inbound = _sel(rs.network, ls.network, proto, rs.port, ls.port)
    pols = [PolicySpec(outbound, "out", priority=FLOW_PRIORITY, templates=out_t),
            PolicySpec(inbound, "in", priority=FLOW_PRIORITY, templates=in_t)]
    if tunnel:
        pols.append(PolicySpec(inbound, "fwd", priority=FLOW_PRIORITY, templates=in_t))
    return pols


def _policy_key(p: PolicySpec) -> tuple:
    return (p.selector, p.direction)


class FlowManager:
    """Installs and removes the kernel state of IPsec SAs, counting shared flows."""

    def __init__(self, kernel: KernelBackend, install_flows: bool = True) -> None:
        self.kernel = kernel
        self.install_flows = install_flows
        self._reqids = itertools.count(1)
        self._flow_reqid: dict[tuple, int] = {}
        #: SA → (its kernel SAs, its policies)
        self._installed: dict[int, tuple[IpsecSA, list[SaSpec], list[PolicySpec]]] = {}
        self._policy_refs: dict[tuple, int] = {}
        #: the policy now in the kernel for each (selector, direction)
        self._policy_now: dict[tuple, PolicySpec] = {}
        #: on-demand connections' flows, by connection name
        self._traps: dict[str, list[PolicySpec]] = {}
        #: parts of SAs whose install was attempted (SA id → "in"/"out")
        self._parts: dict[int, set[str]] = {}

    def _flow_key(self, local_sel: object, remote_sel: object, remote: str) -> tuple:
        return (str(local_sel), str(remote_sel), remote)

    def _reqid(self, ipsec: IpsecSA) -> int:
        """The reqid of the SA's flow: an ACQUIRE's (``ipsec.reqid``, which
        the flow keeps for its later SAs), else one of ours."""
        key = self._flow_key(ipsec.local_sel, ipsec.remote_sel, ipsec.remote[0])
        if ipsec.reqid is not None:
            self._flow_reqid[key] = ipsec.reqid
            return ipsec.reqid
        r = self._flow_reqid.get(key)
        if r is None:
            r = self._flow_reqid[key] = next(self._reqids)
        return r

    def install(self, ipsec: IpsecSA) -> None:
        """Install the kernel SAs and flows of ``ipsec`` (what
        :meth:`install_inbound` did not already); if they are all there,
        update them to what ``ipsec`` now says (see :meth:`update`)."""
        if id(ipsec) in self._installed and self._parts.get(id(ipsec)) == {"in", "out"}:
            self.update(ipsec)
            return
        self._add(ipsec, ("in", "out"))

    def install_inbound(self, ipsec: IpsecSA) -> None:
        """The inbound SAs of ``ipsec`` and its inbound flows only; the
        outbound ones come with :meth:`install`."""
        self._add(ipsec, ("in",))

    def _add(self, ipsec: IpsecSA, parts: tuple[str, ...]) -> None:
        reqid = self._reqid(ipsec)
        entry = self._installed.setdefault(id(ipsec), (ipsec, [], []))
        done = self._parts.setdefault(id(ipsec), set())
        todo = [p for p in parts if p not in done]
        done.update(todo)
        sas = [s for s in sa_specs(ipsec, reqid) if ("in" if s.inbound else "out") in todo]
        pols = [p for p in policy_specs(ipsec, reqid)
                if ("out" if p.direction == "out" else "in") in todo]
        if not self.install_flows:
            pols = []
        lacks: KernelLacksESP | None = None
        for spec in sas:
            try:
                self.kernel.add_sa(spec)
                entry[1].append(spec)
            except KernelLacksESP as e:
                lacks = e
                if spec.inbound:  # the larval SA of our SPI: don't leave it around
                    self._quiet_delete(spec)
        for pol in pols:
            self._take_policy(pol)
            entry[2].append(pol)
        if lacks is not None:
            raise lacks
        verb = "installed" if self.kernel.changes_kernel else "recorded (-n)"
        log.debug(Cls.SYSDEP, 10, f"{verb} {len(sas)} SAs and {len(pols)} flows for "
                  f"{ipsec.name} ({'+'.join(todo) or 'nothing new'})")

    def _take_policy(self, pol: PolicySpec) -> None:
        """One more user of a flow: added to the kernel if it is not there in
        this form (an on-demand flow whose SA chose other transforms is
        replaced)."""
        key = _policy_key(pol)
        n = self._policy_refs.get(key, 0)
        if n == 0 or self._policy_now.get(key) != pol:
            self.kernel.add_policy(pol)
            self._policy_now[key] = pol
        self._policy_refs[key] = n + 1

    def _release_policy(self, pol: PolicySpec) -> None:
        key = _policy_key(pol)
        n = self._policy_refs.get(key, 0) - 1
        if n > 0:
            self._policy_refs[key] = n
            return
        self._policy_refs.pop(key, None)
        self._policy_now.pop(key, None)
        try:
            self.kernel.delete_policy(pol)
        except KernelError as e:
            log.debug(Cls.SYSDEP, 10, f"delete flow {pol.selector}: {e}")

    def install_trap(self, trap: "Trap") -> None:
        """The flows of an on-demand connection (unless flows are off)."""
        if not self.install_flows or trap.name in self._traps:
            return
        key = self._flow_key(trap.local_sel, trap.remote_sel, trap.remote)
        reqid = self._flow_reqid.get(key)
        if reqid is None:
            reqid = self._flow_reqid[key] = next(self._reqids)
        pols = trap_policy_specs(trap, reqid)
        self._traps[trap.name] = []
        for pol in pols:
            self._take_policy(pol)
            self._traps[trap.name].append(pol)
        log.debug(Cls.SYSDEP, 10, f"on-demand flows of {trap.name} installed "
                  f"({trap.local_sel} - {trap.remote_sel}, reqid {reqid})")

    def remove_trap(self, name: str) -> None:
        for pol in self._traps.pop(name, []):
            self._release_policy(pol)

    def update(self, ipsec: IpsecSA) -> None:
        """The kernel SAs of an installed ``ipsec`` whose UDP encapsulation
        changed (the peer's NAT gave it another port) are changed in place,
        so that their keys, sequence numbers and replay state stay."""
        entry = self._installed.get(id(ipsec))
        if entry is None:
            self.install(ipsec)
            return
        _, installed, _ = entry
        if not installed:
            return
        fresh = {(s.proto, s.spi, s.inbound): s
                 for s in sa_specs(ipsec, installed[0].reqid)}
        n = 0
        for i, spec in enumerate(installed):
            new = fresh.get((spec.proto, spec.spi, spec.inbound))
            if new is None or (new.encap == spec.encap and new.src == spec.src
                               and new.dst == spec.dst):
                continue
            if (new.src, new.dst) != (spec.src, spec.dst):
                # an SA is found by its destination: it cannot move in place
                log.debug(Cls.SYSDEP, 10, f"SA {spec.spi:#x} of {ipsec.name} cannot "
                          f"move from {spec.src}->{spec.dst} to {new.src}->{new.dst}")
                continue
            self.kernel.update_sa(new)
            installed[i] = new
            n += 1
        _log.info("%s: %d kernel SA(s) follow the peer to %s port %d", ipsec.name,
                  n, ipsec.isakmp.remote[0], ipsec.isakmp.remote[1])

    def _quiet_delete(self, spec: SaSpec) -> None:
        try:
            self.kernel.delete_sa(spec.proto, spec.spi, spec.dst, src=spec.src)
        except KernelError:
            pass

    def remove(self, ipsec: IpsecSA) -> None:
        self._parts.pop(id(ipsec), None)
        entry = self._installed.pop(id(ipsec), None)
        if entry is None:
            return
        _, sas, pols = entry
        for spec in sas:
            try:
                self.kernel.delete_sa(spec.proto, spec.spi, spec.dst, src=spec.src)
            except KernelError as e:
                log.debug(Cls.SYSDEP, 10, f"delete SA {spec.spi:#x}: {e}")
        for pol in pols:
            self._release_policy(pol)

    def release_spi(self, ev: "ReleaseSPI") -> None:
        """A Quick Mode failed: drop the larval SA of the SPI it allocated."""
        try:
            self.kernel.delete_sa(ip_proto(ev.protocol_id), int.from_bytes(ev.spi, "big"),
                                  ev.dst, src=ev.src)
        except KernelError as e:
            log.debug(Cls.SYSDEP, 20, f"release SPI {ev.spi.hex()}: {e}")

    def remove_all(self) -> None:
        for ipsec, _, _ in list(self._installed.values()):
            self.remove(ipsec)
        for name in list(self._traps):
            self.remove_trap(name)
