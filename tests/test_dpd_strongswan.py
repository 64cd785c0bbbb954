"""Dead peer detection against strongSwan's charon (IKEv1, kernel-libipsec,
so UDP-encapsulated on port 4500), our daemon with ``-n`` in west:

- charon, with ``dpd_delay`` 2 s, sends R-U-THERE when the tunnel is quiet;
  we answer each, and charon keeps its SAs;
- our own probes (DPD-check-interval=2) are answered by charon;
- charon killed (SIGKILL: no DELETE): our DPD finds it dead after five
  unanswered R-U-THERE, says so, drops the SAs and starts the connection
  again, which completes once charon is back.
"""

from __future__ import annotations

import os
import re
import signal
import time

import lab
import pytest
from test_interop_strongswan import (
    assert_clean_log,
    isakmpd_conf,
    report_sas,
    wait_report,
)

pytestmark = [pytest.mark.netns, pytest.mark.strongswan, pytest.mark.slow]

DPD_GENERAL = "DPD-check-interval=\t2"


def _start(pair, charon_factory, isakmpd_factory, dpd_delay: int, general: str):
    e = pair.east
    charon = charon_factory(e)
    _, east_conn = lab.conn_pair(pair, dpd_delay=dpd_delay)
    charon.load(east_conn)
    ours = isakmpd_factory(pair.west, isakmpd_conf(general=general), args=("-n",))
    wait_report(ours, timeout=30)
    charon.wait_for(ike="lab", child="net", timeout=30)
    return charon, ours


@pytest.mark.timeout(120)
def test_charon_r_u_there_is_answered(netns_pair, charon_factory, isakmpd_factory):
    """Our side does not probe (interval 0); charon does, every 2 s of quiet,
    and keeps the SA because every probe is answered."""
    charon, ours = _start(netns_pair, charon_factory, isakmpd_factory, 2, "")
    [ike] = charon.list_sas()
    mark = ours.mark()
    time.sleep(9)
    log = ours.log()[mark:]
    asks = re.findall(r"DPD: R-U-THERE (\d+) from 192\.0\.2\.2(?: again)?; answering",
                      log)
    assert len(asks) >= 2, log[-3000:]
    seqs = [int(s) for s in asks]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # charon took our answers: the same IKE SA, still there
    [after] = charon.list_sas()
    assert after["state"] == "ESTABLISHED"
    assert (after["initiator-spi"], after["responder-spi"]) == (
        ike["initiator-spi"], ike["responder-spi"])
    clog = charon.log()
    assert "received DPD vendor ID" in clog
    acks = r"parsed INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD_ACK\) \]"
    assert len(re.findall(acks, clog)) >= 2
    assert not re.search(r"DPD check timed out|giving up", clog)
    assert "R-U-THERE (" not in log  # we sent none ourselves
    assert len(report_sas(ours, phase=2)) == 1
    assert_clean_log(ours)


@pytest.mark.timeout(180)
def test_our_dpd_finds_charon_dead(netns_pair, charon_factory, isakmpd_factory):
    charon, ours = _start(netns_pair, charon_factory, isakmpd_factory, 0,
                          DPD_GENERAL)
    mark = ours.mark()
    # our probes in a quiet tunnel, answered by charon
    ours.wait_log(r"DPD: R-U-THERE-ACK \d+ from 192\.0\.2\.2", timeout=20, since=mark)
    [ike] = charon.list_sas()
    assert ike["state"] == "ESTABLISHED"
    assert re.search(r"generating INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD_ACK\) \]",
                     charon.log())

    # charon dies without a word
    mark = ours.mark()
    os.kill(charon.pid, signal.SIGKILL)
    charon.proc.wait(timeout=10)
    killed = time.monotonic()
    ours.wait_log(r"DPD: peer 192\.0\.2\.2 \(peer\) is dead: 5 R-U-THERE without "
                  "an answer", timeout=60, since=mark)
    took = time.monotonic() - killed
    # at most an interval of quiet, then five probes 5 s apart
    assert 20 < took < 40, took
    log = ours.log()[mark:]
    probes = re.findall(r"DPD: R-U-THERE (\d+) to 192\.0\.2\.2 \((\d) of 5\)", log)
    assert [int(n) for _, n in probes[:5]] == [1, 2, 3, 4, 5]
    seqs = [int(s) for s, _ in probes[:5]]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    assert re.search(r"deleting IPsec SA west-east with 192\.0\.2\.2 .*: peer is dead "
                     r"\(DPD\)", log)
    assert "DPD: starting connection west-east again" in log
    lab.wait_until(lambda: not report_sas(ours, phase=2), 10, "SAs gone")

    # charon comes back: our restarted connection (its Main Mode
    # retransmissions, or the next connection check) brings the tunnel back
    charon2 = charon_factory(netns_pair.east, name="east-again")
    _, east_conn = lab.conn_pair(netns_pair)
    charon2.load(east_conn)
    wait_report(ours, timeout=60)
    charon2.wait_for(ike="lab", child="net", timeout=30)
    assert_clean_log(ours)
