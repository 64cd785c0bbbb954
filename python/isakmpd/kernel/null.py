"""The backend of ``-n``: no kernel, only a memory of what was asked.

SPIs come from the daemon's random function (``isakmpd.rand``), so a seeded
daemon picks the same SPIs on every run. ``list_sas``/``list_policies``
show what would have been installed.
"""

from __future__ import annotations

import errno
import ipaddress
import secrets
import socket
from collections.abc import Callable

from ..errors import KernelError
from .base import (
    IPPROTO_COMP,
    PROTO_NAMES,
    EventSource,
    KernelBackend,
    PolicySpec,
    SaRecord,
    SaSpec,
    Selector,
    family_of,
)

#: draws before get_spi gives up on finding an unused SPI
MAX_DRAWS = 1000

_SaKey = tuple[int, int, str]  # proto, spi, dst


class NullBackend(KernelBackend):
    """Records SAs and policies; never touches the kernel."""

    changes_kernel = False

    def __init__(self, rand: Callable[[], int] | None = None) -> None:
        self._rand = rand or (lambda: secrets.randbits(32))
        self._larval: dict[_SaKey, str] = {}  # -> src
        self._sas: dict[_SaKey, SaSpec] = {}
        self._policies: dict[tuple[Selector, str], PolicySpec] = {}

    def get_spi(
        self,
        proto: int,
        src: str,
        dst: str,
        *,
        reqid: int = 0,
        spi_min: int = 0,
        spi_max: int = 0,
    ) -> int:
        if proto not in PROTO_NAMES:
            raise ValueError(f"IPsec protocol {proto} is not ESP, AH or IPcomp")
        src, dst = _norm(src), _norm(dst)
        low = spi_min or 0x100
        high = spi_max or (0xFFFF if proto == IPPROTO_COMP else 0xFFFFFFFF)
        if not 0 < low <= high <= 0xFFFFFFFF:
            raise ValueError(f"bad SPI range {low:#x}-{high:#x}")
        span = high - low + 1
        for _ in range(MAX_DRAWS):
            spi = int(self._rand())
            if not low <= spi <= high:
                spi = low + spi % span
            key = (proto, spi, dst)
            if key not in self._larval and key not in self._sas:
                self._larval[key] = src
                return spi
        raise KernelError(
            f"no unused SPI in {low:#x}-{high:#x} after {MAX_DRAWS} draws", errno.EAGAIN
        )

    def add_sa(self, sa: SaSpec) -> None:
        key = (sa.proto, sa.spi, _norm(sa.dst))
        if not sa.inbound and key in self._sas:
            raise KernelError(
                f"SA {PROTO_NAMES[sa.proto]} spi {sa.spi:#x} exists", errno.EEXIST
            )
        self._larval.pop(key, None)
        self._sas[key] = sa

    def update_sa(self, sa: SaSpec) -> None:
        self._sas[(sa.proto, sa.spi, _norm(sa.dst))] = sa

    def delete_sa(
        self,
        proto: int,
        spi: int,
        dst: str,
        family: int | None = None,
        src: str | None = None,
    ) -> None:
        key = (proto, spi, _norm(dst))
        if self._sas.pop(key, None) is None and self._larval.pop(key, None) is None:
            raise KernelError(
                f"no SA {PROTO_NAMES.get(proto, proto)} spi {spi:#x} to {dst}",
                errno.ESRCH,
            )

    def add_policy(self, policy: PolicySpec) -> None:
        self._policies[(policy.selector, policy.direction)] = policy

    def delete_policy(self, policy: PolicySpec) -> None:
        if self._policies.pop((policy.selector, policy.direction), None) is None:
            raise KernelError(
                f"no {policy.direction} policy {policy.selector}", errno.ENOENT
            )

    def list_sas(self) -> list[SaRecord]:
        records = [
            SaRecord(proto, spi, src, dst, "tunnel", larval=True)
            for (proto, spi, dst), src in self._larval.items()
        ]
        records.extend(_record(sa) for sa in self._sas.values())
        return records

    def list_policies(self) -> list[PolicySpec]:
        return list(self._policies.values())

    def bypass_socket(self, sock: socket.socket) -> None:
        pass

    def events(self) -> EventSource | None:
        return None

    def flush(self) -> None:
        self._larval.clear()
        self._sas.clear()
        self._policies.clear()

    def close(self) -> None:
        pass


def _norm(address: str) -> str:
    """One spelling per address, so that '::1' and '0::1' are the same SA."""
    family_of(address)  # a clear error for a bad address
    return str(ipaddress.ip_address(address))


def _record(sa: SaSpec) -> SaRecord:
    return SaRecord(
        proto=sa.proto,
        spi=sa.spi,
        src=sa.src,
        dst=sa.dst,
        mode=sa.mode,
        reqid=sa.reqid,
        enc=sa.enc.name if sa.enc else None,
        auth=sa.auth.name if sa.auth else None,
        aead=sa.aead.name if sa.aead else None,
        comp=sa.comp.name if sa.comp else None,
        encap=sa.encap,
        selector=sa.selector,
    )
