"""The test lab proves itself: namespaces, capture, strongSwan <-> strongSwan
IKEv1 with key extraction and tshark decryption, and the daemon runner."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import struct
import sys
import textwrap
from pathlib import Path

import pytest

import lab
from lab import tshark
from lab.netns import _b36, netns_list, netns_pids

PSK_AES = {"proposals": "aes128-sha1-modp2048", "esp_proposals": "aes128-sha1-modp2048"}
PSK_3DES = {"proposals": "3des-sha1-modp1024", "esp_proposals": "3des-sha1-modp1024"}


# -- namespaces and capture ------------------------------------------------


@pytest.mark.netns
@pytest.mark.timeout(60)
def test_netns_pair_layout(netns_pair: lab.NetnsPair) -> None:
    w, e = netns_pair.west, netns_pair.east
    assert w.ns != e.ns and w.ns in netns_list() and e.ns in netns_list()
    for s in (w, e):
        assert s.ns.startswith("lab-") and s.ifname.startswith("lab-")
        assert len(s.ifname) <= 15
    addrs = lab.run(w, "ip", "-o", "addr", "show").stdout
    for a in ("192.0.2.1/24", "2001:db8::1/64", "10.1.0.1/32"):
        assert a in addrs
    assert lab.ping(w, w.addr, e.addr, count=2).ok
    assert lab.ping(e, e.addr6, w.addr6, count=2).ok
    # no tunnel yet: the protected subnets are not routed
    assert not lab.ping(w, w.inner, e.inner, count=1, wait=0.5).ok
    with pytest.raises(lab.LabError, match="exit status"):
        lab.run(w, "false")


@pytest.mark.netns
@pytest.mark.timeout(60)
def test_netns_close_stops_processes_and_stale_cleanup() -> None:
    lab.require_netns()
    with lab.NetnsPair() as pair:
        proc = lab.popen(pair.west, ["sleep", "60"])
        lab.wait_until(lambda: proc.pid in netns_pids(pair.west.ns), 5, "setns")
        names = (pair.west.ns, pair.east.ns)
    assert proc.wait(timeout=5) != 0
    assert not set(names) & set(netns_list())

    # a namespace named for a PID that cannot exist is stale; a live one is not
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    stale = f"lab-{_b36(pid_max + 1)}-{_b36(os.getpid() % 36**3)}-west"
    lab.run(None, "ip", "netns", "add", stale)
    try:
        with lab.NetnsPair() as live:
            removed = lab.cleanup_stale()
            # (a concurrent test session may have removed it first)
            assert stale not in netns_list()
            assert live.west.ns in netns_list() and live.west.ns not in removed
    finally:
        lab.run(None, "ip", "netns", "del", stale, check=False)
    assert stale not in netns_list()


@pytest.mark.netns
@pytest.mark.timeout(60)
def test_capture_keeps_every_packet(netns_pair: lab.NetnsPair, tmp_path: Path) -> None:
    lab.require_tool("tcpdump")
    lab.require_tool("tshark")
    w, e = netns_pair.west, netns_pair.east
    cap = netns_pair.capture(tmp_path / "icmp.pcap", side="east", bpf="icmp")
    assert lab.ping(w, w.addr, e.addr, count=4, interval=0.05).ok
    pcap = cap.stop()
    assert cap.captured == cap.received == 8
    types = [r["icmp.type"] for r in tshark.fields(pcap, ["icmp.type"])]
    assert types == [["8"], ["0"]] * 4


# -- tshark checks on hand-made packets -------------------------------------


def _isakmp_header(length: int, exchange: int = 2, next_payload: int = 0) -> bytes:
    return (
        bytes.fromhex("0011223344556677")
        + bytes(8)
        + struct.pack("!BBBBII", next_payload, 0x10, exchange, 0, 0, length)
    )


def test_tshark_flags_malformed_isakmp(tmp_path: Path) -> None:
    lab.require_tool("tshark")
    good = tmp_path / "good.pcap"
    tshark.write_udp_pcap(
        good,
        [
            ("192.0.2.1", "192.0.2.2", 500, 500, _isakmp_header(28)),
            ("2001:db8::1", "2001:db8::2", 4500, 4500, bytes(4) + _isakmp_header(28)),
        ],
    )
    assert tshark.assert_valid_isakmp(good) == 2
    assert tshark.isakmp_exchanges(good) == {tshark.MAIN: 2}

    bad = tmp_path / "bad.pcap"
    # the SA payload announced by the header is cut off after two bytes
    cut = _isakmp_header(34, next_payload=1) + b"\x00\x00\x00\x0c\x00\x00"
    tshark.write_udp_pcap(bad, [("192.0.2.1", "192.0.2.2", 500, 500, cut)])
    assert [m["frame"] for m in tshark.malformed(bad)] == [1]
    with pytest.raises(AssertionError, match="malformed"):
        tshark.assert_valid_isakmp(bad)


# -- strongSwan <-> strongSwan ----------------------------------------------

SCENARIOS = {
    "mm-psk-aes128": ({**PSK_AES}, tshark.MAIN, 6),
    "mm-psk-3des": ({**PSK_3DES}, tshark.MAIN, 6),
    "am-psk-aes128": (
        {
            **PSK_AES,
            "aggressive": True,
            "local_id": "west@lab.example",
            "remote_id": "east@lab.example",
        },
        tshark.AGGRESSIVE,
        3,
    ),  # fmt: skip
    "mm-rsa-aes128": ({**PSK_AES, "pki": True}, tshark.MAIN, 6),
}


def _decrypted_ids(pcap: Path, decrypt: list[str]) -> set[str]:
    rows = tshark.fields(pcap, ["isakmp.id.data.ipv4_addr"], "isakmp", decrypt)
    return {a for r in rows for a in r["isakmp.id.data.ipv4_addr"]}


def _check_rfc2409_phase1(ike: lab.IkeKeys, key_len: int) -> None:
    """The parsed values are consistent: SKEYID_d/a/e and Ka follow from
    SKEYID, g^xy and the cookies (RFC 2409 section 5 and appendix B)."""

    def prf(key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, hashlib.sha1).digest()

    cookies = bytes.fromhex(ike.icookie + ike.rcookie)
    d = prf(ike.skeyid, ike.dh_secret + cookies + b"\0")
    a = prf(ike.skeyid, d + ike.dh_secret + cookies + b"\1")
    e = prf(ike.skeyid, a + ike.dh_secret + cookies + b"\2")
    assert (d, a, e) == (ike.skeyid_d, ike.skeyid_a, ike.skeyid_e)
    ka = e
    if len(e) < key_len:
        block = prf(e, b"\0")
        ka = block
        while len(ka) < key_len:
            block = prf(e, block)
            ka += block
    assert ike.ka == ka[:key_len]


def _strongswan_pair(
    scenario: str, kernel: str, pair: lab.NetnsPair, charon_factory, tmp_path: Path
) -> None:
    """Run one scenario west -> east and check SAs, wire, keys, decryption."""
    lab.require_tool("tcpdump")
    lab.require_tool("tshark")
    params, phase1, phase1_msgs = SCENARIOS[scenario]
    params = dict(params)
    if params.pop("pki", False):
        params["pki"] = lab.make_pki(tmp_path / "pki")
    encap = kernel == "libipsec"  # libipsec does only UDP-encapsulated ESP
    w, e = pair.west, pair.east
    west_conn, east_conn = lab.conn_pair(pair, **params)
    west = charon_factory(w, keylog=True, kernel=kernel)
    east = charon_factory(e, keylog=True, kernel=kernel)
    west.load(west_conn)
    east.load(east_conn)

    cap = pair.capture(tmp_path / f"{scenario}.pcap", side="east")
    west.initiate("net", timeout=10)
    for c in (west, east):
        sa = c.wait_for(ike="lab", child="net", timeout=10)
        assert sa["state"] == "ESTABLISHED" and sa["version"] == "1"
        (child,) = sa["children"]
        assert child["state"] == "INSTALLED" and child["mode"] == "TUNNEL"
        assert child.get("encap", "no") == ("yes" if encap else "no")
        want = "AES_CBC" if "aes" in scenario else "3DES_CBC"
        assert sa["encr-alg"] == child["encr-alg"] == want
    ping = lab.ping(w, w.inner, e.inner, count=3)
    assert ping.ok, ping.output
    pcap = cap.stop()

    # the wire: Phase 1, three Quick Mode messages, ESP (in UDP 4500)
    counts = tshark.isakmp_exchanges(pcap)
    assert counts[phase1] == phase1_msgs
    # Aggressive Mode: charon may answer QM1 late and get it retransmitted
    assert 3 <= counts[tshark.QUICK] <= (4 if phase1 == tshark.AGGRESSIVE else 3)
    esp = tshark.esp_packets(pcap)
    assert len(esp) == 6
    port = 4500 if encap else None
    assert all(p["sport"] == p["dport"] == port for p in esp)
    tshark.assert_valid_isakmp(pcap)

    # both ends derived the same keys
    wk, ek = west.keys(), east.keys()
    (icookie,) = wk.ike
    assert icookie == sa["initiator-spi"]
    assert wk.ike == ek.ike
    ike = wk.ike[icookie]
    _check_rfc2409_phase1(ike, 16 if "aes" in scenario else 24)
    assert len(wk.child) == len(ek.child) == 2
    for k in wk.child:
        peer = ek.by_spi(k.spi)
        assert peer.keys() == k.keys()
        assert {peer.direction, k.direction} == {"in", "out"}
        assert k.icookie == icookie and len(k.pfs_secret) == len(ike.dh_secret)
    spis_out = {k.spi for k in wk.child if k.direction == "out"}
    assert spis_out == {p["spi"] for p in esp if p["src"] == w.addr}

    # tshark decrypts IKE (Quick Mode IDs) and ESP (ICMP) with those keys
    assert _decrypted_ids(pcap, []) == set()
    decrypt = lab.wireshark_tables(wk)
    ids = _decrypted_ids(pcap, decrypt)
    assert {"10.1.0.0", "10.2.0.0"} <= ids
    tshark.assert_valid_isakmp(pcap, decrypt)
    icmp = tshark.decrypted_icmp(pcap, decrypt)
    assert [(p["src"], p["dst"], p["type"]) for p in icmp] == [
        (w.inner, e.inner, 8),
        (e.inner, w.inner, 0),
    ] * 3
    assert all(p["icv_good"] for p in icmp)
    assert tshark.decrypted_icmp(pcap, lab.wireshark_tables(wk.ike.values())) == []

    west.terminate(ike="lab")
    east.wait_log(r"deleting IKE_SA lab\[\d+\]")


@pytest.mark.netns
@pytest.mark.strongswan
@pytest.mark.timeout(60)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_strongswan_pair(
    scenario: str, netns_pair: lab.NetnsPair, charon_factory, tmp_path: Path
) -> None:
    """charon <-> charon with ESP in user space (kernel-libipsec)."""
    _strongswan_pair(scenario, "libipsec", netns_pair, charon_factory, tmp_path)


@pytest.mark.netns
@pytest.mark.strongswan
@pytest.mark.vm
@pytest.mark.timeout(300)  # tshark alone takes seconds per run under TCG
def test_strongswan_pair_kernel_esp(
    netns_pair: lab.NetnsPair, charon_factory, tmp_path: Path
) -> None:
    """charon <-> charon with the kernel's ESP (XFRM): plain ESP on the wire.
    Runs where the kernel has ESP, e.g. in the VM (tools/vm/run.sh)."""
    if not netns_pair.kernel_has_esp():
        pytest.skip("this kernel has no ESP (run it in the VM: tools/vm/run.sh)")
    _strongswan_pair("mm-psk-aes128", "netlink", netns_pair, charon_factory, tmp_path)


# -- the daemon runner, with a stand-in daemon -------------------------------

STAND_IN = textwrap.dedent(
    """
    import os, signal, stat, sys
    args = sys.argv[1:]
    opt = {a: b for a, b in zip(args, args[1:]) if a.startswith("-")}
    if stat.S_IMODE(os.stat(opt["-c"]).st_mode) & 0o077:
        print("config readable by others", file=sys.stderr)
        sys.exit(1)
    signal.signal(signal.SIGTERM, lambda *a: (print("shutdown", file=sys.stderr),
                                              sys.exit(0)))
    os.mkfifo(opt["-f"], 0o600)
    open(opt["-i"], "w").write(f"{os.getpid()}\\n")
    print("started", " ".join(args), file=sys.stderr)
    while True:
        with open(opt["-f"]) as fifo:
            for line in fifo:
                cmd = line.strip()
                print("fifo", cmd, file=sys.stderr)
                if cmd == "S":
                    open(opt["--result-file"], "w").write("SA name: test\\n")
                elif cmd == "r":
                    open(opt["-R"], "w").write("Report> ok\\n")
                elif cmd == "Q":
                    sys.exit(3)
    """
)


def _stand_in(tmp_path: Path, side: object, name: str) -> lab.Isakmpd:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    return lab.Isakmpd(
        side, "[General]\nListen-on=192.0.2.1\n", debug=30, args=["-n"],
        command=[sys.executable, str(script)], workdir=tmp_path / name, name=name,
    )  # fmt: skip


def test_isakmpd_runner_with_stand_in(tmp_path: Path) -> None:
    d = _stand_in(tmp_path, None, "host")
    argv = lab.Isakmpd(None, "", workdir=tmp_path / "real").argv()
    assert argv[1:3] == ["-m", "isakmpd"] and argv[3] == "-d"
    assert argv[argv.index("--result-file") + 1].endswith("isakmpd.result")
    assert stat.S_IMODE(os.stat(d.conf_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d.dir).st_mode) == 0o700
    d.start()
    try:
        assert d.alive() and d.pidfile_pid() == d.pid
        d.wait_log(r"started .*-D A=30 -n$")
        assert d.sa_report() == "SA name: test\n"
        assert d.report() == "Report> ok\n"
        mark = d.mark()
        d.fifo("t main peer")
        d.wait_log(r"fifo t main peer", since=mark)
        assert d.stop() == 0
        d.wait_log("shutdown")
        d.start()
        d.fifo("Q")
        assert d.wait(5) == 3 and not d.alive()
    finally:
        d.stop()

    d.conf_path.chmod(0o644)  # a world-readable config is refused
    with pytest.raises(lab.LabError, match="readable by others"):
        d.start(timeout=5)


@pytest.mark.netns
@pytest.mark.timeout(60)
def test_isakmpd_factory_in_namespace(
    netns_pair: lab.NetnsPair, isakmpd_factory, tmp_path: Path
) -> None:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    d = isakmpd_factory(
        netns_pair.west, "[General]\n", command=[sys.executable, str(script)]
    )
    lab.wait_until(lambda: d.pid in netns_pids(netns_pair.west.ns), 5, "setns")
    assert d.sa_report() == "SA name: test\n"


def test_missing_tool_skips_or_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert lab.require_tool("sh").startswith("/")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        lab.require_tool("lab-no-such-tool")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI: lab-no-such-tool"):
        lab.require_tool("lab-no-such-tool")
    monkeypatch.setenv("CI", "0")
    assert not lab.in_ci()


WEST_CONF = f"""[General]
Listen-on=\t192.0.2.1

