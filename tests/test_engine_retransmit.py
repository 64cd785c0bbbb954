"""Lost, repeated and late messages: retransmission, answers to duplicates,
giving up after Retransmits and Exchange-max-time, and what a failed
exchange leaves behind (nothing)."""

from __future__ import annotations

import pytest
from enginepair import (
    EAST_IP,
    WEST_IP,
    assert_keys_cross,
    established,
    gateway_pair,
    isakmpd_log_fixture,  # noqa: F401
)
from isakmpd.constants import ExchangeType
from isakmpd.engine import ReleaseSPI

# the nine messages of a clean run: Main Mode 1-6, Quick Mode 1-3
NAMES = ["MM1", "MM2", "MM3", "MM4", "MM5", "MM6", "QM1", "QM2", "QM3"]
SENDERS = ["west", "east"] * 3 + ["west", "east", "west"]


def _clean_run() -> list[bytes]:
    net, _, _ = gateway_pair()
    return [p.data for p in net.sent]


def _assert_one_bundle(net) -> None:
    w, e = net["west"], net["east"]
    ws, es = established(net)
    assert_keys_cross(ws, es)
    assert w.counts() == e.counts() == (1, 1)
    [wi], [ei] = w.isakmp_sas(), e.isakmp_sas()
    assert len(wi.message_ids) == len(ei.message_ids) == 1


@pytest.mark.parametrize("i", range(9), ids=NAMES)
def test_each_lost_message_is_recovered(i):
    net, w, e = gateway_pair(start=False)
    net.drop(lambda p: p.index == i)
    net.start()
    net.run()
    assert len(w.installed()) + len(e.installed()) < 2 or i == 8
    net.settle(100)
    _assert_one_bundle(net)
    lost = net.sent[i]
    assert lost.sender == SENDERS[i]
    # the very bytes that were lost went again 5 s later (the first
    # retransmission delay: the sender's own, or the peer's that the sender
    # answered as a duplicate)
    again = [p for p in net.sent if p.data == lost.data]
    assert len(again) >= 2
    assert again[1].at == 5.0
    assert all(p.at <= 5.0 for p in net.sent)


@pytest.mark.parametrize("i", range(9), ids=NAMES)
def test_each_duplicated_message_is_answered_not_processed(i):
    net, w, e = gateway_pair(start=False)
    net.duplicate(lambda p: p.index == i)
    net.start()
    net.run()
    _assert_one_bundle(net)
    clean = _clean_run()
    if i in (5, 8):
        # the last message of an exchange answers nothing: a repeat of it
        # gets no answer (answering would make the peer answer in turn)
        assert [p.data for p in net.sent] == clean
    else:
        # the receiver sends its reply to message i once more, unchanged
        reply = clean[i + 1]
        assert [p.data for p in net.sent].count(reply) == 2
        first = [p.index for p in net.sent if p.data == reply]
        assert net.sent[first[1]].sender == SENDERS[i + 1]
    assert all(p.at == 0.0 for p in net.sent)
    net.advance(300)
    # nothing more: no retransmission, no second SA
    assert len(w.installed()) == len(e.installed()) == 1
    assert w.counts() == e.counts() == (1, 1)


def test_late_duplicate_of_last_message_makes_no_loop():
    """A repeat of Main Mode message 6 or Quick Mode message 3 that comes
    after the exchange finished is swallowed."""
    net, w, e = gateway_pair()
    _assert_one_bundle(net)
    n = len(net.sent)
    for i in (5, 8):
        p = net.sent[i]
        net.advance(10)
        net.inject(p.data, p.src, p.dst)
        net.run()
    assert len(net.sent) == n


def test_late_duplicate_of_a_request_gets_the_old_answer():
    """A repeat of Main Mode message 5 (west may have lost message 6) is
    answered with message 6 again; a repeat of Quick Mode message 1, which
    west answered with message 3 already, is not."""
    net, w, e = gateway_pair()
    _assert_one_bundle(net)
    n = len(net.sent)
    net.advance(10)
    for i in (4, 6):
        p = net.sent[i]
        net.inject(p.data, p.src, p.dst)
    sent = net.take()
    assert [p.data for p in sent] == [net.sent[5].data]
    assert len(net.sent) == n + 1
    _assert_one_bundle(net)


def test_late_reply_after_retransmission():
    """Message 2 arrives after message 1 was sent again: both copies of
    message 2 reach west, and one SA bundle comes out."""
    net, w, e = gateway_pair(start=False)
    net.hold(lambda p: p.index == 1)
    net.start()
    net.run()
    net.advance(5)  # west sends message 1 again; east answers again
    net.release()
    net.settle(100)
    _assert_one_bundle(net)


