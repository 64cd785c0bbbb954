"""Engines on an in-memory network, for tests of the sans-I/O engine.

    net = Network()
    west = net.add("west", west_conf_text, seed=1, address="192.0.2.1")
    east = net.add("east", east_conf_text, seed=2, address="192.0.2.2")
    net.start()            # every engine's start(now)
    net.run()              # deliver datagrams until nothing is in flight
    net.advance(5)         # move the clock, run due timers, deliver again
    net.settle(200)        # run timers and traffic until quiet or 200 s on

Datagrams go one at a time, oldest first, to the node that owns the
destination address. Every datagram sent is kept in ``net.sent`` as a
:class:`Packet` whose ``index`` counts from 0, and a node's events in
``node.events``.

Faults are rules applied to each packet before delivery (:meth:`Network.drop`,
:meth:`duplicate`, :meth:`corrupt`, :meth:`hold`, :meth:`rewrite`, or any
callable given to :meth:`Network.add_rule`). A :class:`Nat` in ``net.nat``
rewrites one inside address to a public one in both directions.

:func:`peer_conf` writes the configuration of one side of a gateway pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Iterator

import pytest
from isakmpd import _core, log
from isakmpd.conf.store import Conf
from isakmpd.constants import ExchangeType, Flags
from isakmpd.engine import Engine, Event, InstallSA, RemoveSA
from isakmpd.rand import Random
from isakmpd.sa import Addr, IpsecSA, IsakmpSA

PSK = "a-pre-shared-key-of-some-length-0123456789"
WEST_IP, EAST_IP = "192.0.2.1", "192.0.2.2"
WEST_NET, EAST_NET = "10.1.0.0/24", "10.2.0.0/24"


class NetworkStorm(AssertionError):
    """The engines kept sending (a packet loop)."""


@dataclass
class Packet:
    data: bytes
    src: Addr
    dst: Addr
    index: int = -1  # position in Network.sent; -1 for injected copies
    sender: str = ""
    at: float = 0.0  # the clock when it was sent

    @property
    def header(self) -> _core.Header | None:
        try:
            return _core.parse_header(self.data)
        except Exception:
            return None

    @property
    def exchange_type(self) -> int:
        h = self.header
        return h.exchange_type if h is not None else -1

    @property
    def message_id(self) -> int:
        h = self.header
        return h.message_id if h is not None else -1

    @property
    def encrypted(self) -> bool:
        h = self.header
        return bool(h is not None and h.flags & Flags.ENC)

    def payloads(self) -> list:
        """The payloads of an unencrypted message."""
        return _core.parse_message(self.data)[1]


@dataclass
class Node:
    name: str
    engine: Engine
    address: str
    rand: Random
    events: list[Event] = field(default_factory=list)
    spis: list[int] = field(default_factory=list)

    def installed(self) -> list[IpsecSA]:
        return [e.sa for e in self.events if isinstance(e, InstallSA)]

    def removed(self) -> list[IpsecSA]:
        return [e.sa for e in self.events if isinstance(e, RemoveSA)]

    def isakmp_sas(self) -> list[IsakmpSA]:
        return list(self.engine.table.isakmp_sas())

    def ipsec_sas(self) -> list[IpsecSA]:
        return self.engine.table.ipsec_sas()

    def counts(self) -> tuple[int, int]:
        return self.engine.table.counts()

    def timer_names(self) -> list[str]:
        return [t.name for t in self.engine.timers.pending()]


Rule = Callable[[Packet], "list[Packet] | None"]


class Nat:
    """A NAT in front of ``inside``: packets from it leave from ``public``
    with a port mapped per inside port; replies to a mapped port go back."""

    def __init__(self, inside: str, public: str, first_port: int = 40000) -> None:
        self.inside = inside
        self.public = public
        self._next = first_port
        self._out: dict[Addr, Addr] = {}
        self._in: dict[Addr, Addr] = {}

    def translate(self, p: Packet) -> Packet:
        if p.src[0] == self.inside:
            if p.src not in self._out:
                m = (self.public, self._next)
                self._next += 1
                self._out[p.src] = m
                self._in[m] = p.src
            return Packet(p.data, self._out[p.src], p.dst, p.index, p.sender, p.at)
        if p.dst in self._in:
            return Packet(p.data, p.src, self._in[p.dst], p.index, p.sender, p.at)
        return p


class Network:
    def __init__(self, now: float = 0.0, max_packets: int = 500) -> None:
        self.now = now
        self.nodes: dict[str, Node] = {}
        self.sent: list[Packet] = []
        self.delivered: list[Packet] = []
        self.rules: list[Rule] = []
        self.nat: Nat | None = None
        self.max_packets = max_packets
        self._queue: list[Packet] = []
        self._held: list[Packet] = []

    # ------------------------------------------------------------ set-up
    def add(self, name: str, conf: str | Conf, seed: int, address: str,
            **engine_kw) -> Node:
        if isinstance(conf, str):
            conf = Conf.from_text(conf, f"{name}.conf")
        rand = Random(seed)
        spi_rand = Random(seed + 1000)
        node: Node

        def spi(proto: int, src: str, dst: str) -> int:
            v = spi_rand.u32() | 0x100
            node.spis.append(v)
            return v

        engine = Engine(conf, rand, spi, lambda remote: address, **engine_kw)
        node = Node(name, engine, address, rand)
        self.nodes[name] = node
        return node

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def node_at(self, ip: str) -> Node | None:
        for n in self.nodes.values():
            if n.address == ip:
                return n
        return None

    # ------------------------------------------------------------ faults
    def add_rule(self, rule: Rule) -> Rule:
        """``rule(packet)`` returns None to pass the packet on unchanged, or
        the list of packets to deliver instead (empty: drop it)."""
        self.rules.append(rule)
        return rule

    def _once(self, match: Callable[[Packet], bool], times: int,
              action: Callable[[Packet], list[Packet]]) -> Rule:
        left = [times]

        def rule(p: Packet) -> list[Packet] | None:
            if left[0] and match(p):
                left[0] -= 1
                return action(p)
            return None

        return self.add_rule(rule)

    def drop(self, match: Callable[[Packet], bool], times: int = 1) -> Rule:
        return self._once(match, times, lambda p: [])

    def drop_all(self, match: Callable[[Packet], bool]) -> Rule:
        return self.add_rule(lambda p: [] if match(p) else None)

    def duplicate(self, match: Callable[[Packet], bool], times: int = 1) -> Rule:
        return self._once(match, times, lambda p: [p, Packet(p.data, p.src, p.dst,
                                                              -1, p.sender, p.at)])

    def corrupt(self, match: Callable[[Packet], bool], change: Callable[[bytes], bytes],
                times: int = 1) -> Rule:
        return self._once(match, times, lambda p: [Packet(change(p.data), p.src, p.dst,
                                                          p.index, p.sender, p.at)])

    def rewrite(self, match: Callable[[Packet], bool],
                change: Callable[[Packet], Packet], times: int = 1) -> Rule:
        return self._once(match, times, lambda p: [change(p)])

    def hold(self, match: Callable[[Packet], bool], times: int = 1) -> Rule:
        """Keep matching packets aside until :meth:`release`."""
        def keep(p: Packet) -> list[Packet]:
            self._held.append(p)
            return []
        return self._once(match, times, keep)

    def release(self) -> None:
        """Deliver the held packets (after whatever is in flight now)."""
        self._queue.extend(self._held)
        self._held.clear()

    # ------------------------------------------------------------ running
    def start(self) -> None:
        for n in self.nodes.values():
            n.engine.start(self.now)
        self._collect()

    def _collect(self) -> None:
        for n in self.nodes.values():
            for d in n.engine.datagrams_to_send():
                p = Packet(d.data, d.local, d.remote, len(self.sent), n.name,
                           self.now)
                self.sent.append(p)
                if len(self.sent) > self.max_packets:
                    raise NetworkStorm(f"more than {self.max_packets} datagrams sent")
                self._queue.append(p)
            while (ev := n.engine.next_event()) is not None:
                n.events.append(ev)

    def _apply_rules(self, p: Packet) -> list[Packet]:
        out = [p]
        for rule in list(self.rules):
            nxt = []
            for q in out:
                r = rule(q)
                nxt.extend([q] if r is None else r)
            out = nxt
        if self.nat is not None:
            out = [self.nat.translate(q) for q in out]
        return out

    def inject(self, data: bytes, src: Addr, dst: Addr) -> None:
        """Deliver ``data`` now, bypassing the rules."""
        self._deliver(Packet(data, src, dst, -1, "injected", self.now))
        self._collect()

    def _deliver(self, p: Packet) -> None:
        node = self.node_at(p.dst[0])
        if node is None:
            return
        self.delivered.append(p)
        node.engine.receive_datagram(p.data, p.dst, p.src, self.now)

    def step(self) -> bool:
        """Deliver the oldest packet in flight; False if there was none."""
        self._collect()
        if not self._queue:
            return False
        p = self._queue.pop(0)
        for q in self._apply_rules(p):
            self._deliver(q)
        self._collect()
        return True

    def run(self) -> int:
        """Deliver until nothing is in flight; returns how many were taken."""
        n = 0
        while self.step():
            n += 1
        return n

    def pending(self) -> list[Packet]:
        """Packets sent and not yet delivered (without delivering them)."""
        self._collect()
        return list(self._queue)

    def take(self) -> list[Packet]:
        """Remove and return the packets in flight, undelivered."""
        self._collect()
        out, self._queue = self._queue, []
        return out

    def next_timer(self) -> float | None:
        times = [t for n in self.nodes.values()
                 if (t := n.engine.next_timer()) is not None]
        return min(times) if times else None

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on, running every timer due on the way
        (in time order) and delivering what they send."""
        end = self.now + seconds
        self.run()
        while (t := self.next_timer()) is not None and t <= end:
            self.now = max(self.now, t)
            for n in self.nodes.values():
                n.engine.handle_timer(self.now)
            self.run()
        self.now = end
        for n in self.nodes.values():
            n.engine.handle_timer(self.now)
        self.run()

    def settle(self, limit: float = 300.0, ignore: tuple[str, ...] = (
            "connection_checker", "exchange_linger", "isakmp_sa_expire",
            "ipsec_sa_expire")) -> None:
        """Run traffic and timers until no timer but housekeeping ones
        (names containing an ``ignore`` string) is left within ``limit``
        seconds."""
        end = self.now + limit
        self.run()
        while True:
            due = [t.when for n in self.nodes.values()
                   for t in n.engine.timers.pending()
                   if not any(s in t.name for s in ignore)]
            if not due or min(due) > end:
                break
            self.advance(min(due) - self.now)

    # ------------------------------------------------------------ helpers
    def connect(self, node: str | Node, name: str, force: bool = True) -> bool:
        """Start ``name`` on ``node``; by default another SA even if it is up
        (``force=False`` is the FIFO's ``c``, a no-op then)."""
        n = self.nodes[node] if isinstance(node, str) else node
        ok = n.engine.connect(name, self.now, force=force)
        self._collect()
        return ok


