"""The sans-I/O core of the daemon.

The engine takes datagrams and the current time, and gives back datagrams to
send, a deadline for its next timer, and events for the kernel. It owns the
SA tables and the exchanges. It never reads a clock or touches a socket, the
kernel or a file (the configuration object it reads is in memory), so two
engines can be wired together in a test and driven with explicit times.

    engine.receive_datagram(data, local, remote, now)
    engine.connect(name, now)            # start a phase-2 connection
    engine.handle_timer(now); engine.next_timer()
    engine.datagrams_to_send()           # -> list[Datagram]
    engine.next_event()                  # -> InstallSA | RemoveSA | ReleaseSPI | None
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from . import _core, connections, log
from .acquire import InstallTrap, OnDemand, RemoveTrap
from .conf import model
from .conf.store import Conf
from .constants import (ExchangeType, Flags, NATT_KEEPALIVE, NATT_PORT, NotifyType,
                        ProtocolId, name_of)
from .errors import ConfigError, IsakmpdError, MessageError
from .events import Datagram, InstallSA, ReleaseSPI, RemoveSA, UpdateSA
from .exchange import dpd, info
from .exchange.aggressive_mode import AggressiveMode
from .exchange.base import Exchange, ExchangeFailed, InMessage, plaintext, seal
from .exchange.main_mode import MainMode, Phase1Exchange
from .exchange.natt import follow_mapping, kernel_mapping
from .exchange.quick_mode import QuickMode
from .lifecycle import InstallInbound, Lifecycle
from .log import Cls
from .loglimit import LogLimiter
from .natt_keepalive import Keepalives
from .policy import check as policy_check
from .policy import ipsec as policy_ipsec
from .rand import Random
from .sa import ZERO_COOKIE, Addr, IpsecSA, IsakmpSA, SATable, Selector
from .timers import TimerQueue

SpiAllocator = Callable[[int, str, str], int]
RouteSource = Callable[[str], str]

_log = log.logger(Cls.MISC)
_xlog = log.logger(Cls.EXCHANGE)


Event = (InstallSA | UpdateSA | RemoveSA | ReleaseSPI | InstallInbound | InstallTrap
         | RemoveTrap)


def _mode_name(ex: Exchange) -> str:
    if isinstance(ex, AggressiveMode):
        return "Aggressive Mode"
    if isinstance(ex, MainMode):
        return "Main Mode"
    if isinstance(ex, QuickMode):
        return "Quick Mode"
    return "exchange"


def _load_pki(conf: Conf):
    try:
        from .pki import Pki  # type: ignore[attr-defined]
    except ImportError as e:
        _log.error("X.509 certificates cannot be used: %s", e)
        return None
    try:
        pki = Pki.from_conf(conf)
    except (IsakmpdError, OSError, ValueError) as e:
        _log.error("certificates and keys: %s", getattr(e, "reason", e))
        return None
    log.debug(Cls.MISC, 20, "certificates and keys loaded")
    return pki


def _reserved_payload(payloads: list) -> int:
    """The first payload type in ``payloads`` that RFC 2408 reserves (one the
    codec kept as ``Unknown`` below 128), else 0. As in isakmpd, such a
    message is dropped, while private-use types (128-255) are skipped."""
    for p in payloads:
        if isinstance(p, _core.Unknown) and p.payload_type < 128:
            return p.payload_type
    return 0


class Engine:
    def __init__(self, conf: Conf, rand: Random, spi_allocator: SpiAllocator,
                 route_source: RouteSource, listen_port: int = 500,
                 initiator_port: int | None = None, natt: bool = True,
                 natt_port: int = NATT_PORT, pki: object | None = None,
                 policy: policy_check.Policy | None = None) -> None:
        self.conf = conf
        self.rand = rand
        self.spi_allocator = spi_allocator
        self.route_source = route_source
        self.listen_port = listen_port
        self.initiator_port = initiator_port
        self.natt_enabled = natt
        self.natt_port = natt_port
        self.general = model.general(conf)
        self.table = SATable()
        self.timers = TimerQueue()
        self._out: list[Datagram] = []
        self._events: deque[Event] = deque()
        #: active connections with a negotiation under way
        self.connecting: set[str] = set()
        self._check_timer = None
        self.stats = {"received": 0, "dropped": 0, "sent": 0}
        #: half-open phase-1 exchanges dropped for Max-Half-Open
        self.half_open_dropped = 0
        #: rate limits of the log lines a flood of datagrams would cause,
        #: on the clock of the last datagram or timer
        self.loglimit = LogLimiter()
        self.loglimit.limits["half-open"] = (1, 0.1)  # one line in 10 s
        self._now = 0.0
        self.shutting_down = False
        #: packet capture: called with (message in clear, local, remote, sent)
        #: for every message received (once decrypted) and sent
        self.capture: Callable[[bytes, Addr, Addr, bool], None] | None = None
        #: called with an ISAKMP SA when its keys exist and when it goes away
        self.keys_changed: Callable[[IsakmpSA], None] | None = None
        #: certificates and keys (isakmpd.pki.Pki): given, or read from the
        #: configuration when a negotiation first needs them
        self._pki = pki
        self._pki_given = pki is not None
        self._pki_tried = pki is not None
        #: the KeyNote policy phase-2 SAs are checked against (None: none)
        self.policy = policy
        #: how each established ISAKMP SA's peer authenticated (by cookies)
        self.peer_proofs: dict[bytes, policy_ipsec.PeerProof | None] = {}
        #: NAT-T keepalives while we are behind a NAT
        self.keepalives = Keepalives(self)
        #: SA lifetimes and rekeys; ACQUIRE and on-demand flows
        self.lifecycle = Lifecycle(self)
        self.ondemand = OnDemand(self)
        #: DH key pairs made ahead in worker threads
        #: (:class:`isakmpd.exchange.dhpool.DhPool`); None: made when needed
        self.dh_pool = None

    # ------------------------------------------------------------ I/O face
    def datagrams_to_send(self) -> list[Datagram]:
        out, self._out = self._out, []
        self.stats["sent"] += len(out)
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def emit(self, ev: Event) -> None:
        self._events.append(ev)

    def kernel_event(self, ev: object, now: float) -> None:
        """An ACQUIRE or EXPIRE from the kernel (:mod:`isakmpd.kernel.base`)."""
        from .kernel.base import AcquireEvent, ExpireEvent, MappingEvent

        if isinstance(ev, AcquireEvent):
            self.ondemand.acquire(ev, now)
        elif isinstance(ev, ExpireEvent):
            self.lifecycle.kernel_expire(ev, now)
        elif isinstance(ev, MappingEvent):
            kernel_mapping(self, ev, now)

    def next_timer(self) -> float | None:
        return self.timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        self._now = now
        self.timers.run_due(now)

    def start(self, now: float) -> None:
        """Boot: start the active connections, then check them periodically."""
        self.ondemand.sync_traps()
        self._check_connections(now)

    def reconfigure(self, conf: Conf, reload_policy: bool = False) -> None:
        """Use a new configuration (SIGHUP, FIFO R); established SAs stay.
        Certificates, keys and CRLs are read again when next needed; with
        ``reload_policy`` the policy file too (an error keeps the old one)."""
        self.conf = conf
        if reload_policy and self.policy is not None:
            self.policy = self.policy.reload(conf)
        self.general = model.general(conf)
        if not self._pki_given:
            self._pki = None
            self._pki_tried = False
        self.ondemand.sync_traps()

    @property
    def pki(self):
        """The certificates, keys and CRLs of [X509-certificates] and the
        public keys of Pubkey-directory (None if they cannot be had)."""
        if not self._pki_tried:
            self._pki_tried = True
            self._pki = _load_pki(self.conf)
        return self._pki

    # ------------------------------------------------------------ receiving
    def receive_datagram(self, data: bytes, local: Addr, remote: Addr, now: float) -> None:
        if data == NATT_KEEPALIVE:  # the daemon's NAT-T socket drops them first
            log.debug(Cls.TRANSPORT, 90, f"NAT-T keepalive from {remote[0]}")
            return
        self.stats["received"] += 1
        self._now = now
        try:
            hdr = _core.parse_header(data)
        except MessageError as e:
            self._drop(remote, f"bad header: {e}")
            return
        if self.capture is not None and not hdr.flags & Flags.ENC:
            self.capture(data, local, remote, False)
        sa = self.table.find_isakmp(hdr.icookie, hdr.rcookie)
        if sa is None:
            self._unknown_sa(hdr, data, local, remote, now)
            return
        mid = hdr.message_id
        ex: Exchange | None = sa.exchanges.get(mid)
        if ex is not None and ex.last_received == data:
            if self.capture is not None and hdr.flags & Flags.ENC:
                self.capture(plaintext(ex.last_received), local, remote, False)
            ex.resend_on_duplicate()
            return
        if (ex is None and mid != 0 and not sa.established
                and hdr.exchange_type == ExchangeType.QUICK_MODE):
            # e.g. strongSwan's first Quick Mode message overtaking the last
            # Aggressive Mode message: decrypting it now would take the IV
            # from an unfinished phase 1. Dropped untouched, it comes again.
            self._drop(remote, "Quick Mode before phase 1 completed")
            return
        msg = self._decode(sa, hdr, data, local, remote, ex, now)
        if msg is None:
            return
        if self.capture is not None and msg.encrypted:
            self.capture(plaintext(msg.raw), local, remote, False)
        self._dispatch(sa, ex, msg, now)

    def _drop(self, remote: Addr, why: str, level: int = 10,
              warn: bool = False) -> None:
        """Count and log (once: a warning, or a debug line) a dropped message."""
        self.stats["dropped"] += 1
        if warn:
            self.loglimit.warning(_log, "dropped", self._now,
                                  "dropped message from %s:%d: %s", remote[0],
                                  remote[1], why)
        else:
            log.debug(Cls.MESSAGE, level,
                      f"dropped message from {remote[0]}:{remote[1]}: {why}")

    def _decode(self, sa: IsakmpSA, hdr: _core.Header, data: bytes, local: Addr,
                remote: Addr, ex: Exchange | None, now: float) -> InMessage | None:
        encrypted = bool(hdr.flags & Flags.ENC)
        if encrypted and sa.cipher is None and (p1 := sa.exchanges.get(0)) is not None:
            p1.keys_due(now)  # a Main Mode responder's g^xy, computed meanwhile
        try:
            if encrypted:
                if sa.cipher is None:
                    self._drop(remote, "encrypted message before keys exist")
                    return None
                plain = sa.cipher.decrypt(hdr.message_id, data[28:])
                payloads = _core.parse_payloads(hdr.next_payload, plain,
                                                allow_trailing=True)
                data = seal(data, plain)
            else:
                payloads = _core.parse_payloads(hdr.next_payload, data[28:])
        except MessageError as e:
            if encrypted and ex is not None and ex.mid == 0 and not ex.done:
                # a phase-1 message that does not decrypt to payloads: the
                # keys differ (with pre-shared keys, the key does), or it was
                # damaged or forged; the genuine one may still come
                ex.reject(f"message {ex.step + 1} does not decrypt "
                          f"(wrong pre-shared key?): {e}")
                self._drop(remote, f"malformed: {e}", 5)
                return None
            if encrypted and ex is None and sa.cipher is not None:
                sa.cipher.forget(hdr.message_id)
            self._drop(remote, f"malformed: {e}", warn=True)
            return None
        if reserved := _reserved_payload(payloads):
            if encrypted and ex is None and sa.cipher is not None:
                sa.cipher.forget(hdr.message_id)
            self._drop(remote, f"reserved payload type {reserved}", warn=True)
            return None
        return InMessage(hdr, payloads, data, local, remote, encrypted)

    def _dispatch(self, sa: IsakmpSA, ex: Exchange | None, msg: InMessage,
                  now: float) -> None:
        hdr = msg.header
        if hdr.exchange_type == ExchangeType.INFO:
            if ex is not None and hdr.message_id != 0:
                # an informational exchange has a message ID of its own; the
                # IV state of this one belongs to the exchange that has it
                self._drop(msg.remote, "informational message with the message "
                           "ID of another exchange", 5)
                return
            info.handle(self, sa, msg, now)
            return
        if ex is not None:
            ex.receive(msg, now)
            if ex.last_received is msg.raw:  # it moved the exchange on
                self.peer_authentic(sa, msg, now)
            return
        if hdr.message_id == 0:
            self._drop(msg.remote, "phase 1 message without an exchange")
            return
        if hdr.exchange_type == ExchangeType.QUICK_MODE:
            if not sa.established:
                self._drop(msg.remote, "Quick Mode before phase 1 completed")
                return
            if hdr.message_id in sa.message_ids:
                self._drop(msg.remote, "Quick Mode with a used message ID")
                return
            qm = QuickMode(self, sa, hdr.message_id, False, now)
            sa.exchanges[hdr.message_id] = qm
            sa.message_ids.add(hdr.message_id)
            qm.receive(msg, now)
            if qm.last_received is msg.raw:
                self.peer_authentic(sa, msg, now)
            if not qm.done and qm.step == 0:
                # message 1 was dropped (forged or damaged): no exchange
                sa.message_ids.discard(hdr.message_id)
                self.forget_exchange(qm)
            return
        if hdr.exchange_type in (ExchangeType.ID_PROT, ExchangeType.AGGRESSIVE):
            self._drop(msg.remote, "phase 1 exchange with a non-zero message ID")
            return
        self.loglimit.warning(_xlog, "exchange type", now,
                              "exchange type %s from %s not supported",
                              name_of(ExchangeType, hdr.exchange_type),
                              msg.remote[0])
        if sa.established and msg.encrypted:
            # only a protected answer: an unprotected one could end a peer's
            # phase 1 on the strength of a forged packet
            self.send_notify(sa, NotifyType.UNSUPPORTED_EXCHANGE_TYPE, now,
                             (ProtocolId.ISAKMP, sa.cookies))

    def _unknown_sa(self, hdr: _core.Header, data: bytes, local: Addr, remote: Addr,
                    now: float) -> None:
        first = (hdr.rcookie == ZERO_COOKIE and hdr.message_id == 0
                 and not hdr.flags & Flags.ENC)
        if not first:
            self._drop(remote, f"no SA for cookies {hdr.icookie.hex()} "
                       f"{hdr.rcookie.hex()}")
            return
        if hdr.exchange_type not in (ExchangeType.ID_PROT, ExchangeType.AGGRESSIVE):
            self._drop(remote, f"exchange type "
                       f"{name_of(ExchangeType, hdr.exchange_type)} not supported", 1)
            return
        if self.shutting_down:
            return
        aggressive = hdr.exchange_type == ExchangeType.AGGRESSIVE
        mode = "Aggressive Mode" if aggressive else "Main Mode"
        peer_name = model.phase1_peer_for_address(self.conf, remote[0])
        if peer_name is None:
            self.loglimit.warning(_log, "no peer", now, "no [Phase 1] peer for %s, "
                                  "and no Default: ignoring its %s", remote[0], mode)
            self.stats["dropped"] += 1
            return
        try:
            peer = model.phase1_peer(self.conf, peer_name)
        except ConfigError as e:
            _log.error("peer section %s: %s", peer_name, e)
            return
        if aggressive and peer.exchange_type != ExchangeType.AGGRESSIVE:
            # Aggressive Mode shows identities and, with pre-shared keys,
            # hands out a hash to guess the key against: only on request
            self._drop(remote, f"Aggressive Mode refused: peer {peer.name} is "
                       f"configured for {ExchangeType.confname(peer.exchange_type)}"
                       f" ([{peer.configuration}] EXCHANGE_TYPE)", warn=True)
            return
        sa = IsakmpSA(icookie=hdr.icookie, rcookie=self.rand.cookie(), initiator=False,
                      local=local, remote=remote, peer_name=peer.name,
                      exchange_type=hdr.exchange_type, created=now)
        try:
            payloads = _core.parse_payloads(hdr.next_payload, data[28:])
        except MessageError as e:
            self._drop(remote, f"malformed: {e}", warn=True)
            return
        if reserved := _reserved_payload(payloads):
            self._drop(remote, f"reserved payload type {reserved}", warn=True)
            return
        self.table.add_isakmp(sa)
        mm = (AggressiveMode if aggressive else MainMode)(self, sa, peer, False, now)
        sa.exchanges[0] = mm
        mm.receive(InMessage(hdr, payloads, data, local, remote, False), now)
        if not mm.done and mm.step == 0:
            # message 1 was dropped: keep no half-open SA for it
            self._remove_isakmp(sa)
        elif not sa.established:
            self._limit_half_open(sa, now)

    def _limit_half_open(self, new: IsakmpSA, now: float) -> None:
        """[General] Max-Half-Open: drop the oldest phase-1 exchanges peers
        started and did not complete, so that a flood of first messages
        (from forged addresses, which never answer) keeps to a bounded
        memory and leaves established SAs alone."""
        limit = self.general.max_half_open
        while limit and self.table.half_open() > limit:
            old = self.table.oldest_half_open()
            if old is None or old is new:
                break
            self.half_open_dropped += 1
            ex = old.exchanges.get(0)
            self.loglimit.warning(
                _xlog, "half-open", now, "%d phase-1 exchanges started by peers "
                "are open (Max-Half-Open): dropping the oldest, with %s",
                limit, old.remote[0])
            if ex is not None:
                ex.done = True
            self._remove_isakmp(old)

    # ------------------------------------------------------------ initiating
    def connect(self, name: str, now: float, force: bool = False) -> bool:
        """Start phase 2 of connection ``name`` (phase 1 first if needed),
        unless it is up already (``force``: negotiate another SA anyway)."""
        try:
            conn = model.connection(self.conf, name)
            peer = model.phase1_peer(self.conf, conn.isakmp_peer)
        except ConfigError as e:
            _log.error("connection %s: %s", name, e)
            return False
        if conn.name in self.connecting:
            return True
        if not force and self.table.any_installed(conn.name):
            log.debug(Cls.NEGOTIATION, 10, f"connection {conn.name} is up already")
            return True
        if peer.address is None:
            _log.error("connection %s: peer %s has no Address", name, peer.name)
            return False
        sa = self.table.established_to(peer.name, peer.address, peer.local_address)
        if sa is not None:
            self.connecting.add(conn.name)
            self._start_quick_mode(sa, conn, now)
            return True
        sa = self.table.negotiating_to(peer.name)
        if sa is None:
            sa = self._start_main_mode(peer, now)
            if sa is None:
                return False
        self.connecting.add(conn.name)
        if conn.name not in sa.pending:
            sa.pending.append(conn.name)
        return True

    def _start_main_mode(self, peer: "model.Phase1Peer", now: float) -> IsakmpSA | None:
        """Start phase 1 (Main Mode or Aggressive Mode, as configured)."""
        if not peer.transforms:
            _log.error("peer %s has no usable phase 1 transform", peer.name)
            return None
        assert peer.address is not None
        local_ip = peer.local_address or self.route_source(peer.address)
        port = self.initiator_port or self.listen_port
        sa = IsakmpSA(icookie=self.rand.cookie(), rcookie=ZERO_COOKIE, initiator=True,
                      local=(local_ip, port), remote=(peer.address, peer.port),
                      peer_name=peer.name, exchange_type=peer.exchange_type,
                      created=now)
        aggressive = peer.exchange_type == ExchangeType.AGGRESSIVE
        self.table.add_isakmp(sa)
        mm = (AggressiveMode if aggressive else MainMode)(self, sa, peer, True, now)
        sa.exchanges[0] = mm
        log.debug(Cls.EXCHANGE, 10, f"starting {_mode_name(mm)} with {peer.name} "
                  f"({peer.address})")
        try:
            mm.start(now)
        except ExchangeFailed as e:
            # a configuration problem: said once per loaded configuration
            model.log_once(self.conf, [f"peer {peer.name}: {e.reason}"])
            mm.done = True
            self._remove_isakmp(sa)
            return None
        return sa

    def _start_quick_mode(self, sa: IsakmpSA, conn: "model.Connection",
                          now: float) -> None:
        mid = self.rand.nonzero_u32()
        while mid in sa.message_ids:
            mid = self.rand.nonzero_u32()
        qm = QuickMode(self, sa, mid, True, now, conn)
        sa.exchanges[mid] = qm
        sa.message_ids.add(mid)
        try:
            qm.start(now)
        except ExchangeFailed as e:
            qm.fail(now, e.reason)
        except ConfigError as e:
            qm.fail(now, str(e))

    def _check_connections(self, now: float) -> None:
        active, _ = model.connections(self.conf)
        for name in active:
            if name in self.connecting:
                continue
            if self.table.any_installed(name):
                continue
            self.connect(name, now)
        self._check_timer = self.timers.schedule(
            now + self.general.check_interval, self._check_connections,
            "connection_checker")

    # ------------------------------------------------------------ services for exchanges
    def transmit(self, sa: IsakmpSA, data: bytes) -> None:
        self._out.append(Datagram(data, sa.local, sa.remote))
        if self.capture is not None:
            self.capture(plaintext(data), sa.local, sa.remote, True)

    def send_raw(self, data: bytes, local: Addr, remote: Addr) -> None:
        """Send ``data`` as it is (a NAT-T keepalive: no non-ESP marker)."""
        self._out.append(Datagram(data, local, remote, raw=True))

    def peer_authentic(self, sa: IsakmpSA, msg: InMessage, now: float) -> None:
        """An authenticated message came on ``sa``: the peer lives (DPD), and
        if it came from a new port or address, the peer's NAT changed its
        mapping and our SAs follow (RFC 3947)."""
        if sa.state == "dead":
            return
        dpd.heard(self, sa, now)
        old = sa.remote
        # only a message that came where the SA lives now says where the
        # peer is: the answer that made the SA float came to port 500
        if msg.remote != old and msg.local == sa.local:
            follow_mapping(self, sa, msg.remote, now)
            if sa.remote != old:
                # the answer to this very message is on its way already
                for d in self._out:
                    if d.remote == old:
                        d.remote = sa.remote

    def update_kernel_sa(self, ipsec: IpsecSA, old_remote: Addr) -> None:
        """Ask for the kernel's SAs of ``ipsec`` to follow its new remote port."""
        self._events.append(UpdateSA(ipsec, old_remote))

    def set_rcookie(self, sa: IsakmpSA, rcookie: bytes) -> None:
        if rcookie == ZERO_COOKIE:
            raise ExchangeFailed("responder cookie is zero", NotifyType.INVALID_COOKIE)
        self.table.set_rcookie(sa, rcookie)

    def float_to_natt(self, sa: IsakmpSA, local: Addr | None = None,
                      remote: Addr | None = None) -> None:
        """Move the ISAKMP SA to port 4500 (RFC 3947 4)."""
        old = sa.remote
        sa.local = local or (sa.local[0], self.natt_port)
        sa.remote = remote or (sa.remote[0], self.natt_port)
        self.table.rehome(sa, old)
        if not sa.natt.floated:
            log.debug(Cls.EXCHANGE, 10, f"NAT-T: {sa.label()} floats to "
                      f"{sa.local[0]}:{sa.local[1]} - {sa.remote[0]}:{sa.remote[1]}")
        sa.natt.floated = True

    def allocate_spi(self, protocol_id: int, src: str, dst: str) -> bytes:
        spi = self.spi_allocator(protocol_id, src, dst)
        return spi.to_bytes(4, "big")

    def connection_selectors(self, conn: "model.Connection", sa: IsakmpSA
                             ) -> tuple[Selector, Selector]:
        return connections.selectors(conn, sa.local[0], sa.remote[0])

    def find_responder_connection(self, sa: IsakmpSA, local_sel: Selector,
                                  remote_sel: Selector) -> "model.Connection | None":
        return connections.responder_connection(self.conf, sa, local_sel, remote_sel)

    def send_notify(self, sa: IsakmpSA, notify_type: int, now: float,
                    spi: tuple[int, bytes]) -> None:
        mid = self.rand.nonzero_u32() if sa.keys is not None else 0
        proto, spi_bytes = spi
        data = info.build(sa, mid, [info.notify_payload(notify_type, proto, spi_bytes)])
        self.transmit(sa, data)

    def log_keys(self, sa: IsakmpSA, gxy: bytes) -> None:
        if self.keys_changed is not None:
            self.keys_changed(sa)
        if not log.crypto_secrets_enabled() or sa.keys is None or sa.cipher is None:
            return
        c = log.logger(Cls.CRYPTO)
        lines = [f"{sa.label()} g^xy {gxy.hex()}"]
        for k, v in sa.keys.export().items():
            lines.append(f"{sa.label()} {k.upper()} {v.hex()}")
        lines.append(f"{sa.label()} encryption key {sa.cipher.key().hex()}")
        lines.append(f"{sa.label()} initial IV {sa.cipher.iv(0).hex()}")
        for line in lines:
            c.debug(line, extra={"isakmpd_level": 99, "isakmpd_nolimit": True})

    # ------------------------------------------------------------ outcomes
    def exchange_failed(self, ex: Exchange, reason: str, now: float) -> None:
        sa = ex.sa
        if isinstance(ex, Phase1Exchange) and not ex.initiator:
            # a flood of first messages ends in as many of these
            self.loglimit.warning(_xlog, "responder failed", now, "%s with %s "
                                  "failed: %s", _mode_name(ex), sa.remote[0], reason)
        else:
            _xlog.warning("%s with %s failed: %s", _mode_name(ex), sa.remote[0],
                          reason)
        if isinstance(ex, Phase1Exchange):
            for name in sa.pending:
                self.connecting.discard(name)
            sa.pending.clear()
            self._remove_isakmp(sa)
        elif isinstance(ex, QuickMode):
            if sa.cipher is not None:
                sa.cipher.forget(ex.mid)
            if ex.initiator and ex.conn is not None:
                self.connecting.discard(ex.conn.name)
            if ex.ipsec is not None and ex.ipsec.kernel_parts and (
                    ex.ipsec.state == "negotiating"):  # a rekey's inbound half
                self._events.append(RemoveSA(ex.ipsec))
                ex.spis.clear()
            for pid, spi in ex.spis.items():
                self._events.append(ReleaseSPI(pid, spi, sa.remote[0], sa.local[0]))
            ex.spis.clear()

    def forget_exchange(self, ex: Exchange) -> None:
        if ex.sa.exchanges.get(ex.mid) is ex:
            del ex.sa.exchanges[ex.mid]
        if ex.mid and ex.sa.cipher is not None:
            ex.sa.cipher.forget(ex.mid)
        ex.cleanup()

    def phase1_established(self, sa: IsakmpSA, now: float) -> None:
        sa.state = "established"
        sa.established_at = now
        self.table.phase1_done(sa)
        self.peer_proofs[sa.cookies] = policy_ipsec.peer_proof(
            sa, sa.exchanges.get(0), self._pki if self._pki_tried else None)
        p = sa.params
        assert p is not None
        _log.info("ISAKMP SA %s established with %s (%s)", sa.label(), sa.remote[0],
                  p.transform_name)
        dpd.start(self, sa, now)
        self.keepalives.track(sa, now)
        self.lifecycle.phase1_up(sa, now)
        pending, sa.pending = sa.pending, []
        for name in pending:
            try:
                conn = model.connection(self.conf, name)
            except ConfigError as e:
                _log.error("connection %s: %s", name, e)
                self.connecting.discard(name)
                continue
            self._start_quick_mode(sa, conn, now)

    def phase2_established(self, qm: QuickMode, ipsec: IpsecSA, now: float) -> None:
        ipsec.state = "installed"
        ipsec.established_at = now
        self.table.add_ipsec(ipsec)
        if qm.initiator:
            self.connecting.discard(ipsec.name)
        _log.info("IPsec SA %s established with %s: %s - %s, %s", ipsec.name,
                  ipsec.remote[0], ipsec.local_sel, ipsec.remote_sel,
                  ", ".join(f"{name_of(ProtocolId, p.protocol_id)} in "
                            f"{p.spi_in.hex()} out {p.spi_out.hex()}"
                            for p in ipsec.protos))
        if log.crypto_secrets_enabled():
            c = log.logger(Cls.CRYPTO)
            for p in ipsec.protos:
                for direction, spi, km in (("in", p.spi_in, p.keymat_in),
                                           ("out", p.spi_out, p.keymat_out)):
                    c.debug(f"{ipsec.name} {name_of(ProtocolId, p.protocol_id)} SPI "
                            f"{spi.hex()} {direction} KEYMAT {km.hex()}",
                            extra={"isakmpd_level": 99, "isakmpd_nolimit": True})
        self.lifecycle.phase2_up(ipsec, qm.initiator, now)

    def kernel_result(self, ipsec: IpsecSA, error: str | None) -> None:
        ipsec.kernel_error = error or ""

    # ------------------------------------------------------------ deleting
    def delete_ipsec(self, ipsec: IpsecSA, now: float, send: bool = True,
                     why: str = "") -> None:
        """Remove an IPsec SA (and tell the peer if ``send``); ``why``, when
        given, is logged: deletions of our own making are always logged."""
        if ipsec.state == "dead":
            return
        if why:
            _log.info("deleting IPsec SA %s with %s (%s): %s", ipsec.name,
                      ipsec.remote[0], ", ".join(
                          f"{name_of(ProtocolId, p.protocol_id)} in {p.spi_in.hex()} "
                          f"out {p.spi_out.hex()}" for p in ipsec.protos), why)
        ipsec.state = "dead"
        self.table.remove_ipsec(ipsec)
        self.lifecycle.forget_ipsec(ipsec)
        self._events.append(RemoveSA(ipsec))
        parent = ipsec.isakmp
        if not parent.established:  # IPsec SAs outlive their ISAKMP SA
            parent = self.table.established_to(parent.peer_name,
                                               ipsec.remote[0]) or parent
        if send and parent.established and parent.keys is not None:
            for p in ipsec.protos:
                mid = self.rand.nonzero_u32()
                self.transmit(parent, info.build(
                    parent, mid, [info.delete_payload(p.protocol_id, [p.spi_in])]))

    def delete_isakmp(self, sa: IsakmpSA, now: float, send: bool = True,
                      why: str = "") -> None:
        if sa.state == "dead":
            return
        if why and sa.established:
            _log.info("deleting ISAKMP SA %s with %s: %s", sa.label(), sa.remote[0], why)
        if send and sa.established and sa.keys is not None:
            mid = self.rand.nonzero_u32()
            self.transmit(sa, info.build(
                sa, mid, [info.delete_payload(ProtocolId.ISAKMP, [sa.cookies])]))
        self._remove_isakmp(sa)

    def _remove_isakmp(self, sa: IsakmpSA) -> None:
        sa.state = "dead"
        self.table.remove_isakmp(sa)
        self.lifecycle.forget_isakmp(sa)
        self.peer_proofs.pop(sa.cookies, None)
        if self.keys_changed is not None:
            self.keys_changed(sa)
        for ex in list(sa.exchanges.values()):
            if isinstance(ex, QuickMode) and not ex.done and ex.initiator and ex.conn:
                self.connecting.discard(ex.conn.name)
            ex.done = True
            ex.cleanup()
        sa.exchanges.clear()
        for name in sa.pending:
            self.connecting.discard(name)
        sa.pending.clear()

    def teardown(self, name: str, now: float) -> int:
        """FIFO ``t``: delete the IPsec SAs of connection ``name``."""
        sas = self.table.ipsec_by_name(name)
        for s in sas:
            self.delete_ipsec(s, now, send=True, why="torn down")
        self.connecting.discard(name)
        return len(sas)

    def teardown_main(self, key: str, now: float) -> int:
        """FIFO ``t main``: delete ISAKMP SAs by peer name or address."""
        n = 0
        for sa in list(self.table.isakmp_sas()):
            if sa.peer_name.lower() == key.lower() or sa.remote[0] == key:
                self.delete_isakmp(sa, now, send=True, why="torn down")
                n += 1
        return n

    def teardown_all(self, now: float) -> int:
        """FIFO ``T``: delete every IPsec SA."""
        sas = self.table.ipsec_sas()
        for s in sas:
            self.delete_ipsec(s, now, send=True, why="torn down (T)")
        return len(sas)

    def shutdown(self, now: float) -> None:
        """Clean shutdown: DELETE for every phase-2 SA, then every ISAKMP SA
        (unless Delete-SAs=no); the kernel's SAs are removed either way."""
        self.shutting_down = True
        send = self.general.delete_sas
        for s in self.table.ipsec_sas():
            self.delete_ipsec(s, now, send=send, why="shutting down")
        for sa in list(self.table.isakmp_sas()):
            self.delete_isakmp(sa, now, send=send, why="shutting down")
        self.ondemand.remove_traps()
        if self._check_timer is not None:
            self._check_timer.cancel()

    # ------------------------------------------------------------ notifications
    def unprotected_notify(self, sa: IsakmpSA, n: _core.Notify, msg: InMessage,
                           now: float) -> None:
        what = info.describe_notify(n)
        ex = sa.exchanges.get(0)
        if (sa.state == "negotiating" and ex is not None and not ex.done
                and n.notify_type < info.ERROR_NOTIFY_LIMIT):
            ex.fail(now, f"peer answered with {what}")
            return
        self.loglimit.warning(_xlog, "unprotected notify", now,
                              "unprotected notification %s from %s ignored", what,
                              msg.remote[0])

    def protected_notify(self, sa: IsakmpSA, n: _core.Notify, now: float) -> None:
        what = info.describe_notify(n)
        if n.notify_type < info.ERROR_NOTIFY_LIMIT:
            for ex in list(sa.exchanges.values()):
                if (isinstance(ex, QuickMode) and not ex.done
                        and (n.spi in ex.spis.values()
                             or n.spi in ex.peer_spis.values())):
                    ex.fail(now, f"peer answered with {what}")
                    return
            _xlog.warning("notification %s from %s", what, sa.remote[0])
        elif n.notify_type == NotifyType.INITIAL_CONTACT:
            self.lifecycle.initial_contact(sa, now)
        else:
            log.debug(Cls.EXCHANGE, 10, f"notification {what} from {sa.remote[0]}")

    def peer_delete(self, sa: IsakmpSA, d: _core.Delete, now: float) -> None:
        peer = sa.remote[0]
        if d.protocol_id == ProtocolId.ISAKMP:
            for spi in d.spis:
                if len(spi) != 16:
                    continue
                target = self.table.find_isakmp(spi[:8], spi[8:])
                if target is not None and target.remote[0] == peer:
                    _log.info("peer %s deleted ISAKMP SA %s", peer, target.label())
                    self._remove_isakmp(target)
            return
        for spi in d.spis:
            # the peer names its inbound SPI (our outbound); some peers name
            # ours when they refuse an SA they could not install
            ipsec = (self.table.find_by_spi_out(d.protocol_id, spi)
                     or self.table.find_by_spi_in(d.protocol_id, spi))
            if ipsec is not None and ipsec.remote[0] == peer:
                _log.info("peer %s deleted IPsec SA %s (%s SPI %s)", peer, ipsec.name,
                          name_of(ProtocolId, d.protocol_id), spi.hex())
                self.delete_ipsec(ipsec, now, send=False)
