"""strongSwan's charon against our policy: charon proposes ESP with 3DES
while our policy wants AES, so we answer NO-PROPOSAL-CHOSEN (and charon
says it got it); once the policy allows 3DES (SIGHUP), the same proposal
makes a child SA. Our side runs with -n."""

from __future__ import annotations

import signal
from pathlib import Path

import lab
import pytest
from test_daemon_support import private_conf
from test_interop_strongswan import (
    _alive_and_answers,
    _failures,
    isakmpd_conf,
    wait_report,
)

pytestmark = [pytest.mark.netns, pytest.mark.strongswan]

POLICY = """\
KeyNote-Version: 2
Comment: ESP between the lab's networks, with the cipher(s) named below
Authorizer: "POLICY"
Licensees: "passphrase:{psk}"
Conditions: app_domain == "IPsec policy" && esp_present == "yes" &&
            ({ciphers}) -> "true";
"""


def write_policy(path: Path, *ciphers: str) -> Path:
    text = POLICY.format(psk=lab.DEFAULT_PSK, ciphers=" || ".join(
        f'esp_enc_alg == "{c}"' for c in ciphers))
    return private_conf(path, text)


@pytest.mark.timeout(90)
def test_policy_refuses_then_allows_charons_cipher(
    netns_pair, charon_factory, isakmpd_factory, tmp_path
) -> None:
    w, e = netns_pair.west, netns_pair.east
    policy = write_policy(tmp_path / "isakmpd.policy", "aes")
    charon = charon_factory(e)
    _, east = lab.conn_pair(netns_pair, proposals="aes128-sha1-modp2048",
                            esp_proposals="3des-sha1-modp2048")
    charon.load(east)
    conf = isakmpd_conf(transforms="AES-128-SHA-GRP14",
                        suites="QM-ESP-3DES-SHA-PFS-GRP14-SUITE,"
                        "QM-ESP-AES-128-SHA-PFS-GRP14-SUITE",
                        passive=True, general=f"Policy-file=\t{policy}")
    ours = isakmpd_factory(w, conf, args=["-n"])

    res = charon.initiate("net", timeout=10, check=False)
    assert res.returncode != 0, res.stdout
    charon.wait_log(r"received NO_PROPOSAL_CHOSEN error notify")
    m = ours.wait_log(r"proposal 1 \((ESP 3des hmac-sha udp-encap-tunnel, PFS)\) "
                      rf"refused by {policy}:1 \(Authorizer POLICY\): "
                      r"Conditions 'false', Licensees 'true'", 5)
    assert m
    fails = _failures(ours)
    assert len(fails) == 1 and "(1 refused by the policy)" in fails[0], fails
    assert charon.find_sa(ike="lab", child="net") is None

    write_policy(policy, "aes", "3des")
    mark = ours.mark()
    ours.signal(signal.SIGHUP)
    ours.wait_log(r"configuration reloaded", 10, since=mark)
    charon.initiate("net", timeout=10)
    sa = charon.wait_for(ike="lab", child="net", timeout=15)
    (child,) = sa["children"]
    assert child["encr-alg"] == "3DES_CBC"
    _p1, p2 = wait_report(ours)
    assert "Encryption algorithm: 3DES" in p2.text
    assert p2.spis == [(int(child["spi-in"], 16), int(child["spi-out"], 16))]
    assert "refused by" not in ours.log()[mark:]
    assert [s.phase for s in _alive_and_answers(ours)] == [1, 2]
