"""The unprivileged child: the monitor client, the kernel proxy and the
privilege drop.

The child handles everything that comes from the network and the FIFO: it
runs the engine and the daemon's event loop. It asks the parent for all it
cannot do itself (:class:`MonitorClient`): bound sockets, files, and the
kernel work of :class:`MonitorKernel`.
"""

from __future__ import annotations

import ctypes
import errno
import grp
import importlib
import os
import pkgutil
import pwd
import socket
import sys
from dataclasses import dataclass
from typing import Any

from .. import log
from ..errors import KernelError, KernelLacksESP
from ..kernel.base import (
    AcquireEvent,
    EventSource,
    ExpireEvent,
    KernelBackend,
    PolicySpec,
    SaRecord,
    SaSpec,
)
from ..log import Cls
from . import proto

_log = log.logger(Cls.MISC)
#: seconds the child waits for an answer before it takes the parent as gone
TIMEOUT = 30.0
#: modules the child never needs (netlink is the parent's)
NOT_IMPORTED = ("isakmpd.__main__", "isakmpd.kernel.xfrm", "isakmpd.kernel.netns",
                "isakmpd.privsep.monitor", "isakmpd.bench", "isakmpd.fuzzer")
#: modules imported later by what the child runs (lazily, by the standard
#: library or cryptography); a chrooted child can no longer load them
ALSO_IMPORTED = ("logging.handlers", "encodings.idna", "_strptime", "json.decoder",
                 "cryptography.x509", "cryptography.x509.oid",
                 "cryptography.hazmat.primitives.serialization",
                 "cryptography.hazmat.primitives.asymmetric.rsa",
                 "cryptography.hazmat.primitives.asymmetric.padding",
                 "cryptography.hazmat.primitives.hashes")


class MonitorGone(OSError):
    """The parent is gone (or did not answer)."""


class MonitorRefused(OSError):
    """The parent refused a request; ``kind`` is "kernel", "lacks_esp" or ""."""

    def __init__(self, err: int, reason: str, kind: str = "") -> None:
        super().__init__(err, reason)
        self.kind = kind


class MonitorClient:
    """Requests to the parent over the monitor socket (synchronous)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.settimeout(TIMEOUT)

    def fileno(self) -> int:
        return self.sock.fileno()

    def call(self, op: str, fds: tuple[int, ...] = (), **args: Any
             ) -> tuple[dict[str, Any], int | None]:
        """(reply, descriptor or None); MonitorRefused, MonitorGone."""
        try:
            proto.send(self.sock, {"op": op, **args}, fds)
            reply, rfds = proto.receive(self.sock)
        except proto.PeerGone:
            raise MonitorGone(errno.EPIPE, "the privileged parent is gone") from None
        except proto.ProtocolError as e:
            raise MonitorGone(errno.EPROTO, f"monitor: {e}") from None
        except OSError as e:
            raise MonitorGone(e.errno or errno.EPIPE,
                              f"monitor: {e.strerror or e}") from None
        if type(reply) is not dict or type(reply.get("ok")) is not bool:
            proto.close_all(rfds)
            raise MonitorGone(errno.EPROTO, "monitor: a reply that is no reply")
        if not reply["ok"]:
            proto.close_all(rfds)
            err = reply.get("errno")
            why = reply.get("error")
            kind = reply.get("kind")
            raise MonitorRefused(err if type(err) is int else errno.EPERM,
                                 why if type(why) is str else "refused",
                                 kind if type(kind) is str else "")
        return reply, (rfds[0] if rfds else None)

    def file_request(self, op: str, **args: Any) -> tuple[dict[str, Any], int | None]:
        """A file request; a refusal is an OSError naming the path."""
        try:
            return self.call(op, **args)
        except MonitorRefused as e:
            raise OSError(e.errno, e.strerror, args.get("path") or args.get("src")
                          ) from None

    def bind(self, family: int, address: str, port: int, natt: bool) -> socket.socket:
        """A UDP socket the parent bound and set up (see transport.bind_udp)."""
        try:
            _, fd = self.call("BIND", family=4 if family == socket.AF_INET else 6,
                              address=address, port=port, natt=natt)
        except MonitorRefused as e:
            raise OSError(e.errno, e.strerror) from None
        if fd is None:
            raise OSError(errno.EIO, "BIND: no socket from the monitor")
        s = socket.socket(fileno=fd)
        s.setblocking(False)
        return s

    def open_fifo(self) -> int:
        _, fd = self.call("OPEN_FIFO")
        if fd is None:
            raise OSError(errno.EIO, "OPEN_FIFO: no descriptor from the monitor")
        return fd


class MonitorKernel(KernelBackend):
    """The kernel backend of the child: every call is a request to the
    parent, which checks it and runs it on the real backend."""

    def __init__(self, client: MonitorClient) -> None:
        self.client = client

    def _call(self, op: str, **args: Any) -> dict[str, Any]:
        try:
            reply, _ = self.client.call(op, **args)
        except MonitorRefused as e:
            if e.kind == "lacks_esp":
                raise KernelLacksESP(e.strerror, e.errno or 0) from None
            raise KernelError(e.strerror, e.errno or 0) from None
        except MonitorGone as e:
            raise KernelError(e.strerror, e.errno or 0) from None
        return reply

    def get_spi(self, proto_: int, src: str, dst: str, *, reqid: int = 0,
                seq: int = 0, spi_min: int = 0, spi_max: int = 0) -> int:
        reply = self._call("GET_SPI", proto=proto_, src=src, dst=dst)
        spi = reply.get("spi")
        if type(spi) is not int or not 0 < spi <= 0xFFFFFFFF:
            raise KernelError("GET_SPI: no SPI in the monitor's reply")
        return spi

    def add_sa(self, sa: SaSpec) -> None:
        self._call("ADD_SA", sa=proto.sa_to_wire(sa))

    def delete_sa(self, proto_: int, spi: int, dst: str, family: int | None = None,
                  src: str | None = None) -> None:
        self._call("DELETE_SA", proto=proto_, spi=spi, dst=dst, src=src)

    def add_policy(self, policy: PolicySpec) -> None:
        self._call("ADD_POLICY", policy=proto.policy_to_wire(policy))

    def delete_policy(self, policy: PolicySpec) -> None:
        self._call("DELETE_POLICY", policy=proto.policy_to_wire(policy))

    def list_sas(self) -> list[SaRecord]:
        # TODO(kernel listings through the monitor): nothing in the daemon asks
        raise KernelError("listing SAs is not available in the child",
                          errno.EOPNOTSUPP)

    def list_policies(self) -> list[PolicySpec]:
        raise KernelError("listing policies is not available in the child",
                          errno.EOPNOTSUPP)

    def bypass_socket(self, sock: socket.socket) -> None:
        # the parent sets the bypass policy on the sockets it binds; for any
        # other socket, ask (IP_XFRM_POLICY needs CAP_NET_ADMIN)
        level, name = ((socket.IPPROTO_IP, IP_XFRM_POLICY)
                       if sock.family == socket.AF_INET
                       else (socket.IPPROTO_IPV6, IPV6_XFRM_POLICY))
        self._call_fd("SETSOCKOPT", sock.fileno(), level=level, name=name, value=1)

    def _call_fd(self, op: str, fd: int, **args: Any) -> None:
        try:
            self.client.call(op, fds=(fd,), **args)
        except (MonitorRefused, MonitorGone) as e:
            raise KernelError(e.strerror, e.errno or 0) from None

    def events(self) -> EventSource | None:
        """The kernel's ACQUIREs and EXPIREs, passed on by the parent."""
        try:
            reply, fd = self.client.call("EVENTS")
        except (MonitorRefused, MonitorGone) as e:
            raise KernelError(e.strerror, e.errno or 0) from None
        if not reply.get("events") or fd is None:
            return None
        return MonitorEvents(socket.socket(fileno=fd))

    def flush(self) -> None:
        raise KernelError("flush is for tests, not for the child", errno.EPERM)

    def close(self) -> None:
        pass


