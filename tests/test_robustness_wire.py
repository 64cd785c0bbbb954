"""Hostile and lossy wires: our daemon with a tunnel to charon up, while the
other namespace sends it malformed datagrams; and a lost first message.

Every bad datagram must end as one log line saying it was dropped (or
ignored), never a traceback; the daemon must stay up and the tunnel usable.
"""

from __future__ import annotations

import json
import random
import re
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import lab
import pytest
from lab import tshark
from test_interop_strongswan import (
    KEYS_DEBUG,
    SUITES,
    ReportSA,
    assert_clean_log,
    count_lines,
    isakmpd_conf,
    report_sas,
    wait_report,
)

pytestmark = [pytest.mark.netns, pytest.mark.strongswan]

MARKER = b"\0\0\0\0"

# A line saying one datagram was not taken: the engine's drop lines (a debug
# line, or a warning for a malformed message), the transport's for ESP that
# reached the NAT-T socket, an exchange's for a message it will not use.
DROP = re.compile(
    r"^\S+ (?:Mesg \d+ dropped message from|Default dropped message from|"
    r"Trpt \d+ ESP from .* dropped$|Exch \d+ .*: message dropped:)",
    re.MULTILINE,
)


def _hdr(
    icookie: bytes,
    rcookie: bytes = bytes(8),
    next_payload: int = 0,
    exchange: int = 2,
    flags: int = 0,
    mid: int = 0,
    length: int | None = None,
    body: bytes = b"",
) -> bytes:
    n = 28 + len(body) if length is None else length
    return (
        icookie
        + rcookie
        + struct.pack("!BBBBII", next_payload, 0x10, exchange, flags, mid, n)
        + body
    )


@dataclass
class Bad:
    what: str
    port: int  # 500 or 4500
    data: bytes  # as sent (with the marker, if any)
    drops: int = 1  # drop lines it must cause


def _payload(next_payload: int, body: bytes, length: int | None = None) -> bytes:
    n = 4 + len(body) if length is None else length
    return struct.pack("!BBH", next_payload, 0, n) + body


