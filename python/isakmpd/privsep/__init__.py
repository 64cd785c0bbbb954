"""Privilege separation, after isakmpd's monitor.

Started as root, the daemon splits in two. The parent keeps root and does
only what needs it: binding the IKE sockets, opening files for the child
(after the secrecy check, inside the allowed paths of :mod:`.paths`),
making the FIFO, and all kernel work (the XFRM backend lives in the parent
only). The child, chrooted to an empty directory and running as an
unprivileged user (``_isakmpd`` if it exists, else ``nobody``;
``--privsep-user`` chooses), runs everything else: the engine, the FIFO
commands and all network input. It asks the parent over a socket pair
(:mod:`.proto`) and the parent checks every request (:mod:`.monitor`).

The parent writes the pid file (it names the parent, as isakmpd's does),
passes SIGTERM, SIGINT, SIGHUP and SIGUSR1 on to the child, and when the
child exits removes what the child left in the kernel, the FIFO and the
pid file, and exits with the child's status (non-zero if it was killed).

``--no-privsep`` runs one process, as does a daemon not started as root
(with a warning).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import sys
from collections.abc import Callable

from .. import log
from ..cli import DEFAULT_KEYLOG, DEFAULT_PCAP, Options
from ..conf.store import Conf
from ..log import Cls
from . import child as _child
from . import childfs
from .child import Identity, MonitorClient
from .paths import AllowedPaths

_log = log.logger(Cls.MISC)
#: the child's root: an empty, root-owned directory
VAR_EMPTY = "/var/empty"
RUN_EMPTY = "/run/isakmpd/empty"
PRIV_SUFFIX = " [priv]"

__all__ = [
    "RUN_EMPTY",
    "VAR_EMPTY",
    "allowed_paths",
    "cannot_drop",
    "identity",
    "run",
    "wanted",
]


def wanted(opts: Options) -> bool:
    """Whether to separate: unless --no-privsep, and only as root."""
    if getattr(opts, "no_privsep", False):
        return False
    if os.geteuid() != 0:
        _log.warning("not started as root: running without privilege separation")
        return False
    return True


def _empty_and_safe(path: str) -> bool:
    """A real directory owned by root, writable by root only, and empty."""
    try:
        st = os.lstat(path)
        return (stat.S_ISDIR(st.st_mode) and st.st_uid == 0
                and not st.st_mode & 0o022 and not os.listdir(path))
    except OSError:
        return False


def chroot_dir() -> str:
    """/var/empty if it is empty and root's, else /run/isakmpd/empty (made
    0755, root-owned, if missing). OSError if neither can be had."""
    if _empty_and_safe(VAR_EMPTY):
        return VAR_EMPTY
    parent = os.path.dirname(RUN_EMPTY)
    for d in (parent, RUN_EMPTY):
        try:
            os.mkdir(d, 0o755)
            os.chmod(d, 0o755)  # whatever the umask
        except FileExistsError:
            pass
        st = os.lstat(d)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
            raise OSError(f"{d} is not a directory that only root may change; "
                          "the child cannot be locked in it")
    if not _empty_and_safe(RUN_EMPTY):
        raise OSError(f"{RUN_EMPTY} is not empty: the child's root must be")
    return RUN_EMPTY


def identity(opts: Options) -> Identity:
    """Who the child becomes and its root; ValueError/OSError if impossible."""
    name, uid, gid = _child.find_user(getattr(opts, "privsep_user", None))
    return Identity(name, uid, gid, chroot_dir())


def cannot_drop(ident: Identity) -> str | None:
    """Why a child could not lock itself in here (a capability bounding set
    without CAP_SYS_CHROOT, CAP_SETUID or CAP_SETGID, a system call filter
    without chroot...), or None if it can: tried in a short-lived process."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        why = b""
        try:
            _child.drop(ident)
        except (OSError, RuntimeError) as e:
            why = str(e).encode()[:200] or b"failed"
        try:
            os.write(w, why)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        why = f.read()
    os.waitpid(pid, 0)
    return why.decode(errors="replace") or None


def allowed_paths(opts: Options, conf: Conf, base_dir: str) -> AllowedPaths:
    a = AllowedPaths.build(conf, base_dir, config=opts.config, report=opts.report,
                           result=opts.result, pcap=opts.pcap, keylog=opts.keylog,
                           default_pcap=DEFAULT_PCAP, default_keylog=DEFAULT_KEYLOG)
    a.denied_dirs.update({VAR_EMPTY, RUN_EMPTY})
    return a


