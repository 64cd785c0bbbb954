"""NAT traversal, dead peer detection and IPv6 on the real kernel, inside
the qemu VM (tools/vm/run.sh).

A NAT made with nftables in a middle namespace: west sits behind it::

    west 172.16.1.2 (lo 10.1.0.1) -- nat 172.16.1.1 | 192.0.2.254 -- east 192.0.2.2
                                                                    (lo 10.2.0.1)

west's traffic leaves the NAT masqueraded as 192.0.2.254, UDP from ports
40000-40999. Checked:

1. the kernel: an XFRM SA's UDP encapsulation changed in place (UPDSA),
   its age kept;
2. our daemon (west, behind the NAT) and our daemon (east): the exchange
   floats to port 4500, both kernels hold UDP-encapsulated SAs, a ping passes
   as ESP in UDP, west's keepalives reach east; then the NAT forgets its
   mapping and hands out ports from another range: west's next IKE message
   (a DPD probe) moves east's SAs to the new port in place, and the ping
   passes again; east killed, west's DPD finds it dead, takes the SAs out of
   its kernel and brings the tunnel back once east is up again;
3. strongSwan's charon behind the NAT, our daemon outside: the same float,
   encapsulation, ping and charon's keepalives; after the NAT's change
   charon's DPD probe from the new port moves our SAs;
4. an IPv6 tunnel between our daemons, IPv6 subnets behind, ping6 as ESP.

The ESP captured on east's link is left with its keys for the host's tshark
(tests/test_vm.py). Skipped outside the VM.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import lab
import pytest
from isakmpd.kernel.base import IPPROTO_ESP, Encap, SaSpec
from isakmpd.kernel.xfrm import XfrmBackend
from test_tunnel_guest import WS_AUTH, WS_ENC, out_dir

pytestmark = [
    pytest.mark.vm,
    pytest.mark.netns,
    lab.in_vm_only,
]

SA_TIMEOUT = 90.0
PSK = "natt-and-dpd-in-the-vm-0123456789"
PUBLIC = "192.0.2.254"
FIRST_PORTS, SECOND_PORTS = (40000, 40999), (41000, 41999)


# -- the NAT ----------------------------------------------------------------


class NatLab:
    """Three namespaces, west -- nat -- east, the NAT masquerading west,
    named ``<prefix>-<tag>-west`` etc., their links ``<if_prefix><tag>w`` etc."""

    def __init__(self, prefix: str = "natt", if_prefix: str = "nt") -> None:
        tag = lab.netns.unique_tag("")  # interface names have 15 bytes
        self.ns = {n: f"{prefix}-{tag}-{n}" for n in ("west", "nat", "east")}
        ifs = {k: f"{if_prefix}{tag}{k}" for k in ("w", "a", "b", "e")}
        self.west = lab.Side("west", self.ns["west"], ifs["w"], "172.16.1.2", "",
                             "10.1.0.1", "10.1.0.0/24")
        self.east = lab.Side("east", self.ns["east"], ifs["e"], "192.0.2.2", "",
                             "10.2.0.1", "10.2.0.0/24")
        self.nat_in, self.nat_out = ifs["a"], ifs["b"]
        self._made: list[str] = []
        try:
            self._create()
        except BaseException:
            self.close()
            raise

    def _create(self) -> None:
        w, e, nat = self.west, self.east, self.ns["nat"]
        for ns in self.ns.values():
            lab.run(None, "ip", "netns", "add", ns)
            self._made.append(ns)
        lab.run(None, "ip", "link", "add", w.ifname, "netns", w.ns, "type", "veth",
                "peer", "name", self.nat_in, "netns", nat)
        lab.run(None, "ip", "link", "add", e.ifname, "netns", e.ns, "type", "veth",
                "peer", "name", self.nat_out, "netns", nat)
        for ns, ifname, addr in ((w.ns, w.ifname, "172.16.1.2/24"),
                                 (nat, self.nat_in, "172.16.1.1/24"),
                                 (nat, self.nat_out, f"{PUBLIC}/24"),
                                 (e.ns, e.ifname, "192.0.2.2/24")):
            lab.run(None, "ip", "-n", ns, "addr", "add", addr, "dev", ifname)
            lab.run(None, "ip", "-n", ns, "link", "set", ifname, "up")
        for side in (w, e):
            lab.run(None, "ip", "-n", side.ns, "link", "set", "lo", "up")
            lab.run(None, "ip", "-n", side.ns, "addr", "add", f"{side.inner}/32",
                    "dev", "lo")
        lab.run(None, "ip", "-n", nat, "link", "set", "lo", "up")
        lab.run(nat, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        lab.run(None, "ip", "-n", w.ns, "route", "add", "default", "via", "172.16.1.1")
        lab.run(None, "ip", "-n", w.ns, "route", "add", e.net, "via", "172.16.1.1",
                "src", w.inner)
        lab.run(None, "ip", "-n", e.ns, "route", "add", w.net, "via", PUBLIC,
                "src", e.inner)
        self.masquerade(FIRST_PORTS)

    def masquerade(self, ports: tuple[int, int]) -> None:
        """West's UDP leaves from ``ports`` (the table is replaced whole)."""
        west = f'oifname "{self.nat_out}" ip saddr 172.16.1.0/24'
        rules = "\n".join([
            "table ip natlab", "delete table ip natlab", "table ip natlab {",
            "  chain post {",
            "    type nat hook postrouting priority srcnat; policy accept;",
            f"    {west} meta l4proto udp masquerade to :{ports[0]}-{ports[1]}",
            f"    {west} masquerade", "  }", "}", ""])
        lab.run(self.ns["nat"], "nft", "-f", "-", input=rules)

    def forget_mappings(self) -> None:
        """The NAT restarts: every connection tracking entry goes."""
        from pyroute2 import Conntrack

        ct = Conntrack(netns=self.ns["nat"])
        try:
            ct.flush()
            assert ct.count() == 0
        finally:
            ct.close()

    def remap(self) -> None:
        self.masquerade(SECOND_PORTS)
        self.forget_mappings()

    def capture(self, path: Path, bpf: str) -> lab.Capture:
        """tcpdump on the NAT's outside link, east's end."""
        return lab.Capture(self.east, self.east.ifname, path, bpf=bpf).start()

    def close(self) -> None:
        for ns in reversed(self._made):
            for pid in lab.netns.netns_pids(ns):
                lab.util.terminate_pid(pid)
            lab.run(None, "ip", "netns", "del", ns, check=False)
        self._made.clear()


