"""NAT traversal for IKEv1 (RFC 3947 and the drafts isakmpd speaks).

Vendor IDs announce support in the first two Main Mode messages; NAT-D
payloads in messages 3 and 4 carry hash(CKY-I | CKY-R | IP | port) of each
end as the sender sees it. A mismatch means a NAT on the way, and the
exchange then floats to port 4500 from message 5 on, where every IKE message
carries the four-byte non-ESP marker and ESP travels in UDP.
"""

from __future__ import annotations

import ipaddress

from .. import _core
from ..constants import (PayloadType, VID_NATT_DRAFT_02, VID_NATT_DRAFT_02N,
                         VID_NATT_DRAFT_03, VID_NATT_RFC3947)
from ..sa import Addr, IsakmpSA

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
