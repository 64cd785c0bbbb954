"""Main Mode (identity protection, RFC 2409 5) with pre-shared keys or RSA
signatures, and :class:`Phase1Exchange`, what it shares with Aggressive Mode.

    I -> R  HDR, SA, VID*                            (1)
    R -> I  HDR, SA, VID*                            (2)
    I -> R  HDR, KE, Ni, [CR*,] NAT-D, NAT-D         (3)   CR with signatures
    R -> I  HDR, KE, Nr, [CR*,] NAT-D, NAT-D         (4)
    I -> R  HDR*, IDii, HASH_I | [CERT*,] SIG_I      (5)   port 4500 if NAT
    R -> I  HDR*, IDir, HASH_R | [CERT*,] SIG_R      (6)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import _core, log
from ..constants import AuthMethod, Doi, ExchangeType, NotifyType, ProtocolId, name_of
from ..log import Cls
from ..sa import IsakmpSA
from . import auth, dpd, ids, natt, proposal
from .base import (Exchange, ExchangeFailed, InMessage, Rejected, encode_protected,
                   make_dh, shared_value, start_shared)
from .ids import describe

if TYPE_CHECKING:
    from ..conf.model import IdSpec, Phase1Peer
    from ..engine import Engine

NONCE_LEN = 16


def check_nonce(n: _core.Nonce) -> bytes:
    if not 8 <= len(n.data) <= 256:
        raise ExchangeFailed(f"nonce of {len(n.data)} bytes (must be 8-256)",
                             NotifyType.PAYLOAD_MALFORMED)
    return n.data


def phase1_id(spec: "IdSpec | None", local_addr: str) -> _core.ID:
    """Our phase-1 ID payload: the ID= section, else our IP address."""
    return ids.spec_id(spec, local_addr, phase1=True)


class Phase1Exchange(Exchange):
    """What Main Mode and Aggressive Mode share: the choice of transform,
    DH, SKEYID, NAT-D, IDs and authentication (see :mod:`.auth`)."""

    def __init__(self, engine: "Engine", sa: IsakmpSA, peer: "Phase1Peer",
                 initiator: bool, now: float) -> None:
        super().__init__(engine, sa, 0, initiator, now)
        self.peer = peer
        self.sai_b = b""
        self.gxi = self.gxr = b""
        self.ni = self.nr = b""
        self.params = None
        #: the pre-shared key (Aggressive Mode responders look it up by ID)
        self.psk = peer.psk
        #: CAs the peer's CR payloads named
        self.peer_requests: list[bytes] = []
        #: our certificate and key (signatures)
        self.cred: Any = None
        #: the peer's ID payload
        self.peer_idp: _core.ID | None = None

    @property
    def signatures(self) -> bool:
        return auth.uses_signatures(self.params)

    def no_reply_hint(self) -> str:
        if (self.initiator and self.kind == ExchangeType.ID_PROT and self.step == 5
                and self.params is not None
                and self.params.auth_method == AuthMethod.PRE_SHARED):
            # a responder with another key cannot read message 5
            return " (message 5 unanswered: wrong pre-shared key?)"
        return ""

    def _note_vids(self, msg: InMessage) -> None:
        vids = [v.data for v in msg.all(_core.VendorID)]
        self.sa.peer_vids = vids
        self.sa.peer_dpd = dpd.announced(vids)
        if self.engine.natt_enabled:
            chosen = natt.choose(vids)
            if chosen is not None:
                self.sa.natt.version, self.sa.natt.natd_type = chosen
        for v in vids:
            log.debug(Cls.EXCHANGE, 40, "%s: peer vendor ID %s", self.name, v.hex())

    def _make_dh(self) -> None:
        assert self.params is not None
        self.dh = make_dh(self.engine, self.params.group)

    def _start_keys(self, defer: bool = False) -> None:
        """Check what the keys need and start g^xy; ``defer``: in a worker
        thread, collected by :meth:`_derive_keys` when the keys are needed
        (a Main Mode responder's, on message 5)."""
        assert self.params is not None and self.dh is not None
        if self.params.auth_method == AuthMethod.PRE_SHARED and self.psk is None:
            raise ExchangeFailed(f"no pre-shared key for peer {self.peer.name}",
                                 NotifyType.AUTHENTICATION_FAILED)
        peer_pub = self.gxr if self.initiator else self.gxi
        self.gxy = start_shared(self.engine, self.dh, peer_pub, defer)

    def _derive_keys(self) -> None:
        assert self.params is not None and self.gxy is not None
        p = self.params
        gxy = shared_value(self.gxy)
        keys = auth.phase1_keys(p, self.psk, self.ni, self.nr, gxy,
                                self.sa.icookie, self.sa.rcookie)
        self.sa.keys = keys
        self.sa.cipher = keys.cipher(p.enc_alg, p.key_len, self.gxi, self.gxr)
        self.engine.log_keys(self.sa, gxy)

    def finish(self, now: float) -> None:
        super().finish(now)
        # while it lingers to answer repeats it needs its last messages only
        self.gxi = self.gxr = self.sai_b = self.ni = self.nr = b""
        self.peer_idp = self.cred = None
        self.peer_requests = []

    def keys_due(self, now: float) -> None:
        if self.gxy is None or self.sa.keys is not None or self.done:
            return
        try:
            self._derive_keys()
        except ExchangeFailed as e:
            self.fail(now, e.reason, e.notify)

    def _natd(self, msg: InMessage) -> None:
        if not self.sa.natt.natd_type:
            return
        assert self.params is not None
        natds = msg.all(_core.NatD)
        natt.detect(self.sa, self.params.hash_alg, natds)
        n = self.sa.natt
        if natds:
            self.debug(10, "NAT-D: local %s NAT, peer %s NAT",
                       "behind" if n.local_behind_nat else "not behind",
                       "behind" if n.peer_behind_nat else "not behind")

    # ---- identities and authentication
    def _peer_id(self, msg: InMessage) -> _core.ID:
        """The peer's ID payload, checked for form (not yet authenticated)."""
        idp = msg.one(_core.ID, "ID")
        try:
            ids.check_id(idp)
        except ExchangeFailed:
            if msg.encrypted and self.sa.cipher is not None:
                # it decrypted and parsed: the peer's own; let it read why
                self.sa.cipher.commit(0)
            raise
        self.peer_idp = idp
        self.sa.id_remote = idp.body
        self.sa.id_remote_type = idp.id_type
        return idp

    def _check_remote_id(self, idp: _core.ID) -> None:
        """The peer's ID must be its configured Remote-ID, if it has one."""
        want = self.peer.remote_id
        if want is None:
            return
        mine = phase1_id(want, self.sa.remote[0])
        theirs = idp
        if not mine.protocol and not mine.port:
            theirs = _core.ID(idp.id_type, idp.data)
        if not ids.same_id(mine, theirs):
            raise ExchangeFailed(
                f"peer identified as {describe(idp.id_type, idp.data)}, expected "
                f"{describe(mine.id_type, mine.data)}",
                NotifyType.INVALID_ID_INFORMATION)

    def _my_id(self) -> _core.ID:
        """Our ID payload (encoded, so that its body is known), and with
        signatures the certificate that goes with it."""
        idp, self.cred = auth.local_identity(self.engine, self.peer, self.sa.local[0],
                                             self.signatures, self.peer_requests)
        _core.encode_payloads([idp])
        self.sa.id_local = idp.body
        self.sa.id_local_type = idp.id_type
        return idp

    def _collect_requests(self, msg: InMessage) -> None:
        for a in auth.requested_authorities(msg):
            if a not in self.peer_requests:
                self.peer_requests.append(a)

    def _cert_requests(self) -> list:
        return auth.cert_requests(self.engine) if self.signatures else []

    def _hash_i(self, idii_b: bytes) -> bytes:
        assert self.sa.keys is not None
        return self.sa.keys.hash_i(self.gxi, self.gxr, self.sa.icookie,
                                   self.sa.rcookie, self.sai_b, idii_b)

    def _hash_r(self, idir_b: bytes) -> bytes:
        assert self.sa.keys is not None
        return self.sa.keys.hash_r(self.gxr, self.gxi, self.sa.rcookie,
                                   self.sa.icookie, self.sai_b, idir_b)

    def _auth_payloads(self, hash_value: bytes) -> list:
        assert self.params is not None
        return auth.auth_payloads(self.params, self.cred, hash_value)

    def _verify(self, msg: InMessage, idp: _core.ID, expected: bytes,
                what: str) -> None:
        assert self.params is not None
        auth.verify(self.engine, self.sa, self.params, msg, idp, expected, what)

    def _usable_methods(self):
        return auth.usable_methods(self.engine, self.psk)

    # ---- INITIAL-CONTACT (RFC 2407 4.6.3.3; see isakmpd.lifecycle)
    def _initial_contact(self) -> list:
        """The INITIAL-CONTACT notification for the initiator's last message,
        if no phase 1 with this peer has completed since start-up."""
        if not self.engine.lifecycle.first_contact(self.sa.remote[0]):
            return []
        self.debug(10, "first contact with %s: INITIAL-CONTACT", self.sa.remote[0])
        return [_core.Notify(Doi.IPSEC, ProtocolId.ISAKMP, NotifyType.INITIAL_CONTACT,
                             self.sa.cookies)]

    def _note_initial_contact(self, msg: InMessage) -> None:
        """The peer's authenticated message says it has just started. The
        notification itself is not covered by HASH or SIG: one that does not
        name this SA (a damaged copy) drops the message, to wait for the
        genuine one."""
        for n in msg.all(_core.Notify):
            if n.notify_type != NotifyType.INITIAL_CONTACT:
                continue
            if n.spi not in (b"", self.sa.cookies) or n.protocol_id not in (
                    0, ProtocolId.ISAKMP):
                raise Rejected("INITIAL-CONTACT does not name this SA",
                               NotifyType.INVALID_SPI)
            self.debug(10, "INITIAL-CONTACT from %s", self.sa.remote[0])
            self.sa.peer_initial_contact = True


class MainMode(Phase1Exchange):
    kind = ExchangeType.ID_PROT

    # ------------------------------------------------------------ initiator
    def start(self, now: float) -> None:
        sa_payload = proposal.phase1_sa(self.peer.transforms)
        payloads = [sa_payload]
        if self.engine.natt_enabled:
            payloads += natt.vendor_ids()
        payloads.append(dpd.vendor_id())
        data = encode_protected(self.sa, self.kind, 0, payloads, encrypt=False)
        self.sai_b = sa_payload.body
        self.step = 1
        self.debug(10, "sending message 1 with %d transform(s)",
                   len(self.peer.transforms))
        self.transmit(data, now, expect_reply=True)

    def handle(self, msg: InMessage, now: float) -> None:
        if msg.header.exchange_type != self.kind:
            raise Rejected(f"{name_of(ExchangeType, msg.header.exchange_type)} "
                           "message in Main Mode", NotifyType.INVALID_EXCHANGE_TYPE)
        if self.initiator:
            steps = {1: self._i_got_2, 3: self._i_got_4, 5: self._i_got_6}
        else:
            steps = {0: self._r_got_1, 2: self._r_got_3, 4: self._r_got_5}
        handler = steps.get(self.step)
        if handler is None:
            self.debug(20, "unexpected message at step %d dropped", self.step)
            return
        try:
            handler(msg, now)
        except Rejected:
            raise
        except ExchangeFailed as e:
            # a message without the payloads it must have, before anything
            # authenticates it, is as likely damaged or forged as the peer's:
            # drop it and wait for the genuine one (the first message has no
            # exchange to wait in)
            if self.step > 0 and e.notify == NotifyType.PAYLOAD_MALFORMED:
                raise Rejected(e.reason, e.notify) from None
            raise

    def _i_got_2(self, msg: InMessage, now: float) -> None:
        if msg.encrypted:
            raise Rejected("message 2 is encrypted", NotifyType.INVALID_FLAGS)
        reply = msg.one(_core.SA, "SA")
        self.params = proposal.accept_phase1_reply(reply, self.peer.transforms)
        self.sa.params = self.params
        self._note_vids(msg)
        self.got_reply(msg)
        self.engine.set_rcookie(self.sa, msg.header.rcookie)
        self._make_dh()
        assert self.dh is not None
        self.gxi = self.dh.public
        self.ni = self.engine.rand.bytes(NONCE_LEN)
        payloads = [_core.KE(self.gxi), _core.Nonce(self.ni)]
        payloads += self._cert_requests()
        if self.sa.natt.natd_type:
            payloads += natt.natd_payloads(self.sa, self.params.hash_alg)
        self.step = 3
        self.debug(10, "chose %s; sending message 3", self.params.transform_name)
        self.transmit(encode_protected(self.sa, self.kind, 0, payloads, False), now,
                      expect_reply=True)

    def _i_got_4(self, msg: InMessage, now: float) -> None:
        if msg.encrypted:
            raise Rejected("message 4 is encrypted", NotifyType.INVALID_FLAGS)
        self.gxr = msg.one(_core.KE, "KE").data
        self.nr = check_nonce(msg.one(_core.Nonce, "NONCE"))
        self._collect_requests(msg)
        self._start_keys()
        self._derive_keys()
        self._natd(msg)
        self.got_reply(msg)
        if self.sa.natt.nat_detected and self.engine.natt_enabled:
            self.engine.float_to_natt(self.sa)
        idp = self._my_id()
        payloads = [idp] + self._auth_payloads(self._hash_i(idp.body))
        payloads += self._initial_contact()
        self.step = 5
        if log.enabled(Cls.EXCHANGE, 10):
            self.debug(10, "sending message 5 (%s)", describe(idp.id_type, idp.data))
        self.transmit(encode_protected(self.sa, self.kind, 0, payloads), now,
                      expect_reply=True)

    def _i_got_6(self, msg: InMessage, now: float) -> None:
        if not msg.encrypted:
            raise Rejected("message 6 is not encrypted", NotifyType.INVALID_FLAGS)
        idp = self._peer_id(msg)
        self._verify(msg, idp, self._hash_r(idp.body), "HASH_R")
        self._note_initial_contact(msg)
        assert self.sa.cipher is not None
        self.sa.cipher.commit(0)
        self._check_remote_id(idp)
        self.got_reply(msg)
        self.finish(now)
        self.engine.phase1_established(self.sa, now)

    # ------------------------------------------------------------ responder
    def _r_got_1(self, msg: InMessage, now: float) -> None:
        peer_sa = msg.one(_core.SA, "SA")
        self.sai_b = peer_sa.body
        reply, self.params = proposal.select_phase1(peer_sa, self.peer.transforms,
                                                    self._usable_methods())
        self.sa.params = self.params
        self._note_vids(msg)
        self.got_reply(msg)
        payloads: list = [reply]
        if self.sa.natt.version:
            payloads.append(_core.VendorID(natt.selected_vid(self.sa.natt.version)))
        payloads.append(dpd.vendor_id())
        self.step = 2
        self.debug(10, "chose %s; sending message 2", self.params.transform_name)
        self.transmit(encode_protected(self.sa, self.kind, 0, payloads, False), now,
                      expect_reply=True)

    def _r_got_3(self, msg: InMessage, now: float) -> None:
        if msg.encrypted:
            raise Rejected("message 3 is encrypted", NotifyType.INVALID_FLAGS)
        self.gxi = msg.one(_core.KE, "KE").data
        self.ni = check_nonce(msg.one(_core.Nonce, "NONCE"))
        self._collect_requests(msg)
        self._make_dh()
        assert self.dh is not None
        self.gxr = self.dh.public
        self.nr = self.engine.rand.bytes(max(NONCE_LEN, len(self.ni)))
        # message 4 needs no keys: g^xy is left to a worker thread until
        # message 5 comes (Engine._decode calls keys_due)
        self._start_keys(defer=True)
        self._natd(msg)
        self.got_reply(msg)
        payloads = [_core.KE(self.gxr), _core.Nonce(self.nr)]
        payloads += self._cert_requests()
        if self.sa.natt.natd_type:
            assert self.params is not None
            payloads += natt.natd_payloads(self.sa, self.params.hash_alg)
        self.step = 4
        self.debug(10, "sending message 4")
        self.transmit(encode_protected(self.sa, self.kind, 0, payloads, False), now,
                      expect_reply=True)

    def _r_got_5(self, msg: InMessage, now: float) -> None:
        if not msg.encrypted:
            raise Rejected("message 5 is not encrypted", NotifyType.INVALID_FLAGS)
        idp = self._peer_id(msg)
        self._collect_requests(msg)
        self._verify(msg, idp, self._hash_i(idp.body), "HASH_I")
        self._note_initial_contact(msg)
        assert self.sa.cipher is not None
        self.sa.cipher.commit(0)
        self._check_remote_id(idp)
        self.got_reply(msg)
        if msg.local[1] == self.engine.natt_port and self.sa.natt.natd_type:
            self.engine.float_to_natt(self.sa, msg.local, msg.remote)
        my_id = self._my_id()
        payloads = [my_id] + self._auth_payloads(self._hash_r(my_id.body))
        self.step = 6
        self.transmit(encode_protected(self.sa, self.kind, 0, payloads), now,
                      expect_reply=False)
        self.finish(now)
        self.engine.phase1_established(self.sa, now)