# ---------------------------------------------------------------- configs

def peer_conf(me: str, peer: str, *, active: bool, conn: str = "vpn",
              transforms: str = "AES-128-SHA-GRP14",
              suites: str = "QM-ESP-AES-128-SHA-PFS-GRP14-SUITE",
              psk: str = PSK, my_net: str | None = WEST_NET,
              peer_net: str | None = EAST_NET, general: str = "",
              extra: str = "", phase1_key: str | None = None,
              peer_address: str | None = None,
              check_interval: int | None = 100000) -> str:
    """One side's isakmpd.conf: ISAKMP peer ``peer-<conn>`` at ``peer``,
    connection ``conn`` (active: listed in [Phase 2] Connections), IDs for
    ``my_net``/``peer_net`` (None for both: host to host without IDs).
    ``phase1_key`` is the [Phase 1] tag naming the peer (default its
    address); ``extra`` is appended as is. ``check_interval`` is written as
    [General] Check-interval (long by default, so that the connection
    checker stays out of tests that move the clock; None: isakmpd's 60 s)."""
    lines = ["[General]", f"Listen-on= {me}"]
    if check_interval is not None:
        lines.append(f"Check-interval= {check_interval}")
    lines += [ln.strip() for ln in general.strip().splitlines() if ln.strip()]
    lines += ["", "[Phase 1]", f"{phase1_key or peer}= peer-{conn}", "",
              "[Phase 2]",
              f"{'Connections' if active else 'Passive-connections'}= {conn}", "",
              f"[peer-{conn}]", "Phase= 1", f"Address= {peer_address or peer}",
              f"Local-address= {me}", f"Authentication= {psk}",
              f"Configuration= mm-{conn}", "",
              f"[mm-{conn}]", "DOI= IPSEC", "EXCHANGE_TYPE= ID_PROT",
              f"Transforms= {transforms}", "",
              f"[{conn}]", "Phase= 2", f"ISAKMP-peer= peer-{conn}",
              f"Configuration= qm-{conn}"]
    if my_net is not None and peer_net is not None:
        lines += [f"Local-ID= id-local-{conn}", f"Remote-ID= id-remote-{conn}", ""]
        for sec, net in ((f"id-local-{conn}", my_net), (f"id-remote-{conn}", peer_net)):
            addr, _, bits = net.partition("/")
            mask = str(__import__("ipaddress").ip_network(net).netmask)
            lines += [f"[{sec}]", "ID-type= IPV4_ADDR_SUBNET", f"Network= {addr}",
                      f"Netmask= {mask}", ""]
    lines += ["", f"[qm-{conn}]", "DOI= IPSEC", "EXCHANGE_TYPE= QUICK_MODE",
              f"Suites= {suites}", ""]
    return "\n".join(lines) + "\n" + extra + "\n"


