"""Reading the policy file: Policy-file and its default, the secrecy check,
syntax errors with file and line, -K and Use-Keynote=no, a missing file
(one warning, no check), and reloading (errors keep the running policy)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from enginepair import isakmpd_log_fixture  # noqa: F401
from isakmpd.conf.store import Conf
from isakmpd.errors import ConfigError
from isakmpd.policy.check import DFLT_CREDENTIAL_DIR, Policy

GOOD = ('KeyNote-Version: 2\nAuthorizer: "POLICY"\nLicensees: "passphrase:k"\n'
        'Conditions: esp_present == "yes" -> "true";\n')


def conf(general: str = "", extra: str = "") -> Conf:
    return Conf.from_text(f"[General]\n{general}\n{extra}", "isakmpd.conf")


def write(path: Path, text: str = GOOD, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_policy_file_and_credential_directory(tmp_path: Path) -> None:
    p = write(tmp_path / "my.policy")
    pol = Policy.load(conf(f"Policy-file= {p}",
                           f"[KeyNote]\nCredential-directory= {tmp_path}/creds/\n"))
    assert pol.active and pol.path == str(p)
    assert pol.credential_dir == f"{tmp_path}/creds/"
    [a] = pol.session.assertions
    assert a.where == f"{p}:1"


def test_the_defaults(tmp_path: Path, isakmpd_log) -> None:
    if os.path.lexists("/etc/isakmpd/isakmpd.policy"):
        pytest.skip("this machine has an /etc/isakmpd/isakmpd.policy")
    pol = Policy.load(conf(), base_dir=str(tmp_path))
    assert not pol.active
    assert pol.off_reason == "no policy file /etc/isakmpd/isakmpd.policy"
    [line] = isakmpd_log.matching("no policy file", 30)
    assert line == ("no policy file /etc/isakmpd/isakmpd.policy: every proposal the "
                    "configuration allows is accepted; use -K to say so explicitly")
    assert DFLT_CREDENTIAL_DIR == "/etc/isakmpd/keynote/"


def test_relative_path_is_taken_from_the_start_directory(tmp_path: Path) -> None:
    write(tmp_path / "rel.policy")
    pol = Policy.load(conf("Policy-file= rel.policy"), base_dir=str(tmp_path))
    assert pol.active and pol.path == str(tmp_path / "rel.policy")


@pytest.mark.parametrize(("mode", "hint"), [(0o640, "chmod 600"), (0o604, "chmod 600")])
def test_secrecy(tmp_path: Path, mode: int, hint: str) -> None:
    p = write(tmp_path / "open.policy", mode=mode)
    with pytest.raises(ConfigError) as e:
        Policy.load(conf(f"Policy-file= {p}"))
    assert e.value.file == str(p)
    assert f"fix with: {hint} {p}" in str(e.value)


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path / "bad.policy", GOOD + '\nAuthorizer: "POLICY"\n'
              'Conditions: esp_present == "yes" &&;\n')
    with pytest.raises(ConfigError) as e:
        Policy.load(conf(f"Policy-file= {p}"))
    assert (e.value.file, e.value.line) == (str(p), 7)
    assert str(e.value).startswith(f"{p}:7: ")


@pytest.mark.parametrize(("general", "no_keynote", "why"), [
    ("", True, "-K"),
    ("Use-Keynote= no", False, "[General] Use-Keynote=no"),
])
def test_off(tmp_path: Path, general: str, no_keynote: bool, why: str) -> None:
    p = write(tmp_path / "open.policy", mode=0o644)  # not even read
    pol = Policy.load(conf(f"Policy-file= {p}\n{general}"), no_keynote=no_keynote)
    assert not pol.active and pol.off_reason == why
    assert pol.allowed(None, None, "responder") == (True, f"no policy check ({why})")


def test_a_policy_without_policy_assertions_is_said(tmp_path: Path,
                                                     isakmpd_log) -> None:
    p = write(tmp_path / "empty.policy", "# nothing here\n")
    assert Policy.load(conf(f"Policy-file= {p}")).active
    assert isakmpd_log.matching('has no assertion with Authorizer "POLICY"', 30)


def test_reload_keeps_the_running_policy_on_errors(tmp_path: Path,
                                                   isakmpd_log) -> None:
    p = write(tmp_path / "a.policy")
    c = conf(f"Policy-file= {p}")
    pol = Policy.load(c)
    for breakage in ("syntax", "mode", "gone"):
        write(p)
        if breakage == "syntax":
            write(p, "Authorizer: POLICY\n")
        elif breakage == "mode":
            p.chmod(0o660)
        else:
            p.unlink()
        isakmpd_log.clear()
        assert pol.reload(c) is pol, breakage
        [line] = isakmpd_log.matching("policy not reloaded", 30)
        assert line.startswith(f"policy not reloaded, keeping the running one: {p}")
    write(p, GOOD.replace("passphrase:k", "passphrase:other"))
    new = pol.reload(c)
    assert new is not pol and new.active
    assert "passphrase:other" in new.session.assertions[0].text


def test_reload_from_off_to_on_and_back(tmp_path: Path) -> None:
    p = tmp_path / "later.policy"
    c = conf(f"Policy-file= {p}")
    pol = Policy.load(c)
    assert not pol.active  # no file yet
    write(p)
    pol = pol.reload(c)
    assert pol.active
    off = pol.reload(conf(f"Policy-file= {p}\nUse-Keynote= no"))
    assert not off.active
    k = Policy.load(c, no_keynote=True)
    assert not k.reload(c).active  # -K stays


def test_a_constant_regular_expression_that_does_not_compile_is_named(
        tmp_path: Path, isakmpd_log) -> None:
    """Legal (the clause is false, RFC 2704), but not what was meant: one
    warning with file and line when the policy is read; a valid one and a
    pattern built at run time say nothing."""
    p = write(tmp_path / "re.policy",
              'KeyNote-Version: 2\nAuthorizer: "POLICY"\nLicensees: "passphrase:k"\n'
              'Conditions: esp_present == "yes" &&\n'
              '            esp_enc_alg ~= "^(aes|3des$" -> "true";\n'
              '            esp_enc_alg ~= "^(aes|3des)$" -> "true";\n'
              '            esp_enc_alg ~= ("(" . esp_enc_alg) -> "true";\n')
    pol = Policy.load(conf(f"Policy-file= {p}"))
    assert pol.active
    [line] = isakmpd_log.matching("regular expression", 30)
    assert line.startswith(f"{p}:5: invalid regular expression '^(aes|3des$' (")
    assert line.endswith("): the comparison is always false")
