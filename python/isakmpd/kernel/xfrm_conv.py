"""Between the kernel-interface records and XFRM message fields.

``*_fields`` functions build the dicts that :mod:`.xfrm_msgs` classes
encode; ``*_from`` functions read decoded messages back into records. Read
functions never trust the kernel's data: a value they cannot use raises
``ValueError``, which callers turn into a skipped record or a KernelError.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from . import xfrm_msgs as m
from .base import (
    IPPROTO_COMP,
    AcquireEvent,
    Encap,
    ExpireEvent,
    Lifetimes,
    PolicySpec,
    SaRecord,
    SaSpec,
    Selector,
    Template,
    family_of,
)

DIR_CODES = {"in": m.XFRM_POLICY_IN, "out": m.XFRM_POLICY_OUT, "fwd": m.XFRM_POLICY_FWD}
DIR_NAMES = {v: k for k, v in DIR_CODES.items()}
MODE_CODES = {"transport": m.XFRM_MODE_TRANSPORT, "tunnel": m.XFRM_MODE_TUNNEL}
MODE_NAMES = {v: k for k, v in MODE_CODES.items()}
ALL_ALGS = 0xFFFFFFFF


def addr_bytes(address: str | None) -> bytes:
    """``xfrm_address_t`` of an address (16 bytes; zero for None)."""
    if address is None:
        return bytes(16)
    return ipaddress.ip_address(address).packed.ljust(16, b"\0")


def addr_text(raw: bytes, family: int) -> str:
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, bytes(raw[:4]))
    if family == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, bytes(raw[:16]))
    raise ValueError(f"address family {family} is neither IPv4 nor IPv6")


def selector_fields(sel: Selector | None) -> dict[str, Any]:
    if sel is None:
        return {}
    return {
        "daddr": addr_bytes(sel.dst),
        "saddr": addr_bytes(sel.src),
        "dport": sel.dport,
        "dport_mask": 0xFFFF if sel.dport else 0,
        "sport": sel.sport,
        "sport_mask": 0xFFFF if sel.sport else 0,
        "family": sel.family,
        "prefixlen_d": sel.dst_prefix,
        "prefixlen_s": sel.src_prefix,
        "proto": sel.proto,
    }


def selector_from(fields: dict[str, Any]) -> Selector | None:
    """The selector of a decoded message; None for an empty (AF_UNSPEC) one."""
    family = fields.get("family", 0)
    if family == 0:
        return None
    return Selector(
        addr_text(fields["saddr"], family),
        fields["prefixlen_s"],
        addr_text(fields["daddr"], family),
        fields["prefixlen_d"],
        fields["proto"],
        fields["sport"] if fields["sport_mask"] else 0,
        fields["dport"] if fields["dport_mask"] else 0,
    )


def host_selector(src: str, dst: str) -> Selector:
    bits = 32 if family_of(src) == socket.AF_INET else 128
    return Selector(src, bits, dst, bits)


def lifetime_fields(lt: Lifetimes | None = None) -> dict[str, int]:
    """``xfrm_lifetime_cfg``: byte and packet limits XFRM_INF unless set."""
    lt = lt or Lifetimes()
    return {
        "soft_byte_limit": lt.soft_bytes or m.XFRM_INF,
        "hard_byte_limit": lt.hard_bytes or m.XFRM_INF,
        "soft_packet_limit": m.XFRM_INF,
        "hard_packet_limit": m.XFRM_INF,
        "soft_add_expires_seconds": lt.soft_seconds,
        "hard_add_expires_seconds": lt.hard_seconds,
    }


def sa_fields(sa: SaSpec) -> tuple[dict[str, Any], list[list[Any]]]:
    """``xfrm_usersa_info`` fields and XFRMA_* attributes of an SA."""
    selector = sa.selector
    flags = 0
    if selector is None and sa.mode == "transport":
        selector = host_selector(sa.src, sa.dst)
    elif selector is None:
        flags |= m.XFRM_STATE_AF_UNSPEC  # tunnel: inner family may differ
    window = sa.replay_window
    info = {
        "sel": selector_fields(selector),
        "id": {"daddr": addr_bytes(sa.dst), "spi": sa.spi, "proto": sa.proto},
        "saddr": addr_bytes(sa.src),
        "lft": lifetime_fields(sa.lifetimes),
        "reqid": sa.reqid,
        "family": sa.family,
        "mode": MODE_CODES[sa.mode],
        "replay_window": window if window <= 32 else 0,
        "flags": flags,
    }
    attrs: list[list[Any]] = []
    if sa.aead is not None:
        attrs.append(
            [
                "XFRMA_ALG_AEAD",
                _algo(sa.aead.name, sa.aead.key, alg_icv_len=sa.aead.icv_bits),
            ]
        )
    if sa.enc is not None:
        attrs.append(["XFRMA_ALG_CRYPT", _algo(sa.enc.name, sa.enc.key)])
    if sa.auth is not None:
        attrs.append(
            [
                "XFRMA_ALG_AUTH_TRUNC",
                _algo(sa.auth.name, sa.auth.key, alg_trunc_len=sa.auth.trunc_bits),
            ]
        )
    if sa.comp is not None:
        attrs.append(["XFRMA_ALG_COMP", _algo(sa.comp.name, sa.comp.key)])
    if sa.encap is not None:
        attrs.append(
            [
                "XFRMA_ENCAP",
                {
                    "encap_type": sa.encap.type,
                    "encap_sport": sa.encap.sport,
                    "encap_dport": sa.encap.dport,
                    "encap_oa": addr_bytes(sa.encap.oa),
                },
            ]
        )
    if window > 32:  # the legacy replay state has a 32-bit bitmap
        attrs.append(
            [
                "XFRMA_REPLAY_ESN_VAL",
                {"bmp_len": (window + 31) // 32, "replay_window": window},
            ]
        )
    return info, attrs


def _algo(name: str, key: bytes, **extra: int) -> dict[str, Any]:
    raw = name.encode("ascii")
    if not raw or len(raw) >= 64:
        raise ValueError(f"algorithm name {name!r} is empty or too long for XFRM")
    return {
        "alg_name": raw,
        "alg_key_len": len(key) * 8,
        "alg_key": bytes(key),
        **extra,
    }


def template_fields(t: Template, policy: PolicySpec) -> dict[str, Any]:
    family = family_of(t.dst) if t.dst is not None else policy.selector.family
    optional = t.proto == IPPROTO_COMP and policy.direction != "out"
    return {
        "id": {"daddr": addr_bytes(t.dst), "spi": t.spi, "proto": t.proto},
        "family": family,
        "saddr": addr_bytes(t.src),
        "reqid": t.reqid,
        "mode": MODE_CODES[t.mode],
        "optional": 1 if optional else 0,  # small packets go uncompressed
        "aalgos": ALL_ALGS,
        "ealgos": ALL_ALGS,
        "calgos": ALL_ALGS,
    }


def policy_fields(p: PolicySpec) -> tuple[dict[str, Any], list[list[Any]]]:
    info = {
        "sel": selector_fields(p.selector),
        "lft": lifetime_fields(),
        "priority": p.priority,
        "dir": DIR_CODES[p.direction],
        "action": m.XFRM_POLICY_BLOCK if p.action == "block" else m.XFRM_POLICY_ALLOW,
    }
    attrs: list[list[Any]] = []
    if p.templates:
        attrs.append(
            ["XFRMA_TMPL", {"templates": [template_fields(t, p) for t in p.templates]}]
        )
    return info, attrs


def template_from(t: dict[str, Any], sel_family: int) -> Template:
    mode = MODE_NAMES.get(t["mode"], str(t["mode"]))
    family = t["family"] or sel_family
    src: str | None = None
    dst: str | None = None
    if any(t["id"]["daddr"]) or any(t["saddr"]) or mode == "tunnel":
        src = addr_text(t["saddr"], family)
        dst = addr_text(t["id"]["daddr"], family)
    return Template(t["id"]["proto"], mode, src, dst, t["reqid"], t["id"]["spi"])


def _templates(msg: Any, sel_family: int) -> tuple[Template, ...]:
    tmpl_attr = msg.get_attr("XFRMA_TMPL")
    raw = tmpl_attr.get("templates", []) if tmpl_attr is not None else []
    return tuple(template_from(t, sel_family) for t in raw)


def policy_from(msg: Any) -> PolicySpec | None:
    """A dumped policy; None for one outside this interface's model."""
    sel = selector_from(msg["sel"])
    direction = DIR_NAMES.get(msg["dir"])
    if sel is None or direction is None:
        return None
    templates = list(_templates(msg, sel.family))
    if msg["action"] == m.XFRM_POLICY_BLOCK:
        action = "block"
    else:
        action = "ipsec" if templates else "allow"
    if action == "block":
        templates = []
    return PolicySpec(sel, direction, action, msg["priority"], templates)


