"""Phase-2 lifetimes against strongSwan's charon (5.9, IKEv1) as responder
with a shorter lifetime than ours: our daemon (west, ``-n``) proposes
300 s, charon is configured for 20 s.

charon 5.9 sends no RESPONDER-LIFETIME: it logs "received 300s lifetime,
configured 20s", echoes our 300 s in its Quick Mode answer and keeps its
own limit, rekeying the CHILD_SA itself (as initiator) before it and
deleting the old one at its own hard time. So our first SA keeps the 300 s
it was given (nothing to shorten it to), charon's rekey reaches us as a
Quick Mode we answer, its 20 s lifetime is what we take for the new SA,
and the new SA is there before charon's DELETE takes the old one: no gap.
charon keeps a replaced SA until its own hard time; we hold exactly the SAs
it holds, no more.
"""

from __future__ import annotations

import re

import lab
import pytest
from rekeypair import SHORT_P2
from test_interop_strongswan import (
    assert_clean_log,
    isakmpd_conf,
    report_sas,
    wait_report,
)

pytestmark = [pytest.mark.netns, pytest.mark.strongswan, pytest.mark.slow]

OURS, THEIRS = 300, 20


def _lifetime(sa) -> int:
    m = re.search(r"^Lifetime: (\d+) seconds$", sa.text, re.MULTILINE)
    assert m, sa.text
    return int(m.group(1))


@pytest.mark.timeout(120)
def test_charon_responder_with_a_shorter_lifetime(
    netns_pair: lab.NetnsPair, charon_factory, isakmpd_factory
) -> None:
    charon = charon_factory(netns_pair.east)
    _, east = lab.conn_pair(netns_pair, life_time=f"{THEIRS}s", child_rekey_time="12s")
    east.children[0].options["rand_time"] = "2s"
    charon.load(east)
    conf = isakmpd_conf(suites="SHORT-SUITE") + SHORT_P2.format(p2=OURS)
    ours = isakmpd_factory(netns_pair.west, conf, args=("-n",), debug=50)
    [first] = [s for s in wait_report(ours, timeout=30) if s.phase == 2]
    assert first.role == "Initiator"
    assert _lifetime(first) == OURS  # charon's answer kept our lifetime
    [(out_spi, in_spi)] = first.spis
    charon.wait_for(ike="lab", child="net", timeout=30)
    assert re.search(rf"received {OURS}s lifetime, configured {THEIRS}s", charon.log())

    # charon rekeys before its 20 s, then deletes the first SA at its hard time
    gone = ours.wait_log(
        rf"peer 192\.0\.2\.2 deleted IPsec SA west-east \(IPSEC_ESP SPI "
        rf"{out_spi:08x}\)", timeout=40)
    log = ours.log()
    before = log[:gone.start()]
    assert re.search(r"QUICK_MODE responder .*: connection west-east, .*sending "
                     r"message 2", before), before[-3000:]
    established = re.findall(
        r"IPsec SA west-east established with 192\.0\.2\.2: .* IPSEC_ESP in "
        r"([0-9a-f]{8}) out ([0-9a-f]{8})", before)
    assert len(established) >= 2, before[-3000:]  # the new SA came first
    assert established[0] == (f"{in_spi:08x}", f"{out_spi:08x}")
    assert "RESPONDER-LIFETIME" not in log  # charon sends none

    # what is left: charon's SAs (it keeps a replaced one until its own hard
    # time), all with charon's lifetime, and nothing charon has let go
    def same_sas():
        now = report_sas(ours, phase=2)
        ike = charon.find_sa(ike="lab", child="net")
        theirs = {(int(c["spi-in"], 16), int(c["spi-out"], 16))
                  for c in (ike or {}).get("children", [])
                  if c["state"] in ("INSTALLED", "REKEYED")}
        mine = {p for s in now for p in s.spis}
        return now if theirs and mine == theirs else None

    now = lab.wait_until(same_sas, 10, "our SAs = charon's", interval=0.3)
    assert all(_lifetime(s) == THEIRS for s in now), [s.text for s in now]
    assert all(s.role == "Responder" for s in now)
    assert (out_spi, in_spi) not in [p for s in now for p in s.spis]
    assert_clean_log(ours)
