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

if TYPE_CHECKING:
    from .cli import Options
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
    return Lifetimes(soft_seconds=int(secs * SOFT_SHARE), hard_seconds=secs,
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
                    kw["encap"] = (Encap(sport=remote[1], dport=local[1]) if inbound
                                   else Encap(sport=local[1], dport=remote[1]))
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
    local, remote = ipsec.isakmp.local[0], ipsec.isakmp.remote[0]
    ls, rs = ipsec.local_sel, ipsec.remote_sel
    proto = ls.protocol or rs.protocol
    tunnel = any(p.mode == 1 for p in ipsec.protos)
    out_t = [Template(ip_proto(p.protocol_id), _mode(p),
                      local if p.mode == 1 else None, remote if p.mode == 1 else None,
                      reqid) for p in reversed(ipsec.protos)]
    in_t = [Template(ip_proto(p.protocol_id), _mode(p),
                     remote if p.mode == 1 else None, local if p.mode == 1 else None,
                     reqid) for p in reversed(ipsec.protos)]
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

    def _reqid(self, ipsec: IpsecSA) -> int:
        key = (str(ipsec.local_sel), str(ipsec.remote_sel), ipsec.remote[0])
        r = self._flow_reqid.get(key)
        if r is None:
            r = self._flow_reqid[key] = next(self._reqids)
        return r

    def install(self, ipsec: IpsecSA) -> None:
        reqid = self._reqid(ipsec)
        sas = sa_specs(ipsec, reqid)
        pols = policy_specs(ipsec, reqid) if self.install_flows else []
        self._installed[id(ipsec)] = (ipsec, [], pols)
        lacks: KernelLacksESP | None = None
        for spec in sas:
            try:
                self.kernel.add_sa(spec)
                self._installed[id(ipsec)][1].append(spec)
            except KernelLacksESP as e:
                lacks = e
                if spec.inbound:  # the larval SA of our SPI: don't leave it around
                    self._quiet_delete(spec)
        for pol in pols:
            key = _policy_key(pol)
            n = self._policy_refs.get(key, 0)
            if n == 0:
                self.kernel.add_policy(pol)
            self._policy_refs[key] = n + 1
        if lacks is not None:
            raise lacks
        log.debug(Cls.SYSDEP, 10, f"installed {len(sas)} SAs and {len(pols)} flows for "
                  f"{ipsec.name}")

    def _quiet_delete(self, spec: SaSpec) -> None:
        try:
            self.kernel.delete_sa(spec.proto, spec.spi, spec.dst, src=spec.src)
        except KernelError:
            pass

    def remove(self, ipsec: IpsecSA) -> None:
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
            key = _policy_key(pol)
            n = self._policy_refs.get(key, 0) - 1
            if n <= 0:
                self._policy_refs.pop(key, None)
                try:
                    self.kernel.delete_policy(pol)
                except KernelError as e:
                    log.debug(Cls.SYSDEP, 10, f"delete flow {pol.selector}: {e}")
            else:
                self._policy_refs[key] = n

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
