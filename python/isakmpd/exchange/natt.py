"""NAT traversal for IKEv1 (RFC 3947 and the drafts isakmpd speaks).

Vendor IDs announce support in the first two Main Mode messages; NAT-D
payloads in messages 3 and 4 carry hash(CKY-I | CKY-R | IP | port) of each
end as the sender sees it. A mismatch means a NAT on the way, and the
exchange then floats to port 4500 from message 5 on, where every IKE message
carries the four-byte non-ESP marker and ESP travels in UDP.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from .. import _core, log
from ..constants import (PayloadType, ProtocolId, VID_NATT_DRAFT_02, VID_NATT_DRAFT_02N,
                         VID_NATT_DRAFT_03, VID_NATT_RFC3947)
from ..log import Cls
from ..sa import Addr, IsakmpSA

if TYPE_CHECKING:
    from ..engine import Engine
    from ..kernel.base import MappingEvent

#: what we announce, best first
ANNOUNCE = (VID_NATT_RFC3947, VID_NATT_DRAFT_03, VID_NATT_DRAFT_02N, VID_NATT_DRAFT_02)

_VERSIONS = {
    VID_NATT_RFC3947: ("rfc", PayloadType.NAT_D),
    VID_NATT_DRAFT_03: ("draft-03", PayloadType.NAT_D_DRAFT),
    VID_NATT_DRAFT_02N: ("draft-02", PayloadType.NAT_D_DRAFT),
    VID_NATT_DRAFT_02: ("draft-02", PayloadType.NAT_D_DRAFT),
}


def vendor_ids() -> list[_core.VendorID]:
    return [_core.VendorID(v) for v in ANNOUNCE]


def choose(vids: list[bytes]) -> tuple[str, int] | None:
    """The best NAT-T version among the peer's vendor IDs: (name, NAT-D type)."""
    for v in ANNOUNCE:
        if v in vids:
            return _VERSIONS[v]
    return None


def selected_vid(version: str) -> bytes:
    for v, (name, _) in _VERSIONS.items():
        if name == version:
            return v
    raise ValueError(version)


def natd_hash(hash_alg: int, icookie: bytes, rcookie: bytes, addr: Addr) -> bytes:
    ip = ipaddress.ip_address(addr[0]).packed
    return _core.hash(hash_alg, icookie + rcookie + ip + addr[1].to_bytes(2, "big"))


def natd_payloads(sa: IsakmpSA, hash_alg: int) -> list[_core.NatD]:
    """Our NAT-D payloads: the peer's address first, then ours."""
    t = sa.natt.natd_type
    return [
        _core.NatD(natd_hash(hash_alg, sa.icookie, sa.rcookie, sa.remote), t),
        _core.NatD(natd_hash(hash_alg, sa.icookie, sa.rcookie, sa.local), t),
    ]


def detect(sa: IsakmpSA, hash_alg: int, natds: list[_core.NatD]) -> None:
    """Compare the peer's NAT-D payloads with the addresses we see.

    The first one is the peer's view of our address: if it differs from
    what we bind, we are behind a NAT. The others are the peer's own
    addresses as it sees them: if none is the address its packets come
    from, the peer is behind a NAT.
    """
    if len(natds) < 2:
        return
    mine = natd_hash(hash_alg, sa.icookie, sa.rcookie, sa.local)
    theirs = natd_hash(hash_alg, sa.icookie, sa.rcookie, sa.remote)
    sa.natt.local_behind_nat = not _core.ct_eq(natds[0].data, mine)
    sa.natt.peer_behind_nat = not any(_core.ct_eq(n.data, theirs) for n in natds[1:])