def bad_datagrams(mm1: bytes, cookies: bytes, rng: random.Random) -> list[Bad]:
    """The malformed datagrams; ``mm1`` is a captured Main Mode message 1,
    ``cookies`` those of the established ISAKMP SA."""

    def ck() -> bytes:
        return rng.randbytes(8)

    out = [
        Bad("empty datagram", 500, b""),
        Bad("1 byte", 500, b"\x01"),
        Bad("27-byte header", 500, _hdr(ck())[:27]),
        Bad("header length 40, datagram 28", 500, _hdr(ck(), length=40)),
        Bad("header length 28, datagram 40", 500, _hdr(ck(), length=28) + bytes(12)),
        Bad("header length 0", 500, _hdr(ck(), length=0, body=bytes(8))),
        Bad("version 2.0", 500, _hdr(ck())[:17] + b"\x20" + _hdr(ck())[18:]),
        Bad(
            "zero initiator cookie",
            500,
            _hdr(bytes(8), next_payload=1, body=_payload(0, bytes(8))),
        ),
        Bad(
            "SA payload length past the end",
            500,
            _hdr(ck(), next_payload=1, body=_payload(0, bytes(8), length=200)),
        ),
        Bad(
            "payload length 2 (below the generic header)",
            500,
            _hdr(ck(), next_payload=1, body=_payload(0, bytes(8), length=2)),
        ),
        Bad(
            "garbage SA",
            500,
            _hdr(
                ck(),
                next_payload=1,
                body=_payload(0, struct.pack("!II", 1, 1) + rng.randbytes(40)),
            ),
        ),
        Bad(
            "SA with a proposal count past the transforms",
            500,
            _hdr(
                ck(),
                next_payload=1,
                body=_payload(
                    0,
                    struct.pack("!II", 1, 1)
                    + _payload(0, bytes([1, 1, 0, 5]), length=8),
                ),
            ),
        ),
        Bad(
            "unknown payload chain after SA",
            500,
            _hdr(
                ck(),
                next_payload=1,
                body=_payload(77, struct.pack("!II", 1, 1)) + rng.randbytes(5),
            ),
        ),
        Bad(
            "unknown exchange type 200",
            500,
            _hdr(
                ck(),
                exchange=200,
                next_payload=1,
                body=_payload(0, struct.pack("!II", 1, 1)),
            ),
        ),
        Bad(
            "Aggressive Mode first message without payloads",
            500,
            _hdr(ck(), exchange=4),
        ),
        Bad(
            "Quick Mode for unknown cookies",
            500,
            _hdr(
                ck(),
                ck(),
                next_payload=8,
                exchange=32,
                flags=1,
                mid=0x1234,
                body=rng.randbytes(48),
            ),
        ),
        Bad(
            "informational for unknown cookies",
            500,
            _hdr(ck(), ck(), next_payload=11, exchange=5, body=_payload(0, bytes(8))),
        ),
        Bad(
            "encrypted garbage on the established SA",
            500,
            _hdr(
                cookies[:8],
                cookies[8:],
                next_payload=8,
                exchange=32,
                flags=1,
                mid=0x5555,
                body=rng.randbytes(64),
            ),
        ),
        Bad(
            "encrypted body not a block multiple",
            500,
            _hdr(
                cookies[:8],
                cookies[8:],
                next_payload=8,
                exchange=32,
                flags=1,
                mid=0x5556,
                body=rng.randbytes(13),
            ),
        ),
        Bad(
            "unencrypted Quick Mode on the established SA",
            500,
            _hdr(
                cookies[:8],
                cookies[8:],
                next_payload=8,
                exchange=32,
                mid=0x5557,
                body=_payload(0, bytes(20)),
            ),
        ),
        Bad(
            "encrypted informational with message ID 0",
            500,
            _hdr(
                cookies[:8],
                cookies[8:],
                next_payload=8,
                exchange=5,
                flags=1,
                body=rng.randbytes(32),
            ),
        ),
    ]
    out += [
        Bad(f"random {n} bytes", 500, rng.randbytes(n))
        for n in (4, 28, 29, 60, 200, 1000)
    ]
    out += [
        Bad(f"Main Mode message 1, first {n} of {len(mm1)} bytes", 500, mm1[:n])
        for n in range(1, len(mm1))
    ]
    # the NAT-T port: with the non-ESP marker, IKE; without, ESP (not ours)
    out += [
        Bad("4500: marker only", 4500, MARKER),
        Bad("4500: marker and a truncated header", 4500, MARKER + mm1[:20]),
        Bad(
            "4500: marker and a header length past the end",
            4500,
            MARKER + _hdr(ck(), length=100),
        ),
        Bad("4500: marker and Main Mode message 1 cut short", 4500, MARKER + mm1[:-1]),
        Bad("4500: marker and random bytes", 4500, MARKER + rng.randbytes(50)),
        Bad(
            "4500: marker and Quick Mode for unknown cookies",
            4500,
            MARKER
            + _hdr(
                ck(),
                ck(),
                next_payload=8,
                exchange=32,
                flags=1,
                mid=7,
                body=rng.randbytes(32),
            ),
        ),
        Bad("4500: 2 bytes", 4500, b"\x00\x01"),
        # the NAT-T socket has UDP_ENCAP set: the kernel itself takes ESP
        # (anything longer than the marker that does not start with it) and
        # swallows keepalives, so these never reach the daemon
        Bad(
            "4500: no marker (ESP-like)", 4500, b"\x12\x34\x56\x78" + bytes(40), drops=0
        ),
        Bad("4500: no marker, IKE header", 4500, mm1, drops=0),
        Bad("4500: keepalive 0xff", 4500, b"\xff", drops=0),
    ]
    return out


SENDER = r"""
import json, socket, sys, time
src, dst, items = json.load(sys.stdin)
ports, socks = [], []
for port, hexdata in items:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))  # kept open: every datagram has a source port of its own
    socks.append(s)
    ports.append(s.getsockname()[1])
    s.sendto(bytes.fromhex(hexdata), (dst, port))
    time.sleep(0.002)
print(json.dumps(ports))
"""


