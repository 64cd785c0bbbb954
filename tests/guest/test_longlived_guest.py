"""Long-lived tunnels on a real kernel, inside the qemu VM (tools/vm/run.sh).

1. Rekeys: phase-2 SAs of 30 s and ISAKMP SAs of 60 s, renegotiated before
   they expire (isakmpd.lifecycle: 8 s before, at these short lifetimes),
   while a ping every 0.2 s goes through the tunnel for 75 s: at least
   three phase-2 rekeys and one phase-1 rekey, and no echo lost. Against
   our own daemon and, at the same time in another pair of namespaces,
   against strongSwan's charon (kernel-netlink), whose own CHILD_SA rekey
   and life times are short too.
2. ACQUIRE: a passive connection with ``Flags= ondemand`` has its flows
   installed at start-up; the first packet that matches them makes the
   kernel ask for an SA, and the tunnel comes up by itself. Against our
   daemon, and against charon in both directions (charon's
   ``start_action = trap`` is the same thing on its side).

At most one lost echo would be tolerated in (1): the old SA is kept until
DRAIN seconds after the switch and the new one's inbound half is in place
before either end sends on it (our responder installs it with Quick Mode
message 2, and our initiator switches SWITCH_DELAY seconds after message
3), so none is expected; one packet in flight exactly as charon replaces a
kernel state could still go. In (2) the packets sent before the SA exists
are dropped by the kernel (its larval SA drops them), so only the later
ones are counted.

Each group runs its two pairs of namespaces side by side, to keep the time
under TCG down. Skipped outside the VM (run.sh sets ISAKMPD_IN_VM=1).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lab
import pytest
from test_tunnel_guest import (
    add_routes,
    example,
    make_daemon,
    start_all,
    wait_sas,
    xfrm_states,
)

pytestmark = [
    pytest.mark.vm,
    pytest.mark.netns,
    lab.in_vm_only,
]

#: the ping of the rekey test: one echo every 0.2 s for 75 s
PING_INTERVAL, PING_SECONDS = 0.2, 75
P2_LIFE, P1_LIFE = 30, 60
SHORT = f"""
[P1-LONGLIVED]
ENCRYPTION_ALGORITHM=\tAES_CBC
KEY_LENGTH=\t\t128
HASH_ALGORITHM=\t\tSHA
AUTHENTICATION_METHOD=\tPRE_SHARED
GROUP_DESCRIPTION=\tMODP_2048
Life=\t\t\tP1-LIFE

[P1-LIFE]
LIFE_TYPE=\t\tSECONDS
LIFE_DURATION=\t\t{P1_LIFE},10:86400

[QM-LONGLIVED-SUITE]
Protocols=\t\tQM-LONGLIVED-ESP

[QM-LONGLIVED-ESP]
PROTOCOL_ID=\t\tIPSEC_ESP
Transforms=\t\tQM-LONGLIVED-XF

[QM-LONGLIVED-XF]
TRANSFORM_ID=\t\tAES
KEY_LENGTH=\t\t128
ENCAPSULATION_MODE=\tTUNNEL
AUTHENTICATION_ALGORITHM=\tHMAC_SHA
GROUP_DESCRIPTION=\tMODP_2048
Life=\t\t\tP2-LIFE

[P2-LIFE]
LIFE_TYPE=\t\tSECONDS
LIFE_DURATION=\t\t{P2_LIFE},10:86400
"""
ONDEMAND = ("Configuration", "Configuration=\tquick-mode-aes\nFlags=\t\tondemand")


def out_dir(tmp_path: Path) -> Path:
    """Where the captures and the daemons' files go: the VM's share, so
    that they outlive the VM."""
    return Path(os.environ.get("ISAKMPD_VM_OUT") or tmp_path)


def short_lived(side: str, *edits: tuple[str, str | None]) -> str:
    """An example configuration with 30 s phase-2 and 60 s phase-1 SAs."""
    text = example(side, ("Transforms", "P1-LONGLIVED"),
                   ("Suites", "QM-LONGLIVED-SUITE"), *edits)
    return text + SHORT


def ondemand_west() -> str:
    """West's example, waiting for traffic on its on-demand connection."""
    text = example("west", ("Connections", "Passive-connections=\twest-east"))
    # the connection section's own Configuration line (the peer's comes first)
    head, sep, tail = text.partition("[west-east]")
    tail, n = re.subn(r"^Configuration=.*$", ONDEMAND[1], tail, count=1,
                      flags=re.MULTILINE)
    assert sep and n == 1
    return head + sep + tail


