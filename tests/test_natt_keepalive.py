"""NAT-T keepalives (RFC 3948): one 0xff byte, without the non-ESP marker,
from the side behind the NAT only, every NAT-T-Keepalive seconds; and the
socket that sends them."""

from __future__ import annotations

import asyncio
import socket

import pytest
from enginepair import EAST_IP, Nat, Network, established, peer_conf
from isakmpd.constants import NATT_KEEPALIVE, NON_ESP_MARKER
from isakmpd.engine import Datagram
from isakmpd.transport import Transport

INSIDE, PUBLIC = "10.0.0.1", "198.51.100.1"


def _natted(general: str = "", nat: bool = True, **engine_kw):
    """West at 10.0.0.1 (behind a NAT showing it as 198.51.100.1 if
    ``nat``), east at 192.0.2.2; both with ``general`` in [General]."""
    net = Network()
    west_ip = INSIDE if nat else "192.0.2.1"
    w = net.add("west", peer_conf(west_ip, EAST_IP, active=True, general=general),
                1, west_ip, **engine_kw)
    e = net.add("east", peer_conf(EAST_IP, PUBLIC if nat else west_ip, active=False,
                                  my_net="10.2.0.0/24", peer_net="10.1.0.0/24",
                                  general=general), 2, EAST_IP, **engine_kw)
    if nat:
        net.nat = Nat(INSIDE, PUBLIC)
    # every datagram each engine hands out, with its raw flag
    out: dict[str, list[tuple[float, Datagram]]] = {"west": [], "east": []}
    for name, node in (("west", w), ("east", e)):
        orig = node.engine.datagrams_to_send

        def record(orig=orig, name=name) -> list[Datagram]:
            ds = orig()
            out[name].extend((net.now, d) for d in ds)
            return ds

        node.engine.datagrams_to_send = record  # type: ignore[method-assign]
    net.start()
    net.run()
    established(net)
    return net, w, e, out


def _keepalives(sent: list[tuple[float, Datagram]]) -> list[tuple[float, Datagram]]:
    return [(t, d) for t, d in sent if d.data == NATT_KEEPALIVE]


def test_behind_a_nat_keepalives_every_20_seconds():
    net, w, e, out = _natted()
    t0 = net.now
    net.advance(65)
    kas = _keepalives(out["west"])
    assert [t - t0 for t, _ in kas] == [20, 40, 60]
    for _, d in kas:
        assert d.raw and d.data == b"\xff"
        assert d.local == (INSIDE, 4500) and d.remote == (EAST_IP, 4500)
    # every other datagram goes with the marker
    assert not any(d.raw for _, d in out["west"] if d.data != NATT_KEEPALIVE)
    # east is not behind a NAT: none from it, and it took them quietly
    assert _keepalives(out["east"]) == []
    assert e.engine.stats["dropped"] == 0
    assert w.engine.keepalives.sent == 3
    # through the NAT, from its mapping of port 4500
    delivered = [p for p in net.delivered if p.data == NATT_KEEPALIVE]
    assert {p.src for p in delivered} == {(PUBLIC, 40001)}


def test_the_configured_interval():
    net, w, e, out = _natted("NAT-T-Keepalive= 5")
    t0 = net.now
    net.advance(21)
    assert [t - t0 for t, _ in _keepalives(out["west"])] == [5, 10, 15, 20]


def test_interval_zero_sends_none():
    net, w, e, out = _natted("NAT-T-Keepalive= 0")
    net.advance(300)
    assert _keepalives(out["west"]) == []
    assert "nat_t_send_keepalive" not in w.timer_names()


def test_no_nat_no_keepalives():
    net, w, e, out = _natted(nat=False)
    net.advance(300)
    assert _keepalives(out["west"]) == _keepalives(out["east"]) == []
    assert "nat_t_send_keepalive" not in w.timer_names() + e.timer_names()


def test_without_nat_t_no_keepalives():
    """-T: no NAT-T at all (the tunnel goes through the NAT unencapsulated,
    which here, in memory, works)."""
    net, w, e, out = _natted(natt=False)
    [wsa] = w.isakmp_sas()
    assert not wsa.natt.natd_type and not wsa.natt.floated
    net.advance(300)
    assert _keepalives(out["west"]) == []


def test_keepalives_stop_with_the_sas():
    net, w, e, out = _natted("NAT-T-Keepalive= 5")
    w.engine.teardown("vpn", net.now)
    for sa in w.isakmp_sas():
        w.engine.delete_isakmp(sa, net.now)
    net.run()
    t0 = net.now
    net.advance(60)
    assert [t for t, _ in _keepalives(out["west"]) if t > t0 + 5] == []
    assert "nat_t_send_keepalive" not in w.timer_names()


def test_keepalives_go_on_for_ipsec_sas_whose_isakmp_sa_is_gone():
    net, w, e, out = _natted("NAT-T-Keepalive= 5")
    [wsa] = w.isakmp_sas()
    w.engine.delete_isakmp(wsa, net.now)  # phase 1 gone, phase 2 stays
    net.run()
    assert len(w.ipsec_sas()) == 1
    t0 = net.now
    net.advance(11)
    kas = [t - t0 for t, _ in _keepalives(out["west"]) if t > t0]
    assert len(kas) == 2


# ------------------------------------------------------------ the socket

def test_transport_sends_keepalives_without_the_marker():
    """A NAT-T socket puts the non-ESP marker before IKE messages only."""
    loop = asyncio.new_event_loop()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    t = Transport(loop, lambda *a: None)
    try:
        t.open(["127.0.0.1"], [(0, True)])
        [s] = t.sockets
        port = s.sock.getsockname()[1]
        s.port = port
        dst = rx.getsockname()
        ike = bytes(28)
        t.send(NATT_KEEPALIVE, ("127.0.0.1", port), dst, raw=True)
        t.send(ike, ("127.0.0.1", port), dst)
        # without the flag too: one 0xff byte is never an IKE message
        t.send(NATT_KEEPALIVE, ("127.0.0.1", port), dst)
        got = [rx.recvfrom(100)[0] for _ in range(3)]
    finally:
        t.close()
        rx.close()
        loop.close()
    assert got == [b"\xff", NON_ESP_MARKER + ike, b"\xff"]


@pytest.mark.parametrize("data, dropped", [(b"\xff", 0), (b"\xff\xff", 1)])
def test_engine_ignores_keepalives_quietly(data, dropped):
    """One 0xff byte is a keepalive, not counted or logged as a drop;
    anything else that short is a broken message."""
    net, w, e, out = _natted()
    before = e.engine.stats["dropped"]
    e.engine.receive_datagram(data, (EAST_IP, 4500), (PUBLIC, 40001), net.now)
    assert e.engine.stats["dropped"] - before == dropped
