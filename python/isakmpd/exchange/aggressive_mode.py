"""Aggressive Mode (RFC 2409 5) with pre-shared keys or RSA signatures.

    I -> R  HDR, SA, KE, Ni, IDii [, CR*] [, VID*]                       (1)
    R -> I  HDR, SA, KE, Nr, IDir, HASH_R | [CERT*,] SIG_R [, CR*]
            [, NAT-D, NAT-D] [, VID]                                      (2)
    I -> R  HDR*, HASH_I | [CERT*,] SIG_I [, NAT-D, NAT-D]                (3)

Message 3 goes encrypted, as isakmpd and strongSwan send it (RFC 2409 shows
it in the clear; a responder takes either), and to port 4500 when message 2
showed a NAT. NAT-D payloads hash the addresses of the message that carries
them, so a responder compares those of message 3 with the ports it arrived
on.

The initiator's KE payload goes in message 1, before the responder has
chosen a transform: every transform offered must use one DH group. The
identities travel in the clear, and anyone who sends message 1 gets a
HASH_R to test guesses of a pre-shared key against (ike-scan --pskcrack),
so a responder answers Aggressive Mode only for a peer whose configuration
says EXCHANGE_TYPE=AGGRESSIVE. With pre-shared keys, the responder takes
the key of the initiator's ID section (``[user@example.com]``
Authentication=) if there is one, else the peer section's.

A Quick Mode that arrives before message 3 (strongSwan sends its first Quick
Mode message right behind it) is dropped without touching the exchange, so
that the initiator's retransmission finds the ISAKMP SA ready.
"""

from __future__ import annotations

from .. import _core
from ..constants import AuthMethod, ExchangeType, NotifyType, name_of
from ..errors import CryptoError
from . import auth, dpd, natt, proposal
from .base import ExchangeFailed, InMessage, Rejected, encode_protected, make_dh
from .ids import describe
from .main_mode import NONCE_LEN, Phase1Exchange, check_nonce


def _group_fits(ke_len: int):
    """A test for DH groups whose public values are ``ke_len`` bytes long."""
    def ok(group: int) -> bool:
        try:
            return _core.group_info(group)[1] == ke_len
        except CryptoError:  # a group we do not implement
            return False
    return ok


