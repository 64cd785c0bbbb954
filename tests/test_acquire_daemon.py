"""Kernel-driven negotiation on this host: our daemon gets the kernel's
ACQUIRE for a packet that hits a policy and negotiates with our other
daemon; an EXPIRE of the kernel's larval SA does no harm.

This kernel has no ESP, so the SAs cannot go into it (the daemons say so
and keep their IKE SAs): what is checked is the negotiation the ACQUIRE
starts, the policies, and the connection made on the fly. The traffic that
hits the policy is a ping from west's protected address over the veth (the
kernel sends no ACQUIRE for traffic on ``lo``). Tunnels that carry traffic
are checked in the qemu VM (tests/guest/test_longlived_guest.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import lab
import pytest
from test_kernel_netns import write_sysctl

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parents[1]
SUITE = "QM-ESP-AES-128-SHA-PFS-GRP14-SUITE"


def example(side: str, *edits: tuple[str, str], general: str = "") -> str:
    """examples/<side>.conf with ``(old line start, new text)`` edits and
    lines added to [General]."""
    text = (ROOT / "examples" / f"{side}.conf").read_text()
    text = text.replace("change-this-to-the-same-long-random-secret-on-both",
                        lab.DEFAULT_PSK)
    if general:
        text = text.replace("[General]\n", f"[General]\n{general}\n", 1)
    for old, new in edits:
        text, n = re.subn(rf"^{re.escape(old)}.*$", new, text, count=1,
                          flags=re.MULTILINE)
        assert n == 1, old
    return text


def route(pair: lab.NetnsPair) -> None:
    """West reaches east's protected net over the veth, from its own."""
    w, e = pair.west, pair.east
    lab.run(None, "ip", "-n", w.ns, "route", "add", e.net, "via", e.addr, "src",
            w.inner)


def policies(side: lab.Side) -> str:
    """``ip xfrm policy`` without the IKE sockets' bypass policies."""
    entries: list[str] = []
    for line in lab.run(side, "ip", "xfrm", "policy").stdout.splitlines():
        if line and not line[0].isspace():
            entries.append(line)
        elif entries:
            entries[-1] += "\n" + line
    return "\n".join(e for e in entries if not re.search(r"socket (in|out)", e))


def poke(side: lab.Side, dst: str, src: str) -> None:
    """One packet that hits the policy (no answer is expected)."""
    lab.ping(side, src, dst, count=1, wait=1)


@pytest.mark.parametrize("args", [[], ["--no-privsep"]], ids=["privsep", "one-process"])
def test_acquire_on_an_ondemand_connection_negotiates(netns_pair, isakmpd_factory,
                                                      args):
    """With privilege separation the parent reads the kernel's messages and
    passes them on to the child; without, the daemon reads them itself."""
    pair = netns_pair
    route(pair)
    # west waits for traffic: a passive connection whose flows go in at start
    west_conf = example("west", ("Connections=", "Passive-connections=\twest-east"),
                        ("Configuration=\t\tquick-mode-aes",
                         "Configuration=\t\tquick-mode-aes\nFlags=\t\t\tondemand"))
    east = isakmpd_factory(pair.east, example("east"))
    west = isakmpd_factory(pair.west, west_conf, args=args)
    west.wait_log(r"on-demand flows of west-east installed", timeout=15)
    text = policies(pair.west)
    assert "src 10.1.0.0/24 dst 10.2.0.0/24" in text and "dir out" in text
    assert re.search(r"tmpl src 192\.0\.2\.1 dst 192\.0\.2\.2\s+proto esp reqid "
                     r"(\d+) mode tunnel", text)
    reqid = re.search(r"reqid (\d+)", text).group(1)
    assert not re.search(r"Main Mode|ISAKMP SA", west.log())  # nothing yet
    mark, emark = west.mark(), east.mark()
    poke(pair.west, pair.east.inner, pair.west.inner)
    # the ping's own flow (ICMP echo), then the policy it hit
    west.wait_log(rf"ACQUIRE for 10\.1\.0\.1/32 -> 10\.2\.0\.1/32 proto 1 ports 8->0 "
                  rf"\(policy 10\.1\.0\.0/24 -> 10\.2\.0\.0/24, 192\.0\.2\.1 -> "
                  rf"192\.0\.2\.2, reqid {reqid}\): connection west-east", since=mark,
                  timeout=15)
    west.wait_log(r"IPsec SA west-east established with 192\.0\.2\.2", since=mark,
                  timeout=30)
    east.wait_log(r"IPsec SA east-west established with 192\.0\.2\.1", since=emark,
                  timeout=30)
    # the configured connection was used: nothing was made up
    assert "made for it" not in west.log()[mark:]
    # more packets while it is up start nothing new
    poke(pair.west, pair.east.inner, pair.west.inner)
    assert len(re.findall(r"IPsec SA west-east established", west.log())) == 1


