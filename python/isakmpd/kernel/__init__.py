"""Kernel backends behind one interface (see :mod:`.base`).

``XfrmBackend`` (:mod:`.xfrm`) talks XFRM netlink to Linux; ``NullBackend``
(:mod:`.null`) is ``-n``: it records requests and touches nothing.
:mod:`.algs` maps negotiated IPsec transforms to XFRM algorithms.
"""

from __future__ import annotations

from .base import (
    IPPROTO_AH,
    IPPROTO_COMP,
    IPPROTO_ESP,
    AcquireEvent,
    AeadAlgo,
    Algo,
    AuthAlgo,
    Encap,
    EventSource,
    ExpireEvent,
    KernelBackend,
    KernelError,
    KernelLacksESP,
    Lifetimes,
    PolicySpec,
    SaRecord,
    SaSpec,
    Selector,
    Template,
)

__all__ = [
    "IPPROTO_AH",
    "IPPROTO_COMP",
    "IPPROTO_ESP",
    "AcquireEvent",
    "AeadAlgo",
    "Algo",
    "AuthAlgo",
    "Encap",
    "EventSource",
    "ExpireEvent",
    "KernelBackend",
    "KernelError",
    "KernelLacksESP",
    "Lifetimes",
    "PolicySpec",
    "SaRecord",
    "SaSpec",
    "Selector",
    "Template",
]