def send_from(side: lab.Side, dst: str, items: list[tuple[int, bytes]]) -> list[int]:
    """Send raw UDP datagrams from ``side``'s address to ``dst``, each from
    a source port of its own; those ports, in order."""
    payload = json.dumps([side.addr, dst, [(p, d.hex()) for p, d in items]])
    res = lab.run(side, sys.executable, "-c", SENDER, input=payload, timeout=60)
    return json.loads(res.stdout)


_FROM = re.compile(r"from 192\.0\.2\.2:(\d+)")
_RECEIVED = re.compile(r"^\S+ Trpt \d+ received \d+ bytes from")


def lines_by_port(text: str) -> dict[int, list[str]]:
    """Log lines by the source port of the datagram they are about: a line
    naming no port belongs to the last datagram named before it. The
    transport's "received" lines are left out."""
    out: dict[int, list[str]] = {}
    port: int | None = None
    for line in text.splitlines():
        if m := _FROM.search(line):
            port = int(m[1])
        if port is None or _RECEIVED.match(line):
            continue
        out.setdefault(port, []).append(line)
    return out


def logged(d: lab.Isakmpd, mark: int, port: int) -> None:
    """Wait until ``d`` logged a line about the datagram from ``port``, and
    a little more for the lines that follow it."""
    rx = re.compile(rf"from 192\.0\.2\.2:{port}\b")
    lab.wait_until(lambda: rx.search(d.log(), mark), 15, f"a line about :{port}")
    time.sleep(0.5)


def _mm1_from(pcap: Path, src: str) -> bytes:
    """The first Main Mode message 1 that ``src`` sent in a capture."""
    zero = ":".join(["00"] * 8)
    flt = f"ip.src == {src} && udp.dstport == 500 && isakmp.rspi == {zero}"
    rows = tshark.fields(pcap, ["udp.payload"], flt)
    assert rows, "no Main Mode message 1 in the capture"
    return bytes.fromhex(rows[0]["udp.payload"][0].replace(":", ""))


@dataclass
class Tunnel:
    charon: lab.Charon
    ours: lab.Isakmpd
    phase1: ReportSA
    phase2: ReportSA
    mm1: bytes  # charon's Main Mode message 1, as captured


def _tunnel(
    pair: lab.NetnsPair,
    charon_factory,
    isakmpd_factory,
    tmp_path: Path,
) -> Tunnel:
    """charon (east) brings up the tunnel to our daemon (west, passive)."""
    lab.require_tool("tcpdump")
    lab.require_tool("tshark")
    e = pair.east
    suite = SUITES["aes128-modp2048"]
    charon = charon_factory(e)
    _, east_conn = lab.conn_pair(pair, proposals=suite.ike, esp_proposals=suite.esp)
    charon.load(east_conn)
    ours = isakmpd_factory(pair.west, isakmpd_conf(passive=True), args=["-n"])
    cap = pair.capture(tmp_path / "ike.pcap", side="east")
    charon.initiate("net", timeout=10)
    sa = charon.wait_for(ike="lab", child="net")
    p1, p2 = wait_report(ours)
    pcap = cap.stop()
    assert p1.icookie == sa["initiator-spi"]
    return Tunnel(charon, ours, p1, p2, _mm1_from(pcap, e.addr))


def _still_usable(t: Tunnel) -> None:
    """The tunnel is still there on both ends, and still works: tear the
    IPsec SA down and bring it up again over the same ISAKMP SA."""
    ours, charon, p1 = t.ours, t.charon, t.phase1
    assert ours.alive()
    sas = [s for s in report_sas(ours) if s.phase == 2 or "established" in s.text]
    assert [(s.phase, s.icookie) for s in sas] == [(1, p1.icookie), (2, p1.icookie)]
    assert sas[1].spis == t.phase2.spis
    assert charon.find_sa(ike="lab", child="net") is not None
    ours.fifo("t west-east")
    lab.wait_until(
        lambda: charon.find_sa(ike="lab", child="net") is None,
        10,
        "charon: child deleted",
    )
    ours.fifo("c west-east")
    again = charon.wait_for(ike="lab", child="net", timeout=10)
    assert again["initiator-spi"] == p1.icookie  # the same ISAKMP SA
    (child,) = again["children"]
    q2 = lab.wait_until(
        lambda: [s for s in report_sas(ours, phase=2) if s.spis != t.phase2.spis],
        10,
        "the new IPsec SA",
        interval=0.2,
    )[0]
    assert q2.spis == [(int(child["spi-in"], 16), int(child["spi-out"], 16))]
    assert_clean_log(ours)


