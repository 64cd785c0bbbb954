"""[General] Max-Half-Open on the sans-I/O engine, the log rate limits and
the timer queue under a flood of first messages."""

from __future__ import annotations

import logging
import os

from enginepair import established, gateway_pair, isakmpd_log_fixture  # noqa: F401
from isakmpd.conf import model
from isakmpd.conf.store import Conf
from isakmpd.loglimit import LogLimiter
from isakmpd.timers import TimerQueue


def _flood(e, mm1: bytes, n: int, now: float, step: float = 0.001) -> None:
    for i in range(n):
        src = (f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 500)
        e.engine.receive_datagram(os.urandom(8) + mm1[8:], (e.address, 500), src,
                                  now + i * step)
        e.engine.datagrams_to_send()


def test_default_and_setting() -> None:
    assert model.general(Conf.from_text("[General]\n")).max_half_open == 1000
    g = model.general(Conf.from_text("[General]\nMax-Half-Open= 0\n"))
    assert g.max_half_open == 0


def test_half_open_limit_keeps_the_newest_and_established_sas(isakmpd_log) -> None:
    net, w, e = gateway_pair(east={"general": "Max-Half-Open= 50",
                                   "phase1_key": "Default"})
    ws, es = established(net)
    mm1 = net.sent[0].data
    _flood(e, mm1, 3000, net.now)
    table = e.engine.table
    assert table.half_open() == 50
    assert e.engine.half_open_dropped == 2950
    # the newest are kept (oldest dropped first)
    kept = sorted(int.from_bytes(bytes(map(int, sa.remote[0].split(".")[2:])), "big")
                  for sa in e.isakmp_sas() if not sa.established)
    assert kept == list(range(2950, 3000))
    # dropped exchanges leave no timers behind, cancelled ones are swept
    assert len(e.engine.timers._heap) < 4096 + 200
    assert e.ipsec_sas() == [es] and w.ipsec_sas() == [ws]
    # the limit is said once, not once per message
    said = isakmpd_log.matching("Max-Half-Open")
    assert 1 <= len(said) <= 3, said
    # the pair still negotiates, and the half-open ones expire
    assert net.connect("west", "vpn")
    net.run()
    assert len(e.installed()) == 2
    net.advance(400)
    assert e.engine.table.half_open() == 0


def test_no_limit_with_zero() -> None:
    net, w, e = gateway_pair(east={"general": "Max-Half-Open= 0",
                                   "phase1_key": "Default"})
    _flood(e, net.sent[0].data, 300, net.now)
    assert e.engine.table.half_open() == 300
    assert e.engine.half_open_dropped == 0


def test_log_limiter_burst_rate_and_count(caplog) -> None:
    lim = LogLimiter(burst=3, rate=2.0)
    lg = logging.getLogger("hz-test")
    caplog.set_level(logging.WARNING, logger="hz-test")
    logged = [lim.warning(lg, "k", 0.0, "line %d", i) for i in range(10)]
    assert logged == [True] * 3 + [False] * 7
    assert lim.warning(lg, "other", 0.0, "another kind")  # kinds apart
    assert lim.warning(lg, "k", 1.0, "after a second")  # 2 a second
    msgs = [r.getMessage() for r in caplog.records]
    assert "7 similar lines left out (rate limit)" in msgs
    assert msgs[-1] == "after a second"
    assert lim.suppressed == 7


def test_timer_queue_sweeps_cancelled_timers() -> None:
    q = TimerQueue()
    fired = []
    for i in range(20000):
        t = q.schedule(1000.0 + i, lambda now: fired.append(now))
        t.cancel()
    q.schedule(5.0, lambda now: fired.append(now))
    assert len(q._heap) < 8192
    assert q.next_deadline() == 5.0
    q.run_due(2e6)
    assert len(fired) == 1  # the one live timer, once