def test_acquire_for_a_flow_of_others_builds_a_connection(netns_pair, isakmpd_factory):
    """-a: the policy is someone else's (reqid 77); west has no connection
    for it, only a [Phase 1] peer for the destination."""
    pair = netns_pair
    route(pair)
    lab.run(pair.west, "ip", "xfrm", "policy", "add", "src", "10.1.0.0/24", "dst",
            "10.2.0.0/24", "dir", "out", "tmpl", "src", "192.0.2.1", "dst",
            "192.0.2.2", "proto", "esp", "reqid", "77", "mode", "tunnel")
    before = policies(pair.west)
    west_conf = example("west", ("Connections=", ""),
                        general=f"Default-phase-2-suites=\t{SUITE}")
    east = isakmpd_factory(pair.east, example("east"))
    west = isakmpd_factory(pair.west, west_conf, args=["-a"])
    mark, emark = west.mark(), east.mark()
    poke(pair.west, pair.east.inner, pair.west.inner)
    west.wait_log(r"reqid 77\): connection Connection-0 made for it", since=mark,
                  timeout=15)
    west.wait_log(r"IPsec SA Connection-0 established with 192\.0\.2\.2", since=mark,
                  timeout=30)
    east.wait_log(r"IPsec SA east-west established with 192\.0\.2\.1", since=emark,
                  timeout=30)
    for tag, want in (("Local-ID", "from-10.1.0.0/24"), ("Remote-ID", "to-10.2.0.0/24"),
                      ("ISAKMP-peer", "peer-east"), ("Flags", "__ondemand")):
        west.fifo(f"C get [Connection-0]:{tag}")
        lab.wait_until(lambda: west.result_path.exists()
                       and west.result_path.read_text().strip() == want, 5,
                       f"[Connection-0]:{tag} = {want}")
        west.result_path.unlink()
    # -a: the policies are left alone
    assert policies(pair.west) == before


def test_expire_of_the_larval_sa_is_harmless(netns_pair, isakmpd_factory):
    """The kernel's acquire state expires after a second here: its EXPIRE
    reaches the daemon, which has no such SA and goes on."""
    pair = netns_pair
    route(pair)
    write_sysctl(pair.west.ns, "net/core/xfrm_acq_expires", "1")
    west_conf = example("west", ("Connections=", "Passive-connections=\twest-east"),
                        ("Configuration=\t\tquick-mode-aes",
                         "Configuration=\t\tquick-mode-aes\nFlags=\t\t\tondemand"))
    # no east: the negotiation goes nowhere, the acquire state expires
    west = isakmpd_factory(pair.west, west_conf, args=["-D", "5=30"])
    west.wait_log(r"on-demand flows of west-east installed", timeout=15)
    mark = west.mark()
    poke(pair.west, pair.east.inner, pair.west.inner)
    west.wait_log(r"ACQUIRE for 10\.1\.0\.1/32", since=mark, timeout=15)
    west.wait_log(r"hard EXPIRE from the kernel for SA 00000000 192\.0\.2\.1->"
                  r"192\.0\.2\.2 \(protocol 50\): none of our SAs", since=mark,
                  timeout=15)
    assert west.alive()
    # and the daemon still answers
    west.fifo("c west-east")
    assert west.alive()
