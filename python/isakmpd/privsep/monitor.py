"""The privileged parent ("monitor"): it keeps root and the kernel backend,
and answers the child's requests one at a time.

Every request is checked against its schema (:mod:`.proto`) and against
what the child may have: ports (500, 4500 and above 1023), socket options
(:data:`SOCKOPTS`), paths (:mod:`.paths`). A refusal is logged with its
reason and answered with an error; a malformed message is logged and
answered the same way. Nothing the child sends can raise in the parent.

The parent remembers the kernel state the child installed; when the child
exits, whatever it left (a crash leaves everything) is removed, and the
parent exits with the child's status.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import socket
import stat
import time
from collections.abc import Callable
from typing import Any

from .. import log
from ..conf.parser import check_secrecy_fd
from ..errors import ConfigError, KernelError, KernelLacksESP
from ..kernel.base import EventSource, KernelBackend, PolicySpec
from ..log import Cls
from ..transport import IP_PKTINFO, IPV6_RECVPKTINFO, UDP_ENCAP, bind_udp
from ..ui import make_fifo
from . import proto
from .paths import AllowedPaths, Refused

_log = log.logger(Cls.MISC)
#: signals the parent passes on to the child
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)
#: ports the child may bind: isakmpd's 500, NAT-T's 4500, unprivileged ones
FIXED_PORTS = (500, 4500)
#: socket options the child may ask for: (level, option) -> allowed values;
#: IP(V6)_XFRM_POLICY's only value, 1, is the IKE bypass policy
IP_XFRM_POLICY, IPV6_XFRM_POLICY = 17, 35
SOCKOPTS: dict[tuple[int, int], tuple[int, ...]] = {
    (socket.IPPROTO_IP, IP_PKTINFO): (0, 1),
    (socket.IPPROTO_IPV6, IPV6_RECVPKTINFO): (0, 1),
    (socket.IPPROTO_IPV6, socket.IPV6_V6ONLY): (0, 1),
    (socket.IPPROTO_UDP, UDP_ENCAP): (0, 2),
    (socket.IPPROTO_IP, IP_XFRM_POLICY): (1,),
    (socket.IPPROTO_IPV6, IPV6_XFRM_POLICY): (1,),
}
_OPEN_FLAGS = {"create": os.O_CREAT, "trunc": os.O_TRUNC, "append": os.O_APPEND,
               "excl": os.O_EXCL}
#: seconds the parent waits for a child that closed its end to exit
EXIT_WAIT = 5.0
#: seconds a child told to stop (SIGTERM, SIGINT) has before it is killed;
#: a clean shutdown sends its DELETEs and clears the kernel in far less
STOP_TIMEOUT = 30.0

Reply = tuple[dict[str, Any], list[int]]


class Denied(Exception):
    """A request the child may not make: answered with ``errno``."""

    def __init__(self, reason: str, err: int = errno.EACCES) -> None:
        super().__init__(reason)
        self.errno = err


def port_allowed(port: int) -> bool:
    return port in FIXED_PORTS or port > 1023


class Monitor:
    """Answers the child on ``sock``; ``kernel`` is the real backend."""

    def __init__(self, sock: socket.socket, kernel: KernelBackend,
                 allowed: AllowedPaths, *, reload_allowed: Callable[[], AllowedPaths],
                 fifo: str | None = None,
                 on_started: Callable[[], None] | None = None,
                 on_init_done: Callable[[], None] | None = None) -> None:
        """``fifo``: the FIFO's path (None: ``-f -``), made by the parent on
        the child's first OPEN_FIFO. ``on_started`` runs once, before the
        FIFO is made or at INIT_DONE (the pid file); ``on_init_done`` when the
        child says it is ready."""
        self.sock = sock
        self.kernel = kernel
        self.allowed = allowed
        self.reload_allowed = reload_allowed
        self.fifo_path = fifo
        #: the FIFO once made: (st_dev, st_ino)
        self.fifo_id: tuple[int, int] | None = None
        self.on_started = on_started
        self._started = False
        self.on_init_done = on_init_done
        self.child_pid = 0
        #: when a child told to stop is killed (time.monotonic())
        self.kill_at: float | None = None
        self.init_done = False
        self.shutdown_said = False
        self.requests = 0
        self.refused = 0
        #: kernel state the child installed: (proto, spi, dst) -> src
        self.sas: dict[tuple[int, int, str], str | None] = {}
        self.larval: dict[tuple[int, int, str], str] = {}
        self.policies: dict[tuple[Any, str], PolicySpec] = {}
        #: kernel event sources and the sockets their events go out on
        self.event_links: list[tuple[EventSource, socket.socket]] = []
        self._handlers: dict[str, Callable[[dict[str, Any], list[int]], Reply]] = {
            "BIND": self._bind, "SETSOCKOPT": self._setsockopt,
            "GET_FD": self._get_fd, "READDIR": self._readdir, "STAT": self._stat,
            "MKDIR": self._mkdir, "RENAME": self._rename, "UNLINK": self._unlink,
            "OPEN_FIFO": self._open_fifo, "GET_SPI": self._get_spi,
            "ADD_SA": self._add_sa, "DELETE_SA": self._delete_sa,
            "ADD_POLICY": self._add_policy, "DELETE_POLICY": self._delete_policy,
            "EVENTS": self._events,
            "RELOAD": self._reload, "INIT_DONE": self._init_done,
            "SHUTDOWN": self._shutdown,
        }

    # ------------------------------------------------------------ one request
    def handle(self, message: Any, fds: list[int]) -> Reply:
        """The reply to one message (never raises)."""
        self.requests += 1
        op = message.get("op") if isinstance(message, dict) else None
        try:
            try:
                op, args = proto.check_request(message)
            except proto.ProtocolError as e:
                _log.error("monitor: malformed request from the child: %s", e)
                raise Denied(f"malformed request: {e}", errno.EINVAL) from None
            log.debug(Cls.MISC, 80, f"monitor: {op} {_brief(args)}")
            return self._handlers[op](args, fds)
        except Denied as e:
            self.refused += 1
            if e.errno == errno.EACCES:
                _log.warning("monitor: refused %s: %s", op, e)
            return {"ok": False, "errno": e.errno, "error": str(e)}, []
        except KernelLacksESP as e:
            return {"ok": False, "errno": e.errno, "error": str(e),
                    "kind": "lacks_esp"}, []
        except KernelError as e:
            return {"ok": False, "errno": e.errno, "error": str(e), "kind": "kernel"}, []
        except OSError as e:
            return ({"ok": False, "errno": e.errno or errno.EIO,
                     "error": e.strerror or str(e)}, [])
        except Exception as e:  # noqa: BLE001 (nothing from the child may stop us)
            _log.exception("monitor: internal error on %s", op)
            return {"ok": False, "errno": errno.EIO, "error": f"internal error: {e}"}, []
        finally:
            proto.close_all(fds)

    @staticmethod
    def _no_fds(fds: list[int], op: str) -> None:
        if fds:
            raise Denied(f"{op} takes no descriptor", errno.EINVAL)

    # ------------------------------------------------------------ sockets
    def _bind(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "BIND")
        port, addr = a["port"], a["address"]
        if not port_allowed(port):
            raise Denied(f"port {port}: only 500, 4500 and ports above 1023 may be "
                         "bound")
        family = socket.AF_INET if a["family"] == 4 else socket.AF_INET6
        if (":" in addr) != (family == socket.AF_INET6):
            raise Denied(f"address {addr} is not of family IPv{a['family']}",
                         errno.EINVAL)
        sock = bind_udp(family, addr, port, a["natt"], self.kernel.bypass_socket)
        log.debug(Cls.TRANSPORT, 20, f"monitor: bound {addr} port {port}"
                  f"{' (NAT-T)' if a['natt'] else ''} for the child")
        return {"ok": True}, [sock.detach()]

    def _setsockopt(self, a: dict[str, Any], fds: list[int]) -> Reply:
        if len(fds) != 1:
            raise Denied("SETSOCKOPT needs the socket", errno.EINVAL)
        level, name, value = a["level"], a["name"], a["value"]
        values = SOCKOPTS.get((level, name))
        if values is None or value not in values:
            raise Denied(f"socket option {level}/{name}={value} is not one the "
                         "child may set")
        try:
            sock = socket.socket(fileno=os.dup(fds[0]))
        except OSError as e:
            raise Denied(f"not a socket: {e.strerror}", errno.ENOTSOCK) from None
        with sock:
            if (sock.family not in (socket.AF_INET, socket.AF_INET6)
                    or sock.type != socket.SOCK_DGRAM
                    or sock.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL)
                    != socket.IPPROTO_UDP):
                raise Denied("SETSOCKOPT applies to UDP sockets only", errno.EINVAL)
            if name in (IP_XFRM_POLICY, IPV6_XFRM_POLICY) and level in (
                    socket.IPPROTO_IP, socket.IPPROTO_IPV6):
                self.kernel.bypass_socket(sock)
            else:
                sock.setsockopt(level, name, value)
        return {"ok": True}, []

    # ------------------------------------------------------------ files
    def _path(self, path: str, write: bool, follow: bool = True) -> str:
        try:
            return self.allowed.check(path, write, follow)
        except Refused as e:
            raise Denied(str(e)) from None

    def _get_fd(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "GET_FD")
        names = set(a["flags"])
        modes = names & {"read", "write", "rdwr"}
        if len(modes) > 1:
            raise Denied("GET_FD: more than one of read, write, rdwr", errno.EINVAL)
        mode = modes.pop() if modes else "read"
        write = mode != "read" or bool(names & {"create", "trunc", "append"})
        real = self._path(a["path"], write)
        flags = {"read": os.O_RDONLY, "write": os.O_WRONLY, "rdwr": os.O_RDWR}[mode]
        for n in names & _OPEN_FLAGS.keys():
            flags |= _OPEN_FLAGS[n]
        try:
            st = os.lstat(real)
            if not stat.S_ISREG(st.st_mode):
                raise Denied(f"{a['path']} is not a regular file", errno.EINVAL)
        except FileNotFoundError:
            pass
        fd = os.open(real, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
                     | os.O_NONBLOCK, 0o600)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise Denied(f"{a['path']} is not a regular file", errno.EINVAL)
            if not write and self.allowed.secret(real):
                try:
                    check_secrecy_fd(fd, a["path"])
                except ConfigError as e:
                    raise Denied(e.reason) from None
            fl = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, fl & ~os.O_NONBLOCK)
        except BaseException:
            os.close(fd)
            raise
        return {"ok": True}, [fd]

    def _readdir(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "READDIR")
        real = self._path(a["path"], write=False)
        entries = []
        with os.scandir(real) as it:
            for e in it:
                if len(entries) >= proto.MAX_DIR_ENTRIES:
                    _log.warning("monitor: %s has more than %d entries; the rest "
                                 "is left out", a["path"], proto.MAX_DIR_ENTRIES)
                    break
                entries.append([e.name, _kind_of(e)])
        entries.sort()
        return {"ok": True, "entries": entries}, []

    def _stat(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "STAT")
        real = self._path(a["path"], write=False, follow=a["follow"])
        try:
            st = os.stat(real) if a["follow"] else os.lstat(real)
        except FileNotFoundError:
            return {"ok": True, "kind": None}, []
        return {"ok": True, "kind": _kind(st.st_mode)}, []

    def _mkdir(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "MKDIR")
        real = self._path(a["path"], write=True)
        if a["parents"]:
            os.makedirs(real, 0o700, exist_ok=True)
        else:
            os.mkdir(real, 0o700)
        return {"ok": True}, []

    def _rename(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "RENAME")
        src = self._path(a["src"], write=True, follow=False)
        dst = self._path(a["dst"], write=True, follow=False)
        if os.path.dirname(src) != os.path.dirname(dst):
            raise Denied("RENAME stays within one directory", errno.EXDEV)
        if not stat.S_ISREG(os.lstat(src).st_mode):
            raise Denied(f"{a['src']} is not a regular file", errno.EINVAL)
        os.rename(src, dst)
        return {"ok": True}, []

    def _unlink(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "UNLINK")
        real = self._path(a["path"], write=True, follow=False)
        if stat.S_ISDIR(os.lstat(real).st_mode):
            raise Denied(f"{a['path']} is a directory", errno.EISDIR)
        os.unlink(real)
        return {"ok": True}, []

    def started(self) -> None:
        if not self._started:
            self._started = True
            if self.on_started is not None:
                self.on_started()

    def _open_fifo(self, a: dict[str, Any], fds: list[int]) -> Reply:
        """The FIFO, made on the first request (the child binds its sockets
        first, so that a daemon whose FIFO exists is one that runs)."""
        self._no_fds(fds, "OPEN_FIFO")
        path = self.fifo_path
        if path is None:
            raise Denied("no FIFO (-f -)", errno.ENOENT)
        if self.fifo_id is None:
            self.started()
            make_fifo(path)
            st = os.lstat(path)
            self.fifo_id = (st.st_dev, st.st_ino)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
                         | os.O_NOFOLLOW)
        except OSError as e:
            raise OSError(e.errno, f"FIFO: {e.strerror}") from None
        st = os.fstat(fd)
        if not stat.S_ISFIFO(st.st_mode) or (st.st_dev, st.st_ino) != self.fifo_id:
            os.close(fd)
            raise Denied(f"{path} is no longer the FIFO the daemon made", errno.ENOENT)
        return {"ok": True}, [fd]

    def remove_fifo(self) -> None:
        """At the end: the FIFO, if it is still the one made here."""
        if self.fifo_path is None or self.fifo_id is None:
            return
        try:
            st = os.lstat(self.fifo_path)
            if stat.S_ISFIFO(st.st_mode) and (st.st_dev, st.st_ino) == self.fifo_id:
                os.unlink(self.fifo_path)
        except OSError:
            pass

    # ------------------------------------------------------------ the kernel
    def _get_spi(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "GET_SPI")
        spi = self.kernel.get_spi(a["proto"], a["src"], a["dst"])
        self.larval[(a["proto"], spi, a["dst"])] = a["src"]
        return {"ok": True, "spi": spi}, []

    def _add_sa(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "ADD_SA")
        try:
            sa = proto.sa_from_wire(a["sa"])
        except (ValueError, TypeError) as e:
            raise Denied(f"ADD_SA: {e}", errno.EINVAL) from None
        key = (sa.proto, sa.spi, sa.dst)
        # an inbound SA completes its larval SA (which stays ours if this fails)
        self.kernel.add_sa(sa)
        self.larval.pop(key, None)
        self.sas[key] = sa.src
        return {"ok": True}, []

    def _delete_sa(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "DELETE_SA")
        key = (a["proto"], a["spi"], a["dst"])
        self.sas.pop(key, None)
        self.larval.pop(key, None)
        self.kernel.delete_sa(a["proto"], a["spi"], a["dst"], src=a["src"])
        return {"ok": True}, []

    def _policy(self, a: dict[str, Any]) -> PolicySpec:
        try:
            return proto.policy_from_wire(a["policy"])
        except (ValueError, TypeError) as e:
            raise Denied(f"policy: {e}", errno.EINVAL) from None

    def _add_policy(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "ADD_POLICY")
        pol = self._policy(a)
        self.kernel.add_policy(pol)
        self.policies[(pol.selector, pol.direction)] = pol
        return {"ok": True}, []

    def _delete_policy(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "DELETE_POLICY")
        pol = self._policy(a)
        self.policies.pop((pol.selector, pol.direction), None)
        self.kernel.delete_policy(pol)
        return {"ok": True}, []

    def _events(self, a: dict[str, Any], fds: list[int]) -> Reply:
        """A socket that carries the kernel's ACQUIREs and EXPIREs to the
        child (none under -n)."""
        self._no_fds(fds, "EVENTS")
        if len(self.event_links) >= 4:
            raise Denied("too many event sources", errno.EMFILE)
        source = self.kernel.events()
        if source is None:
            return {"ok": True, "events": False}, []
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        mine.setblocking(False)
        self.event_links.append((source, mine))
        return {"ok": True, "events": True}, [theirs.detach()]

    def _pass_events(self, source: EventSource, out: socket.socket) -> None:
        try:
            events = source.read()
        except (KernelError, OSError) as e:
            _log.error("monitor: kernel events: %s", e)
            return
        for ev in events:
            try:
                proto.send(out, proto.event_to_wire(ev))
            except BlockingIOError:
                _log.warning("monitor: the child is not reading kernel events; "
                             "one dropped")
            except OSError:
                self._drop_link(source, out)
                return

    def _drop_link(self, source: EventSource, out: socket.socket) -> None:
        self.event_links = [(s, o) for s, o in self.event_links if o is not out]
        for thing in (source, out):
            try:
                thing.close()
            except (OSError, KernelError):
                pass

    # ------------------------------------------------------------ life
    def _reload(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "RELOAD")
        try:
            self.allowed = self.reload_allowed()
        except ConfigError as e:
            # the child reads the same file next and says what is wrong
            log.debug(Cls.MISC, 10, f"monitor: configuration not reloaded: {e}")
            return {"ok": True, "reloaded": False}, []
        log.debug(Cls.MISC, 10, "monitor: configuration re-read for the allowed paths")
        return {"ok": True, "reloaded": True}, []

    def _init_done(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "INIT_DONE")
        if not self.init_done:
            self.init_done = True
            self.started()
            if self.on_init_done is not None:
                self.on_init_done()
        return {"ok": True}, []

    def _shutdown(self, a: dict[str, Any], fds: list[int]) -> Reply:
        self._no_fds(fds, "SHUTDOWN")
        self.shutdown_said = True
        return {"ok": True}, []

    # ------------------------------------------------------------ the loop
    def stop_requested(self) -> None:
        """SIGTERM or SIGINT went on to the child: it gets
        :data:`STOP_TIMEOUT` seconds to shut down."""
        if self.kill_at is None:
            self.kill_at = time.monotonic() + STOP_TIMEOUT

    def serve(self, child_pid: int) -> int:
        """Answer the child until it exits; then remove what it left in the
        kernel. Returns the exit status for the daemon."""
        self.child_pid = child_pid
        status: int | None = None
        while status is None:
            sources = {src.fileno(): (src, out) for src, out in self.event_links}
            try:
                ready, _, _ = select.select([self.sock, *sources], [], [], 1.0)
            except InterruptedError:
                ready = []
            for fd in ready:
                if fd in sources:
                    self._pass_events(*sources[fd])
            if self.sock in ready and not self._serve_one():
                break
            status = _reap(child_pid, block=False)
            if (status is None and self.kill_at is not None
                    and time.monotonic() > self.kill_at):
                _log.error("the child (pid %d) did not stop within %g s of being "
                           "told to: killing it", child_pid, STOP_TIMEOUT)
                try:
                    os.kill(child_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.kill_at = None
        if status is None:
            status = _wait_or_kill(child_pid)
        for src, out in list(self.event_links):
            self._drop_link(src, out)
        self.cleanup()
        if status < 0:
            _log.error("the child (pid %d) was killed by signal %d", child_pid, -status)
            return 1
        if status != 0 and self.init_done:  # else it said why it could not start
            _log.error("the child (pid %d) exited with status %d", child_pid, status)
        elif status == 0 and self.init_done and not self.shutdown_said:
            _log.warning("the child (pid %d) exited without shutting down", child_pid)
        return status

    def _serve_one(self) -> bool:
        """Answer one message; False once the child closed its end."""
        try:
            message, fds = proto.receive(self.sock)
        except proto.PeerGone:
            return False
        except proto.ProtocolError as e:
            self.refused += 1
            _log.error("monitor: malformed message from the child: %s", e)
            return self._reply({"ok": False, "errno": errno.EINVAL,
                                "error": f"malformed message: {e}"}, [])
        except (BlockingIOError, InterruptedError):
            return True
        except OSError as e:
            _log.error("monitor: reading from the child: %s", e.strerror or e)
            return False
        reply, rfds = self.handle(message, fds)
        return self._reply(reply, rfds)

    def _reply(self, reply: dict[str, Any], fds: list[int]) -> bool:
        try:
            proto.send(self.sock, reply, fds)
            return True
        except OSError:
            return False
        finally:
            proto.close_all(fds)

    def cleanup(self) -> None:
        """Remove every SA and policy the child installed and did not
        remove (all of them, if it crashed)."""
        # SPIs of negotiations still under way at the end are normal; SAs
        # and policies are left only by a child that did not finish cleanly
        if self.sas or self.policies:
            _log.warning("removing what the child left in the kernel: %d SAs, %d "
                         "SPIs, %d policies", len(self.sas), len(self.larval),
                         len(self.policies))
        elif self.larval:
            log.debug(Cls.SYSDEP, 10, f"monitor: releasing {len(self.larval)} SPI(s) "
                      "of negotiations under way")
        for (p, spi, dst), src in [*self.sas.items(), *self.larval.items()]:
            try:
                self.kernel.delete_sa(p, spi, dst, src=src)
            except (KernelError, ValueError) as e:
                log.debug(Cls.SYSDEP, 10, f"monitor: delete SA {spi:#x}: {e}")
        for pol in self.policies.values():
            try:
                self.kernel.delete_policy(pol)
            except (KernelError, ValueError) as e:
                log.debug(Cls.SYSDEP, 10, f"monitor: delete flow {pol.selector}: {e}")
        self.sas.clear()
        self.larval.clear()
        self.policies.clear()


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def _kind_of(entry: os.DirEntry[str]) -> str:
    try:
        if entry.is_file():
            return "file"
        if entry.is_dir():
            return "dir"
    except OSError:
        pass
    return "other"


def _brief(args: dict[str, Any]) -> str:
    """Arguments for the debug log, keys left out."""
    out = []
    for k, v in args.items():
        if k in ("sa", "policy"):
            v = {kk: vv for kk, vv in v.items()
                 if kk not in ("enc", "aead", "auth")} if isinstance(v, dict) else v
        out.append(f"{k}={v}")
    return " ".join(out)[:300]


def _reap(pid: int, block: bool) -> int | None:
    """The child's status (negative: killed by that signal), or None."""
    try:
        got, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return 1
    if got == 0:
        return None
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def _wait_or_kill(pid: int) -> int:
    """The child closed the monitor socket: wait for it to exit, then kill it."""
    deadline = time.monotonic() + EXIT_WAIT
    while time.monotonic() < deadline:
        status = _reap(pid, block=False)
        if status is not None:
            return status
        time.sleep(0.05)
    _log.error("the child (pid %d) closed the monitor socket but runs on; killed", pid)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    status = _reap(pid, block=True)
    return status if status is not None else 1
