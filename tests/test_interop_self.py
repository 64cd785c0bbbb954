"""Our daemon against itself, with the shipped example configurations.

examples/west.conf and examples/east.conf use the harness's addresses (west
192.0.2.1, east 192.0.2.2), so they run unchanged in a namespace pair. With
``-n`` both ends negotiate without the kernel; without it, on this host's
kernel (no ESP), the daemons must say so once, keep the IKE SA, install the
flows and go on.
"""

from __future__ import annotations

import re
from pathlib import Path

import lab
import pytest
from lab import tshark
from test_interop_strongswan import (
    KEYS_DEBUG,
    assert_clean_log,
    count_lines,
    decrypt_from_log,
    our_ike_keys,
    our_keymats,
    report_sas,
    wait_report,
)

pytestmark = pytest.mark.netns

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _examples() -> tuple[str, str]:
    return (EXAMPLES / "west.conf").read_text(), (EXAMPLES / "east.conf").read_text()


def _pair(
    netns_pair, isakmpd_factory, args: tuple[str, ...]
) -> tuple[lab.Isakmpd, lab.Isakmpd]:
    west_conf, east_conf = _examples()
    # the responder first, so the initiator's first message finds it
    east = isakmpd_factory(netns_pair.east, east_conf, args=args)
    west = isakmpd_factory(netns_pair.west, west_conf, args=args)
    return west, east


@pytest.mark.timeout(60)
def test_examples_negotiate_with_each_other(
    netns_pair, isakmpd_factory, tmp_path
) -> None:
    lab.require_tool("tcpdump")
    lab.require_tool("tshark")
    cap = netns_pair.capture(tmp_path / "self.pcap", side="east")
    west, east = _pair(netns_pair, isakmpd_factory, KEYS_DEBUG)
    w_sas = wait_report(west)
    e_sas = wait_report(east)
    pcap = cap.stop()

    # both reports: one ISAKMP SA and one IPsec SA, same cookies, SPIs crossed
    (w1,) = [s for s in w_sas if s.phase == 1]
    (w2,) = [s for s in w_sas if s.phase == 2]
    (e1,) = [s for s in e_sas if s.phase == 1]
    (e2,) = [s for s in e_sas if s.phase == 2]
    assert (w1.role, w2.role, e1.role, e2.role) == (
        "Initiator",
        "Initiator",
        "Responder",
        "Responder",
    )
    assert (w1.name, e1.name, w2.name, e2.name) == (
        "peer-east",
        "peer-west",
        "west-east",
        "east-west",
    )
    assert w1.icookie == e1.icookie == w2.icookie == e2.icookie != ""
    assert w1.rcookie == e1.rcookie != "0" * 16
    assert len(w2.spis) == len(e2.spis) == 1
    (w_out, w_in), (e_out, e_in) = w2.spis[0], e2.spis[0]
    assert (w_out, w_in) == (e_in, e_out) and w_in != w_out
    for s in (w1, e1):
        assert "Encryption algorithm: AES (128 bits), hash: SHA, group: 14" in s.text
        assert "NAT-T" not in s.text or "not behind NAT, peer not behind" in s.text
    assert "Local ID: 10.1.0.0/24, Remote ID: 10.2.0.0/24" in w2.text
    assert "Local ID: 10.2.0.0/24, Remote ID: 10.1.0.0/24" in e2.text
    for s in (w2, e2):
        assert "PFS group: 14" in s.text
        assert "Encapsulation: tunnel\n" in s.text + "\n"  # no NAT: plain ESP

    # KEYMAT in on one side is KEYMAT out on the other, per SPI
    wk, ek = our_keymats(west.log()), our_keymats(east.log())
    assert len(wk) == len(ek) == 2
    w_by = {(k.spi, k.direction): k.keymat for k in wk}
    e_by = {(k.spi, k.direction): k.keymat for k in ek}
    assert set(w_by) == {(w_in, "in"), (w_out, "out")}
    assert w_by[(w_in, "in")] == e_by[(w_in, "out")]
    assert w_by[(w_out, "out")] == e_by[(w_out, "in")]
    assert len(w_by[(w_in, "in")]) == 16 + 20  # AES-128 key, HMAC-SHA1 key
    assert w_by[(w_in, "in")] != w_by[(w_out, "out")]

    # phase 1 keys agree; tshark reads every message with the key west logged
    wi, ei = our_ike_keys(west.log()), our_ike_keys(east.log())
    assert list(wi) == list(ei) == [w1.icookie]
    assert wi == ei
    counts = tshark.isakmp_exchanges(pcap)
    assert counts[tshark.MAIN] == 6 and counts[tshark.QUICK] == 3, counts
    decrypt = decrypt_from_log(west.log())
    assert tshark.assert_valid_isakmp(pcap, decrypt) == 9
    names = ["isakmp.id.data.ipv4_addr", "isakmp.id.data.ipv4_subnet"]
    rows = tshark.fields(pcap, names, "isakmp.exchangetype == 32", decrypt)
    pairs = [list(zip(r[names[0]], r[names[1]], strict=True)) for r in rows]
    want = [("10.1.0.0", "255.255.255.0"), ("10.2.0.0", "255.255.255.0")]
    assert pairs == [want, want, []], pairs
    # phase 1 IDs (message 5 and 6) decrypt to the gateways' addresses
    p1 = tshark.fields(
        pcap,
        ["isakmp.id.data.ipv4_addr"],
        "isakmp.exchangetype == 2 && isakmp.id.type",
        decrypt,
    )
    assert [r["isakmp.id.data.ipv4_addr"] for r in p1] == [["192.0.2.1"], ["192.0.2.2"]]
    for d in (west, east):
        assert_clean_log(d)


