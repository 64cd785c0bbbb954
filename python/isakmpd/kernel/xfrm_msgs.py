"""XFRM netlink messages (``include/uapi/linux/xfrm.h``) as pyroute2 classes.

pyroute2 0.9 knows ``NETLINK_XFRM`` but has no message classes for it, so
they are declared here on its netlink core: each message is an ``nlmsg``
subclass whose ``fields`` describe the C struct, and each attribute an
``nla`` subclass. Nested C structs (``xfrm_selector`` inside
``xfrm_usersa_info``...) are field types with ``decode_from``/``encode_into``
(pyroute2 calls those for a field whose format is a class), so a decoded
message reads ``msg["sel"]["daddr"]``.

Layouts are those of x86-64 (and every other Linux ABI with 8-byte aligned
``__u64``): padding is spelled out, and every struct has the size the kernel
checks (``xfrm_usersa_info`` 224 bytes with 7 bytes of tail padding,
``xfrm_userspi_info`` 232, ``xfrm_userpolicy_info`` 168,
``xfrm_user_acquire`` 280, ``xfrm_user_expire`` 232).

Addresses are kept as the kernel's 16-byte ``xfrm_address_t``; SPIs and
ports are in network byte order on the wire and plain ints here.
"""

from __future__ import annotations

import struct
from typing import Any

from pyroute2.netlink import NLMSG_DONE, NLMSG_ERROR, nla, nlmsg, nlmsgerr
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.marshal import Marshal

NETLINK_XFRM = 6
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_EXT_ACK = 11
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200
NLMSGERR_ATTR_MSG = 1

# message types
XFRM_MSG_NEWSA = 0x10
XFRM_MSG_DELSA = 0x11
XFRM_MSG_GETSA = 0x12
XFRM_MSG_NEWPOLICY = 0x13
XFRM_MSG_DELPOLICY = 0x14
XFRM_MSG_GETPOLICY = 0x15
XFRM_MSG_ALLOCSPI = 0x16
XFRM_MSG_ACQUIRE = 0x17
XFRM_MSG_EXPIRE = 0x18
XFRM_MSG_UPDPOLICY = 0x19
XFRM_MSG_UPDSA = 0x1A
XFRM_MSG_POLEXPIRE = 0x1B
XFRM_MSG_FLUSHSA = 0x1C
XFRM_MSG_FLUSHPOLICY = 0x1D

MSG_NAMES = {
    XFRM_MSG_NEWSA: "NEWSA",
    XFRM_MSG_DELSA: "DELSA",
    XFRM_MSG_GETSA: "GETSA",
    XFRM_MSG_NEWPOLICY: "NEWPOLICY",
    XFRM_MSG_DELPOLICY: "DELPOLICY",
    XFRM_MSG_GETPOLICY: "GETPOLICY",
    XFRM_MSG_ALLOCSPI: "ALLOCSPI",
    XFRM_MSG_ACQUIRE: "ACQUIRE",
    XFRM_MSG_EXPIRE: "EXPIRE",
    XFRM_MSG_UPDPOLICY: "UPDPOLICY",
    XFRM_MSG_UPDSA: "UPDSA",
    XFRM_MSG_POLEXPIRE: "POLEXPIRE",
    XFRM_MSG_FLUSHSA: "FLUSHSA",
    XFRM_MSG_FLUSHPOLICY: "FLUSHPOLICY",
}

# multicast groups (numbers for NETLINK_ADD_MEMBERSHIP)
XFRMNLGRP_ACQUIRE = 1
XFRMNLGRP_EXPIRE = 2

XFRM_MODE_TRANSPORT = 0
XFRM_MODE_TUNNEL = 1

XFRM_POLICY_IN = 0
XFRM_POLICY_OUT = 1
XFRM_POLICY_FWD = 2
XFRM_POLICY_ALLOW = 0
XFRM_POLICY_BLOCK = 1

XFRM_STATE_AF_UNSPEC = 32
XFRM_INF = (1 << 64) - 1
IPSEC_PROTO_ANY = 255

UDP_ENCAP_ESPINUDP_NON_IKE = 1
UDP_ENCAP_ESPINUDP = 2

# socket options for per-socket policies
IP_XFRM_POLICY = 17
IPV6_XFRM_POLICY = 35


