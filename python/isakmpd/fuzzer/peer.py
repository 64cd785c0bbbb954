"""A real IKEv1 peer for the fuzzer: our own engine on a UDP socket.

It negotiates Main Mode and Quick Mode with the daemon under test, keeps
every message of the negotiation in clear (the templates the mutations
start from), and builds protected messages from any payload chain: the
HASH over the chain is computed and the message encrypted with the ISAKMP
SA's keys, so that a mutated DELETE, NOTIFY or Quick Mode passes the checks
of the HASH and of the decryption and reaches the code that reads it.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from dataclasses import dataclass, field

from .. import _core
from ..conf.store import Conf
from ..constants import ExchangeType, Flags
from ..engine import Engine, InstallSA
from ..rand import Random
from ..sa import IsakmpSA

HASH = 8


def peer_conf(source: str, target: str, psk: str, local_net: str, remote_net: str,
              transform: str = "AES-128-SHA-GRP14",
              suite: str = "QM-ESP-AES-128-SHA-PFS-GRP14-SUITE") -> str:
    """The fuzzer's own isakmpd.conf: connection ``fuzz`` to ``target``."""
    def id_section(name: str, net: str) -> str:
        import ipaddress
        n = ipaddress.ip_network(net, strict=False)
        return (f"[{name}]\nID-type= IPV4_ADDR_SUBNET\nNetwork= {n.network_address}\n"
                f"Netmask= {n.netmask}\n")

    return f"""[General]
Listen-on= {source}
Retransmits= 2
Exchange-max-time= 15
Check-interval= 100000

[Phase 1]
{target}= peer-target

[Phase 2]
Connections= fuzz

[peer-target]
Phase= 1
Address= {target}
Local-address= {source}
Authentication= {psk}
Configuration= mm

[mm]
DOI= IPSEC
EXCHANGE_TYPE= ID_PROT
Transforms= {transform}

[fuzz]
Phase= 2
ISAKMP-peer= peer-target
Configuration= qm
Local-ID= id-local
Remote-ID= id-remote

{id_section("id-local", local_net)}
{id_section("id-remote", remote_net)}
[qm]
DOI= IPSEC
EXCHANGE_TYPE= QUICK_MODE
Suites= {suite}
"""


@dataclass
class Captured:
    sent: bool
    data: bytes  # in clear (ENC flag cleared, no padding)

    @property
    def exchange(self) -> int:
        return self.data[18]

    @property
    def mid(self) -> int:
        return int.from_bytes(self.data[20:24], "big")


