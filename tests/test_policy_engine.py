"""The policy deciding between engines: a responder skips the proposals
its policy refuses and answers NO-PROPOSAL-CHOSEN when none is left; an
initiator offers nothing its own policy forbids, and checks the
responder's choice. Each refusal is one warning naming the assertion."""

from __future__ import annotations

from pathlib import Path

from enginepair import (
    EAST_IP,
    PSK,
    WEST_IP,
    Network,
    established,
    gateway_pair,
    is_info,
    isakmpd_log_fixture,  # noqa: F401
    open_protected,
)
from isakmpd import _core
from isakmpd.constants import EspTransform, ExchangeType, NotifyType
from isakmpd.policy.check import Policy

SUITES = "QM-ESP-3DES-SHA-PFS-GRP14-SUITE,QM-ESP-AES-128-SHA-PFS-GRP14-SUITE"


def policy(conditions: str, licensee: str = f"passphrase:{PSK}",
           name: str = "test.policy") -> Policy:
    return Policy.from_text(
        "# a comment line first, so that the assertion starts on line 2\n"
        f'Authorizer: "POLICY"\nLicensees: "{licensee}"\n'
        f"Conditions: {conditions};\n", name)


AES_ONLY = 'app_domain == "IPsec policy" && esp_enc_alg == "aes" -> "true"'
NOTHING = 'esp_enc_alg == "blowfish" -> "true"'
WHERE = "test.policy:2 (Authorizer POLICY)"


def _qm(net, sender: str) -> list:
    return [p for p in net.sent
            if p.exchange_type == ExchangeType.QUICK_MODE and p.sender == sender]


def _refusals(isakmpd_log) -> list[str]:
    return isakmpd_log.matching(WHERE, 30)  # warnings and above


def test_responder_skips_a_refused_proposal(isakmpd_log) -> None:
    net, _w, _e = gateway_pair(suites=SUITES, east={"engine": {"policy": policy(AES_ONLY)}})
    ws, es = established(net)
    assert [p.transform_id for p in es.protos] == [EspTransform.AES]
    assert es.suite_name == ws.suite_name == "QM-ESP-AES-128-SHA-PFS-GRP14-SUITE"
    [line] = _refusals(isakmpd_log)
    assert "proposal 1 (ESP 3des hmac-sha tunnel, PFS) refused by " + WHERE in line
    assert "Conditions 'false', Licensees 'true'" in line


def test_responder_refusing_everything_says_no_proposal_chosen(isakmpd_log) -> None:
    net, w, e = gateway_pair(suites=SUITES, east={"engine": {"policy": policy(NOTHING)}})
    assert w.installed() == [] and e.installed() == []
    lines = _refusals(isakmpd_log)
    assert len(lines) == 2 and "proposal 1" in lines[0] and "proposal 2" in lines[1]
    # on the wire: one protected NOTIFY NO-PROPOSAL-CHOSEN from east
    [info] = [p for p in net.sent if is_info(p) and p.sender == "east"]
    [sa] = w.isakmp_sas()
    _, payloads = open_protected(sa, info.data)
    [n] = [x for x in payloads if isinstance(x, _core.Notify)]
    assert n.notify_type == NotifyType.NO_PROPOSAL_CHOSEN
    fails = isakmpd_log.matching("Quick Mode with", 30)
    assert any("no acceptable phase 2 proposal (2 refused by the policy)" in f
               for f in fails)
    assert any("peer answered with NO_PROPOSAL_CHOSEN" in f for f in fails)


def test_one_refusal_one_warning(isakmpd_log) -> None:
    _net, _w, e = gateway_pair(east={"engine": {"policy": policy(NOTHING)}})
    assert e.installed() == []
    [line] = _refusals(isakmpd_log)
    assert "Quick Mode from 192.0.2.1, connection vpn: proposal 1 (ESP aes-128" in line


def test_a_peer_that_is_no_licensee(isakmpd_log) -> None:
    other = policy(AES_ONLY, licensee="passphrase:another-key")
    _net, _w, e = gateway_pair(east={"engine": {"policy": other}})
    assert e.installed() == []
    [line] = _refusals(isakmpd_log)
    assert ("Licensees 'false'" in line
            and "the peer, by its pre-shared key, is not among the Licensees" in line)
    assert PSK not in "\n".join(isakmpd_log.messages(0))


