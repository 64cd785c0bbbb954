"""The isakmpd command line (isakmpd(8) OPTIONS): parsing, usage, and the
errors a user sees before the daemon binds anything.

These run ``python3 -m isakmpd`` on the host: every case here stops before a
socket is opened (bad option, bad configuration file).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from isakmpd import cli
from test_daemon_support import private_conf, run_isakmpd

USAGE_HEAD = "usage: isakmpd "


# ------------------------------------------------------------------ parsing
def test_defaults_are_isakmpds() -> None:
    o = cli.parse_args([])
    assert (o.config, o.fifo, o.pidfile, o.report) == (
        "/etc/isakmpd/isakmpd.conf", "/var/run/isakmpd.fifo",
        "/var/run/isakmpd.pid", "/var/run/isakmpd.report")
    assert o.result == "/var/run/isakmpd.result"
    assert (o.listen_port, o.natt_port, o.local_port) == (500, 4500, None)
    assert o.ipv4 and o.ipv6 and not o.debug and not o.no_kernel
    assert o.seed is None and o.pcap is None and o.debug_levels == []


def test_every_option_of_the_man_page() -> None:
    o = cli.parse_args([
        "-4", "-a", "-c", "/x.conf", "-d", "-D", "7=50", "-f", "/f", "-i", "/p",
        "-K", "-l", "/cap.pcap", "-n", "-N", "14500", "-p", "1500", "-P", "1501",
        "-r", "42", "-R", "/rep", "-S", "-T", "-v", "--result-file", "/res",
    ])  # fmt: skip
    assert o.ipv4 and not o.ipv6
    assert o.no_flows and o.no_keynote and o.no_kernel and o.passive
    assert o.no_natt and o.verbose and o.debug == 1
    assert (o.config, o.fifo, o.pidfile, o.report, o.result) == (
        "/x.conf", "/f", "/p", "/rep", "/res")
    assert o.pcap == "/cap.pcap"
    assert (o.natt_port, o.listen_port, o.local_port, o.seed) == (14500, 1500, 1501, 42)
    assert o.debug_levels == [(7, 50)]


def test_six_only_and_L_default_capture_file() -> None:
    o = cli.parse_args(["-6", "-L"])
    assert o.ipv6 and not o.ipv4
    assert o.pcap == "/var/run/isakmpd.pcap"
    assert cli.parse_args(["-L", "-l", "/other.pcap"]).pcap == "/other.pcap"


def test_debug_is_repeatable_and_keeps_order() -> None:
    o = cli.parse_args(["-D", "A=10", "-D", "3=99", "-D", "a=20", "-D", " 10 = 5"])
    assert o.debug_levels == [("A", 10), (3, 99), ("A", 20), (10, 5)]
    assert cli.parse_args(["-dd"]).debug == 2


def test_seed_accepts_hex() -> None:
    assert cli.parse_args(["-r", "0x10"]).seed == 16


@pytest.mark.parametrize("args, words", [
    (["-D", "11=3"], ["class", "0-10"]),
    (["-D", "3=100"], ["level", "0-99"]),
    (["-D", "3=-1"], ["level", "0-99"]),
    (["-D", "A="], ["class=level"]),
    (["-D", "3"], ["class=level"]),
    (["-D", "x=3"], ["class=level"]),
    (["-p", "0"], ["port", "1-65535"]),
    (["-p", "65536"], ["port", "1-65535"]),
    (["-P", "port"], ["bad port"]),
    (["-N", "-1"], []),
    (["-r", "seed"], ["bad seed"]),
    (["-4", "-6"], ["-4", "-6"]),
    (["-x"], ["-x"]),
    (["--bogus"], ["--bogus"]),
    (["-c"], ["-c"]),
    (["extra"], ["extra"]),
])  # fmt: skip
def test_bad_arguments_give_usage_on_stderr_and_status_2(
    args: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ex:
        cli.parse_args(args)
    assert ex.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("isakmpd: ")
    assert USAGE_HEAD in err
    first = err.splitlines()[0]
    for w in words:
        assert w in first


# ------------------------------------------------------------------ the command
def test_bad_option_from_the_command() -> None:
    res = run_isakmpd("-n", "-Z")
    assert res.returncode == 2
    assert res.stdout == ""
    assert "-Z" in res.stderr and USAGE_HEAD in res.stderr


@pytest.mark.parametrize("opt", ["-h", "--help"])
def test_help(opt: str) -> None:
    res = run_isakmpd(opt)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(USAGE_HEAD)
    for o in ("-c config-file", "-D class=level", "-f fifo", "-i pid-file",
              "-p listen-port", "-P local-port", "-r seed", "-R report-file"):
        assert o in res.stdout
    assert "FIFO commands" in res.stdout
    assert "options:" not in res.stdout  # no second, argparse-made list
    assert res.stderr == ""


def test_version() -> None:
    from isakmpd import __version__

    res = run_isakmpd("--version")
    assert res.returncode == 0
    assert res.stdout.strip() == f"isakmpd {__version__}"


def test_missing_config_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    res = run_isakmpd("-d", "-n", "-c", str(missing), "-f", str(tmp_path / "fifo"),
                      "-i", str(tmp_path / "pid"))
    assert res.returncode != 0
    assert f"{missing}: cannot open: No such file or directory" in res.stderr
    assert not (tmp_path / "fifo").exists() and not (tmp_path / "pid").exists()


def test_bad_line_names_file_line_and_reason(tmp_path: Path) -> None:
    conf = private_conf(tmp_path / "bad.conf",
                        "# comment\n[General]\nRetransmits=\t3\nthis is not a tag\n")
    res = run_isakmpd("-d", "-n", "-c", str(conf), "-f", str(tmp_path / "fifo"),
                      "-i", str(tmp_path / "pid"))
    assert res.returncode != 0
    assert f"{conf}:4: " in res.stderr
    assert "expected [section], tag=value or a comment" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "fifo").exists()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o610])
def test_config_readable_by_others_is_refused_with_a_hint(
    tmp_path: Path, mode: int
) -> None:
    conf = private_conf(tmp_path / "isakmpd.conf", "[General]\n", mode)
    res = run_isakmpd("-d", "-n", "-c", str(conf), "-f", str(tmp_path / "fifo"),
                      "-i", str(tmp_path / "pid"))
    assert res.returncode != 0
    assert str(conf) in res.stderr
    assert f"permissions {mode:04o}" in res.stderr
    assert f"chmod 600 {conf}" in res.stderr
    assert not (tmp_path / "fifo").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_config_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    conf = private_conf(tmp_path / "isakmpd.conf", "[General]\n")
    os.chown(conf, 65534, 65534)
    res = run_isakmpd("-d", "-n", "-c", str(conf), "-f", str(tmp_path / "fifo"))
    assert res.returncode != 0
    assert "owned by uid 65534" in res.stderr and f"chown 0 {conf}" in res.stderr


def test_config_that_is_a_directory(tmp_path: Path) -> None:
    d = tmp_path / "conf.d"
    d.mkdir(mode=0o700)
    res = run_isakmpd("-d", "-n", "-c", str(d), "-f", str(tmp_path / "fifo"))
    assert res.returncode != 0
    assert f"{d}: " in res.stderr and "Traceback" not in res.stderr