@pytest.mark.timeout(60)
def test_malformed_datagrams(
    netns_pair, charon_factory, isakmpd_factory, tmp_path
) -> None:
    """Each malformed datagram is one log line saying it was dropped."""
    w, e = netns_pair.west, netns_pair.east
    t = _tunnel(netns_pair, charon_factory, isakmpd_factory, tmp_path)
    ours = t.ours
    cookies = bytes.fromhex(t.phase1.icookie + t.phase1.rcookie)
    bads = bad_datagrams(t.mm1, cookies, random.Random(20240501))
    mark = ours.mark()
    ports = send_from(e, w.addr, [(b.port, b.data) for b in bads])
    last = next(p for b, p in zip(bads[::-1], ports[::-1], strict=True) if b.drops)
    logged(ours, mark, last)
    by_port = lines_by_port(ours.log()[mark:])
    wrong = []
    for b, port in zip(bads, ports, strict=True):
        lines = by_port.pop(port, [])
        if len(lines) != b.drops or not all(DROP.match(x) for x in lines):
            wrong.append(f"{b.what} (port {port}): {lines}")
    assert not wrong, "\n".join(wrong)
    assert not by_port, by_port  # nothing else happened
    assert_clean_log(ours)
    _still_usable(t)


# what a mutated first message may lead to: a drop, a refusal, or the start
# of a responder exchange (the mutation hit a vendor ID or a nonce-free spot)
MUTANT_OUTCOME = re.compile(
    DROP.pattern + r"|^\S+ Default Main Mode with 192\.0\.2\.2 failed: "
    r"|^\S+ Exch \d+ ID_PROT responder .*: chose .*; sending message 2$",
    re.MULTILINE,
)


def mutants(mm1: bytes, rng: random.Random, n: int) -> list[bytes]:
    """``n`` copies of a Main Mode message 1 with a fresh initiator cookie
    and 1-4 bytes after the header changed (the length stays right)."""
    out = []
    for _ in range(n):
        m = bytearray(mm1)
        m[:8] = rng.randbytes(8)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(28, len(m))
            m[i] = rng.choice((0, 0xFF, 1, rng.randrange(256), m[i] ^ 0x80))
        out.append(bytes(m))
    return out


@pytest.mark.timeout(60)
def test_mutated_main_mode_message_1(
    netns_pair, charon_factory, isakmpd_factory, tmp_path
) -> None:
    """A real Main Mode message 1 with a few bytes changed: dropped, refused
    or answered, each logged, never a crash; the tunnel stays."""
    w, e = netns_pair.west, netns_pair.east
    t = _tunnel(netns_pair, charon_factory, isakmpd_factory, tmp_path)
    ours = t.ours
    sent = mutants(t.mm1, random.Random(4242), 300)
    mark = ours.mark()
    ports = send_from(e, w.addr, [(500, m) for m in sent])
    logged(ours, mark, ports[-1])
    by_port = lines_by_port(ours.log()[mark:])
    wrong = []
    outcomes: dict[str, int] = {}
    for m, port in zip(sent, ports, strict=True):
        lines = by_port.pop(port, [])
        main = [x for x in lines if MUTANT_OUTCOME.match(x)]
        if len(main) != 1:
            wrong.append(f"{m.hex()} (port {port}): {lines}")
            continue
        kind = re.sub(
            r"^\S+ (\w+ ?\d*) .*?(dropped|failed|sending message 2).*",
            r"\1 \2",
            main[0],
        )
        outcomes[kind] = outcomes.get(kind, 0) + 1
    assert not wrong, "\n".join(wrong[:20])
    assert not by_port, by_port
    assert len(outcomes) >= 2, outcomes  # the mutations reach past the parser
    assert_clean_log(ours)
    _still_usable(t)


