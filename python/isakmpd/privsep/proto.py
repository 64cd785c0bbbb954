"""The monitor protocol: messages between the child and the privileged parent.

The two processes share an ``AF_UNIX`` ``SOCK_SEQPACKET`` socket pair, so a
message is one packet and a broken one cannot shift the next. A message is
one JSON object in UTF-8, at most :data:`MAX_MESSAGE` bytes, with at most
one file descriptor passed beside it (``SCM_RIGHTS``).

A request names its operation and its arguments::

    {"op": "BIND", "family": 4, "address": "0.0.0.0", "port": 500, "natt": false}

and the reply is ``{"ok": true, ...}`` with the results, or
``{"ok": false, "errno": 13, "error": "why"}``. Every request has a schema
(:data:`SCHEMAS`): the fields it must carry and how each is checked. A
request with a field missing, a field more, a value of the wrong type or out
of range is refused before anything is done. No code is ever built from a
message: JSON gives only dicts, lists, strings, numbers and booleans.

SAs and policies travel as plain records (:func:`sa_to_wire`,
:func:`sa_from_wire`...) that the parent checks field by field and then
rebuilds as :class:`~isakmpd.kernel.base.SaSpec` / ``PolicySpec``, whose own
checks run as well. The kernel's ACQUIRE and EXPIRE messages go the other
way, one event a message, on a socket of their own (request EVENTS).
"""

from __future__ import annotations

import array
import ipaddress
import json
import os
import socket
from collections.abc import Callable
from typing import Any

from ..kernel import algs
from ..kernel.base import (
    AcquireEvent,
    AeadAlgo,
    Algo,
    AuthAlgo,
    Encap,
    ExpireEvent,
    Lifetimes,
    PolicySpec,
    SaSpec,
    Selector,
    Template,
)

#: the largest message either side sends or accepts
MAX_MESSAGE = 65536
#: file descriptors beside one message
MAX_FDS = 1
#: the longest path a request may name
MAX_PATH = 4096
#: READDIR answers with at most this many names
MAX_DIR_ENTRIES = 1000


class ProtocolError(Exception):
    """A message that is not one this protocol allows (said why)."""


class PeerGone(Exception):
    """The other process closed its end."""


# ------------------------------------------------------------------ framing
def send(sock: socket.socket, message: dict[str, Any],
         fds: tuple[int, ...] | list[int] = ()) -> None:
    """One message (and at most one descriptor) as one packet."""
    data = json.dumps(message, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(data)} bytes is too long")
    if len(fds) > MAX_FDS:
        raise ProtocolError(f"{len(fds)} descriptors in one message")
    if fds:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        sock.sendmsg([data], anc)
    else:
        sock.sendmsg([data])


def receive(sock: socket.socket) -> tuple[Any, list[int]]:
    """One message: (the decoded JSON value, descriptors passed with it).

    PeerGone at end of file; ProtocolError for a truncated, oversized or
    undecodable message, after closing any descriptor that came with it.
    """
    fd_space = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize)
    data, anc, flags, _ = sock.recvmsg(MAX_MESSAGE + 1, fd_space)
    fds: list[int] = []
    for level, typ, cdata in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(cdata[:len(cdata) - len(cdata) % a.itemsize])
            fds.extend(a)
    if not data and not fds:
        raise PeerGone()
    try:
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(data) > MAX_MESSAGE:
            raise ProtocolError("message longer than "
                                f"{MAX_MESSAGE} bytes or with too many descriptors")
        if len(fds) > MAX_FDS:
            raise ProtocolError(f"{len(fds)} descriptors in one message")
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise ProtocolError(f"not JSON: {str(e)[:80]}") from None
    except ProtocolError:
        close_all(fds)
        raise
    return value, fds


def close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


# ------------------------------------------------------------------ checks
Check = Callable[[Any], Any]


def integer(lo: int, hi: int) -> Check:
    def check(v: Any) -> int:
        if type(v) is not int or not lo <= v <= hi:
            raise ProtocolError(f"expected an integer {lo}-{hi}, not {_show(v)}")
        return v
    return check


def boolean(v: Any) -> bool:
    if type(v) is not bool:
        raise ProtocolError(f"expected true or false, not {_show(v)}")
    return v


def text(max_len: int) -> Check:
    def check(v: Any) -> str:
        if type(v) is not str or len(v) > max_len or "\0" in v:
            raise ProtocolError(f"expected a string of at most {max_len} "
                                f"characters, not {_show(v)}")
        return v
    return check


