"""A small ISAKMP parser and builder in plain Python (struct), written only
as a baseline for the codec benchmarks: it decodes the payloads a Main Mode
and a Quick Mode carry into dicts and builds them back, without the checks
of the real codec.

A message is ``(header, payloads)``: ``header`` a dict of the 28-byte
header's fields, each payload a dict with its ``type`` and fields (SA:
``doi``, ``situation``, ``proposals`` of ``number``, ``protocol_id``, ``spi``,
``transforms`` of ``number``, ``transform_id``, ``attributes`` as a list of
``(type, value, tv)``; ID: ``id_type``, ``protocol``, ``port``, ``data``;
NOTIFY: ``doi``, ``protocol_id``, ``notify_type``, ``spi``, ``data``; others
``data``).
"""

from __future__ import annotations

import struct
from typing import Any

HEADER = struct.Struct("!8s8sBBBBII")
GENERIC = struct.Struct("!BBH")
SA_HEAD = struct.Struct("!II")
PROPOSAL = struct.Struct("!BBHBBBB")
TRANSFORM = struct.Struct("!BBHBBH")
ATTR = struct.Struct("!HH")
ID_HEAD = struct.Struct("!BBH")
NOTIFY_HEAD = struct.Struct("!IBBH")

SA, KE, ID, HASH, SIG, NONCE, NOTIFY, VID = 1, 4, 5, 8, 9, 10, 11, 13

Payload = dict[str, Any]


def _attributes(data: bytes) -> list[tuple[int, int | bytes, bool]]:
    out: list[tuple[int, int | bytes, bool]] = []
    pos, end = 0, len(data)
    while pos + 4 <= end:
        t, v = ATTR.unpack_from(data, pos)
        pos += 4
        if t & 0x8000:
            out.append((t & 0x7FFF, v, True))
        else:
            out.append((t, data[pos:pos + v], False))
            pos += v
    return out


def _transforms(data: bytes) -> list[Payload]:
    out = []
    pos = 0
    while pos + 8 <= len(data):
        nxt, _, length, number, tid, _ = TRANSFORM.unpack_from(data, pos)
        out.append({"number": number, "transform_id": tid,
                    "attributes": _attributes(data[pos + 8:pos + length])})
        pos += length
        if nxt == 0:
            break
    return out


def _sa(body: bytes) -> Payload:
    doi, situation = SA_HEAD.unpack_from(body, 0)
    proposals = []
    pos = 8
    while pos + 8 <= len(body):
        nxt, _, length, number, proto, spi_size, _ = PROPOSAL.unpack_from(body, pos)
        spi = body[pos + 8:pos + 8 + spi_size]
        proposals.append({"number": number, "protocol_id": proto, "spi": spi,
                          "transforms": _transforms(
                              body[pos + 8 + spi_size:pos + length])})
        pos += length
        if nxt == 0:
            break
    return {"type": SA, "doi": doi, "situation": situation, "proposals": proposals}


def parse_payloads(first: int, data: bytes, offset: int = 0) -> list[Payload]:
    out: list[Payload] = []
    kind, pos = first, offset
    while kind:
        nxt, _, length = GENERIC.unpack_from(data, pos)
        body = data[pos + 4:pos + length]
        if kind == SA:
            p = _sa(body)
        elif kind == ID:
            id_type, proto, port = ID_HEAD.unpack_from(body, 0)
            p = {"type": ID, "id_type": id_type, "protocol": proto, "port": port,
                 "data": body[4:]}
        elif kind == NOTIFY:
            doi, proto, spi_size, ntype = NOTIFY_HEAD.unpack_from(body, 0)
            p = {"type": NOTIFY, "doi": doi, "protocol_id": proto,
                 "notify_type": ntype, "spi": body[8:8 + spi_size],
                 "data": body[8 + spi_size:]}
        else:
            p = {"type": kind, "data": body}
        out.append(p)
        kind, pos = nxt, pos + length
    return out


def parse_message(data: bytes) -> tuple[dict[str, Any], list[Payload]]:
    ic, rc, nxt, ver, xtype, flags, mid, length = HEADER.unpack_from(data, 0)
    header = {"icookie": ic, "rcookie": rc, "next_payload": nxt, "version": ver,
              "exchange_type": xtype, "flags": flags, "message_id": mid,
              "length": length}
    return header, parse_payloads(nxt, data, 28)


def _attr_bytes(attrs: list[tuple[int, int | bytes, bool]]) -> bytes:
    parts = []
    for t, v, tv in attrs:
        if tv:
            parts.append(ATTR.pack(t | 0x8000, v))  # type: ignore[arg-type]
        else:
            assert isinstance(v, bytes)
            parts.append(ATTR.pack(t, len(v)) + v)
    return b"".join(parts)


def _sa_body(p: Payload) -> bytes:
    props = p["proposals"]
    parts = [SA_HEAD.pack(p["doi"], p["situation"])]
    for i, prop in enumerate(props):
        trs = []
        for j, tr in enumerate(prop["transforms"]):
            attrs = _attr_bytes(tr["attributes"])
            nxt = 3 if j + 1 < len(prop["transforms"]) else 0
            trs.append(TRANSFORM.pack(nxt, 0, 8 + len(attrs), tr["number"],
                                      tr["transform_id"], 0) + attrs)
        body = prop["spi"] + b"".join(trs)
        nxt = 2 if i + 1 < len(props) else 0
        parts.append(PROPOSAL.pack(nxt, 0, 8 + len(body), prop["number"],
                                   prop["protocol_id"], len(prop["spi"]),
                                   len(prop["transforms"])) + body)
    return b"".join(parts)


def _body(p: Payload) -> bytes:
    kind = p["type"]
    if kind == SA:
        return _sa_body(p)
    if kind == ID:
        return ID_HEAD.pack(p["id_type"], p["protocol"], p["port"]) + p["data"]
    if kind == NOTIFY:
        return NOTIFY_HEAD.pack(p["doi"], p["protocol_id"], len(p["spi"]),
                                p["notify_type"]) + p["spi"] + p["data"]
    return p["data"]


def build_payloads(payloads: list[Payload]) -> bytes:
    parts = []
    for i, p in enumerate(payloads):
        body = _body(p)
        nxt = payloads[i + 1]["type"] if i + 1 < len(payloads) else 0
        parts.append(GENERIC.pack(nxt, 0, 4 + len(body)) + body)
    return b"".join(parts)


def build_message(header: dict[str, Any], payloads: list[Payload]) -> bytes:
    body = build_payloads(payloads)
    first = payloads[0]["type"] if payloads else 0
    return HEADER.pack(header["icookie"], header["rcookie"], first,
                       header["version"], header["exchange_type"], header["flags"],
                       header["message_id"], 28 + len(body)) + body