def run(opts: Options, conf: Conf, ident: Identity, ready_fd: int | None,
        base_dir: str, child_main: Callable[[MonitorClient], int],
        write_pid: Callable[[], bool]) -> int:
    """Fork; the child runs ``child_main`` once locked in, the parent
    monitors it. ``write_pid`` (the parent, once the child has its sockets)
    writes the pid file and returns whether it did."""
    from ..kernel.null import NullBackend
    from ..rand import Random
    from .monitor import FORWARDED, Monitor

    allowed = allowed_paths(opts, conf, base_dir)
    parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        parent_sock.close()
        if ready_fd is not None:
            os.close(ready_fd)
        _child_process(child_sock, ident, base_dir, child_main)
    child_sock.close()
    log.set_suffix(PRIV_SUFFIX)
    monitors: list[Monitor] = []

    def forward(sig: int) -> None:
        _forward(pid, sig)
        if sig in (signal.SIGTERM, signal.SIGINT):
            for m in monitors:  # a child that does not stop is killed
                m.stop_requested()

    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f: forward(s))
    _log.info("monitor: child %d runs as %s (uid %d, gid %d) in %s", pid, ident.user,
              ident.uid, ident.gid, ident.root)
    for line in allowed.describe():
        log.debug(Cls.MISC, 50, f"monitor: allowed: {line}")
    wrote_pid = False
    ready = False
    pid_failed = False

    def started() -> None:
        nonlocal wrote_pid, pid_failed
        wrote_pid = write_pid()
        if not wrote_pid:  # as isakmpd: fatal; the child is told to stop
            pid_failed = True
            _forward(pid, signal.SIGTERM)

    def init_done() -> None:
        nonlocal ready
        if pid_failed:
            return
        ready = True
        _ready(ready_fd)

    try:
        try:
            if opts.no_kernel:
                kernel = NullBackend(Random(opts.seed).u32)
            else:
                from ..kernel.xfrm import XfrmBackend

                kernel = XfrmBackend()
        except Exception as e:  # noqa: BLE001 (KernelError, or an import failing)
            _log.error("%s", e)
            _forward(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 1

        def reload_allowed() -> AllowedPaths:
            return allowed_paths(opts, Conf.load(opts.config), base_dir)

        monitor = Monitor(parent_sock, kernel, allowed, reload_allowed=reload_allowed,
                          fifo=None if opts.fifo == "-" else opts.fifo,
                          on_started=started, on_init_done=init_done)
        monitors.append(monitor)
        try:
            status = monitor.serve(pid)
            return 1 if pid_failed else status
        finally:
            kernel.close()
            monitor.remove_fifo()
    finally:
        parent_sock.close()
        if ready_fd is not None and not ready:
            _ready(ready_fd, ok=False)
        if wrote_pid:
            try:
                os.unlink(opts.pidfile)
            except OSError:
                pass


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _ready(fd: int | None, ok: bool = True) -> None:
    if fd is None:
        return
    try:
        if ok:
            os.write(fd, b"1")
        os.close(fd)
    except OSError:
        pass


# ------------------------------------------------------------------ the child
_early_stop = False


def _child_process(sock: socket.socket, ident: Identity, base_dir: str,
                   child_main: Callable[[MonitorClient], int]) -> None:
    """The forked child: lock in, then run; never returns."""
    code = 1
    try:
        def stop_early(_s: int, _f: object) -> None:
            global _early_stop
            _early_stop = True

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop_early)
        for sig in (signal.SIGHUP, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_IGN)
        _child.close_other_fds({sock.fileno(), *log.handler_fds()})
        _child.preimport()
        asyncio.new_event_loop().close()  # its imports, while they can be had
        client = MonitorClient(sock)
        netdb = childfs.NetDb()
        _child.drop(ident)
        childfs.install(childfs.ChildFiles(client, base_dir), netdb)
        log.debug(Cls.MISC, 10, f"child: running as {ident.user} (uid {os.getuid()}, "
                  f"gid {os.getgid()}) in {ident.root}")
        if _early_stop:
            code = 0
        else:
            code = child_main(client)
    except BaseException as e:  # noqa: BLE001 (the child must end here)
        if not isinstance(e, SystemExit):
            _log.error("child: %s", e, exc_info=not isinstance(e, OSError))
    finally:
        for h in log.root.handlers:
            try:
                h.flush()
            except Exception:  # noqa: BLE001, S110 (exiting: nothing to tell)
                pass
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001, S110 (exiting: nothing to tell)
            pass
        os._exit(code)


def early_stop_requested() -> bool:
    """A SIGTERM or SIGINT came while the child was being set up."""
    return _early_stop