# ------------------------------------------------------------ giving up

def _only_housekeeping(node) -> bool:
    return all(t.startswith("connection_checker") for t in node.timer_names())


def test_initiator_gives_up_after_retransmits(isakmpd_log):
    net, w, e = gateway_pair(start=False, west={"general": "Retransmits= 2"})
    net.drop_all(lambda p: p.sender == "west")
    net.start()
    net.advance(100)
    mm1 = [p for p in net.sent if p.sender == "west"]
    assert len(mm1) == 3  # the first try and 2 retransmissions
    assert len({p.data for p in mm1}) == 1
    assert [p.at for p in mm1] == [0.0, 5.0, 12.0]
    assert isakmpd_log.matching("failed") == [
        f"Main Mode with {EAST_IP} failed: no reply from {EAST_IP} after 2 "
        "retransmissions"]
    assert w.counts() == (0, 0) and e.counts() == (0, 0)
    assert not w.engine.connecting
    assert _only_housekeeping(w)
    assert w.events == []


def test_responder_gives_up_too_and_leaves_nothing(isakmpd_log):
    net, w, e = gateway_pair(start=False, west={"general": "Retransmits= 1"},
                             east={"general": "Retransmits= 3"})
    net.drop_all(lambda p: p.sender == "east")
    net.start()
    net.advance(200)
    assert [p.at for p in net.sent if p.sender == "west"] == [0.0, 5.0]
    mm2 = [p for p in net.sent if p.sender == "east"]
    # east answers west's repeat at 5 s, and retransmits 3 times itself
    assert len({p.data for p in mm2}) == 1
    assert [p.at for p in mm2] == [0.0, 5.0, 5.0, 12.0, 21.0]
    assert isakmpd_log.matching("failed") == [
        f"Main Mode with {EAST_IP} failed: no reply from {EAST_IP} after 1 "
        "retransmissions",
        f"Main Mode with {WEST_IP} failed: no reply from {WEST_IP} after 3 "
        "retransmissions"]
    for n in (w, e):
        assert n.counts() == (0, 0)
        assert _only_housekeeping(n), n.timer_names()
    # a repeat of message 1 now starts afresh: the old exchange is gone
    net.rules.clear()
    net.inject(net.sent[0].data, net.sent[0].src, net.sent[0].dst)
    [reply] = net.take()
    assert reply.data[8:16] != mm2[0].data[8:16]  # a new responder cookie


def test_exchange_max_time(isakmpd_log):
    net, w, e = gateway_pair(start=False, west={
        "general": "Retransmits= 10\nExchange-max-time= 10"})
    net.drop_all(lambda p: p.sender == "west")
    net.start()
    net.advance(60)
    mm1 = [p for p in net.sent if p.sender == "west"]
    assert [p.at for p in mm1] == [0.0, 5.0]
    assert isakmpd_log.matching("failed") == [
        f"Main Mode with {EAST_IP} failed: exchange took longer than "
        "Exchange-max-time"]
    assert w.counts() == (0, 0)
    assert _only_housekeeping(w)


def test_quick_mode_gives_up_and_keeps_phase_1(isakmpd_log):
    net, w, e = gateway_pair(start=False, west={"general": "Retransmits= 2"},
                             east={"general": "Retransmits= 2"})
    net.drop_all(lambda p: p.exchange_type == ExchangeType.QUICK_MODE
                 and p.sender == "east")
    net.start()
    net.advance(200)
    qm1 = [p for p in net.sent if p.exchange_type == 32 and p.sender == "west"]
    assert len(qm1) == 3
    fails = isakmpd_log.matching("failed")
    assert sorted(fails) == sorted([
        f"Quick Mode with {EAST_IP} failed: no reply from {EAST_IP} after 2 "
        "retransmissions",
        f"Quick Mode with {WEST_IP} failed: no reply from {WEST_IP} after 2 "
        "retransmissions"])
    assert w.counts() == e.counts() == (1, 0)
    assert [type(ev) for ev in w.events] == [ReleaseSPI]
    assert [type(ev) for ev in e.events] == [ReleaseSPI]
    assert int.from_bytes(w.events[0].spi, "big") == w.spis[0]
    assert int.from_bytes(e.events[0].spi, "big") == e.spis[0]
    [wi], [ei] = w.isakmp_sas(), e.isakmp_sas()
    assert wi.established and ei.established
    assert wi.exchanges == {} and ei.exchanges == {}
    assert not w.engine.connecting
    left = [t for t in w.timer_names() + e.timer_names()
            if not t.startswith(("connection_checker", "isakmp_sa_expire"))]
    assert left == []