IP_XFRM_POLICY = 17
IPV6_XFRM_POLICY = 35


class MonitorEvents(EventSource):
    """Kernel events from the parent: one ACQUIRE or EXPIRE a message."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[AcquireEvent | ExpireEvent]:
        out: list[AcquireEvent | ExpireEvent] = []
        while True:
            try:
                value, fds = proto.receive(self.sock)
            except (BlockingIOError, proto.PeerGone):
                return out
            except (proto.ProtocolError, OSError) as e:
                _log.error("kernel events from the monitor: %s", e)
                return out
            proto.close_all(fds)
            try:
                out.append(proto.event_from_wire(value))
            except (proto.ProtocolError, ValueError) as e:
                _log.error("kernel event from the monitor dropped: %s", e)

    def close(self) -> None:
        self.sock.close()


# ------------------------------------------------------------------ the drop
@dataclass(frozen=True)
class Identity:
    """Who the child becomes and where it is locked in."""

    user: str
    uid: int
    gid: int
    root: str


DEFAULT_USERS = ("_isakmpd", "nobody")


def find_user(name: str | None) -> tuple[str, int, int]:
    """(name, uid, gid) of ``name``, or of ``_isakmpd`` if it exists, else
    ``nobody``. ValueError if there is none (or it is root)."""
    names = (name,) if name else DEFAULT_USERS
    for n in names:
        try:
            pw = pwd.getpwnam(n)
        except KeyError:
            continue
        if pw.pw_uid == 0 or pw.pw_gid == 0:
            raise ValueError(f"user {n} has uid or gid 0: the child would keep "
                             "root's rights")
        return n, pw.pw_uid, pw.pw_gid
    raise ValueError(f"no user {name}" if name else
                     "neither user _isakmpd nor nobody exists")


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def preimport() -> None:
    """Import every module the child may need, while it still can."""
    import isakmpd

    for info in pkgutil.walk_packages(isakmpd.__path__, "isakmpd."):
        if info.name.startswith(NOT_IMPORTED):
            continue
        importlib.import_module(info.name)
    for name in ALSO_IMPORTED:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def drop(ident: Identity) -> None:
    """chroot to the empty directory, then become the user for good.
    Raises OSError (or RuntimeError if root could be had back)."""
    os.chroot(ident.root)
    os.chdir("/")
    os.setgroups([])
    os.setresgid(ident.gid, ident.gid, ident.gid)
    os.setresuid(ident.uid, ident.uid, ident.uid)
    _no_new_privileges()
    if 0 in (os.getuid(), os.geteuid(), os.getgid(), os.getegid()):
        raise RuntimeError("still root after setresuid")
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise RuntimeError("could become root again after the drop")
    if os.getgroups() not in ([], [ident.gid]):
        raise RuntimeError(f"supplementary groups left: {os.getgroups()}")


def _no_new_privileges() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS): no exec can give privileges back."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(38, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def close_other_fds(keep: set[int]) -> None:
    """Close inherited descriptors except 0-2 and ``keep``."""
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def stderr_fd() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