class Struct:
    """A C struct used as a field type of a pyroute2 message.

    ``members`` lists ``(name, format)`` with a :mod:`struct` format (byte
    order spelled out) or another :class:`Struct`; names starting with ``_``
    are padding.
    """

    members: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def size(cls) -> int:
        total = 0
        for _, fmt in cls.members:
            total += fmt.size() if isinstance(fmt, type) else struct.calcsize(fmt)
        return total

    @classmethod
    def decode_from(cls, data: bytes | bytearray, offset: int) -> tuple[dict, int]:
        out: dict[str, Any] = {}
        for name, fmt in cls.members:
            if isinstance(fmt, type):
                out[name], offset = fmt.decode_from(data, offset)
                continue
            values = struct.unpack_from(fmt, data, offset)
            offset += struct.calcsize(fmt)
            if not name.startswith("_"):
                out[name] = values[0]
        return out, offset

    @classmethod
    def encode_into(cls, data: bytearray, offset: int, value: Any) -> int:
        fields = value if isinstance(value, dict) else {}
        for name, fmt in cls.members:
            if isinstance(fmt, type):
                offset = fmt.encode_into(data, offset, fields.get(name))
                continue
            size = struct.calcsize(fmt)
            data.extend(bytes(size))
            if not name.startswith("_"):
                item = fields.get(name)
                if item is None:
                    item = b"" if fmt.endswith("s") else 0
                struct.pack_into(fmt, data, offset, item)
            offset += size
        return offset


ADDR = "16s"  # xfrm_address_t


class xfrm_selector(Struct):
    members = (
        ("daddr", ADDR),
        ("saddr", ADDR),
        ("dport", ">H"),
        ("dport_mask", ">H"),
        ("sport", ">H"),
        ("sport_mask", ">H"),
        ("family", "=H"),
        ("prefixlen_d", "B"),
        ("prefixlen_s", "B"),
        ("proto", "B"),
        ("_pad", "3x"),
        ("ifindex", "=i"),
        ("user", "=I"),
    )


class xfrm_id(Struct):
    members = (("daddr", ADDR), ("spi", ">I"), ("proto", "B"), ("_pad", "3x"))


class xfrm_lifetime_cfg(Struct):
    members = tuple(
        (name, "=Q")
        for name in (
            "soft_byte_limit",
            "hard_byte_limit",
            "soft_packet_limit",
            "hard_packet_limit",
            "soft_add_expires_seconds",
            "hard_add_expires_seconds",
            "soft_use_expires_seconds",
            "hard_use_expires_seconds",
        )
    )


class xfrm_lifetime_cur(Struct):
    members = (
        ("bytes", "=Q"),
        ("packets", "=Q"),
        ("add_time", "=Q"),
        ("use_time", "=Q"),
    )


class xfrm_stats(Struct):
    members = (("replay_window", "=I"), ("replay", "=I"), ("integrity_failed", "=I"))


class xfrm_usersa_info_t(Struct):
    members = (
        ("sel", xfrm_selector),
        ("id", xfrm_id),
        ("saddr", ADDR),
        ("lft", xfrm_lifetime_cfg),
        ("curlft", xfrm_lifetime_cur),
        ("stats", xfrm_stats),
        ("seq", "=I"),
        ("reqid", "=I"),
        ("family", "=H"),
        ("mode", "B"),
        ("replay_window", "B"),
        ("flags", "B"),
        ("_pad", "7x"),
    )


class xfrm_userpolicy_info_t(Struct):
    members = (
        ("sel", xfrm_selector),
        ("lft", xfrm_lifetime_cfg),
        ("curlft", xfrm_lifetime_cur),
        ("priority", "=I"),
        ("index", "=I"),
        ("dir", "B"),
        ("action", "B"),
        ("flags", "B"),
        ("share", "B"),
        ("_pad", "4x"),
    )


class xfrm_user_tmpl(Struct):
    members = (
        ("id", xfrm_id),
        ("family", "=H"),
        ("_pad1", "2x"),
        ("saddr", ADDR),
        ("reqid", "=I"),
        ("mode", "B"),
        ("share", "B"),
        ("optional", "B"),
        ("_pad2", "x"),
        ("aalgos", "=I"),
        ("ealgos", "=I"),
        ("calgos", "=I"),
    )


