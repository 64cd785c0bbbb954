"""Dissecting captures with tshark (Wireshark 4.0).

Every function takes ``decrypt``: tshark ``-o`` arguments, e.g. from
:func:`lab.charon_keys.wireshark_tables`. tshark runs with an empty
``WIRESHARK_CONFIG_DIR`` of its own, so the host's Wireshark settings and
key tables never leak into a result.

Field names worth knowing (tshark 4.0): ``isakmp.exchangetype``,
``isakmp.ispi``/``rspi`` (hex), ``isakmp.messageid``, ``isakmp.typepayload``,
``isakmp.notify.msgtype``, ``isakmp.id.type``; for an ID_IPV4_ADDR_SUBNET the
address shows as ``isakmp.id.data.ipv4_addr`` and the mask as
``isakmp.id.data.ipv4_subnet``; ``esp.spi``, ``esp.icv_good``.
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from isakmpd.constants import ExchangeType

from .util import LabError

# exchange types by the name tests use
MAIN = ExchangeType.ID_PROT
AGGRESSIVE = ExchangeType.AGGRESSIVE
INFO = ExchangeType.INFO
QUICK = ExchangeType.QUICK_MODE

_config_dir: str | None = None


def _env() -> dict[str, str]:
    global _config_dir
    if _config_dir is None:
        _config_dir = tempfile.mkdtemp(prefix="lab-wireshark-")
        atexit.register(shutil.rmtree, _config_dir, True)
    return {**os.environ, "WIRESHARK_CONFIG_DIR": _config_dir}


def tshark(
    pcap: Path | str, *args: str, decrypt: Sequence[str] = (), timeout: float = 60
) -> str:
    """Run ``tshark -r pcap [decrypt] args`` and return its stdout."""
    argv = ["tshark", "-n", "-r", str(pcap), *decrypt, *args]
    try:
        res = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=_env()
        )
    except subprocess.TimeoutExpired as e:
        raise LabError(f"tshark on {pcap}: timed out") from e
    if res.returncode != 0:
        raise LabError(f"{' '.join(argv)}: exit {res.returncode}: {res.stderr}")
    return res.stdout


def fields(
    pcap: Path | str,
    names: Sequence[str],
    display_filter: str | None = None,
    decrypt: Sequence[str] = (),
) -> list[dict[str, list[str]]]:
    """One dict per packet: field name -> every occurrence (``[]`` if absent).

    With ESP decrypted, ``ip.src`` has two occurrences: outer, then inner.
    """
    args = ["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=\x1f"]
    args += ["-E", "separator=\x1e"]
    for n in ["frame.number", *names]:
        args += ["-e", n]
    if display_filter:
        args += ["-Y", display_filter]
    rows = []
    # not splitlines(): it would also split at the \x1e separators
    for line in tshark(pcap, *args, decrypt=decrypt).split("\n"):
        if not line:
            continue
        cols = line.split("\x1e")
        row = {"frame.number": [cols[0]]}
        for n, v in zip(names, cols[1:], strict=False):
            row[n] = v.split("\x1f") if v else []
        for n in names[len(cols) - 1 :]:
            row[n] = []
        rows.append(row)
    return rows


def packets_json(
    pcap: Path | str, display_filter: str | None = None, decrypt: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """``tshark -T json``: each packet's ``_source.layers`` dict."""
    args = ["-T", "json"]
    if display_filter:
        args += ["-Y", display_filter]
    out = tshark(pcap, *args, decrypt=decrypt)
    return [p["_source"]["layers"] for p in json.loads(out or "[]")]


def isakmp_exchanges(pcap: Path | str, decrypt: Sequence[str] = ()) -> Counter[int]:
    """Number of ISAKMP messages per exchange type (keys compare equal to
    :class:`isakmpd.constants.ExchangeType`, e.g. ``MAIN``, ``QUICK``)."""
    counts: Counter[int] = Counter()
    for row in fields(pcap, ["isakmp.exchangetype"], "isakmp", decrypt):
        for v in row["isakmp.exchangetype"]:
            t = int(v, 0)
            try:
                counts[ExchangeType(t)] += 1
            except ValueError:
                counts[t] += 1
    return counts


