"""Long-lived tunnels against strongSwan's charon on a real kernel, inside
the qemu VM (tools/vm/run.sh). charon runs with kernel-netlink, so both
ends key the kernel's XFRM tables and the ping goes as real ESP.

1. Dead peer detection: our daemon (west, DPD-check-interval=2) and charon
   (east). Our probes of a quiet tunnel are answered; then charon is
   killed with SIGKILL (no DELETE). Five unanswered R-U-THERE later our
   daemon declares it dead, takes the SAs and flows out of its kernel and
   starts the connection again; once charon is back (its kernel emptied,
   as after a reboot) the tunnel returns with new SPIs and a ping passes.
2. A NAT mapping change with charon: our daemon behind an nftables NAT
   (masquerade in a middle namespace), charon outside. The exchange
   floats to port 4500, both kernels hold UDP-encapsulated SAs, our
   keepalives reach charon. Then the NAT forgets its mapping and hands out
   ports from another range while the tunnel is quiet: our next DPD probe
   comes from the new port, charon (which must follow) answers there and
   moves its SAs to it, and the ping passes both ways on the same SAs.
3. IPv6: IKE over IPv6 with IPv6 subnets between our daemon and charon,
   each side initiating once; ping6 both ways as ESP, none in clear.

The ESP of (2) and (3) is left with its keys for the host's tshark
(tests/test_vm.py). Skipped outside the VM (run.sh sets ISAKMPD_IN_VM=1).
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lab
import pytest
from test_natt_dpd_guest import (
    E6_INNER,
    E6_NET,
    FIRST_PORTS,
    PSK,
    PUBLIC,
    SECOND_PORTS,
    W6_INNER,
    W6_NET,
    EspSa,
    NatLab,
    esp_states,
    gateway_conf,
    keepalives,
    open_nat,
    policies,
    record,
    tcpdump_lines,
    wait_esp,
)
from test_tunnel_guest import add_routes, out_dir

pytestmark = [
    pytest.mark.vm,
    pytest.mark.netns,
    pytest.mark.strongswan,
    lab.in_vm_only,
]

_daemons: list[lab.Isakmpd] = []
_charons: list[lab.Charon] = []


class LlNat(NatLab):
    """The NAT lab of test_natt_dpd_guest under names of this file's own
    (``ll-<tag>-west`` / ``-nat`` / ``-east``)."""

    def __init__(self) -> None:
        super().__init__("ll", "ll")


@pytest.fixture
def llnat() -> Iterator[NatLab]:
    yield from open_nat(LlNat)


def daemon(side: lab.Side, config: str, tmp: Path, tag: str) -> lab.Isakmpd:
    name = f"isakmpd-ll-{tag}-{side.name}"
    d = lab.Isakmpd(side, config, debug=30, workdir=tmp / name, name=name)
    _daemons.append(d)
    return d


def charon(side: lab.Side, tmp: Path, tag: str, **kw) -> lab.Charon:
    c = lab.Charon(side, tmp / f"charon-ll-{tag}", name=f"charon-ll-{tag}",
                   kernel="netlink", **kw)
    _charons.append(c)
    return c


@pytest.fixture(autouse=True)
def _keep_logs(tmp_path: Path) -> Iterator[None]:
    """Whatever still runs is stopped; the logs go to the VM's share."""
    lab.require_strongswan()
    _daemons.clear()
    _charons.clear()
    yield
    directory = out_dir(tmp_path)
    for d in _daemons:
        d.stop()
        try:
            (directory / f"{d.name}.log").write_text(d.log())
        except OSError:
            pass
    for c in _charons:
        c.stop()
        try:
            (directory / f"{c.name}.log").write_text(c.log())
        except OSError:
            pass


def in_parallel(*jobs: Callable[[], object]) -> None:
    """Python and charon start slowly under TCG: start them together."""
    with ThreadPoolExecutor(len(jobs)) as pool:
        for f in [pool.submit(j) for j in jobs]:
            f.result()


def ping(side: lab.Side, src: str, dst: str, count: int = 3) -> lab.PingResult:
    return lab.ping(side, src, dst, count=count, wait=5)


def child_of(ike: dict) -> dict:
    [child] = [c for c in ike["children"] if c["state"] == "INSTALLED"]
    return child


def spis_of(child: dict) -> set[int]:
    return {int(child["spi-in"], 16), int(child["spi-out"], 16)}


def no_traceback(*daemons: lab.Isakmpd) -> None:
    for d in daemons:
        assert "Traceback" not in d.log(), d.log()[-3000:]