def one_of(*values: Any) -> Check:
    def check(v: Any) -> Any:
        if type(v) not in (str, int) or v not in values:
            raise ProtocolError(f"expected one of {values}, not {_show(v)}")
        return v
    return check


def address(v: Any) -> str:
    if type(v) is not str or len(v) > 64:
        raise ProtocolError(f"expected an IP address, not {_show(v)}")
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        raise ProtocolError(f"{_show(v)} is not an IP address") from None


def hexbytes(max_len: int) -> Check:
    def check(v: Any) -> bytes:
        if type(v) is not str or len(v) > 2 * max_len:
            raise ProtocolError(f"expected at most {max_len} bytes in hex")
        try:
            return bytes.fromhex(v)
        except ValueError:
            raise ProtocolError("bad hex") from None
    return check


def optional(check: Check) -> Check:
    def opt(v: Any) -> Any:
        return None if v is None else check(v)
    return opt


def list_of(check: Check, max_items: int) -> Check:
    def lst(v: Any) -> list[Any]:
        if type(v) is not list or len(v) > max_items:
            raise ProtocolError(f"expected a list of at most {max_items} items")
        return [check(x) for x in v]
    return lst


def record(schema: dict[str, Check]) -> Check:
    """A JSON object with exactly these fields, each checked."""
    def rec(v: Any) -> dict[str, Any]:
        if type(v) is not dict:
            raise ProtocolError(f"expected an object, not {_show(v)}")
        missing = schema.keys() - v.keys()
        extra = v.keys() - schema.keys()
        if missing:
            raise ProtocolError(f"missing {', '.join(sorted(missing))}")
        if extra:
            raise ProtocolError(f"unknown {', '.join(sorted(map(str, extra)))[:200]}")
        out = {}
        for k, check in schema.items():
            try:
                out[k] = check(v[k])
            except ProtocolError as e:
                raise ProtocolError(f"{k}: {e}") from None
        return out
    return rec


