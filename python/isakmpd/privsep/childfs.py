"""The child's files: every path goes to the parent.

After the child has chrooted to its empty directory no path means anything
to it; the modules that read or write files get, in the child only, a
stand-in for ``os`` (and for ``open`` and ``pathlib.Path`` where they use
those) whose path operations are monitor requests: ``os.open`` is GET_FD,
``os.listdir`` READDIR, ``os.path.exists``/``isfile``/``isdir``/
``lexists`` STAT, ``os.replace`` RENAME, ``os.unlink`` UNLINK and
``os.mkdir`` MKDIR. What works on descriptors (``read``, ``fstat``,
``close``...) is the real ``os``. A refusal is an ``OSError`` carrying the
parent's reason, so the module's own error message names it.

Service and protocol names (``Port=domain``, ``Protocol=udp``) are looked
up in /etc/services and /etc/protocols, which the C library reads at each
lookup: the child reads them once before it is locked in
(:class:`NetDb`), and the modules that look names up get a ``socket``
whose ``getservbyname``/``getprotobyname`` use that copy.

:data:`USERS` lists the modules and the names replaced in each; a module
that reaches the file system some other way fails inside the chroot (and
the tests, which run separated, say so).
"""

from __future__ import annotations

import errno
import os
import pathlib
import posixpath
import sys
from types import SimpleNamespace
from typing import Any, Protocol

#: module -> the global names that get the child's versions
USERS: dict[str, tuple[str, ...]] = {
    "isakmpd.conf.parser": ("os",),
    "isakmpd.conf.ifaddr": ("open",),
    "isakmpd.pki.files": ("os",),
    "isakmpd.pki.store": ("os",),
    "isakmpd.policy.check": ("os", "open"),
    "isakmpd.pcap": ("os",),
    "isakmpd.keylog": ("os", "open", "Path"),
    "isakmpd.daemon": ("os",),
    "isakmpd.conf.ids": ("socket",),
    "isakmpd.exchange.ids": ("socket",),
}
SERVICES, PROTOCOLS = "/etc/services", "/etc/protocols"


class Requester(Protocol):
    def file_request(self, op: str, **args: Any) -> tuple[dict[str, Any], int | None]:
        """A file request; OSError (errno, reason, path) if refused."""


class ChildFiles:
    """Path operations as monitor requests. Relative paths count from
    ``base_dir``, the directory the daemon was started in."""

    def __init__(self, client: Requester, base_dir: str) -> None:
        self.client = client
        self.base_dir = base_dir

    def _abs(self, path: Any) -> str:
        p = os.fsdecode(os.fspath(path))
        return p if p.startswith("/") else posixpath.join(self.base_dir, p)

    def open(self, path: Any, flags: int, mode: int = 0o777, **_: Any) -> int:
        acc = flags & os.O_ACCMODE
        names = ["read" if acc == os.O_RDONLY else "write" if acc == os.O_WRONLY
                 else "rdwr"]
        for bit, name in ((os.O_CREAT, "create"), (os.O_TRUNC, "trunc"),
                          (os.O_APPEND, "append"), (os.O_EXCL, "excl")):
            if flags & bit:
                names.append(name)
        _, fd = self.client.file_request("GET_FD", path=self._abs(path), flags=names)
        if fd is None:
            raise OSError(errno.EIO, "no descriptor from the monitor", os.fspath(path))
        return fd

    def listdir(self, path: Any = ".") -> list[str]:
        reply, _ = self.client.file_request("READDIR", path=self._abs(path))
        return [str(name) for name, _kind in reply.get("entries", [])]

    def kind(self, path: Any, follow: bool = True) -> str | None:
        """"file", "dir", "link", "other", or None (nothing there, or refused)."""
        try:
            reply, _ = self.client.file_request("STAT", path=self._abs(path),
                                                follow=follow)
        except OSError:
            return None
        k = reply.get("kind")
        return k if isinstance(k, str) else None

    def mkdir(self, path: Any, mode: int = 0o777, parents: bool = False) -> None:
        self.client.file_request("MKDIR", path=self._abs(path), parents=parents)

    def rename(self, src: Any, dst: Any) -> None:
        self.client.file_request("RENAME", src=self._abs(src), dst=self._abs(dst))

    def unlink(self, path: Any) -> None:
        self.client.file_request("UNLINK", path=self._abs(path))


