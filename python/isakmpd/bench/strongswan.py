"""strongSwan's charon for the comparisons: a responder, and its load-tester
plugin as an initiator, both with the plugin's fake kernel interface (no SA
reaches any kernel, as with our daemon's -n).

Debian does not ship the load-tester plugin: tools/bench/build-strongswan.sh
builds charon with it into a cache directory (``ISAKMPD_BENCH_CACHE``,
default /var/cache/isakmpd-bench); :func:`find_charon` finds that build.
charon's pid file path is compiled in, so each charon runs in a private
mount namespace with its own directory mounted over it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import procstat
from .netns import BenchError

# load-tester before kernel-netlink: the first kernel interface registered
# wins, and the plugin's fake one must take the SAs
PLUGINS = ("random nonce openssl aes sha1 sha2 hmac gmp pem pkcs1 x509 pubkey "
           "load-tester kernel-netlink socket-default")


def cache_dir() -> Path:
    return Path(os.environ.get("ISAKMPD_BENCH_CACHE", "/var/cache/isakmpd-bench"))


def find_charon() -> Path | None:
    """charon of the load-tester build, if it was built."""
    prefix = cache_dir() / "strongswan" / "prefix"
    charon = prefix / "libexec" / "ipsec" / "charon"
    plugin = prefix / "lib" / "ipsec" / "plugins" / "libstrongswan-load-tester.so"
    return charon if charon.exists() and plugin.exists() else None


@dataclass
class LoadTest:
    """What the load-tester does (as initiator) or accepts (as responder)."""

    psk: str
    ike: str
    esp: str
    initiators: int = 0
    iterations: int = 0
    initiator: str = ""
    responder: str = ""
    init_limit: int = 0
    addrs: str = ""  # "ifname = CIDR": a fresh source address per IKE_SA


def _conf(run_dir: Path, log: Path, lt: LoadTest, threads: int = 16) -> str:
    lines = [
        "# written by isakmpd-bench",
        "charon {",
        f"  load = {PLUGINS}",
        "  install_routes = no",
        "  install_virtual_ip = no",
        f"  threads = {threads}",
        "  # many IKE_SAs from few addresses: no per-IP half-open limit",
        "  block_threshold = 1000000",
        "  cookie_threshold = 1000000",
        "  init_limit_half_open = 0",
        "  # a hash table that fits thousands of IKE_SAs",
        "  ikesa_table_size = 4096",
        "  ikesa_table_segments = 16",
        "  retransmit_timeout = 10",
        "  filelog {",
        "    bench {",
        f"      path = {log}",
        "      time_format = %s",
        "      time_add_ms = yes",
        "      append = no",
        "      default = 0",
        "      flush_line = yes",
        "    }",
        "  }",
        "  syslog { daemon { default = -1 } auth { default = -1 } }",
        "  plugins {",
        "    load-tester {",
        "      enable = yes",
        "      version = 1",
        "      fake_kernel = yes",
        f"      initiators = {lt.initiators}",
        f"      iterations = {lt.iterations}",
        f"      initiator = {lt.initiator or '0.0.0.0'}",
        f"      responder = {lt.responder or '0.0.0.0'}",
        "      initiator_auth = psk",
        # the responder takes any initiator ID (the plugin expects its own
        # FQDNs otherwise); printf-escaped, since the plugin formats it
        # and the initiator any responder ID
        ("      responder_id = %%any" if lt.initiators
         else "      initiator_id = %%any"),
        "      responder_auth = psk",
        f"      preshared_key = {lt.psk}",
        f"      proposal = {lt.ike}",
        f"      esp = {lt.esp}",
        "      mode = tunnel",
        # lifetimes a responder accepts (0 would be offered as a zero
        # lifetime); far beyond a run, so nothing is rekeyed
        "      ike_rekey = 3600",
        "      child_rekey = 1200",
        "      delete_after_established = no",
        "      shutdown_when_complete = no",
        f"      init_limit = {lt.init_limit}",
        "      delay = 1" if lt.init_limit else "      delay = 0",
    ]
    if lt.addrs:
        lines += ["      addrs_prefix = 32", "      addrs {", f"        {lt.addrs}",
                  "      }"]
    lines += ["    }", "  }", "}"]
    return "\n".join(lines) + "\n"


class Charon(procstat.Measured):
    """One charon in namespace ``ns`` with its files under ``workdir``."""

    def __init__(self, ns: str, workdir: Path, name: str, lt: LoadTest) -> None:
        charon = find_charon()
        if charon is None:
            raise BenchError("no charon with the load-tester plugin: run "
                             "tools/bench/build-strongswan.sh")
        self.charon = charon
        self.prefix = charon.parents[2]
        self.ns = ns
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = self.dir / "run"
        self.run_dir.mkdir(exist_ok=True)
        self.log = self.dir / "charon.log"
        self.conf = self.dir / "strongswan.conf"
        self.conf.write_text(_conf(self.run_dir, self.log, lt))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, cpus: str | None = None) -> "Charon":
        piddir = self.prefix / "run"
        script = (f"mkdir -p '{piddir}' && mount --bind '{self.run_dir}' '{piddir}' && "
                  f"exec env STRONGSWAN_CONF='{self.conf}' '{self.charon}'")
        argv = ["ip", "netns", "exec", self.ns, "unshare", "-m",
                "--propagation", "private", "sh", "-c", script]
        if cpus:
            argv = ["taskset", "-c", cpus] + argv
        out = open(self.dir / "stdout", "wb")
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"charon exited: {(self.dir / 'stdout').read_text()}")
            if (self.run_dir / "charon.pid").exists():
                time.sleep(0.3)
                return self
            time.sleep(0.1)
        raise BenchError(f"charon did not start (see {self.log})")

    def established_times(self) -> list[float]:
        """When each CHILD_SA came up (epoch seconds, from the log)."""
        out = []
        if not self.log.exists():
            return out
        for line in self.log.read_text(errors="replace").splitlines():
            if "CHILD_SA" in line and "established" in line:
                m = re.match(r"(\d+\.\d+)", line)
                if m:
                    out.append(float(m.group(1)))
        return out

    def initiation_times(self) -> list[float]:
        out = []
        if not self.log.exists():
            return out
        for line in self.log.read_text(errors="replace").splitlines():
            if "initiating Main Mode" in line:
                m = re.match(r"(\d+\.\d+)", line)
                if m:
                    out.append(float(m.group(1)))
        return out

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