def _show(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


U8, U16, U32 = integer(0, 0xFF), integer(0, 0xFFFF), integer(0, 0xFFFFFFFF)
U64 = integer(0, (1 << 64) - 1)
PROTO = one_of(50, 51, 108)
PATH = text(MAX_PATH)

# ------------------------------------------------------------------ requests
#: symbolic flags of GET_FD (the parent adds O_NOFOLLOW, O_CLOEXEC...)
OPEN_FLAGS = ("read", "write", "rdwr", "create", "trunc", "append", "excl")

SELECTOR = record({"src": address, "src_prefix": integer(0, 128), "dst": address,
                   "dst_prefix": integer(0, 128), "proto": U8, "sport": U16,
                   "dport": U16})
_NAMES_ENC = tuple(sorted({c.xfrm for c in algs.ESP_CIPHERS.values() if not c.aead}))
_NAMES_AEAD = tuple(sorted({c.xfrm for c in algs.ESP_CIPHERS.values() if c.aead}))
_NAMES_AUTH = tuple(sorted({i.xfrm for i in algs.AUTH_ALGS.values()}))
_NAMES_COMP = tuple(sorted(set(algs.IPCOMP_ALGS.values())))
_KEY = hexbytes(128)
SA = record({
    "proto": PROTO, "spi": integer(1, 0xFFFFFFFF), "src": address, "dst": address,
    "mode": one_of("tunnel", "transport"),
    "enc": optional(record({"name": one_of(*_NAMES_ENC), "key": _KEY})),
    "aead": optional(record({"name": one_of(*_NAMES_AEAD), "key": _KEY,
                             "icv_bits": one_of(64, 96, 128)})),
    "auth": optional(record({"name": one_of(*_NAMES_AUTH), "key": _KEY,
                             "trunc_bits": integer(32, 512)})),
    "comp": optional(record({"name": one_of(*_NAMES_COMP)})),
    "replay_window": integer(0, 4096),
    "lifetimes": record({"soft_seconds": U64, "hard_seconds": U64,
                         "soft_bytes": U64, "hard_bytes": U64}),
    "encap": optional(record({"sport": U16, "dport": U16, "oa": optional(address),
                              "type": one_of(2)})),
    "selector": optional(SELECTOR),
    "reqid": U32, "inbound": boolean,
})
TEMPLATE = record({"proto": PROTO, "mode": one_of("tunnel", "transport"),
                   "src": optional(address), "dst": optional(address), "reqid": U32,
                   "spi": U32})
POLICY = record({"selector": SELECTOR, "direction": one_of("in", "out", "fwd"),
                 "action": one_of("ipsec", "allow", "block"), "priority": U32,
                 "templates": list_of(TEMPLATE, 8)})

#: every request: its fields and their checks ("op" itself aside)
SCHEMAS: dict[str, dict[str, Check]] = {
    # sockets
    "BIND": {"family": one_of(4, 6), "address": address, "port": integer(1, 65535),
             "natt": boolean},
    "SETSOCKOPT": {"level": integer(0, 0xFFFF), "name": integer(0, 0xFFFF),
                   "value": integer(0, 0xFFFF)},
    # files
    "GET_FD": {"path": PATH, "flags": list_of(one_of(*OPEN_FLAGS), 7)},
    "READDIR": {"path": PATH},
    "STAT": {"path": PATH, "follow": boolean},
    "MKDIR": {"path": PATH, "parents": boolean},
    "RENAME": {"src": PATH, "dst": PATH},
    "UNLINK": {"path": PATH},
    "OPEN_FIFO": {},
    # the kernel
    "GET_SPI": {"proto": PROTO, "src": address, "dst": address},
    "ADD_SA": {"sa": SA},
    "DELETE_SA": {"proto": PROTO, "spi": integer(1, 0xFFFFFFFF), "dst": address,
                  "src": optional(address)},
    "ADD_POLICY": {"policy": POLICY},
    "DELETE_POLICY": {"policy": POLICY},
    # a socket on which the parent passes the kernel's ACQUIRE and EXPIRE on
    "EVENTS": {},
    # the daemon's life
    "RELOAD": {},
    "INIT_DONE": {},
    "SHUTDOWN": {},
}


def check_request(value: Any) -> tuple[str, dict[str, Any]]:
    """(op, checked arguments) of a request; ProtocolError if it is none."""
    if type(value) is not dict:
        raise ProtocolError(f"a request is an object, not {_show(value)}")
    op = value.get("op")
    if type(op) is not str or op not in SCHEMAS:
        raise ProtocolError(f"unknown request {_show(op)}")
    args = {k: v for k, v in value.items() if k != "op"}
    try:
        return op, record(SCHEMAS[op])(args)
    except ProtocolError as e:
        raise ProtocolError(f"{op}: {e}") from None


# ------------------------------------------------------------------ records
def _sel_to_wire(s: Selector | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"src": s.src, "src_prefix": s.src_prefix, "dst": s.dst,
            "dst_prefix": s.dst_prefix, "proto": s.proto, "sport": s.sport,
            "dport": s.dport}


def _sel_from_wire(d: dict[str, Any] | None) -> Selector | None:
    return None if d is None else Selector(**d)


def sa_to_wire(sa: SaSpec) -> dict[str, Any]:
    lt = sa.lifetimes
    return {
        "proto": sa.proto, "spi": sa.spi, "src": sa.src, "dst": sa.dst,
        "mode": sa.mode,
        "enc": {"name": sa.enc.name, "key": sa.enc.key.hex()} if sa.enc else None,
        "aead": ({"name": sa.aead.name, "key": sa.aead.key.hex(),
                  "icv_bits": sa.aead.icv_bits} if sa.aead else None),
        "auth": ({"name": sa.auth.name, "key": sa.auth.key.hex(),
                  "trunc_bits": sa.auth.trunc_bits} if sa.auth else None),
        "comp": {"name": sa.comp.name} if sa.comp else None,
        "replay_window": sa.replay_window,
        "lifetimes": {"soft_seconds": lt.soft_seconds, "hard_seconds": lt.hard_seconds,
                      "soft_bytes": lt.soft_bytes, "hard_bytes": lt.hard_bytes},
        "encap": ({"sport": sa.encap.sport, "dport": sa.encap.dport,
                   "oa": sa.encap.oa, "type": sa.encap.type} if sa.encap else None),
        "selector": _sel_to_wire(sa.selector),
        "reqid": sa.reqid, "inbound": sa.inbound,
    }


def sa_from_wire(d: dict[str, Any]) -> SaSpec:
    """An SaSpec from a checked record (ValueError if it is inconsistent)."""
    enc, aead, auth, comp = d["enc"], d["aead"], d["auth"], d["comp"]
    return SaSpec(
        proto=d["proto"], spi=d["spi"], src=d["src"], dst=d["dst"], mode=d["mode"],
        enc=Algo(enc["name"], enc["key"]) if enc else None,
        aead=AeadAlgo(aead["name"], aead["key"], aead["icv_bits"]) if aead else None,
        auth=AuthAlgo(auth["name"], auth["key"], auth["trunc_bits"]) if auth else None,
        comp=Algo(comp["name"]) if comp else None,
        replay_window=d["replay_window"], lifetimes=Lifetimes(**d["lifetimes"]),
        encap=Encap(**d["encap"]) if d["encap"] else None,
        selector=_sel_from_wire(d["selector"]), reqid=d["reqid"],
        inbound=d["inbound"])


def policy_to_wire(p: PolicySpec) -> dict[str, Any]:
    return {"selector": _sel_to_wire(p.selector), "direction": p.direction,
            "action": p.action, "priority": p.priority,
            "templates": [{"proto": t.proto, "mode": t.mode, "src": t.src,
                           "dst": t.dst, "reqid": t.reqid, "spi": t.spi}
                          for t in p.templates]}


def policy_from_wire(d: dict[str, Any]) -> PolicySpec:
    sel = _sel_from_wire(d["selector"])
    assert sel is not None
    return PolicySpec(selector=sel, direction=d["direction"], action=d["action"],
                      priority=d["priority"],
                      templates=[Template(**t) for t in d["templates"]])


# ------------------------------------------------------------------ kernel events
def event_to_wire(ev: AcquireEvent | ExpireEvent) -> dict[str, Any]:
    """An ACQUIRE or EXPIRE, as the parent passes it on to the child."""
    if isinstance(ev, AcquireEvent):
        return {"event": "ACQUIRE", "proto": ev.proto, "src": ev.src, "dst": ev.dst,
                "selector": _sel_to_wire(ev.selector), "policy": _sel_to_wire(ev.policy),
                "policy_index": ev.policy_index,
                "policy_direction": ev.policy_direction, "reqid": ev.reqid,
                "mode": ev.mode, "seq": ev.seq,
                "templates": [{"proto": t.proto, "mode": t.mode, "src": t.src,
                               "dst": t.dst, "reqid": t.reqid, "spi": t.spi}
                              for t in ev.templates]}
    return {"event": "EXPIRE", "proto": ev.proto, "spi": ev.spi, "src": ev.src,
            "dst": ev.dst, "mode": ev.mode, "reqid": ev.reqid, "hard": ev.hard,
            "selector": _sel_to_wire(ev.selector)}


_ACQUIRE = record({"event": one_of("ACQUIRE"), "proto": PROTO, "src": address,
                   "dst": address, "selector": SELECTOR, "policy": SELECTOR,
                   "policy_index": U32, "policy_direction": one_of("in", "out", "fwd"),
                   "reqid": U32, "mode": one_of("tunnel", "transport"), "seq": U32,
                   "templates": list_of(TEMPLATE, 8)})
_EXPIRE = record({"event": one_of("EXPIRE"), "proto": PROTO, "spi": U32,
                  "src": address, "dst": address, "mode": one_of("tunnel", "transport"),
                  "reqid": U32, "hard": boolean, "selector": optional(SELECTOR)})


def event_from_wire(value: Any) -> AcquireEvent | ExpireEvent:
    """ProtocolError (or ValueError) if ``value`` is no event."""
    kind = value.get("event") if isinstance(value, dict) else None
    if kind == "ACQUIRE":
        d = _ACQUIRE(value)
        sel, pol = _sel_from_wire(d["selector"]), _sel_from_wire(d["policy"])
        assert sel is not None and pol is not None
        return AcquireEvent(
            proto=d["proto"], src=d["src"], dst=d["dst"], selector=sel, policy=pol,
            policy_index=d["policy_index"], policy_direction=d["policy_direction"],
            reqid=d["reqid"], mode=d["mode"], seq=d["seq"],
            templates=tuple(Template(**t) for t in d["templates"]))
    if kind == "EXPIRE":
        d = _EXPIRE(value)
        return ExpireEvent(proto=d["proto"], spi=d["spi"], src=d["src"], dst=d["dst"],
                           mode=d["mode"], reqid=d["reqid"], hard=d["hard"],
                           selector=_sel_from_wire(d["selector"]))
    raise ProtocolError(f"not a kernel event: {_show(value)}")
