"""Packet capture (-L, -l, FIFO p): the file format, and the messages in it.

The file is checked by tshark (Wireshark 4.0), not by our own reader: every
frame must dissect as ISAKMP with correct IP and UDP checksums, the address
family must be BSD's (2, 24) so that Wireshark knows it, and encrypted
messages must be there in clear (the Quick Mode IDs readable without keys).
The engine side is checked against itself: what one engine captured before
encrypting is what its peer captured after decrypting.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import lab
import pytest
from enginepair import gateway_pair
from isakmpd import _core
from isakmpd.constants import ExchangeType, Flags
from isakmpd.exchange.base import Sealed, plaintext, seal
from isakmpd.pcap import (
    DLT_LOOP,
    MAGIC,
    SNAPLEN,
    CaptureError,
    PacketLog,
    checksum,
    frame,
)
from lab import tshark

CHECKSUMS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]


def require_tshark() -> None:
    lab.require_tool("tshark")


# ----------------------------------------------------------------- the engine


def _captured_pair(**kw: object):
    """West and east engines with capture hooks, after MM + QM."""
    net, w, e = gateway_pair(start=False, **kw)
    caps: dict[str, list[tuple[bytes, tuple, tuple, bool]]] = {"west": [], "east": []}
    def hook(name: str):
        return lambda m, lo, re, sent: caps[name].append((m, lo, re, sent))

    for node in (w, e):
        node.engine.capture = hook(node.name)
    net.start()
    net.run()
    return net, w, e, caps


def test_engine_captures_every_message_in_clear() -> None:
    net, w, e, caps = _captured_pair()
    assert len(w.installed()) == len(e.installed()) == 1
    for name, node in (("west", w), ("east", e)):
        msgs = caps[name]
        assert len(msgs) == 9, [len(m[0]) for m in msgs]
        types = [_core.parse_header(m[0]).exchange_type for m in msgs]
        assert types == [ExchangeType.ID_PROT] * 6 + [ExchangeType.QUICK_MODE] * 3
        for m, local, remote, sent in msgs:
            hdr = _core.parse_header(m)  # length matches, flags valid
            assert not hdr.flags & Flags.ENC
            payloads = _core.parse_payloads(hdr.next_payload, m[28:])
            assert sum(len(p.raw) for p in payloads) == len(m) - 28  # no padding
            assert local[0] == node.address and remote[0] != node.address
        west_sent = [True, False] * 4 + [True]
        assert [m[3] for m in msgs] == (
            west_sent if name == "west" else [not s for s in west_sent])
    # west's messages before encryption are east's after decryption
    sent_w = [m[0] for m in caps["west"] if m[3]]
    got_e = [m[0] for m in caps["east"] if not m[3]]
    assert sent_w == got_e
    sent_e = [m[0] for m in caps["east"] if m[3]]
    got_w = [m[0] for m in caps["west"] if not m[3]]
    assert sent_e == got_w
    # the wire had them encrypted from Main Mode message 5 on
    wire = [p.data for p in net.sent]
    assert [p.encrypted for p in net.sent] == [False] * 4 + [True] * 5
    assert wire[:4] == [m[0] for m in caps["west"][:4]]
    for raw, clear in zip(wire[4:], [m[0] for m in caps["west"][4:]], strict=True):
        assert raw[:16] == clear[:16] and raw != clear
        assert len(clear) < len(raw)  # padding gone


def test_engine_captures_retransmissions_and_duplicates() -> None:
    net, _, e = gateway_pair(start=False)
    got: list[tuple[bytes, bool]] = []
    e.engine.capture = lambda m, lo, re, sent: got.append((m, sent))
    # QM message 1 arrives twice: east answers the copy with its message 2
    net.duplicate(lambda p: p.exchange_type == ExchangeType.QUICK_MODE
                  and p.sender == "west", times=1)
    net.start()
    net.run()
    qm = [(m, sent) for m, sent in got
          if _core.parse_header(m).exchange_type == ExchangeType.QUICK_MODE]
    qm_in = [m for m, sent in qm if not sent]
    qm_out = [m for m, sent in qm if sent]
    # QM1 twice; QM2 sent again for the copy; west, seeing QM2 twice,
    # sends its QM3 again
    assert len(qm_in) == 4 and len(qm_out) == 2
    assert qm_in[0] == qm_in[1] and qm_in[2] == qm_in[3] and qm_in[1] != qm_in[2]
    assert qm_out[0] == qm_out[1]
    for m in qm_in + qm_out:  # all in clear, the repeats as well
        assert not _core.parse_header(m).flags & Flags.ENC


def test_plaintext_of_messages() -> None:
    hdr = _core.Header(b"\x11" * 8, b"\x22" * 8, exchange_type=ExchangeType.INFO,
                       message_id=7)
    n = _core.Notify(1, 1, 24576, b"", b"abc")
    clear = _core.encode_message(hdr, [n])
    assert plaintext(clear) == clear and type(plaintext(clear)) is bytes
    body = clear[28:]
    wire = bytearray(clear[:28]) + bytes(48)  # "ciphertext" with padding
    wire[19] |= Flags.ENC
    wire[24:28] = len(wire).to_bytes(4, "big")
    sealed = seal(bytes(wire), body + bytes(48 - len(body)))
    assert isinstance(sealed, Sealed) and sealed == bytes(wire)
    assert plaintext(sealed) == clear
    # a broken payload chain keeps the whole plaintext
    broken = seal(bytes(wire), b"\x00\x00\xff\xff" + bytes(44))
    out = plaintext(broken)
    assert len(out) == 28 + 48 and not out[19] & Flags.ENC


# ----------------------------------------------------------------- the file


def _ike_message() -> bytes:
    hdr = _core.Header(bytes(range(1, 9)), exchange_type=ExchangeType.ID_PROT)
    sa = _core.SA(1, b"\0\0\0\1", [_core.Proposal(1, 1, b"", [
        _core.Transform(1, 1, [_core.Attribute(1, 7), _core.Attribute(14, 128)])])])
    return _core.encode_message(hdr, [sa])


def test_file_header_and_append(tmp_path: Path) -> None:
    path = tmp_path / "cap.pcap"
    log = PacketLog(str(path))
    msg = _ike_message()
    log.write(msg, ("192.0.2.1", 500), ("192.0.2.2", 500), when=1_700_000_000.25)
    log.write(msg, ("192.0.2.2", 500), ("192.0.2.1", 500))
    log.close()
    assert os.stat(path).st_mode & 0o777 == 0o600
    data = path.read_bytes()
    magic, major, minor, _, _, snaplen, link = struct.unpack("=IHHiIII", data[:24])
    assert (magic, major, minor, snaplen, link) == (MAGIC, 2, 4, SNAPLEN, DLT_LOOP)
    assert data[:4] == struct.pack("=I", 0xA1B2C3D4)
    sec, usec, caplen, length = struct.unpack("=IIII", data[24:40])
    assert (sec, usec) == (1_700_000_000, 250_000)
    assert caplen == length == 4 + 20 + 8 + len(msg)
    size = len(data)
    # appended to, without a second file header
    again = PacketLog(str(path))
    again.write(msg, ("192.0.2.1", 500), ("192.0.2.2", 500))
    again.close()
    assert len(path.read_bytes()) == size + 16 + caplen
    assert path.read_bytes()[:size] == data


def test_foreign_files_are_left_alone(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n" * 3)
    with pytest.raises(CaptureError, match="not a packet capture"):
        PacketLog(str(text))
    assert text.read_text() == "not a capture\n" * 3
    link = tmp_path / "link.pcap"
    link.symlink_to(tmp_path / "target.pcap")
    with pytest.raises(CaptureError, match="cannot open"):
        PacketLog(str(link))
    assert not (tmp_path / "target.pcap").exists()
    with pytest.raises(CaptureError, match="cannot open"):
        PacketLog(str(tmp_path / "no-such-dir" / "x.pcap"))


def test_frame_headers() -> None:
    msg = _ike_message()
    f = frame(msg, ("192.0.2.1", 500), ("192.0.2.2", 500), 0x1234)
    assert f[:4] == b"\0\0\0\2"
    ip = f[4:24]
    assert ip[0] == 0x45 and ip[9] == 17 and ip[4:6] == b"\x12\x34"
    assert checksum(ip) == 0  # the header checksum is right
    assert struct.unpack("!H", ip[2:4])[0] == 20 + 8 + len(msg)
    assert f[32:] == msg
    natt = frame(msg, ("192.0.2.1", 4500), ("192.0.2.2", 4500), 1)
    assert natt[32:36] == b"\0\0\0\0" and natt[36:] == msg
    assert frame(msg, ("192.0.2.1", 500), ("192.0.2.2", 4500), 1)[32:36] == bytes(4)
    v6 = frame(msg, ("2001:db8::1", 500), ("2001:db8::2", 500), 1)
    assert v6[:4] == b"\0\0\0\x18" and v6[4] >> 4 == 6 and v6[4 + 6] == 17
    mixed = frame(msg, ("2001:db8::1", 500), ("192.0.2.2", 500), 1)
    assert mixed[4 + 12:4 + 20] == bytes([2, 2, 2, 2, 1, 1, 1, 1])


def test_tshark_reads_frames_of_every_kind(tmp_path: Path) -> None:
    """IPv4, IPv6, NAT-T and unknown addresses: ISAKMP, checksums good."""
    require_tshark()
    path = tmp_path / "kinds.pcap"
    log = PacketLog(str(path))
    msg = _ike_message()
    ends = [(("192.0.2.1", 500), ("192.0.2.2", 500)),
            (("192.0.2.2", 4500), ("192.0.2.1", 4500)),
            (("2001:db8::1", 500), ("2001:db8::2", 500)),
            (("2001:db8::2", 4500), ("2001:db8::1", 4500)),
            (("somewhere", 500), ("elsewhere", 500))]
    odd = msg + b"\0"  # an odd length for the checksums
    for src, dst in ends:
        log.write(msg, src, dst)
        log.write(odd[:-1], src, dst)
    log.close()
    names = ["null.family", "ip.src", "ipv6.src", "ip.checksum.status",
             "udp.checksum.status", "isakmp.ispi", "udp.srcport"]
    rows = tshark.fields(path, names, decrypt=CHECKSUMS)
    assert len(rows) == 10
    assert [r["null.family"] for r in rows] == [["2"]] * 4 + [["24"]] * 4 + [["2"]] * 2
    assert [(r["ip.src"] or r["ipv6.src"])[0] for r in rows[::2]] == [
        "192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2", "2.2.2.2"]
    for r in rows:
        assert r["isakmp.ispi"] == ["0102030405060708"], r
        assert r["udp.checksum.status"] == ["1"], r  # 1: good
        if r["ip.src"]:
            assert r["ip.checksum.status"] == ["1"], r
    assert tshark.assert_valid_isakmp(path) == 10


def test_odd_lengths_checksum(tmp_path: Path) -> None:
    require_tshark()
    path = tmp_path / "odd.pcap"
    log = PacketLog(str(path))
    hdr = _core.Header(b"\x01" * 8, exchange_type=ExchangeType.INFO)
    for n in range(3):  # notification data of 0, 1 and 2 bytes
        log.write(_core.encode_message(hdr, [_core.Notify(1, 1, 24578, b"", b"x" * n)]),
                  ("192.0.2.1", 4500), ("192.0.2.2", 4500))
        log.write(_core.encode_message(hdr, [_core.Notify(1, 1, 24578, b"", b"x" * n)]),
                  ("2001:db8::1", 500), ("2001:db8::2", 500))
    log.close()
    rows = tshark.fields(path, ["udp.checksum.status", "isakmp.length"],
                         decrypt=CHECKSUMS)
    assert [r["udp.checksum.status"] for r in rows] == [["1"]] * 6
    assert tshark.assert_valid_isakmp(path) == 6


def test_options_name_absolute_paths(monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: Path) -> None:
    """-l and --keylog are made absolute: without -d the daemon changes to /."""
    from isakmpd import cli

    monkeypatch.chdir(tmp_path)
    o = cli.parse_args(["-l", "cap.pcap", "--keylog", "keys"])
    assert o.pcap == str(tmp_path / "cap.pcap")
    assert o.keylog == str(tmp_path / "keys")
    assert cli.parse_args(["-L"]).pcap == "/var/run/isakmpd.pcap"
    assert cli.parse_args([]).pcap is None and cli.parse_args([]).keylog is None
