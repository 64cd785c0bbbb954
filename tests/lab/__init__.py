"""Test lab: network namespaces, real peers (strongSwan), tshark, our daemon.

Import from tests as ``from lab import ...`` (tests/ is on sys.path through
tests/conftest.py). Fixtures are in tests/conftest.py: ``netns_pair``,
``charon_factory``, ``isakmpd_factory``.
"""

from .capture import Capture
from .certs import Pki, make_pki
from .charon_keys import (
    CharonKeys,
    ChildSaKeys,
    IkeKeys,
    charon_keys,
    parse_charon_keys,
    wireshark_tables,
)
from .daemon import Isakmpd
from .netns import NetnsPair, PingResult, Side, cleanup_stale, ping, popen, run
from .require import (
    in_ci,
    in_vm_only,
    require_netns,
    require_root,
    require_strongswan,
    require_tool,
)
from .strongswan import Charon
from .swanctl_conf import DEFAULT_PSK, Child, Conn, conn_pair, swanctl_conf
from .util import LabError, wait_until

__all__ = [
    "DEFAULT_PSK", "Capture", "Charon", "CharonKeys", "Child", "ChildSaKeys",
    "Conn", "IkeKeys", "Isakmpd", "LabError", "NetnsPair", "PingResult", "Pki",
    "Side", "charon_keys", "cleanup_stale", "conn_pair", "in_ci", "in_vm_only",
    "make_pki", "parse_charon_keys", "ping", "popen", "require_netns", "require_root",
    "require_strongswan", "require_tool", "run", "swanctl_conf", "wait_until",
    "wireshark_tables",
]  # fmt: skip