def gateway_pair(seed: int = 1, *, west: dict | None = None, east: dict | None = None,
                 start: bool = True, **common) -> tuple[Network, Node, Node]:
    """West (active, 192.0.2.1) and east (passive, 192.0.2.2) on a fresh
    network; ``common`` goes to both :func:`peer_conf` calls, ``west`` and
    ``east`` to one each. Started and run until quiet unless ``start`` is
    False."""
    net = Network()
    wkw = {**common, **(west or {})}
    ekw = {**common, **(east or {})}
    wkw.setdefault("my_net", WEST_NET)
    wkw.setdefault("peer_net", EAST_NET)
    ekw.setdefault("my_net", EAST_NET)
    ekw.setdefault("peer_net", WEST_NET)
    engine_w = wkw.pop("engine", {})
    engine_e = ekw.pop("engine", {})
    w = net.add("west", peer_conf(WEST_IP, EAST_IP, active=True, **wkw), seed,
                WEST_IP, **engine_w)
    e = net.add("east", peer_conf(EAST_IP, WEST_IP, active=False, **ekw), seed + 1,
                EAST_IP, **engine_e)
    if start:
        net.start()
        net.run()
    return net, w, e


def established(net: Network) -> tuple[IpsecSA, IpsecSA]:
    """The one InstallSA of west and of east (asserting there is one each)."""
    w, e = net["west"], net["east"]
    assert len(w.installed()) == 1, w.events
    assert len(e.installed()) == 1, e.events
    return w.installed()[0], e.installed()[0]


