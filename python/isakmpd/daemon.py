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
import sys
import time

from . import __version__, flows, log
from .cli import Options
from .conf import model
from .conf.store import Conf
from .engine import Engine, InstallSA, ReleaseSPI, RemoveSA
from .errors import ConfigError, IsakmpdError, KernelError, KernelLacksESP
from .log import Cls
from .rand import Random
from .report import sa_report
from .transport import Transport, route_source
from .ui import Ui

_log = log.logger(Cls.MISC)


class Daemon:
    def __init__(self, opts: Options, conf: Conf) -> None:
        self.opts = opts
        self.conf = conf
        self.rand = Random(opts.seed)
        self.loop = asyncio.get_event_loop()
        self.kernel = flows.open_backend(opts, self.rand)
        self.engine = Engine(conf, self.rand, self._get_spi, route_source,
                             listen_port=opts.listen_port,
                             initiator_port=opts.local_port, natt=not opts.no_natt,
                             natt_port=opts.natt_port)
        self.transport = Transport(self.loop, self._received,
                                   bypass=self.kernel.bypass_socket)
        self.ui = Ui(self, self.loop)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._stopping = asyncio.Event()
        self.flows = flows.FlowManager(self.kernel, install_flows=not opts.no_flows)
        self._warned_no_esp = False

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
        try:
            self.transport.open(addrs, ports)
        except OSError as e:
            if "::" in addrs and e.errno in (97, 99):  # no IPv6 here
                self.transport.close()
                self.transport.open([a for a in addrs if ":" not in a], ports)
            else:
                raise
        self.ui.open(self.opts.fifo)
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
        self.engine.receive_datagram(data, local, remote, self.now())
        self.pump()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.engine.handle_timer(self.now())
        self.pump()

    def pump(self) -> None:
        eng = self.engine
        for d in eng.datagrams_to_send():
            self.transport.send(d.data, d.local, d.remote)
        while (ev := eng.next_event()) is not None:
            self._kernel_event(ev)
        for d in eng.datagrams_to_send():
            self.transport.send(d.data, d.local, d.remote)
        when = eng.next_timer()
        if when != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._timer_at = when
            if when is not None:
                delay = max(0.0, when - self.now())
                self._timer = self.loop.call_later(delay, self._on_timer)

    def _get_spi(self, protocol_id: int, src: str, dst: str) -> int:
        return self.kernel.get_spi(flows.ip_proto(protocol_id), src, dst)

    def _kernel_event(self, ev: object) -> None:
        try:
            if isinstance(ev, InstallSA):
                self.flows.install(ev.sa)
                self.engine.kernel_result(ev.sa, None)
            elif isinstance(ev, RemoveSA):
                self.flows.remove(ev.sa)
            elif isinstance(ev, ReleaseSPI):
                self.flows.release_spi(ev)
        except KernelLacksESP as e:
            if isinstance(ev, InstallSA):
                self.engine.kernel_result(ev.sa, "kernel lacks ESP")
            if not self._warned_no_esp:
                self._warned_no_esp = True
                _log.error("%s; the IKE SAs and flows stay, but no IPsec SA can be "
                           "installed (use -n to negotiate without the kernel)", e)
        except KernelError as e:
            if isinstance(ev, InstallSA):
                self.engine.kernel_result(ev.sa, str(e))
            _log.error("kernel: %s", e)

    # ------------------------------------------------------------ commands
    def connect(self, name: str) -> None:
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

    def teardown_all(self) -> None:
        self.engine.teardown_all(self.now())

    def write_sa_report(self) -> None:
        text = sa_report(self.engine, self.now())
        path = self.opts.result
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
        except OSError as e:
            _log.error("cannot write the SA report to %s: %s", path, e)

    def write_report(self) -> None:
        # TODO(the SIGUSR1 report of isakmpd(8) -R)
        _log.info("report requested (SIGUSR1)")

    def reload(self) -> None:
        try:
            conf = Conf.load(self.opts.config)
        except ConfigError as e:
            _log.error("reload failed, keeping the running configuration: %s", e)
            return
        model.log_once(conf, conf.warnings)
        model.check(conf)
        self.conf = conf
        self.engine.reconfigure(conf)
        _log.info("configuration reloaded from %s", self.opts.config)
        self.pump()

    def request_shutdown(self) -> None:
        self._stopping.set()

    # ------------------------------------------------------------ main loop
    async def run(self) -> int:
        self.open()
        _log.info("isakmpd %s started%s", __version__,
                  " (no kernel changes: -n)" if self.opts.no_kernel else "")
        self.engine.start(self.now())
        self.pump()
        await self._stopping.wait()
        _log.info("shutting down")
        self.engine.shutdown(self.now())
        self.pump()
        if self._timer is not None:
            self._timer.cancel()
        self.flows.remove_all()
        self.ui.close()
        self.transport.close()
        self.kernel.close()
        return 0


def _write_pidfile(path: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
    except OSError as e:
        _log.warning("cannot write pid file %s: %s", path, e)


def _detach() -> None:
    """Go to the background as isakmpd does without -d."""
    if os.fork() > 0:
        os._exit(0)
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


def run(opts: Options) -> int:
    log.setup(to_stderr=bool(opts.debug), verbose=opts.verbose)
    for cls, lvl in opts.debug_levels:
        log.set_level(cls, lvl)
    if log.crypto_secrets_enabled():
        _log.warning("crypto debug level 99: key material will be logged")
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
    if not opts.debug:
        _detach()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        daemon = Daemon(opts, conf)
        _write_pidfile(opts.pidfile)
        return loop.run_until_complete(daemon.run())
    except IsakmpdError as e:
        _log.error("%s", e)
        return 1
    except OSError as e:
        _log.error("%s", e)
        return 1
    finally:
        try:
            os.unlink(opts.pidfile)
        except OSError:
            pass
        loop.close()
