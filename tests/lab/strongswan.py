"""strongSwan's charon (5.9.x) as an IKEv1 peer inside a lab namespace.

Each :class:`Charon` has a folder of its own: ``strongswan.conf``,
``swanctl/`` (swanctl.conf and credentials), ``run/`` (pid file and vici
socket), ``charon.log`` (charon's file log) and ``charon.out`` (its stdout
and stderr). charon's pid file ``/var/run/charon.pid`` is compiled in, so
each charon runs as ``ip netns exec NS unshare -m`` with ``run/`` bind-mounted
over ``/run``; swanctl talks to it through ``--uri unix://.../charon.vici``.

Kernel backends: ``kernel="libipsec"`` (the default) puts kernel-libipsec
before kernel-netlink, so ESP runs in user space through a TUN device; that
works on a kernel without ESP, but libipsec in 5.9.8 only does UDP-
encapsulated ESP, so charon fakes a NAT ("faking NAT situation to enforce
UDP encapsulation"), floats to port 4500 after Main Mode message 4, and a
peer must do NAT-T to reach Quick Mode. ``kernel="netlink"`` uses the
kernel's XFRM SAD (real ESP, e.g. inside the qemu VM).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from .charon_keys import CharonKeys, charon_keys
from .netns import popen, run
from .swanctl_conf import Conn, swanctl_conf
from .util import LabError, stop_process, tail, unconfined, wait_until

CHARON = "/usr/lib/ipsec/charon"
SWANCTL = "swanctl"

_BASE_PLUGINS = (
    "random nonce openssl aes sha1 sha2 md5 hmac gmp pem pkcs1 pkcs8 x509 "
    "pubkey revocation constraints"
)
PLUGINS = {
    "libipsec": f"{_BASE_PLUGINS} kernel-libipsec kernel-netlink socket-default vici",
    "netlink": f"{_BASE_PLUGINS} kernel-netlink socket-default vici",
}
# log levels: the normal set, and the one that dumps every key (keylog=True)
LOG_LEVELS = {"default": 1, "ike": 2, "cfg": 1, "knl": 1, "chd": 2, "net": 1}
KEYLOG_LEVELS = {**LOG_LEVELS, "ike": 4, "chd": 4, "mgr": 2}
_CRED_DIRS = (
    "x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss "
    "pkcs8 pkcs12"
).split()


def parse_pretty(text: str) -> dict[str, Any]:
    """Parse ``swanctl --pretty`` output (vici messages) into nested dicts.

    ``name {`` opens a section, ``key = value`` is a value, ``key = [`` a
    list up to ``]``. Sections of the same name (one per event) are
    collected in a list under that name.
    """
    root: dict[str, Any] = {}
    stack: list[dict[str, Any]] = [root]
    items: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if items is not None:
            if line == "]":
                items = None
            else:
                items.append(line)
            continue
        if line.endswith("{"):
            new: dict[str, Any] = {}
            name = line[:-1].strip()
            if len(stack) == 1:
                root.setdefault(name, []).append(new)
            else:
                stack[-1][name] = new
            stack.append(new)
        elif line == "}":
            if len(stack) > 1:
                stack.pop()
        elif " = " in line or line.endswith(" ="):
            key, _, value = line.partition(" =")
            value = value.strip()
            if value == "[":
                items = stack[-1][key.strip()] = []
            else:
                stack[-1][key.strip()] = value
    return root


class Charon:
    """One charon in namespace ``ns`` (a name or :class:`lab.netns.Side`).

    ``kernel``: "libipsec" (this host) or "netlink" (a kernel with ESP).
    ``keylog``: log levels ike=4 chd=4 mgr=2, so :meth:`keys` finds every key.
    ``ike_port``/``natt_port``: charon's UDP ports. ``settings``: extra lines
    put inside ``charon { }`` of strongswan.conf.
    """

    def __init__(
        self,
        ns: Any,
        workdir: Path | str,
        name: str = "charon",
        kernel: str = "libipsec",
        keylog: bool = False,
        ike_port: int = 500,
        natt_port: int = 4500,
        settings: str = "",
        plugins: str | None = None,
    ) -> None:
        if kernel not in PLUGINS:
            raise ValueError(f"kernel must be one of {sorted(PLUGINS)}")
        self.ns = ns
        self.name = name
        self.dir = Path(workdir)
        self.kernel = kernel
        self.keylog = keylog
        self.ike_port = ike_port
        self.natt_port = natt_port
        self.settings = settings
        self.plugins = plugins or PLUGINS[kernel]
        self.conf_path = self.dir / "strongswan.conf"
        self.swanctl_dir = self.dir / "swanctl"
        self.run_dir = self.dir / "run"
        self.log_path = self.dir / "charon.log"
        self.out_path = self.dir / "charon.out"
        self.vici = self.run_dir / "charon.vici"
        self.proc: subprocess.Popen | None = None
        if len(str(self.vici)) > 100:
            raise LabError(f"{self.vici}: too long for a unix socket path")

    # -- configuration -------------------------------------------------

    def strongswan_conf(self) -> str:
        levels = KEYLOG_LEVELS if self.keylog else LOG_LEVELS
        level_lines = "\n".join(f"      {k} = {v}" for k, v in levels.items())
        return f"""# written by the test lab (tests/lab/strongswan.py)
charon {{
  load = {self.plugins}
  port = {self.ike_port}
  port_nat_t = {self.natt_port}
  filelog {{
    lab {{
      path = {self.log_path}
      time_format = %H:%M:%S
      time_add_ms = yes
      append = no
      flush_line = yes
{level_lines}
    }}
  }}
  syslog {{
    identifier = charon-lab
    daemon {{
      default = -1
    }}
    auth {{
      default = -1
    }}
  }}
  plugins {{
    vici {{
      socket = unix://{self.vici}
    }}
  }}
  # strongSwan answers Aggressive Mode with PSK only with this
  i_dont_care_about_security_and_use_aggressive_mode_psk = yes
  # each unanswered probe (ike-scan) leaves a half-open SA; the default is 5
  block_threshold = 1000
  retransmit_tries = 3
  retransmit_timeout = 1.0
  retransmit_base = 1.4
{self.settings}
}}
swanctl {{
  load = pem pkcs1 pkcs8 x509 openssl random
}}
"""

    def _prepare(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for d in _CRED_DIRS:
            (self.swanctl_dir / d).mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.strongswan_conf())
        conf = self.swanctl_dir / "swanctl.conf"
        if not conf.exists():
            conf.write_text("")

    # -- process -------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Charon:
        if self.proc is not None and self.proc.poll() is None:
            raise LabError(f"{self.name} already running")
        if (
            "kernel-libipsec" in self.plugins.split()
            and not Path("/dev/net/tun").exists()
        ):
            raise LabError("kernel-libipsec needs /dev/net/tun (modprobe tun)")
        self._prepare()
        self.vici.unlink(missing_ok=True)
        # charon must be the very next exec after unconfined()'s request, so
        # STRONGSWAN_CONF comes through the environment, not env(1)
        inner = unconfined([CHARON])
        script = 'mount --bind "$1" /run && shift && exec "$@"'
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
        argv += ["sh", str(self.run_dir), *inner]
        with open(self.out_path, "wb") as out:
            env = {**os.environ, "STRONGSWAN_CONF": str(self.conf_path)}
            self.proc = popen(self.ns, argv, stdout=out, stderr=out, env=env)
        proc = self.proc

        def died() -> str | None:
            if proc.poll() is None:
                return None
            logs = f"{tail(self.out_path)}\n{tail(self.log_path)}"
            return f"exited ({proc.returncode}):\n{logs}"

        wait_until(self._vici_ready, timeout, f"{self.name} vici socket", fail=died)
        # charon goes on without a plugin that failed to load (and without
        # kernel-libipsec it later crashes in this setup): stop early instead
        failed = re.findall(r"plugin '(\S+)': failed to load.*", self.log())
        if failed:
            self.stop()
            raise LabError(
                f"{self.name}: plugins failed to load: {failed}\n{tail(self.log_path)}"
            )
        return self

    def _vici_ready(self) -> bool:
        """The socket file appears at bind(), before charon listens: connect."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(str(self.vici))
            except OSError:
                return False
        return True

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM by PID, wait (SIGKILL after ``timeout``); exit status."""
        if self.proc is None:
            return None
        return stop_process(self.proc, timeout)

    # -- swanctl -------------------------------------------------------

    def swanctl(
        self, *args: str, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        argv = unconfined([SWANCTL, *args, "--uri", f"unix://{self.vici}"])
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "STRONGSWAN_CONF": str(self.conf_path),
            "SWANCTL_DIR": str(self.swanctl_dir),
        }
        return run(None, *argv, check=check, timeout=timeout, env=env)

    def load(self, *conns: Conn, extra_files: dict[str, Path] | None = None) -> str:
        """Write swanctl.conf for ``conns``, copy their credentials (and
        ``extra_files``: swanctl-relative name -> source), load everything,
        replacing what was loaded before. Returns swanctl's output."""
        self._prepare()
        files: dict[str, Path] = {}
        for c in conns:
            files.update(c.files())
        files.update(extra_files or {})
        for rel, src in files.items():
            dst = self.swanctl_dir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        (self.swanctl_dir / "swanctl.conf").write_text(swanctl_conf(list(conns)))
        return self.swanctl("--load-all", "--clear").stdout

    def initiate(
        self,
        child: str | None = "net",
        ike: str | None = None,
        timeout: float = 10.0,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """``swanctl --initiate`` (IKEv1: the CHILD_SA brings up its IKE SA)."""
        args = ["--initiate", "--timeout", f"{int(max(timeout, 1))}"]
        if child:
            args += ["--child", child]
        if ike:
            args += ["--ike", ike]
        return self.swanctl(*args, check=check, timeout=timeout + 10)

    def terminate(
        self,
        ike: str | None = None,
        child: str | None = None,
        timeout: float = 5.0,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        if not ike and not child:
            raise ValueError("terminate needs ike or child")
        args = ["--terminate", "--timeout", f"{int(max(timeout, 1))}"]
        if ike:
            args += ["--ike", ike]
        if child:
            args += ["--child", child]
        return self.swanctl(*args, check=check, timeout=timeout + 10)

    def list_sas(self) -> list[dict[str, Any]]:
        """IKE SAs as dicts of vici's names (``state``, ``initiator-spi``,
        ``encr-alg``, ``dh-group``, ``nat-remote``...), plus ``name`` (the
        connection) and ``children``: a list of CHILD_SA dicts (``name``,
        ``state``, ``mode``, ``protocol``, ``encap``, ``spi-in``, ``spi-out``,
        ``encr-alg``, ``integ-alg``, ``packets-in``, ``local-ts``...)."""
        text = self.swanctl("--list-sas", "--pretty").stdout
        out = []
        for event in parse_pretty(text).get("list-sa event", []):
            for conn, sa in event.items():
                children = []
                for key, child in sa.get("child-sas", {}).items():
                    children.append({"id": key, **child})
                out.append({**sa, "name": conn, "children": children})
        return out

    def find_sa(
        self,
        ike: str | None = None,
        child: str | None = None,
        ike_state: str | None = "ESTABLISHED",
        child_state: str | None = "INSTALLED",
    ) -> dict[str, Any] | None:
        """The first IKE SA (named ``ike``, in ``ike_state``) that has a
        CHILD_SA (named ``child``, in ``child_state``; None: need none)."""
        for sa in self.list_sas():
            if ike and sa["name"] != ike:
                continue
            if ike_state and sa.get("state") != ike_state:
                continue
            if child_state is None:
                return sa
            for c in sa["children"]:
                if (not child or c.get("name") == child) and c.get(
                    "state"
                ) == child_state:
                    return sa
        return None

    def wait_for(self, timeout: float = 10.0, **kw: Any) -> dict[str, Any]:
        """Wait until :meth:`find_sa` (same keywords) finds an SA; return it."""
        return wait_until(
            lambda: self.find_sa(**kw), timeout, f"{self.name}: SA {kw}",
            interval=0.2, fail=self._died,
        )  # fmt: skip

    def _died(self) -> str | None:
        if self.alive():
            return None
        return f"charon exited: {tail(self.out_path)}"

    # -- logs ----------------------------------------------------------

    def log(self) -> str:
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )

    def wait_log(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        rx = re.compile(pattern)

        def probe() -> re.Match[str] | None:
            return rx.search(self.log())

        return wait_until(
            probe, timeout, f"{self.name} log /{pattern}/", fail=self._died
        )

    def keys(self) -> CharonKeys:
        """Keys from the log (needs ``keylog=True``)."""
        if not self.keylog:
            raise LabError(f"{self.name} was started without keylog=True")
        return charon_keys(self.log_path)
