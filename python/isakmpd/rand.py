"""Random values of the daemon: cookies, nonces, DH private values, message
IDs and SPIs.

By default they come from the operating system. ``-r seed`` replaces that
with a deterministic generator (SHA-256 in counter mode over the seed), so a
seeded daemon makes the same choices on every run: isakmpd's regression
tests replay canned packets against a seeded daemon this way.
"""

from __future__ import annotations

import hashlib
import os


class Random:
    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        if seed is not None:
            self._key = hashlib.sha256(b"isakmpd -r " + str(seed).encode()).digest()
            self._counter = 0

    @property
    def deterministic(self) -> bool:
        return self.seed is not None

    def bytes(self, n: int) -> bytes:
        if self.seed is None:
            return os.urandom(n)
        out = bytearray()
        while len(out) < n:
            self._counter += 1
            out += hashlib.sha256(self._key + self._counter.to_bytes(8, "big")).digest()
        return bytes(out[:n])

    def u32(self) -> int:
        return int.from_bytes(self.bytes(4), "big")

    def nonzero_u32(self) -> int:
        while True:
            v = self.u32()
            if v:
                return v

    def below(self, n: int) -> int:
        """A uniform integer in [0, n)."""
        if n <= 0:
            raise ValueError("n must be positive")
        nbytes = (n.bit_length() + 7) // 8 + 8
        return int.from_bytes(self.bytes(nbytes), "big") % n

    def cookie(self) -> bytes:
        """A non-zero 8-byte ISAKMP cookie."""
        while True:
            c = self.bytes(8)
            if any(c):
                return c
