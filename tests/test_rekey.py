"""Rekeying before expiry (isakmpd.lifecycle), engine to engine.

Phase-2 SAs of 30 s are renegotiated by their initiator at 85-95% of their
lifetime while the old SA keeps working; the new SA is installed (inbound
half first, outbound a second later), then the old one is deleted with a
DELETE. A model of each kernel (tests/rekeypair.py) checks that traffic
would pass both ways at every tenth of a second.
"""

from __future__ import annotations

from enginepair import (
    EAST_IP,
    EAST_NET,
    WEST_IP,
    WEST_NET,
    Network,
    assert_keys_cross,
    established,
    gateway_pair,
    is_info,
    isakmpd_log_fixture,  # noqa: F401
    open_protected,
    peer_conf,
)
from isakmpd import _core
from isakmpd.constants import ExchangeType, ProtocolId
from isakmpd.engine import InstallSA, RemoveSA
from isakmpd.lifecycle import (DRAIN, MARGIN, SWITCH_DELAY, InstallInbound,
                               soft_after, soft_share)
from rekeypair import KernelModel, run_watching, short


def _pair(**kw):
    net, w, e = gateway_pair(**short(**kw))
    ws, es = established(net)
    models = [KernelModel(w), KernelModel(e)]
    for m in models:
        m.follow(net.now)
    return net, w, e, ws, es, models


def _deletes(net, sa, since: int = 0) -> list[tuple[int, list[bytes]]]:
    """(protocol, SPIs) of the DELETE payloads sent on ``sa`` by its peer."""
    out = []
    for p in net.sent[since:]:
        if not is_info(p) or not p.encrypted or p.data[:16] != sa.cookies:
            continue
        if p.sender == ("west" if sa.initiator else "east"):
            continue
        _, payloads = open_protected(sa, p.data)
        out += [(d.protocol_id, list(d.spis)) for d in payloads
                if isinstance(d, _core.Delete)]
    return out


def test_phase2_rekeyed_before_expiry_for_several_rounds_without_a_gap():
    net, w, e, ws, es, models = _pair(p2=30)
    # 85-95% of 30 s would leave too little: MARGIN seconds are kept (the
    # responder's soft time is later, so the initiator goes first)
    assert (ws.soft_at, es.soft_at) == (30 - MARGIN, 30 - MARGIN / 2)
    gaps = run_watching(net, 130, models)
    assert gaps == []
    w_sas, e_sas = w.installed(), e.installed()
    assert len(w_sas) == len(e_sas) >= 5  # the first and 4 rounds
    assert all(s.initiator for s in w_sas) and not any(s.initiator for s in e_sas)
    # both ends agree on every SA's SPIs and keys
    for a, b in zip(w_sas, e_sas):
        assert_keys_cross(a, b)
    # every old SA is removed only after its successor is installed, by
    # about SWITCH_DELAY + DRAIN, and at most two SAs of the flow coexist
    for model in models:
        installed = {id(s): t for t, what, s in model.log if what == "install"}
        removed = {id(s): t for t, what, s in model.log if what == "remove"}
        sas = [s for t, what, s in model.log if what == "install"]
        for old, new in zip(sas, sas[1:]):
            assert id(old) in removed
            assert removed[id(old)] > installed[id(new)]
            assert removed[id(old)] < (new.established_at or 0) + SWITCH_DELAY + DRAIN + 0.5
            assert old.state == "dead" and old.replaced == (old.initiator)
        assert len(model.inbound) <= 2
    # nothing expired: each SA went at the initiator's word, with a DELETE
    assert all(s.expires_at and s.expires_at > 0 for s in w_sas)
    [esa] = [sa for sa in e.isakmp_sas() if sa.established]
    spis = [spi for pid, s in _deletes(net, esa) if pid == ProtocolId.IPSEC_ESP
            for spi in s]
    assert spis == [s.protos[0].spi_in for s in w_sas[:-1]]
    assert w.counts() == e.counts() == (1, 1)


