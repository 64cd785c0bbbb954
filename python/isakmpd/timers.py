"""A timer queue for the sans-I/O engine.

Times are plain floats supplied by the caller (``now``); nothing here reads a
clock. Cancelled timers are dropped lazily when they reach the head of the
heap, so cancelling is O(1) and an idle daemon with 100 000 SAs costs nothing
until its next deadline.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Callable


class Timer:
    __slots__ = ("when", "callback", "_name", "cancelled")

    def __init__(self, when: float, callback: Callable[[float], None],
                 name: str | Callable[[], str]):
        self.when = when
        self.callback = callback
        self._name = name
        self.cancelled = False

    @property
    def name(self) -> str:
        """What reports call it (a callable name is made when asked for:
        most timers are cancelled before anyone looks)."""
        return self._name if isinstance(self._name, str) else self._name()

    def cancel(self) -> None:
        self.cancelled = True
        # what the callback holds (an exchange, its SA) need not wait for
        # the deadline to be freed
        self.callback = _nothing


def _nothing(now: float) -> None:
    pass


class TimerQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._live = 0
        #: heap size at which cancelled timers are swept out
        self._sweep_at = 4096

    def schedule(self, when: float, callback: Callable[[float], None],
                 name: str | Callable[[], str] = "") -> Timer:
        t = Timer(when, callback, name)
        heapq.heappush(self._heap, (when, next(self._seq), t))
        if len(self._heap) >= self._sweep_at:
            # many timers cancelled long before their deadline (a flood of
            # half-open exchanges): keep the heap within twice the live ones
            # (in place: run_due may be running this heap now)
            self._heap[:] = [e for e in self._heap if not e[2].cancelled]
            heapq.heapify(self._heap)
            self._sweep_at = max(4096, 2 * len(self._heap))
        return t

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run_due(self, now: float) -> int:
        """Run every timer due at ``now``; returns how many ran."""
        ran = 0
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, t = heapq.heappop(heap)
            if t.cancelled:
                continue
            t.cancelled = True
            t.callback(now)
            ran += 1
        return ran

    def pending(self) -> list[Timer]:
        """Live timers, soonest first (for reports)."""
        return sorted((t for _, _, t in self._heap if not t.cancelled),
                      key=lambda t: t.when)

    def __len__(self) -> int:
        return sum(1 for _, _, t in self._heap if not t.cancelled)