def in_parallel(*jobs: Callable[[], None]) -> None:
    with ThreadPoolExecutor(len(jobs)) as pool:
        for f in [pool.submit(j) for j in jobs]:
            f.result()


def clear_icmp_watch(pair: lab.NetnsPair, directory: Path, name: str):
    """Captures: ESP on east's veth end, and ICMP that a gateway sends from
    its protected address in clear (must stay none; the ESP a gateway
    decrypts shows up on its veth in clear too, from the other's address)."""
    esp = pair.capture(directory / f"{name}-esp.pcap", side="east", bpf="esp")
    clear = [pair.capture(directory / f"{name}-{s.name}-clear.pcap", side=s.name,
                          bpf=f"icmp and src host {s.inner}")
             for s in (pair.west, pair.east)]
    return esp, clear


def missing(res: lab.PingResult) -> list[int]:
    """The echo sequence numbers that got no reply (for the log)."""
    got = {int(n) for n in re.findall(r"icmp_seq=(\d+)", res.output)}
    return [n for n in range(1, res.transmitted + 1) if n not in got]


def long_ping(pair: lab.NetnsPair) -> lab.PingResult:
    w, e = pair.west, pair.east
    count = int(PING_SECONDS / PING_INTERVAL)
    return lab.ping(w, w.inner, e.inner, count=count, interval=PING_INTERVAL, wait=2)


def keep_logs(directory: Path, name: str, *logs: Path) -> None:
    """The daemons' logs, into the VM's share (for a look after a failure)."""
    for i, path in enumerate(logs):
        try:
            (directory / f"{name}-{i}-{path.name}").write_bytes(path.read_bytes())
        except OSError:
            pass


def count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text))


def esp_spis(pcap: Path) -> set[int]:
    out = lab.run(None, "tcpdump", "-r", str(pcap), "-n", check=False).stdout
    return {int(s, 16) for s in re.findall(r"ESP\(spi=(0x[0-9a-f]+)", out)}


# -- 1. rekeys -----------------------------------------------------------------


