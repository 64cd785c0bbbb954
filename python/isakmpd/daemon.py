"""The asyncio daemon: sockets, clock, signals, FIFO and kernel around the
sans-I/O engine.

Everything that happens (a datagram, a timer, a FIFO command, a signal) ends
in :meth:`Daemon.pump`, which sends what the engine queued, hands its kernel
events to the kernel backend and re-arms the one timer.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time

from . import __version__, flows, log, privsep
from .acquire import InstallTrap, RemoveTrap
from .cli import Options
from .conf import model
from .conf.store import Conf
from .constants import NATT_PORT
from .engine import Datagram, Engine, InstallSA, ReleaseSPI, RemoveSA
from .exchange.dhpool import DhPool
from .errors import ConfigError, IsakmpdError, KernelError, KernelLacksESP
from .kernel.base import AcquireEvent, EventSource
from .keylog import KeyLog, KeyLogError
from .lifecycle import InstallInbound
from .log import Cls
from .pcap import CaptureError, PacketLog
from .policy.check import Policy
from .privsep.child import MonitorClient, MonitorKernel
from .rand import Random
from .report import full_report, sa_report
from .transport import Transport, route_source
from .ui import Ui

_log = log.logger(Cls.MISC)
#: seconds between a FIFO edit of [Phase 2] and starting its connections
REINIT_DELAY = 5.0


class Daemon:
    """``monitor``: the privileged parent of a separated daemon, which binds
    the sockets, opens the FIFO and does the kernel work (see
    :mod:`isakmpd.privsep`); None: all of it here."""

    def __init__(self, opts: Options, conf: Conf,
                 monitor: MonitorClient | None = None) -> None:
        self.opts = opts
        self.conf = conf
        self.monitor = monitor
        self.rand = Random(opts.seed)
        self.loop = asyncio.get_event_loop()
        self.kernel = (MonitorKernel(monitor) if monitor is not None
                       else flows.open_backend(opts, self.rand))
        self.kernel.changes_kernel = not opts.no_kernel
        self.engine = Engine(conf, self.rand, self._get_spi, route_source,
                             listen_port=opts.listen_port,
                             initiator_port=opts.local_port, natt=not opts.no_natt,
                             natt_port=opts.natt_port)
        # a separated daemon's sockets come bound, bypass policy set
        self.transport = Transport(
            self.loop, self._received,
            bypass=None if monitor is not None else self.kernel.bypass_socket,
            binder=monitor.bind if monitor is not None else None)
        self.ui = Ui(self, self.loop,
                     opener=monitor.open_fifo if monitor is not None else None)
        #: -S and FIFO M: a passive daemon neither starts nor answers
        #: negotiations, and sends nothing; established SAs stay
        self.active = not opts.passive
        self._engine_started = False
        #: the privileged parent went away
        self.monitor_lost = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._stopping = asyncio.Event()
        self.flows = flows.FlowManager(self.kernel, install_flows=self._flows_wanted())
        #: the kernel's ACQUIRE and EXPIRE messages (None: none come)
        self.kernel_events: EventSource | None = None
        self._warned_no_esp = False
        self.wrote_pidfile = False
        #: -d not given: the pipe to the waiting command (see _detach)
        self.ready_fd: int | None = None
        #: packet capture (-L, -l, FIFO p) and key export (--keylog, FIFO k)
        self.pcap: PacketLog | None = None
        self.keylog: KeyLog | None = None
        self._keys_dirty = False

    # ------------------------------------------------------------ set-up
    def listen_addresses(self) -> list[str]:
        g = model.general(self.conf)
        addrs = list(g.listen_on)
        if not addrs:
            if self.opts.ipv4:
                addrs.append("0.0.0.0")
            if self.opts.ipv6:
                addrs.append("::")
        return [a for a in addrs if (":" in a and self.opts.ipv6)
                or (":" not in a and self.opts.ipv4)]

    def open(self) -> None:
        ports = [(self.opts.listen_port, False)]
        if not self.opts.no_natt:
            ports.append((self.opts.natt_port, True))
        if self.opts.local_port and self.opts.local_port != self.opts.listen_port:
            ports.append((self.opts.local_port, False))
        addrs = self.listen_addresses()
        if not addrs:
            fam = "IPv4" if self.opts.ipv4 else "IPv6"
            raise ConfigError(f"no address to listen on: Listen-on names no {fam} "
                              f"address (-{fam[-1]})", self.opts.config)
        try:
            self.transport.open(addrs, ports)
        except OSError as e:
            if "::" in addrs and e.errno in (97, 99):  # no IPv6 here
                self.transport.close()
                self.transport.open([a for a in addrs if ":" not in a], ports)
            else:
                raise
        self.ui.open(self.opts.fifo)
        self.loop.set_exception_handler(self._loop_error)
        for sig, handler in ((signal.SIGTERM, self.request_shutdown),
                             (signal.SIGINT, self.request_shutdown),
                             (signal.SIGHUP, self.reload),
                             (signal.SIGUSR1, self.write_report)):
            self.loop.add_signal_handler(sig, handler)

    # ------------------------------------------------------------ the pump
    @staticmethod
    def now() -> float:
        return time.monotonic()

    def _received(self, data: bytes, local: tuple[str, int],
                  remote: tuple[str, int]) -> None:
        if not self.active:
            log.debug(Cls.MESSAGE, 30, f"passive mode: dropped {len(data)} bytes "
                      f"from {remote[0]}:{remote[1]}")
            return
        try:
            self.engine.receive_datagram(data, local, remote, self.now())
        except Exception:  # noqa: BLE001 (a bug must not stop the daemon)
            _log.exception("internal error on a message from %s:%d; dropped",
                           remote[0], remote[1])
        self.pump()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        try:
            self.engine.handle_timer(self.now())
        except Exception:  # noqa: BLE001 (a bug must not stop the daemon)
            _log.exception("internal error in a timer")
        self.pump()

    def _loop_error(self, loop: asyncio.AbstractEventLoop,
                    context: dict[str, object]) -> None:
        """asyncio's report of an exception nobody caught, in our log."""
        exc = context.get("exception")
        _log.error("internal error: %s", context.get("message", "?"),
                   exc_info=exc if isinstance(exc, BaseException) else None)

    def pump(self) -> None:
        eng = self.engine
        self._send(eng.datagrams_to_send())
        while (ev := eng.next_event()) is not None:
            self._kernel_event(ev)
            if self.keylog is not None and isinstance(ev, (InstallSA, RemoveSA)):
                self._keys_dirty = True
        self._send(eng.datagrams_to_send())
        if self._keys_dirty:
            self._write_keys()
        when = eng.next_timer()
        if when != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._timer_at = when
            if when is not None:
                delay = max(0.0, when - self.now())
                self._timer = self.loop.call_later(delay, self._on_timer)

    def _send(self, datagrams: list[Datagram]) -> None:
        for d in datagrams:
            if not self.active:
                log.debug(Cls.MESSAGE, 30, f"passive mode: {len(d.data)} bytes to "
                          f"{d.remote[0]}:{d.remote[1]} not sent")
                continue
            self.transport.send(d.data, d.local, d.remote)

    def _get_spi(self, protocol_id: int, src: str, dst: str) -> int:
        return self.kernel.get_spi(flows.ip_proto(protocol_id), src, dst)

    def _flows_wanted(self) -> bool:
        """-a or [General] Acquire-Only: the flows are someone else's."""
        return not (self.opts.no_flows or model.general(self.conf).acquire_only)

    def _kernel_event(self, ev: object) -> None:
        try:
            if isinstance(ev, InstallInbound):
                self.flows.install_inbound(ev.sa)
                self.engine.kernel_result(ev.sa, None)
            elif isinstance(ev, InstallTrap):
                self.flows.install_trap(ev.trap)
            elif isinstance(ev, RemoveTrap):
                self.flows.remove_trap(ev.trap.name)
            elif isinstance(ev, InstallSA):
                self.flows.install(ev.sa)
                self.engine.kernel_result(ev.sa, None)
            elif isinstance(ev, RemoveSA):
                self.flows.remove(ev.sa)
            elif isinstance(ev, ReleaseSPI):
                self.flows.release_spi(ev)
        except KernelLacksESP as e:
            if isinstance(ev, (InstallSA, InstallInbound)):
                self.engine.kernel_result(ev.sa, "kernel lacks ESP")
            if not self._warned_no_esp:
                self._warned_no_esp = True
                _log.error("%s; IKE SAs and flows are kept (-n negotiates "
                           "without the kernel)", e)
        except KernelError as e:
            if isinstance(ev, (InstallSA, InstallInbound)):
                self.engine.kernel_result(ev.sa, str(e))
            _log.error("kernel: %s", e)

    # ------------------------------------------------------------ ACQUIRE, EXPIRE
    def watch_kernel(self) -> None:
        """Read the kernel's ACQUIRE and EXPIRE messages (a separated
        daemon's parent passes them on: :class:`~.privsep.child.MonitorKernel`)."""
        try:
            self.kernel_events = self.kernel.events()
        except KernelError as e:
            _log.error("no ACQUIRE or EXPIRE from the kernel: %s", e)
            return
        if self.kernel_events is not None:
            self.loop.add_reader(self.kernel_events.fileno(), self._kernel_readable)

    def _kernel_readable(self) -> None:
        assert self.kernel_events is not None
        try:
            events = self.kernel_events.read()
        except KernelError as e:
            _log.error("kernel events: %s; no more are read", e)
            self.loop.remove_reader(self.kernel_events.fileno())
            return
        self.kernel_messages(events)

    def kernel_messages(self, events: list) -> None:
        """Hand the kernel's messages to the engine (a passive daemon, -S,
        negotiates nothing for an ACQUIRE, as isakmpd)."""
        now = self.now()
        for ev in events:
            if isinstance(ev, AcquireEvent) and not self.active:
                log.debug(Cls.SYSDEP, 20, "passive mode: ACQUIRE ignored")
                continue
            try:
                self.engine.kernel_event(ev, now)
            except Exception:  # noqa: BLE001 (a bug must not stop the daemon)
                _log.exception("internal error on a kernel message %r", ev)
        self.pump()

    # ------------------------------------------------------------ commands
    def connect(self, name: str) -> None:
        if not self.active:
            _log.warning("connect %s: passive mode; 'M active' first", name)
            return
        if not self.engine.connect(name, self.now()):
            _log.error("connect %s: failed", name)

    def teardown(self, phase: str, name: str) -> None:
        now = self.now()
        if phase == "main":
            n = self.engine.teardown_main(name, now)
        else:
            n = self.engine.teardown(name, now)
        if not n:
            _log.warning("teardown %s %s: no such SA", phase, name)

    def delete_sa(self, icookie: bytes, rcookie: bytes, msgid: int | None) -> bool:
        """FIFO ``d``: delete one SA by cookies (and message ID for phase 2)."""
        eng, now = self.engine, self.now()
        isakmp = eng.table.find_isakmp(icookie, rcookie)
        if msgid is None:
            if isakmp is None:
                return False
            eng.delete_isakmp(isakmp, now, send=True, why="deleted (FIFO d)")
            return True
        found = [s for s in eng.table.ipsec_sas() if s.message_id == msgid
                 and (s.isakmp.icookie, s.isakmp.rcookie) == (icookie, rcookie)]
        for s in found:
            eng.delete_ipsec(s, now, send=True, why="deleted (FIFO d)")
        return bool(found)

    def teardown_all(self) -> None:
        self.engine.teardown_all(self.now())

    def write_sa_report(self) -> None:
        self.write_result(sa_report(self.engine, self.now()))

    def write_result(self, text: str) -> None:
        """The result file of the FIFO ``S`` and ``C get`` commands."""
        _replace_file(self.opts.result, text, "the result file")

    def write_report(self) -> None:
        """SIGUSR1 and FIFO ``r``: the state report to the -R file, each line
        as isakmpd writes it (``HHMMSS.uuuuuu Report> ...``)."""
        now = self.now()
        socks = [f"udp_report: fd {u.sock.fileno()} src {u.address}:{u.port}"
                 f"{' (NAT-T)' if u.natt else ''}" for u in self.transport.sockets]
        stamp = log.stamp(time.time())
        text = "".join(f"{stamp} Report> {line}\n"
                       for line in full_report(self.engine, socks, now))
        if _replace_file(self.opts.report, text, "the report"):
            log.debug(Cls.MISC, 10, f"report written to {self.opts.report}")

    def reload(self) -> None:
        if self.monitor is not None:
            try:  # the parent widens what it lets us read to the new file's paths
                self.monitor.call("RELOAD")
            except OSError as e:
                _log.error("reload: monitor: %s", e.strerror or e)
        try:
            conf = Conf.load(self.opts.config)
            model.general(conf)  # a [General] value out of range refuses the file
        except ConfigError as e:
            _log.error("reload failed, keeping the running configuration: %s", e)
            return
        model.log_once(conf, conf.warnings)
        model.check(conf)
        self.conf = conf
        self.flows.install_flows = self._flows_wanted()
        self.engine.reconfigure(conf, reload_policy=True)
        _log.info("configuration reloaded from %s", self.opts.config)
        if model.general(conf).renegotiate_on_hup and self.active:
            # isakmpd's sa_reinit: our SAs are renegotiated under the new
            # configuration (the old ones go once replaced)
            self.engine.lifecycle.soft_expire_all(self.now())
        self.reinit_connections()

    def config_changed(self, sections: set[str]) -> None:
        """After a FIFO ``C`` edit: use it; an edit of [Phase 2] starts the
        new active connections 5 s later, as isakmpd does."""
        self.engine.reconfigure(self.conf)
        if "phase 2" in {s.lower() for s in sections}:
            self.loop.call_later(REINIT_DELAY, self.reinit_connections)

    def reinit_connections(self) -> None:
        """Start the active connections that have no IPsec SA and no
        negotiation under way (after SIGHUP, FIFO R, or a [Phase 2] edit)."""
        if not self.active:
            log.debug(Cls.MISC, 10, "passive mode: connections not started")
            return
        active, _ = model.connections(self.conf)
        for name in active:
            if name in self.engine.connecting:
                continue
            sas = self.engine.table.ipsec_by_name(name)
            if any(s.state == "installed" for s in sas):
                continue
            self.connect(name)
        self.pump()

    def request_shutdown(self) -> None:
        self._stopping.set()

    def set_active(self, active: bool) -> None:
        """FIFO ``M active`` / ``M passive`` (and -S at start-up)."""
        if active == self.active:
            log.debug(Cls.UI, 20, f"already in {'active' if active else 'passive'} "
                      "mode")
            return
        self.active = active
        _log.info("switching to %s mode", "active" if active else "passive")
        if active:
            self._start_engine()
        else:
            # the periodic connection check would start negotiations again
            # TODO(an engine call to pause the connection checker)
            timer = getattr(self.engine, "_check_timer", None)
            if timer is not None:
                timer.cancel()
            self._engine_started = False

    def _start_engine(self) -> None:
        """Start the active connections and the periodic connection check."""
        if not self._engine_started:
            self._engine_started = True
            self.engine.start(self.now())
        self.pump()

    # ------------------------------------------------------------ capture and keys
    def start_capture(self, path: str) -> bool:
        """-L, -l and FIFO ``p on``: capture IKE messages in clear to ``path``
        (appended to); a capture to another file is stopped first."""
        if self.pcap is not None:
            if self.pcap.path == path:
                _log.info("packet capture to %s is already on", path)
                return True
            self.stop_capture()
        try:
            self.pcap = PacketLog(path, frozenset({NATT_PORT, self.opts.natt_port}))
        except CaptureError as e:
            _log.error("packet capture: %s", e)
            return False
        self.engine.capture = self._capture
        _log.info("packet capture to %s started", path)
        return True

    def stop_capture(self) -> None:
        """FIFO ``p off`` (and the end): close the capture file."""
        if self.pcap is None:
            return
        self.engine.capture = None
        pcap, self.pcap = self.pcap, None
        pcap.close()
        _log.info("packet capture to %s stopped (%d messages)", pcap.path, pcap.frames)

    def _capture(self, message: bytes, local: tuple[str, int],
                 remote: tuple[str, int], sent: bool) -> None:
        if self.pcap is None:
            return
        try:
            if sent:
                self.pcap.write(message, local, remote)
            else:
                self.pcap.write(message, remote, local)
        except OSError as e:
            _log.error("packet capture to %s: %s; capture stopped", self.pcap.path,
                       e.strerror)
            self.stop_capture()

    def start_keylog(self, directory: str) -> bool:
        """--keylog and FIFO ``k on``: keep Wireshark's IKEv1 and ESP key
        tables in ``directory`` (see :mod:`isakmpd.keylog`)."""
        if self.keylog is not None and str(self.keylog.dir) == directory:
            _log.info("key export to %s is already on", directory)
            return True
        self.stop_keylog()
        try:
            self.keylog = KeyLog(directory)
        except KeyLogError as e:
            _log.error("key export: %s", e)
            return False
        _log.warning("exporting IKE and ESP keys to %s for Wireshark: whoever reads "
                     "them can decrypt this traffic", directory)
        self.engine.keys_changed = self._keys_changed
        self._keys_dirty = True
        self._write_keys()
        return True

    def stop_keylog(self) -> None:
        """FIFO ``k off`` (and shutdown): stop updating the key tables; the
        files keep the SAs of this moment."""
        if self.keylog is None:
            return
        self._write_keys()
        self.engine.keys_changed = None
        directory, self.keylog = self.keylog.dir, None
        _log.info("key export to %s stopped", directory)

    def _keys_changed(self, sa: object) -> None:
        self._keys_dirty = True

    def _write_keys(self) -> None:
        self._keys_dirty = False
        if self.keylog is None:
            return
        table = self.engine.table
        try:
            self.keylog.update(table.isakmp_sas(), table.ipsec_sas())
        except KeyLogError as e:
            _log.error("key export: %s; stopped", e)
            self.engine.keys_changed = None
            self.keylog = None

    # ------------------------------------------------------------ main loop
    async def run(self) -> int:
        self.open()
        if not self.rand.deterministic and os.environ.get("ISAKMPD_DH_POOL") != "0":
            # key pairs made ahead on the other cores (not with -r: the
            # threads' draws would make a seeded run differ)
            self.engine.dh_pool = DhPool(self.rand.bytes,
                                         workers=max(1, (os.cpu_count() or 2) - 1))
        if self.monitor is not None:
            self.monitor.call("INIT_DONE")  # the parent writes the pid file
            self.loop.add_reader(self.monitor.fileno(), self._monitor_readable)
            if privsep.early_stop_requested():
                self.request_shutdown()
        else:
            self.wrote_pidfile = _write_pidfile(self.opts.pidfile)
            if not self.wrote_pidfile:  # as isakmpd: fatal
                self.ui.close()
                self.transport.close()
                self.kernel.close()
                if self.engine.dh_pool is not None:
                    self.engine.dh_pool.close()
                return 1
            else:
                _ready(self.ready_fd)
                self.ready_fd = None
        _log.info("isakmpd %s started%s%s", __version__,
                  " (no kernel changes: -n)" if self.opts.no_kernel else "",
                  "" if self.active else " in passive mode (-S)")
        if self.opts.pcap:
            self.start_capture(self.opts.pcap)
        if self.opts.keylog:
            self.start_keylog(self.opts.keylog)
        self.watch_kernel()
        if self.active:
            self._start_engine()
        await self._stopping.wait()
        if self.monitor_lost:
            return 1
        _log.info("shutting down")
        # the key tables keep the SAs that were up, for the last messages
        self.stop_keylog()
        self.engine.shutdown(self.now())
        self.pump()
        self.stop_capture()
        if self._timer is not None:
            self._timer.cancel()
        self.flows.remove_all()
        if self.kernel_events is not None:
            self.loop.remove_reader(self.kernel_events.fileno())
            self.kernel_events.close()
        self.ui.close()
        self.transport.close()
        self.kernel.close()
        if self.engine.dh_pool is not None:
            self.engine.dh_pool.close()
        if self.monitor is not None:
            try:
                self.loop.remove_reader(self.monitor.fileno())
                self.monitor.call("SHUTDOWN")
            except OSError as e:
                _log.error("monitor: %s", e.strerror or e)
                return 1
        return 0

    def _monitor_readable(self) -> None:
        """The monitor socket says something between requests: the parent
        is gone (end of file). Without it nothing can be done: stop."""
        assert self.monitor is not None
        try:
            peek = self.monitor.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            peek = b""
        if peek:
            return
        self.loop.remove_reader(self.monitor.fileno())
        _log.error("the privileged parent is gone; exiting")
        self.monitor_lost = True
        self._stopping.set()