def os_view(files: ChildFiles) -> Any:
    """A stand-in for the ``os`` module."""
    path = SimpleNamespace(**{n: getattr(posixpath, n) for n in dir(posixpath)
                              if not n.startswith("__")})
    path.exists = lambda p: files.kind(p) is not None
    path.lexists = lambda p: files.kind(p, follow=False) is not None
    path.isfile = lambda p: files.kind(p) == "file"
    path.isdir = lambda p: files.kind(p) == "dir"

    def makedirs(name: Any, mode: int = 0o777, exist_ok: bool = False) -> None:
        if exist_ok and files.kind(name) == "dir":
            return
        files.mkdir(name, mode, parents=True)

    own = {"open": files.open, "listdir": files.listdir, "replace": files.rename,
           "rename": files.rename, "unlink": files.unlink, "remove": files.unlink,
           "mkdir": files.mkdir, "makedirs": makedirs, "path": path}

    class OsView:
        def __getattr__(self, name: str) -> Any:
            if name in own:
                return own[name]
            return getattr(os, name)

    return OsView()


def open_function(files: ChildFiles) -> Any:
    """A stand-in for the built-in ``open``."""
    def open_(file: Any, mode: str = "r", buffering: int = -1,
              encoding: str | None = None, errors: str | None = None,
              newline: str | None = None, closefd: bool = True,
              opener: Any = None) -> Any:
        if isinstance(file, int):
            return open(file, mode, buffering, encoding, errors, newline, closefd)
        kind = mode.replace("b", "").replace("t", "")
        plus = "+" in kind
        flags = {"r": os.O_RDONLY, "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                 "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                 "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL}.get(kind[:1])
        if flags is None:
            raise ValueError(f"invalid mode: {mode!r}")
        if plus:
            flags = (flags & ~os.O_ACCMODE) | os.O_RDWR
        fd = files.open(file, flags, 0o666)
        return open(fd, mode, buffering, encoding, errors, newline, True)
    return open_


def path_class(files: ChildFiles) -> type:
    """A stand-in for ``pathlib.Path`` whose file-system queries are requests."""
    class ChildPath(pathlib.PosixPath):
        def mkdir(self, mode: int = 0o777, parents: bool = False,
                  exist_ok: bool = False) -> None:
            if exist_ok and files.kind(self) == "dir":
                return
            files.mkdir(self, mode, parents=parents)

        def exists(self) -> bool:
            return files.kind(self) is not None

        def is_dir(self) -> bool:
            return files.kind(self) == "dir"

        def is_file(self) -> bool:
            return files.kind(self) == "file"

        def open(self, mode: str = "r", buffering: int = -1,  # type: ignore[override]
                 encoding: str | None = None, errors: str | None = None,
                 newline: str | None = None) -> Any:
            return open_function(files)(self, mode, buffering, encoding, errors,
                                        newline)

        def unlink(self, missing_ok: bool = False) -> None:
            try:
                files.unlink(self)
            except FileNotFoundError:
                if not missing_ok:
                    raise

    return ChildPath


class NetDb:
    """/etc/services and /etc/protocols, read once (before the chroot)."""

    def __init__(self, services: str = SERVICES, protocols: str = PROTOCOLS) -> None:
        #: (name, protocol) -> port; (name, None) -> the first entry's port
        self.services: dict[tuple[str, str | None], int] = {}
        #: name -> protocol number
        self.protocols: dict[str, int] = {}
        for fields in _entries(services):
            port, _, proto = fields[1].partition("/")
            if not port.isdigit():
                continue
            for name in (fields[0], *fields[2:]):
                self.services.setdefault((name, proto), int(port))
                self.services.setdefault((name, None), int(port))
        for fields in _entries(protocols):
            if fields[1].isdigit():
                for name in (fields[0], *fields[2:]):
                    self.protocols.setdefault(name, int(fields[1]))

    def getservbyname(self, name: str, proto: str | None = None) -> int:
        port = self.services.get((name, proto))
        if port is None:
            raise OSError("service/proto not found")
        return port

    def getprotobyname(self, name: str) -> int:
        number = self.protocols.get(name)
        if number is None:
            raise OSError("protocol not found")
        return number


def _entries(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read(1 << 20).splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        fields = line.partition("#")[0].split()
        if len(fields) >= 2:
            out.append(fields)
    return out


def socket_view(netdb: NetDb) -> Any:
    """A stand-in for the ``socket`` module with the name lookups of ``netdb``."""
    import socket

    own = {"getservbyname": netdb.getservbyname,
           "getprotobyname": netdb.getprotobyname}

    class SocketView:
        def __getattr__(self, name: str) -> Any:
            if name in own:
                return own[name]
            return getattr(socket, name)

    return SocketView()


def install(files: ChildFiles, netdb: NetDb | None = None) -> None:
    """Give every module of :data:`USERS` the child's versions."""
    versions = {"os": os_view(files), "open": open_function(files),
                "Path": path_class(files), "socket": socket_view(netdb or NetDb())}
    for module, names in USERS.items():
        mod = sys.modules.get(module)
        if mod is None:
            continue
        for name in names:
            setattr(mod, name, versions[name])