# -- 1. dead peer detection: charon killed -----------------------------------


@pytest.mark.timeout(300)
def test_our_dpd_finds_killed_charon_and_restarts(
    netns_pair: lab.NetnsPair, tmp_path: Path
) -> None:
    pair, w, e = netns_pair, netns_pair.west, netns_pair.east
    add_routes(pair)
    ours = daemon(w, gateway_conf(w.addr, e.addr, w.net, e.net, active=True,
                                  general="DPD-check-interval=\t2"), tmp_path, "dpd")
    peer = charon(e, tmp_path, "dpd")
    _, east_conn = lab.conn_pair(pair, psk=PSK)
    in_parallel(lambda: ours.start(60.0), lambda: peer.start(60.0))
    peer.load(east_conn)

    first = wait_esp(w.ns, 2, (ours,))
    ike = peer.wait_for(ike="lab", child="net", timeout=60)
    assert spis_of(child_of(ike)) == {s.spi for s in first}
    assert {s.spi for s in esp_states(e.ns)} == {s.spi for s in first}
    res = ping(w, w.inner, e.inner)
    assert res.received == 3, res.output
    # a quiet tunnel: we probe, charon answers, and nothing changes
    ours.wait_log(r"DPD: R-U-THERE-ACK \d+ from 192\.0\.2\.2", timeout=30)
    assert "received DPD vendor ID" in peer.log()
    assert "is dead" not in ours.log()
    flows = policies(w.ns)
    assert f"src {w.net} dst {e.net}" in flows, flows

    # charon dies without a word
    mark = ours.mark()
    pid = peer.pid
    assert pid is not None
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    assert peer.proc is not None and peer.proc.wait(timeout=10) == -signal.SIGKILL
    dead = ours.wait_log(r"DPD: peer 192\.0\.2\.2 \(peer\) is dead: (\d+) R-U-THERE",
                         timeout=60, since=mark)
    took = time.monotonic() - killed
    assert int(dead.group(1)) == 5
    # at most 2 s of quiet, then five probes 5 s apart (the first one may
    # have gone just before the kill)
    assert 15 <= took <= 55, took
    probes = re.findall(r"DPD: R-U-THERE (\d+) to 192\.0\.2\.2 \((\d) of 5\)",
                        ours.log())
    assert [int(n) for _, n in probes][-5:] == [1, 2, 3, 4, 5], probes
    seqs = [int(s) for s, _ in probes[-5:]]
    assert seqs == list(range(seqs[0], seqs[0] + 5))  # each one the next number
    # our kernel lets go of SAs and flows
    wait_esp(w.ns, 0, (ours,), timeout=15)
    assert policies(w.ns) == ""
    ours.wait_log(r"DPD: starting connection gw again", since=mark)

    # charon comes back, its kernel empty as after a reboot: the tunnel returns
    lab.run(e, "ip", "xfrm", "state", "flush")
    lab.run(e, "ip", "xfrm", "policy", "flush")
    peer.start(60.0)
    peer.load(east_conn)
    again = wait_esp(w.ns, 2, (ours,))
    assert not {s.spi for s in again} & {s.spi for s in first}
    ike = peer.wait_for(ike="lab", child="net", timeout=60)
    assert ike.get("initiator", "no") == "no"
    assert spis_of(child_of(ike)) == {s.spi for s in again}
    res = ping(w, w.inner, e.inner)
    assert res.received == 3, res.output
    res = ping(e, e.inner, w.inner)
    assert res.received == 3, res.output
    print(f"\nDPD ours->charon: dead after {took:.0f} s, tunnel back with SPIs "
          f"{sorted(hex(s.spi) for s in again)}")
    no_traceback(ours)
    assert ours.stop(timeout=30) == 0
    assert esp_states(w.ns) == [] and policies(w.ns) == ""


# -- 2. our daemon behind a NAT whose mapping changes; charon follows --------


def _in_range(port: int, ports: tuple[int, int]) -> bool:
    return ports[0] <= port <= ports[1]


