"""Two engines wired together in memory: an initiator with one peer per
source address and a responder that takes them all. Used to measure what one
setup costs each side (without sockets or kernel), to check that the load
generator's initiator is not the bottleneck, and to fill the responder's
tables with many SAs for the memory and idle-timer measurements.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from ..conf.store import Conf
from ..engine import Engine, InstallSA
from ..rand import Random
from . import confgen

RESPONDER = "198.19.0.1"


@dataclass
class MeshResult:
    setups: int
    wall: float
    cpu_initiator: float
    cpu_responder: float
    latencies: list[float] = field(default_factory=list)

    @property
    def per_setup_initiator(self) -> float:
        return self.cpu_initiator / self.setups if self.setups else 0.0

    @property
    def per_setup_responder(self) -> float:
        return self.cpu_responder / self.setups if self.setups else 0.0


class _Spi:
    def __init__(self, seed: int) -> None:
        self.rand = Random(seed)

    def __call__(self, proto: int, src: str, dst: str) -> int:
        return self.rand.u32() | 0x100


class Mesh:
    """``Mesh(n)``: an initiator engine with ``n`` peers, a responder engine."""

    def __init__(self, n: int, profile: confgen.Profile = confgen.Profile(),
                 seed: int | None = None) -> None:
        self.sources = confgen.source_addresses(n)
        iconf = Conf.from_text(confgen.initiator_conf(self.sources, RESPONDER, profile),
                               "bench-initiator")
        rconf = Conf.from_text(confgen.responder_conf(
            RESPONDER, "198.19.0.0/16", "198.18.0.0/15", profile), "bench-responder")
        self.initiator = Engine(iconf, Random(seed), _Spi(1 if seed else 0),
                                lambda remote: self.sources[0], natt=False)
        self.responder = Engine(rconf, Random(seed + 1 if seed else None),
                                _Spi(2 if seed else 0),
                                lambda remote: RESPONDER, natt=False)
        self.cpu = {"initiator": 0.0, "responder": 0.0}
        #: the first peer the next run() starts with
        self.next_peer = 0
        self.now = 0.0

    def _timed(self, side: str, fn, *args) -> None:  # type: ignore[no-untyped-def]
        t = time.thread_time()
        fn(*args)
        self.cpu[side] += time.thread_time() - t

    def drain(self, rounds: int = 100) -> None:
        """Deliver what is in flight (the last Quick Mode messages) until
        both engines are quiet."""
        for _ in range(rounds):
            moved = False
            for d in self.initiator.datagrams_to_send():
                moved = True
                self._timed("responder", self.responder.receive_datagram, d.data,
                            d.remote, d.local, self.now)
            for d in self.responder.datagrams_to_send():
                moved = True
                self._timed("initiator", self.initiator.receive_datagram, d.data,
                            d.remote, d.local, self.now)
            while self.initiator.next_event() is not None:
                pass
            while self.responder.next_event() is not None:
                pass
            if not moved:
                return

    def run(self, count: int | None = None, window: int = 64,
            max_seconds: float = 600.0, first: int | None = None) -> MeshResult:
        """Set up ``count`` (default: one per peer) MM+QM pairs, ``window``
        at a time, with the peers from ``first`` on (default: after those
        of the previous runs); the clock is the real one."""
        first = self.next_peer if first is None else first
        count = (len(self.sources) - first if count is None
                 else min(count, len(self.sources) - first))
        todo = deque(f"c{i}" for i in range(first, first + count))
        self.next_peer = first + count
        started: dict[str, float] = {}
        latencies: list[float] = []
        t0 = time.monotonic()
        ini, rsp = self.initiator, self.responder
        done = 0
        while done < count and time.monotonic() - t0 < max_seconds:
            self.now = time.monotonic()
            while todo and len(started) < window:
                name = todo.popleft()
                started[name] = self.now
                self._timed("initiator", ini.connect, name, self.now)
            moved = False
            for d in ini.datagrams_to_send():
                moved = True
                self._timed("responder", rsp.receive_datagram, d.data, d.remote,
                            d.local, self.now)
            for d in rsp.datagrams_to_send():
                moved = True
                self._timed("initiator", ini.receive_datagram, d.data, d.remote,
                            d.local, self.now)
            while (ev := ini.next_event()) is not None:
                if isinstance(ev, InstallSA) and ev.sa.name in started:
                    latencies.append(self.now - started.pop(ev.sa.name))
                    done += 1
            while rsp.next_event() is not None:
                pass
            if not moved:
                self._timed("initiator", ini.handle_timer, self.now)
                self._timed("responder", rsp.handle_timer, self.now)
        wall = time.monotonic() - t0
        self.drain()
        return MeshResult(done, wall, self.cpu["initiator"],
                          self.cpu["responder"], latencies)