def _rekeys_ours(tmp: Path, directory: Path) -> None:
    with lab.NetnsPair() as pair:
        add_routes(pair)
        west = make_daemon(pair.west, short_lived("west"), tmp, "ll")
        east = make_daemon(pair.east, short_lived("east"), tmp, "ll")
        try:
            start_all(east, west)
            wait_sas(pair.west, 2, (west, east))
            esp, clear = clear_icmp_watch(pair, directory, "longlived-ours")
            started = time.monotonic()
            res = long_ping(pair)
            took = time.monotonic() - started
            for cap in (esp, *clear):
                cap.stop()
            w_log, e_log = west.log(), east.log()
            lost = res.transmitted - res.received
            print(f"\nours<->ours: {res.transmitted} echoes in {took:.0f} s, {lost} "
                  f"lost {missing(res)}; {count('renegotiating IPsec SA', w_log)} "
                  f"phase-2 and {count('renegotiating ISAKMP SA', w_log)} phase-1 "
                  "rekeys")
            assert lost <= 1, res.output
            assert [c.captured for c in clear] == [0, 0], "ICMP went out in clear"
            assert count(r"renegotiating IPsec SA west-east", w_log) >= 3, w_log
            assert count(r"renegotiating ISAKMP SA", w_log) >= 1, w_log
            assert count(r"IPsec SA east-west established", e_log) >= 4
            # the SAs replaced went with a DELETE, after the new ones
            assert count(r"peer 192\.0\.2\.1 deleted IPsec SA east-west", e_log) >= 3
            # the replaced ISAKMP SA goes at its hard lifetime, with a DELETE
            # from whichever side's timer runs out first (when both run out
            # together, each has deleted it before the other's DELETE comes)
            assert (count(r"deleting ISAKMP SA .* with \S+: expired", w_log + e_log)
                    + count(r"peer 192\.0\.2\.1 deleted ISAKMP SA", e_log)
                    + count(r"peer 192\.0\.2\.2 deleted ISAKMP SA", w_log)) >= 1
            assert len(esp_spis(esp.path)) >= 8  # 4 SAs or more, both ways
            # no SA piles up in either kernel: one pair, two during a hand-over
            for side in (pair.west, pair.east):
                n = len([s for s in xfrm_states(side) if s.proto == "esp"])
                assert 2 <= n <= 4, xfrm_states(side)
            assert west.stop(timeout=30) == 0 and east.stop(timeout=30) == 0
        finally:
            west.stop()
            east.stop()
            keep_logs(directory, "longlived-ours", west.log_path, east.log_path)


def _rekeys_charon(tmp: Path, directory: Path) -> None:
    with lab.NetnsPair() as pair:
        add_routes(pair)
        ours = make_daemon(pair.west, short_lived(
            "west", ("Authentication", lab.DEFAULT_PSK)), tmp, "llsw")
        _, east_conn = lab.conn_pair(
            pair, proposals="aes128-sha1-modp2048",
            esp_proposals="aes128-sha1-modp2048", child_rekey_time="25s",
            life_time="35s", rekey_time="0", reauth_time="0")
        charon = lab.Charon(pair.east, tmp / "charon-ll", kernel="netlink")
        try:
            in_parallel(lambda: ours.start(60.0), lambda: charon.start(60.0))
            charon.load(east_conn)
            wait_sas(pair.west, 2, (ours,))
            charon.wait_for(ike="lab", child="net", timeout=60)
            esp, clear = clear_icmp_watch(pair, directory, "longlived-charon")
            res = long_ping(pair)
            for cap in (esp, *clear):
                cap.stop()
            log, clog = ours.log(), charon.log()
            lost = res.transmitted - res.received
            established = count(r"IPsec SA west-east established", log)
            print(f"\nours<->charon: {res.transmitted} echoes, {lost} lost "
                  f"{missing(res)}; {established} IPsec SAs, "
                  f"{count('renegotiating ISAKMP SA', log)} phase-1 rekeys")
            assert lost <= 1, res.output
            assert [c.captured for c in clear] == [0, 0], "ICMP went out in clear"
            assert established >= 4, log  # the first and three rekeys
            assert count(r"renegotiating ISAKMP SA", log) >= 1, log
            assert count(r"ISAKMP SA \S+ \S+ established", log) >= 2
            assert len(esp_spis(esp.path)) >= 8
            # charon kept its CHILD_SAs through our ISAKMP SA's expiry
            sa = charon.find_sa(ike="lab", child="net")
            assert sa is not None, clog[-3000:]
            assert ours.stop(timeout=30) == 0
        finally:
            ours.stop()
            charon.stop()
            keep_logs(directory, "longlived-charon", ours.log_path, charon.log_path)


@pytest.mark.strongswan
@pytest.mark.timeout(400)
def test_rekeys_keep_a_ping_going(tmp_path: Path) -> None:
    lab.require_netns()
    lab.require_tool("tcpdump")
    lab.require_strongswan()
    directory = out_dir(tmp_path)
    in_parallel(lambda: _rekeys_ours(tmp_path, directory),
                lambda: _rekeys_charon(tmp_path, directory))


