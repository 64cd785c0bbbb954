"""Our daemon keys real kernel ESP, inside the qemu VM (tools/vm/run.sh).

West and east are two namespaces (``lab.NetnsPair``) joined by a veth, each
with a protected address on ``lo``. The daemons run without ``-n``, so the
SAs and flows they negotiate go into each namespace's XFRM tables, and a
ping between the protected addresses must cross the veth as ESP:

1. our daemon with both example configurations (examples/west.conf and
   east.conf): the kernel's SAs carry the SPIs of the ``S`` report and the
   same keys on both ends, the flows are there, the ping passes as ESP;
   ``t`` and ``c`` on the FIFO take the SAs out of both kernels and bring
   them back; SIGTERM leaves both kernels empty;
2. host-to-host transport mode, where the flows cover the IKE traffic too:
   our IKE sockets must bypass them;
3. our daemon against strongSwan's charon (kernel ESP, no NAT), each side
   initiating once: the keys in our kernel are charon's, and tshark decrypts
   the ESP with them.

Captures of the ESP and their keys are left in $ISAKMPD_VM_OUT; the host
decrypts them once more (tests/test_vm.py). Python starts slowly under TCG,
so the daemons of a pair start together and the timeouts are generous.

Skipped outside the VM (run.sh sets ISAKMPD_IN_VM=1).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import lab
import pytest
from isakmpd.constants import AuthAlg, EspTransform
from isakmpd.kernel import algs
from lab import tshark

pytestmark = [
    pytest.mark.vm,
    pytest.mark.netns,
    lab.in_vm_only,
]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
#: generous: every process start costs seconds under TCG
SA_TIMEOUT = 90.0
WS_ENC, WS_AUTH = algs.wireshark_names(EspTransform.AES, AuthAlg.HMAC_SHA)


def out_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("ISAKMPD_VM_OUT") or tmp_path)


# -- the kernel's view: ip xfrm state / policy ------------------------------


@dataclass(frozen=True)
class KernelSa:
    src: str
    dst: str
    proto: str
    spi: int
    mode: str
    enc: str | None
    enc_key: bytes
    auth: str | None
    auth_key: bytes
    packets: int

    @property
    def keys(self) -> tuple[bytes, bytes]:
        return self.enc_key, self.auth_key


@dataclass(frozen=True)
class KernelPolicy:
    src: str
    dst: str
    direction: str
    tmpl: tuple[str, str, str, str] | None  # src, dst, proto, mode


def _entries(text: str) -> list[str]:
    """``ip xfrm`` output, one text per entry (entries start in column 0)."""
    out: list[str] = []
    for line in text.splitlines():
        if line and not line[0].isspace():
            out.append(line)
        elif out:
            out[-1] += "\n" + line
    return out


def xfrm_states(side: lab.Side) -> list[KernelSa]:
    """``ip -s xfrm state`` of a namespace, parsed."""
    text = lab.run(side, "ip", "-s", "xfrm", "state").stdout
    sas = []
    for entry in _entries(text):
        head = re.match(r"src (\S+) dst (\S+)", entry)
        ident = re.search(r"proto (\w+) spi (0x[0-9a-f]+)", entry)
        mode = re.search(r" mode (\w+)", entry)
        assert head and ident and mode, entry
        enc = re.search(r"\benc (\S+) 0x([0-9a-f]+)", entry)
        auth = re.search(r"\bauth(?:-trunc)? (\S+) 0x([0-9a-f]+)", entry)
        used = re.search(r"(\d+)\(bytes\), (\d+)\(packets\)", entry)
        sas.append(
            KernelSa(
                src=head.group(1),
                dst=head.group(2),
                proto=ident.group(1),
                spi=int(ident.group(2), 16),
                mode=mode.group(1),
                enc=enc.group(1) if enc else None,
                enc_key=bytes.fromhex(enc.group(2)) if enc else b"",
                auth=auth.group(1) if auth else None,
                auth_key=bytes.fromhex(auth.group(2)) if auth else b"",
                packets=int(used.group(2)) if used else 0,
            )
        )
    return sas


def xfrm_policies(side: lab.Side) -> list[KernelPolicy]:
    """``ip xfrm policy`` of a namespace, without the per-socket policies
    (our IKE sockets' bypass, shown as ``socket in``/``socket out``)."""
    text = lab.run(side, "ip", "xfrm", "policy").stdout
    out = []
    for entry in _entries(text):
        if re.search(r"^\s*socket (in|out)", entry, re.MULTILINE):
            continue
        head = re.match(r"src (\S+) dst (\S+)", entry)
        direction = re.search(r"^\s*dir (\w+)", entry, re.MULTILINE)
        assert head and direction, entry
        t = re.search(r"tmpl src (\S+) dst (\S+)\s+proto (\w+) .*?mode (\w+)", entry)
        out.append(
            KernelPolicy(
                head.group(1),
                head.group(2),
                direction.group(1),
                (t.group(1), t.group(2), t.group(3), t.group(4)) if t else None,
            )
        )
    return out


def wait_sas(
    side: lab.Side,
    count: int,
    daemons: Sequence[lab.Isakmpd] = (),
    timeout: float = SA_TIMEOUT,
) -> dict[int, KernelSa]:
    """Wait until the namespace holds exactly ``count`` complete ESP SAs
    (none larval); stop early when one of ``daemons`` died."""

    def probe() -> dict[int, KernelSa] | None:
        sas = [s for s in xfrm_states(side) if s.proto == "esp"]
        done = len(sas) == count and all(s.enc_key for s in sas)
        return {s.spi: s for s in sas} if done else None

    if count == 0:
        lab.wait_until(
            lambda: not xfrm_states(side), timeout, f"{side.name}: no SAs",
            interval=0.3, fail=lambda: _dead(daemons),
        )  # fmt: skip
        return {}
    return lab.wait_until(
        probe, timeout, f"{side.name}: {count} ESP SAs", interval=0.3,
        fail=lambda: _dead(daemons),
    )  # fmt: skip


def _dead(daemons: Sequence[lab.Isakmpd]) -> str | None:
    for d in daemons:
        if not d.alive():
            return f"{d.name} exited ({d.proc and d.proc.returncode}):\n" + "\n".join(
                d.log().splitlines()[-30:]
            )
    return None


def report_spis(report: str, name: str) -> list[tuple[int, int]]:
    """(out, in) SPIs of connection ``name`` in an ``S`` report."""
    spis = []
    for block in report.split("\n\n"):
        if block.startswith(f"SA name: {name} (Phase 2/"):
            for out_spi, in_spi in re.findall(
                r"SPI \d+: ([0-9a-f]{8}) \(out\) ([0-9a-f]{8}) \(in\)", block
            ):
                spis.append((int(out_spi, 16), int(in_spi, 16)))
    return spis


# -- set-up ----------------------------------------------------------------


def add_routes(pair: lab.NetnsPair) -> None:
    """Each protected subnet is reached through the other gateway, from our
    own protected address (the flows match on it)."""
    for side in (pair.west, pair.east):
        peer = pair.peer(side)
        lab.run(
            None, "ip", "-n", side.ns, "route", "add", peer.net, "via", peer.addr,
            "src", side.inner,
        )  # fmt: skip


def example(side: str, *edits: tuple[str, str | None], general: str = "") -> str:
    """examples/<side>.conf with tag lines changed: ``(tag, None)`` drops
    the line, ``(tag, "value")`` sets the value, ``(tag, "Other=value")``
    replaces the whole line; ``general`` is added to [General]."""
    text = (EXAMPLES / f"{side}.conf").read_text()
    if general:
        text, n = re.subn(
            r"^\[General\]\n", f"[General]\n{general}\n", text, flags=re.MULTILINE
        )
        assert n == 1, f"examples/{side}.conf: no [General]"
    for tag, value in edits:
        if value is None:
            line = ""
        elif "=" in value:
            line = value + "\n"
        else:
            line = f"{tag}=\t{value}\n"
        text, n = re.subn(
            rf"^{re.escape(tag)}=.*\n", line, text, flags=re.MULTILINE | re.IGNORECASE
        )
        assert n == 1, f"examples/{side}.conf: {n} lines of {tag}="
    return text


def start_all(*daemons: lab.Isakmpd) -> None:
    """Start the daemons at once: each Python start takes seconds under TCG.
    A message that reaches a peer not yet listening is retransmitted."""
    with ThreadPoolExecutor(len(daemons)) as pool:
        for f in [pool.submit(d.start, 60.0) for d in daemons]:
            f.result()


def make_daemon(side: lab.Side, config: str, tmp_path: Path, tag: str) -> lab.Isakmpd:
    name = f"isakmpd-{tag}-{side.name}"
    return lab.Isakmpd(side, config, debug=30, workdir=tmp_path / name, name=name)


class Wire:
    """Captures on the veth: ESP on east's end, and what each gateway sends
    in clear that matches ``clear`` (a tcpdump filter where ``{src}`` or
    ``{addr}`` is the sender's veth address, ``{inner}`` its protected one)."""

    def __init__(
        self, pair: lab.NetnsPair, directory: Path, name: str, clear: str
    ) -> None:
        self.esp_path = directory / f"{name}-esp.pcap"
        self.esp = pair.capture(self.esp_path, side="east", bpf="esp")
        self.clear = {}
        for side in (pair.west, pair.east):
            bpf = clear.format(src=side.addr, addr=side.addr, inner=side.inner)
            path = directory / f"{name}-{side.name}-clear.pcap"
            self.clear[side.name] = pair.capture(path, side=side.name, bpf=bpf)

    def stop(self) -> None:
        for cap in (self.esp, *self.clear.values()):
            cap.stop()

    def esp_spis(self) -> list[int]:
        """The SPI of every captured ESP packet, in order."""
        done = subprocess.run(
            ["tcpdump", "-r", str(self.esp_path), "-n"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return [int(s, 16) for s in re.findall(r"ESP\(spi=(0x[0-9a-f]+)", done.stdout)]


def record(
    directory: Path, name: str, pcap: Path, sas: Sequence[KernelSa], icmp: int
) -> None:
    """Keys for the host's tshark check (tests/test_vm.py)."""
    info = {
        "pcaps": [pcap.name],
        "icmp": icmp,
        "sas": [
            {
                "family": "IPv4",
                "src": s.src,
                "dst": s.dst,
                "spi": f"{s.spi:#010x}",
                "enc": WS_ENC,
                "enc_key": s.enc_key.hex(),
                "auth": WS_AUTH,
                "auth_key": s.auth_key.hex(),
            }
            for s in sas
        ],
    }
    (directory / f"{name}.json").write_text(json.dumps(info, indent=1))


def ping_through(
    pair: lab.NetnsPair,
    directory: Path,
    name: str,
    both_ways: bool = False,
    inner: bool = True,
) -> Wire:
    """Ping west -> east (and east -> west) with the wire watched; every
    echo must be answered and none may leave a gateway in clear."""
    w, e = pair.west, pair.east
    key = "inner" if inner else "addr"
    wire = Wire(pair, directory, name, clear="icmp and src host {" + key + "}")
    try:
        pings = [(w, getattr(w, key), getattr(e, key))]
        if both_ways:
            pings.append((e, getattr(e, key), getattr(w, key)))
        for side, src, dst in pings:
            res = lab.ping(side, src, dst, count=3, wait=5)
            assert res.received == 3, res.output
    finally:
        wire.stop()
    for side, cap in wire.clear.items():
        assert cap.captured == 0, f"{side} sent ICMP in clear"
    return wire


# -- 1. our daemon <-> our daemon, the example configurations --------------


#: the connection checker (every 60 s by default) would bring back a
#: connection torn down with FIFO t on its own: keep it out of the way
QUIET = "Check-interval=\t3600"


@dataclass
class Gateways:
    pair: lab.NetnsPair
    west: lab.Isakmpd
    east: lab.Isakmpd
    dir: Path


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateways]:
    """Both example configurations, running (shared by the tests below in
    the order they are written: the last one shuts the daemons down)."""
    lab.require_netns()
    lab.require_tool("tcpdump")
    tmp = tmp_path_factory.mktemp("examples")
    with lab.NetnsPair() as pair:
        add_routes(pair)
        d = {
            side.name: make_daemon(side, example(side.name, general=QUIET), tmp, "ex")
            for side in (pair.west, pair.east)
        }
        try:
            start_all(d["east"], d["west"])
            yield Gateways(pair, d["west"], d["east"], out_dir(tmp))
        finally:
            for x in d.values():
                x.stop()


def _flows(gw: Gateways) -> None:
    """Out, in and fwd flows for 10.1.0.0/24 <-> 10.2.0.0/24 in both kernels."""
    for side in (gw.pair.west, gw.pair.east):
        peer = gw.pair.peer(side)
        out = (side.addr, peer.addr, "esp", "tunnel")
        back = (peer.addr, side.addr, "esp", "tunnel")
        assert sorted(xfrm_policies(side), key=lambda p: p.direction) == [
            KernelPolicy(peer.net, side.net, "fwd", back),
            KernelPolicy(peer.net, side.net, "in", back),
            KernelPolicy(side.net, peer.net, "out", out),
        ]


def _tunnel_up(gw: Gateways) -> tuple[dict[int, KernelSa], dict[int, KernelSa]]:
    """Both kernels hold the two SAs of the S reports, with matching keys."""
    pair, daemons = gw.pair, (gw.west, gw.east)
    w_sas = wait_sas(pair.west, 2, daemons)
    e_sas = wait_sas(pair.east, 2, daemons)
    [(w_out, w_in)] = report_spis(gw.west.sa_report(), "west-east")
    [(e_out, e_in)] = report_spis(gw.east.sa_report(), "east-west")
    assert (e_out, e_in) == (w_in, w_out)
    assert set(w_sas) == set(e_sas) == {w_out, w_in}
    w, e = pair.west, pair.east
    for spi, src, dst in ((w_out, w, e), (w_in, e, w)):
        for sas in (w_sas, e_sas):
            sa = sas[spi]
            assert (sa.src, sa.dst, sa.mode) == (src.addr, dst.addr, "tunnel")
            assert (sa.enc, sa.auth) == ("cbc(aes)", "hmac(sha1)")
            assert (len(sa.enc_key), len(sa.auth_key)) == (16, 20)
        # the sender's outbound SA is the receiver's inbound one
        assert w_sas[spi].keys == e_sas[spi].keys
    assert w_sas[w_out].keys != w_sas[w_in].keys
    _flows(gw)
    return w_sas, e_sas


def _ping_is_esp(gw: Gateways, name: str) -> None:
    w_sas = {s.spi: s for s in xfrm_states(gw.pair.west)}
    wire = ping_through(gw.pair, gw.dir, name)
    spis = wire.esp_spis()
    w, e = gw.pair.west, gw.pair.east
    [to_east] = [s for s in w_sas.values() if s.dst == e.addr]
    [to_west] = [s for s in w_sas.values() if s.dst == w.addr]
    assert sorted(spis) == sorted([to_east.spi] * 3 + [to_west.spi] * 3), spis
    for side in (w, e):
        assert {s.spi: s.packets for s in xfrm_states(side)} == {
            to_east.spi: 3,
            to_west.spi: 3,
        }
    record(gw.dir, name, wire.esp_path, [to_east, to_west], 6)


@pytest.mark.timeout(300)
def test_example_configs_key_the_kernel_and_ping_is_esp(gateways: Gateways) -> None:
    _tunnel_up(gateways)
    _ping_is_esp(gateways, "isakmpd-example-tunnel")


@pytest.mark.timeout(300)
def test_fifo_teardown_and_connect(gateways: Gateways) -> None:
    gw = gateways
    w_sas, _ = _tunnel_up(gw)
    mark = gw.east.mark()
    gw.west.fifo("t west-east")
    for side in (gw.pair.west, gw.pair.east):
        wait_sas(side, 0, (gw.west, gw.east), timeout=30)
        assert xfrm_policies(side) == []
    gw.east.wait_log(r"peer 192\.0\.2\.1 deleted IPsec SA east-west", since=mark)
    assert report_spis(gw.west.sa_report(), "west-east") == []

    gw.west.fifo("c west-east")
    again, _ = _tunnel_up(gw)
    assert not set(again) & set(w_sas)  # new SPIs
    _ping_is_esp(gw, "isakmpd-example-reconnect")


@pytest.mark.timeout(300)
def test_sigterm_deletes_and_cleans_the_kernel(gateways: Gateways) -> None:
    gw = gateways
    _tunnel_up(gw)
    mark = gw.east.mark()
    assert gw.west.stop(timeout=30) == 0
    gw.west.wait_log("shutting down")
    assert xfrm_states(gw.pair.west) == [] and xfrm_policies(gw.pair.west) == []
    gw.east.wait_log(r"peer 192\.0\.2\.1 deleted IPsec SA east-west", since=mark)
    gw.east.wait_log(r"peer 192\.0\.2\.1 deleted ISAKMP SA", since=mark)
    wait_sas(gw.pair.east, 0, timeout=30)
    assert xfrm_policies(gw.pair.east) == []
    assert gw.east.stop(timeout=30) == 0
    for side in (gw.pair.west, gw.pair.east):
        assert lab.run(side, "ip", "xfrm", "state").stdout == ""
        assert lab.run(side, "ip", "xfrm", "policy").stdout == ""


# -- 2. transport mode, host to host ----------------------------------------

TRANSPORT_SUITE = "QM-ESP-TRP-AES-128-SHA-PFS-GRP14-SUITE"


@pytest.mark.timeout(300)
def test_transport_mode_host_to_host(netns_pair: lab.NetnsPair, tmp_path: Path) -> None:
    """The flows cover everything between the gateways, IKE included: the
    ping goes as ESP while our IKE keeps going in clear, both ways."""
    lab.require_tool("tcpdump")
    pair, w, e = netns_pair, netns_pair.west, netns_pair.east
    # the example connections without IDs: the gateways' own addresses
    edits = [("Local-ID", None), ("Remote-ID", None), ("Suites", TRANSPORT_SUITE)]
    # FIFO R with Renegotiate-on-HUP gives the second Quick Mode below
    west = make_daemon(w, example("west", *edits, general="Renegotiate-on-HUP="),
                       tmp_path, "trp")
    east = make_daemon(e, example("east", *edits), tmp_path, "trp")
    directory = out_dir(tmp_path)
    try:
        start_all(east, west)
        w_sas = wait_sas(w, 2, (west, east))
        e_sas = wait_sas(e, 2, (west, east))
        assert set(w_sas) == set(e_sas)
        for spi, sa in w_sas.items():
            assert sa.mode == e_sas[spi].mode == "transport"
            assert sa.keys == e_sas[spi].keys
        for side in (w, e):
            peer = pair.peer(side)
            assert sorted(xfrm_policies(side), key=lambda p: p.direction) == [
                KernelPolicy(f"{peer.addr}/32", f"{side.addr}/32", "in",
                             ("0.0.0.0", "0.0.0.0", "esp", "transport")),
                KernelPolicy(f"{side.addr}/32", f"{peer.addr}/32", "out",
                             ("0.0.0.0", "0.0.0.0", "esp", "transport")),
            ]  # fmt: skip

        wire = ping_through(pair, directory, "isakmpd-transport", inner=False)
        [to_east] = [s for s in w_sas.values() if s.dst == e.addr]
        [to_west] = [s for s in w_sas.values() if s.dst == w.addr]
        assert sorted(wire.esp_spis()) == sorted([to_east.spi] * 3 + [to_west.spi] * 3)
        assert {s.spi: s.packets for s in xfrm_states(w)} == {
            to_east.spi: 3,
            to_west.spi: 3,
        }
        record(directory, "isakmpd-transport", wire.esp_path, [to_east, to_west], 6)

        # a second Quick Mode under the flows: IKE leaves both ends in clear
        ike = Wire(pair, directory, "isakmpd-transport-ike", "udp and src host {src}")
        mark = east.mark()
        try:
            west.fifo("R")
            east.wait_log(r"IPsec SA east-west established", timeout=60, since=mark)
            # the new pair replaces the old one, which goes seconds later
            west.wait_log(r"replaced by a new SA", timeout=30, since=mark)
            renewed = wait_sas(w, 2, (west, east))
            assert set(renewed) == set(wait_sas(e, 2, (west, east)))
            assert not set(renewed) & set(w_sas)
        finally:
            ike.stop()
        for side, cap in ike.clear.items():
            assert cap.captured and cap.captured >= 1, f"no IKE in clear from {side}"
        assert ike.esp.captured == 0
        assert lab.ping(w, w.addr, e.addr, count=2, wait=5).received == 2

        assert west.stop(timeout=30) == 0
        assert east.stop(timeout=30) == 0
        for side in (w, e):
            assert xfrm_states(side) == [] and xfrm_policies(side) == []
    finally:
        west.stop()
        east.stop()


# -- 3. our daemon <-> strongSwan, kernel ESP --------------------------------


def _check_with_charon(
    pair: lab.NetnsPair,
    ours: lab.Isakmpd,
    charon: lab.Charon,
    directory: Path,
    name: str,
    charon_initiated: bool,
) -> set[int]:
    w, e = pair.west, pair.east
    sas = wait_sas(w, 2, (ours,))
    ike = charon.wait_for(ike="lab", child="net", timeout=60)
    assert ike["version"] == "1"
    assert ike.get("initiator", "no") == ("yes" if charon_initiated else "no")
    assert (ike["encr-alg"], ike["encr-keysize"]) == ("AES_CBC", "128")
    assert (ike["integ-alg"], ike["dh-group"]) == ("HMAC_SHA1_96", "MODP_2048")
    [child] = [c for c in ike["children"] if c["state"] == "INSTALLED"]
    assert (child["mode"], child["protocol"]) == ("TUNNEL", "ESP")
    assert child.get("encap", "no") == "no"
    assert (child["encr-alg"], child["integ-alg"]) == ("AES_CBC", "HMAC_SHA1_96")
    assert child["dh-group"] == "MODP_2048"  # PFS
    assert {int(child["spi-in"], 16), int(child["spi-out"], 16)} == set(sas)
    # charon's own kernel SAs (kernel-netlink): the same SPIs
    assert {s.spi for s in xfrm_states(e)} == set(sas)

    wire = ping_through(pair, directory, name, both_ways=True)
    [to_east] = [s for s in sas.values() if s.dst == e.addr]
    [to_west] = [s for s in sas.values() if s.dst == w.addr]
    assert sorted(wire.esp_spis()) == sorted([to_east.spi] * 6 + [to_west.spi] * 6)
    assert {s.spi: s.packets for s in xfrm_states(w)} == {
        to_east.spi: 6,
        to_west.spi: 6,
    }

    # the keys in our kernel are the ones charon derived and installed
    keys = charon.keys()
    theirs = [keys.by_spi(spi) for spi in sas]
    for k in theirs:
        sa = sas[k.spi]
        assert (k.src, k.dst) == (sa.src, sa.dst)
        assert k.direction == ("in" if sa.dst == e.addr else "out")
        assert (k.encr_alg, k.integ_alg) == ("AES_CBC", "HMAC_SHA1_96")
        assert (k.encr_key, k.integ_key) == sa.keys
    # and tshark decrypts the wire with them (ICV checked)
    icmp = tshark.decrypted_icmp(wire.esp_path, lab.wireshark_tables(theirs))
    assert len(icmp) == 12 and all(p["icv_good"] for p in icmp), icmp
    seen = sorted((p["src"], p["dst"], p["type"]) for p in icmp)
    assert seen == sorted(
        [(w.inner, e.inner, 8), (e.inner, w.inner, 0)] * 3
        + [(e.inner, w.inner, 8), (w.inner, e.inner, 0)] * 3
    )
    record(directory, name, wire.esp_path, [to_east, to_west], 12)
    return set(sas)


@pytest.mark.strongswan
@pytest.mark.timeout(420)
def test_strongswan_kernel_esp_both_directions(
    netns_pair: lab.NetnsPair, charon_factory, tmp_path: Path
) -> None:
    """aes128-sha1-modp2048 Main Mode and ESP aes128-sha1 with PFS."""
    lab.require_tool("tcpdump")
    lab.require_tool("tshark")
    pair, w, e = netns_pair, netns_pair.west, netns_pair.east
    add_routes(pair)
    directory = out_dir(tmp_path)
    # west's example, waiting for FIFO c or charon: the ends take turns
    ours = make_daemon(w, example(
        "west", ("Connections", "Passive-connections=\twest-east"),
        ("Authentication", lab.DEFAULT_PSK),
    ), tmp_path, "sw")  # fmt: skip
    _, east_conn = lab.conn_pair(
        pair, proposals="aes128-sha1-modp2048", esp_proposals="aes128-sha1-modp2048"
    )
    try:
        with ThreadPoolExecutor(1) as pool:
            started = pool.submit(ours.start, 60.0)
            charon = charon_factory(e, kernel="netlink", keylog=True)
            charon.load(east_conn)
            started.result()

        # our daemon initiates (FIFO c on its passive connection)
        ours.fifo("c west-east")
        first = _check_with_charon(
            pair, ours, charon, directory, "charon-ours-initiate", False
        )

        # charon deletes: our kernel lets go
        mark = ours.mark()
        charon.terminate(ike="lab", timeout=30)
        ours.wait_log(r"peer 192\.0\.2\.2 deleted IPsec SA west-east", since=mark)
        wait_sas(w, 0, (ours,), timeout=30)
        assert xfrm_policies(w) == []

        # charon initiates
        charon.initiate("net", timeout=60)
        second = _check_with_charon(
            pair, ours, charon, directory, "charon-charon-initiate", True
        )
        assert not first & second

        assert ours.stop(timeout=30) == 0
        assert xfrm_states(w) == [] and xfrm_policies(w) == []
    finally:
        ours.stop()
