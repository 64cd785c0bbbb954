"""The privileged parent (isakmpd.privsep.monitor) driven by a fake child.

The test plays the child: it sends requests over a socket pair, as the
real child does, and checks that the parent grants what it should, refuses
the rest with a logged reason, and survives anything malformed without an
exception (and without leaking descriptors)."""

from __future__ import annotations

import array
import errno
import json
import logging
import os
import signal
import socket
import time
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from isakmpd.conf.store import Conf
from isakmpd.kernel.base import (
    AcquireEvent,
    Algo,
    AuthAlgo,
    EventSource,
    ExpireEvent,
    Lifetimes,
    PolicySpec,
    SaSpec,
    Selector,
    Template,
)
from isakmpd.kernel.null import NullBackend
from isakmpd.privsep import childfs, proto
from isakmpd.privsep.child import MonitorEvents
from isakmpd.privsep.monitor import Monitor
from isakmpd.privsep.paths import AllowedPaths
from isakmpd.transport import IP_PKTINFO, UDP_ENCAP

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the monitor runs as root")

CONF = """\
[General]
Listen-on=\t127.0.0.1

[X509-certificates]
CA-directory=\t{d}/ca/
Private-key=\t{d}/private/local.key
"""


class FakeChild:
    """The child's end of the monitor socket, and the parent under test."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        (tmp / "ca").mkdir()
        (tmp / "private").mkdir(mode=0o700)
        conf_path = tmp / "isakmpd.conf"
        conf_path.write_text(CONF.format(d=tmp))
        conf_path.chmod(0o600)
        self.conf_path = conf_path
        self.run_dir = tmp / "run"
        self.run_dir.mkdir()
        conf = Conf.load(str(conf_path))
        self.allowed = AllowedPaths.build(
            conf, str(tmp), config=str(conf_path), report=str(self.run_dir / "rep"),
            result=str(self.run_dir / "res"), pcap=None,
            keylog=str(self.run_dir / "keys"),
            default_pcap="/var/run/isakmpd.pcap",
            default_keylog="/var/run/isakmpd.wireshark")
        self.child, parent = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.kernel = NullBackend()
        self.monitor = Monitor(parent, self.kernel, self.allowed,
                               reload_allowed=lambda: self.allowed)

    def ask(self, op: str, fds: tuple[int, ...] = (), **args: Any
            ) -> tuple[dict[str, Any], int | None]:
        """One request over the wire, answered by the parent."""
        proto.send(self.child, {"op": op, **args}, fds)
        assert self.monitor._serve_one()
        reply, rfds = proto.receive(self.child)
        assert len(rfds) <= 1
        return reply, (rfds[0] if rfds else None)

    def raw(self, data: bytes, fds: tuple[int, ...] = ()) -> dict[str, Any]:
        """Bytes that need not be a request; the parent's answer."""
        if fds:
            self.child.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                         array.array("i", fds))])
        else:
            self.child.send(data)
        assert self.monitor._serve_one()
        reply, rfds = proto.receive(self.child)
        assert rfds == []
        return reply

    def close(self) -> None:
        self.child.close()
        self.monitor.sock.close()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeChild]:
    f = FakeChild(tmp_path)
    yield f
    f.close()


def open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


def refused(reply: dict[str, Any], err: int = errno.EACCES) -> str:
    assert reply["ok"] is False, reply
    assert reply["errno"] == err, reply
    return reply["error"]