def _alg_name(msg: Any, *attrs: str) -> str | None:
    for attr in attrs:
        value = msg.get_attr(attr)
        if value is None:
            continue
        if not isinstance(value, dict) or not isinstance(value.get("alg_name"), str):
            raise ValueError(f"unreadable {attr}")
        return value["alg_name"]
    return None


def sa_record_from(msg: Any) -> SaRecord:
    family = msg["family"]
    enc = _alg_name(msg, "XFRMA_ALG_CRYPT")
    auth = _alg_name(msg, "XFRMA_ALG_AUTH_TRUNC", "XFRMA_ALG_AUTH")
    aead = _alg_name(msg, "XFRMA_ALG_AEAD")
    comp = _alg_name(msg, "XFRMA_ALG_COMP")
    encap = None
    raw_encap = msg.get_attr("XFRMA_ENCAP")
    if raw_encap is not None:
        oa = raw_encap["encap_oa"]
        encap = Encap(
            raw_encap["encap_sport"],
            raw_encap["encap_dport"],
            addr_text(oa, family) if any(oa) else None,
            raw_encap["encap_type"],
        )
    cur = msg["curlft"]
    return SaRecord(
        proto=msg["id"]["proto"],
        spi=msg["id"]["spi"],
        src=addr_text(msg["saddr"], family),
        dst=addr_text(msg["id"]["daddr"], family),
        mode=MODE_NAMES.get(msg["mode"], str(msg["mode"])),
        reqid=msg["reqid"],
        enc=enc,
        auth=auth,
        aead=aead,
        comp=comp,
        encap=encap,
        selector=selector_from(msg["sel"]),
        bytes=cur["bytes"],
        packets=cur["packets"],
        larval=not (enc or auth or aead or comp),
    )