def test_initiator_does_not_offer_what_its_policy_forbids(isakmpd_log) -> None:
    net, w, _e = gateway_pair(suites=SUITES, west={"engine": {"policy": policy(AES_ONLY)}})
    _ws, es = established(net)
    first = _qm(net, "west")[0]
    [sa] = w.isakmp_sas()
    _, payloads = open_protected(sa, first.data)
    [offer] = [x for x in payloads if isinstance(x, _core.SA)]
    assert [(p.number, [t.transform_id for t in p.transforms])
            for p in offer.proposals] == [(1, [EspTransform.AES])]
    assert es.suite_name == "QM-ESP-AES-128-SHA-PFS-GRP14-SUITE"
    [line] = isakmpd_log.matching("not offered", 30)
    assert "suite QM-ESP-3DES-SHA-PFS-GRP14-SUITE not offered" in line and WHERE in line


def test_initiator_policy_forbidding_every_suite(isakmpd_log) -> None:
    net, w, _e = gateway_pair(suites=SUITES, west={"engine": {"policy": policy(NOTHING)}})
    assert _qm(net, "west") == []
    assert w.installed() == []
    assert isakmpd_log.matching("the policy forbids every suite it could offer", 30)
    assert len(isakmpd_log.matching("not offered", 30)) == 2


def test_initiator_checks_the_responders_choice(isakmpd_log) -> None:
    """The policy changes (SIGHUP) between the offer and the answer: the
    answer is refused with NO-PROPOSAL-CHOSEN, as isakmpd checks it."""
    net, w, e = gateway_pair(start=False)
    w.engine.policy = policy(AES_ONLY)
    net.hold(lambda p: p.exchange_type == ExchangeType.QUICK_MODE and p.sender == "east")
    net.start()
    net.run()
    w.engine.policy = policy(NOTHING)
    net.release()
    net.run()
    assert w.installed() == [] and e.installed() == []
    fails = isakmpd_log.matching("Quick Mode with 192.0.2.2 failed", 30)
    assert len(fails) == 1 and "the responder's choice" in fails[0], fails
    assert WHERE in fails[0]
    [info] = [p for p in net.sent if is_info(p) and p.sender == "west"]
    [sa] = w.isakmp_sas()
    _, payloads = open_protected(sa, info.data)
    assert [x.notify_type for x in payloads if isinstance(x, _core.Notify)] == [
        NotifyType.NO_PROPOSAL_CHOSEN]


def test_policy_off_accepts_what_the_configuration_allows() -> None:
    net, _w, _e = gateway_pair(suites=SUITES, east={"engine": {"policy": Policy.off("-K")}},
                             west={"engine": {"policy": Policy.off("-K")}})
    _ws, es = established(net)
    assert es.suite_name == "QM-ESP-3DES-SHA-PFS-GRP14-SUITE"


def test_the_responder_still_needs_its_configuration(isakmpd_log) -> None:
    """A policy allowing everything does not widen the configuration."""
    anything = policy('app_domain == "IPsec policy" -> "true"')
    _net, _w, e = gateway_pair(west={"suites": "QM-ESP-3DES-SHA-PFS-GRP14-SUITE"},
                             east={"engine": {"policy": anything}})
    assert e.installed() == []
    assert _refusals(isakmpd_log) == []


def test_example_configurations_with_the_example_policy(isakmpd_log) -> None:
    """examples/west.conf and east.conf, each checked by
    examples/isakmpd.policy on both sides, negotiate; with another key in
    the policy, neither side lets the SA exist."""
    examples = Path(__file__).resolve().parents[1] / "examples"
    text = (examples / "isakmpd.policy").read_text()
    for key, ok in (("change-this-to-the-same-long-random-secret-on-both", True),
                    ("another-secret", False)):
        net = Network()
        pol = text.replace("change-this-to-the-same-long-random-secret-on-both", key)
        for name, ip, seed in (("east", EAST_IP, 2), ("west", WEST_IP, 1)):
            net.add(name, (examples / f"{name}.conf").read_text(), seed, ip,
                    policy=Policy.from_text(pol, "isakmpd.policy"))
        net.start()
        net.run()
        assert len(net["west"].installed()) == len(net["east"].installed()) == int(ok)
    assert isakmpd_log.matching("suite QM-ESP-AES-128-SHA-PFS-GRP14-SUITE not offered",
                                30)
