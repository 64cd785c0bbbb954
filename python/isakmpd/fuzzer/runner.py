"""Batches of mutated messages at a running daemon, with checks between.

Each batch starts with a real negotiation (Main Mode and Quick Mode) from
our own peer: its messages are the templates, its keys protect the mutated
Quick Mode and informational messages, and its success says the daemon
still answers. Then come ``batch`` mutants, a mix of

* ``phase1``: first messages (ours and the shipped strongSwan, libreswan
  and ike-scan ones, or a capture's) with a fresh cookie, mutated;
* ``mm3``: a real Main Mode message 1, the daemon's message 2, then a
  mutated message 3;
* ``phase2``: Quick Mode message 1 with a valid HASH(1) over a mutated
  chain, encrypted under the established SA, or with its header mutated
  (wrong exchange type for the state, message ID 0, flags, length);
* ``info``: DELETE and NOTIFY payloads, mutated, protected the same way,
  or unprotected, or with a wrong HASH;
* ``replay``: a message of the finished negotiation sent again.

After the batch: the daemon's process (``pid``) must be alive, its memory
(the resident set of it and its children) under ``max_rss_mb``, and the
next batch's negotiation must succeed.
"""

from __future__ import annotations

import os
import random
import select
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..constants import ExchangeType
from .mutate import Mutator, header, with_length
from .peer import Peer, info_chains

SEEDS = Path(__file__).with_name("seeds")
KINDS = {"phase1": 30, "mm3": 8, "phase2": 27, "info": 27, "replay": 8}


def rss_kb(pid: int) -> int:
    """Resident set of ``pid`` and its descendants, in KiB (0: gone)."""
    total = 0
    todo = [pid]
    seen = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                kids = Path(f"/proc/{p}/task/{task}/children").read_text().split()
                todo += [int(k) for k in kids]
        except OSError:
            pass
    return total


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def seed_messages(extra: list[bytes] = ()) -> dict[str, list[bytes]]:
    """The shipped real messages by kind (file name prefix), plus ``extra``
    first messages (from a capture)."""
    out: dict[str, list[bytes]] = {"p1": [], "mm3": [], "qm1": [], "info": []}
    for f in sorted(SEEDS.glob("*.bin")):
        kind = f.name.split("-", 1)[0]
        if kind in out:
            out[kind].append(f.read_bytes())
    out["p1"] += list(extra)
    return out


