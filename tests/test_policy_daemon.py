"""The policy in the daemon: -K and Use-Keynote=no turn it off, a missing
policy file is one warning, a policy file others can read or that does not
parse stops the start (file, line, fixing hint), and SIGHUP reads it again
(a broken one keeps the running policy)."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from pathlib import Path

import lab
import pytest
from test_daemon_support import (
    ESTABLISHED_P2,
    PSK,
    conf_for,
    private_conf,
    run_isakmpd,
    start_pair,
    started,
    wait_established,
)

Factory = Callable[..., lab.Isakmpd]

REFUSE = 'esp_enc_alg == "blowfish"'  # what the test configurations never do
ALLOW = 'esp_enc_alg == "aes" && @esp_key_length >= 128'
NO_POLICY = ("no policy file {}: every proposal the configuration allows is "
             "accepted; use -K to say so explicitly")


def policy_text(conditions: str, licensee: str = f"passphrase:{PSK}") -> str:
    return (f"# test policy\nKeyNote-Version: 2\nAuthorizer: \"POLICY\"\n"
            f"Licensees: \"{licensee}\"\n"
            f'Conditions: app_domain == "IPsec policy" && {conditions} -> "true";\n')


def write_policy(path: Path, conditions: str, mode: int = 0o600) -> Path:
    return private_conf(path, policy_text(conditions), mode)


def east_with_policy(pair: lab.NetnsPair, path: Path, general: str = "") -> str:
    e, w = pair.east, pair.west
    return conf_for(e, w, active=False,
                    general=f"Policy-file=\t{path}\n{general}".strip("\n"))


# ------------------------------------------------------------ start-up refusals

def _conf_file(tmp_path: Path, policy: Path) -> Path:
    text = f"[General]\nListen-on=\t127.0.0.1\nPolicy-file=\t{policy}\n"
    return private_conf(tmp_path / "isakmpd.conf", text)


def test_group_readable_policy_file_is_refused(tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "isakmpd.policy", ALLOW, mode=0o640)
    conf = _conf_file(tmp_path, policy)
    r = run_isakmpd("-d", "-n", "-c", str(conf), "-f", str(tmp_path / "fifo"),
                    "-i", str(tmp_path / "pid"))
    assert r.returncode == 1, r.stderr
    assert f"isakmpd: policy: {policy}: not loading: permissions 0640" in r.stderr
    assert f"fix with: chmod 600 {policy}" in r.stderr
    assert not (tmp_path / "fifo").exists()


def test_policy_that_does_not_parse_is_refused(tmp_path: Path) -> None:
    policy = private_conf(tmp_path / "isakmpd.policy",
                          policy_text(ALLOW) + "\nAuthorizer: \"POLICY\"\n"
                          "Conditions: esp_present == -> \"true\";\n")
    conf = _conf_file(tmp_path, policy)
    r = run_isakmpd("-d", "-n", "-c", str(conf), "-f", str(tmp_path / "fifo"),
                    "-i", str(tmp_path / "pid"))
    assert r.returncode == 1, r.stderr
    assert re.search(rf"isakmpd: policy: {re.escape(str(policy))}:8: ", r.stderr), \
        r.stderr


# ------------------------------------------------------------ running daemons

@pytest.mark.netns
@pytest.mark.timeout(90)
@pytest.mark.parametrize("how", ["-K", "Use-Keynote=no"])
def test_k_and_use_keynote_no_turn_the_check_off(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path, how: str
) -> None:
    # with -K the file is not even read: a mode that would stop the start
    mode = 0o644 if how == "-K" else 0o600
    policy = write_policy(tmp_path / "refuse.policy", REFUSE, mode)
    general = "Use-Keynote=\tno" if how != "-K" else ""
    args = ["-n", "-K"] if how == "-K" else ["-n"]
    _west, east = start_pair(netns_pair, isakmpd_factory,
                            east_conf=east_with_policy(netns_pair, policy, general),
                            east_args=args)
    assert "refused by" not in east.log()
    assert "no policy file" not in east.log()


@pytest.mark.netns
@pytest.mark.timeout(90)
def test_missing_policy_file_is_one_warning(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "isakmpd.policy"
    _west, east = start_pair(netns_pair, isakmpd_factory,
                            east_conf=east_with_policy(netns_pair, missing))
    log = started(east).log()
    lines = [ln for ln in log.splitlines() if "no policy file" in ln]
    assert len(lines) == 1 and lines[0].endswith(NO_POLICY.format(missing)), lines
    assert re.match(r"^\d{6}\.\d{6} Default ", lines[0])  # shown at any debug level


@pytest.mark.netns
@pytest.mark.timeout(120)
def test_sighup_rereads_the_policy(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, tmp_path: Path
) -> None:
    """East refuses west's proposal; a broken policy on SIGHUP keeps that
    policy; a policy allowing it, on the next SIGHUP, lets the same
    proposal through."""
    policy = write_policy(tmp_path / "east.policy", REFUSE)
    west, east = start_pair(netns_pair, isakmpd_factory, wait=False,
                            east_conf=east_with_policy(netns_pair, policy))
    m = east.wait_log(r"Quick Mode from \S+, connection east-west: proposal 1 "
                      r"\((.*)\) refused by (\S+):(\d+) \(Authorizer POLICY\)", 20)
    assert m.group(1) == "ESP aes-128 hmac-sha tunnel, PFS"
    assert (m.group(2), m.group(3)) == (str(policy), "2")
    west.wait_log(r"peer answered with NO_PROPOSAL_CHOSEN", 10)
    assert not re.search(ESTABLISHED_P2, east.log())

    # a broken policy: logged, the running one stays
    private_conf(policy, policy_text("esp_enc_alg =="))
    mark = east.mark()
    east.signal(signal.SIGHUP)
    m = east.wait_log(r"policy not reloaded, keeping the running one: (.*)$", 10,
                      since=mark)
    assert m.group(1).startswith(f"{policy}:5: ")
    east.wait_log(r"configuration reloaded", 10, since=mark)
    wmark = west.mark()
    west.fifo("c west-east")
    east.wait_log(r"proposal 1 \(ESP aes-128 .*\) refused by ", 15, since=mark)
    west.wait_log(r"peer answered with NO_PROPOSAL_CHOSEN", 10, since=wmark)

    # a policy allowing it
    write_policy(policy, ALLOW)
    mark, wmark = east.mark(), west.mark()
    east.signal(signal.SIGHUP)
    east.wait_log(r"configuration reloaded", 10, since=mark)
    west.fifo("c west-east")
    wait_established(west, east, since=[wmark, mark])
    assert "refused by" not in east.log()[mark:]
    assert "policy not reloaded" not in east.log()[mark:]