def _fields(struct_cls: type[Struct]) -> tuple[tuple[str, Any], ...]:
    return tuple(struct_cls.members)


class _keyed_algo(nla):
    """An algorithm attribute: fixed fields, then the key up to its end."""

    __slots__ = ()
    defaults = {"alg_name": b""}

    def ft_encode(self, offset: int) -> tuple[int, int]:
        offset, _ = super().ft_encode(offset)
        return _append_key(self, offset)

    def ft_decode(self, offset: int) -> None:
        super().ft_decode(offset)
        fixed = sum(struct.calcsize(fmt) for _, fmt in self.fields)
        _take_key(self, offset + fixed)


class xfrm_algo(_keyed_algo):
    """``struct xfrm_algo``: name, key length in bits, key."""

    __slots__ = ()
    fields = (("alg_name", "64s"), ("alg_key_len", "=I"))


class xfrm_algo_auth(_keyed_algo):
    """``struct xfrm_algo_auth``: as xfrm_algo plus truncation bits."""

    __slots__ = ()
    fields = (("alg_name", "64s"), ("alg_key_len", "=I"), ("alg_trunc_len", "=I"))


class xfrm_algo_aead(_keyed_algo):
    """``struct xfrm_algo_aead``: as xfrm_algo plus ICV bits."""

    __slots__ = ()
    fields = (("alg_name", "64s"), ("alg_key_len", "=I"), ("alg_icv_len", "=I"))


class xfrm_encap_tmpl(nla):
    __slots__ = ()
    fields = (
        ("encap_type", "=H"),
        ("encap_sport", ">H"),
        ("encap_dport", ">H"),
        ("_pad", "2x"),
        ("encap_oa", ADDR),
    )
    defaults = {"encap_oa": bytes(16)}


class xfrm_tmpls(nla):
    """XFRMA_TMPL: an array of ``struct xfrm_user_tmpl`` in one attribute."""

    __slots__ = ()
    fields = ()

    def ft_encode(self, offset: int) -> tuple[int, int]:
        for tmpl in self.get("templates") or ():
            offset = xfrm_user_tmpl.encode_into(self.data, offset, tmpl)
        return offset, 0

    def ft_decode(self, offset: int) -> None:
        end = self.offset + self.length
        size = xfrm_user_tmpl.size()
        templates = []
        while offset + size <= end:
            tmpl, offset = xfrm_user_tmpl.decode_from(self.data, offset)
            templates.append(tmpl)
        self["templates"] = templates
        del self["attrs"]


class xfrm_address(nla):
    __slots__ = ()
    fields = (("value", ADDR),)
    defaults = {"value": bytes(16)}


class xfrm_replay_state(nla):
    __slots__ = ()
    fields = (("oseq", "=I"), ("seq", "=I"), ("bitmap", "=I"))


class xfrm_replay_state_esn(nla):
    """``struct xfrm_replay_state_esn``; the kernel allocates the bitmap."""

    __slots__ = ()
    fields = (
        ("bmp_len", "=I"),
        ("oseq", "=I"),
        ("seq", "=I"),
        ("oseq_hi", "=I"),
        ("seq_hi", "=I"),
        ("replay_window", "=I"),
    )


class xfrma_ltime_val(nla):
    """XFRMA_LTIME_VAL: ``struct xfrm_lifetime_cur``."""

    __slots__ = ()
    fields = _fields(xfrm_lifetime_cur)


class xfrm_userpolicy_type(nla):
    __slots__ = ()
    fields = (
        ("type", "B"),
        ("_pad1", "x"),
        ("reserved1", "=H"),
        ("reserved2", "B"),
        ("_pad2", "x"),
    )


class xfrm_mark(nla):
    __slots__ = ()
    fields = (("v", "=I"), ("m", "=I"))