def _replace_file(path: str, text: str, what: str) -> bool:
    """Write ``text`` to ``path`` (mode 0600) through a temporary file, so
    that readers see the old file or the whole new one."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        return True
    except OSError as e:
        _log.error("cannot write %s %s: %s", what, path, e.strerror)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False


def _os_error(e: OSError) -> str:
    """An OSError as "path: reason" (or just the reason)."""
    why = e.strerror or str(e)
    return f"{e.filename}: {why}" if e.filename else why


def _write_pidfile(path: str) -> bool:
    try:
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
        return True
    except OSError as e:
        _log.error("cannot write pid file %s: %s", path, e.strerror)
        return False


def _detach() -> int:
    """Go to the background as isakmpd does without -d.

    The command returns only once the daemon is ready (sockets bound, FIFO
    and pid file made): exit status 0, or 1 if it failed on the way. The
    daemon reports readiness on the returned pipe with :func:`_ready`.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(w)
        with os.fdopen(r, "rb") as f:
            ok = f.read(1) == b"1"
        os.waitpid(pid, 0)
        os._exit(0 if ok else 1)
    os.close(r)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    if log.uses_syslog():
        os.dup2(devnull, 2)
    os.close(devnull)
    return w


def _ready(fd: int | None) -> None:
    """Tell the command that started us in the background that we run."""
    if fd is None:
        return
    try:
        os.write(fd, b"1")
    except OSError:
        pass
    os.close(fd)