def first_messages_from_pcap(path: str) -> list[bytes]:
    """IKE first messages (responder cookie zero) of a pcap file."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        return []
    end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    link = struct.unpack(end + "I", data[20:24])[0]
    off, out = 24, []
    while off + 16 <= len(data):
        incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ip = {1: frame[14:], 113: frame[16:]}.get(link, frame)
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        udp = ip[(ip[0] & 15) * 4:]
        dport, payload = struct.unpack("!H", udp[2:4])[0], udp[8:]
        if dport == 4500 and payload[:4] == b"\0\0\0\0":
            payload = payload[4:]
        elif dport != 500:
            continue
        if len(payload) >= 28 and payload[8:16] == bytes(8) and payload[18] in (2, 4):
            out.append(payload)
    return out


@dataclass
class BatchResult:
    number: int
    sent: Counter = field(default_factory=Counter)
    alive: bool = True
    rss_kb: int = 0
    negotiated: bool = True
    negotiation_s: float = 0.0
    what: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.alive and self.negotiated

    def line(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.sent.items()))
        neg = f"ok in {self.negotiation_s:.1f} s" if self.negotiated else "FAILED"
        return (f"batch {self.number}: {sum(self.sent.values())} messages ({kinds}); "
                f"target {'alive' if self.alive else 'DEAD'}, RSS "
                f"{self.rss_kb // 1024} MB, negotiation {neg}")


class Fuzzer:
    def __init__(self, peer: Peer, pid: int | None, seed: int = 1,
                 rate: float = 1500.0, extra_seeds: list[bytes] = ()) -> None:
        self.peer = peer
        self.pid = pid
        self.rng = random.Random(seed)
        self.mut = Mutator(self.rng)
        self.rate = rate
        self.seeds = seed_messages(extra_seeds)
        self.sa = None
        self.results: list[BatchResult] = []

    # ------------------------------------------------------------ batches
    def negotiate(self, res: BatchResult) -> bool:
        t = time.monotonic()
        self.sa = self.peer.establish()
        res.negotiation_s = time.monotonic() - t
        res.negotiated = self.sa is not None
        return res.negotiated

    def batch(self, n: int) -> BatchResult:
        res = BatchResult(len(self.results) + 1)
        if not self.negotiate(res):
            res.alive = self.pid is None or alive(self.pid)
            self.results.append(res)
            return res
        p = self.peer
        ours_p1 = p.templates(ExchangeType.ID_PROT)[:1]
        ours_qm1 = p.templates(ExchangeType.QUICK_MODE)[:1]
        spi = next(iter(self.peer.engine.table.ipsec_sas())).protos[0].spi_out
        self.t_p1 = ours_p1 + self.seeds["p1"]
        self.t_mm3 = p.templates(ExchangeType.ID_PROT)[1:2] + self.seeds["mm3"]
        self.t_qm1 = [p.protected_chain(self.sa, m)
                      for m in ours_qm1 + self.seeds["qm1"]]
        self.t_info = info_chains(self.sa, spi) + [
            p.protected_chain(self.sa, m) for m in self.seeds["info"]]
        self.t_replay = list(p.raw_sent)
        kinds, weights = zip(*KINDS.items())
        start = time.monotonic()
        for i in range(n):
            if i and i % 150 == 0:
                # a mutated DELETE may have ended our SA: a fresh one
                self.sa = self.peer.establish() or self.sa
            kind = self.rng.choices(kinds, weights)[0]
            what = getattr(self, "_" + kind)()
            res.sent[kind] += 1
            if len(res.what) < 50:
                res.what.append(f"{kind}: {what}")
            # paced, and whatever comes back is read
            due = start + (i + 1) / self.rate
            while (now := time.monotonic()) < due:
                self.peer.drain(due - now)
            if i % 64 == 0:
                self.peer.drain(0)
        self.peer.drain(0.5)
        res.alive = self.pid is None or alive(self.pid)
        res.rss_kb = rss_kb(self.pid) if self.pid else 0
        self.results.append(res)
        return res

    # ------------------------------------------------------------ kinds
    def _phase1(self) -> str:
        m = bytearray(self.rng.choice(self.t_p1))
        m[:8] = self.rng.randbytes(8)
        what, data = self.mut.message(bytes(m))
        self.peer.send(data)
        return what

    def _mm3(self) -> str:
        if not self.t_mm3 or not self.t_p1:
            return self._phase1()
        icookie = self.rng.randbytes(8)
        mm1 = icookie + self.t_p1[0][8:]
        self.peer.send(mm1)
        rcookie = self._await_reply(icookie, 0.5)
        if rcookie is None:
            return "no message 2"
        m3 = icookie + rcookie + self.rng.choice(self.t_mm3)[16:]
        what, data = self.mut.message(m3)
        self.peer.send(data)
        return "message 3: " + what

    def _await_reply(self, icookie: bytes, timeout: float) -> bytes | None:
        end = time.monotonic() + timeout
        sock = self.peer.sock
        while (left := end - time.monotonic()) > 0:
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                break
            data, remote = sock.recvfrom(65535)
            if data[:8] == icookie and len(data) >= 28:
                return data[8:16]
            self.peer.engine.receive_datagram(data, (self.peer.source, 500), remote,
                                              time.monotonic())
        return None

    def _protected(self, chains: list, exchange: int) -> str:
        first, chain = self.rng.choice(chains)
        what, c = self.mut.chain(first, chain)
        mid = self.rng.getrandbits(32) or 1
        roll = self.rng.random()
        data = self.peer.protected(self.sa, exchange, mid, c.first, c.join(),
                                   hash_ok=roll > 0.05)
        if roll <= 0.05:
            what = "wrong HASH; " + what
        elif roll > 0.8:
            hwhat, data = self.mut.header_field(data)
            what = f"{what}; header {hwhat}"
        self.peer.send(data)
        return what

    def _phase2(self) -> str:
        return self._protected(self.t_qm1, ExchangeType.QUICK_MODE)

    def _info(self) -> str:
        if self.rng.random() < 0.1:  # unprotected
            first, chain = self.rng.choice(self.t_info)
            what, c = self.mut.chain(first, chain)
            data = with_length(header(self.sa.icookie + self.sa.rcookie + bytes(12),
                                      next_payload=c.first, version=0x10,
                                      exchange=ExchangeType.INFO) + c.join())
            self.peer.send(data)
            return "unprotected " + what
        return self._protected(self.t_info, ExchangeType.INFO)

    def _replay(self) -> str:
        m = self.rng.choice(self.t_replay)
        self.peer.send(m)
        return f"replay of exchange {m[18]} message ID {m[20:24].hex()}"
