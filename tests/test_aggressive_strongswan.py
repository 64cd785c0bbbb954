"""Aggressive Mode with pre-shared keys between our daemon (west) and
strongSwan's charon (east), both roles, with USER_FQDN and FQDN IDs.

charon runs with kernel-libipsec, so it fakes a NAT: message 3 and
everything after it travel on port 4500, and ESP is UDP-encapsulated.
charon answers Aggressive Mode with pre-shared keys only with
``i_dont_care_about_security_and_use_aggressive_mode_psk`` (lab.Charon
sets it). As initiator charon sends its first Quick Mode message right
behind message 3 (lab finding 6).
"""

from __future__ import annotations

import re

import lab
import pytest
from lab import tshark
from test_interop_strongswan import (
    KEYS_DEBUG,
    assert_clean_log,
    decrypt_from_log,
    wait_report,
)

pytestmark = [pytest.mark.netns, pytest.mark.strongswan]

W_ID, E_ID = "west@lab.example", "east.lab.example"


def am_conf(*, passive: bool, psk_section: str | None, psk: str = lab.DEFAULT_PSK,
            my_id: tuple[str, str] = ("USER_FQDN", W_ID),
            peer_id: tuple[str, str] | None = ("FQDN", E_ID),
            transforms: str = "AES-128-SHA-GRP14", general: str = "",
            local_ts: tuple[str, str] = ("10.1.0.0", "255.255.255.0"),
            remote_ts: tuple[str, str] = ("10.2.0.0", "255.255.255.0"),
            extra: str = "") -> str:
    """Our west: Aggressive Mode with peer 192.0.2.2, our ID ``my_id``, the
    peer's ``peer_id`` (Remote-ID); the key in the peer section
    (``psk_section`` None) or in the section ``[psk_section]``."""
    which = "Passive-connections" if passive else "Connections"
    peer_key = f"Authentication=\t\t{psk}\n" if psk_section is None else ""
    remote = "Remote-ID=\t\tpeer-id\n" if peer_id else ""
    lines = f"""# written by tests/test_aggressive_strongswan.py
[General]
Listen-on=\t\t192.0.2.1
{general}

[Phase 1]
192.0.2.2=\t\tpeer

[Phase 2]
{which}=\twest-east

[peer]
Phase=\t\t\t1
Address=\t\t192.0.2.2
Local-address=\t\t192.0.2.1
Configuration=\t\taggressive
ID=\t\t\tmy-id
{remote}{peer_key}
[aggressive]
DOI=\t\t\tIPSEC
EXCHANGE_TYPE=\t\tAGGRESSIVE
Transforms=\t\t{transforms}

[my-id]
ID-type=\t\t{my_id[0]}
Name=\t\t\t{my_id[1]}

[west-east]
Phase=\t\t\t2
ISAKMP-peer=\t\tpeer
Configuration=\t\tquick-mode
Local-ID=\t\tnet-local
Remote-ID=\t\tnet-remote

[net-local]
ID-type=\t\tIPV4_ADDR_SUBNET
Network=\t\t{local_ts[0]}
Netmask=\t\t{local_ts[1]}

[net-remote]
ID-type=\t\tIPV4_ADDR_SUBNET
Network=\t\t{remote_ts[0]}
Netmask=\t\t{remote_ts[1]}

[quick-mode]
DOI=\t\t\tIPSEC
EXCHANGE_TYPE=\t\tQUICK_MODE
Suites=\t\t\tQM-ESP-AES-128-SHA-PFS-GRP14-SUITE
"""
    if peer_id:
        lines += f"\n[peer-id]\nID-type=\t\t{peer_id[0]}\nName=\t\t\t{peer_id[1]}\n"
    if psk_section is not None:
        lines += f"\n[{psk_section}]\nAuthentication=\t\t{psk}\n"
    return lines + extra


@pytest.mark.timeout(90)
@pytest.mark.parametrize("we_initiate", [True, False],
                         ids=["ours-initiates", "charon-initiates"])
