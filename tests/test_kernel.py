"""XfrmBackend against the running kernel, each test in its own namespace.

What this kernel cannot do (ESP/AH/IPcomp SAs) is checked for the right
error; SAs that really carry traffic are tested in the qemu VM
(tests/guest, tests/test_vm.py). iproute2 (``ip xfrm``) is the independent
witness of what was installed.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import time

import pytest
from isakmpd.errors import KernelError, KernelLacksESP
from isakmpd.kernel import (
    AcquireEvent,
    Algo,
    AuthAlgo,
    ExpireEvent,
    PolicySpec,
    SaSpec,
    Selector,
    Template,
)
from isakmpd.kernel.netns import enter_netns
from isakmpd.kernel.xfrm import XfrmBackend
from test_kernel_netns import (
    A4,
    A6,
    B4,
    B6,
    Pair,
    blocks,
    ip,
    ns,
    pair,
    write_sysctl,
)

__all__ = ["ns", "pair"]  # fixtures
pytestmark = pytest.mark.netns

FAMILIES = {
    4: (A4, B4, "10.1.0.0/24", "10.2.0.0/24"),
    6: (A6, B6, "fd00:1::/64", "fd00:2::/64"),
}


def kernel_has_esp(ns: str) -> bool:
    done = subprocess.run(
        [
            "ip",
            "-n",
            ns,
            "xfrm",
            "state",
            "add",
            "src",
            "192.0.2.9",
            "dst",
            "192.0.2.10",
            "proto",
            "esp",
            "spi",
            "0x999",
            "enc",
            "cbc(aes)",
            "0x" + "00" * 16,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode == 0:
        ip("xfrm", "state", "flush", ns=ns)
    return done.returncode == 0


# ---- policies -------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("direction", ["in", "out", "fwd"])
def test_policy_add_list_delete(ns: str, version: int, direction: str) -> None:
    local, peer, lnet, rnet = FAMILIES[version]
    if direction == "out":
        sel, tsrc, tdst = Selector.of(lnet, rnet, proto=17, dport=53), local, peer
    else:
        sel, tsrc, tdst = Selector.of(rnet, lnet, proto=17, sport=53), peer, local
    policy = PolicySpec(
        sel,
        direction,
        priority=1234,
        templates=[Template(50, "tunnel", tsrc, tdst, reqid=77)],
    )
    with XfrmBackend(netns=ns) as backend:
        backend.add_policy(policy)
        assert backend.list_policies() == [policy]
        text = ip("xfrm", "policy", ns=ns)
        [entry] = blocks(text)
        assert entry.startswith(
            f"src {sel.src}/{sel.src_prefix} dst {sel.dst}/{sel.dst_prefix} proto udp"
        )
        assert ("dport 53" if direction == "out" else "sport 53") in entry
        assert f"dir {direction} priority 1234" in entry
        assert f"tmpl src {tsrc} dst {tdst}" in entry
        assert "proto esp reqid 77 mode tunnel" in entry
        backend.delete_policy(policy)
        assert backend.list_policies() == []
        assert ip("xfrm", "policy", ns=ns).strip() == ""


def test_policy_replaced_not_duplicated(ns: str) -> None:
    sel = Selector.of("10.1.0.0/24", "10.2.0.0/24")
    first = PolicySpec(sel, "out", templates=[Template(50, "tunnel", A4, B4, 1)])
    second = PolicySpec(sel, "out", templates=[Template(50, "tunnel", A4, B4, 2)])
    with XfrmBackend(netns=ns) as backend:
        backend.add_policy(first)
        backend.add_policy(second)  # NEWPOLICY: EEXIST, then UPDPOLICY
        assert backend.list_policies() == [second]
        assert "reqid 2 mode tunnel" in ip("xfrm", "policy", ns=ns)


def test_policy_actions_and_transport_templates(ns: str) -> None:
    host = Selector.of(f"{A4}/32", f"{B4}/32")
    policies = [
        PolicySpec(host, "out", templates=[(51, "transport"), (50, "transport")]),
        PolicySpec(
            Selector.of("0.0.0.0/0", "198.51.100.0/24"), "out", "block", priority=5
        ),
        PolicySpec(Selector.of("::/0", "2001:db8:9::/48", proto=58), "in", "allow"),
    ]
    with XfrmBackend(netns=ns) as backend:
        for p in policies:
            backend.add_policy(p)
        listed = backend.list_policies()
        assert sorted(listed, key=str) == sorted(policies, key=str)
    text = ip("xfrm", "policy", ns=ns)
    assert "action block" in text
    [bundle] = [b for b in blocks(text) if B4 in b]
    # both templates, AH outermost first as given
    assert bundle.index("proto ah") < bundle.index("proto esp")
    assert "mode transport" in bundle


def test_delete_missing_policy_names_request(ns: str) -> None:
    policy = PolicySpec(Selector.of("10.9.0.0/16", "10.8.0.0/16"), "in", "allow")
    with XfrmBackend(netns=ns) as backend:
        with pytest.raises(KernelError) as info:
            backend.delete_policy(policy)
    assert info.value.errno == errno.ENOENT
    assert "XFRM_MSG_DELPOLICY" in str(info.value)
    assert "10.9.0.0/16" in str(info.value)


# ---- SPIs and SAs ---------------------------------------------------------


def test_allocspi_in_range_and_larval_sa_listed(ns: str) -> None:
    with XfrmBackend(netns=ns) as backend:
        spis = [
            backend.get_spi(50, B4, A4, spi_min=0x1000, spi_max=0x1FFF)
            for _ in range(5)
        ]
        spi6 = backend.get_spi(50, B6, A6)
        cpi = backend.get_spi(108, B4, A4)
        assert len(set(spis)) == 5
        assert all(0x1000 <= s <= 0x1FFF for s in spis)
        assert 0x100 <= spi6 <= 0xFFFFFFFF
        assert 0x100 <= cpi <= 0xFFFF
        states = blocks(ip("xfrm", "state", ns=ns))
        assert len(states) == 7
        for spi in spis:
            [entry] = [s for s in states if f"spi {spi:#010x}" in s]
            assert entry.startswith(f"src {B4} dst {A4}")
            assert "proto esp" in entry
        assert any(
            f"src {B6} dst {A6}" in s and f"spi {spi6:#010x}" in s for s in states
        )
        assert any(f"proto comp spi {cpi:#010x}" in s for s in states)
        records = {r.spi: r for r in backend.list_sas()}
        assert set(records) == set(spis) | {spi6, cpi}
        assert all(r.larval for r in records.values())
        assert records[spi6].src == B6 and records[spi6].dst == A6
        backend.delete_sa(50, spis[0], A4)
        assert f"spi {spis[0]:#010x}" not in ip("xfrm", "state", ns=ns)
        with pytest.raises(KernelError) as info:
            backend.delete_sa(50, spis[0], A4)
        assert info.value.errno == errno.ESRCH
        assert "XFRM_MSG_DELSA" in str(info.value)


def test_allocspi_bad_arguments(ns: str) -> None:
    with XfrmBackend(netns=ns) as backend:
        with pytest.raises(ValueError, match="protocol 17"):
            backend.get_spi(17, B4, A4)
        with pytest.raises(ValueError, match="SPI range"):
            backend.get_spi(50, B4, A4, spi_min=0x2000, spi_max=0x1000)
        with pytest.raises(ValueError, match="not an IP address"):
            backend.get_spi(50, B4, "nowhere")


def _esp_sa(**kw: object) -> SaSpec:
    base: dict[str, object] = dict(
        proto=50,
        spi=0x4242,
        src=A4,
        dst=B4,
        enc=Algo("cbc(aes)", bytes(16)),
        auth=AuthAlgo("hmac(sha1)", bytes(20), 96),
        reqid=9,
    )
    base.update(kw)
    return SaSpec(**base)  # type: ignore[arg-type]


def test_add_sa_without_esp_support_is_reported(ns: str) -> None:
    has_esp = kernel_has_esp(ns)
    with XfrmBackend(netns=ns) as backend:
        if has_esp:  # a stock kernel: the SA must really be there
            backend.add_sa(_esp_sa())
            assert "spi 0x00004242" in ip("xfrm", "state", ns=ns)
            return
        with pytest.raises(KernelLacksESP) as info:
            backend.add_sa(_esp_sa())
        assert "no ESP support" in str(info.value)
        assert info.value.errno == errno.EPROTONOSUPPORT
        # inbound: UPDSA on the larval SA fails the same way
        spi = backend.get_spi(50, B4, A4)
        with pytest.raises(KernelLacksESP, match="no ESP support"):
            backend.add_sa(_esp_sa(spi=spi, src=B4, dst=A4, inbound=True))
        with pytest.raises(KernelLacksESP, match="no AH support"):
            backend.add_sa(
                SaSpec(51, 0x77, A4, B4, auth=AuthAlgo("hmac(sha1)", bytes(20)))
            )
        # the backend is still usable, the larval SA untouched
        assert [r.spi for r in backend.list_sas()] == [spi]


# ---- events ---------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 6])
def test_acquire_event(pair: Pair, version: int) -> None:
    local, peer = (A4, B4) if version == 4 else (A6, B6)
    bits = 32 if version == 4 else 128
    policy = PolicySpec(
        Selector.of(f"{local}/{bits}", f"{peer}/{bits}", proto=17),
        "out",
        templates=[Template(50, "tunnel", local, peer, 42)],
    )
    with XfrmBackend(netns=pair.a) as backend:
        backend.add_policy(policy)
        events = backend.events()
        family = socket.AF_INET if version == 4 else socket.AF_INET6
        with enter_netns(pair.a):
            sock = socket.socket(family, socket.SOCK_DGRAM)
        with sock:
            try:
                sock.sendto(b"hit the policy", (peer, 9999))
            except OSError as e:  # larval drop: the packet waits for an SA
                assert e.errno in (errno.EAGAIN, errno.EPERM), e
            got = events.wait(3.0)
        events.close()
    acquires = [e for e in got if isinstance(e, AcquireEvent)]
    assert len(acquires) == 1, got
    acq = acquires[0]
    assert (acq.proto, acq.src, acq.dst) == (50, local, peer)
    assert (acq.reqid, acq.mode, acq.policy_direction) == (42, "tunnel", "out")
    assert acq.policy == policy.selector
    assert acq.selector.src == local and acq.selector.dst == peer
    assert acq.selector.proto == 17 and acq.selector.dport == 9999
    assert acq.templates == (Template(50, "tunnel", local, peer, 42, 0),)
    # the kernel keeps an acquire state (spi 0) for it
    assert f"src {local} dst {peer}" in ip("xfrm", "state", ns=pair.a)


def test_expire_of_larval_sa(ns: str) -> None:
    write_sysctl(ns, "net/core/xfrm_acq_expires", "1")
    with XfrmBackend(netns=ns) as backend:
        events = backend.events()
        spi = backend.get_spi(50, B4, A4, reqid=5)
        started = time.monotonic()
        expired: list[ExpireEvent] = []
        while not expired and time.monotonic() - started < 5:
            expired = [e for e in events.wait(0.5) if isinstance(e, ExpireEvent)]
        events.close()
        assert len(expired) == 1
        exp = expired[0]
        assert (exp.proto, exp.spi, exp.src, exp.dst) == (50, spi, B4, A4)
        assert exp.hard and exp.reqid == 5
        assert backend.list_sas() == []


# ---- per-socket bypass ----------------------------------------------------


@pytest.mark.parametrize("version", [4, 6])
def test_bypass_socket_passes_blocking_policies(pair: Pair, version: int) -> None:
    local, peer = (A4, B4) if version == 4 else (A6, B6)
    bits = 32 if version == 4 else 128
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    with XfrmBackend(netns=pair.a) as backend:
        # UDP only: IPv6 neighbour discovery must still work
        out_sel = Selector.of(f"{local}/{bits}", f"{peer}/{bits}", proto=17)
        in_sel = Selector.of(f"{peer}/{bits}", f"{local}/{bits}", proto=17)
        backend.add_policy(PolicySpec(out_sel, "out", "block"))
        backend.add_policy(PolicySpec(in_sel, "in", "block"))
        with enter_netns(pair.b):
            server = socket.socket(family, socket.SOCK_DGRAM)
        with enter_netns(pair.a):
            ike = socket.socket(family, socket.SOCK_DGRAM)
            plain = socket.socket(family, socket.SOCK_DGRAM)
        with server, ike, plain:
            server.bind((peer, 5500))
            server.settimeout(2.0)
            ike.settimeout(2.0)
            plain.settimeout(0.5)
            ike.bind((local, 5501))
            plain.bind((local, 5502))
            backend.bypass_socket(ike)
            ike.sendto(b"ike", (peer, 5500))
            data, sender = server.recvfrom(100)
            assert data == b"ike" and sender[:2] == (local, 5501)
            server.sendto(b"reply", sender[:2])
            assert ike.recvfrom(100)[0] == b"reply"  # the "in" bypass
            # a socket without the bypass is blocked both ways
            with pytest.raises(OSError) as info:
                plain.sendto(b"plain", (peer, 5500))
            assert info.value.errno == errno.EPERM
            server.sendto(b"to plain", (local, 5502))
            with pytest.raises(socket.timeout):
                plain.recvfrom(100)


def test_bypass_socket_refuses_other_families(ns: str) -> None:
    with XfrmBackend(netns=ns) as backend, socket.socket(socket.AF_UNIX) as sock:
        with pytest.raises(KernelError) as info:
            backend.bypass_socket(sock)
    assert info.value.errno == errno.EAFNOSUPPORT


def test_flush_removes_everything(ns: str) -> None:
    with XfrmBackend(netns=ns) as backend:
        backend.get_spi(50, B4, A4)
        backend.add_policy(
            PolicySpec(Selector.of("10.0.0.0/8", "10.0.0.0/8"), "fwd", "allow")
        )
        backend.flush()
        assert backend.list_sas() == [] and backend.list_policies() == []
    assert ip("xfrm", "state", ns=ns).strip() == ""
    assert ip("xfrm", "policy", ns=ns).strip() == ""


def test_unknown_netns_is_a_clear_error() -> None:
    with pytest.raises(KernelError, match="kt-does-not-exist"):
        XfrmBackend(netns="kt-does-not-exist")


def test_enter_netns_switches_and_returns(ns: str) -> None:
    def here() -> int:
        return os.stat("/proc/thread-self/ns/net").st_ino

    before = here()
    with enter_netns(ns):
        inside = here()
        names = [name for _, name in socket.if_nameindex()]
    assert inside == os.stat(f"/run/netns/{ns}").st_ino
    assert here() == before != inside
    assert names == ["lo"]