def open_nat(make: Callable[[], NatLab] = NatLab) -> Iterator[NatLab]:
    """A NAT lab for a fixture to yield, closed when the fixture ends."""
    lab.require_netns()
    lab.require_tool("nft")
    lab.require_tool("tcpdump")
    n = make()
    try:
        yield n
    finally:
        n.close()


@pytest.fixture
def natlab() -> Iterator[NatLab]:
    yield from open_nat()


# -- the kernel's view --------------------------------------------------------


@dataclass(frozen=True)
class EspSa:
    src: str
    dst: str
    spi: int
    encap: tuple[int, int] | None  # sport, dport
    enc_key: bytes
    auth_key: bytes
    added: str


def esp_states(ns: str) -> list[EspSa]:
    text = lab.run(ns, "ip", "-s", "xfrm", "state").stdout
    out = []
    for entry in re.split(r"\n(?=src )", text.strip()):
        if not entry.strip():
            continue
        head = re.match(r"src (\S+) dst (\S+)", entry)
        ident = re.search(r"proto esp spi (0x[0-9a-f]+)", entry)
        if not head or not ident:
            continue
        encap = re.search(r"encap type espinudp sport (\d+) dport (\d+)", entry)
        enc = re.search(r"\benc \S+ 0x([0-9a-f]+)", entry)
        auth = re.search(r"\bauth(?:-trunc)? \S+ 0x([0-9a-f]+)", entry)
        added = re.search(r"add (\S+ \S+)", entry)
        out.append(EspSa(
            head.group(1), head.group(2), int(ident.group(1), 16),
            (int(encap.group(1)), int(encap.group(2))) if encap else None,
            bytes.fromhex(enc.group(1)) if enc else b"",
            bytes.fromhex(auth.group(1)) if auth else b"",
            added.group(1) if added else "",
        ))  # fmt: skip
    return out


