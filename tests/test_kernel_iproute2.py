"""Our XFRM requests, byte for byte against iproute2's for the same thing.

``ip xfrm`` runs under strace, which dumps the netlink request it sends;
XfrmBackend's requests are recorded by a stand-in channel. Both must carry
the same struct and the same attributes (sequence numbers, pids and flags
aside). This checks SA encodings on a kernel without ESP, where NEWSA
cannot succeed, and every other request too.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from isakmpd.kernel import (
    AeadAlgo,
    Algo,
    AuthAlgo,
    Encap,
    Lifetimes,
    PolicySpec,
    SaSpec,
    Selector,
    Template,
)
from isakmpd.kernel import xfrm_msgs as m
from isakmpd.kernel.xfrm import XfrmBackend
from test_kernel_netns import ns

__all__ = ["ns"]
pytestmark = pytest.mark.netns

#: struct size before the attributes, per message type
FIXED = {
    m.XFRM_MSG_NEWSA: 224,
    m.XFRM_MSG_UPDSA: 224,
    m.XFRM_MSG_ALLOCSPI: 232,
    m.XFRM_MSG_DELSA: 24,
    m.XFRM_MSG_NEWPOLICY: 168,
    m.XFRM_MSG_DELPOLICY: 64,
}


class Recorder:
    """Stands in for NetlinkXfrm: keeps the encoded requests."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def request(self, what: str, msg: Any, msg_type: int, flags: int = 5) -> list[Any]:
        msg["header"] = {
            "type": msg_type,
            "flags": flags,
            "sequence_number": 1,
            "pid": 0,
        }
        msg.encode()
        self.sent.append(bytes(msg.data))
        return [{"id": {"spi": 0x100}}]  # enough of an ALLOCSPI answer

    def close(self) -> None:
        pass


def iproute2_request(ns: str, tmp: Path, *args: str) -> bytes:
    """The netlink request ``ip xfrm ARGS`` sends (it may fail; no matter)."""
    trace = tmp / "strace.txt"
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "strace",
            "-qq",
            "-o",
            str(trace),
            "-e",
            "trace=sendmsg",
            "-e",
            "write=all",
            "ip",
            "xfrm",
            *args,
        ],
        capture_output=True,
        timeout=30,
    )
    data = bytearray()
    for line in trace.read_text().splitlines():
        if re.match(r"^ \| [0-9a-f]{5}  ", line):  # " | 00010  xx xx ... |"
            data += bytes.fromhex(" ".join(re.findall(r"[0-9a-f]{2}", line[10:59])))
    assert data, f"no request captured from ip xfrm {' '.join(args)}"
    return bytes(data)


def parts(raw: bytes) -> tuple[int, bytes, dict[int, bytes]]:
    """(type, struct bytes, {attribute type: payload}) of one request."""
    length, msg_type = struct.unpack_from("=IH", raw)
    assert length == len(raw)
    end = 16 + FIXED[msg_type]
    attrs: dict[int, bytes] = {}
    offset = end
    while offset + 4 <= length:
        alen, atype = struct.unpack_from("=HH", raw, offset)
        assert atype not in attrs
        attrs[atype] = raw[offset + 4 : offset + alen]
        offset += (alen + 3) & ~3
    return msg_type, raw[16:end], attrs


