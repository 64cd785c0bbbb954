"""Key export on running daemons: --keylog and FIFO k.

Two of our daemons negotiate (``-n``) while tcpdump captures the veth; each
exports its keys. tshark, given one daemon's folder as its configuration,
must decrypt every IKE message on the wire (Main Mode 5 and 6 and the
Quick Mode IDs readable), and both folders must hold the same ESP SAs, with
the SPIs the daemons report. The ESP traffic itself is decrypted in the
qemu VM (tests/guest/test_keylog_guest.py).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from pathlib import Path

import lab
import pytest
from isakmpd.keylog import ESP_TABLE, HEADER, IKE_TABLE
from lab import tshark
from test_daemon_support import conf_for, start_pair, started, wait_established

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]

QM_IDS = [("10.1.0.0", "255.255.255.0"), ("10.2.0.0", "255.255.255.0")]
#: seconds to wait for a negotiation (the machine may be busy)
SLOW = 60.0
WARNING = r"Default exporting IKE and ESP keys to \S+ for Wireshark"


def rows(folder: Path, name: str) -> list[str]:
    text = (folder / name).read_text()
    assert text.startswith(HEADER)
    return text[len(HEADER):].splitlines()


def decrypted(folder: Path, pcap: Path) -> list[list[str]]:
    """Per ISAKMP frame: exchange type, ID addresses, ID masks, as tshark
    reads them with ``folder`` as its configuration. Retransmitted copies
    are left out: Wireshark decrypts them with the wrong IV."""
    names = ["isakmp.exchangetype", "isakmp.id.data.ipv4_addr",
             "isakmp.id.data.ipv4_subnet", "_ws.malformed", "_ws.expert.severity",
             "frame.number"]
    argv = ["tshark", "-n", "-r", str(pcap), "-Y", "isakmp", "-T", "fields",
            "-E", "separator=|"]
    for n in names:
        argv += ["-e", n]
    res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60,
                         env={**os.environ, "WIRESHARK_CONFIG_DIR": str(folder)})
    assert res.returncode == 0 and "Error loading" not in res.stderr, res.stderr
    again = tshark.retransmissions(pcap)
    rows = [line.split("|") for line in res.stdout.splitlines() if line]
    return [r[:5] for r in rows if int(r[5]) not in again]


def report_spis(d: lab.Isakmpd) -> set[str]:
    return set(re.findall(r"SPI \d+: ([0-9a-f]{8}) \(out\) ([0-9a-f]{8}) \(in\)",
                          d.sa_report())[0])


def test_wire_capture_decrypts_with_either_folder(
    netns_pair: lab.NetnsPair, isakmpd_factory, tmp_path: Path
) -> None:
    lab.require_tool("tshark")
    lab.require_tool("tcpdump")
    wd, ed = tmp_path / "keys-west", tmp_path / "keys-east"
    wire = netns_pair.capture(tmp_path / "wire.pcap", side="east", bpf="udp")
    west, east = start_pair(netns_pair, isakmpd_factory, wait=False,
                            west_args=["-n", "--keylog", str(wd)],
                            east_args=["-n", "--keylog", str(ed)])
    wait_established(west, east, timeout=SLOW)
    pcap = wire.stop()
    for d, folder in ((west, wd), (east, ed)):
        assert re.search(WARNING, d.log()), d.log()[-2000:]
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for f in folder.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        frames = decrypted(folder, pcap)
        assert len(frames) == 9
        assert all(f[3] == "" and f[4] not in ("error",) for f in frames), frames
        assert [f[1] for f in frames[4:6]] == ["192.0.2.1", "192.0.2.2"]
        qm = [list(zip(f[1].split(","), f[2].split(","), strict=True))
              for f in frames[6:8]]
        assert qm == [QM_IDS, QM_IDS]
    # the control: the wire itself shows no ID
    empty = tmp_path / "empty"
    empty.mkdir()
    assert [f[1] for f in decrypted(empty, pcap)] == [""] * 9
    # one phase-1 key, the same on both ends; the same two ESP SAs
    assert rows(wd, IKE_TABLE) == rows(ed, IKE_TABLE)
    assert len(rows(wd, IKE_TABLE)) == 1
    esp = rows(wd, ESP_TABLE)
    assert sorted(esp) == sorted(rows(ed, ESP_TABLE)) and len(esp) == 2
    spis = {line.split('","')[3].removeprefix("0x") for line in esp}
    assert spis == report_spis(west) == report_spis(east)
    # the daemon keeps the tables after it stops (for the captures)
    assert west.stop() == 0
    assert rows(wd, ESP_TABLE) == esp


def test_fifo_k(
    netns_pair: lab.NetnsPair, isakmpd_factory, tmp_path: Path
) -> None:
    w, e = netns_pair.west, netns_pair.east
    folder = tmp_path / "keys"
    # FIFO k to folders named nowhere else: not within a separated daemon's
    # allowed paths (tests/test_privsep.py), so one process
    west, east = start_pair(
        netns_pair, isakmpd_factory, wait=False, west_args=["-n", "--no-privsep"],
        west_conf=conf_for(w, e, active=False), east_conf=conf_for(e, w, active=False))
    started(west, SLOW)
    started(east, SLOW)
    west.fifo("c west-east")
    wait_established(west, east, timeout=SLOW)
    assert not re.search(WARNING, west.log())
    # on: the SAs that are up are written at once
    mark = west.mark()
    west.fifo(f"k on={folder}")
    west.wait_log(WARNING, SLOW, since=mark)
    lab.wait_until(lambda: (folder / ESP_TABLE).exists(), SLOW, "esp_sa")
    assert len(rows(folder, ESP_TABLE)) == 2
    assert len(rows(folder, IKE_TABLE)) == 1
    # SAs going: their lines go
    emark = east.mark()
    west.fifo("t west-east")
    east.wait_log(r"peer 192\.0\.2\.1 deleted IPsec SA", SLOW, since=emark)
    lab.wait_until(lambda: rows(folder, ESP_TABLE) == [], SLOW, "esp_sa emptied")
    # off: no more updates
    west.fifo("k off")
    west.wait_log(r"key export to \S+ stopped", SLOW, since=mark)
    mark, emark = west.mark(), east.mark()
    west.fifo("c west-east")
    wait_established(west, east, since=[mark, emark], timeout=SLOW)
    time.sleep(0.3)
    assert rows(folder, ESP_TABLE) == []
    # on again: the new SA appears
    west.fifo(f"k on={folder}")
    lab.wait_until(lambda: len(rows(folder, ESP_TABLE)) == 2, SLOW, "esp_sa refilled")
    spis = {line.split('","')[3].removeprefix("0x")
            for line in rows(folder, ESP_TABLE)}
    assert spis == report_spis(west)
    # bad forms, and a folder that is not ours
    foreign = tmp_path / "profile"
    foreign.mkdir()
    (foreign / "preferences").write_text("gui.geometry_save_position: TRUE\n")
    mark = west.mark()
    for bad in ("k", "k maybe", "k on=", "k off=x"):
        west.fifo(bad)
    west.fifo(f"k on={foreign}")
    west.wait_log(r"key export: \S+preferences exists and was not written by isakmpd",
                  SLOW, since=mark)
    assert west.log()[mark:].count("FIFO: usage: k on[=dir] | k off") == 4
    assert (foreign / "preferences").read_text() == "gui.geometry_save_position: TRUE\n"
    assert west.alive() and "Traceback" not in west.log()