def kernel_mapping(engine: "Engine", ev: "MappingEvent", now: float) -> None:
    """The kernel took ESP of one of our inbound SAs, its integrity and
    replay checks passed, from a new address or port (XFRM_MSG_MAPPING):
    as good a proof as an authenticated IKE message that the peer's NAT
    moved it, and usually the first one."""
    spi = ev.spi.to_bytes(4, "big")
    ipsec = engine.table.find_by_spi_in(ProtocolId.IPSEC_ESP, spi)
    remote = (ev.new_src, ev.new_sport)
    if ipsec is None or ipsec.state != "installed" or not ipsec.udp_encap:
        log.debug(Cls.EXCHANGE, 20, f"NAT-T: the kernel saw SPI {spi.hex()} from "
                  f"{remote[0]}:{remote[1]}, not an SA of ours in use")
        return
    if ipsec.remote == remote:
        return
    log.debug(Cls.EXCHANGE, 10, f"NAT-T: the kernel saw {ipsec.name}'s ESP (SPI "
              f"{spi.hex()}) from {remote[0]}:{remote[1]}")
    follow_mapping(engine, ipsec.isakmp, remote, now, established=False)


def follow_mapping(engine: "Engine", sa: IsakmpSA, remote: Addr, now: float,
                   established: bool = True) -> None:
    """An authenticated message on ``sa`` came from ``remote``: if the peer
    is behind a NAT and that is a new address or port (the NAT restarted or
    dropped its mapping), everything we send to the peer follows.

    A new port: the ISAKMP SA and the IPsec SAs on it change their remote
    port, and the kernel's UDP-encapsulated SAs are updated in place (keys,
    sequence numbers and replay state stay). A new address: the kernel SAs
    cannot move there in place, so the IPsec SAs are deleted (the peer is
    told, at its new address) and active connections negotiate new ones.
    ``established``: only for an established ``sa`` (the kernel's word is
    taken for the IPsec SAs of an ISAKMP SA that is gone).
    """
    old = sa.remote
    if remote == old or (established and not sa.established):
        return
    if not (sa.natt.floated and sa.natt.peer_behind_nat):
        log.debug(Cls.EXCHANGE, 10, f"NAT-T: {sa.label()}: a message from "
                  f"{remote[0]}:{remote[1]}, not {old[0]}:{old[1]}, but the peer is "
                  "not behind a NAT: the SA stays where it is")
        return
    if (":" in remote[0]) != (":" in old[0]):
        return
    log.logger(Cls.EXCHANGE).info(
        "NAT-T: peer %s:%d of ISAKMP SA %s now comes from %s:%d (its NAT's mapping "
        "changed); following", old[0], old[1], sa.label(), remote[0], remote[1])
    # every SA we hold with the peer's old mapping moves (also those of an
    # older ISAKMP SA that is gone)
    moved = [s for s in engine.table.isakmp_with(old[0])
             if s.remote == old and s.peer_name == sa.peer_name]
    if sa not in moved:
        moved.append(sa)
    affected = [i for i in engine.table.ipsec_with(old[0])
                if i.remote == old and i.isakmp.peer_name == sa.peer_name]
    for s in moved:
        s.remote = remote
        engine.table.rehome(s, old)
        for ex in s.exchanges.values():
            # a Quick Mode under way may have made its SA already
            pending = getattr(ex, "ipsec", None)
            if (pending is not None and pending.state == "negotiating"
                    and pending.remote == old):
                pending.remote = remote
    restart: list[str] = []
    for ipsec in affected:
        if ipsec.isakmp not in moved:
            ipsec.isakmp.remote = remote  # a gone ISAKMP SA: for the kernel SAs
        if remote[0] == old[0]:
            ipsec.remote = remote
            if ipsec.udp_encap and ipsec.state == "installed":
                engine.update_kernel_sa(ipsec, old)
            continue
        # TODO(move IPsec SAs to a new address in place: XFRM_MSG_MIGRATE, or
        # new kernel SAs that carry the old ones' sequence numbers)
        if ipsec.name not in restart:
            restart.append(ipsec.name)
        engine.delete_ipsec(ipsec, now, send=True,
                            why=f"the peer moved to {remote[0]}")
    if restart:
        from ..conf import model

        active, _ = model.connections(engine.conf)
        wanted = {a.lower() for a in active}
        for name in restart:
            if name.lower() in wanted:
                engine.connect(name, now)
