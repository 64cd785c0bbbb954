#!/usr/bin/env python3
"""Re-create the golden packets of this folder from packet captures.

Usage: extract.py CAPTURE_DIR [OUT_DIR]

CAPTURE_DIR holds NAME.pcap files of real IKEv1 exchanges and, for the
encrypted ones, Wireshark key tables in keys/NAME/. For every ISAKMP
datagram this writes NAME-FRAME.bin (the ISAKMP message as sent, without the
non-ESP marker of port 4500) and, when tshark could decrypt it,
NAME-FRAME.dec (the decrypted body, padding included). Retransmissions of an
identical message are skipped. It also writes tshark-fields.txt: for each
message, the values tshark's own ISAKMP dissector gives for the FIELDS below
(every occurrence, in order, joined by ";"), which the codec tests compare
with what the codec parses. Needs tshark.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CAPTURES = [
    "mm-psk-aes",
    "mm-psk-3des",
    "am-psk",
    "mm-rsa",
    "ikescan-aggressive",
    "pluto-charon-mm-psk",
]

FIELDS = [
    "isakmp.ispi",
    "isakmp.rspi",
    "isakmp.exchangetype",
    "isakmp.flags",
    "isakmp.messageid",
    "isakmp.length",
    "isakmp.typepayload",
    "isakmp.payloadlength",
    "isakmp.sa.doi",
    "isakmp.sa.situation",
    "isakmp.prop.number",
    "isakmp.prop.protoid",
    "isakmp.prop.transforms",
    "isakmp.spisize",
    "isakmp.spi",
    "isakmp.trans.number",
    "isakmp.trans.id",
    "isakmp.ike.attr.type",
    "isakmp.ike.attr.value",
    "isakmp.ipsec.attr.type",
    "isakmp.ipsec.attr.value",
    "isakmp.key_exchange.data",
    "isakmp.nonce",
    "isakmp.hash",
    "isakmp.sig",
    "isakmp.id.type",
    "isakmp.id.protoid",
    "isakmp.id.port",
    "isakmp.cert.encoding",
    "isakmp.certreq.type",
    "isakmp.notify.doi",
    "isakmp.notify.protoid",
    "isakmp.notify.msgtype",
    "isakmp.delete.doi",
    "isakmp.delete.protoid",
    "isakmp.delete.spi",
    "isakmp.spinum",
    "isakmp.vid_bytes",
    "isakmp.ike.nat_hash",
]


def tshark(capture: Path, keys: Path | None, *args: str) -> str:
    """tshark's output for ``capture``, with the key tables of ``keys``."""
    env = dict(os.environ)
    if keys is not None and keys.is_dir():
        env["WIRESHARK_CONFIG_DIR"] = str(keys)
    out = subprocess.run(
        ["tshark", "-r", str(capture), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def decrypted_body(capture: Path, keys: Path, frame: str) -> bytes:
    """The decrypted IKE body of one frame, from tshark's hex dump, or b""."""
    text = tshark(capture, keys, "-Y", f"frame.number == {frame}", "-x")
    body = bytearray()
    inside = False
    for line in text.splitlines():
        if line.startswith("Decrypted IKE"):
            inside = True
        elif inside and re.match(r"^[0-9a-f]{4}  ", line):
            body.extend(bytes.fromhex(line[6:54].replace(" ", "")))
        elif inside:
            break
    return bytes(body)


def fields(capture: Path, keys: Path, frame: str) -> list[str]:
    """``field=value;value...`` lines of the FIELDS tshark shows for one frame."""
    args = ["-Y", f"frame.number == {frame}", "-T", "fields"]
    args += ["-E", "occurrence=a", "-E", "aggregator=;"]
    for name in FIELDS:
        args += ["-e", name]
    values = tshark(capture, keys, *args).rstrip("\n").split("\t")
    return [f"{n}={v}" for n, v in zip(FIELDS, values) if v]


def main() -> int:
    src = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).parent
    report: list[str] = []
    for name in CAPTURES:
        capture = src / f"{name}.pcap"
        keys = src / "keys" / name
        rows = tshark(
            capture, None, "-Y", "isakmp", "-T", "fields",
            "-e", "frame.number", "-e", "udp.dstport", "-e", "udp.payload",
        )
        seen: set[bytes] = set()
        for row in rows.splitlines():
            number, port, payload = row.split("\t")
            data = bytes.fromhex(payload)
            if port == "4500" and data[:4] == b"\0\0\0\0":
                data = data[4:]
            if data in seen:
                continue
            seen.add(data)
            (out / f"{name}-{number}.bin").write_bytes(data)
            report += [f"[{name}-{number}]", *fields(capture, keys, number), ""]
            encrypted = len(data) >= 28 and data[19] & 1
            body = decrypted_body(capture, keys, number) if encrypted else b""
            if body:
                (out / f"{name}-{number}.dec").write_bytes(body)
    (out / "tshark-fields.txt").write_text("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