def wait_esp(ns: str, count: int, daemons=(), timeout: float = SA_TIMEOUT,
             check=None) -> list[EspSa]:
    """Wait for exactly ``count`` complete ESP SAs (and ``check(sas)``)."""

    def probe():
        sas = [s for s in esp_states(ns) if s.enc_key]
        if len(sas) != count or (check is not None and not check(sas)):
            return None
        return sas or [None]

    def dead():
        for d in daemons:
            if not d.alive():
                return f"{d.name} exited:\n" + "\n".join(d.log().splitlines()[-30:])
        return None

    got = lab.wait_until(probe, timeout, f"{ns}: {count} ESP SAs", interval=0.3,
                         fail=dead)
    return [s for s in got if s is not None]


def policies(ns: str) -> str:
    text = lab.run(ns, "ip", "xfrm", "policy").stdout
    return "\n".join(b for b in re.split(r"\n(?=src )", text)
                     if b.strip() and "socket " not in b)


def record(directory: Path, name: str, pcap: Path, sas: list[EspSa], icmp: int,
           family: str = "IPv4", addrs: dict[int, tuple[str, str]] | None = None
           ) -> None:
    """Keys for the host's tshark check (tests/test_vm.py); ``addrs`` gives
    an SA's addresses as captured, where a NAT rewrote them."""
    info = {
        "pcaps": [pcap.name],
        "icmp": icmp,
        "sas": [{
            "family": family,
            "src": (addrs or {}).get(s.spi, (s.src, s.dst))[0],
            "dst": (addrs or {}).get(s.spi, (s.src, s.dst))[1],
            "spi": f"{s.spi:#010x}", "enc": WS_ENC, "enc_key": s.enc_key.hex(),
            "auth": WS_AUTH, "auth_key": s.auth_key.hex(),
        } for s in sas],
    }  # fmt: skip
    (directory / f"{name}.json").write_text(json.dumps(info, indent=1))


# -- configurations -----------------------------------------------------------


def gateway_conf(me: str, peer: str, my_net: str, peer_net: str, *, active: bool,
                 general: str = "", phase1_key: str | None = None,
                 v6: bool = False) -> str:
    which = "Connections" if active else "Passive-connections"
    ids = []
    for sec, net in (("net-local", my_net), ("net-remote", peer_net)):
        addr = net.partition("/")[0]
        mask = ipaddress.ip_network(net).netmask
        ids += [f"[{sec}]", f"ID-type=\t\tIPV{6 if v6 else 4}_ADDR_SUBNET",
                f"Network=\t\t{addr}", f"Netmask=\t\t{mask}", ""]
    return "\n".join([
        "[General]", f"Listen-on=\t\t{me}", "Check-interval=\t10", general, "",
        "[Phase 1]", f"{phase1_key or peer}=\t\tpeer", "",
        "[Phase 2]", f"{which}=\tgw", "",
        "[peer]", "Phase=\t\t\t1", f"Address=\t\t{peer}", f"Local-address=\t\t{me}",
        f"Authentication=\t\t{PSK}", "Configuration=\t\tmain-mode", "",
        "[main-mode]", "DOI=\t\t\tIPSEC", "EXCHANGE_TYPE=\t\tID_PROT",
        "Transforms=\t\tAES-128-SHA-GRP14", "",
        "[gw]", "Phase=\t\t\t2", "ISAKMP-peer=\t\tpeer", "Configuration=\t\tquick-mode",
        "Local-ID=\t\tnet-local", "Remote-ID=\t\tnet-remote", "",
        *ids,
        "[quick-mode]", "DOI=\t\t\tIPSEC", "EXCHANGE_TYPE=\t\tQUICK_MODE",
        "Suites=\t\t\tQM-ESP-AES-128-SHA-PFS-GRP14-SUITE", ""])  # fmt: skip


_made: list[lab.Isakmpd] = []


def daemon(side: lab.Side, config: str, tmp: Path, tag: str) -> lab.Isakmpd:
    name = f"isakmpd-{tag}-{side.name}"
    d = lab.Isakmpd(side, config, debug=30, workdir=tmp / name, name=name)
    _made.append(d)
    return d


@pytest.fixture(autouse=True)
def _keep_logs(tmp_path: Path) -> Iterator[None]:
    """The daemons' logs go beside the captures (the VM's output folder),
    and whatever still runs is stopped."""
    _made.clear()
    yield
    for d in _made:
        d.stop()
        try:
            (out_dir(tmp_path) / f"{d.name}.log").write_text(d.log())
        except OSError:
            pass


