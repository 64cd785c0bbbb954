"""Rate limits for log lines that a peer, or anyone who can send a
datagram, can cause one per packet: a flood of them must not flood the log.

Each kind of line has a bucket of ``burst`` lines that refills at ``rate``
lines a second of the engine's clock (the ``now`` the engine is given; this
module reads no clock). A line over the limit is counted, not logged; the
next line of that kind that is logged is preceded by how many were left out.

    limiter = LogLimiter()
    limiter.warning(logger, "malformed", now, "dropped message from %s", addr)
"""

from __future__ import annotations

import logging

#: lines of one kind logged at once before the limit applies
BURST = 500
#: lines of one kind a second after that
RATE = 10.0


class LogLimiter:
    def __init__(self, burst: int = BURST, rate: float = RATE) -> None:
        self.burst = burst
        self.rate = rate
        #: kinds with limits of their own: kind -> (burst, rate)
        self.limits: dict[str, tuple[int, float]] = {}
        #: kind -> [tokens left, time of the last refill, lines left out]
        self._buckets: dict[str, list[float]] = {}
        #: lines left out, over all kinds, since the start
        self.suppressed = 0

    def allow(self, kind: str, now: float) -> tuple[bool, int]:
        """Whether a line of ``kind`` may be logged at ``now``, and how many
        of that kind were left out since the last one logged."""
        burst, rate = self.limits.get(kind, (self.burst, self.rate))
        b = self._buckets.get(kind)
        if b is None:
            b = self._buckets[kind] = [float(burst), now, 0.0]
        elapsed = max(0.0, now - b[1])
        b[0] = min(float(burst), b[0] + elapsed * rate)
        b[1] = now
        if b[0] >= 1.0:
            b[0] -= 1.0
            left_out, b[2] = int(b[2]), 0.0
            return True, left_out
        b[2] += 1
        self.suppressed += 1
        return False, 0

    def log(self, logger: logging.Logger, level: int, kind: str, now: float,
            msg: str, *args: object) -> bool:
        """Log ``msg % args`` at ``level`` unless ``kind`` is over its limit;
        True if it was logged."""
        ok, left_out = self.allow(kind, now)
        if not ok:
            return False
        if left_out:
            logger.log(level, "%d similar lines left out (rate limit)", left_out)
        logger.log(level, msg, *args)
        return True

    def warning(self, logger: logging.Logger, kind: str, now: float, msg: str,
                *args: object) -> bool:
        return self.log(logger, logging.WARNING, kind, now, msg, *args)
