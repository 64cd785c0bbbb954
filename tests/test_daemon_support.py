"""Shared pieces of the daemon tests (test_daemon_*.py, test_cli.py).

The tests run ``python3 -m isakmpd`` as a user does, in the lab's network
namespaces (west 192.0.2.1, east 192.0.2.2): configurations, a pair of
daemons that negotiate, a small pcap reader for tcpdump's files, and the
NAT-T vendor IDs. The few tests here check the helpers themselves.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lab
import pytest

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable

#: a distinctive pre-shared key, grepped for in logs
PSK = "psk-7e1b9c2d-daemon-tests-do-not-log"

#: vendor IDs announcing NAT-T support: MD5 of "RFC 3947", of
#: "draft-ietf-ipsec-nat-t-ike-02\n", "-02" and "-03"
NATT_VIDS = {
    "rfc3947": bytes.fromhex("4a131c81070358455c5728f20e95452f"),
    "draft-02n": bytes.fromhex("90cb80913ebb696e086381b5ec427b1f"),
    "draft-02": bytes.fromhex("cd60464335df21f87cfdb2fc68b6a448"),
    "draft-03": bytes.fromhex("7d9419a65310ca6f2c179d9215529d56"),
}

#: "HHMMSS.uuuuuu Class NN msg" or "HHMMSS.uuuuuu Default msg"
LINE_RE = (r"^\d{6}\.\d{6} (?:(?:Misc|Trpt|Mesg|Cryp|Timr|Sdep|SA  |Exch|Negt|Plcy"
           r"|UI  ) \d\d |Default )")

ESTABLISHED_P2 = r"IPsec SA (\S+) established"
ESTABLISHED_P1 = r"ISAKMP SA [0-9a-f]{16} [0-9a-f]{16} established"


def conn_name(me: lab.Side, peer: lab.Side) -> str:
    return f"{me.name}-{peer.name}"


def conf_for(
    me: lab.Side,
    peer: lab.Side,
    *,
    active: bool = True,
    port: int | None = None,
    general: str = "",
    listen_on: bool = True,
    psk: str = PSK,
    ipv6: bool = False,
    hosts: bool = False,
    extra: str = "",
) -> str:
    """isakmpd.conf for ``me`` talking to ``peer``: Main Mode with a PSK,
    one tunnel between the two protected networks, named
    ``<me>-<peer>`` (active: in Connections, else Passive-connections).
    ``port``: the peer's IKE port (``Port=`` of the peer section).
    ``hosts``: a second connection ``<me>-<peer>-hosts`` between the two
    inner addresses (IPV4_ADDR IDs) over the same ISAKMP peer."""
    conn = conn_name(me, peer)
    my_addr, peer_addr = (me.addr6, peer.addr6) if ipv6 else (me.addr, peer.addr)
    ph2 = "Connections" if active else "Passive-connections"
    lines = ["[General]"]
    if listen_on:
        lines.append(f"Listen-on=\t{my_addr}")
    if general:
        lines.append(general.strip("\n"))
    port_line = f"Port=\t\t{port}\n" if port else ""
    my_net, peer_net = me.net.split("/")[0], peer.net.split("/")[0]
    return "\n".join(lines) + f"""

[Phase 1]
{peer_addr}=\tpeer-{peer.name}

[Phase 2]
{ph2}=\t{conn}{f",{conn}-hosts" if hosts else ""}

[peer-{peer.name}]
Phase=\t\t1
Address=\t{peer_addr}
Local-address=\t{my_addr}
{port_line}Authentication=\t{psk}
Configuration=\tmm

[mm]
DOI=\t\tIPSEC
EXCHANGE_TYPE=\tID_PROT
Transforms=\tAES-128-SHA-GRP14

[{conn}]
Phase=\t\t2
ISAKMP-peer=\tpeer-{peer.name}
Configuration=\tqm
Local-ID=\tnet-{me.name}
Remote-ID=\tnet-{peer.name}

[net-{me.name}]
ID-type=\tIPV4_ADDR_SUBNET
Network=\t{my_net}
Netmask=\t255.255.255.0

[net-{peer.name}]
ID-type=\tIPV4_ADDR_SUBNET
Network=\t{peer_net}
Netmask=\t255.255.255.0