HOSTILE = r"""
import json, os, socket, struct, sys
src, dst, mm1, cases = json.load(sys.stdin)
mm1 = bytes.fromhex(mm1)
out = []
for flags, first, body in cases:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(3)
    icookie = os.urandom(8)
    s.sendto(icookie + mm1[8:], (dst, 500))
    reply = s.recv(65535)
    assert reply[:8] == icookie, "message 2 for another exchange"
    hdr = icookie + reply[8:16] + struct.pack("!BBBBII", first, 0x10, 2, flags, 0,
                                              28 + len(body) // 2)
    s.sendto(hdr + bytes.fromhex(body), (dst, 500))
    out.append(s.getsockname()[1])
    s.close()
print(json.dumps(out))
"""

KE, NONCE, NATD, SA_, VID = 4, 10, 20, 1, 13


def chain(*payloads: tuple[int, bytes]) -> tuple[int, bytes]:
    """(first payload type, the payload chain) of (type, body) pairs."""
    out = b""
    for i, (_, body) in enumerate(payloads):
        nxt = payloads[i + 1][0] if i + 1 < len(payloads) else 0
        out += _payload(nxt, body)
    return (payloads[0][0] if payloads else 0), out


def hostile_message_3(rng: random.Random) -> list[tuple[str, int, int, bytes]]:
    """(what, flags, first payload, body) of Main Mode messages 3 that must
    not get far; the last one is a good one (the control)."""
    from isakmpd import _core

    good_ke = _core.DhKey(14, rng.randbytes(64), None).public
    nonce = rng.randbytes(16)
    cases = {
        "KE of 0 bytes": chain((KE, b""), (NONCE, nonce)),
        "KE = 0": chain((KE, bytes(256)), (NONCE, nonce)),
        "KE = 1": chain((KE, bytes(255) + b"\x01"), (NONCE, nonce)),
        "KE above the prime": chain((KE, b"\xff" * 256), (NONCE, nonce)),
        "KE of 255 bytes": chain((KE, good_ke[1:]), (NONCE, nonce)),
        "KE of 512 bytes": chain((KE, good_ke * 2), (NONCE, nonce)),
        "nonce of 0 bytes": chain((KE, good_ke), (NONCE, b"")),
        "nonce of 7 bytes": chain((KE, good_ke), (NONCE, nonce[:7])),
        "nonce of 300 bytes": chain((KE, good_ke), (NONCE, rng.randbytes(300))),
        "no KE": chain((NONCE, nonce)),
        "no nonce": chain((KE, good_ke)),
        "two KE payloads": chain((KE, good_ke), (KE, good_ke), (NONCE, nonce)),
        "two nonces": chain((KE, good_ke), (NONCE, nonce), (NONCE, nonce)),
        "reserved payload type 99": chain((KE, good_ke), (99, b"x"), (NONCE, nonce)),
        "no payloads": (0, b""),
    }
    out = [(what, 0, first, body) for what, (first, body) in cases.items()]
    out.append(("encrypted message 3", 1, KE, rng.randbytes(48)))
    # what is answered: extra payloads are ignored (an SA, a NAT-D the NAT
    # check cannot match, a private-use type), as isakmpd does
    for what, (first, body) in {
        "answered: an SA payload again": chain(
            (SA_, struct.pack("!II", 1, 1)), (KE, good_ke), (NONCE, nonce)
        ),
        "answered: NAT-D payloads of 0 bytes": chain(
            (KE, good_ke), (NONCE, nonce), (NATD, b""), (NATD, b"")
        ),
        "answered: one NAT-D of 3 bytes": chain(
            (KE, good_ke), (NONCE, nonce), (NATD, b"abc")
        ),
        "answered: private payload type 200": chain(
            (KE, good_ke), (200, b"x"), (NONCE, nonce)
        ),
        "answered: a good message 3": chain((KE, good_ke), (NONCE, nonce)),
    }.items():
        out.append((what, 0, first, body))
    return out


# what message 1 and an accepted message 3 log besides the outcome
_MM2 = re.compile(
    r"^\S+ Exch (?:40 .*: peer vendor ID|10 .*: chose .*; sending "
    r"message 2$|10 .*: NAT-D: )"
)
_ANSWERED = re.compile(r"^\S+ Exch \d+ ID_PROT responder .*: sending message 4$")
_FAILED = re.compile(r"^\S+ Default Main Mode with 192\.0\.2\.2 failed: ")