@pytest.mark.timeout(300)
def test_charon_follows_our_new_nat_mapping(llnat: LlNat, tmp_path: Path) -> None:
    w, e = llnat.west, llnat.east
    ours = daemon(w, gateway_conf(
        w.addr, e.addr, w.net, e.net, active=True,
        general="DPD-check-interval=\t2\nNAT-T-Keepalive=\t2"), tmp_path, "nat")
    peer = charon(e, tmp_path, "nat")
    conn = lab.Conn(local_addrs=e.addr, remote_addrs="%any", remote_id=w.addr,
                    psk=PSK, children=[lab.Child(local_ts=e.net, remote_ts=w.net)])
    in_parallel(lambda: ours.start(60.0), lambda: peer.start(60.0))
    peer.load(conn)

    w_sas = wait_esp(w.ns, 2, (ours,))
    ike = peer.wait_for(ike="lab", child="net", timeout=60)
    assert ike.get("nat-remote") == "yes", ike
    assert ike.get("nat-local", "no") == "no", ike
    assert _in_range(int(ike["remote-port"]), FIRST_PORTS), ike
    child = child_of(ike)
    assert child.get("encap") == "yes", child
    assert spis_of(child) == {s.spi for s in w_sas}
    assert all(s.encap == (4500, 4500) for s in w_sas), w_sas
    ours.wait_log(r"NAT-T: \S+ \S+ floats to 172\.16\.1\.2:4500")
    e_sas = wait_esp(e.ns, 2, (ours,))
    [e_out] = [s for s in e_sas if s.dst == PUBLIC]
    [e_in] = [s for s in e_sas if s.src == PUBLIC]
    assert e_out.encap and _in_range(e_out.encap[1], FIRST_PORTS), e_out
    assert e_in.encap == (e_out.encap[1], 4500)

    cap_path = out_dir(tmp_path) / "ll-natt-charon-before.pcap"
    cap = llnat.capture(cap_path, "udp port 4500")
    try:
        res = ping(w, w.inner, e.inner)
        assert res.received == 3, res.output
        time.sleep(2.5)  # a keepalive interval
    finally:
        cap.stop()
    assert keepalives(cap_path) >= 1  # ours, from behind the NAT
    assert not [x for x in tcpdump_lines(cap_path) if "ICMP" in x]

    # the NAT forgets its mapping and maps west anew from another range; the
    # tunnel is quiet: our keepalives make the new mapping, and our next DPD
    # probe, from the new port, must reach charon and bring its answer back
    mark = ours.mark()
    llnat.remap()
    cap_path = out_dir(tmp_path) / "ll-natt-charon-after.pcap"
    cap = llnat.capture(cap_path, "udp port 4500")
    try:
        ours.wait_log(r"DPD: R-U-THERE-ACK \d+ from 192\.0\.2\.2", timeout=30,
                      since=mark)

        def moved_all(sas: list[EspSa]) -> bool:
            return all(s.encap and _in_range(max(s.encap), SECOND_PORTS)
                       for s in sas)

        moved = wait_esp(e.ns, 2, (ours,), timeout=30, check=moved_all)
        # the same SAs, carried to the new port
        assert {(s.spi, s.enc_key) for s in moved} == {
            (s.spi, s.enc_key) for s in e_sas}
        ike = peer.find_sa(ike="lab", child="net")
        assert ike is not None, peer.log()[-3000:]
        assert _in_range(int(ike["remote-port"]), SECOND_PORTS), ike
        assert spis_of(child_of(ike)) == {s.spi for s in w_sas}
        res = ping(w, w.inner, e.inner)
        assert res.received == 3, res.output
        res = ping(e, e.inner, w.inner)
        assert res.received == 3, res.output
    finally:
        cap.stop()
    assert "is dead" not in ours.log()
    assert re.search(r"remote endpoint changed from 192\.0\.2\.254\[40\d\d\d\] "
                     r"to 192\.0\.2\.254\[41\d\d\d\]", peer.log()), peer.log()
    # the ESP after the change: all of it from and to the new port
    esp = [x for x in tcpdump_lines(cap_path) if "ESP(spi=" in x]
    port = r"41\d\d\d"
    up = [x for x in esp if re.search(rf"{PUBLIC}\.{port} > {e.addr}\.4500:", x)]
    down = [x for x in esp if re.search(rf"{e.addr}\.4500 > {PUBLIC}\.{port}:", x)]
    assert (len(up), len(down)) == (6, 6), esp
    [w_out] = [s for s in w_sas if s.dst == e.addr]
    [w_in] = [s for s in w_sas if s.src == e.addr]
    print(f"\nNAT ours->charon: charon's SAs moved to port "
          f"{max(moved[0].encap or (0,))}; {len(up)} ESP up, {len(down)} down")
    # every ESP packet here is an echo or a reply: tshark decrypts them all
    record(out_dir(tmp_path), "ll-natt-charon", cap_path, [w_out, w_in], len(esp),
           addrs={w_out.spi: (PUBLIC, e.addr), w_in.spi: (e.addr, PUBLIC)})
    no_traceback(ours)
    assert ours.stop(timeout=30) == 0