class AggressiveMode(Phase1Exchange):
    kind = ExchangeType.AGGRESSIVE

    # ------------------------------------------------------------ initiator
    def start(self, now: float) -> None:
        transforms = self.peer.transforms
        group = proposal.aggressive_group(transforms)
        sa_payload = proposal.phase1_sa(transforms)
        self.dh = make_dh(self.engine, group)
        self.gxi = self.dh.public
        self.ni = self.engine.rand.bytes(NONCE_LEN)
        idp = self._initiator_id()
        payloads: list = [sa_payload, _core.KE(self.gxi), _core.Nonce(self.ni), idp]
        if self.cred is not None:
            payloads += auth.cert_requests(self.engine)
        if self.engine.natt_enabled:
            payloads += natt.vendor_ids()
        payloads.append(dpd.vendor_id())
        data = encode_protected(self.sa, self.kind, 0, payloads, encrypt=False)
        self.sai_b = sa_payload.body
        self.sa.id_local = idp.body
        self.sa.id_local_type = idp.id_type
        self.step = 1
        self.debug(10, "sending message 1 with %d transform(s) as %s",
                   len(transforms), describe(idp.id_type, idp.data))
        self.transmit(data, now, expect_reply=True)

    def _initiator_id(self) -> _core.ID:
        """Our ID for message 1, chosen before the responder picks the
        method: with a signature transform on offer, the ID of our
        certificate (falling back to the plain ID if pre-shared keys are
        offered too and no certificate fits)."""
        methods = {t.auth_method for t in self.peer.transforms}
        if AuthMethod.RSA_SIG in methods:
            try:
                idp, self.cred = auth.local_identity(
                    self.engine, self.peer, self.sa.local[0], True, [])
                return idp
            except ExchangeFailed as e:
                if AuthMethod.PRE_SHARED not in methods:
                    raise
                self.debug(10, "no certificate, offering pre-shared keys only: %s",
                           e.reason)
        idp, _ = auth.local_identity(self.engine, self.peer, self.sa.local[0],
                                     False, [])
        return idp

    def handle(self, msg: InMessage, now: float) -> None:
        if msg.header.exchange_type != self.kind:
            raise Rejected(f"{name_of(ExchangeType, msg.header.exchange_type)} "
                           "message in Aggressive Mode",
                           NotifyType.INVALID_EXCHANGE_TYPE)
        if self.initiator:
            steps = {1: self._i_got_2}
        else:
            steps = {0: self._r_got_1, 2: self._r_got_3}
        handler = steps.get(self.step)
        if handler is None:
            self.debug(20, "unexpected message at step %d dropped", self.step)
            return
        try:
            handler(msg, now)
        except Rejected:
            raise
        except ExchangeFailed as e:
            if self.step > 0 and e.notify == NotifyType.PAYLOAD_MALFORMED:
                raise Rejected(e.reason, e.notify) from None
            raise

    def _i_got_2(self, msg: InMessage, now: float) -> None:
        if msg.encrypted:
            raise Rejected("message 2 is encrypted", NotifyType.INVALID_FLAGS)
        reply = msg.one(_core.SA, "SA")
        self.params = proposal.accept_phase1_reply(reply, self.peer.transforms)
        self.sa.params = self.params
        gxr = msg.one(_core.KE, "KE").data
        nr = check_nonce(msg.one(_core.Nonce, "NONCE"))
        idp = self._peer_id(msg)
        if self.signatures and self.cred is None:
            raise ExchangeFailed("responder chose RSA signatures, but we have no "
                                 "certificate for our ID",
                                 NotifyType.AUTHENTICATION_FAILED)
        self._note_vids(msg)
        self.engine.set_rcookie(self.sa, msg.header.rcookie)
        self.gxr, self.nr = gxr, nr
        self._collect_requests(msg)
        self._start_keys()
        self._derive_keys()
        self._natd(msg)
        self._verify(msg, idp, self._hash_r(idp.body), "HASH_R")
        self._check_remote_id(idp)
        self._note_initial_contact(msg)
        self.got_reply(msg)
        if self.sa.natt.nat_detected and self.engine.natt_enabled:
            self.engine.float_to_natt(self.sa)
        payloads = self._auth_payloads(self._hash_i(self.sa.id_local))
        if self.sa.natt.natd_type:
            payloads += natt.natd_payloads(self.sa, self.params.hash_alg)
        payloads += self._initial_contact()
        self.step = 3
        self.debug(10, "chose %s; sending message 3", self.params.transform_name)
        self.transmit(encode_protected(self.sa, self.kind, 0, payloads), now,
                      expect_reply=False)
        self.finish(now)
        self.engine.phase1_established(self.sa, now)

    # ------------------------------------------------------------ responder
    def _r_got_1(self, msg: InMessage, now: float) -> None:
        if msg.encrypted:
            raise ExchangeFailed("message 1 is encrypted", NotifyType.INVALID_FLAGS)
        peer_sa = msg.one(_core.SA, "SA")
        self.sai_b = peer_sa.body
        self.gxi = msg.one(_core.KE, "KE").data
        self.ni = check_nonce(msg.one(_core.Nonce, "NONCE"))
        idp = self._peer_id(msg)
        self._check_remote_id(idp)
        self.psk = auth.psk_for(self.engine, self.peer, idp)
        reply, self.params = proposal.select_phase1(
            peer_sa, self.peer.transforms, self._usable_methods(),
            _group_fits(len(self.gxi)))
        self.sa.params = self.params
        self._note_vids(msg)
        self._collect_requests(msg)
        self._make_dh()
        assert self.dh is not None
        self.gxr = self.dh.public
        self.nr = self.engine.rand.bytes(max(NONCE_LEN, len(self.ni)))
        self._start_keys()
        self._derive_keys()
        self.got_reply(msg)
        my_id = self._my_id()
        payloads: list = [reply, _core.KE(self.gxr), _core.Nonce(self.nr), my_id]
        payloads += self._auth_payloads(self._hash_r(my_id.body))
        payloads += self._cert_requests()
        if self.sa.natt.natd_type:
            payloads += natt.natd_payloads(self.sa, self.params.hash_alg)
        if self.sa.natt.version:
            payloads.append(_core.VendorID(natt.selected_vid(self.sa.natt.version)))
        payloads.append(dpd.vendor_id())
        self.step = 2
        self.debug(10, "%s is %s; chose %s; sending message 2",
                   self.sa.remote[0], describe(idp.id_type, idp.data),
                   self.params.transform_name)
        self.transmit(encode_protected(self.sa, self.kind, 0, payloads, False), now,
                      expect_reply=True)

    def _r_got_3(self, msg: InMessage, now: float) -> None:
        assert self.params is not None
        idp = self.peer_idp
        assert idp is not None
        self._collect_requests(msg)
        self._verify(msg, idp, self._hash_i(self.sa.id_remote), "HASH_I")
        self._note_initial_contact(msg)
        if msg.encrypted:
            assert self.sa.cipher is not None
            self.sa.cipher.commit(0)
        self.got_reply(msg)
        if msg.local[1] == self.engine.natt_port and self.sa.natt.natd_type:
            self.engine.float_to_natt(self.sa, msg.local, msg.remote)
        self._natd(msg)
        self.step = 4
        self.finish(now)
        self.engine.phase1_established(self.sa, now)
