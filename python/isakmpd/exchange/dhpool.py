"""DH key pairs made ahead of need, in worker threads.

Half of the Diffie-Hellman work of a negotiation is making our key pair
(g^x). The Rust core releases the GIL while it computes, so a pool of worker
threads can make key pairs on another core while the event loop handles
messages; :func:`isakmpd.exchange.base.make_dh` takes a ready pair when
there is one and computes one in line otherwise (the first negotiation of a
group, or a burst that empties the pool). Each pair is used once.

Only for a daemon with OS randomness: with ``-r seed`` the order in which
threads draw random bytes would make runs differ, so a seeded daemon has no
pool. Ready pairs hold private values in memory until used (at most
``depth`` per group and exponent length); they are zeroized when freed, as
every DhKey is.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .. import _core

Key = tuple[int, int | None]


class DhPool:
    def __init__(self, random_bytes: Callable[[int], bytes], workers: int = 1,
                 depth: int = 16) -> None:
        self._random = random_bytes
        self._depth = depth
        self._ready: dict[Key, deque[_core.DhKey]] = {}
        self._pending: dict[Key, int] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers),
                                        thread_name_prefix="isakmpd-dh")
        self._closed = False
        #: pairs handed out ready, and pairs the caller had to make itself
        self.hits = 0
        self.misses = 0

    def take(self, group: int, bits: int | None) -> _core.DhKey | None:
        """A ready key pair for ``group`` at ``bits`` (None: none ready, make
        one); either way the pool is topped up in the background."""
        key = (group, bits)
        with self._lock:
            ready = self._ready.get(key)
            pair = ready.popleft() if ready else None
            if pair is None:
                self.misses += 1
            else:
                self.hits += 1
            self._refill(key)
        return pair

    def _refill(self, key: Key) -> None:
        if self._closed:
            return
        have = len(self._ready.get(key, ())) + self._pending.get(key, 0)
        for _ in range(self._depth - have):
            self._pending[key] = self._pending.get(key, 0) + 1
            self._pool.submit(self._make, key)

    def _make(self, key: Key) -> None:
        group, bits = key
        try:
            random = self._random(_core.random_bytes_needed(group, bits))
            pair = _core.DhKey(group, random, bits)  # releases the GIL
        except Exception:  # noqa: BLE001 (the caller makes its own and sees the error)
            pair = None
        with self._lock:
            self._pending[key] -= 1
            if pair is not None and not self._closed:
                self._ready.setdefault(key, deque()).append(pair)

    def ready(self, group: int, bits: int | None) -> int:
        with self._lock:
            return len(self._ready.get((group, bits), ()))

    def close(self) -> None:
        """Stop making pairs and drop the ready ones."""
        with self._lock:
            self._closed = True
            self._ready.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