# XFRMA_* in kernel order (the attribute type is the position)
xfrm_attrs_map = (
    ("XFRMA_UNSPEC", "none"),
    ("XFRMA_ALG_AUTH", "xfrm_algo"),
    ("XFRMA_ALG_CRYPT", "xfrm_algo"),
    ("XFRMA_ALG_COMP", "xfrm_algo"),
    ("XFRMA_ENCAP", "xfrm_encap_tmpl"),
    ("XFRMA_TMPL", "xfrm_tmpls"),
    ("XFRMA_SA", "hex"),
    ("XFRMA_POLICY", "hex"),
    ("XFRMA_SEC_CTX", "hex"),
    ("XFRMA_LTIME_VAL", "xfrma_ltime_val"),
    ("XFRMA_REPLAY_VAL", "xfrm_replay_state"),
    ("XFRMA_REPLAY_THRESH", "uint32"),
    ("XFRMA_ETIMER_THRESH", "uint32"),
    ("XFRMA_SRCADDR", "xfrm_address"),
    ("XFRMA_COADDR", "xfrm_address"),
    ("XFRMA_LASTUSED", "uint64"),
    ("XFRMA_POLICY_TYPE", "xfrm_userpolicy_type"),
    ("XFRMA_MIGRATE", "hex"),
    ("XFRMA_ALG_AEAD", "xfrm_algo_aead"),
    ("XFRMA_KMADDRESS", "hex"),
    ("XFRMA_ALG_AUTH_TRUNC", "xfrm_algo_auth"),
    ("XFRMA_MARK", "xfrm_mark"),
    ("XFRMA_TFCPAD", "uint32"),
    ("XFRMA_REPLAY_ESN_VAL", "xfrm_replay_state_esn"),
    ("XFRMA_SA_EXTRA_FLAGS", "uint32"),
    ("XFRMA_PROTO", "uint8"),
    ("XFRMA_ADDRESS_FILTER", "hex"),
    ("XFRMA_PAD", "hex"),
    ("XFRMA_OFFLOAD_DEV", "hex"),
    ("XFRMA_SET_MARK", "uint32"),
    ("XFRMA_SET_MARK_MASK", "uint32"),
    ("XFRMA_IF_ID", "uint32"),
    ("XFRMA_MTIMER_THRESH", "uint32"),
)


def _append_key(msg: nla, offset: int) -> tuple[int, int]:
    """Write ``alg_key`` after the fixed part; pad the attribute to 4 bytes."""
    key = bytes(msg.get("alg_key") or b"")
    msg.data.extend(key)
    offset += len(key)
    pad = -offset % 4
    msg.data.extend(bytes(pad))
    return offset + pad, pad


def _take_key(msg: nla, key_start: int) -> None:
    msg["alg_key"] = bytes(msg.data[key_start : msg.offset + msg.length])
    name = msg.get("alg_name")
    if isinstance(name, (bytes, bytearray)):
        msg["alg_name"] = bytes(name).split(b"\0", 1)[0].decode("ascii", "replace")


class _xfrm_msg(nlmsg):
    """Base of XFRM messages: the struct, then XFRMA_* attributes."""

    __slots__ = ()
    nla_map = xfrm_attrs_map
    defaults = {"saddr": bytes(16), "daddr": bytes(16)}  # unset addresses
    xfrm_algo = xfrm_algo
    xfrm_algo_auth = xfrm_algo_auth
    xfrm_algo_aead = xfrm_algo_aead
    xfrm_encap_tmpl = xfrm_encap_tmpl
    xfrm_tmpls = xfrm_tmpls
    xfrm_address = xfrm_address
    xfrm_replay_state = xfrm_replay_state
    xfrm_replay_state_esn = xfrm_replay_state_esn
    xfrma_ltime_val = xfrma_ltime_val
    xfrm_userpolicy_type = xfrm_userpolicy_type
    xfrm_mark = xfrm_mark


class xfrm_usersa_info(_xfrm_msg):
    """NEWSA / UPDSA, and the kernel's replies to GETSA and ALLOCSPI."""

    __slots__ = ()
    fields = _fields(xfrm_usersa_info_t)


class xfrm_userspi_info(_xfrm_msg):
    """ALLOCSPI: a usersa_info template, then the SPI range."""

    __slots__ = ()
    fields = (("info", xfrm_usersa_info_t), ("min", "=I"), ("max", "=I"))


class xfrm_usersa_id(_xfrm_msg):
    """DELSA / GETSA of one SA."""

    __slots__ = ()
    fields = (
        ("daddr", ADDR),
        ("spi", ">I"),
        ("family", "=H"),
        ("proto", "B"),
        ("_pad", "x"),
    )


class xfrm_usersa_flush(_xfrm_msg):
    __slots__ = ()
    fields = (("proto", "B"), ("_pad", "3x"))


