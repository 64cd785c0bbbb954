"""Lifetimes between the two ends: RESPONDER-LIFETIME both ways,
kilobyte lifetimes, the kernel's EXPIRE, Renegotiate-on-HUP, and the
connection checker beside rekeys (isakmpd.lifecycle, exchange/lifetime.py).
"""

from __future__ import annotations

from enginepair import (
    EAST_IP,
    WEST_IP,
    assert_keys_cross,
    established,
    gateway_pair,
    is_info,
    isakmpd_log_fixture,  # noqa: F401
    open_protected,
)
from isakmpd import _core
from isakmpd.constants import ExchangeType, NotifyType, ProtocolId
from isakmpd.engine import InstallSA, RemoveSA
from isakmpd.exchange import lifetime
from isakmpd.exchange.proposal import Chosen
from isakmpd.kernel.base import ExpireEvent
from isakmpd.lifecycle import InstallInbound
from rekeypair import KernelModel, run_watching, short

LIFE_SUITE = """
[LIFE-SUITE]
Protocols= LIFE-ESP

[LIFE-ESP]
PROTOCOL_ID= IPSEC_ESP
Transforms= LIFE-XF

[LIFE-XF]
TRANSFORM_ID= AES
KEY_LENGTH= 128
ENCAPSULATION_MODE= TUNNEL
AUTHENTICATION_ALGORITHM= HMAC_SHA
Life= {lifes}
{sections}
"""


def _life_suite(*lifes: tuple[str, str, str]) -> dict:
    """peer_conf arguments for a suite with the given (name, type, duration)
    lifetimes."""
    sections = "".join(f"\n[{n}]\nLIFE_TYPE= {t}\nLIFE_DURATION= {d}\n"
                       for n, t, d in lifes)
    return {"suites": "LIFE-SUITE",
            "extra": LIFE_SUITE.format(lifes=",".join(n for n, _, _ in lifes),
                                       sections=sections)}


def _qm(net, n: int):
    return [p for p in net.sent if p.exchange_type == ExchangeType.QUICK_MODE][n]


# ------------------------------------------------------------ RESPONDER-LIFETIME

def test_responder_cuts_a_longer_lifetime_and_says_so():
    net, w, e = gateway_pair(
        west=_life_suite(("L-S", "SECONDS", "90000,60:100000")),
        east=_life_suite(("L-S", "SECONDS", "1200,60:3600")))
    ws, es = established(net)
    # east took the proposal, with its own longest lifetime, and told west
    assert es.life_seconds == 3600 and ws.life_seconds == 3600
    assert_keys_cross(ws, es)
    [wsa] = w.isakmp_sas()
    qm1, qm2 = _qm(net, 0), _qm(net, 1)
    _, payloads = open_protected(wsa, qm2.data, qm1.data)
    [n] = [p for p in payloads if isinstance(p, _core.Notify)]
    assert (n.notify_type, n.protocol_id) == (NotifyType.RESPONDER_LIFETIME,
                                               ProtocolId.IPSEC_ESP)
    assert n.spi == es.protos[0].spi_in  # the responder's SPI
    assert lifetime.decode(n.data) == (3600, 0)
    # the timers follow the cut lifetime on both ends
    assert ws.expires_at == es.expires_at == net.now + 3600


def test_no_notification_when_the_lifetime_is_acceptable():
    net, w, e = gateway_pair(
        west=_life_suite(("L-S", "SECONDS", "3000,60:100000")),
        east=_life_suite(("L-S", "SECONDS", "1200,60:3600")))
    ws, es = established(net)
    assert ws.life_seconds == es.life_seconds == 3000
    [wsa] = w.isakmp_sas()
    _, payloads = open_protected(wsa, _qm(net, 1).data, _qm(net, 0).data)
    assert not [p for p in payloads if isinstance(p, _core.Notify)]


def test_responder_lifetime_in_kilobytes_and_seconds():
    net, w, e = gateway_pair(
        west=_life_suite(("L-S", "SECONDS", "600,60:86400"),
                         ("L-K", "KILOBYTES", "500000,1000:9000000")),
        east=_life_suite(("L-S", "SECONDS", "1200,60:86400"),
                         ("L-K", "KILOBYTES", "100000,1000:200000")))
    ws, es = established(net)
    assert (ws.life_seconds, ws.life_kbytes) == (es.life_seconds, es.life_kbytes) == (
        600, 200000)
    [wsa] = w.isakmp_sas()
    _, payloads = open_protected(wsa, _qm(net, 1).data, _qm(net, 0).data)
    [n] = [p for p in payloads if isinstance(p, _core.Notify)]
    assert lifetime.decode(n.data) == (600, 200000)


