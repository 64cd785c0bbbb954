"""The ISAKMP codec of isakmpd._core: real messages from strongSwan, libreswan and
ike-scan captures (tests/data/codec, see extract.py there) compared field by field
with tshark's dissector, round trips, building from Python, and every error path."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from isakmpd import _core as c
from isakmpd.errors import MessageError

DATA = Path(__file__).parent / "data" / "codec"

PAYLOAD_MALFORMED = 16
UNEQUAL_PAYLOAD_LENGTHS = 30
BAD_PROPOSAL_SYNTAX = 15
INVALID_PAYLOAD_TYPE = 1
ATTRIBUTES_NOT_SUPPORTED = 13

GOLDEN = sorted(p.stem for p in DATA.glob("*.bin"))


def load(name: str) -> tuple[bytes, bytes | None]:
    """The message as sent and, if its keys were known, its decrypted body."""
    dec = DATA / f"{name}.dec"
    decrypted = dec.read_bytes() if dec.exists() else None
    return (DATA / f"{name}.bin").read_bytes(), decrypted


def parse_golden(name: str) -> tuple[c.Header, list[Any]]:
    data, decrypted = load(name)
    if not data[19] & 1:
        return c.parse_message(data)
    header = c.parse_header(data)
    if decrypted is None:
        return header, []
    return header, c.parse_payloads(header.next_payload, decrypted, allow_trailing=True)


def tshark_fields() -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (DATA / "tshark-fields.txt").read_text().splitlines():
        if line.startswith("["):
            current = out.setdefault(line.strip("[]"), {})
        elif "=" in line:
            key, values = line.split("=", 1)
            current[key] = values.split(";")
    return out


def flatten(header: c.Header, payloads: list[Any]) -> dict[str, list[str]]:
    """The fields tshark shows for a message, in its order, from our parse."""
    f: dict[str, list[str]] = {}

    def add(key: str, value: object) -> None:
        f.setdefault(f"isakmp.{key}", []).append(str(value))

    add("ispi", header.icookie.hex())
    add("rspi", header.rcookie.hex())
    add("exchangetype", header.exchange_type)
    add("flags", f"0x{header.flags:02x}")
    add("messageid", f"0x{header.message_id:08x}")
    add("length", header.length)
    for p in payloads:
        add("typepayload", p.payload_type)
        add("payloadlength", len(p.raw))
        if isinstance(p, c.SA):
            add("sa.doi", p.doi)
            add("sa.situation", p.situation.hex())
            for prop in p.proposals:
                add("typepayload", 2)
                tlens = [
                    8 + sum(attr_len(a) for a in t.attributes) for t in prop.transforms
                ]
                add("payloadlength", 8 + len(prop.spi) + sum(tlens))
                for tlen in tlens:
                    add("typepayload", 3)
                    add("payloadlength", tlen)
    for p in payloads:
        if isinstance(p, c.SA):
            for prop in p.proposals:
                add("prop.number", prop.number)
                add("prop.protoid", prop.protocol_id)
                add("prop.transforms", len(prop.transforms))
                add("spisize", len(prop.spi))
                if prop.spi:
                    add("spi", prop.spi.hex())
                kind = "ike" if prop.protocol_id == 1 else "ipsec"
                for t in prop.transforms:
                    add("trans.number", t.number)
                    add("trans.id", t.transform_id)
                    for a in t.attributes:
                        add(f"{kind}.attr.type", a.type)
                        value = f"{a.value:04x}" if a.is_tv else a.value.hex()
                        add(f"{kind}.attr.value", value)
        elif isinstance(p, c.KE):
            add("key_exchange.data", p.data.hex())
        elif isinstance(p, (c.Nonce, c.Hash, c.Sig)):
            add(type(p).__name__.lower(), p.data.hex())
        elif isinstance(p, c.ID):
            add("id.type", p.id_type)
            add("id.protoid", p.protocol)
            add("id.port", p.port)
        elif isinstance(p, c.Cert):
            add("cert.encoding", p.encoding)
        elif isinstance(p, c.CertReq):
            add("certreq.type", p.cert_type)
        elif isinstance(p, c.Notify):
            add("notify.doi", p.doi)
            add("notify.protoid", p.protocol_id)
            add("notify.msgtype", p.notify_type)
            add("spisize", len(p.spi))
            if p.spi:
                add("spi", p.spi.hex())
        elif isinstance(p, c.Delete):
            add("delete.doi", p.doi)
            add("delete.protoid", p.protocol_id)
            add("spisize", p.spi_size)
            add("spinum", len(p.spis))
            for spi in p.spis:
                add("delete.spi", spi.hex())
        elif isinstance(p, c.VendorID):
            add("vid_bytes", p.data.hex())
        elif isinstance(p, c.NatD):
            add("ike.nat_hash", p.data.hex())
    return f


def attr_len(a: c.Attribute) -> int:
    return 4 if a.is_tv else 4 + len(a.value)


def expect_error(
    notify: int, call: Callable[[], object], offset: int | None = None
) -> None:
    with pytest.raises(MessageError) as info:
        call()
    assert info.value.notify == notify, info.value
    if offset is not None:
        assert info.value.offset == offset, info.value


# ------------------------------------------------------------- captures ----


def test_golden_set_is_complete() -> None:
    assert len(GOLDEN) >= 40
    assert sorted(tshark_fields()) == GOLDEN


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_matches_tshark(name: str) -> None:
    header, payloads = parse_golden(name)
    assert flatten(header, payloads) == tshark_fields()[name]


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_encodes_to_its_bytes(name: str) -> None:
    data, decrypted = load(name)
    header, payloads = parse_golden(name)
    if not header.flags & 1:
        assert c.encode_message(header, payloads) == data
        return
    assert c.encode_message(header, data[28:]) == data
    if decrypted is not None:
        chain = c.encode_payloads(payloads)
        assert decrypted.startswith(chain)
        assert len(decrypted) - len(chain) <= 16


@pytest.mark.parametrize("name", GOLDEN)
def test_raw_is_each_payload_as_received(name: str) -> None:
    data, decrypted = load(name)
    _, payloads = parse_golden(name)
    body = decrypted if decrypted is not None else data[28:]
    offset = 0
    for p in payloads:
        assert p.raw == body[offset : offset + len(p.raw)]
        assert p.body == p.raw[4:]
        assert int.from_bytes(p.raw[2:4], "big") == len(p.raw)
        offset += len(p.raw)


def test_main_mode_1() -> None:
    header, payloads = parse_golden("mm-psk-aes-1")
    assert header.icookie == bytes.fromhex("afe19217707b9d6d")
    assert header.rcookie == bytes(8)
    assert (header.major, header.minor) == (1, 0)
    assert (header.exchange_type, header.length) == (2, 180)
    sa, *vids = payloads
    assert isinstance(sa, c.SA) and all(isinstance(v, c.VendorID) for v in vids)
    assert (sa.doi, sa.situation) == (1, b"\0\0\0\1")
    (prop,) = sa.proposals
    assert (prop.number, prop.protocol_id, prop.spi) == (1, 1, b"")
    (t,) = prop.transforms
    assert (t.number, t.transform_id) == (1, 1)
    attrs = [(a.type, a.value) for a in t.attributes]
    assert attrs == [(1, 7), (14, 128), (2, 2), (4, 14), (3, 1), (11, 1), (12, 15840)]
    assert vids[1].data == bytes.fromhex("afcad71368a1f1c96b8696fc77570100")
    assert sa.raw == load("mm-psk-aes-1")[0][28:84]


def test_quick_mode_and_informational() -> None:
    _, payloads = parse_golden("mm-psk-aes-7")
    hash_, sa, nonce, ke, idci, idcr = payloads
    assert isinstance(hash_, c.Hash) and len(hash_.data) == 20
    (prop,) = sa.proposals
    assert (prop.protocol_id, prop.spi) == (3, bytes.fromhex("3e2429da"))
    assert [(a.type, a.as_int()) for a in prop.transforms[0].attributes] == [
        (6, 128), (5, 2), (3, 14), (4, 3), (1, 1), (2, 3960)
    ]
    assert len(nonce.data) == 32 and len(ke.data) == 256
    assert (idci.id_type, idci.data) == (4, bytes([10, 1, 0, 0, 255, 255, 255, 0]))
    assert (idcr.id_type, idcr.data) == (4, bytes([10, 2, 0, 0, 255, 255, 255, 0]))

    _, (hash_, delete) = parse_golden("mm-psk-aes-16")
    assert (delete.doi, delete.protocol_id, delete.spi_size) == (1, 3, 4)
    assert delete.spis == [bytes.fromhex("3e2429da")]

    _, (ident, hash_, notify) = parse_golden("mm-psk-aes-5")
    assert (ident.id_type, ident.protocol, ident.port) == (1, 0, 0)
    assert (notify.doi, notify.protocol_id, notify.notify_type) == (1, 1, 24578)
    assert notify.spi == bytes.fromhex("afe19217707b9d6dd948d4bad6d943c7")


def test_certificates_and_aggressive_mode() -> None:
    _, (ident, cert, sig, certreq, notify) = parse_golden("mm-rsa-5")
    assert ident.id_type == 9 and cert.encoding == 4 and cert.data[:1] == b"\x30"
    assert certreq.cert_type == 4 and b"IKE Lab CA" in certreq.authority
    assert len(sig.data) == 256
    _, payloads = parse_golden("am-psk-1")
    assert payloads[3].id_type == 3 and payloads[3].data == b"west@lab.example"
    _, payloads = parse_golden("pluto-charon-mm-psk-1")
    assert payloads[0].proposals[0].number == 0
    assert payloads[0].proposals[0].transforms[0].number == 0


def test_trailing_padding_needs_allow_trailing() -> None:
    _, decrypted = load("mm-psk-aes-5")
    assert decrypted is not None
    expect_error(UNEQUAL_PAYLOAD_LENGTHS, lambda: c.parse_payloads(5, decrypted), 64)
    assert len(c.parse_payloads(5, decrypted, allow_trailing=True)) == 3


@pytest.mark.parametrize("name", ["mm-psk-aes-1", "mm-rsa-4", "am-psk-2"])
def test_prefixes_and_byte_changes_raise_only_message_error(name: str) -> None:
    data, _ = load(name)
    for end in range(len(data)):
        with pytest.raises(MessageError):
            c.parse_message(data[:end])
        try:
            c.parse_payloads(data[16], data[28:end], allow_trailing=True)
        except MessageError:
            pass
    for i in range(28, len(data)):
        for value in (0, 1, 2, 3, 0x7F, 0x80, 0xFF):
            changed = bytearray(data)
            changed[i] = value
            try:
                header, payloads = c.parse_message(changed)
            except MessageError:
                continue
            assert c.parse_message(c.encode_message(header, payloads))[1] == payloads


# ------------------------------------------------------------ building ----


def every_payload() -> list[Any]:
    esp = c.Proposal(3, 3, b"\x11\x22\x33\x44", [
        c.Transform(1, 12, [c.Attribute(6, 256), c.Attribute(2, 100000)]),
        c.Transform(2, 3, []),
    ])
    return [
        c.SA(1, b"\0\0\0\1", [esp]),
        c.KE(bytes(range(64))),
        c.ID(4, bytes([10, 1, 0, 0, 255, 255, 255, 0]), protocol=17, port=500),
        c.Cert(4, b"\x30\x82\x01\x00"),
        c.CertReq(4),
        c.Hash(b"h" * 20),
        c.Sig(b"s" * 32),
        c.Nonce(b"n" * 16),
        c.Notify(1, 3, 24576, b"\xaa\xbb\xcc\xdd", b"\0\0\0\x1e"),
        c.Delete(1, 3, 4, [b"abcd", b"efgh"]),
        c.VendorID(b"\xaf\xca\xd7\x13h\xa1\xf1\xc9k\x86\x96\xfcwW\x01\x00"),
        c.NatD(b"d" * 20),
        c.NatD(b"e" * 16, payload_type=130),
        c.NatOA(1, b"\xc0\x00\x02\x01"),
        c.NatOA(5, bytes(16), payload_type=131),
        c.Attributes(2, 7, [c.Attribute(1, b"\x0a\0\0\x05"), c.Attribute(7, 1)]),
        c.Unknown(16, b"opaque"),
    ]


def test_every_payload_round_trips() -> None:
    payloads = every_payload()
    assert all(p.raw == b"" and p.body == b"" for p in payloads)
    chain = c.encode_payloads(payloads, next_after=0)
    again = c.parse_payloads(payloads[0].payload_type, chain)
    assert again == payloads
    assert [type(p) for p in again] == [type(p) for p in payloads]
    assert b"".join(p.raw for p in payloads) == chain
    assert [p.raw for p in again] == [p.raw for p in payloads]
    types = [p.payload_type for p in payloads]
    assert types == [1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 20, 130, 21, 131, 14, 16]
    # Next-payload fields: each the type of the payload after it, the last next_after.
    assert [p.raw[0] for p in payloads] == types[1:] + [0]
    assert c.encode_payloads(payloads[:1], next_after=13)[0] == 13


def test_payload_fields_after_round_trip() -> None:
    sa, ke, ident, cert, cr, *_, notify, delete, vid, natd, natd130, natoa, natoa131, \
        attrs, unknown = c.parse_payloads(1, c.encode_payloads(every_payload()))
    t = sa.proposals[0].transforms[0]
    assert [(a.type, a.value, a.is_tv) for a in t.attributes] == [
        (6, 256, True), (2, b"\x00\x01\x86\xa0", False)
    ]
    assert t.attributes[1].as_int() == 100000
    assert (ident.id_type, ident.protocol, ident.port) == (4, 17, 500)
    assert (cert.encoding, cr.cert_type, cr.authority) == (4, 4, b"")
    assert (notify.notify_type, notify.spi) == (24576, b"\xaa\xbb\xcc\xdd")
    assert notify.data == b"\0\0\0\x1e"
    assert delete.spis == [b"abcd", b"efgh"]
    assert (natd.payload_type, natd130.payload_type) == (20, 130)
    assert (natoa.id_type, natoa.data, natoa131.payload_type) == (1, b"\xc0\0\2\1", 131)
    assert (attrs.attr_type, attrs.identifier, len(attrs.attributes)) == (2, 7, 2)
    assert (unknown.payload_type, unknown.data) == (16, b"opaque")
    assert vid.body == vid.data


def test_encode_message() -> None:
    header = c.Header(b"\x01" * 8, exchange_type=2, next_payload=99, length=5)
    assert (header.rcookie, header.flags) == (bytes(8), 0)
    assert (header.major, header.minor) == (1, 0)
    payloads = [c.Nonce(b"n" * 16), c.VendorID(b"v")]
    data = c.encode_message(header, payloads)
    assert (header.next_payload, header.length) == (10, len(data)) == (10, 28 + 20 + 5)
    assert data[:28] == header.encode()
    again, parsed = c.parse_message(data)
    assert again == header and parsed == payloads
    assert payloads[1].raw == data[48:]
    # Body bytes (e.g. ciphertext): the header's own next payload is kept.
    header.flags = 1
    header.next_payload = 8
    data = c.encode_message(header, b"\x42" * 32)
    assert (header.next_payload, header.length) == (8, 60)
    assert data[16] == 8 and data[28:] == b"\x42" * 32
    assert c.parse_header(data) == header
    assert c.encode_message(header, bytearray(b"xy"))[28:] == b"xy"
    header.next_payload = 13
    assert c.encode_message(header, [])[16] == 0


def test_header_fields() -> None:
    h = c.Header(b"12345678", b"abcdefgh", 1, 32, 1, 0xDEADBEEF, length=76)
    assert h.encode() == b"12345678abcdefgh\x01\x10\x20\x01\xde\xad\xbe\xef\0\0\0\x4c"
    h.major, h.minor = 2, 15
    assert h.encode()[17] == 0x2F
    for bad in (b"1234567", b"123456789"):
        with pytest.raises(ValueError):
            c.Header(bad)
        with pytest.raises(ValueError):
            h.rcookie = bad
    with pytest.raises(ValueError):
        h.major = 16
    with pytest.raises(OverflowError):
        h.message_id = 1 << 32
    with pytest.raises(TypeError):
        c.Header("12345678")


def test_attributes() -> None:
    assert c.Attribute(1, 7).is_tv and c.Attribute(1, 7).value == 7
    assert c.Attribute(12, 0xFFFF).is_tv
    big = c.Attribute(12, 0x10000)
    assert not big.is_tv and big.value == b"\x00\x01\x00\x00"
    assert big.as_int() == 0x10000
    assert c.Attribute(12, 1 << 40).value == b"\x01" + bytes(5)
    assert c.Attribute(16, b"\x01\x02").as_int() == 0x102
    assert c.Attribute(16, bytes(3) + b"\xff" * 8).as_int() == (1 << 64) - 1
    too_long = c.Attribute(16, b"\x01" * 9)
    expect_error(ATTRIBUTES_NOT_SUPPORTED, too_long.as_int)
    a = c.Attribute(1, 7)
    a.value = b"xyz"
    a.type = 0x7FFF
    assert (a.type, a.value, a.is_tv) == (0x7FFF, b"xyz", False)
    with pytest.raises(ValueError):
        c.Attribute(0x8001, 1)
    with pytest.raises(ValueError):
        a.type = 0x8000
    with pytest.raises(OverflowError):
        c.Attribute(1, -1)
    with pytest.raises(TypeError):
        c.Attribute(1, "seven")
    assert c.Attribute(1, 7) == c.Attribute(1, 7) != c.Attribute(1, 8)
    assert c.Attribute(1, 7) != c.Attribute(1, b"\x00\x07")


def test_lists_are_live_and_checked() -> None:
    t = c.Transform(1, 1)
    assert t.attributes == []
    t.attributes.append(c.Attribute(1, 5))
    sa = c.SA(1, b"\0\0\0\1", (c.Proposal(1, 1, b"", (t,)),))
    assert isinstance(sa.proposals, list)
    parsed = c.parse_payloads(1, c.encode_payloads([sa]))[0]
    assert parsed.proposals[0].transforms[0].attributes == [c.Attribute(1, 5)]
    t.attributes.append("junk")
    with pytest.raises(TypeError):
        c.encode_payloads([sa])
    with pytest.raises(TypeError):
        c.Transform(1, 1, [1, 2])
    with pytest.raises(TypeError):
        c.SA(1, b"\0\0\0\1", [t])
    with pytest.raises(TypeError):
        c.encode_payloads([c.KE(b"x"), "not a payload"])
    with pytest.raises(TypeError):
        c.encode_payloads(b"\x01\x02")
    d = c.Delete(1, 3, 4, [bytearray(b"abcd")])
    assert d.spis == [b"abcd"] and type(d.spis[0]) is bytes
    d.spis.append(7)
    with pytest.raises(TypeError):
        c.encode_payloads([d])


def test_bytes_like_arguments_are_copied() -> None:
    buf = bytearray(b"abcd")
    ke = c.KE(buf)
    buf[0] = 0
    assert ke.data == b"abcd"
    ke.data = memoryview(b"wxyz")
    assert ke.data == b"wxyz"
    with pytest.raises(TypeError):
        ke.data = "text"
    with pytest.raises(TypeError):
        c.Nonce(16)
    assert c.parse_payloads(4, bytearray(b"\0\0\0\5x"))[0].data == b"x"


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        c.NatD(b"x", payload_type=21)
    with pytest.raises(ValueError):
        c.NatOA(1, b"x", payload_type=20)
    with pytest.raises(ValueError):
        c.Unknown(0, b"")
    with pytest.raises(OverflowError):
        c.Transform(256, 1)
    with pytest.raises(OverflowError):
        c.ID(1, b"", port=70000)


def test_encoders_refuse_values_that_do_not_fit() -> None:
    cases = [
        c.Notify(1, 1, 1, bytes(256)),
        c.KE(bytes(65532)),
        c.Delete(1, 3, 4, [b"abc"]),
        c.Delete(1, 3, 0, [b""]),
        c.SA(1, b"\0\0\0\1\0", []),
        c.SA(1, b"\0\0\0\1", [c.Proposal(1, 3, bytes(256), [])]),
        c.SA(1, b"\0\0\0\1", [c.Proposal(1, 3, b"", [c.Transform(1, 1)] * 256)]),
        c.Attributes(1, 0, [c.Attribute(1, bytes(65536))]),
    ]
    for payload in cases:
        with pytest.raises(ValueError):
            c.encode_payloads([c.Hash(b"h"), payload])
    assert len(c.encode_payloads([c.KE(bytes(65531))])) == 65535


def test_equality_and_repr() -> None:
    assert c.KE(b"x") == c.KE(b"x") != c.KE(b"y")
    assert c.KE(b"x") != c.Nonce(b"x")
    assert c.NatD(b"x") != c.NatD(b"x", payload_type=130)
    assert repr(c.KE(b"x")) == "KE(data=b'x')"
    assert "Transform(number=1" in repr(every_payload()[0])
    assert repr(c.Unknown(99, b"")) == "Unknown(payload_type=99, data=b'')"


# ---------------------------------------------------------------- errors ----

MM1 = load("mm-psk-aes-1")[0]
SA_PAYLOAD = bytearray(MM1[28:84])
SA_PAYLOAD[0] = 0  # the SA alone


def sa_with(**changes: int) -> bytes:
    data = bytearray(SA_PAYLOAD)
    for index, value in changes.items():
        data[int(index[1:])] = value
    return bytes(data)


def payload(body: bytes, next_payload: int = 0) -> bytes:
    return bytes([next_payload, 0]) + (len(body) + 4).to_bytes(2, "big") + body


def test_parse_header_errors() -> None:
    expect_error(PAYLOAD_MALFORMED, lambda: c.parse_header(MM1[:27]), 0)
    expect_error(UNEQUAL_PAYLOAD_LENGTHS, lambda: c.parse_header(MM1[:-1]), 24)
    expect_error(UNEQUAL_PAYLOAD_LENGTHS, lambda: c.parse_header(MM1 + b"\0"), 24)
    cases = [(17, 0x20, 5), (17, 0x00, 5), (17, 0x11, 6), (19, 0x08, 8), (19, 0x80, 8)]
    for index, value, notify in cases:
        data = bytearray(MM1)
        data[index] = value
        expect_error(notify, lambda: c.parse_header(bytes(data)), index)
        expect_error(notify, lambda: c.parse_message(bytes(data)), index)
    expect_error(4, lambda: c.parse_header(bytes(8) + MM1[8:]), 0)
    for flags in (1, 2, 4, 7):
        assert c.parse_header(MM1[:19] + bytes([flags]) + MM1[20:]).flags == flags
    with pytest.raises(MessageError) as info:
        c.parse_header(b"")
    assert "offset 0" in str(info.value) and info.value.reason


@pytest.mark.parametrize(
    ("data", "notify", "offset"),
    [
        (sa_with(b19=2), BAD_PROPOSAL_SYNTAX, 12),  # transform count 2, one present
        (sa_with(b19=0), BAD_PROPOSAL_SYNTAX, 12),  # transform count 0
        (sa_with(b12=4), BAD_PROPOSAL_SYNTAX, 12),  # proposal followed by a KE
        (sa_with(b20=2), BAD_PROPOSAL_SYNTAX, 20),  # transform followed by a proposal
        (sa_with(b12=2), BAD_PROPOSAL_SYNTAX, 12),  # another proposal announced
        (sa_with(b20=3), BAD_PROPOSAL_SYNTAX, 20),  # another transform announced
        (sa_with(b23=32), BAD_PROPOSAL_SYNTAX, 52),  # bytes after the last transform
        (sa_with(b15=45), PAYLOAD_MALFORMED, 12),  # proposal past the SA
        (sa_with(b15=7), PAYLOAD_MALFORMED, 12),  # proposal shorter than 8
        (sa_with(b23=37), PAYLOAD_MALFORMED, 20),  # transform past the proposal
        (sa_with(b18=40), PAYLOAD_MALFORMED, 12),  # SPI past the proposal
        (sa_with(b52=0, b54=0, b55=4), PAYLOAD_MALFORMED, 52),  # TLV past the end
        (payload(b"\0\0\0\1\0\0"), PAYLOAD_MALFORMED, 8),  # situation cut short
        (payload(b"\0\0\0\1\0\0\0\2"), PAYLOAD_MALFORMED, 12),  # SIT_SECRECY, no LDI
        (payload(b"\0\0\1"), PAYLOAD_MALFORMED, 0),  # SA below 4 bytes of body
    ],
)
def test_sa_errors(data: bytes, notify: int, offset: int) -> None:
    expect_error(notify, lambda: c.parse_payloads(1, data), offset)


@pytest.mark.parametrize(
    ("first", "data", "notify", "offset"),
    [
        (4, payload(b""), PAYLOAD_MALFORMED, 0),  # empty KE
        (5, payload(b"\1\0\0"), PAYLOAD_MALFORMED, 0),  # ID without port
        (6, payload(b""), PAYLOAD_MALFORMED, 0),  # CERT without encoding
        (7, payload(b""), PAYLOAD_MALFORMED, 0),  # CR without type
        (11, payload(b"\0\0\0\1\1\0\0"), PAYLOAD_MALFORMED, 0),  # NOTIFY of 7 bytes
        # NOTIFY whose SPI runs past the end
        (11, payload(b"\0\0\0\1\1\x10\x60\2abcd"), PAYLOAD_MALFORMED, 0),
        # DELETE of 2 SPIs of 4 bytes holding 4 bytes, and of 1 holding 5
        (12, payload(b"\0\0\0\1\3\4\0\2abcd"), PAYLOAD_MALFORMED, 0),
        (12, payload(b"\0\0\0\1\3\4\0\1abcde"), PAYLOAD_MALFORMED, 0),
        # DELETE of 65535 SPIs of size 0
        (12, payload(b"\0\0\0\1\3\0\xff\xff"), PAYLOAD_MALFORMED, 0),
        (21, payload(b"\1\0\0"), PAYLOAD_MALFORMED, 0),  # NAT-OA without reserved
        (131, payload(b"\1"), PAYLOAD_MALFORMED, 0),
        (14, payload(b"\1\0\0"), PAYLOAD_MALFORMED, 0),  # ATTRIBUTE without identifier
        (14, payload(b"\1\0\0\7\0\1\0\4\x0a\0"), PAYLOAD_MALFORMED, 8),  # TLV past end
        (13, b"\0\0\0\3", PAYLOAD_MALFORMED, 0),  # length below 4
        (13, b"\0\0\0\x15" + bytes(16), PAYLOAD_MALFORMED, 0),  # length past the end
        (13, payload(b"x", 13), PAYLOAD_MALFORMED, 5),  # next payload, nothing left
        (13, payload(b"x", 13) + b"\0\0", PAYLOAD_MALFORMED, 5),  # 2 bytes left
        (13, payload(b"x") + b"\0\0\0", UNEQUAL_PAYLOAD_LENGTHS, 5),  # trailing bytes
        (0, b"\0", UNEQUAL_PAYLOAD_LENGTHS, 0),
        (2, payload(b"x"), INVALID_PAYLOAD_TYPE, 0),  # proposal outside an SA
        (13, payload(b"x", 3) + payload(b"y"), INVALID_PAYLOAD_TYPE, 5),
    ],
)
def test_payload_errors(first: int, data: bytes, notify: int, offset: int) -> None:
    expect_error(notify, lambda: c.parse_payloads(first, data), offset)


def test_message_offsets_count_from_the_header() -> None:
    data = bytearray(MM1)
    data[28 + 19] = 2  # transform count of the SA's proposal
    expect_error(BAD_PROPOSAL_SYNTAX, lambda: c.parse_message(bytes(data)), 28 + 12)
    with pytest.raises(MessageError) as info:
        c.parse_message(bytes(data))
    assert str(info.value) == "proposal declares 2 transforms but holds 1 at offset 40"


def test_unknown_payload_types_are_kept() -> None:
    for t in (15, 16, 17, 18, 19, 22, 129, 132, 255):
        (p,) = c.parse_payloads(t, payload(b"abc"))
        assert isinstance(p, c.Unknown) and (p.payload_type, p.data) == (t, b"abc")
    assert c.parse_payloads(0, b"") == []


def test_reference_cycles_are_collected() -> None:
    gc.collect()
    t = c.Transform(1, 1)
    t.attributes.append(t)
    assert t.attributes in gc.get_referents(t)
    del t
    assert gc.collect() >= 2
