"""The load generator's initiator over real UDP sockets.

One sans-I/O :class:`~isakmpd.engine.Engine` with one peer and one
connection per source address sends from every source through one socket
bound to the wildcard address (IP_PKTINFO picks the source of each
datagram). ``window`` negotiations are kept under way; each takes a source
address of its own, and a Main Mode + Quick Mode ends when the engine says
the IPsec SA is up. Runs inside the initiator's namespace (``isakmpd-bench``
starts it there as ``python -m isakmpd.bench.udp``) and prints one JSON
object: setups, wall time, latencies, its own CPU time.

The initiator uses the same DH key pair for every negotiation it starts
(``reuse_dh``, the default): the load generator's keys protect nothing, and
making a pair per negotiation would spend on this side the CPU the
responder under test needs. Every shared secret is still computed.
"""

from __future__ import annotations

import argparse
import json
import resource
import select
import socket
import struct
import sys
import time
from collections import deque

from .. import _core
from ..conf import model
from ..conf.store import Conf
from ..constants import NATT_KEEPALIVE
from ..engine import Engine, InstallSA
from ..rand import Random
from . import confgen

IP_PKTINFO = 8


class _ReusedKeys:
    """A :class:`~isakmpd.exchange.dhpool.DhPool` look-alike that hands out
    one key pair per group and exponent length, again and again."""

    def __init__(self) -> None:
        self._keys: dict[tuple[int, int | None], _core.DhKey] = {}

    def take(self, group: int, bits: int | None) -> _core.DhKey:
        key = self._keys.get((group, bits))
        if key is None:
            import os

            need = _core.random_bytes_needed(group, bits)
            key = self._keys[(group, bits)] = _core.DhKey(group, os.urandom(need), bits)
        return key

    def close(self) -> None:
        self._keys.clear()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))
    return s[k]


class UdpInitiator:
    def __init__(self, responder: str, sources: list[str], profile: confgen.Profile,
                 port: int = 500, reuse_dh: bool = True) -> None:
        self.responder = responder
        self.sources = sources
        conf = Conf.from_text(confgen.initiator_conf(sources, responder, profile),
                              "bench-initiator")
        spi_rand = Random()
        self.engine = Engine(conf, Random(), lambda p, s, d: spi_rand.u32() | 0x100,
                             lambda remote: sources[0], listen_port=port, natt=False)
        if reuse_dh:
            self.engine.dh_pool = _ReusedKeys()
        self._read_connections(len(sources))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.sock.bind(("0.0.0.0", port))
        self.sock.setblocking(False)
        self.port = port
        self.sent = 0
        self.received = 0
        self.send_errors = 0

    def _read_connections(self, n: int) -> None:
        """Build the configuration views of every connection and its peer
        before the clock runs: reading its configuration once per
        connection is the initiator's set-up, not per-setup work (each
        connection here is used once)."""
        conf = self.engine.conf
        for i in range(n):
            conn = model.connection(conf, f"c{i}")
            model.phase1_peer(conf, conn.isakmp_peer)

    def _send_all(self) -> None:
        for d in self.engine.datagrams_to_send():
            pktinfo = struct.pack("I4s4s", 0, socket.inet_aton(d.local[0]),
                                  socket.inet_aton("0.0.0.0"))
            try:
                self.sock.sendmsg([d.data], [(socket.IPPROTO_IP, IP_PKTINFO, pktinfo)],
                                  0, d.remote)
                self.sent += 1
            except (BlockingIOError, OSError):
                self.send_errors += 1

    def _receive_all(self, now: float) -> int:
        n = 0
        while n < 256:
            try:
                data, anc, _, remote = self.sock.recvmsg(65535, 64)
            except (BlockingIOError, InterruptedError):
                break
            local = "0.0.0.0"
            for level, kind, cdata in anc:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(cdata) >= 12:
                    local = socket.inet_ntoa(cdata[8:12])
            n += 1
            if data == NATT_KEEPALIVE:
                continue
            self.received += 1
            self.engine.receive_datagram(data, (local, self.port), remote[:2], now)
        return n

    def run(self, count: int, window: int, max_seconds: float) -> dict:
        count = min(count, len(self.sources))
        todo = deque(range(count))
        started: dict[str, float] = {}
        latencies: list[float] = []
        eng = self.engine
        ep = select.epoll()
        ep.register(self.sock.fileno(), select.EPOLLIN)
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.monotonic()
        first_done = last_done = None
        deadline = t0 + max_seconds
        done = 0
        while done < count:
            now = time.monotonic()
            if now > deadline:
                break
            while todo and len(started) < window:
                name = f"c{todo.popleft()}"
                started[name] = now
                eng.connect(name, now)
            self._send_all()
            nxt = eng.next_timer()
            timeout = 0.05 if nxt is None else max(0.0, min(0.05, nxt - now))
            ep.poll(timeout)
            now = time.monotonic()
            self._receive_all(now)
            eng.handle_timer(now)
            while (ev := eng.next_event()) is not None:
                if isinstance(ev, InstallSA):
                    t = started.pop(ev.sa.name, None)
                    if t is not None:
                        latencies.append(now - t)
                        done += 1
                        last_done = now
                        if first_done is None:
                            first_done = now
            self._send_all()
        # the last Quick Mode message 3s go out before the numbers are taken
        self._send_all()
        wall = time.monotonic() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        ep.close()
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        return {
            "requested": count,
            "setups": done,
            "failed_or_unfinished": count - done,
            "wall": wall,
            "span": (last_done - t0) if last_done is not None else 0.0,
            "rate": done / (last_done - t0) if last_done and last_done > t0 else 0.0,
            "p50": percentile(latencies, 0.50),
            "p90": percentile(latencies, 0.90),
            "p99": percentile(latencies, 0.99),
            "initiator_cpu": cpu,
            "initiator_cpu_share": cpu / wall if wall else 0.0,
            "sent": self.sent,
            "received": self.received,
            "send_errors": self.send_errors,
            "dropped": eng.stats["dropped"],
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m isakmpd.bench.udp",
                                description="the load generator's initiator "
                                "(run inside its namespace by isakmpd-bench)")
    p.add_argument("--responder", required=True)
    p.add_argument("--first-source", default="198.18.0.1")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--profile", default="modp2048", choices=sorted(confgen.PROFILES))
    p.add_argument("--max-seconds", type=float, default=120.0)
    p.add_argument("--port", type=int, default=500)
    p.add_argument("--fresh-dh", action="store_true",
                   help="a new DH key pair per negotiation")
    a = p.parse_args(argv)
    sources = confgen.source_addresses(a.count, a.first_source)
    ini = UdpInitiator(a.responder, sources, confgen.PROFILES[a.profile], a.port,
                       reuse_dh=not a.fresh_dh)
    result = ini.run(a.count, a.window, a.max_seconds)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0 if result["setups"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