# ------------------------------------------------------------------ BIND
def test_bind_refuses_privileged_ports_but_500(
    fake: FakeChild, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        reply, fd = fake.ask("BIND", family=4, address="127.0.0.1", port=80,
                             natt=False)
    assert fd is None
    assert "port 80" in refused(reply)
    assert "monitor: refused BIND: port 80" in caplog.text
    for port in (1, 499, 501, 1023):
        assert fake.ask("BIND", family=4, address="127.0.0.1", port=port,
                        natt=False)[0]["ok"] is False


def test_bind_1500_gives_a_bound_socket_set_up_by_the_parent(fake: FakeChild) -> None:
    reply, fd = fake.ask("BIND", family=4, address="127.0.0.1", port=1500,
                         natt=False)
    assert reply == {"ok": True} and fd is not None
    with socket.socket(fileno=fd) as s:
        assert s.getsockname() == ("127.0.0.1", 1500)
        assert s.type == socket.SOCK_DGRAM
        assert s.getsockopt(socket.IPPROTO_IP, IP_PKTINFO) == 1
        assert s.getsockopt(socket.IPPROTO_UDP, UDP_ENCAP) == 0
        assert os.get_blocking(s.fileno()) is False
    reply, fd = fake.ask("BIND", family=4, address="127.0.0.1", port=14500, natt=True)
    assert fd is not None
    with socket.socket(fileno=fd) as s:
        assert s.getsockopt(socket.IPPROTO_UDP, UDP_ENCAP) == 2  # ESPINUDP
    reply, fd = fake.ask("BIND", family=6, address="::1", port=1501, natt=False)
    if fd is not None:  # a host without IPv6 answers EADDRNOTAVAIL
        with socket.socket(fileno=fd) as s:
            assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1


def test_bind_500_is_allowed(fake: FakeChild) -> None:
    reply, fd = fake.ask("BIND", family=4, address="127.0.0.1", port=500, natt=False)
    if fd is None:  # something of the host's holds 127.0.0.1:500
        assert reply["errno"] == errno.EADDRINUSE, reply
        return
    with socket.socket(fileno=fd) as s:
        assert s.getsockname() == ("127.0.0.1", 500)


def test_bind_family_must_match_the_address(fake: FakeChild) -> None:
    refused(fake.ask("BIND", family=6, address="127.0.0.1", port=1500,
                     natt=False)[0], errno.EINVAL)


# ------------------------------------------------------------------ SETSOCKOPT
def test_setsockopt_allows_only_its_list(fake: FakeChild) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # SO_REUSEADDR would let a second daemon share the port: refused
        why = refused(fake.ask("SETSOCKOPT", fds=(s.fileno(),), level=1, name=2,
                               value=1)[0])
        assert "socket option 1/2=1" in why
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0
        # SO_BINDTODEVICE, IP_TTL, IP_TRANSPARENT: not on the list either
        for level, name in ((1, 25), (0, 2), (0, 19)):
            refused(fake.ask("SETSOCKOPT", fds=(s.fileno(),), level=level, name=name,
                             value=1)[0])
        # UDP_ENCAP: only ESP-in-UDP (2) or off
        refused(fake.ask("SETSOCKOPT", fds=(s.fileno(),), level=17, name=UDP_ENCAP,
                         value=1)[0])
        ok, _ = fake.ask("SETSOCKOPT", fds=(s.fileno(),), level=0, name=IP_PKTINFO,
                         value=1)
        assert ok == {"ok": True}
        assert s.getsockopt(socket.IPPROTO_IP, IP_PKTINFO) == 1
        ok, _ = fake.ask("SETSOCKOPT", fds=(s.fileno(),), level=17, name=UDP_ENCAP,
                         value=2)
        assert ok["ok"] and s.getsockopt(socket.IPPROTO_UDP, UDP_ENCAP) == 2
        # the IKE bypass policy (the null backend has nothing to set)
        assert fake.ask("SETSOCKOPT", fds=(s.fileno(),), level=0, name=17,
                        value=1)[0]["ok"]
    # the option needs the socket, and a UDP socket
    refused(fake.ask("SETSOCKOPT", level=0, name=IP_PKTINFO, value=1)[0],
            errno.EINVAL)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
        refused(fake.ask("SETSOCKOPT", fds=(t.fileno(),), level=0, name=IP_PKTINFO,
                         value=1)[0], errno.EINVAL)
    r, w = os.pipe()
    try:
        refused(fake.ask("SETSOCKOPT", fds=(r,), level=0, name=IP_PKTINFO,
                         value=1)[0], errno.ENOTSOCK)
    finally:
        os.close(r)
        os.close(w)


# ------------------------------------------------------------------ GET_FD
def test_get_fd_refuses_what_is_not_allowed(
    fake: FakeChild, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        why = refused(fake.ask("GET_FD", path="/etc/passwd", flags=["read"])[0])
    assert "/etc/passwd" in why and "privilege separation" in why
    assert "monitor: refused GET_FD: /etc/passwd" in caplog.text
    for path in ("/etc/shadow", "/root/.bashrc", "/proc/self/environ", "etc/passwd",
                 f"{fake.dir}/ca/../../../etc/passwd", f"{fake.dir}/ca/../isakmpd.conf"):
        reply, fd = fake.ask("GET_FD", path=path, flags=["read"])
        assert fd is None
        refused(reply)


def test_a_symlink_out_of_an_allowed_directory_is_refused(fake: FakeChild) -> None:
    ca = fake.dir / "ca"
    (ca / "evil.pem").symlink_to("/etc/passwd")
    (ca / "sub").symlink_to("/etc")
    why = refused(fake.ask("GET_FD", path=str(ca / "evil.pem"), flags=["read"])[0])
    assert "that is /etc/passwd" in why
    refused(fake.ask("GET_FD", path=str(ca / "sub" / "passwd"), flags=["read"])[0])
    refused(fake.ask("READDIR", path=str(ca / "sub"))[0])
    # a link that stays inside is fine
    (ca / "real.pem").write_text("cert")
    (ca / "alias.pem").symlink_to(ca / "real.pem")
    _reply, fd = fake.ask("GET_FD", path=str(ca / "alias.pem"), flags=["read"])
    assert fd is not None
    with os.fdopen(fd) as f:
        assert f.read() == "cert"


def test_get_fd_reads_an_allowed_file_and_checks_secrets(fake: FakeChild) -> None:
    reply, fd = fake.ask("GET_FD", path=str(fake.conf_path), flags=["read"])
    assert reply == {"ok": True} and fd is not None
    with os.fdopen(fd) as f:
        assert "Listen-on" in f.read()
    # the configuration is secret: readable by others, it is not handed over
    fake.conf_path.chmod(0o644)
    why = refused(fake.ask("GET_FD", path=str(fake.conf_path), flags=["read"])[0])
    assert "permissions 0644" in why and "chmod 600" in why
    key = fake.dir / "private" / "local.key"
    key.write_text("key")
    key.chmod(0o640)
    refused(fake.ask("GET_FD", path=str(key), flags=["read"])[0])
    key.chmod(0o600)
    assert fake.ask("GET_FD", path=str(key), flags=["read"])[1] is not None
    # read-only areas stay read-only
    refused(fake.ask("GET_FD", path=str(key), flags=["write", "trunc"])[0])
    refused(fake.ask("GET_FD", path=str(fake.dir / "ca" / "new"),
                     flags=["write", "create"])[0])


def test_get_fd_writes_the_report_files_and_their_temporaries(fake: FakeChild) -> None:
    rep = fake.run_dir / "rep"
    for path in (rep, fake.run_dir / "rep.123.tmp"):
        reply, fd = fake.ask("GET_FD", path=str(path),
                             flags=["write", "create", "trunc"])
        assert fd is not None, reply
        os.write(fd, b"x")
        os.close(fd)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert fake.ask("RENAME", src=str(fake.run_dir / "rep.123.tmp"),
                    dst=str(rep))[0]["ok"]
    # other names in the same directory are not the report's
    for name in ("other", "rep.x.tmp", "rep.1.tmp.evil"):
        refused(fake.ask("GET_FD", path=str(fake.run_dir / name),
                         flags=["write", "create"])[0])
    refused(fake.ask("RENAME", src=str(rep), dst="/etc/passwd")[0])


def test_get_fd_gives_regular_files_only(fake: FakeChild) -> None:
    fifo = Path("/run") / f"isakmpd-test-{os.getpid()}.fifo"
    os.mkfifo(fifo, 0o600)
    try:
        # a FIFO would block the parent on open: never opened
        refused(fake.ask("GET_FD", path=str(fifo), flags=["read"])[0], errno.EINVAL)
    finally:
        fifo.unlink()
    refused(fake.ask("GET_FD", path=str(fake.dir / "ca"), flags=["read"])[0],
            errno.EINVAL)
    refused(fake.ask("GET_FD", path=str(fake.dir / "ca" / "none"), flags=["read"])[0],
            errno.ENOENT)


def test_readdir_stat_and_mkdir(fake: FakeChild) -> None:
    (fake.dir / "ca" / "a.pem").write_text("a")
    (fake.dir / "ca" / "d").mkdir()
    reply, _ = fake.ask("READDIR", path=str(fake.dir / "ca"))
    assert reply["entries"] == [["a.pem", "file"], ["d", "dir"]]
    refused(fake.ask("READDIR", path="/etc")[0])
    refused(fake.ask("READDIR", path=str(fake.dir))[0])
    assert fake.ask("STAT", path=str(fake.dir / "ca" / "a.pem"),
                    follow=True)[0]["kind"] == "file"
    assert fake.ask("STAT", path=str(fake.dir / "ca" / "x"),
                    follow=False)[0]["kind"] is None
    refused(fake.ask("STAT", path="/etc/shadow", follow=True)[0])
    refused(fake.ask("MKDIR", path=str(fake.dir / "ca" / "new"), parents=False)[0])
    refused(fake.ask("MKDIR", path="/root/x", parents=True)[0])
    refused(fake.ask("UNLINK", path=str(fake.dir / "ca" / "a.pem"))[0])
    assert (fake.dir / "ca" / "a.pem").exists()


# ------------------------------------------------------------------ the wire
def test_garbage_is_answered_and_logged_never_raised(
    fake: FakeChild, caplog: pytest.LogCaptureFixture
) -> None:
    before = open_fds()
    with caplog.at_level(logging.ERROR):
        for data in (b"\xff\xfe\x00garbage", b"[1, 2, 3]", b"null", b'"BIND"',
                     b"{", json.dumps({"op": "EXEC", "cmd": "sh"}).encode(),
                     json.dumps({"op": "BIND", "family": 4, "address": "127.0.0.1",
                                 "port": "500", "natt": False}).encode(),
                     json.dumps({"op": "BIND", "family": 4, "address": "127.0.0.1",
                                 "port": 1500, "natt": False, "x": 1}).encode(),
                     json.dumps({"op": "GET_FD", "path": "/x\0y",
                                 "flags": ["read"]}).encode(),
                     json.dumps({"op": "GET_FD", "path": "/etc/isakmpd/x",
                                 "flags": ["read", "write"]}).encode(),
                     json.dumps({"op": "GET_SPI", "proto": 50, "src": "10.0.0.1",
                                 "dst": "not an address"}).encode(),
                     json.dumps({"op": "DELETE_SA", "proto": 50, "spi": 1 << 40,
                                 "dst": "10.0.0.1", "src": None}).encode(),
                     b"[" * 30000 + b"]" * 30000,
                     b"x" * (proto.MAX_MESSAGE + 100)):
            reply = fake.raw(data)
            assert reply["ok"] is False and reply["errno"] == errno.EINVAL, (data[:40],
                                                                             reply)
    assert "malformed" in caplog.text
    # descriptors the child sends with a request that takes none are closed;
    # two where one may come: the message is refused, nothing is kept
    r, w = os.pipe()
    fake.raw(json.dumps({"op": "RELOAD"}).encode(), fds=(r,))
    fake.raw(json.dumps({"op": "SETSOCKOPT", "level": 0, "name": 8,
                         "value": 1}).encode(), fds=(r, w))
    os.close(r)
    os.close(w)
    assert open_fds() == before


def test_kernel_requests_are_checked_and_remembered(fake: FakeChild) -> None:
    reply, _ = fake.ask("GET_SPI", proto=50, src="192.0.2.2", dst="192.0.2.1")
    spi = reply["spi"]
    sa = SaSpec(proto=50, spi=spi, src="192.0.2.2", dst="192.0.2.1",
                enc=Algo("cbc(aes)", bytes(16)),
                auth=AuthAlgo("hmac(sha1)", bytes(20), 96),
                lifetimes=Lifetimes(90, 100), inbound=True)
    wire = proto.sa_to_wire(sa)
    bad = dict(wire, enc={"name": "ecb(evil)", "key": "00"})
    refused(fake.ask("ADD_SA", sa=bad)[0], errno.EINVAL)
    mixed = dict(wire, dst="2001:db8::1")
    assert "mixes address families" in refused(fake.ask("ADD_SA", sa=mixed)[0],
                                               errno.EINVAL)
    assert fake.ask("ADD_SA", sa=wire)[0]["ok"]
    pol = PolicySpec(Selector.of("10.2.0.0/24", "10.1.0.0/24"), "in",
                     templates=[Template(50, "tunnel", "192.0.2.2", "192.0.2.1")])
    assert fake.ask("ADD_POLICY", policy=proto.policy_to_wire(pol))[0]["ok"]
    assert len(fake.kernel.list_sas()) == 1 and len(fake.kernel.list_policies()) == 1
    assert fake.monitor.sas and fake.monitor.policies
    # what the child leaves is removed when it is gone
    fake.monitor.cleanup()
    assert fake.kernel.list_sas() == [] and fake.kernel.list_policies() == []


def test_serve_returns_the_childs_status_and_cleans_up(fake: FakeChild) -> None:
    pid = os.fork()
    if pid == 0:  # a child that installs a policy and crashes
        try:
            pol = PolicySpec(Selector.of("10.2.0.0/24", "10.1.0.0/24"), "out",
                             templates=[Template(50, "tunnel", "192.0.2.1",
                                                 "192.0.2.2")])
            proto.send(fake.child, {"op": "ADD_POLICY",
                                    "policy": proto.policy_to_wire(pol)})
            proto.receive(fake.child)
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    fake.child.close()
    assert fake.monitor.serve(pid) == 1
    assert fake.kernel.list_policies() == []


def test_a_child_that_does_not_stop_is_killed(fake: FakeChild,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM went on to a child stuck in a loop: after STOP_TIMEOUT the
    parent kills it, cleans up and fails, instead of waiting for ever."""
    import isakmpd.privsep.monitor as monitor_mod

    monkeypatch.setattr(monitor_mod, "STOP_TIMEOUT", 0.5)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # deaf to SIGTERM, and keeps its end of the socket open
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.write(w, b"1")
        while True:
            time.sleep(1)
    os.close(w)
    assert os.read(r, 1) == b"1"
    os.close(r)
    os.kill(pid, signal.SIGTERM)
    fake.monitor.stop_requested()
    assert fake.monitor.serve(pid) == 1
    assert fake.monitor.kill_at is None


class FakeEvents(EventSource):
    """A kernel event source the test fills."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        self.pending: list[AcquireEvent | ExpireEvent] = []

    def fileno(self) -> int:
        return self.r

    def read(self) -> list[AcquireEvent | ExpireEvent]:
        os.read(self.r, 64)
        out, self.pending = self.pending, []
        return out

    def close(self) -> None:
        os.close(self.r)
        os.close(self.w)


def test_kernel_events_are_passed_on_to_the_child(fake: FakeChild) -> None:
    src = FakeEvents()
    fake.kernel.events = lambda: src  # type: ignore[method-assign]
    reply, fd = fake.ask("EVENTS")
    assert reply == {"ok": True, "events": True} and fd is not None
    events = MonitorEvents(socket.socket(fileno=fd))
    acquire = AcquireEvent(
        50, "192.0.2.1", "192.0.2.2", Selector.of("10.1.0.1", "10.2.0.1", 6, 0, 22),
        Selector.of("10.1.0.0/24", "10.2.0.0/24"), 8, "out", 3, "tunnel", 77,
        (Template(50, "tunnel", "192.0.2.1", "192.0.2.2", 3),))
    expire = ExpireEvent(50, 0x1234, "192.0.2.2", "192.0.2.1", "tunnel", 3, True)
    src.pending = [acquire, expire]
    os.write(src.w, b"!")
    [(source, out)] = fake.monitor.event_links
    assert source is src
    fake.monitor._pass_events(source, out)
    assert events.read() == [acquire, expire]
    assert events.read() == []
    events.close()
    # -n: no events, no socket
    fake.kernel.events = lambda: None  # type: ignore[method-assign]
    assert fake.ask("EVENTS") == ({"ok": True, "events": False}, None)


class Requests:
    """The child's file requests, answered by the fake child's parent."""

    def __init__(self, fake: FakeChild) -> None:
        self.fake = fake

    def file_request(self, op: str, **args: Any) -> tuple[dict[str, Any], int | None]:
        reply, fd = self.fake.ask(op, **args)
        if not reply["ok"]:
            raise OSError(reply["errno"], reply["error"], args.get("path"))
        return reply, fd


def test_the_childs_os_goes_through_the_parent(fake: FakeChild) -> None:
    """What the chrooted child's modules get for ``os``, ``open`` and
    ``Path``, answered by the parent; relative paths count from where the
    daemon started."""
    files = childfs.ChildFiles(Requests(fake), str(fake.dir))
    cos, copen = childfs.os_view(files), childfs.open_function(files)
    (fake.dir / "ca" / "a.pem").write_text("A")
    assert cos.listdir(str(fake.dir / "ca")) == ["a.pem"]
    assert cos.path.isfile("ca/a.pem") and cos.path.exists(str(fake.dir / "ca"))
    assert not cos.path.isfile(str(fake.dir / "ca")) and cos.path.isdir("ca")
    assert not cos.path.exists("/etc/shadow")  # refused reads as absent
    assert cos.path.join("a", "b") == "a/b" and cos.O_RDONLY == os.O_RDONLY
    fd = cos.open("ca/a.pem", os.O_RDONLY | os.O_CLOEXEC)
    assert os.read(fd, 10) == b"A"
    os.close(fd)
    with copen(fake.dir / "ca" / "a.pem", "rb") as f:
        assert f.read() == b"A"
    with pytest.raises(FileNotFoundError):
        copen(str(fake.dir / "ca" / "none"))
    with pytest.raises(PermissionError, match="privilege separation"):
        copen("/etc/passwd")
    # writing: the report's temporary file, then its replacement
    rep = fake.run_dir / "rep"
    fd = cos.open(f"{rep}.7.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"report")
    os.close(fd)
    cos.replace(f"{rep}.7.tmp", str(rep))
    assert rep.read_text() == "report" and stat.S_IMODE(rep.stat().st_mode) == 0o600
    with pytest.raises(PermissionError):
        cos.unlink(str(fake.dir / "ca" / "a.pem"))
    # Path, as the key export uses it, in an allowed folder
    path_cls = childfs.path_class(files)
    keys = path_cls(fake.run_dir / "keys")
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    assert keys.is_dir() and (fake.run_dir / "keys").is_dir()
    with pytest.raises(PermissionError):
        path_cls("/etc/isakmpd-test-keys").mkdir(parents=True, exist_ok=True)


def test_netdb_reads_services_and_protocols(tmp_path: Path) -> None:
    services = tmp_path / "services"
    services.write_text("# comment\ndomain\t\t53/tcp\ndomain\t\t53/udp\n"
                        "isakmp\t\t500/udp\t\tike  # IKE\nbad\tx/udp\n")
    protocols = tmp_path / "protocols"
    protocols.write_text("udp\t17\tUDP\t\t# user datagram protocol\nesp 50 IPSEC-ESP\n")
    db = childfs.NetDb(str(services), str(protocols))
    assert db.getservbyname("domain", "udp") == 53
    assert db.getservbyname("domain") == 53
    assert db.getservbyname("ike", "udp") == 500
    assert db.getprotobyname("UDP") == 17 and db.getprotobyname("esp") == 50
    with pytest.raises(OSError):
        db.getservbyname("isakmp", "tcp")
    with pytest.raises(OSError):
        db.getprotobyname("bad")
    view = childfs.socket_view(db)
    assert view.getservbyname("domain", "udp") == 53
    assert view.AF_INET == socket.AF_INET