def assert_keys_cross(a: IpsecSA, b: IpsecSA) -> None:
    """KEYMAT and SPIs of two ends of one SA bundle mirror each other."""
    assert [p.protocol_id for p in a.protos] == [p.protocol_id for p in b.protos]
    for pa, pb in zip(a.protos, b.protos):
        assert pa.spi_in == pb.spi_out and pa.spi_out == pb.spi_in
        assert pa.spi_in != pa.spi_out
        assert pa.keymat_in == pb.keymat_out and pa.keymat_out == pb.keymat_in
        assert pa.keymat_in and pa.keymat_in != pa.keymat_out


def open_protected(sa: IsakmpSA, data: bytes, *before: bytes
                   ) -> tuple[_core.Header, list]:
    """Decrypt and parse a message on ``sa`` with its own cipher, for
    inspection. ``before``: the earlier messages of the same exchange, in
    order, whose last blocks chain into this one's IV. The cipher's state
    for that message ID is dropped after."""
    hdr = _core.parse_header(data)
    if not hdr.flags & Flags.ENC:
        return hdr, _core.parse_payloads(hdr.next_payload, data[28:])
    assert sa.cipher is not None
    mid = hdr.message_id
    if mid == 0:
        raise ValueError("phase-1 messages would move the phase-1 IV")
    sa.cipher.forget(mid)
    try:
        for earlier in before:
            sa.cipher.decrypt(mid, earlier[28:])
            sa.cipher.commit(mid)
        plain = sa.cipher.decrypt(mid, data[28:])
    finally:
        sa.cipher.forget(mid)
    return hdr, _core.parse_payloads(hdr.next_payload, plain, allow_trailing=True)


def is_info(p: Packet) -> bool:
    return p.exchange_type == ExchangeType.INFO


# ---------------------------------------------------------------- logging

class LogRecords:
    """Records of the ``isakmpd`` loggers, whatever handlers a daemon test
    left behind."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    @property
    def records(self) -> list[logging.LogRecord]:
        return [r for r in self._caplog.records if r.name.startswith("isakmpd")]

    def messages(self, min_level: int = logging.WARNING) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= min_level]

    def matching(self, text: str, min_level: int = logging.DEBUG) -> list[str]:
        return [m for m in self.messages(min_level) if text in m]

    def clear(self) -> None:
        self._caplog.clear()


@pytest.fixture(name="isakmpd_log")
def isakmpd_log_fixture(caplog: pytest.LogCaptureFixture) -> Iterator[LogRecords]:
    """caplog on the ``isakmpd`` loggers (propagation forced on), and the
    debug levels restored after the test."""
    root = logging.getLogger("isakmpd")
    saved = (root.propagate, root.level, list(log._levels))
    root.propagate = True
    root.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="isakmpd")
    yield LogRecords(caplog)
    root.propagate, lvl, levels = saved
    root.setLevel(lvl)
    log._levels[:] = levels