# -- 2. ACQUIRE ----------------------------------------------------------------


def _ping_comes_through(src: lab.Side, dst: lab.Side, count_: int = 10) -> int:
    res = lab.ping(src, src.inner, dst.inner, count=count_, interval=0.5, wait=3)
    # the first echoes meet the larval SA; the last ones must pass
    assert res.received >= count_ // 2, res.output
    return res.received


def _acquire_ours(tmp: Path) -> None:
    with lab.NetnsPair() as pair:
        add_routes(pair)
        west = make_daemon(pair.west, ondemand_west(), tmp, "acq")
        east = make_daemon(pair.east, example("east"), tmp, "acq")
        try:
            start_all(east, west)
            west.wait_log(r"on-demand flows of west-east installed", timeout=60)
            assert xfrm_states(pair.west) == []  # nothing negotiated yet
            out = lab.run(pair.west, "ip", "xfrm", "policy").stdout
            reqid = re.search(r"tmpl src 192\.0\.2\.1 dst 192\.0\.2\.2\s+proto esp "
                              r"reqid (\d+)", out)
            assert reqid, out
            got = _ping_comes_through(pair.west, pair.east)
            west.wait_log(r"ACQUIRE for .*: connection west-east", timeout=5)
            sas = wait_sas(pair.west, 2, (west, east))  # and no larval SA left
            text = lab.run(pair.west, "ip", "xfrm", "state").stdout
            assert f"reqid {reqid.group(1)} mode tunnel" in text
            print(f"\nACQUIRE ours<->ours: {got}/10 echoes; SAs {sorted(sas)}")
            assert west.stop(timeout=30) == 0 and east.stop(timeout=30) == 0
        finally:
            west.stop()
            east.stop()


def _acquire_charon(tmp: Path) -> None:
    with lab.NetnsPair() as pair:
        add_routes(pair)
        ours = make_daemon(pair.west, ondemand_west().replace(
            "change-this-to-the-same-long-random-secret-on-both", lab.DEFAULT_PSK),
            tmp, "acqsw")
        _, east_conn = lab.conn_pair(
            pair, proposals="aes128-sha1-modp2048",
            esp_proposals="aes128-sha1-modp2048", start_action="trap")
        charon = lab.Charon(pair.east, tmp / "charon-acq", kernel="netlink")
        try:
            in_parallel(lambda: ours.start(60.0), lambda: charon.start(60.0))
            charon.load(east_conn)
            ours.wait_log(r"on-demand flows of west-east installed", timeout=60)
            # west's traffic: our ACQUIRE, we initiate
            got = _ping_comes_through(pair.west, pair.east)
            ike = charon.wait_for(ike="lab", child="net", timeout=60)
            assert ike.get("initiator", "no") == "no"
            wait_sas(pair.west, 2, (ours,))
            # charon deletes; east's traffic: charon's ACQUIRE, charon initiates
            mark = ours.mark()
            charon.terminate(ike="lab", timeout=30)
            ours.wait_log(r"peer 192\.0\.2\.2 deleted IPsec SA west-east", since=mark,
                          timeout=30)
            wait_sas(pair.west, 0, (ours,), timeout=30)
            back = _ping_comes_through(pair.east, pair.west)
            ike = charon.wait_for(ike="lab", child="net", timeout=60)
            assert ike.get("initiator", "no") == "yes"
            wait_sas(pair.west, 2, (ours,))
            print(f"\nACQUIRE ours<->charon: {got}/10 echoes west->east, "
                  f"{back}/10 east->west")
            assert ours.stop(timeout=30) == 0
        finally:
            ours.stop()
            charon.stop()


@pytest.mark.strongswan
@pytest.mark.timeout(300)
def test_acquire_brings_the_tunnel_up(tmp_path: Path) -> None:
    lab.require_netns()
    lab.require_strongswan()
    in_parallel(lambda: _acquire_ours(tmp_path), lambda: _acquire_charon(tmp_path))
