"""Diffie-Hellman work on threads of the Rust core, off the event loop.

A responder's MM + QM with PFS does four modular exponentiations: two key
pairs (g^x) and two shared secrets (g^xy). The Rust core's worker threads
(``_core.DhWorkers``) compute them without ever taking the GIL, so they run
on the other cores while the event loop handles messages:

- **key pairs** are made ahead of need: :meth:`DhPool.take` hands out a
  ready pair (:func:`isakmpd.exchange.base.make_dh`) and tops the pool up;
  when none is ready (the first negotiation of a group, or a burst that
  emptied the pool) the caller makes its own;
- **shared secrets** start as soon as the peer's public value is known and
  are collected when the keys are first needed (:meth:`DhPool.shared`
  returns a ``_core.DhJob``): a Main Mode responder starts g^xy on message
  3 and needs it on message 5, a Quick Mode responder starts it on message
  1 and needs it on message 3, so a round trip passes in between. A result
  asked for before a worker took the job up is computed by the asker at
  once, so it never waits behind the queue; shared secrets go before key
  pairs in the queue.

The random bytes of each key pair are drawn on the event loop's thread when
the job is queued. Only for a daemon with OS randomness all the same: with
``-r seed`` the pairs would be drawn ahead of need, so the values differ
from a run without the pool; a seeded daemon has none and computes
everything in line. Ready pairs hold private values in memory until used
(at most ``depth`` per group and exponent length); they are zeroized when
freed, as every DhKey is.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from .. import _core

Key = tuple[int, int | None]

#: what :meth:`DhPool.shared` returns
Shared = _core.DhJob


class DhPool:
    def __init__(self, random_bytes: Callable[[int], bytes], workers: int = 1,
                 depth: int = 16) -> None:
        self._random = random_bytes
        self._depth = depth
        #: key pairs queued or made, per group and exponent length, oldest first
        self._pairs: dict[Key, deque[_core.DhJob]] = {}
        self._workers: _core.DhWorkers | None = _core.DhWorkers(max(1, workers))
        #: pairs handed out ready, and pairs the caller had to make itself
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------ key pairs
    def take(self, group: int, bits: int | None) -> _core.DhKey | None:
        """A ready key pair for ``group`` at ``bits`` (None: none ready, make
        one); either way the pool is topped up in the background."""
        key = (group, bits)
        jobs = self._pairs.setdefault(key, deque())
        pair = None
        while jobs and jobs[0].ready:
            try:
                pair = jobs.popleft().result()
            except Exception:  # noqa: BLE001 (the caller makes its own, sees why)
                continue
            break
        if pair is None:
            self.misses += 1
        else:
            self.hits += 1
        self._refill(key, jobs)
        return pair  # type: ignore[return-value]

    def _refill(self, key: Key, jobs: deque[_core.DhJob]) -> None:
        if self._workers is None:
            return
        group, bits = key
        try:
            need = _core.random_bytes_needed(group, bits)
            while len(jobs) < self._depth:
                job = _core.DhJob.key_pair(group, self._random(need), bits)
                self._workers.submit(job)
                jobs.append(job)
        except Exception:  # noqa: BLE001 (a bad group: the caller's attempt says)
            return

    def ready(self, group: int, bits: int | None) -> int:
        return sum(1 for j in self._pairs.get((group, bits), ()) if j.ready)

    # ------------------------------------------------------------ shared secrets
    def shared(self, dh: _core.DhKey, peer: bytes) -> _core.DhJob:
        """Start computing g^xy of ``dh`` with the peer's public value (to be
        checked first: :meth:`DhKey.check_peer`); ``.result()`` has it."""
        job = _core.DhJob.shared(dh, peer)
        if self._workers is not None:
            self._workers.submit(job, True)
        return job

    def close(self) -> None:
        """Stop the workers and drop the pairs made ahead (a shared secret
        still queued is computed by whoever asks for it)."""
        if self._workers is not None:
            self._workers.close()
            self._workers = None
        self._pairs.clear()