def run(opts: Options) -> int:
    log.setup(to_stderr=bool(opts.debug), verbose=opts.verbose)
    for cls, lvl in opts.debug_levels:
        log.set_level(cls, lvl)
    try:
        conf = Conf.load(opts.config)
        g = model.general(conf)
    except ConfigError as e:
        sys.stderr.write(f"isakmpd: {e}\n")
        return 1
    model.log_once(conf, conf.warnings)
    model.check(conf)
    if not opts.debug_levels:
        for spec in g.loglevel:
            try:
                cls, lvl = log.parse_spec(spec)
                log.set_level(cls, lvl)
            except ValueError as e:
                _log.warning("Loglevel %s: %s", spec, e)
    if log.crypto_secrets_enabled():
        _log.warning("crypto debug level 99: key material will be logged")
    try:
        policy = Policy.load(conf, no_keynote=opts.no_keynote)
    except ConfigError as e:
        sys.stderr.write(f"isakmpd: policy: {e}\n")
        return 1
    base_dir = os.getcwd()
    ident = None
    if privsep.wanted(opts):
        try:
            ident = privsep.identity(opts)
        except (ValueError, OSError) as e:
            sys.stderr.write(f"isakmpd: privilege separation: {e}\n")
            return 1
        if why := privsep.cannot_drop(ident):
            _log.warning("privilege separation is not possible here (%s): running "
                         "as one process", why)
            ident = None
    ready_fd = None if opts.debug else _detach()
    if ident is not None:
        try:
            return privsep.run(
                opts, conf, ident, ready_fd, base_dir,
                child_main=lambda client: _run(opts, conf, policy, None, client),
                write_pid=lambda: _write_pidfile(opts.pidfile))
        except OSError as e:
            _log.error("%s", _os_error(e))
            return 1
    return _run(opts, conf, policy, ready_fd, None)


def _run(opts: Options, conf: Conf, policy: Policy, ready_fd: int | None,
         monitor: MonitorClient | None) -> int:
    """The daemon's event loop (in the child, when separated)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    daemon: Daemon | None = None
    try:
        daemon = Daemon(opts, conf, monitor)
        daemon.engine.policy = policy
        daemon.ready_fd = ready_fd
        return loop.run_until_complete(daemon.run())
    except IsakmpdError as e:
        _log.error("%s", e)
        return 1
    except OSError as e:
        _log.error("%s", _os_error(e))
        return 1
    finally:
        if daemon is not None and daemon.wrote_pidfile:
            try:
                os.unlink(opts.pidfile)
            except OSError:
                pass
        loop.close()
