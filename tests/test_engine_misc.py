"""SA lifetimes running out, IPv6 peers, and phase-2 IDs no connection
covers."""

from __future__ import annotations

from enginepair import (
    EAST_IP,
    WEST_IP,
    Network,
    assert_keys_cross,
    established,
    gateway_pair,
    is_info,
    isakmpd_log_fixture,  # noqa: F401
    open_protected,
    peer_conf,
)
from isakmpd.constants import ExchangeType, NotifyType, ProtocolId
from isakmpd.engine import InstallSA, ReleaseSPI, RemoveSA

_SHORT_QM = """
[SHORT-SUITE]
Protocols= SHORT-ESP

[SHORT-ESP]
PROTOCOL_ID= IPSEC_ESP
Transforms= SHORT-XF

[SHORT-XF]
TRANSFORM_ID= AES
KEY_LENGTH= 128
ENCAPSULATION_MODE= TUNNEL
AUTHENTICATION_ALGORITHM= HMAC_SHA
Life= SHORT-LIFE

[SHORT-LIFE]
LIFE_TYPE= SECONDS
LIFE_DURATION= 300,60:86400
"""


def test_ipsec_sa_expiry_deletes_on_both_sides_and_checker_renews():
    net, w, e = gateway_pair(west={"suites": "SHORT-SUITE", "extra": _SHORT_QM,
                                   "check_interval": 400},
                             east={"suites": "QM-ESP-AES-128-SHA-SUITE"})
    ws, es = established(net)
    assert ws.life_seconds == es.life_seconds == 300
    # west's renegotiation before expiry (isakmpd.lifecycle) never arrives
    net.drop_all(lambda p: p.exchange_type == ExchangeType.QUICK_MODE)
    net.advance(299)
    assert w.removed() == e.removed() == []
    net.advance(1)
    # both timers fire at 300 s; each side removes its SA once
    assert w.removed() == [ws] and e.removed() == [es]
    assert w.counts() == e.counts() == (1, 0)
    net.rules.clear()
    net.advance(100)  # the check at 400 s brings the connection back
    assert [type(ev) for ev in w.events if not isinstance(ev, ReleaseSPI)] == [
        InstallSA, RemoveSA, InstallSA]
    assert w.counts() == e.counts() == (1, 1)


def test_isakmp_sa_expiry_sends_a_delete():
    net, w, e = gateway_pair(west={"extra": """
[P1-SHORT]
ENCRYPTION_ALGORITHM= AES_CBC
KEY_LENGTH= 128
HASH_ALGORITHM= SHA
AUTHENTICATION_METHOD= PRE_SHARED
GROUP_DESCRIPTION= MODP_2048
Life= P1-LIFE

[P1-LIFE]
LIFE_TYPE= SECONDS
LIFE_DURATION= 100,60:86400
""", "transforms": "P1-SHORT"})
    established(net)
    [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
    assert wsa.expires_at == esa.expires_at == 100
    net.advance(100)
    assert wsa.state == esa.state == "dead"
    # west negotiated the next ISAKMP SA before this one expired
    assert w.counts() == e.counts() == (1, 1)
    assert w.isakmp_sas()[0].cookies == e.isakmp_sas()[0].cookies != wsa.cookies
    infos = [p for p in net.sent if is_info(p)]
    assert 1 <= len(infos) <= 2 and all(p.at == 100 for p in infos)


def test_ipv6_peers():
    a, b = "2001:db8::1", "2001:db8::2"
    net = Network()
    w = net.add("west", peer_conf(a, b, active=True, my_net=None, peer_net=None),
                1, a)
    net.add("east", peer_conf(b, a, active=False, my_net=None, peer_net=None), 2, b)
    net.start()
    net.run()
    ws, es = established(net)
    assert_keys_cross(ws, es)
    assert str(ws.local_sel.network) == "2001:db8::1/128"
    assert str(es.remote_sel.network) == "2001:db8::1/128"
    [wsa] = w.isakmp_sas()
    assert wsa.id_local == bytes([5, 0, 0, 0]) + bytes.fromhex(
        "20010db8000000000000000000000001")
    assert not wsa.natt.nat_detected


def test_ids_no_connection_covers(isakmpd_log):
    net, w, e = gateway_pair(east={"peer_net": "10.9.0.0/24"})
    assert w.installed() == e.installed() == []
    [wsa] = w.isakmp_sas()
    [n] = [p for p in net.sent if is_info(p)]
    _, payloads = open_protected(wsa, n.data)
    [note] = payloads[1:]
    assert note.notify_type == NotifyType.INVALID_ID_INFORMATION
    assert note.protocol_id == ProtocolId.IPSEC_ESP
    fails = isakmpd_log.matching("failed")
    assert fails == [
        f"Quick Mode with {WEST_IP} failed: no connection for 10.1.0.0/24 - "
        f"10.2.0.0/24 from {WEST_IP}",
        f"Quick Mode with {EAST_IP} failed: peer answered with "
        f"INVALID_ID_INFORMATION (protocol IPSEC_ESP, SPI {note.spi.hex()})"]
    assert [type(ev) for ev in w.events] == [ReleaseSPI]
    assert w.counts() == e.counts() == (1, 0)
