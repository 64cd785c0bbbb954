"""Logging: secrets stay out of the log below crypto level 99; the line
format; where the log goes without -d."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import lab
import pytest
from isakmpd import log
from test_daemon_support import PSK, conf_for, start_pair, started

Factory = Callable[..., lab.Isakmpd]

WARNING_99 = "crypto debug level 99: key material will be logged"


def _secrets(text: str) -> dict[str, str]:
    """Key material a daemon logged at Cryp 99, by what it is."""
    out = {}
    for m in re.finditer(r"Cryp 99 (.*?) ([0-9a-f]{32,})$", text, re.MULTILINE):
        what, value = m.groups()
        if "IV" in what:  # derived from public values, not a secret
            continue
        out[what] = value
    return out


def _windows(hexstr: str, size: int = 16) -> set[str]:
    return {hexstr[i:i + size] for i in range(0, len(hexstr) - size + 1, 2)}


@pytest.mark.netns
@pytest.mark.timeout(120)
@pytest.mark.parametrize("keylogger", ["east", "west"])
def test_secrets_are_logged_only_at_crypto_level_99(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory, keylogger: str
) -> None:
    """Both daemons run at -D A=98; one also gets -D 3=99. Both hold the same
    keys: none of what the one at 99 logged (nor the pre-shared key) appears
    in the other's log."""
    args99 = ["-n", "-D", "3=99"]
    west, east = start_pair(netns_pair, isakmpd_factory, debug=98,
                            west_args=args99 if keylogger == "west" else ["-n"],
                            east_args=args99 if keylogger == "east" else ["-n"])
    west.fifo("t west-east")  # DELETEs, more crypto on both sides
    east.wait_log(r"deleted IPsec SA")
    loud, quiet = (east, west) if keylogger == "east" else (west, east)
    assert quiet.stop() == 0 and loud.stop() == 0
    loud_log, quiet_log = loud.log(), quiet.log()

    assert re.search(rf"^\d{{6}}\.\d{{6}} Default {WARNING_99}$", loud_log,
                     re.MULTILINE)
    assert WARNING_99 not in quiet_log
    # the warning comes before any negotiation
    assert loud_log.index(WARNING_99) < loud_log.index("ISAKMP SA")

    secrets = _secrets(loud_log)
    kinds = " ".join(secrets)
    for k in ("g^xy", "SKEYID ", "SKEYID_D", "SKEYID_A", "SKEYID_E", "encryption key",
              "SPI", "in KEYMAT", "out KEYMAT"):
        assert k in kinds + " ", f"{k} not logged at 99: {sorted(secrets)}"
    assert len(quiet_log.splitlines()) > 15  # the quiet side did log
    for what, value in secrets.items():
        leaked = [w for w in _windows(value) if w in quiet_log]
        assert not leaked, f"{what} of the peer's log found at level 98"
    assert PSK not in quiet_log
    assert PSK.encode().hex() not in quiet_log


@pytest.mark.netns
@pytest.mark.timeout(60)
def test_fifo_D_3_99_warns(netns_pair: lab.NetnsPair, isakmpd_factory: Factory) -> None:
    w, e = netns_pair.west, netns_pair.east
    d = started(isakmpd_factory(w, conf_for(w, e, active=False), args=["-n"],
                                debug=10))
    assert WARNING_99 not in d.log()
    d.fifo("D 3 99")
    d.wait_log(WARNING_99)
    d.fifo("D A 99")  # already at 99: no second warning
    d.fifo("D 3 10")
    d.fifo("D 3 99")
    d.fifo("S")
    lab.wait_until(d.result_path.exists, 5, "result")
    assert d.log().count(WARNING_99) == 2


@pytest.mark.netns
@pytest.mark.timeout(60)
def test_loglevel_99_in_the_configuration_warns(
    netns_pair: lab.NetnsPair, isakmpd_factory: Factory
) -> None:
    w, e = netns_pair.west, netns_pair.east
    d = isakmpd_factory(w, conf_for(w, e, active=False, general="Loglevel=\t3=99"),
                        start=False)
    d.argv = lambda: [  # type: ignore[method-assign]
        *d.command, "-d", "-n", "-c", str(d.conf_path), "-f", str(d.fifo_path),
        "-i", str(d.pid_path)]
    started(d.start())
    assert WARNING_99 in d.log()


# ------------------------------------------------------------------ log.py
@pytest.fixture
def restore_logging() -> Iterator[None]:
    handlers = list(log.root.handlers)
    levels = [log.level(c) for c in log.Cls]
    yield
    for h in list(log.root.handlers):
        log.root.removeHandler(h)
        if h not in handlers:
            h.close()
    for h in handlers:
        log.root.addHandler(h)
    for c, lvl in zip(log.Cls, levels):
        log.set_level(int(c), lvl)


def test_without_syslog_the_log_goes_to_stderr(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(log, "SYSLOG_SOCKET", str(tmp_path / "no-such-socket"))
    log.setup(to_stderr=False)
    assert not log.uses_syslog()
    log.logger(log.Cls.MISC).error("to stderr")
    err = capsys.readouterr().err
    assert re.search(r"^\d{6}\.\d{6} Default to stderr$", err, re.MULTILINE)


def test_with_syslog_the_log_goes_there(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = str(tmp_path / "log")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(path)
        s.settimeout(5)
        monkeypatch.setattr(log, "SYSLOG_SOCKET", path)
        log.setup(to_stderr=False)
        assert log.uses_syslog()
        log.logger(log.Cls.MISC).warning("to syslog")
        msg = s.recv(4096).decode()
    assert re.match(r"<\d+>isakmpd\[\d+\]: to syslog", msg)
    assert int(msg[1:msg.index(">")]) >> 3 == 3  # facility daemon


def test_line_format_and_cutting(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    log.setup(to_stderr=True)
    log.set_level(7, 50)
    log.debug(log.Cls.EXCHANGE, 40, "x" * 300)
    log.debug(log.Cls.EXCHANGE, 60, "not shown")
    log.logger(log.Cls.EXCHANGE).error("e" * 300 + " fix with: this")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"\d{6}\.\d{6} Exch 40 x{200}", lines[0])  # cut at 200
    assert lines[1].endswith(" fix with: this")  # errors are kept whole
    assert re.match(r"\d{6}\.\d{6} Default e", lines[1])


def test_stamp_is_local_time() -> None:
    import time

    t = time.mktime((2024, 1, 2, 13, 4, 5, 0, 0, -1)) + 0.25
    assert log.stamp(t) == "130405.250000"


def test_level_parsing() -> None:
    assert log.parse_spec("A=5") == ("A", 5)
    assert log.parse_spec("10=99") == (10, 99)
    for bad in ("11=1", "1=100", "=3", "1", "a=b", "-1=3"):
        with pytest.raises(ValueError):
            log.parse_spec(bad)


def test_no_logging_module_leak() -> None:
    """Our records do not reach the root logger (no doubled lines)."""
    assert log.root.propagate is False or not logging.getLogger().handlers
