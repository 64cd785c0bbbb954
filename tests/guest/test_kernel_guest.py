"""Real ESP through XfrmBackend, inside the qemu VM (tools/vm/run.sh).

Two namespaces joined by veth get SAs and policies from XfrmBackend with
fixed keys; ping must pass, tcpdump on the veth must see ESP and no
cleartext ICMP, and the SA counters must move. Each capture and its keys
are left in $ISAKMPD_VM_OUT so that the host can decrypt them with tshark
(tests/test_vm.py): a third party reading our traffic with our keys.

Skipped outside the VM (run.sh sets ISAKMPD_IN_VM=1).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import lab  # noqa: E402
from isakmpd.constants import AuthAlg, EspTransform, IpcompTransform  # noqa: E402
from isakmpd.kernel import (  # noqa: E402
    AcquireEvent,
    AeadAlgo,
    Algo,
    AuthAlgo,
    Encap,
    ExpireEvent,
    Lifetimes,
    PolicySpec,
    SaSpec,
    Selector,
    Template,
    algs,
)
from isakmpd.kernel.netns import enter_netns  # noqa: E402
from isakmpd.kernel.xfrm import XfrmBackend  # noqa: E402
from test_kernel_netns import A4, A6, B4, B6, Pair, blocks, in_ns, ip, pair  # noqa: E402

__all__ = ["pair"]
pytestmark = [
    pytest.mark.vm,
    lab.in_vm_only,
]

INNER = {
    4: ("10.1.0.1", "10.2.0.1", "10.1.0.0/24", "10.2.0.0/24"),
    6: ("fd00:1::1", "fd00:2::1", "fd00:1::/64", "fd00:2::/64"),
}
OUTER = {4: (A4, B4), 6: (A6, B6)}
UDP_ENCAP, UDP_ENCAP_ESPINUDP = 100, 2


def out_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("ISAKMPD_VM_OUT") or tmp_path)


@dataclass
class Suite:
    """Fixed algorithms and keys for both directions of a test."""

    name: str
    enc: Algo | None
    auth: AuthAlgo | None
    aead: AeadAlgo | None
    wireshark: tuple[str, str]

    def sa(self, spi: int, src: str, dst: str, **kw: object) -> SaSpec:
        return SaSpec(
            50, spi, src, dst, enc=self.enc, auth=self.auth, aead=self.aead, **kw
        )  # type: ignore[arg-type]

    def flipped(self) -> Suite:
        """The same algorithms with other keys (the opposite direction's)."""

        def turn(alg: Any) -> Any:
            return None if alg is None else replace(alg, key=alg.key[::-1])

        return replace(
            self, enc=turn(self.enc), auth=turn(self.auth), aead=turn(self.aead)
        )


def suite(
    name: str, transform: int, bits: int | None, auth: int | None, seed: int
) -> Suite:
    enc_len, auth_len = algs.esp_keymat_lengths(transform, bits, auth)
    keymat = bytes((seed + 7 * i) % 256 for i in range(enc_len + auth_len))
    enc, integrity = algs.esp_xfrm_algs(transform, bits, auth, keymat)
    names = algs.wireshark_names(transform, auth)
    assert names[0] is not None
    if isinstance(enc, AeadAlgo):
        return Suite(name, None, None, enc, (names[0], names[1]))
    return Suite(name, enc, integrity, None, (names[0], names[1]))


CBC_SHA1 = suite("aes-cbc-sha1", EspTransform.AES, 128, AuthAlg.HMAC_SHA, 1)
GCM = suite("aes-gcm16", EspTransform.AES_GCM_16, 256, None, 2)
CTR_SHA256 = suite(
    "aes-ctr-sha256", EspTransform.AES_CTR, 128, AuthAlg.HMAC_SHA2_256, 3
)


@contextmanager
def wire_capture(p: Pair, directory: Path, name: str) -> Iterator[list[Path]]:
    """tcpdump of what each side sends on the veth while the block runs.

    Only outgoing packets (``-Q out``): in tunnel mode the kernel passes
    decrypted packets up through the receiving device again, where a plain
    capture would show them as if they had been on the wire.
    """
    paths = [directory / f"{name}-a.pcap", directory / f"{name}-b.pcap"]
    procs = []
    try:
        for ns, dev, path in ((p.a, "va", paths[0]), (p.b, "vb", paths[1])):
            proc = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "tcpdump",
                    "-i",
                    dev,
                    "-Q",
                    "out",
                    "-n",
                    "--immediate-mode",
                    "-U",
                    "-w",
                    str(path),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            procs.append(proc)
            assert proc.stderr is not None
            line = proc.stderr.readline()  # "listening on ..." once it captures
            assert "listening" in line, line
        yield paths
    finally:
        time.sleep(0.5)
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            proc.wait(timeout=30)


def read_capture(paths: list[Path]) -> list[str]:
    lines = []
    for path in paths:
        done = subprocess.run(
            ["tcpdump", "-r", str(path), "-n"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        lines += done.stdout.splitlines()
    return lines


def ping(ns: str, src: str, dst: str, count: int = 3) -> str:
    done = in_ns(
        ns, "ping", "-c", str(count), "-i", "0.2", "-W", "3", "-I", src, dst, timeout=60
    )
    assert done.returncode == 0, f"ping {dst} failed:\n{done.stdout}{done.stderr}"
    assert f"{count} received" in done.stdout
    return done.stdout


def packets(ns: str) -> dict[int, int]:
    """SPI -> packets, from ``ip -s xfrm state`` (the independent count)."""
    counts = {}
    for entry in blocks(ip("-s", "xfrm", "state", ns=ns)):
        spi = re.search(r"spi (0x[0-9a-f]+)", entry)
        used = re.search(r"lifetime current:\s+(\d+)\(bytes\), (\d+)\(packets\)", entry)
        assert spi and used, entry
        counts[int(spi.group(1), 16)] = int(used.group(2))
    return counts


@dataclass
class Tunnel:
    spi_ab: int  # A -> B, B's inbound SPI
    spi_ba: int
    backends: tuple[XfrmBackend, XfrmBackend]


def install_pair(
    p: Pair, s: Suite, version: int, mode: str = "tunnel", encap: bool = False
) -> Tunnel:
    """SAs and policies both ways; inbound SPIs from ALLOCSPI, completed by UPDSA."""
    a_out, b_out = OUTER[version]
    bits = 32 if version == 4 else 128
    if mode == "tunnel":
        a_net, b_net = INNER[version][2:]
    else:
        a_net, b_net = f"{a_out}/{bits}", f"{b_out}/{bits}"
    a, b = XfrmBackend(netns=p.a), XfrmBackend(netns=p.b)
    spi_ab = b.get_spi(50, a_out, b_out, reqid=2)
    spi_ba = a.get_spi(50, b_out, a_out, reqid=1)
    s_ab, s_ba = s, s.flipped()
    for me, peer, here, there, spi_in, spi_out, reqid, be, s_out, s_in in (
        (a_out, b_out, a_net, b_net, spi_ba, spi_ab, 1, a, s_ab, s_ba),
        (b_out, a_out, b_net, a_net, spi_ab, spi_ba, 2, b, s_ba, s_ab),
    ):
        udp = Encap(4500, 4500) if encap else None
        be.add_sa(s_out.sa(spi_out, me, peer, mode=mode, reqid=reqid, encap=udp))
        be.add_sa(
            s_in.sa(spi_in, peer, me, mode=mode, reqid=reqid, encap=udp, inbound=True)
        )
        tsrc_out, tdst_out = (me, peer) if mode == "tunnel" else (None, None)
        tsrc_in, tdst_in = (peer, me) if mode == "tunnel" else (None, None)
        be.add_policy(
            PolicySpec(
                Selector.of(here, there),
                "out",
                templates=[Template(50, mode, tsrc_out, tdst_out, reqid)],
            )
        )
        for direction in ("in", "fwd"):
            be.add_policy(
                PolicySpec(
                    Selector.of(there, here),
                    direction,
                    templates=[Template(50, mode, tsrc_in, tdst_in, reqid)],
                )
            )
    return Tunnel(spi_ab, spi_ba, (a, b))


def add_inner(p: Pair, version: int) -> None:
    a_in, b_in, a_net, b_net = INNER[version]
    a_out, b_out = OUTER[version]
    plen = "24" if version == 4 else "64"
    for ns, addr, net, gw in ((p.a, a_in, b_net, b_out), (p.b, b_in, a_net, a_out)):
        ip("link", "add", "inner", "type", "dummy", ns=ns)
        ip(
            "addr",
            "add",
            f"{addr}/{plen}",
            "dev",
            "inner",
            *(["nodad"] if version == 6 else []),
            ns=ns,
        )
        ip("link", "set", "inner", "up", ns=ns)
        ip("route", "add", net, "via", gw, ns=ns)


def record(
    tmp_path: Path,
    name: str,
    pcaps: list[Path],
    s: Suite,
    t: Tunnel,
    version: int,
    expect: int,
) -> None:
    """Keys for the host's tshark check (tests/test_vm.py)."""
    a_out, b_out = OUTER[version]
    sas = []
    for src, dst, spi, keys in (
        (a_out, b_out, t.spi_ab, s),
        (b_out, a_out, t.spi_ba, s.flipped()),
    ):
        cipher = keys.aead or keys.enc
        assert cipher is not None
        sas.append(
            {
                "family": f"IPv{version}",
                "src": src,
                "dst": dst,
                "spi": f"{spi:#010x}",
                "enc": s.wireshark[0],
                "enc_key": cipher.key.hex(),
                "auth": s.wireshark[1],
                "auth_key": keys.auth.key.hex() if keys.auth else "",
            }
        )
    info = {"pcaps": [p.name for p in pcaps], "sas": sas, "icmp": expect}
    (out_dir(tmp_path) / f"{name}.json").write_text(json.dumps(info, indent=1))


@pytest.mark.parametrize(
    ("version", "s"),
    [(4, CBC_SHA1), (4, GCM), (6, CTR_SHA256)],
    ids=["v4-aes-cbc-sha1", "v4-aes-gcm", "v6-aes-ctr-sha256"],
)
def test_tunnel_mode_ping_is_esp(
    pair: Pair, tmp_path: Path, version: int, s: Suite
) -> None:
    add_inner(pair, version)
    t = install_pair(pair, s, version)
    a_in, b_in = INNER[version][:2]
    name = f"tunnel-v{version}-{s.name}"
    with wire_capture(pair, out_dir(tmp_path), name) as pcaps:
        ping(pair.a, a_in, b_in)
    lines = read_capture(pcaps)
    esp = [x for x in lines if "ESP(spi=" in x]
    assert sum(f"spi={t.spi_ab:#010x}" in x for x in esp) == 3, lines
    assert sum(f"spi={t.spi_ba:#010x}" in x for x in esp) == 3, lines
    assert not [x for x in lines if "ICMP echo" in x or "ICMP6, echo" in x], lines
    for ns, out_spi, in_spi in (
        (pair.a, t.spi_ab, t.spi_ba),
        (pair.b, t.spi_ba, t.spi_ab),
    ):
        assert packets(ns) == {out_spi: 3, in_spi: 3}
    a_records = {r.spi: r for r in t.backends[0].list_sas()}
    assert a_records[t.spi_ab].packets == 3 and not a_records[t.spi_ab].larval
    assert a_records[t.spi_ba].mode == "tunnel"
    record(tmp_path, name, pcaps, s, t, version, 6)
    # negative control: without B's SAs the same ping fails
    ip("xfrm", "state", "flush", ns=pair.b)
    done = in_ns(pair.a, "ping", "-c", "1", "-W", "1", "-I", a_in, b_in)
    assert done.returncode != 0


def test_transport_mode_ping(pair: Pair, tmp_path: Path) -> None:
    t = install_pair(pair, CBC_SHA1, 4, mode="transport")
    with wire_capture(pair, out_dir(tmp_path), "transport-v4") as pcaps:
        ping(pair.a, A4, B4)
    lines = read_capture(pcaps)
    assert sum("ESP(spi=" in x for x in lines) == 6, lines
    assert not [x for x in lines if "ICMP echo" in x], lines
    assert packets(pair.a) == {t.spi_ab: 3, t.spi_ba: 3}
    [sa] = [r for r in t.backends[0].list_sas() if r.spi == t.spi_ab]
    assert sa.mode == "transport"
    assert sa.selector == Selector(A4, 32, B4, 32)  # filled in for transport
    record(tmp_path, "transport-v4", pcaps, CBC_SHA1, t, 4, 6)


def test_udp_encapsulated_esp(pair: Pair, tmp_path: Path) -> None:
    with ExitStack() as stack:
        for ns in (pair.a, pair.b):  # the IKE daemon's NAT-T socket does this
            with enter_netns(ns):
                sock = stack.enter_context(
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                )
            sock.setsockopt(socket.IPPROTO_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP)
            sock.bind(("0.0.0.0", 4500))
        add_inner(pair, 4)
        t = install_pair(pair, GCM, 4, encap=True)
        with wire_capture(pair, out_dir(tmp_path), "natt-v4") as pcaps:
            ping(pair.a, INNER[4][0], INNER[4][1])
    lines = read_capture(pcaps)
    encapsulated = [x for x in lines if "UDP-encap: ESP(spi=" in x]
    assert len(encapsulated) == 6, lines
    assert all(re.search(r"\.4500 > [0-9.]+\.4500: ", x) for x in encapsulated), lines
    assert not [x for x in lines if "ICMP echo" in x], lines
    [sa] = [r for r in t.backends[1].list_sas() if r.spi == t.spi_ab]
    assert sa.encap == Encap(4500, 4500)
    record(tmp_path, "natt-v4", pcaps, GCM, t, 4, 6)


def test_soft_and_hard_expire_of_a_real_sa(pair: Pair) -> None:
    with XfrmBackend(netns=pair.a) as a:
        events = a.events()
        a.add_sa(
            CBC_SHA1.sa(
                0x5151, A4, B4, lifetimes=Lifetimes(soft_seconds=1, hard_seconds=2)
            )
        )
        seen: list[ExpireEvent] = []
        deadline = time.monotonic() + 10
        while len(seen) < 2 and time.monotonic() < deadline:
            seen += [e for e in events.wait(0.5) if isinstance(e, ExpireEvent)]
        events.close()
        assert [(e.spi, e.hard) for e in seen] == [(0x5151, False), (0x5151, True)]
        assert a.list_sas() == []


ESP_COMBOS = [
    (t, bits, auth)
    for t, cipher in algs.ESP_CIPHERS.items()
    for bits in sorted({min(cipher.key_bits), max(cipher.key_bits)})
    for auth in ([None] if cipher.aead else [None, *algs.AUTH_ALGS])
    if not (t == EspTransform.NULL and auth is None)
]


def test_kernel_accepts_every_mapped_algorithm(pair: Pair) -> None:
    """Names, key and ICV sizes as the kernel's crypto API wants them."""
    with XfrmBackend(netns=pair.a) as a:
        spi = 0x1000
        for transform, bits, auth in ESP_COMBOS:
            enc_len, auth_len = algs.esp_keymat_lengths(transform, bits, auth)
            keymat = os.urandom(enc_len + auth_len)
            enc, integrity = algs.esp_xfrm_algs(transform, bits, auth, keymat)
            aead = enc if isinstance(enc, AeadAlgo) else None
            spi += 1
            a.add_sa(
                SaSpec(
                    50,
                    spi,
                    A4,
                    B4,
                    enc=None if aead else enc,
                    aead=aead,
                    auth=integrity,
                )
            )
        for transform in algs.AH_TRANSFORMS:
            spi += 1
            a.add_sa(
                SaSpec(
                    51,
                    spi,
                    A4,
                    B4,
                    auth=algs.ah_xfrm_alg(
                        transform, None, os.urandom(algs.ah_keymat_length(transform))
                    ),
                )
            )
        a.add_sa(
            SaSpec(
                108, 0x300, A4, B4, comp=algs.ipcomp_xfrm_alg(IpcompTransform.DEFLATE)
            )
        )
        states = a.list_sas()
    # IPcomp brings the kernel's own IP-in-IP state for uncompressed packets
    assert [(r.proto, r.src, r.dst) for r in states if r.proto == 4] == [(4, A4, B4)]
    listed = [r for r in states if r.proto != 4]
    assert len(listed) == len(ESP_COMBOS) + len(algs.AH_TRANSFORMS) + 1
    listed_names = {n for r in listed for n in (r.enc, r.aead, r.auth, r.comp) if n}
    mapped = (
        {c.xfrm for c in algs.ESP_CIPHERS.values()}
        | {i.xfrm for i in algs.AUTH_ALGS.values()}
        | {"deflate"}
    )
    assert listed_names == mapped


def test_inbound_sa_without_larval_and_a_wide_replay_window(pair: Pair) -> None:
    """UPDSA finds no larval SA (its acquire timeout passed): NEWSA instead."""
    with XfrmBackend(netns=pair.b) as b:
        b.add_sa(CBC_SHA1.sa(0x6161, A4, B4, inbound=True, replay_window=128))
        [sa] = b.list_sas()
        assert (sa.spi, sa.larval) == (0x6161, False)
    [entry] = blocks(ip("xfrm", "state", ns=pair.b))
    assert "spi 0x00006161" in entry
    assert re.search(r"anti-replay esn context:.*replay_window 128", entry, re.S), entry


def test_acquire_then_sas_carry_traffic(pair: Pair) -> None:
    """On demand: a packet hits the flow, ACQUIRE, then the SAs replace the
    kernel's acquire state and the traffic passes."""
    add_inner(pair, 4)
    a_in, b_in, a_net, b_net = INNER[4]
    with XfrmBackend(netns=pair.a) as a:
        events = a.events()
        a.add_policy(
            PolicySpec(
                Selector.of(a_net, b_net),
                "out",
                templates=[Template(50, "tunnel", A4, B4, 1)],
            )
        )
        done = in_ns(pair.a, "ping", "-c", "1", "-W", "1", "-I", a_in, b_in)
        assert done.returncode != 0  # no SA yet
        [acquire] = events.wait(3.0)
        events.close()
        assert isinstance(acquire, AcquireEvent)
        assert (acquire.src, acquire.dst, acquire.reqid) == (A4, B4, 1)
        [state] = blocks(ip("xfrm", "state", ns=pair.a))
        assert state.startswith(f"src {A4} dst {B4}") and "spi 0x00000000" in state
        t = install_pair(pair, CBC_SHA1, 4)  # its out policy replaces A's
        spis = {r.spi for r in a.list_sas()}
        assert spis == {t.spi_ab, t.spi_ba}  # the acquire state is gone
    ping(pair.a, a_in, b_in)
    assert packets(pair.a) == {t.spi_ab: 3, t.spi_ba: 3}
