"""Structure-aware mutations of ISAKMP messages.

A message is split into its 28-byte header and its payload chain, each
payload as ``[type, body]`` (the generic headers are rebuilt on joining,
unless a mutation wrote a length of its own). Every mutation changes one
thing a parser must check: a header field (version, exchange type, flags,
message ID, length), the chain (order, duplicates, missing or unknown
payloads, a payload length below its minimum or past the end, trailing
bytes) or a field inside a payload (SA proposal and transform counts, SPI
sizes, attribute values such as KEY_LENGTH, DELETE and NOTIFY SPI sizes and
counts, ID types and ports, certificate encodings), or a few bytes.

    m = Mutator(random.Random(1))
    what, data = m.message(template)              # whole message
    what, chain = m.chain(first_type, chain)      # a chain alone
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

SA, PROPOSAL, TRANSFORM, KE, ID, CERT, CR, HASH, SIG, NONCE, NOTIFY, DELETE, VID = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
NATD, NATOA = 20, 21
KNOWN = (SA, KE, ID, CERT, CR, HASH, SIG, NONCE, NOTIFY, DELETE, VID, NATD, NATOA)
#: values that find edge cases in length and count fields
EDGES16 = (0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF)
EDGES8 = (0, 1, 2, 3, 4, 5, 8, 15, 16, 17, 32, 0x7F, 0x80, 0xFF)


@dataclass
class Chain:
    """A payload chain: ``[[type, body, length or None], ...]`` (a length
    of None is computed on joining)."""

    items: list[list]
    trailing: bytes = b""

    @classmethod
    def parse(cls, first: int, data: bytes) -> "Chain":
        items: list[list] = []
        off, nxt = 0, first
        while nxt and off + 4 <= len(data):
            size = int.from_bytes(data[off + 2:off + 4], "big")
            if size < 4 or off + size > len(data):
                break
            items.append([nxt, data[off + 4:off + size], None])
            nxt, off = data[off], off + size
        return cls(items, data[off:])

    @property
    def first(self) -> int:
        return self.items[0][0] if self.items else 0

    def join(self) -> bytes:
        out = []
        for i, (_, body, length) in enumerate(self.items):
            nxt = self.items[i + 1][0] if i + 1 < len(self.items) else 0
            n = 4 + len(body) if length is None else length
            out.append(struct.pack("!BBH", nxt & 0xFF, 0, n & 0xFFFF) + body)
        return b"".join(out) + self.trailing

    def copy(self) -> "Chain":
        return Chain([list(x) for x in self.items], self.trailing)


def header(data: bytes, **fields: int) -> bytes:
    """``data`` with header fields replaced: next_payload, version,
    exchange, flags, mid, length (raw integers)."""
    h = bytearray(data[:28].ljust(28, b"\0"))
    offs = {"next_payload": (16, 1), "version": (17, 1), "exchange": (18, 1),
            "flags": (19, 1), "mid": (20, 4), "length": (24, 4)}
    for k, v in fields.items():
        off, n = offs[k]
        h[off:off + n] = (v & ((1 << (8 * n)) - 1)).to_bytes(n, "big")
    return bytes(h) + data[28:]


def with_length(data: bytes) -> bytes:
    """The header's length set to the datagram's."""
    return header(data, length=len(data))


class Mutator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    # ------------------------------------------------------------ messages
    def message(self, data: bytes) -> tuple[str, bytes]:
        """One mutation of a whole (unencrypted) message."""
        r = self.rng
        if r.random() < 0.3:
            return self.header_field(data)
        what, chain = self.chain(data[16], data[28:])
        out = header(data[:28], next_payload=chain.first if chain.items else 0)
        body = chain.join()
        if what.startswith("first type "):
            out = header(out, next_payload=int(what.split()[2]))
        return what, with_length(out + body)

    def header_field(self, data: bytes) -> tuple[str, bytes]:
        r = self.rng
        n = len(data)
        choice = r.randrange(8)
        if choice == 0:
            v = r.choice((0x00, 0x01, 0x0F, 0x20, 0x11, 0x30, 0xF0, 0xFF,
                          r.randrange(256)))
            return f"version 0x{v:02x}", header(data, version=v)
        if choice == 1:
            v = r.choice((0, 1, 2, 3, 4, 5, 6, 32, 33, 34, 240, 255))
            return f"exchange type {v}", header(data, exchange=v)
        if choice == 2:
            v = r.randrange(256)
            return f"flags 0x{v:02x}", header(data, flags=v)
        if choice == 3:
            v = r.choice((0, 1, 0xFFFFFFFF, r.getrandbits(32)))
            return f"message ID {v:#x}", header(data, mid=v)
        if choice == 4:
            v = r.choice((0, 1, 27, 28, n - 1, n + 1, n + 100, 0x7FFFFFFF,
                          0xFFFFFFFF, r.getrandbits(32)))
            return f"header length {v} of {n}", header(data, length=v)
        if choice == 5:
            v = r.choice((0, 2, 3, 14, 15, 16, 19, 99, 127, 128, 200, 255))
            return f"next payload {v}", header(data, next_payload=v)
        if choice == 6:
            cut = r.randrange(0, n)
            return f"cut to {cut} of {n}", data[:cut]
        extra = bytes(r.randrange(256) for _ in range(r.choice((1, 3, 4, 16, 100))))
        return f"{len(extra)} bytes appended", with_length(data + extra)

    # ------------------------------------------------------------ chains
    def chain(self, first: int, data: bytes) -> tuple[str, Chain]:
        """One mutation of a payload chain."""
        c = Chain.parse(first, data)
        r = self.rng
        if not c.items:
            c.items.append([r.choice(KNOWN), r.randbytes(r.randrange(0, 40)), None])
            return "a payload where there was none", c
        ops = (self._order, self._drop, self._duplicate, self._unknown, self._length,
               self._retype, self._trail, self._field, self._field, self._field,
               self._bytes)
        return r.choice(ops)(c), c

    def _pick(self, c: Chain) -> int:
        return self.rng.randrange(len(c.items))

    def _order(self, c: Chain) -> str:
        if len(c.items) < 2:
            return self._duplicate(c)
        i, j = self.rng.sample(range(len(c.items)), 2)
        c.items[i], c.items[j] = c.items[j], c.items[i]
        return f"payloads {i} and {j} swapped"

    def _drop(self, c: Chain) -> str:
        i = self._pick(c)
        t = c.items.pop(i)[0]
        return f"payload {i} (type {t}) missing"

    def _duplicate(self, c: Chain) -> str:
        i = self._pick(c)
        c.items.insert(self.rng.randrange(len(c.items) + 1), list(c.items[i]))
        return f"payload {i} (type {c.items[i][0]}) twice"

    def _unknown(self, c: Chain) -> str:
        t = self.rng.choice((0x0E, 0x10, 0x13, 0x17, 0x63, 0x7F, 0x80, 0x82, 0xFF))
        body = self.rng.randbytes(self.rng.randrange(0, 12))
        c.items.insert(self.rng.randrange(len(c.items) + 1), [t, body, None])
        return f"payload of type {t} inserted"

    def _length(self, c: Chain) -> str:
        i = self._pick(c)
        n = 4 + len(c.items[i][1])
        v = self.rng.choice((0, 1, 2, 3, 4, 5, n - 1, n + 1, n + 4, 0xFFFF))
        c.items[i][2] = v
        return f"payload {i} (type {c.items[i][0]}) length {v} of {n}"

    def _retype(self, c: Chain) -> str:
        i = self._pick(c)
        t = self.rng.choice(KNOWN)
        old, c.items[i][0] = c.items[i][0], t
        return f"payload {i} of type {old} named type {t}"

    def _trail(self, c: Chain) -> str:
        c.trailing = self.rng.randbytes(self.rng.choice((1, 3, 4, 8, 64)))
        return f"{len(c.trailing)} bytes after the chain"

    def _bytes(self, c: Chain) -> str:
        i = self._pick(c)
        body = bytearray(c.items[i][1])
        if not body:
            c.items[i][1] = self.rng.randbytes(self.rng.randrange(1, 9))
            return f"payload {i} given a body"
        for _ in range(self.rng.randint(1, 4)):
            k = self.rng.randrange(len(body))
            body[k] = self.rng.choice((0, 0xFF, body[k] ^ 0x80,
                                       self.rng.randrange(256)))
        if self.rng.random() < 0.3:
            body = body[:self.rng.randrange(len(body) + 1)]
        c.items[i][1] = bytes(body)
        return f"payload {i} (type {c.items[i][0]}) bytes changed"

    def _field(self, c: Chain) -> str:
        i = self._pick(c)
        t, body = c.items[i][0], c.items[i][1]
        fn = {SA: self._sa, ID: self._id, DELETE: self._delete, NOTIFY: self._notify,
              CERT: self._cert, CR: self._cert, KE: self._value, NONCE: self._value,
              HASH: self._value, SIG: self._value, VID: self._value,
              NATD: self._value}.get(t)
        if fn is None:
            return self._bytes(c)
        what, new = fn(bytearray(body))
        c.items[i][1] = bytes(new)
        return f"payload {i} (type {t}): {what}"

    # ------------------------------------------------------------ fields
    def _set(self, b: bytearray, off: int, size: int, v: int) -> None:
        if off + size <= len(b):
            b[off:off + size] = (v & ((1 << (8 * size)) - 1)).to_bytes(size, "big")

    def _value(self, b: bytearray) -> tuple[str, bytearray]:
        n = self.rng.choice((0, 1, 7, 15, 17, 255, 257, 513, 1024))
        if n <= len(b):
            return f"{n} bytes instead of {len(b)}", b[:n]
        return f"{n} bytes instead of {len(b)}", b + bytearray(self.rng.randbytes(
            n - len(b)))

    def _sa(self, b: bytearray) -> tuple[str, bytearray]:
        # DOI(4) situation(4) | proposal: next res len(2) num proto spisize ntrans spi
        # | transform: next res len(2) num id res(2) attributes
        r = self.rng
        if len(b) < 20:
            return self._value(b)
        spi_size = b[14]
        t0 = 16 + spi_size  # first transform
        choice = r.randrange(9)
        if choice == 0:
            v = r.choice((0, 2, 3, 0xFFFFFFFF))
            self._set(b, 0, 4, v)
            return f"DOI {v}", b
        if choice == 1:
            v = r.choice((0, 2, 4, 7, 0xFFFFFFFF))
            self._set(b, 4, 4, v)
            return f"situation {v:#x}", b
        if choice == 2:
            v = r.choice(EDGES8)
            b[15] = v
            return f"transform count {v}", b
        if choice == 3:
            v = r.choice((0, 1, 3, 4, 8, 16, 17, 255))
            b[14] = v
            return f"proposal SPI size {v} (SPI of {spi_size})", b
        if choice == 4:
            v = r.choice((0, 1, 2, 3, 4, 5, 6, 255))
            b[13] = v
            return f"proposal protocol {v}", b
        if choice == 5:
            v = r.choice(EDGES16)
            self._set(b, 10, 2, v)
            return f"proposal length {v}", b
        if choice == 6 and t0 + 8 <= len(b):
            v = r.choice((0, 1, 2, 3, 5, 7, 12, 13, 255))
            b[t0 + 5] = v
            return f"transform ID {v}", b
        # an attribute of the first transform
        a = t0 + 8
        if a + 4 > len(b):
            return self._value(b)
        # walk to a random attribute
        offs = []
        while a + 4 <= len(b):
            offs.append(a)
            if b[a] & 0x80:
                a += 4
            else:
                a += 4 + int.from_bytes(b[a + 2:a + 4], "big")
        a = r.choice(offs)
        kind = r.randrange(4)
        if kind == 0:  # KEY_LENGTH (14 in phase 1, 6 in phase 2) with odd values
            self._set(b, a, 2, 0x8000 | r.choice((14, 6)))
            v = r.choice((0, 1, 7, 64, 127, 129, 192, 257, 448, 0xFFFF))
            self._set(b, a + 2, 2, v)
            return f"KEY_LENGTH {v}", b
        if kind == 1:
            v = r.choice((0, 1, 0xFF, 0x7FFF, 0xFFFF, r.randrange(0x10000)))
            self._set(b, a + 2, 2, v)
            return f"attribute value/length {v} at {a}", b
        if kind == 2:
            b[a] ^= 0x80
            return f"attribute AF bit flipped at {a}", b
        v = r.choice((0, 1, 5, 16, 17, 99, 0x7FFF, 16384, 32767))
        self._set(b, a, 2, (b[a] & 0x80) << 8 | v)
        return f"attribute type {v} at {a}", b

    def _id(self, b: bytearray) -> tuple[str, bytearray]:
        # type protocol port(2) data
        r = self.rng
        if len(b) < 4:
            return self._value(b)
        choice = r.randrange(4)
        if choice == 0:
            v = r.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 99, 255))
            b[0] = v
            return f"ID type {v}", b
        if choice == 1:
            b[1] = r.choice((0, 6, 17, 255))
            self._set(b, 2, 2, r.choice((0, 1, 500, 0xFFFF)))
            return f"ID protocol {b[1]} port {int.from_bytes(b[2:4], 'big')}", b
        if choice == 2:
            n = r.choice((0, 1, 3, 5, 7, 15, 17, 31, 33, 300))
            data = b[4:]
            data = data[:n] if n <= len(data) else data + bytearray(r.randbytes(
                n - len(data)))
            return f"ID data of {n} bytes", b[:4] + data
        b[4:] = bytearray(r.randbytes(len(b) - 4 or 8))
        return "ID data random", b

    def _delete(self, b: bytearray) -> tuple[str, bytearray]:
        # DOI(4) protocol spisize count(2) spis
        r = self.rng
        if len(b) < 8:
            return self._value(b)
        choice = r.randrange(4)
        if choice == 0:
            v = r.choice(EDGES8)
            b[5] = v
            return f"DELETE SPI size {v}, {int.from_bytes(b[6:8], 'big')} SPIs", b
        if choice == 1:
            v = r.choice(EDGES16)
            self._set(b, 6, 2, v)
            return f"DELETE SPI count {v}, SPI size {b[5]}", b
        if choice == 2:
            v = r.choice((0, 1, 2, 3, 4, 5, 255))
            b[4] = v
            return f"DELETE protocol {v}", b
        n = r.choice((0, 1, 3, 5, 8))
        return f"DELETE SPIs cut or padded by {n}", (b[:-n] if n and r.random() < 0.5
                                                     else b + bytearray(n))

    def _notify(self, b: bytearray) -> tuple[str, bytearray]:
        # DOI(4) protocol spisize type(2) spi data
        r = self.rng
        if len(b) < 8:
            return self._value(b)
        choice = r.randrange(4)
        if choice == 0:
            v = r.choice(EDGES8)
            b[5] = v
            return f"NOTIFY SPI size {v}", b
        if choice == 1:
            v = r.choice((0, 1, 14, 16, 24, 8191, 8192, 16384, 24576, 24578, 36136,
                          36137, 40001, 0xFFFF, r.randrange(0x10000)))
            self._set(b, 6, 2, v)
            return f"NOTIFY type {v}", b
        if choice == 2:
            v = r.choice((0, 1, 2, 3, 4, 5, 255))
            b[4] = v
            return f"NOTIFY protocol {v}", b
        return "NOTIFY data changed", b[:8 + b[5]] + bytearray(r.randbytes(
            r.choice((0, 1, 3, 4, 100))))

    def _cert(self, b: bytearray) -> tuple[str, bytearray]:
        r = self.rng
        if not b:
            return "certificate encoding only", bytearray([r.randrange(256)])
        if r.random() < 0.5:
            b[0] = r.choice((0, 1, 4, 5, 6, 7, 10, 11, 12, 13, 99, 255))
            return f"certificate encoding {b[0]}", b
        body = bytes([b[0]]) + r.choice((b"", b"\x30", b"\x30\x82\xff\xff",
                                         b"\x30\x03\x02\x01\x00", r.randbytes(60)))
        return "certificate data junk", bytearray(body)