[qm]
DOI=\t\tIPSEC
EXCHANGE_TYPE=\tQUICK_MODE
Suites=\t\tQM-ESP-AES-128-SHA-PFS-GRP14-SUITE
{_hosts_conn(me, peer, conn) if hosts else ""}{extra}"""


def _hosts_conn(me: lab.Side, peer: lab.Side, conn: str) -> str:
    return f"""
[{conn}-hosts]
Phase=\t\t2
ISAKMP-peer=\tpeer-{peer.name}
Configuration=\tqm
Local-ID=\thost-{me.name}
Remote-ID=\thost-{peer.name}

[host-{me.name}]
ID-type=\tIPV4_ADDR
Address=\t{me.inner}

[host-{peer.name}]
ID-type=\tIPV4_ADDR
Address=\t{peer.inner}
"""


def start_pair(
    pair: lab.NetnsPair,
    factory: Callable[..., lab.Isakmpd],
    *,
    west_args: Sequence[str] = ("-n",),
    east_args: Sequence[str] = ("-n",),
    west_conf: str | None = None,
    east_conf: str | None = None,
    debug: int = 70,
    wait: bool = True,
) -> tuple[lab.Isakmpd, lab.Isakmpd]:
    """East (passive responder) first, then west (initiator); with ``wait``,
    return once both logged the IPsec SA as established."""
    w, e = pair.west, pair.east
    east = factory(e, east_conf or conf_for(e, w, active=False),
                   args=list(east_args), debug=debug)
    west = factory(w, west_conf or conf_for(w, e), args=list(west_args),
                   debug=debug)
    if wait:
        wait_established(west, east)
    return west, east


def started(d: lab.Isakmpd, timeout: float = 10.0) -> lab.Isakmpd:
    """Wait for the start-up log line (the FIFO exists a little earlier)."""
    d.wait_log(r"Default isakmpd \S+ started", timeout)
    return d


def sa_report_any(d: lab.Isakmpd, timeout: float = 5.0) -> str:
    """FIFO ``S``, also when the report is empty (no SA)."""
    d.result_path.unlink(missing_ok=True)
    d.fifo("S")
    lab.wait_until(d.result_path.exists, timeout, f"{d.name}: result file")
    time.sleep(0.2)
    return d.result_path.read_text()


def wait_established(*daemons: lab.Isakmpd, timeout: float = 20.0,
                     since: Sequence[int] | None = None) -> None:
    for i, d in enumerate(daemons):
        d.wait_log(ESTABLISHED_P2, timeout, since=since[i] if since else 0)


def xfrm(side: Any, what: str) -> str:
    """``ip xfrm state|policy`` in a namespace (stripped output)."""
    return lab.run(side, "ip", "xfrm", what).stdout.strip()


@dataclass(frozen=True)
class UdpSocketInfo:
    address: str
    port: int


def udp_sockets(side: Any, pid: int | None = None) -> list[UdpSocketInfo]:
    """UDP sockets bound in a namespace (``ss -ulpn``), only those of ``pid``
    if given."""
    out = lab.run(side, "ss", "-H", "-ulpn").stdout
    socks = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        if pid is not None and f"pid={pid}," not in line:
            continue
        local = fields[3]
        host, _, port = local.rpartition(":")
        host = host.strip("[]").split("%")[0]
        socks.append(UdpSocketInfo(host, int(port)))
    return socks


# ------------------------------------------------------------------ pcap
@dataclass(frozen=True)
class Udp:
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes
    time: float


def read_udp(pcap: Path | str) -> list[Udp]:
    """The UDP datagrams of a pcap file (Ethernet, Linux cooked or raw IP)."""
    data = Path(pcap).read_bytes()
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise ValueError(f"{pcap}: not a pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(end + "I", data[20:24])[0]
    off = 24
    out = []
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(end + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if linktype == 1:  # Ethernet
            etype, ip = struct.unpack("!H", frame[12:14])[0], frame[14:]
        elif linktype == 113:  # Linux cooked
            etype, ip = struct.unpack("!H", frame[14:16])[0], frame[16:]
        elif linktype in (101, 228, 229) and frame:  # raw IP
            etype, ip = (0x86DD if frame[0] >> 4 == 6 else 0x0800), frame
        else:
            continue
        t = sec + frac / (1e9 if nano else 1e6)
        if etype == 0x0800 and len(ip) >= 20 and ip[9] == 17:
            ihl = (ip[0] & 0x0F) * 4
            src = str(ipaddress.IPv4Address(ip[12:16]))
            dst = str(ipaddress.IPv4Address(ip[16:20]))
            udp = ip[ihl:]
        elif etype == 0x86DD and len(ip) >= 40 and ip[6] == 17:
            src = str(ipaddress.IPv6Address(ip[8:24]))
            dst = str(ipaddress.IPv6Address(ip[24:40]))
            udp = ip[40:]
        else:
            continue
        if len(udp) < 8:
            continue
        sport, dport, length = struct.unpack("!HHH", udp[:6])
        out.append(Udp(src, sport, dst, dport, udp[8:length], t))
    return out


def isakmp_messages(pcap: Path | str) -> list[Udp]:
    """IKE messages (port 500-style or behind the NAT-T marker, which is
    stripped), in capture order. Keepalives and ESP-in-UDP are left out."""
    out = []
    for u in read_udp(pcap):
        p = u.payload
        if p.startswith(b"\0\0\0\0"):
            p = p[4:]
        elif u.sport == 4500 or u.dport == 4500:
            continue
        if len(p) >= 28:
            out.append(Udp(u.src, u.sport, u.dst, u.dport, p, u.time))
    return out


def exchange_type(msg: bytes) -> int:
    return msg[18]


def message_id(msg: bytes) -> bytes:
    return msg[20:24]


# ------------------------------------------------------------------ processes
def daemon_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(REPO / "python")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (src, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def isakmpd_cmd(*args: str) -> list[str]:
    return [PY, "-m", "isakmpd", *args]


def run_isakmpd(*args: str, ns: Any = None, timeout: float = 20.0,
                input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the daemon to completion (option errors, config errors...)."""
    argv = isakmpd_cmd(*args)
    if ns is not None:
        argv = ["ip", "netns", "exec", str(ns), *argv]
    return subprocess.run(argv, check=False, capture_output=True, text=True,
                          timeout=timeout,
                          input=input, env=daemon_env(), stdin=None if input
                          else subprocess.DEVNULL)