@pytest.fixture
def tool(ns: str) -> str:
    if shutil.which("strace") is None:
        pytest.skip("needs strace to see iproute2's requests")
    probe = subprocess.run(
        ["strace", "-qq", "-o", "/dev/null", "true"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here: {probe.stderr.decode().strip()}")
    return ns


def check(ns: str, tmp: Path, call: Any, *ip_args: str) -> None:
    recorder = Recorder()
    call(XfrmBackend(channel=recorder))  # type: ignore[arg-type]
    assert len(recorder.sent) == 1
    assert parts(recorder.sent[0]) == parts(iproute2_request(ns, tmp, *ip_args))


KEY16 = bytes(range(16))
KEY20 = bytes(range(1, 21))

SA_CASES = [
    pytest.param(
        SaSpec(
            50,
            0x1234,
            "192.0.2.1",
            "192.0.2.2",
            reqid=3,
            enc=Algo("cbc(aes)", KEY16),
            auth=AuthAlgo("hmac(sha1)", KEY20, 96),
        ),
        "add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x1234 reqid 3 mode tunnel "
        f"replay-window 32 flag af-unspec enc cbc(aes) 0x{KEY16.hex()} "
        f"auth-trunc hmac(sha1) 0x{KEY20.hex()} 96",
        id="esp-aes-sha1-tunnel",
    ),
    pytest.param(
        SaSpec(
            50,
            0x99887766,
            "2001:db8::1",
            "2001:db8::2",
            reqid=1,
            replay_window=64,
            aead=AeadAlgo("rfc4106(gcm(aes))", b"\x11" * 20, 128),
            encap=Encap(4500, 4500),
            lifetimes=Lifetimes(100, 200, 1000, 2000),
        ),
        "add src 2001:db8::1 dst 2001:db8::2 proto esp spi 0x99887766 reqid 1 "
        "mode tunnel replay-window 64 flag af-unspec "
        f"aead rfc4106(gcm(aes)) 0x{'11' * 20} 128 encap espinudp 4500 4500 :: "
        "limit time-soft 100 limit time-hard 200 limit byte-soft 1000 "
        "limit byte-hard 2000",
        id="esp-gcm-ipv6-natt-esn-lifetimes",
    ),
    pytest.param(
        SaSpec(
            50,
            0x100,
            "192.0.2.1",
            "192.0.2.2",
            mode="transport",
            replay_window=16,
            enc=Algo("cbc(des3_ede)", b"\x22" * 24),
            auth=AuthAlgo("hmac(md5)", b"\x33" * 16, 96),
        ),
        "add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 mode transport "
        "replay-window 16 sel src 192.0.2.1/32 dst 192.0.2.2/32 "
        f"enc cbc(des3_ede) 0x{'22' * 24} auth-trunc hmac(md5) 0x{'33' * 16} 96",
        id="esp-3des-md5-transport",
    ),
    pytest.param(
        SaSpec(
            50,
            0x4321,
            "192.0.2.2",
            "192.0.2.1",
            inbound=True,
            reqid=4,
            selector=Selector.of("10.2.0.0/16", "10.1.0.0/16"),
            enc=Algo("rfc3686(ctr(aes))", b"\x55" * 20),
            auth=AuthAlgo("hmac(sha512)", b"\x66" * 64, 256),
            encap=Encap(4501, 4500, "10.9.9.9"),
        ),
        "update src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x4321 reqid 4 mode tunnel "
        "replay-window 32 sel src 10.2.0.0/16 dst 10.1.0.0/16 "
        f"enc rfc3686(ctr(aes)) 0x{'55' * 20} auth-trunc hmac(sha512) "
        f"0x{'66' * 64} 256 encap espinudp 4501 4500 10.9.9.9",
        id="esp-ctr-sha512-inbound-update",
    ),
    pytest.param(
        SaSpec(
            51,
            0x200,
            "192.0.2.1",
            "192.0.2.2",
            auth=AuthAlgo("hmac(sha256)", b"\x44" * 32, 128),
        ),
        "add src 192.0.2.1 dst 192.0.2.2 proto ah spi 0x200 mode tunnel "
        f"replay-window 32 flag af-unspec auth-trunc hmac(sha256) 0x{'44' * 32} 128",
        id="ah-sha256",
    ),
    pytest.param(
        SaSpec(108, 0x300, "192.0.2.1", "192.0.2.2", comp=Algo("deflate")),
        "add src 192.0.2.1 dst 192.0.2.2 proto comp spi 0x300 mode tunnel "
        "replay-window 32 flag af-unspec comp deflate",
        id="ipcomp-deflate",
    ),
]


@pytest.mark.parametrize(("sa", "ip_args"), SA_CASES)
def test_sa_request_matches_iproute2(
    tool: str, tmp_path: Path, sa: SaSpec, ip_args: str
) -> None:
    check(tool, tmp_path, lambda b: b.add_sa(sa), "state", *ip_args.split())


POLICY_CASES = [
    pytest.param(
        PolicySpec(
            Selector.of("10.1.0.0/24", "10.2.0.0/24", proto=17, dport=53),
            "out",
            priority=7,
            templates=[Template(50, "tunnel", "192.0.2.1", "192.0.2.2", 5)],
        ),
        "src 10.1.0.0/24 dst 10.2.0.0/24 proto udp dport 53 dir out priority 7 "
        "tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 5 mode tunnel",
        id="out-tunnel",
    ),
    pytest.param(
        PolicySpec(
            Selector.of("fd00::/64", "fd01::/64", proto=6, sport=80),
            "in",
            templates=[Template(50, "transport")],
        ),
        "src fd00::/64 dst fd01::/64 proto tcp sport 80 dir in "
        "tmpl proto esp mode transport",
        id="in-transport-ipv6",
    ),
    pytest.param(
        PolicySpec(
            Selector.of("0.0.0.0/0", "198.51.100.0/24"), "fwd", "block", priority=100
        ),
        "src 0.0.0.0/0 dst 198.51.100.0/24 dir fwd priority 100 action block",
        id="fwd-block",
    ),
]


@pytest.mark.parametrize(("policy", "ip_args"), POLICY_CASES)
def test_policy_request_matches_iproute2(
    tool: str, tmp_path: Path, policy: PolicySpec, ip_args: str
) -> None:
    check(
        tool,
        tmp_path,
        lambda b: b.add_policy(policy),
        "policy",
        "add",
        *ip_args.split(),
    )


def test_delete_policy_request_matches_iproute2(tool: str, tmp_path: Path) -> None:
    policy = PolicySpec(
        Selector.of("10.1.0.0/24", "10.2.0.0/24", proto=17), "out", "allow"
    )
    check(
        tool,
        tmp_path,
        lambda b: b.delete_policy(policy),
        "policy",
        "delete",
        *"src 10.1.0.0/24 dst 10.2.0.0/24 proto udp dir out".split(),
    )


def test_delete_sa_request_matches_iproute2(tool: str, tmp_path: Path) -> None:
    check(
        tool,
        tmp_path,
        lambda b: b.delete_sa(50, 0xABCDEF01, "2001:db8::2", src="2001:db8::1"),
        "state",
        "delete",
        *"src 2001:db8::1 dst 2001:db8::2 proto esp spi 0xabcdef01".split(),
    )


def test_allocspi_request_matches_iproute2(tool: str, tmp_path: Path) -> None:
    check(
        tool,
        tmp_path,
        lambda b: b.get_spi(
            50, "192.0.2.2", "192.0.2.1", reqid=8, spi_min=0x100, spi_max=0x1FF
        ),
        "state",
        "allocspi",
        *"src 192.0.2.2 dst 192.0.2.1 proto esp mode tunnel reqid 8 min 0x100 "
        "max 0x1ff".split(),
    )