class xfrm_userpolicy_info(_xfrm_msg):
    """NEWPOLICY / UPDPOLICY, and the kernel's replies to GETPOLICY."""

    __slots__ = ()
    fields = _fields(xfrm_userpolicy_info_t)


class xfrm_userpolicy_id(_xfrm_msg):
    """DELPOLICY / GETPOLICY of one policy."""

    __slots__ = ()
    fields = (("sel", xfrm_selector), ("index", "=I"), ("dir", "B"), ("_pad", "3x"))


class xfrm_user_acquire(_xfrm_msg):
    """ACQUIRE: a packet hit a policy with no SA for one of its templates."""

    __slots__ = ()
    fields = (
        ("id", xfrm_id),
        ("saddr", ADDR),
        ("sel", xfrm_selector),
        ("policy", xfrm_userpolicy_info_t),
        ("aalgos", "=I"),
        ("ealgos", "=I"),
        ("calgos", "=I"),
        ("seq", "=I"),
    )


class xfrm_user_expire(_xfrm_msg):
    """EXPIRE: an SA reached a soft or hard lifetime (larval SAs too)."""

    __slots__ = ()
    fields = (("state", xfrm_usersa_info_t), ("hard", "B"), ("_pad", "7x"))


class xfrm_empty(_xfrm_msg):
    """FLUSHPOLICY and dump requests: attributes only."""

    __slots__ = ()
    fields = ()


class XfrmMarshal(Marshal):
    """Message type → class for what the kernel sends on NETLINK_XFRM.

    Acks and errors are read here rather than by pyroute2's ``nlmsgerr``,
    which takes the echoed request for attributes and decodes it by type:
    the error code and the kernel's message must survive any echo.
    """

    msg_map = {
        XFRM_MSG_NEWSA: xfrm_usersa_info,
        XFRM_MSG_UPDSA: xfrm_usersa_info,
        XFRM_MSG_DELSA: xfrm_usersa_id,
        XFRM_MSG_NEWPOLICY: xfrm_userpolicy_info,
        XFRM_MSG_UPDPOLICY: xfrm_userpolicy_info,
        XFRM_MSG_DELPOLICY: xfrm_userpolicy_id,
        XFRM_MSG_ACQUIRE: xfrm_user_acquire,
        XFRM_MSG_EXPIRE: xfrm_user_expire,
    }

    def parse_one_message(
        self,
        key: int,
        flags: int,
        sequence_number: int,
        data: bytes,
        offset: int,
        length: int,
    ) -> nlmsg:
        if key == NLMSG_ERROR or (key == NLMSG_DONE and flags & NLM_F_ACK_TLVS):
            return parse_ack(data, offset, length)
        return super().parse_one_message(
            key, flags, sequence_number, data, offset, length
        )


def parse_ack(data: bytes, offset: int, length: int) -> nlmsg:
    """NLMSG_ERROR (an ack when the code is 0) or NLMSG_DONE with TLVs.

    Layout: header, ``int error``, the echoed request (only its header when
    NLM_F_CAPPED or on success), then extended-ack attributes.
    """
    end = min(offset + length, len(data))
    names = ("length", "type", "flags", "sequence_number", "pid")
    header: dict[str, Any] = dict(
        zip(names, struct.unpack_from("=IHHII", data, offset), strict=True)
    )
    msg = nlmsgerr()
    msg["header"] = header
    pos = offset + 16
    code = struct.unpack_from("=i", data, pos)[0] if pos + 4 <= end else 0
    pos += 4
    if header["type"] == NLMSG_ERROR:
        echoed = 16
        if code and not header["flags"] & NLM_F_CAPPED and pos + 4 <= end:
            echoed = max(16, struct.unpack_from("=I", data, pos)[0])
        pos += (echoed + 3) & ~3
    text = None
    while header["flags"] & NLM_F_ACK_TLVS and pos + 4 <= end:
        alen, atype = struct.unpack_from("=HH", data, pos)
        if alen < 4 or pos + alen > end:
            break
        if atype & 0x3FFF == NLMSGERR_ATTR_MSG:
            raw = bytes(data[pos + 4 : pos + alen])
            text = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        pos += (alen + 3) & ~3
    msg["error"] = code
    msg["attrs"] = [("NLMSGERR_ATTR_MSG", text)] if text else []
    header["error"] = NetlinkError(abs(code), text) if code else None
    return msg