def private_conf(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def wait_gone(path: Path, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not path.exists()


def kill_pid(pid: int, sig: int = signal.SIGTERM) -> None:
    """Signal a daemon this test started (by its PID only)."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# ------------------------------------------------------------------ self-tests
def test_read_udp_reads_a_written_pcap(tmp_path: Path) -> None:
    from lab import tshark

    pcap = tshark.write_udp_pcap(tmp_path / "x.pcap", [
        ("192.0.2.1", "192.0.2.2", 500, 500, b"A" * 28),
        ("192.0.2.1", "192.0.2.2", 4500, 4500, b"\0\0\0\0" + b"B" * 28),
        ("192.0.2.1", "192.0.2.2", 4500, 4500, b"\xff"),
    ])  # fmt: skip
    udp = read_udp(pcap)
    assert [(u.sport, u.dport, len(u.payload)) for u in udp] == [
        (500, 500, 28), (4500, 4500, 32), (4500, 4500, 1)]
    msgs = isakmp_messages(pcap)
    assert [m.payload for m in msgs] == [b"A" * 28, b"B" * 28]


def test_conf_for_loads(tmp_path: Path) -> None:
    from isakmpd.conf import model
    from isakmpd.conf.store import Conf

    pair_sides = (
        lab.Side("west", "w", "w0", "192.0.2.1", "2001:db8::1", "10.1.0.1",
                 "10.1.0.0/24"),
        lab.Side("east", "e", "e0", "192.0.2.2", "2001:db8::2", "10.2.0.1",
                 "10.2.0.0/24"),
    )  # fmt: skip
    w, e = pair_sides
    p = private_conf(tmp_path / "w.conf", conf_for(w, e, port=2500))
    conf = Conf.load(str(p))
    assert model.connections(conf)[0] == ["west-east"]
    assert model.phase1_peer(conf, "peer-east").port == 2500
    assert model.phase1_peer(conf, "peer-east").address == "192.0.2.2"
    p = private_conf(tmp_path / "e.conf", conf_for(e, w, active=False, hosts=True))
    conf = Conf.load(str(p))
    assert model.connections(conf)[1] == ["east-west", "east-west-hosts"]
    assert model.connection(conf, "east-west-hosts").isakmp_peer == "peer-west"


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