def esp_packets(pcap: Path | str) -> list[dict[str, Any]]:
    """ESP packets: ``spi`` (int), ``src``, ``dst``, ``sport``/``dport``
    (ints, ``None`` for raw ESP, 4500 when UDP-encapsulated)."""
    out = []
    names = ["esp.spi", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst"]
    names += ["udp.srcport", "udp.dstport"]
    for r in fields(pcap, names, "esp"):
        sp, dp = r["udp.srcport"], r["udp.dstport"]
        out.append(
            {
                "frame": int(r["frame.number"][0]),
                "spi": int(r["esp.spi"][0], 0),
                "src": (r["ip.src"] or r["ipv6.src"])[0],
                "dst": (r["ip.dst"] or r["ipv6.dst"])[0],
                "sport": int(sp[0]) if sp else None,
                "dport": int(dp[0]) if dp else None,
            }
        )
    return out


def decrypted_icmp(pcap: Path | str, decrypt: Sequence[str]) -> list[dict[str, Any]]:
    """ICMP found inside ESP: ``spi``, inner ``src``/``dst``, ``type``
    (8 echo request, 0 reply), ``icv_good`` (None unless checked)."""
    out = []
    names = ["esp.spi", "ip.src", "ip.dst", "icmp.type", "esp.icv_good"]
    for r in fields(pcap, names, "esp && icmp", decrypt):
        icv = r["esp.icv_good"]
        out.append(
            {
                "frame": int(r["frame.number"][0]),
                "spi": int(r["esp.spi"][0], 0),
                "src": r["ip.src"][-1],
                "dst": r["ip.dst"][-1],
                "type": int(r["icmp.type"][-1]),
                "icv_good": (icv[0] in ("1", "True")) if icv else None,
            }
        )
    return out


def retransmissions(pcap: Path | str) -> set[int]:
    """Frames whose UDP payload repeats an earlier frame's byte for byte.

    Wireshark chains IKEv1 IVs along the frames of an exchange, so it
    decrypts a retransmitted (identical) message with the wrong IV and calls
    it malformed: such frames say nothing about the message itself.
    """
    seen: set[str] = set()
    again = set()
    for r in fields(pcap, ["udp.payload"], "udp"):
        payload = r["udp.payload"][0] if r["udp.payload"] else ""
        if payload in seen:
            again.add(int(r["frame.number"][0]))
        seen.add(payload)
    return again


def malformed(
    pcap: Path | str, decrypt: Sequence[str] = (), retransmits: bool = False
) -> list[dict[str, Any]]:
    """Packets tshark calls malformed or flags with an expert error:
    ``frame`` and the expert ``messages``. Retransmitted copies of earlier
    messages are left out unless ``retransmits`` (see :func:`retransmissions`).
    """
    names = ["_ws.expert.message", "_ws.malformed"]
    flt = "_ws.malformed || _ws.expert.severity == error"
    rows = fields(pcap, names, flt, decrypt)
    skip = set() if retransmits or not rows else retransmissions(pcap)
    return [
        {"frame": int(r["frame.number"][0]), "messages": r["_ws.expert.message"]}
        for r in rows
        if int(r["frame.number"][0]) not in skip
    ]


def assert_valid_isakmp(pcap: Path | str, decrypt: Sequence[str] = ()) -> int:
    """Check that every UDP 500/4500 packet that is not ESP dissects as
    ISAKMP without errors (NAT-T keepalives and, for errors, retransmitted
    copies excepted). Returns the number of
    ISAKMP packets; raises ``AssertionError`` naming the bad frames."""
    rows = fields(
        pcap,
        ["isakmp.length", "udp.length"],
        "(udp.port == 500 || udp.port == 4500) && !esp",
        decrypt,
    )
    keepalive = [r for r in rows if r["udp.length"] == ["9"] and not r["isakmp.length"]]
    missing = [
        r["frame.number"][0]
        for r in rows
        if not r["isakmp.length"] and r not in keepalive
    ]
    bad = malformed(pcap, decrypt)
    assert not missing, f"{pcap}: frames without ISAKMP: {missing}"
    assert not bad, f"{pcap}: malformed or erroneous frames: {bad}"
    return len(rows) - len(keepalive)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_packet(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """An IPv4 or IPv6 packet carrying ``payload`` in UDP, checksums set."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    ulen = 8 + len(payload)
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, 17, ulen)
    else:
        pseudo = s.packed + d.packed + struct.pack("!IxxxB", ulen, 17)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    csum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    if s.version == 4:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0, 64, 17, 0,
                          s.packed, d.packed)  # fmt: skip
        hdr = hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:]
        return hdr + udp
    return struct.pack("!IHBB", 0x60000000, ulen, 17, 64) + s.packed + d.packed + udp


def write_udp_pcap(
    path: Path | str, packets: Sequence[tuple[str, str, int, int, bytes]]
) -> Path:
    """Write (src, dst, sport, dport, payload) UDP datagrams as a pcap with
    link type RAW (101), e.g. to let tshark judge messages our code built.
    For port 4500 put the 4-byte non-ESP marker in ``payload`` yourself."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    for i, (src, dst, sport, dport, payload) in enumerate(packets):
        pkt = udp_packet(src, dst, sport, dport, payload)
        out += struct.pack("<IIII", 1_700_000_000 + i, 0, len(pkt), len(pkt)) + pkt
    p = Path(path)
    p.write_bytes(bytes(out))
    return p