# -- 3. IPv6 -------------------------------------------------------------------


def _v6_routes(pair: lab.NetnsPair) -> None:
    w, e = pair.west, pair.east
    for side, inner, peer, net in ((w, W6_INNER, e, E6_NET), (e, E6_INNER, w, W6_NET)):
        lab.run(None, "ip", "-n", side.ns, "-6", "addr", "add", f"{inner}/128",
                "dev", "lo", "nodad")
        lab.run(None, "ip", "-n", side.ns, "-6", "route", "add", net, "via",
                peer.addr6, "src", inner)


def _v6_tunnel(pair: lab.NetnsPair, ours: lab.Isakmpd, peer: lab.Charon,
               directory: Path, name: str, charon_initiated: bool) -> set[int]:
    w, e = pair.west, pair.east
    sas = wait_esp(w.ns, 2, (ours,))
    ike = peer.wait_for(ike="lab", child="net", timeout=60)
    assert ike.get("initiator", "no") == ("yes" if charon_initiated else "no")
    assert (ike["local-host"], ike["remote-host"]) == (e.addr6, w.addr6), ike
    child = child_of(ike)
    assert child["local-ts"] == [E6_NET] and child["remote-ts"] == [W6_NET], child
    assert spis_of(child) == {s.spi for s in sas}
    assert {(s.src, s.dst) for s in sas} == {(w.addr6, e.addr6), (e.addr6, w.addr6)}
    assert all(s.encap is None for s in sas)
    assert {s.spi for s in esp_states(e.ns)} == {s.spi for s in sas}
    flows = policies(w.ns)
    assert f"src {W6_NET} dst {E6_NET}" in flows, flows
    assert f"src {E6_NET} dst {W6_NET}" in flows, flows

    cap_path = directory / f"{name}.pcap"
    esp = pair.capture(cap_path, side="east", bpf="ip6 proto 50")
    clear = [pair.capture(directory / f"{name}-{side.name}-clear.pcap",
                          side=side.name, bpf=f"icmp6 and src host {inner}")
             for side, inner in ((w, W6_INNER), (e, E6_INNER))]
    try:
        for side, src, dst in ((w, W6_INNER, E6_INNER), (e, E6_INNER, W6_INNER)):
            res = ping(side, src, dst)
            assert res.received == 3, res.output
    finally:
        for cap in (esp, *clear):
            cap.stop()
    assert [c.captured for c in clear] == [0, 0], "ICMPv6 went out in clear"
    assert esp.captured == 12
    [to_east] = [s for s in sas if s.dst == e.addr6]
    [to_west] = [s for s in sas if s.dst == w.addr6]
    record(directory, name, cap_path, [to_east, to_west], 12, family="IPv6")
    return {s.spi for s in sas}


@pytest.mark.timeout(300)
def test_ipv6_tunnel_with_charon_both_roles(netns_pair: lab.NetnsPair,
                                            tmp_path: Path) -> None:
    lab.require_tool("tcpdump")
    pair, w, e = netns_pair, netns_pair.west, netns_pair.east
    _v6_routes(pair)
    directory = out_dir(tmp_path)
    ours = daemon(w, gateway_conf(w.addr6, e.addr6, W6_NET, E6_NET, active=False,
                                  v6=True), tmp_path, "v6")
    peer = charon(e, tmp_path, "v6")
    _, east_conn = lab.conn_pair(pair, ipv6=True, psk=PSK, local_ts=W6_NET,
                                 remote_ts=E6_NET)
    in_parallel(lambda: ours.start(60.0), lambda: peer.start(60.0))
    peer.load(east_conn)

    # we initiate (FIFO c on the passive connection)
    ours.fifo("c gw")
    first = _v6_tunnel(pair, ours, peer, directory, "ll-ipv6-charon-ours", False)

    # charon deletes, our kernel lets go; then charon initiates
    mark = ours.mark()
    peer.terminate(ike="lab", timeout=30)
    ours.wait_log(r"peer 2001:db8::2 deleted IPsec SA gw", since=mark, timeout=30)
    wait_esp(w.ns, 0, (ours,), timeout=30)
    assert policies(w.ns) == ""
    peer.initiate("net", timeout=60)
    second = _v6_tunnel(pair, ours, peer, directory, "ll-ipv6-charon-charon", True)
    assert not first & second
    no_traceback(ours)
    assert ours.stop(timeout=30) == 0
    assert esp_states(w.ns) == [] and policies(w.ns) == ""