def start_all(*daemons: lab.Isakmpd) -> None:
    with ThreadPoolExecutor(len(daemons)) as pool:
        for f in [pool.submit(d.start, 60.0) for d in daemons]:
            f.result()


def ping(side: lab.Side, src: str, dst: str, count: int = 3) -> lab.PingResult:
    return lab.ping(side, src, dst, count=count, wait=5)


def tcpdump_lines(pcap: Path, bpf: str = "") -> list[str]:
    argv = ["tcpdump", "-r", str(pcap), "-n"] + ([bpf] if bpf else [])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def keepalives(pcap: Path, src: str = PUBLIC) -> int:
    """NAT-T keepalives (UDP to port 4500 carrying the one byte 0xff) from
    ``src`` in ``pcap``."""
    return len(tcpdump_lines(pcap, f"src host {src} and udp dst port 4500 and "
                                   "udp[4:2] = 9 and udp[8] = 0xff"))


# -- 1. the kernel updates an SA's encapsulation in place -------------------


@pytest.mark.timeout(60)
def test_kernel_updates_udp_encapsulation_in_place(netns_pair: lab.NetnsPair) -> None:
    w, e = netns_pair.west, netns_pair.east
    kernel = XfrmBackend(netns=w.ns)
    try:
        from isakmpd.kernel.base import Algo, AuthAlgo

        spec = SaSpec(proto=IPPROTO_ESP, spi=0x1234, src=w.addr, dst=e.addr,
                      enc=Algo("cbc(aes)", bytes(range(16))),
                      auth=AuthAlgo("hmac(sha1)", bytes(range(20)), 96),
                      encap=Encap(4500, 40001), reqid=7)
        kernel.add_sa(spec)
        [before] = esp_states(w.ns)
        assert before.encap == (4500, 40001)
        time.sleep(1.1)  # the add time has one-second steps
        kernel.update_sa(dataclasses.replace(spec, encap=Encap(4500, 41234)))
        [after] = esp_states(w.ns)
        assert after.encap == (4500, 41234)
        assert (after.spi, after.enc_key, after.auth_key) == (
            before.spi, before.enc_key, before.auth_key)
        assert after.added == before.added and after.added  # the same SA, changed
        # an SA that is gone is added anew
        kernel.delete_sa(IPPROTO_ESP, 0x1234, e.addr)
        kernel.update_sa(dataclasses.replace(spec, encap=Encap(4500, 40002)))
        [again] = esp_states(w.ns)
        assert again.encap == (4500, 40002)
    finally:
        kernel.flush()
        kernel.close()


# -- 2. our daemon behind the NAT, our daemon outside ------------------------


