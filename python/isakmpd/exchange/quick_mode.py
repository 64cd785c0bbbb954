"""Quick Mode (RFC 2409 5.5): phase-2 SAs under an ISAKMP SA.

    I -> R  HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr] [, NAT-OAi, NAT-OAr]
    R -> I  HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr] [, NAT-OAi, NAT-OAr]
    I -> R  HDR*, HASH(3)

HASH(1) = prf(SKEYID_a, M-ID | everything after HASH(1))
HASH(2) = prf(SKEYID_a, M-ID | Ni_b | everything after HASH(2))
HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
from typing import TYPE_CHECKING

from .. import _core, log
from ..constants import (EncapMode, ExchangeType, IdType, NotifyType, ProtocolId,
                         name_of)
from ..kernel import algs
from ..log import Cls
from ..policy.ipsec import ClientId, Phase2Proposal, ProtoChoice
from ..sa import IpsecProto, IpsecSA, IsakmpSA, Selector, base_encap_mode
from . import lifetime, proposal
from .base import (Exchange, ExchangeFailed, InMessage, Rejected, encode_protected,
                   make_dh, raw_after, shared_value, start_shared)
from .ids import id_selector, selector_id, spec_id

if TYPE_CHECKING:
    from ..conf.model import Connection, SuiteSpec
    from ..engine import Engine

NONCE_LEN = 16
#: combinations of transforms of one suite put to the policy, at most
MAX_POLICY_COMBINATIONS = 64


def host_selector(addr: str) -> Selector:
    return Selector(ipaddress.ip_network(addr))


def keymat_length(proto: IpsecProto) -> int:
    """Bytes of KEYMAT the negotiated transform needs (cipher key first)."""
    if proto.protocol_id == ProtocolId.IPSEC_ESP:
        enc, auth = algs.esp_keymat_lengths(proto.transform_id, proto.key_bits,
                                            proto.auth_alg)
        return enc + auth
    if proto.protocol_id == ProtocolId.IPSEC_AH:
        return algs.ah_keymat_length(proto.transform_id, proto.auth_alg)
    return 0


class QuickMode(Exchange):
    kind = ExchangeType.QUICK_MODE

    def __init__(self, engine: "Engine", sa: IsakmpSA, mid: int, initiator: bool,
                 now: float, conn: "Connection | None" = None) -> None:
        super().__init__(engine, sa, mid, initiator, now)
        self.conn = conn
        self.spis: dict[int, bytes] = {}
        self.ni = self.nr = b""
        self.local_sel: Selector | None = None
        self.remote_sel: Selector | None = None
        self.ids_sent: tuple[_core.ID, _core.ID] | None = None
        #: responder: IDci and IDcr as received (None: none came)
        self.ids_received: tuple[_core.ID, _core.ID] | None = None
        self.chosen: proposal.Chosen | None = None
        self.ipsec: IpsecSA | None = None
        self.peer_spis: dict[int, bytes] = {}
        self.peer_nat_oa: list[tuple[int, bytes]] = []
        #: (protocol, SPI) of the initiator's first proposal, as received
        self.offer_spi: tuple[int, bytes] | None = None
        #: initiator: the suites offered (those the policy allows)
        self.offered: tuple["SuiteSpec", ...] = ()

    @property
    def conn_name(self) -> str:
        return self.conn.name if self.conn is not None else "?"

    def notify_spi(self, notify: int) -> tuple[int, bytes]:
        # the initiator's SPI names the negotiation for both sides: the
        # initiator allocated it, the responder received it in message 1
        if not self.initiator and self.offer_spi is not None:
            return self.offer_spi
        for pid, spi in self.spis.items():
            return (pid, spi)
        return super().notify_spi(notify)

    def _allocate_spis(self, protocol_ids: list[int]) -> None:
        for pid in protocol_ids:
            if pid in self.spis:
                continue
            if pid == ProtocolId.IPCOMP:
                # TODO(IPCOMP needs 2-byte CPIs from the kernel)
                raise ExchangeFailed("IPCOMP is not supported yet",
                                     NotifyType.NO_PROPOSAL_CHOSEN)
            self.spis[pid] = self.engine.allocate_spi(pid, self.sa.remote[0],
                                                      self.sa.local[0])

    def _protect(self, payloads: list, prefix: bytes = b"") -> bytes:
        assert self.sa.keys is not None
        rest = _core.encode_payloads(payloads)
        h = self.sa.keys.prf_a(self.mid.to_bytes(4, "big") + prefix + rest)
        return encode_protected(self.sa, self.kind, self.mid, [_core.Hash(h)] + payloads)

    def finish(self, now: float) -> None:
        super().finish(now)
        # while it lingers to answer repeats it needs its last messages only
        self.ni = self.nr = b""
        self.ids_sent = self.ids_received = None
        self.offered = ()
        self.peer_nat_oa = []

    def _make_dh(self, group: int) -> None:
        self.dh = make_dh(self.engine, group)

    def _check_hash(self, msg: InMessage, prefix: bytes) -> None:
        if not msg.payloads or not isinstance(msg.payloads[0], _core.Hash):
            raise Rejected("Quick Mode message does not start with HASH",
                           NotifyType.INVALID_PAYLOAD_TYPE)
        h = msg.payloads[0]
        assert self.sa.keys is not None
        want = self.sa.keys.prf_a(self.mid.to_bytes(4, "big") + prefix
                                  + raw_after(msg.payloads, h))
        if not _core.ct_eq(h.data, want):
            raise Rejected("HASH does not verify", NotifyType.INVALID_HASH_INFORMATION)

    def _pfs(self, ke: _core.KE | None, group: int | None) -> None:
        if group is None:
            return
        if ke is None:
            raise ExchangeFailed("PFS chosen but no KE payload",
                                 NotifyType.PAYLOAD_MALFORMED)
        assert self.dh is not None
        # a responder needs g^xy for KEYMAT when message 3 comes: a worker
        # thread computes it meanwhile
        self.gxy = start_shared(self.engine, self.dh, ke.data, not self.initiator)

    # ------------------------------------------------------------ policy
    def _policy_on(self) -> bool:
        policy = self.engine.policy
        return policy is not None and policy.active

    def _client_ids(self) -> tuple[ClientId, ClientId]:
        """(ours, the peer's) phase-2 IDs: as sent or received, else the
        IKE addresses."""
        ids = self.ids_sent if self.initiator else self.ids_received
        if ids is None:
            return ClientId.host(self.sa.local[0]), ClientId.host(self.sa.remote[0])
        idci, idcr = ClientId.of(ids[0]), ClientId.of(ids[1])
        return (idci, idcr) if self.initiator else (idcr, idci)

    def _ask_policy(self, protos: tuple[ProtoChoice, ...], pfs: bool
                    ) -> tuple[bool, str, Phase2Proposal]:
        policy = self.engine.policy
        local_id, remote_id = self._client_ids()
        prop = Phase2Proposal(protos, pfs, local_id, remote_id)
        if policy is None or not policy.active:
            return True, "", prop
        proof = self.engine.peer_proofs.get(self.sa.cookies)
        ok, why = policy.allowed(prop, self.sa,
                                 "initiator" if self.initiator else "responder", proof)
        return ok, why, prop

    def _policy_allows(self, chosen: proposal.Chosen, pfs: bool) -> tuple[bool, str]:
        protos = tuple(ProtoChoice.of(p.protocol_id, xf) for p, xf, _ in chosen.protos)
        ok, why, prop = self._ask_policy(protos, pfs)
        if ok:
            if why:
                self.debug(30, "proposal %d (%s) %s", chosen.proposal_number,
                           prop.summary(), why)
            return True, why
        return False, f"({prop.summary()}) {why}"

    def _policy_filter(self, pfs: bool):
        """Responder: the check of each candidate proposal; a refusal is
        logged once, with the assertions that decided."""
        def check(chosen: proposal.Chosen) -> bool:
            ok, why = self._policy_allows(chosen, pfs)
            if not ok:
                log.logger(Cls.POLICY).warning(
                    "Quick Mode from %s, connection %s: proposal %d %s",
                    self.sa.remote[0], self.conn_name, chosen.proposal_number, why)
            return ok
        return check

    def _policy_suites(self, conn: "Connection") -> tuple["SuiteSpec", ...]:
        """Initiator: the configured suites less the transforms the policy
        forbids (a suite left without a transform for one of its protocols
        is not offered); each omission is logged."""
        if not self._policy_on():
            return tuple(conn.suites)
        out = []
        for suite in conn.suites:
            kept, why = self._suite_under_policy(suite)
            if kept is None:
                log.logger(Cls.POLICY).warning(
                    "connection %s: suite %s not offered: %s", conn.name, suite.name,
                    why)
                continue
            if kept != suite:
                log.logger(Cls.POLICY).warning(
                    "connection %s: suite %s offered without the transforms the "
                    "policy forbids: %s", conn.name, suite.name, why)
            out.append(kept)
        if not out:
            raise ExchangeFailed(f"connection {conn.name}: the policy forbids every "
                                 "suite it could offer")
        return tuple(out)

    def _suite_under_policy(self, suite: "SuiteSpec"
                            ) -> tuple["SuiteSpec | None", str]:
        """The suite with only the transforms that take part in some
        combination the policy allows (None if a protocol keeps none), and
        the reason of the last refusal."""
        natt = self.sa.natt
        allowed: list[set[int]] = [set() for _ in suite.protocols]
        why = ""
        combos = itertools.product(*(range(len(p.transforms)) for p in suite.protocols))
        for combo in itertools.islice(combos, MAX_POLICY_COMBINATIONS):
            specs = [p.transforms[i] for p, i in zip(suite.protocols, combo)]
            protos = tuple(
                ProtoChoice.of(p.protocol_id, proposal.ipsec_transform(
                    1, spec, natt, p.protocol_id))
                for p, spec in zip(suite.protocols, specs))
            pfs = any(spec.group is not None for spec in specs)
            ok, reason, prop = self._ask_policy(protos, pfs)
            if ok:
                for k, i in enumerate(combo):
                    allowed[k].add(i)
            else:
                why = f"({prop.summary()}) {reason}"
        if any(not a for a in allowed):
            return None, why
        protocols = tuple(
            dataclasses.replace(p, transforms=tuple(
                t for i, t in enumerate(p.transforms) if i in allowed[k]))
            for k, p in enumerate(suite.protocols))
        if all(len(p.transforms) == len(q.transforms)
               for p, q in zip(protocols, suite.protocols)):
            return suite, ""
        return dataclasses.replace(suite, protocols=protocols), why

    # ------------------------------------------------------------ initiator
    def start(self, now: float) -> None:
        conn = self.conn
        assert conn is not None
        if not conn.suites:
            raise ExchangeFailed(f"connection {conn.name} has no usable suite")
        self.local_sel, self.remote_sel = self.engine.connection_selectors(conn, self.sa)
        ids = None
        if conn.local_id is not None or conn.remote_id is not None:
            # the IDs as configured (a range stays a range), with their
            # protocol and port
            ids = (_phase2_id(conn.local_id, self.local_sel),
                   _phase2_id(conn.remote_id, self.remote_sel))
        self.ids_sent = ids
        suites = self.offered = self._policy_suites(conn)
        pids = []
        for s in suites:
            for p in s.protocols:
                if p.protocol_id not in pids:
                    pids.append(p.protocol_id)
        self._allocate_spis(pids)
        self.ni = self.engine.rand.bytes(NONCE_LEN)
        payloads: list = [proposal.phase2_sa(suites, self.spis, self.sa.natt),
                          _core.Nonce(self.ni)]
        group = proposal.pfs_group(suites)
        if group is not None:
            self._make_dh(group)
            assert self.dh is not None
            payloads.append(_core.KE(self.dh.public))
        if ids is not None:
            payloads += list(ids)
        payloads += self._nat_oa()
        self.step = 1
        self.debug(10, "sending message 1 for connection %s (%s - %s)", conn.name,
                   self.local_sel, self.remote_sel)
        self.transmit(self._protect(payloads), now, expect_reply=True)

    def _nat_oa(self) -> list:
        """NAT-OA payloads when a NAT is in the way and transport mode is
        offered (initiator) or chosen (responder) (RFC 3947 5.2): NAT-OAi,
        the initiator's address, then NAT-OAr, the responder's, each as the
        sender knows it (its own, and its peer's as seen from here)."""
        natt = self.sa.natt
        if not natt.nat_detected or self.conn is None:
            return []
        if self.initiator:
            transport = any(t.encap_mode == EncapMode.TRANSPORT
                            for s in self.conn.suites for p in s.protocols
                            for t in p.transforms)
            hosts = (self.sa.local[0], self.sa.remote[0])
        else:
            assert self.chosen is not None
            transport = any(
                base_encap_mode(a.as_int()) == EncapMode.TRANSPORT
                for _, xf, _ in self.chosen.protos for a in xf.attributes
                if a.type == 4)
            hosts = (self.sa.remote[0], self.sa.local[0])
        if not transport:
            return []
        t = 21 if natt.natd_type == 20 else 131
        out = []
        for host in hosts:
            ip = ipaddress.ip_address(host)
            out.append(_core.NatOA(IdType.IPV4_ADDR if ip.version == 4
                                   else IdType.IPV6_ADDR, ip.packed, t))
        return out

    def handle(self, msg: InMessage, now: float) -> None:
        if msg.header.exchange_type != self.kind:
            return
        if not msg.encrypted:
            raise Rejected("Quick Mode message not encrypted", NotifyType.INVALID_FLAGS)
        if self.initiator and self.step == 1:
            self._i_got_2(msg, now)
        elif not self.initiator and self.step == 0:
            self._r_got_1(msg, now)
        elif not self.initiator and self.step == 2:
            self._r_got_3(msg, now)
        else:
            self.debug(20, "unexpected message at step %d dropped", self.step)

    def _i_got_2(self, msg: InMessage, now: float) -> None:
        self._check_hash(msg, self.ni)
        assert self.conn is not None and self.sa.cipher is not None
        self.sa.cipher.commit(self.mid)
        reply = msg.one(_core.SA, "SA")
        self.nr = _nonce(msg)
        offered = self.offered or self.conn.suites
        self.chosen = proposal.accept_phase2_reply(reply, offered, self.sa.natt)
        ids = msg.all(_core.ID)
        if self.ids_sent is not None:
            if len(ids) != 2 or [(i.id_type, i.data, i.protocol, i.port) for i in ids] != [
                    (i.id_type, i.data, i.protocol, i.port) for i in self.ids_sent]:
                raise ExchangeFailed("responder changed the IDs",
                                     NotifyType.INVALID_ID_INFORMATION)
        elif ids:
            raise ExchangeFailed("responder sent IDs we did not send",
                                 NotifyType.INVALID_ID_INFORMATION)
        ke = msg.opt(_core.KE, "KE")
        ok, why = self._policy_allows(self.chosen, ke is not None)
        if not ok:
            raise ExchangeFailed(f"the responder's choice {why}",
                                 NotifyType.NO_PROPOSAL_CHOSEN)
        self._pfs(ke, self.chosen.group)
        self.peer_spis = _peer_spis(reply.proposals)
        self.peer_nat_oa = [(o.id_type, o.data) for o in msg.all(_core.NatOA)]
        lifetime.apply(self.chosen, msg.all(_core.Notify), self.spis, self.peer_spis,
                       self.sa.remote[0])
        self.got_reply(msg)
        self.ipsec = self._make_ipsec(now, self.peer_spis)
        h3 = self.sa.keys.prf_a(b"\0" + self.mid.to_bytes(4, "big") + self.ni + self.nr)
        self.step = 3
        self.transmit(encode_protected(self.sa, self.kind, self.mid, [_core.Hash(h3)]),
                      now, expect_reply=False)
        self.finish(now)
        self.sa.cipher.forget(self.mid)
        self.engine.phase2_established(self, self.ipsec, now)

    # ------------------------------------------------------------ responder
    def _r_got_1(self, msg: InMessage, now: float) -> None:
        self._check_hash(msg, b"")
        assert self.sa.cipher is not None
        self.sa.cipher.commit(self.mid)
        peer_sa = msg.one(_core.SA, "SA")
        if peer_sa.proposals:
            first = peer_sa.proposals[0]
            self.offer_spi = (first.protocol_id, first.spi)
        self.ni = _nonce(msg)
        ids = msg.all(_core.ID)
        if len(ids) not in (0, 2):
            raise ExchangeFailed(f"{len(ids)} ID payloads", NotifyType.PAYLOAD_MALFORMED)
        if ids:
            self.remote_sel = id_selector(ids[0])
            self.local_sel = id_selector(ids[1])
            self.ids_received = (ids[0], ids[1])
        else:
            self.remote_sel = host_selector(self.sa.remote[0])
            self.local_sel = host_selector(self.sa.local[0])
        conn = self.engine.find_responder_connection(self.sa, self.local_sel,
                                                     self.remote_sel)
        if conn is None:
            raise ExchangeFailed(
                f"no connection for {self.remote_sel} - {self.local_sel} from "
                f"{self.sa.remote[0]}", NotifyType.INVALID_ID_INFORMATION)
        self.conn = conn
        ke = msg.opt(_core.KE, "KE")
        # a lifetime longer than ours is taken, cut to ours and announced
        suites, originals = lifetime.relaxed(conn.suites)
        self.chosen = proposal.select_phase2(
            peer_sa, suites, self.sa.natt,
            self._policy_filter(ke is not None) if self._policy_on() else None)
        cut = lifetime.cap(self.chosen, originals)
        if self.chosen.group is not None:
            self._make_dh(self.chosen.group)
            self._pfs(ke, self.chosen.group)
        self._allocate_spis([p.protocol_id for p, _, _ in self.chosen.protos])
        self.peer_spis = _peer_spis([prop for prop, _, _ in self.chosen.protos])
        self.nr = self.engine.rand.bytes(NONCE_LEN)
        payloads: list = [proposal.responder_sa(peer_sa, self.chosen, self.spis),
                          _core.Nonce(self.nr)]
        if self.chosen.group is not None:
            assert self.dh is not None
            payloads.append(_core.KE(self.dh.public))
        if ids:
            payloads += [_core.ID(i.id_type, i.data, i.protocol, i.port) for i in ids]
        payloads += lifetime.notifications(cut, self.spis)
        for pid, (secs, kb) in cut.items():
            self.debug(10, "%s: the proposed lifetime is longer than ours; "
                       "RESPONDER-LIFETIME %s s, %s KB", name_of(ProtocolId, pid),
                       secs or "-", kb or "-")
        self.peer_nat_oa = [(o.id_type, o.data) for o in msg.all(_core.NatOA)]
        payloads += self._nat_oa()
        self.got_reply(msg)
        self.step = 2
        self.debug(10, "connection %s, suite %s; sending message 2", conn.name,
                   self.chosen.suite_name)
        self.transmit(self._protect(payloads, self.ni), now, expect_reply=True)
        # renegotiating a flow that is up: the initiator may use the new SA
        # as soon as it has message 2, so its inbound half goes in now
        ipsec = self._make_ipsec(now, self.peer_spis)
        if self.engine.lifecycle.rekeys_flow(ipsec):
            self.ipsec = ipsec
            self.engine.lifecycle.install_inbound(ipsec)

    def _r_got_3(self, msg: InMessage, now: float) -> None:
        if len(msg.payloads) < 1 or not isinstance(msg.payloads[0], _core.Hash):
            raise Rejected("message 3 lacks HASH(3)", NotifyType.PAYLOAD_MALFORMED)
        assert self.sa.keys is not None and self.sa.cipher is not None
        want = self.sa.keys.prf_a(b"\0" + self.mid.to_bytes(4, "big") + self.ni + self.nr)
        if not _core.ct_eq(msg.payloads[0].data, want):
            raise Rejected("HASH(3) does not verify",
                           NotifyType.INVALID_HASH_INFORMATION)
        self.sa.cipher.commit(self.mid)
        self.got_reply(msg)
        if self.ipsec is None:
            self.ipsec = self._make_ipsec(now, self.peer_spis)
        self.finish(now)
        self.sa.cipher.forget(self.mid)
        self.engine.phase2_established(self, self.ipsec, now)

    # ------------------------------------------------------------ both
    def _make_ipsec(self, now: float, peer_spis: dict[int, bytes]) -> IpsecSA:
        assert self.chosen is not None and self.conn is not None
        assert self.sa.keys is not None
        assert self.local_sel is not None and self.remote_sel is not None
        gxy = None if self.gxy is None else shared_value(self.gxy)
        protos = []
        for prop, xf, spec in self.chosen.protos:
            pid = prop.protocol_id
            d = {a.type: a.as_int() for a in xf.attributes}
            secs, kb = self.chosen.lifes.get(pid, (0, 0))
            p = IpsecProto(
                protocol_id=pid, spi_in=self.spis[pid], spi_out=peer_spis[pid],
                transform_id=xf.transform_id,
                encap_mode=d.get(4, EncapMode.TUNNEL),
                auth_alg=d.get(5), key_bits=d.get(6), key_rounds=d.get(7),
                group=d.get(3), life_seconds=secs, life_kbytes=kb,
                replay_window=self.chosen.replay_windows.get(pid, 16))
            if p.key_bits is None and pid == ProtocolId.IPSEC_ESP:
                p.key_bits = algs.key_bits_for(p.transform_id, None) or None
            n = keymat_length(p)
            # KEYMAT of each direction is keyed by the SPI its receiver chose;
            # the nonces are always Ni_b | Nr_b
            p.keymat_in = self.sa.keys.keymat(pid, p.spi_in, self.ni, self.nr, gxy, n)
            p.keymat_out = self.sa.keys.keymat(pid, p.spi_out, self.ni, self.nr, gxy, n)
            protos.append(p)
        ipsec = IpsecSA(name=self.conn.name, isakmp=self.sa, initiator=self.initiator,
                        protos=protos, local=self.sa.local, remote=self.sa.remote,
                        local_sel=self.local_sel, remote_sel=self.remote_sel,
                        created=now, message_id=self.mid,
                        suite_name=self.chosen.suite_name, pfs_group=self.chosen.group,
                        peer_oa=self._peer_original_address())
        return ipsec

    def _peer_original_address(self) -> str | None:
        """The peer's own address from its NAT-OA payloads: NAT-OAr from a
        responder, NAT-OAi from an initiator (None if it sent none)."""
        oas = self.peer_nat_oa
        if len(oas) != 2:
            return None
        id_type, data = oas[1] if self.initiator else oas[0]
        if (id_type, len(data)) not in ((IdType.IPV4_ADDR, 4), (IdType.IPV6_ADDR, 16)):
            self.debug(10, "NAT-OA of type %d with %d bytes ignored", id_type,
                       len(data))
            return None
        return str(ipaddress.ip_address(data))


def _phase2_id(spec, sel: Selector) -> _core.ID:
    """IDci/IDcr of a configured IPsec-ID (None: the host of ``sel``)."""
    if spec is None:
        return selector_id(sel)
    return spec_id(spec, str(sel.network.network_address))


#: SPIs 1-255 are reserved by IANA and 0 means none (RFC 4303 2.1)
MIN_SPI = 256


def _peer_spis(props: list[_core.Proposal]) -> dict[int, bytes]:
    out = {}
    for prop in props:
        if len(prop.spi) != 4:
            raise ExchangeFailed(f"SPI of {len(prop.spi)} bytes for "
                                 f"{name_of(ProtocolId, prop.protocol_id)}",
                                 NotifyType.INVALID_SPI)
        if int.from_bytes(prop.spi, "big") < MIN_SPI:
            raise ExchangeFailed(f"reserved SPI {prop.spi.hex()} for "
                                 f"{name_of(ProtocolId, prop.protocol_id)}",
                                 NotifyType.INVALID_SPI)
        out[prop.protocol_id] = prop.spi
    return out


def _nonce(msg: InMessage) -> bytes:
    n = msg.one(_core.Nonce, "NONCE").data
    if not 8 <= len(n) <= 256:
        raise ExchangeFailed(f"nonce of {len(n)} bytes (must be 8-256)",
                             NotifyType.PAYLOAD_MALFORMED)
    return n


__all__ = ["QuickMode", "keymat_length", "base_encap_mode"]