def test_a_lifetime_below_ours_is_still_refused():
    net, w, e = gateway_pair(
        west=_life_suite(("L-S", "SECONDS", "30,10:60")),
        east=_life_suite(("L-S", "SECONDS", "1200,60:3600")))
    assert w.installed() == e.installed() == []


def test_initiator_honours_only_shorter_responder_lifetimes():
    net, w, e = gateway_pair(**_life_suite(("L-S", "SECONDS", "3000,60:86400")))
    ws, es = established(net)
    esp = ProtocolId.IPSEC_ESP
    spi = ws.protos[0].spi_out  # the responder's SPI
    chosen = Chosen(1, "LIFE-SUITE", [], None, {esp: (3000, 0)})
    longer = _core.Notify(1, esp, NotifyType.RESPONDER_LIFETIME, spi,
                          lifetime.encode(5000, 0))
    lifetime.apply(chosen, [longer], {}, {esp: spi}, EAST_IP)
    assert chosen.lifes[esp] == (3000, 0)
    shorter = _core.Notify(1, esp, NotifyType.RESPONDER_LIFETIME, spi,
                           lifetime.encode(700, 4000))
    lifetime.apply(chosen, [shorter], {}, {esp: spi}, EAST_IP)
    assert chosen.lifes[esp] == (700, 4000)
    # one that names another SA or protocol, or carries no lifetime, is ignored
    other = _core.Notify(1, esp, NotifyType.RESPONDER_LIFETIME, b"\1\2\3\4",
                         lifetime.encode(100, 0))
    ah = _core.Notify(1, ProtocolId.IPSEC_AH, NotifyType.RESPONDER_LIFETIME, spi,
                      lifetime.encode(100, 0))
    empty = _core.Notify(1, esp, NotifyType.RESPONDER_LIFETIME, spi, b"\0\1")
    lifetime.apply(chosen, [other, ah, empty], {}, {esp: spi}, EAST_IP)
    assert chosen.lifes[esp] == (700, 4000)


def test_lifetime_attributes_round_trip_and_reject_junk():
    assert lifetime.decode(lifetime.encode(3600, 0)) == (3600, 0)
    assert lifetime.decode(lifetime.encode(0, 70000)) == (0, 70000)
    assert lifetime.decode(lifetime.encode(100000, 1 << 33)) == (100000, 1 << 33)
    for junk in (b"", b"\0", b"\x80\x01\x00", b"\x00\x02\xff\xff"):
        assert lifetime.decode(junk) is None


# ------------------------------------------------------------ the kernel's EXPIRE

def _expire(sa, hard: bool, inbound: bool = True) -> ExpireEvent:
    p = sa.protos[0]
    spi = p.spi_in if inbound else p.spi_out
    src, dst = ((sa.remote[0], sa.local[0]) if inbound
                else (sa.local[0], sa.remote[0]))
    return ExpireEvent(50, int.from_bytes(spi, "big"), src, dst, "tunnel", 1, hard)


def test_kernel_soft_expire_renegotiates_and_hard_expire_deletes(isakmpd_log):
    net, w, e = gateway_pair(**_life_suite(("L-K", "KILOBYTES", "1000,100:10000")))
    ws, es = established(net)
    assert ws.life_seconds == 0 and ws.life_kbytes == 1000
    # no timers: the kernel counts bytes
    assert not [t for t in w.timer_names() if "ipsec_sa" in t]
    # soft, for the outbound SA: west (initiator) renegotiates at once
    w.engine.kernel_event(_expire(ws, hard=False, inbound=False), net.now)
    net.advance(5)
    [w2] = [s for s in w.installed() if s is not ws]
    assert ws.state == "dead" and ws.replaced
    assert_keys_cross(w2, [s for s in e.installed() if s is not es][0])
    # a second soft EXPIRE for the dead SA does nothing
    n = len(net.sent)
    w.engine.kernel_event(_expire(ws, hard=False), net.now)
    net.run()
    assert len(net.sent) == n
    # hard, for east's inbound SA of the new pair: deleted, with a DELETE,
    # and (east is passive) not renegotiated by east
    e2 = [s for s in e.installed() if s is not es][0]
    e.engine.kernel_event(_expire(e2, hard=True), net.now)
    net.run()
    assert e2.state == "dead" and w2.state == "dead"
    assert isakmpd_log.matching(f"peer {EAST_IP} deleted IPsec SA vpn")
    # the peer's DELETE is no reason to negotiate again (the checker's job)
    assert w.counts()[1] == e.counts()[1] == 0
    # a hard EXPIRE on the initiator's side: deleted and negotiated again
    net.connect("west", "vpn")
    net.run()
    [w3] = w.ipsec_sas()
    w.engine.kernel_event(_expire(w3, hard=True, inbound=False), net.now)
    net.run()
    [w4], [e4] = w.ipsec_sas(), e.ipsec_sas()
    assert w3.state == "dead" and w4 is not w3 and w4.initiator
    assert_keys_cross(w4, e4)