@pytest.mark.timeout(420)
def test_ours_through_a_nat_mapping_change_and_a_dead_peer(
    natlab: NatLab, tmp_path: Path
) -> None:
    w, e = natlab.west, natlab.east
    directory = out_dir(tmp_path)
    west = daemon(w, gateway_conf(
        w.addr, e.addr, w.net, e.net, active=True,
        general="DPD-check-interval=\t2\nNAT-T-Keepalive=\t2"), tmp_path, "nat")
    east_conf = gateway_conf(e.addr, PUBLIC, e.net, w.net, active=False)
    east = daemon(e, east_conf, tmp_path, "nat")
    start_all(east, west)
    both = (west, east)

    # floated, UDP-encapsulated both ways, through the NAT's first port range
    w_sas = wait_esp(w.ns, 2, both)
    e_sas = wait_esp(e.ns, 2, both)
    assert {s.spi for s in w_sas} == {s.spi for s in e_sas}
    for s in w_sas:
        assert s.encap == (4500, 4500), s
    [e_out] = [s for s in e_sas if s.dst == PUBLIC]
    [e_in] = [s for s in e_sas if s.src == PUBLIC]
    assert e_out.encap and FIRST_PORTS[0] <= e_out.encap[1] <= FIRST_PORTS[1]
    assert e_in.encap == (e_out.encap[1], 4500)
    west.wait_log(r"NAT-T: \S+ \S+ floats to 172\.16\.1\.2:4500")
    assert "tmpl src 192.0.2.2 dst 192.0.2.254" in policies(e.ns)

    cap_path = directory / "natt-ours-esp.pcap"
    cap = natlab.capture(cap_path, "udp port 4500")
    try:
        res = ping(w, w.inner, e.inner)
        assert res.received == 3, res.output
        time.sleep(2.5)  # a keepalive interval
    finally:
        cap.stop()
    pkts = tcpdump_lines(cap_path)
    assert not [x for x in pkts if "ICMP" in x], pkts
    esp = [x for x in pkts if "ESP(spi=" in x]
    assert len(esp) == 6, pkts  # in UDP on port 4500, through the NAT
    assert all(f"{PUBLIC}.4" in x for x in esp)
    assert keepalives(cap_path) >= 1, pkts
    [w_out] = [s for s in w_sas if s.dst == e.addr]
    [w_in] = [s for s in w_sas if s.src == e.addr]
    record(directory, "natt-ours", cap_path, [w_out, w_in], 6,
           addrs={w_out.spi: (PUBLIC, e.addr), w_in.spi: (e.addr, PUBLIC)})

    # the NAT forgets and maps west anew, from another range
    mark = east.mark()
    natlab.remap()
    east.wait_log(r"NAT-T: peer 192\.0\.2\.254:\d+ of ISAKMP SA .* now comes from "
                  r"192\.0\.2\.254:41\d\d\d", timeout=30, since=mark)
    moved = wait_esp(e.ns, 2, both, timeout=30, check=lambda sas: all(
        s.encap and SECOND_PORTS[0] <= max(s.encap) <= SECOND_PORTS[1] for s in sas))
    # the same SAs, changed in place
    assert {(s.spi, s.enc_key, s.added) for s in moved} == {
        (s.spi, s.enc_key, s.added) for s in e_sas}
    res = ping(w, w.inner, e.inner)
    assert res.received == 3, res.output
    res = ping(e, e.inner, w.inner)
    assert res.received == 3, res.output

    # east dies without a word: west's DPD takes the SAs out of its kernel
    mark = west.mark()
    os.kill(east.pid, signal.SIGKILL)
    east.wait()
    west.wait_log(r"DPD: peer 192\.0\.2\.2 \(peer\) is dead", timeout=60, since=mark)
    wait_esp(w.ns, 0, (west,), timeout=15)
    assert policies(w.ns) == ""
    west.wait_log(r"DPD: starting connection gw again", since=mark)
    # east comes back (a fresh kernel too): the tunnel returns
    lab.run(e.ns, "ip", "xfrm", "state", "flush")
    lab.run(e.ns, "ip", "xfrm", "policy", "flush")
    east2 = daemon(e, east_conf, tmp_path, "nat2")
    east2.start(60.0)
    again = wait_esp(w.ns, 2, (west, east2))
    assert not {s.spi for s in again} & {s.spi for s in w_sas}
    res = ping(w, w.inner, e.inner)
    assert res.received == 3, res.output
    for d in (west, east2):
        assert "Traceback" not in d.log()
        assert d.stop(timeout=30) == 0


# -- 3. strongSwan behind the NAT, our daemon outside ------------------------


@pytest.mark.strongswan
@pytest.mark.timeout(300)
def test_strongswan_behind_a_nat(natlab: NatLab, charon_factory, tmp_path: Path
                                 ) -> None:
    w, e = natlab.west, natlab.east
    ours = daemon(e, gateway_conf(e.addr, PUBLIC, e.net, w.net, active=False),
                  tmp_path, "sw")
    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(ours.start, 60.0)
        # keepalives every idle second, before a DPD probe (2 s) could count
        # as the traffic that makes them unneeded
        charon = charon_factory(w, kernel="netlink", settings="  keep_alive = 1s")
        west_conn, _ = lab.conn_pair(None, local_addrs=w.addr, remote_addrs=e.addr,
                                     psk=PSK, dpd_delay=2)
        charon.load(west_conn)
        started.result()
    charon.initiate("net", timeout=60)
    e_sas = wait_esp(e.ns, 2, (ours,))
    ike = charon.wait_for(ike="lab", child="net", timeout=30)
    assert ike.get("nat-local") == "yes" or ike.get("nat-any") == "yes", ike
    [child] = [c for c in ike["children"] if c["state"] == "INSTALLED"]
    assert child.get("encap") == "yes"
    assert {int(child["spi-in"], 16), int(child["spi-out"], 16)} == {
        s.spi for s in e_sas}
    [e_out] = [s for s in e_sas if s.dst == PUBLIC]
    assert e_out.encap and FIRST_PORTS[0] <= e_out.encap[1] <= FIRST_PORTS[1]
    assert all(s.encap == (4500, 4500) for s in esp_states(w.ns))

    cap_path = out_dir(tmp_path) / "natt-charon-esp.pcap"
    cap = natlab.capture(cap_path, "udp port 4500")
    try:
        res = ping(w, w.inner, e.inner)
        assert res.received == 3, res.output
        time.sleep(3.5)
    finally:
        cap.stop()
    assert keepalives(cap_path) >= 1  # charon's, from behind the NAT

    # the NAT's new mapping: charon's next DPD probe (no answers reach it
    # meanwhile) brings our SAs to the new port
    mark = ours.mark()
    natlab.remap()
    lab.ping(w, w.inner, e.inner, count=2, wait=1)  # lost on the way back
    ours.wait_log(r"now comes from 192\.0\.2\.254:41\d\d\d", timeout=40, since=mark)
    moved = wait_esp(e.ns, 2, (ours,), timeout=30, check=lambda sas: all(
        s.encap and SECOND_PORTS[0] <= max(s.encap) <= SECOND_PORTS[1] for s in sas))
    assert {s.spi for s in moved} == {s.spi for s in e_sas}
    res = ping(w, w.inner, e.inner)
    assert res.received == 3, res.output
    assert "Traceback" not in ours.log()
    assert ours.stop(timeout=30) == 0