def test_aggressive_psk_with_strongswan(netns_pair, charon_factory, isakmpd_factory,
                                        tmp_path, we_initiate) -> None:
    lab.require_tool("tcpdump")
    lab.require_tool("tshark")
    w, e = netns_pair.west, netns_pair.east
    charon = charon_factory(e)
    _, east = lab.conn_pair(netns_pair, aggressive=True, local_id=W_ID,
                            remote_id=E_ID)
    charon.load(east)
    cap = netns_pair.capture(tmp_path / "am.pcap", side="east")
    # as responder, the key comes from the section named by charon's ID
    conf = am_conf(passive=not we_initiate,
                   psk_section=None if we_initiate else E_ID)
    ours = isakmpd_factory(w, conf, args=KEYS_DEBUG)
    if not we_initiate:
        res = charon.initiate("net", timeout=15)
        assert "successfully" in res.stdout, res.stdout
    sa = charon.wait_for(ike="lab", child="net", timeout=20)
    p1, p2 = wait_report(ours)
    pcap = cap.stop()
    assert sa["state"] == "ESTABLISHED" and sa["version"] == "1"
    assert sa.get("initiator", "no") == ("no" if we_initiate else "yes")
    assert sa["local-id"] == E_ID and sa["remote-id"] == W_ID
    (child,) = sa["children"]
    assert child["state"] == "INSTALLED" and child.get("encap") == "yes"
    assert "Exchange type: AGGRESSIVE, state: established" in p1.text
    assert "Authentication: pre-shared key" in p1.text
    assert f"Local ID: USER_FQDN {W_ID}" in p1.text
    assert f"Remote ID: FQDN {E_ID}" in p1.text
    assert (p1.icookie, p1.rcookie) == (sa["initiator-spi"], sa["responder-spi"])
    assert p2.spis == [(int(child["spi-in"], 16), int(child["spi-out"], 16))]
    # on the wire: three Aggressive Mode messages, the IDs in the clear,
    # message 3 encrypted on port 4500 (charon's fake NAT)
    rows = tshark.fields(pcap, ["isakmp.exchangetype", "isakmp.flags", "udp.srcport",
                                "isakmp.id.type", "ip.src"],
                         "isakmp.exchangetype == 4")
    assert len(rows) >= 3, rows
    first3 = rows[:3]
    initiator_ip = "192.0.2.1" if we_initiate else "192.0.2.2"
    assert [r["ip.src"][0] for r in first3] == [initiator_ip, next(
        ip for ip in ("192.0.2.1", "192.0.2.2") if ip != initiator_ip), initiator_ip]
    id_types = [r["isakmp.id.type"] for r in first3]
    w_type, e_type = "3", "2"
    assert id_types[:2] == ([[w_type], [e_type]] if we_initiate else
                            [[e_type], [w_type]]), id_types
    assert [r["udp.srcport"][0] for r in first3] == ["500", "500", "4500"]
    assert int(first3[2]["isakmp.flags"][0], 16) & 1  # encrypted
    decrypt = decrypt_from_log(ours.log())
    assert tshark.assert_valid_isakmp(pcap, decrypt) >= 6
    counts = tshark.isakmp_exchanges(pcap)
    assert counts[tshark.AGGRESSIVE] >= 3 and counts[tshark.QUICK] >= 3, counts
    assert_clean_log(ours)


@pytest.mark.timeout(90)
def test_charon_quick_mode_right_behind_message_3(netns_pair, charon_factory,
                                                  isakmpd_factory) -> None:
    """charon initiates several times; each time its Quick Mode message 1
    follows message 3 at once. Every run ends with the tunnel up (a Quick
    Mode message that overtook message 3 would be dropped and come again)."""
    w, e = netns_pair.west, netns_pair.east
    charon = charon_factory(e)
    _, east = lab.conn_pair(netns_pair, aggressive=True, local_id=W_ID,
                            remote_id=E_ID)
    charon.load(east)
    ours = isakmpd_factory(w, am_conf(passive=True, psk_section=E_ID),
                           args=["-n", "-D", "5=20"])
    for i in range(3):
        res = charon.initiate("net", timeout=15)
        assert "successfully" in res.stdout, res.stdout
        charon.terminate(ike="lab")
        lab.wait_until(lambda: not charon.list_sas(), 10, "charon's SA gone")
    fails = re.findall(r"^.*Mode with \S+ failed.*$", ours.log(), re.MULTILINE)
    assert fails == [], fails
    established = re.findall(r"ISAKMP SA \S+ \S+ established", ours.log())
    assert len(established) == 3
    assert_clean_log(ours)


@pytest.mark.timeout(60)
def test_wrong_psk_aggressive(netns_pair, charon_factory, isakmpd_factory) -> None:
    """charon initiates with another key: our HASH_R does not verify at
    charon, which gives up; charon's HASH_I never comes; we time out,
    naming the exchange, and keep nothing."""
    w, e = netns_pair.west, netns_pair.east
    charon = charon_factory(e)
    _, east = lab.conn_pair(netns_pair, aggressive=True, local_id=W_ID,
                            remote_id=E_ID, psk="another-key-0123456789")
    charon.load(east)
    ours = isakmpd_factory(
        w, am_conf(passive=True, psk_section=E_ID,
                   general="Exchange-max-time=\t6\nRetransmits=\t\t1"),
        args=["-n"])
    res = charon.initiate("net", timeout=10, check=False)
    assert res.returncode != 0
    charon.wait_log(r"(?i)(hash|authentication).*(fail|mismatch|invalid)")
    ours.wait_log(r"Aggressive Mode with 192\.0\.2\.2 failed", timeout=20)
    assert_clean_log(ours)
