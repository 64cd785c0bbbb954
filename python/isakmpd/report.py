"""The reports: the SA report of the FIFO ``S`` command, in isakmpd's layout,
and the state report of SIGUSR1 and the FIFO ``r``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .constants import (AuthAlg, EncAlg, EspTransform, ExchangeType, HashAlg,
                        ProtocolId, name_of)
from .exchange.auth import method_name
from .exchange.ids import describe
from .sa import IpsecProto, IpsecSA, IsakmpSA, is_udp_encap

if TYPE_CHECKING:
    from .engine import Engine

_ESP_NAMES = {EspTransform.TDES: "3DES", EspTransform.CAST: "Cast-128",
              EspTransform.BLOWFISH: "Blowfish", EspTransform.AES: "AES (CBC)",
              EspTransform.AES_CTR: "AES (CTR)", EspTransform.AES_GCM_16: "AES (GCM)",
              EspTransform.AES_GMAC: "AES (GMAC)", EspTransform.NULL: "NULL"}
_AUTH_NAMES = {AuthAlg.HMAC_MD5: "HMAC-MD5", AuthAlg.HMAC_SHA: "HMAC-SHA1",
               AuthAlg.HMAC_RIPEMD: "HMAC-RIPEMD-160", AuthAlg.HMAC_SHA2_256: "HMAC-SHA2-256",
               AuthAlg.HMAC_SHA2_384: "HMAC-SHA2-384", AuthAlg.HMAC_SHA2_512: "HMAC-SHA2-512"}
_IKE_ENC = {EncAlg.TDES_CBC: "3DES", EncAlg.AES_CBC: "AES", EncAlg.BLOWFISH_CBC: "Blowfish",
            EncAlg.CAST_CBC: "Cast-128"}

FLAG_READY = 0x01


def _timeouts(now: float, created: float | None, life: int,
              soft_at: float | None = None, kbytes: int = 0) -> list[str]:
    """isakmpd's lifetime lines: seconds, the soft (renegotiation) and hard
    timeouts, kilobytes."""
    out = []
    if life and created is not None:
        out.append(f"Lifetime: {life} seconds")
        if soft_at is not None and soft_at > now:
            out.append(f"Soft timeout in {int(soft_at - now)} seconds")
        out.append(f"Hard timeout in {max(0, int(created + life - now))} seconds")
    if kbytes:
        out.append(f"Lifetime: {kbytes} kilobytes")
    return out


def _id_text(body: bytes) -> str:
    """An ID payload body (type, protocol, port, data) for the report."""
    if len(body) < 4:
        return body.hex()
    return describe(body[0], body[4:], body[1], int.from_bytes(body[2:4], "big"))


def isakmp_lines(sa: IsakmpSA, now: float) -> list[str]:
    role = "Initiator" if sa.initiator else "Responder"
    lines = [f"SA name: {sa.peer_name} (Phase 1/{role})",
             f"src: {sa.local[0]} dst: {sa.remote[0]}"]
    p = sa.params
    if p is not None:
        lines += _timeouts(now, sa.established_at, p.life_seconds, sa.soft_at)
    flags = FLAG_READY if sa.established else 0
    lines.append(f"Flags 0x{flags:08x}")
    lines.append(f"icookie {sa.icookie.hex()} rcookie {sa.rcookie.hex()}")
    lines.append(f"Exchange type: {name_of(ExchangeType, sa.exchange_type)}, "
                 f"state: {sa.state}")
    if p is not None:
        lines.append(f"Encryption algorithm: {_IKE_ENC.get(p.enc_alg, str(p.enc_alg))}"
                     f" ({p.key_len * 8} bits), hash: {name_of(HashAlg, p.hash_alg)}, "
                     f"group: {p.group}")
    if p is not None:
        lines.append(f"Authentication: {method_name(p.auth_method)}")
    if sa.id_local:
        lines.append(f"Local ID: {_id_text(sa.id_local)}")
    if sa.id_remote:
        lines.append(f"Remote ID: {_id_text(sa.id_remote)}")
    if sa.peer_cert_subject:
        lines.append(f"Remote certificate: {sa.peer_cert_subject}")
    elif sa.peer_auth and sa.established:
        lines.append(f"Peer authenticated by: {sa.peer_auth}")
    if sa.natt.natd_type:
        n = sa.natt
        lines.append(f"NAT-T: {n.version}, local {'behind' if n.local_behind_nat else 'not behind'}"
                     f" NAT, peer {'behind' if n.peer_behind_nat else 'not behind'} NAT"
                     f"{', port ' + str(sa.local[1]) if n.floated else ''}")
    return lines


def _proto_lines(p: IpsecProto, idx: int) -> list[str]:
    out = [f"SPI {idx}: {p.spi_out.hex()} (out) {p.spi_in.hex()} (in)",
           f"Transform: IPsec {name_of(ProtocolId, p.protocol_id).removeprefix('IPSEC_')}"]
    if p.protocol_id == ProtocolId.IPSEC_ESP:
        out.append(f"Encryption algorithm: {_ESP_NAMES.get(p.transform_id, str(p.transform_id))}")
        if p.key_bits:
            out.append(f"Encryption key length: {p.key_bits // 8}")
    if p.auth_alg is not None:
        out.append(f"Authentication algorithm: {_AUTH_NAMES.get(p.auth_alg, str(p.auth_alg))}")
    mode = "tunnel" if p.mode == 1 else "transport"
    out.append(f"Encapsulation: {mode}{' (UDP)' if is_udp_encap(p.encap_mode) else ''}")
    return out


def ipsec_lines(sa: IpsecSA, now: float) -> list[str]:
    role = "Initiator" if sa.initiator else "Responder"
    lines = [f"SA name: {sa.name} (Phase 2/{role})",
             f"src: {sa.local[0]} dst: {sa.remote[0]}"]
    lines += _timeouts(now, sa.established_at, sa.life_seconds,
                       None if sa.replaced else sa.soft_at, sa.life_kbytes)
    if sa.replaced:
        lines.append("Replaced by a newer SA; deleted soon")
    lines.append(f"Flags 0x{FLAG_READY if sa.state == 'installed' else 0:08x}")
    lines.append(f"phase 1 icookie {sa.isakmp.icookie.hex()} "
                 f"rcookie {sa.isakmp.rcookie.hex()}")
    lines.append(f"Local ID: {sa.local_sel}, Remote ID: {sa.remote_sel}")
    if sa.pfs_group:
        lines.append(f"PFS group: {sa.pfs_group}")
    for i, p in enumerate(sa.protos):
        lines += _proto_lines(p, i)
    if sa.kernel_error:
        lines.append(f"Kernel: not installed ({sa.kernel_error})")
    return lines


def sa_report(engine: Engine, now: float) -> str:
    blocks = []
    for sa in engine.table.isakmp_sas():
        blocks.append("\n".join(isakmp_lines(sa, now)))
    for s in engine.table.ipsec_sas():
        blocks.append("\n".join(ipsec_lines(s, now)))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


# ---------------------------------------------------------------- SIGUSR1 / FIFO r
#: tags whose values are secrets: the report shows that they are set, not them
SECRET_TAGS = frozenset({"authentication"})


def _sa_lines(engine: Engine, now: float) -> list[str]:
    out = []
    for sa in engine.table.isakmp_sas():
        life = sa.params.life_seconds if sa.params else 0
        kb = sa.params.life_kbytes if sa.params else 0
        flags = FLAG_READY if sa.established else 0
        refcnt = 1 + len(engine.table.ipsec_of(sa))
        out += [
            (f"sa_report: {sa.peer_name} phase 1 doi 1 flags 0x{flags:08x} "
             f"state {sa.state}"),
            f"sa_report: icookie {sa.icookie.hex()} rcookie {sa.rcookie.hex()}",
            (f"sa_report: src {sa.local[0]}:{sa.local[1]} "
             f"dst {sa.remote[0]}:{sa.remote[1]}"),
            f"sa_report: msgid 00000000 refcnt {refcnt}",
            f"sa_report: life secs {life} kb {kb}",
        ]
    for s in engine.table.ipsec_sas():
        flags = FLAG_READY if s.state == "installed" else 0
        out += [
            f"sa_report: {s.name} phase 2 doi 1 flags 0x{flags:08x} state {s.state}",
            (f"sa_report: icookie {s.isakmp.icookie.hex()} "
             f"rcookie {s.isakmp.rcookie.hex()}"),
            f"sa_report: msgid {s.message_id:08x}",
            f"sa_report: life secs {s.life_seconds} kb {s.life_kbytes}",
        ]
        for p in s.protos:
            out.append(f"sa_report: suite {s.suite_name or '-'} proto "
                       f"{name_of(ProtocolId, p.protocol_id)} spi_in {p.spi_in.hex()} "
                       f"spi_out {p.spi_out.hex()}")
        out.append(f"sa_report: src_net {s.local_sel} dst_net {s.remote_sel}")
    return out


def _exchange_lines(engine: Engine) -> list[str]:
    out = []
    for sa in engine.table.isakmp_sas():
        for ex in sa.exchanges.values():
            if ex.done:
                continue
            role = "initiator" if ex.initiator else "responder"
            phase = 1 if ex.mid == 0 else 2
            out.append(f"exchange_report: exchange {name_of(ExchangeType, ex.kind)} "
                       f"{role} phase {phase} doi 1 step {ex.step} "
                       f"icookie {sa.icookie.hex()} rcookie {sa.rcookie.hex()} "
                       f"msgid {ex.mid:08x} xmits {ex.xmits}")
    return out


def _connection_lines(engine: Engine, now: float) -> list[str]:
    from .conf import model

    active, passive = model.connections(engine.conf)
    nxt = engine.timers.pending()
    check = next((t for t in nxt if t.name == "connection_checker"), None)
    when = f"{max(0, int(check.when - now))} seconds" if check else "never"
    out = [f"connection_report: connection {n} active, next check in {when}"
           for n in active]
    out += [f"connection_report: passive connection {n}" for n in passive]
    return out


def full_report(engine: Engine, sockets: list[str], now: float) -> list[str]:
    """The report of SIGUSR1 and the FIFO ``r``, without time stamps: SAs,
    exchanges under way, sockets, connections, timers, then the non-default
    configuration (pre-shared keys left out)."""
    out = _sa_lines(engine, now) + _exchange_lines(engine)
    out += [f"transport_report: {s}" for s in sockets]
    out += _connection_lines(engine, now)
    out += [f"timer_report: event {t.name} scheduled in "
            f"{max(0, int(t.when - now))} seconds" for t in engine.timers.pending()]
    for line in engine.conf.dump():
        tag, sep, _ = line.partition("=")
        if sep and tag.strip().lower() in SECRET_TAGS:
            line = f"{tag}=\t(secret, not shown)"
        out.append(line)
    return out