# -- 4. IPv6 ------------------------------------------------------------------

W6_NET, E6_NET = "2001:db8:a::/64", "2001:db8:b::/64"
W6_INNER, E6_INNER = "2001:db8:a::1", "2001:db8:b::1"


@pytest.mark.timeout(300)
def test_ipv6_tunnel_between_our_daemons(netns_pair: lab.NetnsPair, tmp_path: Path
                                         ) -> None:
    pair, w, e = netns_pair, netns_pair.west, netns_pair.east
    for side, inner, peer, net in ((w, W6_INNER, e, E6_NET), (e, E6_INNER, w, W6_NET)):
        lab.run(None, "ip", "-n", side.ns, "-6", "addr", "add", f"{inner}/128",
                "dev", "lo", "nodad")
        lab.run(None, "ip", "-n", side.ns, "-6", "route", "add", net, "via",
                peer.addr6, "src", inner)
    directory = out_dir(tmp_path)
    west = daemon(w, gateway_conf(w.addr6, e.addr6, W6_NET, E6_NET, active=True,
                                  v6=True), tmp_path, "v6")
    east = daemon(e, gateway_conf(e.addr6, w.addr6, E6_NET, W6_NET, active=False,
                                  v6=True), tmp_path, "v6")
    start_all(east, west)
    w_sas = wait_esp(w.ns, 2, (west, east))
    e_sas = wait_esp(e.ns, 2, (west, east))
    assert {s.spi for s in w_sas} == {s.spi for s in e_sas}
    assert {(s.src, s.dst) for s in w_sas} == {(w.addr6, e.addr6), (e.addr6, w.addr6)}
    assert all(s.encap is None for s in w_sas)
    pol = policies(w.ns)
    assert f"src {W6_NET} dst {E6_NET}" in pol and f"src {E6_NET} dst {W6_NET}" in pol
    cap_path = directory / "ipv6-esp.pcap"
    esp = pair.capture(cap_path, side="east", bpf="ip6 proto 50")
    # what each gateway sends in clear (a receiver's tap also shows the
    # packets it decrypted, so only each side's own)
    clear = [pair.capture(tmp_path / f"ipv6-clear-{side.name}.pcap", side=side.name,
                          bpf=f"icmp6 and src host {inner}")
             for side, inner in ((w, W6_INNER), (e, E6_INNER))]
    try:
        res = ping(w, W6_INNER, E6_INNER)
        assert res.received == 3, res.output
    finally:
        for cap in (esp, *clear):
            cap.stop()
    assert [c.captured for c in clear] == [0, 0]
    assert esp.captured == 6
    [to_east] = [s for s in w_sas if s.dst == e.addr6]
    [to_west] = [s for s in w_sas if s.dst == w.addr6]
    record(directory, "ipv6-ours", cap_path, [to_east, to_west], 6, family="IPv6")
    for d in (west, east):
        assert "Traceback" not in d.log()
        assert d.stop(timeout=30) == 0
    for side in (w, e):
        assert esp_states(side.ns) == [] and policies(side.ns) == ""