[Phase 1]
192.0.2.2=\tpeer-east

[Phase 2]
Connections=\twest-east

[peer-east]
Phase=\t1
Address=\t192.0.2.2
Local-address=\t192.0.2.1
Authentication=\t{lab.DEFAULT_PSK}
Configuration=\tmm

[mm]
DOI=\tIPSEC
EXCHANGE_TYPE=\tID_PROT
Transforms=\tAES-128-SHA-GRP14

[west-east]
Phase=\t2
ISAKMP-peer=\tpeer-east
Configuration=\tqm
Local-ID=\tnet-west
Remote-ID=\tnet-east

[net-west]
ID-type=\tIPV4_ADDR_SUBNET
Network=\t10.1.0.0
Netmask=\t255.255.255.0

[net-east]
ID-type=\tIPV4_ADDR_SUBNET
Network=\t10.2.0.0
Netmask=\t255.255.255.0

[qm]
DOI=\tIPSEC
EXCHANGE_TYPE=\tQUICK_MODE
Suites=\tQM-ESP-AES-128-SHA-PFS-GRP14-SUITE
"""


@pytest.mark.netns
@pytest.mark.strongswan
@pytest.mark.timeout(60)
def test_isakmpd_runner_with_the_daemon(
    netns_pair: lab.NetnsPair, charon_factory, isakmpd_factory
) -> None:
    """The runner's command line works for python3 -m isakmpd: it starts,
    reaches charon, answers S on its FIFO and stops cleanly on SIGTERM."""
    east = charon_factory(netns_pair.east)
    east.load(lab.conn_pair(netns_pair)[1])
    west = isakmpd_factory(netns_pair.west, WEST_CONF, debug=30)
    sa = east.wait_for(ike="lab", child="net", timeout=15)
    assert west.pidfile_pid() == west.pid
    assert sa.get("initiator", "no") == "no"  # our daemon initiated
    report = west.sa_report()
    assert f"icookie {sa['initiator-spi']}" in report
    assert "(Phase 2/Initiator)" in report
    assert west.stop() == 0
    west.wait_log("shutting down")