def test_rekey_initiator_installs_by_halves_and_the_responder_early():
    net, w, e, ws, es, models = _pair(p2=30)
    n_w, n_e = len(w.events), len(e.events)
    soft = ws.soft_at
    assert soft is not None
    # message 3 of the rekey's Quick Mode is late: east installs the rest
    # only when it comes, but its inbound half went in with message 2
    held = net.hold(lambda p: p.exchange_type == ExchangeType.QUICK_MODE
                    and p.sender == "west" and p.at >= soft and len(p.data) < 80)
    gaps = run_watching(net, soft + 0.05 - net.now, models)
    assert [type(ev) for ev in w.events[n_w:]] == [InstallInbound]
    assert [type(ev) for ev in e.events[n_e:]] == [InstallInbound]
    gaps += run_watching(net, 0.5, models)
    net.release()
    net.rules.remove(held)
    gaps += run_watching(net, 5, models)
    assert gaps == []
    assert [type(ev) for ev in w.events[n_w:]] == [InstallInbound, InstallSA, RemoveSA]
    assert [type(ev) for ev in e.events[n_e:]] == [InstallInbound, InstallSA, RemoveSA]
    w_new, e_new = w.events[n_w].sa, e.events[n_e].sa
    assert_keys_cross(w_new, e_new)
    # west switched its outbound traffic a second after installing
    t_in = next(t for t, what, s in models[0].log if s is w_new and what == "inbound")
    t_out = next(t for t, what, s in models[0].log if s is w_new and what == "install")
    assert abs(t_out - t_in - SWITCH_DELAY) < 0.15
    assert ws.state == es.state == "dead"


def test_soft_share_spreads_and_is_deterministic():
    shares = [soft_share(bytes([i, 7, 7, 7]), True) for i in range(200)]
    assert all(0.85 <= s < 0.95 for s in shares)
    assert len(set(shares)) > 150
    assert shares == [soft_share(bytes([i, 7, 7, 7]), True) for i in range(200)]
    assert all(0.95 <= soft_share(bytes([i]), False) < 0.98 for i in range(100))
    # isakmpd's window for ordinary lifetimes; short ones keep a margin, but
    # never go below half the lifetime
    assert all(1020 <= soft_after(1200, bytes([i]), True) < 1140 for i in range(50))
    assert all(1140 <= soft_after(1200, bytes([i]), False) < 1176 for i in range(50))
    assert soft_after(30, b"x", True) == 22 and soft_after(30, b"x", False) == 26
    assert soft_after(10, b"x", True) == 5


def test_soft_times_of_real_sas_spread_over_the_window():
    net, w, e, ws, es, models = _pair(p2=600)
    assert ws.soft_at is not None and 0.85 * 600 <= ws.soft_at < 0.95 * 600
    assert es.soft_at is not None and 0.95 * 600 <= es.soft_at < 0.98 * 600


