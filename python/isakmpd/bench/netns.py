"""Two network namespaces joined by a veth pair, for the load generator.

    initiator ns  veth 198.19.0.2/24 + the source addresses (/32 each)
    responder ns  veth 198.19.0.1/24, route to the sources via 198.19.0.2

The names start with a prefix (``ikb``, or ``--netns-prefix``) and carry
this process's PID, so that runs do not collide and nothing else's
namespaces are touched. Deleted on exit
(what still runs inside is stopped by its PID by the caller first).
"""

from __future__ import annotations

import os
import subprocess
from types import TracebackType

RESPONDER_ADDR = "198.19.0.1"
INITIATOR_ADDR = "198.19.0.2"
SOURCES_NET = "198.18.0.0/15"


class BenchError(Exception):
    pass


def run(*argv: str, input: str | None = None, timeout: float = 60) -> str:
    try:
        p = subprocess.run(argv, input=input, capture_output=True, text=True,
                           timeout=timeout)
    except FileNotFoundError as e:
        raise BenchError(f"{argv[0]}: not found") from e
    if p.returncode != 0:
        raise BenchError(f"{' '.join(argv[:6])}...: {p.stderr.strip() or p.stdout}")
    return p.stdout


class BenchNet:
    def __init__(self, tag: str | None = None, prefix: str = "ikb") -> None:
        tag = tag or str(os.getpid())
        self.ini = f"{prefix}{tag}i"
        self.rsp = f"{prefix}{tag}r"
        self.sources: list[str] = []

    def __enter__(self) -> "BenchNet":
        if os.geteuid() != 0:
            raise BenchError("isakmpd-bench needs root (network namespaces)")
        self.close()
        run("ip", "netns", "add", self.ini)
        run("ip", "netns", "add", self.rsp)
        run("ip", "link", "add", "ikbveth0", "netns", self.ini, "type", "veth",
            "peer", "name", "ikbveth1", "netns", self.rsp)
        for ns, ifname, addr in ((self.ini, "ikbveth0", INITIATOR_ADDR),
                                 (self.rsp, "ikbveth1", RESPONDER_ADDR)):
            run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", ifname)
            run("ip", "-n", ns, "link", "set", ifname, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", self.rsp, "route", "add", SOURCES_NET, "via", INITIATOR_ADDR)
        return self

    def add_sources(self, addresses: list[str]) -> None:
        """Put the source addresses on the initiator's veth (one batch)."""
        new = [a for a in addresses if a not in set(self.sources)]
        if not new:
            return
        batch = "".join(f"addr add {a}/32 dev ikbveth0\n" for a in new)
        run("ip", "-n", self.ini, "-batch", "-", input=batch, timeout=600)
        self.sources += new

    def close(self) -> None:
        for ns in (self.ini, self.rsp):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