def test_kernel_expire_of_an_unknown_or_larval_sa_is_harmless():
    net, w, e = gateway_pair()
    ws, es = established(net)
    n, events = len(net.sent), len(w.events)
    for ev in (ExpireEvent(50, 0x12345678, EAST_IP, WEST_IP, "tunnel", 0, True),
               ExpireEvent(50, 0, WEST_IP, EAST_IP, "tunnel", 3, True),
               ExpireEvent(108, 0x1234, EAST_IP, WEST_IP, "tunnel", 0, False),
               ExpireEvent(50, int.from_bytes(ws.protos[0].spi_in, "big"),
                           EAST_IP, "192.0.2.99", "tunnel", 0, True)):
        w.engine.kernel_event(ev, net.now)
    net.run()
    assert len(net.sent) == n and len(w.events) == events
    assert ws.state == "installed"


def test_responder_acts_on_a_kernel_soft_expire_only_for_an_active_connection():
    net, w, e = gateway_pair(**_life_suite(("L-K", "KILOBYTES", "1000,100:10000")))
    ws, es = established(net)
    n = len(net.sent)
    e.engine.kernel_event(_expire(es, hard=False), net.now)
    net.advance(30)
    assert len(net.sent) == n  # passive: the peer renegotiates


# ------------------------------------------------------------ Renegotiate-on-HUP

def test_renegotiate_on_hup_replaces_every_sa_of_ours(isakmpd_log):
    net, w, e = gateway_pair(west={"general": "Renegotiate-on-HUP= yes"})
    ws, es = established(net)
    models = [KernelModel(w), KernelModel(e)]
    for m in models:
        m.follow(net.now)
    w.engine.reconfigure(w.engine.conf)  # SIGHUP: the configuration again
    assert w.engine.general.renegotiate_on_hup
    assert w.engine.lifecycle.soft_expire_all(net.now) == 1
    gaps = run_watching(net, 5, models)
    assert gaps == []
    assert ws.state == es.state == "dead"
    [w2], [e2] = w.ipsec_sas(), e.ipsec_sas()
    assert_keys_cross(w2, e2)
    assert isakmpd_log.matching("Renegotiate-on-HUP: 1 IPsec SA(s) being renegotiated")
    # the passive responder renegotiates nothing of its own
    assert e.engine.lifecycle.soft_expire_all(net.now) == 0


# ------------------------------------------------------------ the checker

def test_checker_and_rekeys_never_pile_up_sas():
    net, w, e = gateway_pair(west={**short(p2=30), "check_interval": 7},
                             east={**short(p2=30), "check_interval": 7})
    established(net)
    models = [KernelModel(w), KernelModel(e)]
    most = 0
    for _ in range(100):
        gaps = run_watching(net, 1, models)
        assert gaps == []
        most = max(most, len(w.ipsec_sas()), len(e.ipsec_sas()))
    assert most == 2  # only during a hand-over
    assert w.counts() == e.counts() == (1, 1)
    # FIFO c on the connection that is up does nothing
    n = len(net.sent)
    assert net.connect("west", "vpn", force=False)
    net.run()
    assert len(net.sent) == n


def test_checker_restarts_an_active_connection_whose_sas_are_gone():
    net, w, e = gateway_pair(west={"check_interval": 20})
    ws, es = established(net)
    e.engine.teardown("vpn", net.now)
    net.run()
    assert w.counts() == (1, 0)
    net.advance(20)
    assert w.counts() == e.counts() == (1, 1)
    assert [type(ev) for ev in w.events] == [InstallSA, RemoveSA, InstallSA]


def test_replay_window_installed_in_both_roles():
    from isakmpd.flows import sa_specs

    extra = "\n[QM-ESP-AES-128-SHA-PFS-GRP14-SUITE]\nProtocols= RW-ESP\n" \
            "\n[RW-ESP]\nPROTOCOL_ID= IPSEC_ESP\nReplayWindow= 64\n" \
            "Transforms= QM-ESP-AES-128-SHA-PFS-GRP14-XF\n"
    net, w, e = gateway_pair(extra=extra)
    ws, es = established(net)
    for s in (ws, es):
        assert s.protos[0].replay_window == 64
        assert {spec.replay_window for spec in sa_specs(s, 1)} == {64}


def test_events_of_a_first_sa_are_one_install():
    net, w, e = gateway_pair()
    assert [type(ev) for ev in w.events] == [InstallSA]
    assert [type(ev) for ev in e.events] == [InstallSA]
    assert not any(isinstance(ev, InstallInbound) for ev in w.events + e.events)
    assert not [p for p in net.sent if is_info(p)]