@dataclass
class Peer:
    source: str
    target: str
    conf_text: str
    port: int = 500
    seed: int | None = None
    captured: list[Captured] = field(default_factory=list)
    #: the datagrams of the last negotiation, as sent
    raw_sent: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.source, 500))
        self.rand = Random(self.seed)
        self.engine = self._engine()

    def _engine(self) -> Engine:
        conf = Conf.from_text(self.conf_text, "isakmpd-fuzz.conf")
        eng = Engine(conf, self.rand, lambda p, s, d: self.rand.u32() | 0x100,
                     lambda remote: self.source)
        eng.capture = self._capture
        eng.start(time.monotonic())
        return eng

    def _capture(self, msg: bytes, local, remote, sent: bool) -> None:
        if len(self.captured) < 200:
            self.captured.append(Captured(sent, bytes(msg)))

    def close(self) -> None:
        self.sock.close()

    # ------------------------------------------------------------ I/O
    def send(self, data: bytes) -> None:
        try:
            self.sock.sendto(data, (self.target, self.port))
        except OSError:
            pass  # e.g. an absurd length: the kernel refuses, nothing to do

    def pump(self, seconds: float, until=None) -> list:
        """Run the engine on the socket for up to ``seconds`` (until
        ``until(events)`` is true); returns the engine's events."""
        events: list = []
        end = time.monotonic() + seconds
        eng = self.engine
        while True:
            for d in eng.datagrams_to_send():
                if len(self.raw_sent) < 50:
                    self.raw_sent.append(bytes(d.data))
                self.sock.sendto(d.data, d.remote)
            while (ev := eng.next_event()) is not None:
                events.append(ev)
            if until is not None and until(events):
                return events
            now = time.monotonic()
            if now >= end:
                return events
            nt = eng.next_timer()
            wait = min(end - now, 0.05 if nt is None else max(0.0, nt - now))
            r, _, _ = select.select([self.sock], [], [], wait)
            now = time.monotonic()
            if r:
                data, remote = self.sock.recvfrom(65535)
                eng.receive_datagram(data, (self.source, 500), remote, now)
            eng.handle_timer(now)

    def drain(self, seconds: float = 0.0) -> int:
        """Read and feed the engine what came, for ``seconds``."""
        return len(self.pump(seconds))

    def establish(self, timeout: float = 20.0) -> IsakmpSA | None:
        """A fresh Main Mode and Quick Mode with the target; the ISAKMP SA,
        or None if no IPsec SA came up within ``timeout``."""
        eng = self.engine
        for s in eng.table.ipsec_sas():  # start from scratch (the target is told)
            eng.delete_ipsec(s, time.monotonic(), send=True)
        for sa in list(eng.table.isakmp_sas()):
            eng.delete_isakmp(sa, time.monotonic(), send=True)
        eng.connecting.clear()
        self.captured.clear()
        self.raw_sent.clear()
        eng.connect("fuzz", time.monotonic(), force=True)
        events = self.pump(timeout, lambda evs: any(
            isinstance(e, InstallSA) for e in evs))
        for e in events:
            if isinstance(e, InstallSA):
                return e.sa.isakmp
        return None

    # ------------------------------------------------------------ templates
    def templates(self, exchange: int, sent: bool = True) -> list[bytes]:
        return [c.data for c in self.captured
                if c.exchange == exchange and c.sent == sent]

    # ------------------------------------------------------------ building
    @staticmethod
    def protected(sa: IsakmpSA, exchange: int, mid: int, first: int, chain: bytes,
                  hash_ok: bool = True) -> bytes:
        """HASH(1) over ``chain`` (whose first payload is of type ``first``)
        in front of it, encrypted on ``sa`` under message ID ``mid``."""
        assert sa.keys is not None and sa.cipher is not None
        h = sa.keys.prf_a(mid.to_bytes(4, "big") + chain)
        if not hash_ok:
            h = bytes(b ^ 0x55 for b in h)
        body = struct.pack("!BBH", first, 0, 4 + len(h)) + h + chain
        hdr = (sa.icookie + sa.rcookie
               + struct.pack("!BBBBII", HASH, 0x10, exchange, Flags.ENC, mid, 0))
        ct = sa.cipher.encrypt(mid, body)
        sa.cipher.forget(mid)
        data = hdr + ct
        return data[:24] + struct.pack("!I", len(data)) + data[28:]

    def protected_chain(self, sa: IsakmpSA, plain: bytes) -> tuple[int, bytes]:
        """(first type, chain after the HASH) of a captured message in clear."""
        payloads = _core.parse_payloads(plain[16], plain[28:], allow_trailing=True)
        if not payloads or payloads[0].payload_type != HASH:
            return plain[16], plain[28:]
        rest = b"".join(p.raw for p in payloads[1:])
        return (payloads[1].payload_type if len(payloads) > 1 else 0), rest


def info_chains(sa: IsakmpSA, ipsec_spi: bytes) -> list[tuple[int, bytes]]:
    """Informational payload chains to mutate: DELETE of an ESP SA and of the
    ISAKMP SA, INITIAL-CONTACT, a DPD R-U-THERE, an error NOTIFY, and two
    of them at once."""
    from ..exchange import info

    d_esp = info.delete_payload(3, [ipsec_spi])
    d_isakmp = info.delete_payload(1, [sa.cookies])
    n_ic = info.notify_payload(24578, 1, sa.cookies)
    n_dpd = info.notify_payload(36136, 1, sa.cookies, struct.pack("!I", 7))
    n_err = info.notify_payload(14, 3, ipsec_spi)
    out = []
    for ps in ([d_esp], [d_isakmp], [n_ic], [n_dpd], [n_err], [d_esp, d_esp],
               [n_dpd, n_ic]):
        out.append((ps[0].payload_type, _core.encode_payloads(ps)))
    return out


def exchange_name(t: int) -> str:
    try:
        return ExchangeType(t).name
    except ValueError:
        return str(t)
