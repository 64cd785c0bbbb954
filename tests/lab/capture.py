"""Packet capture with tcpdump inside a namespace.

tcpdump runs with ``--immediate-mode``: without it, packets wait in the
kernel's TPACKET_V3 ring block and a SIGTERM right after the traffic gives a
file with none of them ("0 packets captured, 15 packets received by filter").
:meth:`Capture.start` returns only once tcpdump has said "listening on", and
:meth:`Capture.stop` stops it by PID and waits, so the file is complete.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

from .netns import popen
from .util import LabError, stop_process, tail, unconfined, wait_until


class Capture:
    """tcpdump on ``ifname`` in namespace ``ns``, writing ``path`` (pcap).

    ``path`` should end in ``.pcap``: Debian's AppArmor profile for tcpdump
    allows writing such files anywhere. After :meth:`stop`, ``captured``,
    ``received`` and ``dropped`` hold tcpdump's own counters.
    """

    def __init__(
        self,
        ns: Any,
        ifname: str,
        path: Path | str,
        bpf: str = "udp or esp",
        snaplen: int = 0,
        settle: float = 0.3,
    ) -> None:
        self.ns = ns
        self.ifname = ifname
        self.path = Path(path)
        self.bpf = bpf
        self.snaplen = snaplen
        self.settle = settle
        self.errlog = self.path.with_name(self.path.name + ".stderr")
        self.proc: subprocess.Popen | None = None
        self.captured: int | None = None
        self.received: int | None = None
        self.dropped: int | None = None

    def start(self, timeout: float = 10.0) -> Capture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        argv = [
            "tcpdump", "-n", "-i", self.ifname, "--immediate-mode", "-U",
            "-s", str(self.snaplen), "-Z", "root", "-w", str(self.path),
        ]  # fmt: skip
        if self.bpf:
            argv.append(self.bpf)
        with open(self.errlog, "wb") as err:
            self.proc = popen(self.ns, unconfined(argv), stdout=err, stderr=err)
        proc = self.proc

        def listening() -> bool:
            return "listening on" in self.errlog.read_text(errors="replace")

        def died() -> str | None:
            if proc.poll() is None:
                return None
            return f"tcpdump exited ({proc.returncode}): {tail(self.errlog)}"

        wait_until(listening, timeout, f"capture on {self.ifname}", fail=died)
        return self

    def stop(self) -> Path:
        """Let in-flight packets arrive (``settle`` s), stop tcpdump, return
        the pcap path."""
        if self.proc is None:
            raise LabError("capture was not started")
        if self.proc.poll() is None:
            time.sleep(self.settle)
        rc = stop_process(self.proc)
        text = self.errlog.read_text(errors="replace")
        for attr, label in (
            ("captured", "captured"),
            ("received", "received by filter"),
            ("dropped", "dropped by kernel"),
        ):
            m = re.search(rf"(\d+) packets? {label}", text)
            setattr(self, attr, int(m.group(1)) if m else None)
        if rc not in (0, -15) or not self.path.exists():
            raise LabError(
                f"tcpdump on {self.ifname} failed ({rc}): {tail(self.errlog)}"
            )
        return self.path

    def __enter__(self) -> Capture:
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