@pytest.mark.timeout(60)
def test_hostile_main_mode_message_3(
    netns_pair, charon_factory, isakmpd_factory, tmp_path
) -> None:
    """A peer that gets message 2 and answers with a bad message 3: each is
    dropped or ends its exchange, in one line; acceptable ones are answered."""
    w, e = netns_pair.west, netns_pair.east
    t = _tunnel(netns_pair, charon_factory, isakmpd_factory, tmp_path)
    ours = t.ours
    cases = hostile_message_3(random.Random(7))
    mark = ours.mark()
    payload = json.dumps(
        [
            e.addr,
            w.addr,
            t.mm1.hex(),
            [(f, first, body.hex()) for _, f, first, body in cases],
        ]
    )
    res = lab.run(e, sys.executable, "-c", HOSTILE, input=payload, timeout=60)
    ports = json.loads(res.stdout)
    logged(ours, mark, ports[-1])
    by_port = lines_by_port(ours.log()[mark:])
    wrong = []
    for (what, *_), port in zip(cases, ports, strict=True):
        lines = [x for x in by_port.pop(port, []) if not _MM2.match(x)]
        if what.startswith("answered: "):
            ok = len(lines) == 1 and _ANSWERED.match(lines[0])
        else:
            ok = len(lines) == 1 and (DROP.match(lines[0]) or _FAILED.match(lines[0]))
        if not ok:
            wrong.append(f"{what} (port {port}): {lines}")
    assert not wrong, "\n".join(wrong)
    assert not by_port, by_port
    assert_clean_log(ours)
    _still_usable(t)


# -- 5. a lost first message -----------------------------------------------------


def _nft(side: lab.Side, *args: str) -> str:
    return lab.run(side, "nft", *args).stdout


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_first_message_lost_then_retransmitted(
    netns_pair, charon_factory, isakmpd_factory, tmp_path
) -> None:
    """An nftables rule in our namespace drops our Main Mode message 1; the
    retransmission 5 s later gets through and the tunnel comes up."""
    lab.require_tool("nft")
    w, e = netns_pair.west, netns_pair.east
    suite = SUITES["aes128-modp2048"]
    charon = charon_factory(e)
    _, east_conn = lab.conn_pair(
        netns_pair, proposals=suite.ike, esp_proposals=suite.esp
    )
    charon.load(east_conn)
    _nft(w, "add", "table", "inet", "lab")
    _nft(
        w,
        "add",
        "chain",
        "inet",
        "lab",
        "out",
        "{ type filter hook output priority 0 ; }",
    )
    _nft(
        w, "add", "rule", "inet", "lab", "out", "udp", "dport", "500", "counter", "drop"
    )

    def dropped() -> int:
        m = re.search(
            r"counter packets (\d+)", _nft(w, "list", "chain", "inet", "lab", "out")
        )
        return int(m[1]) if m else 0

    start = time.monotonic()
    ours = isakmpd_factory(w, isakmpd_conf(), args=KEYS_DEBUG)
    lab.wait_until(dropped, 5, "our first message, dropped")
    _nft(w, "delete", "table", "inet", "lab")
    assert not charon.find_sa(ike_state=None, child_state=None)
    sa = charon.wait_for(ike="lab", child="net", timeout=15)
    took = time.monotonic() - start
    assert 4.5 <= took < 12, took
    log = ours.log()
    assert count_lines(log, r"ID_PROT initiator .*: retransmission 1$") == 1
    assert count_lines(log, r"retransmission 2") == 0
    assert count_lines(log, r"ID_PROT initiator .*: sending message 1 ") == 1
    # charon got messages 1 and 3 on port 500, once each: message 1 is the
    # retransmission (the rest of Main Mode floats to 4500)
    got = re.findall(r"received packet: from 192\.0\.2\.1\[500\].*", charon.log())
    assert len(got) == 2, got
    p1, _ = wait_report(ours)
    assert p1.icookie == sa["initiator-spi"] and p1.role == "Initiator"
    assert_clean_log(ours)