def _xfrm_policies(side: lab.Side) -> str:
    return lab.run(side, "ip", "xfrm", "policy").stdout


@pytest.mark.timeout(60)
def test_kernel_without_esp(netns_pair, isakmpd_factory) -> None:
    """Without -n on a kernel without ESP: said once, IKE SA kept, flows
    installed, the report notes that the kernel SA is missing."""
    if netns_pair.kernel_has_esp():
        pytest.skip("this kernel has ESP")
    west, east = _pair(netns_pair, isakmpd_factory, ())
    for d in (west, east):
        sas = wait_report(d)
        (p2,) = [s for s in sas if s.phase == 2]
        assert "Kernel: not installed (kernel lacks ESP)" in p2.text, p2.text
        (p1,) = [s for s in sas if s.phase == 1]
        assert "state: established" in p1.text
    for side, mine, theirs in (
        (netns_pair.west, "10.1.0.0/24", "10.2.0.0/24"),
        (netns_pair.east, "10.2.0.0/24", "10.1.0.0/24"),
    ):
        pol = _xfrm_policies(side)
        assert re.search(rf"src {mine} dst {theirs}\s*\n\s*dir out", pol), pol
        assert re.search(rf"src {theirs} dst {mine}\s*\n\s*dir in", pol), pol
        assert re.search(rf"src {theirs} dst {mine}\s*\n\s*dir fwd", pol), pol
        assert "proto esp" in pol and "mode tunnel" in pol
        # no SA: neither the larval SA of our SPI nor the negotiated ones
        assert lab.run(side, "ip", "xfrm", "state").stdout.strip() == ""

    # a second negotiation of the same connection: still said only once
    mark = west.mark()
    west.fifo("t west-east")
    lab.wait_until(lambda: not report_sas(west, phase=2), 5, "teardown")
    west.fifo("c west-east")
    west.wait_log(r"IPsec SA west-east established", since=mark)
    wait_report(west)
    for d in (west, east):
        log = d.log()
        said = count_lines(log, r"^\S+ Default .*kernel (?:has no ESP|lacks ESP)")
        assert said == 1, log
        assert_clean_log(d)
        assert d.alive()
    # flows are shared by the new SA; still one set of policies per direction
    pol = _xfrm_policies(netns_pair.west)
    assert len(re.findall(r"dir out", pol)) == 1, pol

    # a clean stop removes the flows
    for d in (west, east):
        assert d.stop() == 0
    for side in (netns_pair.west, netns_pair.east):
        assert "10.1.0.0/24" not in _xfrm_policies(side)
