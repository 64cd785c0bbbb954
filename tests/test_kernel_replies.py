"""The XFRM backend against replies a kernel should never send.

A scripted socket stands in for the kernel; every surprise must become a
KernelError naming the request (or a skipped event), never a crash.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Callable

import pytest
from isakmpd.errors import KernelError
from isakmpd.kernel import (
    AcquireEvent,
    AeadAlgo,
    Algo,
    AuthAlgo,
    Encap,
    ExpireEvent,
    SaSpec,
    Selector,
)
from isakmpd.kernel import xfrm_conv as conv
from isakmpd.kernel import xfrm_msgs as m
from isakmpd.kernel.xfrm import NetlinkXfrm, XfrmBackend
from isakmpd.kernel.xfrm_events import decode_events

NLMSG_ERROR, NLMSG_DONE = 2, 3

Script = Callable[[int], list[bytes]]


class ScriptedKernel:
    """A socket whose answers come from ``script(seq of the request)``."""

    def __init__(self, script: Script, sender: int = 0) -> None:
        self.script = script
        self.sender = sender
        self.queue: list[bytes] = []
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.sent.append(bytes(data))
        seq = struct.unpack_from("=I", data, 8)[0]
        self.queue.extend(self.script(seq))
        return len(data)

    def recvfrom(self, size: int, flags: int = 0) -> tuple[bytes, tuple[int, int]]:
        if not self.queue:
            raise TimeoutError
        data = self.queue.pop(0)
        if flags & socket.MSG_TRUNC:
            return data[:size] if len(data) <= size else data, (self.sender, 0)
        return data[:size], (self.sender, 0)

    def close(self) -> None:
        pass


def nlmsg(msg_type: int, seq: int, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack("=IHHII", 16 + len(payload), msg_type, flags, seq, 0) + payload


def ack(seq: int, error: int = 0, extack: str | None = None) -> bytes:
    payload = struct.pack("=i", -error) + nlmsg(0x10, seq, b"")  # echoed header
    flags = 0
    if extack is not None:
        text = extack.encode() + b"\0"
        attr = struct.pack("=HH", 4 + len(text), 1) + text
        payload += attr + bytes(-len(attr) % 4)
        flags = 0x200  # NLM_F_ACK_TLVS
    return nlmsg(NLMSG_ERROR, seq, payload, flags)


def backend(script: Script, sender: int = 0) -> tuple[XfrmBackend, ScriptedKernel]:
    fake = ScriptedKernel(script, sender)
    nl = NetlinkXfrm(sock=fake)  # type: ignore[arg-type]
    return XfrmBackend(channel=nl), fake


def sa_reply(seq: int, spi: int, size: int = 224) -> bytes:
    info = m.xfrm_usersa_info()
    info["id"] = {"daddr": bytes(16), "spi": spi, "proto": 50}
    info["family"] = socket.AF_INET
    info["header"] = {"type": m.XFRM_MSG_NEWSA, "sequence_number": seq}
    info.encode()
    raw = bytes(info.data)[: 16 + size]
    return struct.pack("=I", len(raw)) + raw[4:]


def test_error_reply_names_request_and_errno() -> None:
    b, _ = backend(lambda seq: [ack(seq, errno.EINVAL)])
    with pytest.raises(KernelError) as info:
        b.delete_sa(50, 0x1234, "192.0.2.1")
    assert info.value.errno == errno.EINVAL
    assert "XFRM_MSG_DELSA esp spi 0x00001234 dst 192.0.2.1" in str(info.value)
    assert "Invalid argument" in str(info.value)


def test_error_reply_keeps_the_kernels_explanation() -> None:
    b, _ = backend(
        lambda seq: [ack(seq, errno.ENOSYS, "Requested CRYPT algorithm not found")]
    )
    sa = SaSpec(50, 0x99, "192.0.2.1", "192.0.2.2", enc=Algo("cbc(nothing)", b"k"))
    with pytest.raises(KernelError) as info:
        b.add_sa(sa)
    assert info.value.errno == errno.ENOSYS
    assert "Requested CRYPT algorithm not found" in str(info.value)


def test_stale_and_foreign_replies_are_ignored() -> None:
    b, fake = backend(
        lambda seq: [ack(seq - 1, errno.EPERM), sa_reply(seq + 5, 0x999), ack(seq)]
    )
    b.delete_sa(50, 0x1234, "192.0.2.1")  # only its own ack counts
    assert len(fake.sent) == 1
    other, _ = backend(lambda seq: [ack(seq, errno.EPERM)], sender=4242)
    with pytest.raises(KernelError) as info:  # not from the kernel: never answered
        other.delete_sa(50, 0x1234, "192.0.2.1")
    assert info.value.errno == errno.ETIMEDOUT


@pytest.mark.parametrize(
    "junk",
    [
        pytest.param(lambda seq: [b"\x01\x02\x03"], id="short"),
        pytest.param(
            lambda seq: [struct.pack("=IHHII", 4000, 0x10, 0, seq, 0)],
            id="length-beyond-datagram",
        ),
        pytest.param(lambda seq: [], id="silence"),
    ],
)
def test_garbage_or_silence_times_out_cleanly(junk: Script) -> None:
    b, _ = backend(junk)
    with pytest.raises(KernelError) as info:
        b.get_spi(50, "192.0.2.2", "192.0.2.1")
    assert info.value.errno == errno.ETIMEDOUT
    assert "XFRM_MSG_ALLOCSPI" in str(info.value)


def test_truncated_allocspi_answer() -> None:
    b, _ = backend(lambda seq: [sa_reply(seq, 0x1234, size=100), ack(seq)])
    with pytest.raises(KernelError) as info:
        b.get_spi(50, "192.0.2.2", "192.0.2.1")
    assert info.value.errno == errno.EPROTO
    assert "ALLOCSPI" in str(info.value)


def test_allocspi_answer_outside_the_range() -> None:
    b, _ = backend(lambda seq: [sa_reply(seq, 0x5), ack(seq)])
    with pytest.raises(KernelError, match="outside") as info:
        b.get_spi(50, "192.0.2.2", "192.0.2.1", spi_min=0x100, spi_max=0x200)
    assert info.value.errno == errno.EPROTO


def test_allocspi_without_answer_message() -> None:
    b, _ = backend(lambda seq: [ack(seq)])
    with pytest.raises(KernelError, match="without an SPI"):
        b.get_spi(50, "192.0.2.2", "192.0.2.1")


def test_oversized_datagram() -> None:
    b, _ = backend(lambda seq: [bytes(70000)])
    with pytest.raises(KernelError) as info:
        b.list_sas()
    assert info.value.errno == errno.EMSGSIZE


def test_dump_skips_records_it_cannot_read() -> None:
    def script(seq: int) -> list[bytes]:
        bad = sa_reply(seq, 0x777)
        bad = bad[: 16 + 212] + struct.pack("=H", 99) + bad[16 + 214 :]  # .family
        return [sa_reply(seq, 0x555) + bad, nlmsg(NLMSG_DONE, seq, bytes(4))]

    b, _ = backend(script)
    assert [r.spi for r in b.list_sas()] == [0x555]


def acquire_bytes() -> bytes:
    msg = m.xfrm_user_acquire()
    sel = {
        "daddr": socket.inet_aton("192.0.2.2") + bytes(12),
        "saddr": socket.inet_aton("192.0.2.1") + bytes(12),
        "family": socket.AF_INET,
        "prefixlen_d": 32,
        "prefixlen_s": 32,
    }
    msg["id"] = {"daddr": sel["daddr"], "proto": 50}
    msg["saddr"] = sel["saddr"]
    msg["sel"] = sel
    msg["policy"] = {"sel": sel, "dir": 1, "index": 9}
    msg["seq"] = 77
    msg["header"] = {"type": m.XFRM_MSG_ACQUIRE}
    msg.encode()
    return bytes(msg.data)


def test_decode_events_reads_a_well_formed_acquire() -> None:
    [event] = decode_events(acquire_bytes())
    assert isinstance(event, AcquireEvent)
    assert (event.src, event.dst, event.seq, event.policy_index) == (
        "192.0.2.1",
        "192.0.2.2",
        77,
        9,
    )


@pytest.mark.parametrize("cut", [16, 40, 200, 295])
def test_decode_events_survives_truncation(cut: int) -> None:
    raw = bytearray(acquire_bytes()[:cut])
    struct.pack_into("=I", raw, 0, len(raw))
    assert decode_events(bytes(raw)) == []


def test_decode_events_ignores_other_messages_and_bad_families() -> None:
    raw = bytearray(acquire_bytes())
    struct.pack_into("=H", raw, 16 + 40 + 40, 77)  # sel.family: after id, saddr
    expire = bytearray(nlmsg(m.XFRM_MSG_EXPIRE, 0, bytes(232)))
    other = nlmsg(m.XFRM_MSG_NEWPOLICY, 0, bytes(168))
    events = decode_events(bytes(raw) + bytes(expire) + other)
    assert events == []  # unusable acquire, expire with family 0: skipped
    assert decode_events(b"") == [] and decode_events(b"\xff" * 7) == []
    struct.pack_into("=H", expire, 16 + 212, socket.AF_INET)
    [exp] = decode_events(bytes(expire))
    assert isinstance(exp, ExpireEvent) and not exp.hard and exp.selector is None


def test_dump_reads_algorithms_encap_and_selector() -> None:
    sa = SaSpec(
        50,
        0x6789,
        "2001:db8::2",
        "2001:db8::1",
        mode="transport",
        reqid=12,
        enc=Algo("cbc(aes)", bytes(16)),
        auth=AuthAlgo("hmac(sha256)", bytes(32), 128),
        encap=Encap(4501, 4500, "2001:db8::99"),
    )
    ipcomp = SaSpec(108, 0x345, "192.0.2.1", "192.0.2.2", comp=Algo("deflate"))
    gcm = SaSpec(
        50,
        0x777,
        "192.0.2.1",
        "192.0.2.2",
        aead=AeadAlgo("rfc4106(gcm(aes))", bytes(20), 128),
    )

    def script(seq: int) -> list[bytes]:
        out = b""
        for spec in (sa, ipcomp, gcm):
            info, attrs = conv.sa_fields(spec)
            msg = XfrmBackend._sa_msg(info, attrs)
            msg["header"] = {
                "type": m.XFRM_MSG_NEWSA,
                "sequence_number": seq,
                "flags": 2,
            }  # NLM_F_MULTI
            msg.encode()
            out += bytes(msg.data)
        return [out, nlmsg(NLMSG_DONE, seq, bytes(4))]

    b, _ = backend(script)
    records = {r.spi: r for r in b.list_sas()}
    first = records[0x6789]
    assert (first.enc, first.auth, first.aead, first.comp) == (
        "cbc(aes)",
        "hmac(sha256)",
        None,
        None,
    )
    assert first.encap == Encap(4501, 4500, "2001:db8::99")
    assert first.selector == Selector("2001:db8::2", 128, "2001:db8::1", 128)
    assert (first.mode, first.reqid, first.larval) == ("transport", 12, False)
    assert records[0x345].comp == "deflate" and records[0x345].selector is None
    assert records[0x777].aead == "rfc4106(gcm(aes))"


@pytest.mark.parametrize(
    ("cls", "size"),
    [  # sizeof() on x86-64, from include/uapi/linux/xfrm.h
        (m.xfrm_usersa_info, 224),
        (m.xfrm_userspi_info, 232),
        (m.xfrm_usersa_id, 24),
        (m.xfrm_userpolicy_info, 168),
        (m.xfrm_userpolicy_id, 64),
        (m.xfrm_user_acquire, 280),
        (m.xfrm_user_expire, 232),
    ],
)
def test_message_structs_have_the_kernels_sizes(cls: type, size: int) -> None:
    msg = cls()
    msg["header"] = {"type": 0x10}
    msg.encode()
    assert len(msg.data) == 16 + size


def test_nested_structs_and_attributes_have_the_kernels_sizes() -> None:
    assert m.xfrm_selector.size() == 56
    assert m.xfrm_user_tmpl.size() == 64
    assert m.xfrm_lifetime_cfg.size() == 64
    for cls, size in (
        (m.xfrm_encap_tmpl, 24),
        (m.xfrm_userpolicy_type, 6),
        (m.xfrm_replay_state_esn, 24),
        (m.xfrm_algo_auth, 72),
    ):
        msg = m.xfrm_empty()
        msg["header"] = {"type": 0x10}
        name = next(n for n, c in m.xfrm_attrs_map if getattr(m, c, None) is cls)
        msg["attrs"] = [[name, {}]]
        msg.encode()
        assert struct.unpack_from("=H", msg.data, 16)[0] == 4 + size, name
