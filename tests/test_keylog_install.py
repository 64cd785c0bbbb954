"""The installation files: the manual page and the systemd unit.

The manual page must render with groff (and man) without a warning and
document every option the command takes and every FIFO command it knows,
packet capture and key export included. The unit must be what
``isakmpd --print-systemd-unit`` prints, pass ``systemd-analyze verify``,
run the daemon in the foreground and keep the capabilities XFRM and port
500 need.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from isakmpd import cli

ROOT = Path(__file__).resolve().parents[1]
MAN = ROOT / "man" / "isakmpd.8"
UNIT = ROOT / "python" / "isakmpd" / "data" / "isakmpd.service"
#: FIFO commands of ui.py, as the manual page's list items show them
FIFO = ["c", "C set", "C add", "C rmv", "C rm", "C rms", "C get", "d", "D", "D A",
        "D T", "k on", "k off", "M", "p on", "p off", "Q", "R", "r", "S", "T", "t"]


def _render(*argv: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed (apt-get install groff-base man-db)")
    env = {**os.environ, "LC_ALL": "C.UTF-8", "MANWIDTH": "100"}
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60, env=env)


def test_man_page_renders_without_warnings() -> None:
    res = _render("groff", "-man", "-Tutf8", "-ww", "-z", str(MAN))
    assert res.returncode == 0 and res.stderr == "", res.stderr
    res = _render("man", "--warnings", "-l", str(MAN))
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert "DIFFERENCES FROM OPENBSD" in res.stdout


def _man_text() -> str:
    res = _render("man", "-l", str(MAN))
    return re.sub(r".\x08", "", res.stdout)


def _section(text: str, name: str) -> str:
    """A section of the rendered page: from its heading to the next one."""
    m = re.search(rf"^{name}\n(.*?)(?=^[A-Z])", text, re.MULTILINE | re.DOTALL)
    assert m, name
    return m.group(1)


def test_man_page_documents_every_option() -> None:
    text = _man_text()
    parser_options = set()
    # the options cli.parse_args accepts, from its own parser
    src = Path(cli.__file__).read_text()
    for opt in re.findall(r'p\.add_argument\("(-[-\w]+)"', src):
        parser_options.add(opt)
    assert {"-L", "-l", "--keylog", "--print-systemd-unit"} <= parser_options
    for opt in sorted(parser_options):
        assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text), opt
    options = _section(text, "OPTIONS")
    for opt in sorted(parser_options):
        assert opt in options, f"{opt} is not in OPTIONS"
    fifo = _section(text, "THE FIFO")
    for cmd in FIFO:
        item = rf"^ {{5}}{re.escape(cmd)}(?:[\s[]|$)"
        assert re.search(item, fifo, re.MULTILINE), cmd
    for section in ("SIGNALS", "PACKET CAPTURE", "KEY EXPORT", "FILES"):
        assert re.search(rf"^{section}$", text, re.MULTILINE), section
    for name in ("SIGHUP", "SIGUSR1", "SIGTERM", "/var/run/isakmpd.pcap",
                 "ikev1_decryption_table", "esp_sa", "WIRESHARK_CONFIG_DIR",
                 "DLT_LOOP", "--print-systemd-unit > /etc/systemd/system"):
        assert name in text, name


def test_usage_mentions_what_the_manual_says() -> None:
    res = subprocess.run([sys.executable, "-m", "isakmpd", "--help"],
                         capture_output=True, text=True, check=False, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "python")})
    assert res.returncode == 0
    for word in ("--keylog dir", "k on[=dir], k off", "p on[=file], p off",
                 "--print-systemd-unit"):
        assert word in res.stdout, word
    assert "not supported" not in res.stdout and "-L, -l" not in res.stdout


def test_print_systemd_unit() -> None:
    res = subprocess.run([sys.executable, "-m", "isakmpd", "--print-systemd-unit"],
                         capture_output=True, text=True, check=False, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "python")})
    assert res.returncode == 0 and res.stderr == ""
    assert res.stdout == UNIT.read_text() == cli.systemd_unit()


def _unit() -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            k, _, v = line.partition("=")
            keys.setdefault(k, []).append(v)
    return keys


def test_unit_runs_in_the_foreground_with_what_it_needs() -> None:
    u = _unit()
    assert u["ExecStart"] == ["isakmpd -d"]
    assert u["Type"] == ["exec"]
    assert u["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert set(u["CapabilityBoundingSet"][0].split()) == {"CAP_NET_ADMIN",
                                                          "CAP_NET_BIND_SERVICE"}
    families = set(u["RestrictAddressFamilies"][0].split())
    assert {"AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"} == families
    assert u["ProtectSystem"] == ["strict"] and u["ReadWritePaths"] == ["/run"]
    assert u["NoNewPrivileges"] == ["yes"]
    assert u["SystemCallFilter"] == ["@system-service"]


def test_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart exists: point it at a real program
    text = UNIT.read_text().replace("ExecStart=isakmpd -d", "ExecStart=/bin/true -d")
    unit = tmp_path / "isakmpd.service"
    unit.write_text(text)
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                         capture_output=True, text=True, check=False, timeout=60)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    # every system call the daemon needs is in @system-service
    res = subprocess.run(["systemd-analyze", "syscall-filter", "@system-service"],
                         capture_output=True, text=True, check=False, timeout=60)
    allowed = set(res.stdout.split())
    for group in [w for w in list(allowed) if w.startswith("@")]:
        sub = subprocess.run(["systemd-analyze", "syscall-filter", group],
                             capture_output=True, text=True, check=False, timeout=60)
        allowed |= set(sub.stdout.split())
    for call in ("socket", "bind", "setsockopt", "recvmsg", "sendmsg", "mknodat",
                 "epoll_wait", "getrandom", "sendto", "recvfrom"):
        assert call in allowed, call
