"""Our daemon as the responder under test: ``isakmpd -d -n`` in the
responder namespace, with the configuration of :func:`confgen.responder_conf`.
Its CPU time and peak RSS come from /proc (the whole process tree)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import confgen, procstat
from .netns import BenchError


class OurDaemon(procstat.Measured):
    def __init__(self, ns: str, workdir: Path, profile: confgen.Profile,
                 listen: str, local_net: str, remote_net: str,
                 dh_pool: bool = True) -> None:
        self.ns = ns
        self.dir = workdir / "isakmpd"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "isakmpd.conf"
        self.conf.write_text(confgen.responder_conf(listen, local_net, remote_net,
                                                    profile))
        os.chmod(self.conf, 0o600)
        self.log = self.dir / "isakmpd.log"
        self.dh_pool = dh_pool
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, cpus: str | None = None) -> "OurDaemon":
        d = self.dir
        argv = ["ip", "netns", "exec", self.ns]
        if cpus:
            argv += ["taskset", "-c", cpus]
        argv += [sys.executable, "-m", "isakmpd", "-d", "-n", "-K", "--no-privsep",
                 "-c", str(self.conf), "-f", str(d / "fifo"), "-i", str(d / "pid"),
                 "-R", str(d / "report"), "--result-file", str(d / "result")]
        env = dict(os.environ)
        if not self.dh_pool:
            env["ISAKMPD_DH_POOL"] = "0"
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "wb"),
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"isakmpd exited: {self.log.read_text()[-2000:]}")
            if "started" in self.log.read_text(errors="replace"):
                return self
            time.sleep(0.1)
        raise BenchError(f"isakmpd did not start (see {self.log})")

    def established(self) -> int:
        """IPsec SAs it has logged as established."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return len(re.findall(r"IPsec SA \S+ established", text))

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