def acquire_from(msg: Any) -> AcquireEvent:
    sel = selector_from(msg["sel"])
    policy = msg["policy"]
    pol_sel = selector_from(policy["sel"])
    if sel is None or pol_sel is None:
        raise ValueError("ACQUIRE without a selector family")
    proto = msg["id"]["proto"]
    templates = _templates(msg, sel.family)
    match = next((t for t in templates if t.proto == proto), None)
    tmpl_attr = msg.get_attr("XFRMA_TMPL")
    family = sel.family
    for raw in (tmpl_attr or {}).get("templates", []):
        if raw["id"]["proto"] == proto and raw["family"]:
            family = raw["family"]
            break
    return AcquireEvent(
        proto=proto,
        src=addr_text(msg["saddr"], family),
        dst=addr_text(msg["id"]["daddr"], family),
        selector=sel,
        policy=pol_sel,
        policy_index=policy["index"],
        policy_direction=DIR_NAMES.get(policy["dir"], str(policy["dir"])),
        reqid=match.reqid if match else 0,
        mode=match.mode if match else "tunnel",
        seq=msg["seq"],
        templates=templates,
    )


def expire_from(msg: Any) -> ExpireEvent:
    state = msg["state"]
    family = state["family"]
    return ExpireEvent(
        proto=state["id"]["proto"],
        spi=state["id"]["spi"],
        src=addr_text(state["saddr"], family),
        dst=addr_text(state["id"]["daddr"], family),
        mode=MODE_NAMES.get(state["mode"], str(state["mode"])),
        reqid=state["reqid"],
        hard=bool(msg["hard"]),
        selector=selector_from(state["sel"]),
    )
