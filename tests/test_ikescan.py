"""ike-scan against our Aggressive Mode responder, and psk-crack as an
independent check of our HASH_R.

ike-scan sends message 1 (with ``--pskcrack`` it writes the responder's
values, ``g_xr:g_xi:CKY-R:CKY-I:SAi_b:IDir_b:Ni_b:Nr_b:HASH_R``, to a file)
and never sends message 3. psk-crack recomputes HASH_R for each word of a
list: a match proves our HASH_R, and a list without the key must not match.
ike-scan's KE is random bytes, which a group may refuse (lab finding 8), so
probes are retried a few times.
"""

from __future__ import annotations

import re

import lab
import pytest
from test_interop_strongswan import assert_clean_log, report_sas

pytestmark = [pytest.mark.netns]

PSK = "ike-scan-found-this-0123"
W_ID = "west@lab.example"
TRANS = "(1=7,14=128,2=2,3=1,4=14)"  # AES-128, SHA1, PSK, MODP-2048


def responder_conf(exchange: str = "AGGRESSIVE", key_in_id_section: bool = True,
                   general: str = "") -> str:
    """East (192.0.2.2) answering phase 1 from anyone (Default peer)."""
    peer_key = "" if key_in_id_section else f"Authentication=\t{PSK}\n"
    id_section = f"[{W_ID}]\nAuthentication=\t{PSK}\n" if key_in_id_section else ""
    return f"""[General]
Listen-on=\t192.0.2.2
Exchange-max-time=\t10
{general}
[Phase 1]
Default=\tany-peer

[any-peer]
Phase=\t\t1
Configuration=\tphase1
ID=\t\tmy-id
{peer_key}
[phase1]
DOI=\t\tIPSEC
EXCHANGE_TYPE=\t{exchange}
Transforms=\tAES-128-SHA-GRP14

[my-id]
ID-type=\tFQDN
Name=\t\teast.lab.example

{id_section}"""


def ike_scan(side, *args: str, tries: int = 10) -> str:
    """Run ike-scan until it reports a handshake (at most ``tries`` runs)."""
    out = ""
    for _ in range(tries):
        res = lab.run(side, "ike-scan", "-r", "1", *args, "192.0.2.2", check=False,
                      timeout=30)
        out = res.stdout + res.stderr
        if "Handshake returned" in out:
            return out
    return out


@pytest.fixture
def tools() -> None:
    lab.require_tool("ike-scan")
    lab.require_tool("psk-crack")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("key_in_id_section", [True, False],
                         ids=["key-of-id-section", "key-of-peer-section"])
def test_pskcrack_confirms_our_hash_r(netns_pair, isakmpd_factory, tmp_path, tools,
                                      key_in_id_section) -> None:
    ours = isakmpd_factory(netns_pair.east,
                           responder_conf(key_in_id_section=key_in_id_section),
                           args=["-n"])
    params = tmp_path / "am.params"
    out = ike_scan(netns_pair.west, "--aggressive", f"--id={W_ID}", "--dhgroup=14",
                   f"--trans={TRANS}", f"--pskcrack={params}")
    assert "Aggressive Mode Handshake returned" in out, out
    assert "Enc=AES" in out and "Auth=PSK" in out and "Group=14:modp2048" in out, out
    assert re.search(r"ID\(Type=ID_FQDN, Value=east\.lab\.example\)", out), out
    fields = params.read_text().strip().split(":")
    assert len(fields) == 9, fields
    idir_b = bytes.fromhex(fields[5])
    assert idir_b == bytes([2, 0, 0, 0]) + b"east.lab.example"
    assert len(bytes.fromhex(fields[0])) == 256  # our g^xr, MODP-2048
    right = tmp_path / "right.txt"
    right.write_text("password\nletmein\n" + PSK + "\nsecret\n")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("password\nletmein\n" + PSK[:-1] + "\nsecret\n")
    res = lab.run(None, "psk-crack", "-d", str(right), str(params))
    assert f'key "{PSK}" matches SHA1 hash {fields[8]}' in res.stdout, res.stdout
    res = lab.run(None, "psk-crack", "-d", str(wrong), str(params))
    assert f"no match found for SHA1 hash {fields[8]}" in res.stdout, res.stdout
    # ike-scan never sends message 3: we gave up on it, and still answer
    assert ours.alive()
    assert_clean_log(ours)


@pytest.mark.timeout(120)
def test_half_open_exchanges_expire(netns_pair, isakmpd_factory, tools) -> None:
    """Each probe leaves a half-open exchange; they end after
    Exchange-max-time and the daemon keeps none of them."""
    ours = isakmpd_factory(netns_pair.east, responder_conf(), args=["-n"])
    for _ in range(3):
        out = ike_scan(netns_pair.west, "--aggressive", f"--id={W_ID}",
                       "--dhgroup=14", f"--trans={TRANS}")
        assert "Handshake returned" in out, out
    assert len(report_sas(ours)) >= 1  # half-open, negotiating
    ours.wait_log(r"Aggressive Mode with 192\.0\.2\.1 failed", timeout=30)
    lab.wait_until(lambda: report_sas(ours) == [], 30, "no SAs left")
    assert_clean_log(ours)


@pytest.mark.timeout(60)
def test_aggressive_mode_refused_when_not_configured(netns_pair, isakmpd_factory,
                                                     tools) -> None:
    """A peer configured for Main Mode gets no Aggressive Mode answer (no
    HASH_R to attack); Main Mode still works for ike-scan."""
    ours = isakmpd_factory(netns_pair.east,
                           responder_conf(exchange="ID_PROT", key_in_id_section=False),
                           args=["-n"])
    out = ike_scan(netns_pair.west, "--aggressive", f"--id={W_ID}", "--dhgroup=14",
                   f"--trans={TRANS}", tries=1)
    assert "Handshake returned" not in out, out
    ours.wait_log(r"Aggressive Mode refused: peer any-peer is configured for ID_PROT")
    out = ike_scan(netns_pair.west, f"--trans={TRANS}")
    assert "Main Mode Handshake returned" in out, out
    assert_clean_log(ours)


@pytest.mark.timeout(60)
def test_unknown_id_gets_no_hash(netns_pair, isakmpd_factory, tools, tmp_path) -> None:
    """No key for the prober's ID (only an ID section for another one, and
    none in the peer section): NO_PROPOSAL_CHOSEN, no HASH_R."""
    ours = isakmpd_factory(netns_pair.east, responder_conf(), args=["-n"])
    params = tmp_path / "x.params"
    out = ike_scan(netns_pair.west, "--aggressive", "--id=mallory@lab.example",
                   "--dhgroup=14", f"--trans={TRANS}", f"--pskcrack={params}",
                   tries=1)
    assert "Handshake returned" not in out, out
    assert "NO-PROPOSAL-CHOSEN" in out, out
    assert not params.exists() or not params.read_text().strip()
    assert_clean_log(ours)