def test_phase1_rekeyed_before_expiry_and_ipsec_sas_outlive_it():
    net, w, e, ws, es, models = _pair(p2=200, p1=60)
    [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
    assert wsa.soft_at == 60 - MARGIN
    gaps = run_watching(net, 62, models)
    assert gaps == []
    assert wsa.state == esa.state == "dead"
    [wsa2], [esa2] = w.isakmp_sas(), e.isakmp_sas()
    assert wsa2.initiator and wsa2.cookies == esa2.cookies != wsa.cookies
    assert wsa2.established_at is not None and wsa2.established_at < 60
    # the old one was deleted with a DELETE when it expired
    deletes = [d for d in _deletes(net, esa) if d[0] == ProtocolId.ISAKMP]
    assert deletes == [(ProtocolId.ISAKMP, [wsa.cookies])]
    # the IPsec SAs stay, on both ends
    assert ws.state == es.state == "installed"
    assert w.counts() == e.counts() == (1, 1)
    # the phase-2 rekey later uses the new ISAKMP SA, the one after that the
    # ISAKMP SA after it
    gaps = run_watching(net, 140, models)
    assert gaps == []
    [new2] = w.ipsec_sas()
    assert new2 is not ws and new2.isakmp is not wsa
    assert new2.isakmp.established
    assert new2.isakmp is max(w.isakmp_sas(), key=lambda s: s.created)


def test_phase2_rekey_after_phase1_expired_negotiates_a_new_one(isakmpd_log):
    net, w, e, ws, es, models = _pair(p2=100, p1=40)
    [wsa] = w.isakmp_sas()
    # west's phase-1 renegotiation does not get through: the ISAKMP SA dies
    rule = net.drop_all(lambda p: p.exchange_type == ExchangeType.ID_PROT)
    gaps = run_watching(net, 45, models)
    assert wsa.state == "dead"
    assert not any(sa.established for sa in w.isakmp_sas() + e.isakmp_sas())
    assert ws.state == es.state == "installed"
    net.rules.remove(rule)
    gaps += run_watching(net, 60, models)
    assert gaps == []
    [new2] = w.ipsec_sas()
    assert new2 is not ws and new2.isakmp is not wsa and new2.isakmp.established
    assert es.state == "dead"
    # the old SA's DELETE went over the new ISAKMP SA
    assert ws.protos[0].spi_in in [s for _, spis in _deletes(net, e.isakmp_sas()[-1])
                                   for s in spis]


def test_responder_renegotiates_an_active_connection_the_initiator_left():
    """East lists the connection as active too: when the initiator does not
    renegotiate (its Quick Modes are lost), east does, later in the SA's
    life, and traffic keeps passing."""
    net = Network()
    w = net.add("west", peer_conf(WEST_IP, EAST_IP, active=True, **short(p2=30)), 1,
                WEST_IP)
    e = net.add("east", peer_conf(EAST_IP, WEST_IP, active=True, my_net=EAST_NET,
                                  peer_net=WEST_NET, **short(p2=30)), 2, EAST_IP)
    w.engine.start(net.now)  # east's checker stays off: west starts alone
    net.run()
    ws, es = established(net)
    models = [KernelModel(w), KernelModel(e)]
    for m in models:
        m.follow(net.now)
    assert es.soft_at is not None and ws.soft_at is not None
    assert es.soft_at > ws.soft_at
    easts: set[int] = set()  # Quick Modes east starts: west's answers pass

    def west_starts(p) -> bool:
        if p.exchange_type != ExchangeType.QUICK_MODE:
            return False
        if p.sender == "east":
            easts.add(p.message_id)
            return False
        return p.message_id not in easts

    net.drop_all(west_starts)
    gaps = run_watching(net, 31, models)
    assert gaps == []
    assert ws.state == es.state == "dead"  # expired on both ends
    [w2], [e2] = w.ipsec_sas(), e.ipsec_sas()
    assert e2.initiator and not w2.initiator
    assert_keys_cross(w2, e2)


def test_initial_contact_clears_the_sas_of_a_restarted_peer(isakmpd_log):
    net, w, e, ws, es, models = _pair(p2=300)
    [esa] = e.isakmp_sas()
    assert esa.peer_initial_contact
    net.advance(10)
    # "restart" west: a fresh engine with other cookies at the same address
    conf = peer_conf(WEST_IP, EAST_IP, active=True, **short(p2=300))
    w2 = net.add("west", conf, 99, WEST_IP)
    net.start()
    net.run()
    assert [type(ev) for ev in e.events] == [InstallSA, RemoveSA, InstallSA]
    assert e.events[1].sa is es
    assert esa.state == "dead"
    [esa2] = e.isakmp_sas()
    assert esa2.cookies == w2.isakmp_sas()[0].cookies and esa2.peer_initial_contact
    assert e.counts() == (1, 1)
    # no DELETE went to the restarted peer for SAs it does not know
    assert not any(is_info(p) for p in net.sent)
    assert isakmpd_log.matching(f"INITIAL-CONTACT from {WEST_IP}: deleting 1 ISAKMP "
                                "and 1 IPsec SA(s)")


def test_initial_contact_only_on_first_contact():
    net, w, e, ws, es, models = _pair(p2=300, p1=60)
    run_watching(net, 62, models)
    [esa2] = e.isakmp_sas()
    assert esa2.established and not esa2.peer_initial_contact
    assert e.counts() == (1, 1) and es.state == "installed"
