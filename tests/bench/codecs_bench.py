"""The three ISAKMP codecs the benchmarks compare, with one face each:
``parse(data)`` and ``build(desc)``, where ``desc`` is the neutral
description :mod:`isakmp_struct` parses a message into (so that every codec
builds the same message from the same plain Python values, as a daemon
builds its messages from its state).

The messages are real ones (tests/data/codec): Main Mode message 1 (SA with
one transform and five vendor IDs), Main Mode message 3 (KE, nonce, two
NAT-D) and Quick Mode message 1 in clear (HASH, SA for ESP with PFS, nonce,
KE, two IDs), the last made an unencrypted message of its decrypted body so
that all three codecs read the same bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Callable

import isakmp_struct as st

from isakmpd import _core

DATA = Path(__file__).resolve().parent.parent / "data" / "codec"


def _clear_phase2(name: str, frame: int) -> bytes:
    """Header of an encrypted message, flags cleared, and its decrypted body
    without the padding."""
    enc = (DATA / f"{name}-{frame}.bin").read_bytes()
    dec = (DATA / f"{name}-{frame}.dec").read_bytes()
    first = enc[16]
    end = 0
    kind = first
    while kind:
        kind, _, length = st.GENERIC.unpack_from(dec, end)
        end += length
    body = dec[:end]
    hdr = bytearray(enc[:28])
    hdr[19] = 0  # flags: not encrypted
    struct.pack_into("!I", hdr, 24, 28 + len(body))
    return bytes(hdr) + body


def messages() -> dict[str, bytes]:
    return {
        "MM1 (SA, 5 VID)": (DATA / "mm-psk-aes-1.bin").read_bytes(),
        "MM3 (KE, nonce, NAT-D)": (DATA / "mm-psk-aes-3.bin").read_bytes(),
        "QM1 (HASH, SA, nonce, KE, 2 ID)": _clear_phase2("mm-psk-aes", 7),
    }


# ---------------------------------------------------------------- ours

def ours_parse(data: bytes) -> Any:
    return _core.parse_message(data)


def _ours_payload(p: st.Payload) -> Any:
    kind = p["type"]
    if kind == st.SA:
        return _core.SA(p["doi"], struct.pack("!I", p["situation"]), [
            _core.Proposal(pr["number"], pr["protocol_id"], pr["spi"], [
                _core.Transform(tr["number"], tr["transform_id"], [
                    _core.Attribute(t, v) for t, v, _ in tr["attributes"]])
                for tr in pr["transforms"]])
            for pr in p["proposals"]])
    if kind == st.ID:
        return _core.ID(p["id_type"], p["data"], p["protocol"], p["port"])
    if kind == st.KE:
        return _core.KE(p["data"])
    if kind == st.NONCE:
        return _core.Nonce(p["data"])
    if kind == st.HASH:
        return _core.Hash(p["data"])
    if kind == st.VID:
        return _core.VendorID(p["data"])
    if kind in (20, 130):
        return _core.NatD(p["data"], kind)
    if kind == st.NOTIFY:
        return _core.Notify(p["doi"], p["protocol_id"], p["notify_type"], p["spi"],
                            p["data"])
    return _core.Unknown(kind, p["data"])


def ours_build(desc: tuple[dict[str, Any], list[st.Payload]]) -> bytes:
    h, payloads = desc
    hdr = _core.Header(h["icookie"], h["rcookie"], 0, h["exchange_type"], h["flags"],
                       h["message_id"])
    return _core.encode_message(hdr, [_ours_payload(p) for p in payloads])


# ---------------------------------------------------------------- struct

def struct_parse(data: bytes) -> Any:
    return st.parse_message(data)


def struct_build(desc: tuple[dict[str, Any], list[st.Payload]]) -> bytes:
    return st.build_message(*desc)


# ---------------------------------------------------------------- scapy

def scapy_codec() -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]] | None:
    """scapy's parse and build, or None without scapy (the ``bench`` extra)."""
    try:
        from scapy.layers import isakmp as sc
    except ImportError:
        return None

    def parse(data: bytes) -> Any:
        return sc.ISAKMP(data)

    def one(p: st.Payload, nxt: int) -> Any:
        kind = p["type"]
        if kind == st.SA:
            props = None
            for i, pr in enumerate(reversed(p["proposals"])):
                trs = None
                for j, tr in enumerate(reversed(pr["transforms"])):
                    t = sc.ISAKMP_payload_Transform(
                        next_payload=3 if j else 0, transform_count=tr["number"],
                        transform_id=tr["transform_id"],
                        transforms=[(t, v if tv else int.from_bytes(v, "big"))
                                    for t, v, tv in tr["attributes"]])
                    trs = t if trs is None else t / trs
                prop = sc.ISAKMP_payload_Proposal(
                    next_payload=2 if i else 0, proposal=pr["number"],
                    proto=pr["protocol_id"], SPI=pr["spi"],
                    trans_nb=len(pr["transforms"]), trans=trs)
                props = prop if props is None else prop / props
            return sc.ISAKMP_payload_SA(next_payload=nxt, doi=p["doi"],
                                        situation=p["situation"], prop=props)
        if kind == st.KE:
            return sc.ISAKMP_payload_KE(next_payload=nxt, ke=p["data"])
        if kind == st.NONCE:
            return sc.ISAKMP_payload_Nonce(next_payload=nxt, nonce=p["data"])
        if kind == st.HASH:
            return sc.ISAKMP_payload_Hash(next_payload=nxt, hash=p["data"])
        if kind == st.VID:
            return sc.ISAKMP_payload_VendorID(next_payload=nxt, VendorID=p["data"])
        if kind == st.ID:
            return sc.ISAKMP_payload_ID(next_payload=nxt, IDtype=p["id_type"],
                                        ProtoID=p["protocol"], Port=p["port"],
                                        IdentData=(".".join(map(str, p["data"]))
                                                   if p["id_type"] == 1
                                                   else p["data"]))
        if kind == st.NOTIFY:
            return sc.ISAKMP_payload_Notify(next_payload=nxt, doi=p["doi"],
                                            proto=p["protocol_id"],
                                            type=p["notify_type"], SPI=p["spi"],
                                            load=p["data"])
        return sc.ISAKMP_payload(next_payload=nxt, load=p["data"])

    def build(desc: tuple[dict[str, Any], list[st.Payload]]) -> bytes:
        h, payloads = desc
        pkt = sc.ISAKMP(init_cookie=h["icookie"], resp_cookie=h["rcookie"],
                        next_payload=payloads[0]["type"] if payloads else 0,
                        exch_type=h["exchange_type"], flags=h["flags"],
                        id=h["message_id"])
        for i, p in enumerate(payloads):
            nxt = payloads[i + 1]["type"] if i + 1 < len(payloads) else 0
            pkt = pkt / one(p, nxt)
        return bytes(pkt)

    return parse, build


def quick_mode_body() -> bytes:
    """The payload chain of Quick Mode message 1 (what gets encrypted)."""
    return messages()["QM1 (HASH, SA, nonce, KE, 2 ID)"][28:]
