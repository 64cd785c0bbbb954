"""The Linux kernel backend: XFRM netlink (``NETLINK_XFRM``).

Messages are pyroute2 netlink classes (:mod:`.xfrm_msgs`) parsed with
pyroute2's ``Marshal``; the I/O is a plain blocking netlink socket. pyroute2's
own synchronous sockets drive a private asyncio loop, which cannot run
inside the daemon's loop, and kernel replies to XFRM requests are immediate,
so a direct request/answer exchange is both simpler and safe to call from
the event loop.

This follows isakmpd's PF_KEY use mapped onto XFRM (and strongSwan's
kernel-netlink plugin): ALLOCSPI makes a larval inbound SA that UPDSA
completes, outbound SAs are NEWSA, flows are policies with templates,
SADB_ACQUIRE/SADB_EXPIRE are the ACQUIRE/EXPIRE multicast groups, and IKE
sockets get per-socket bypass policies.

Sockets are opened in the caller's network namespace, or in the one named
by ``netns``.
"""

from __future__ import annotations

import errno
import os
import random
import socket
from typing import Any

from pyroute2.netlink import (
    NLM_F_ACK,
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    nlmsg,
)
from pyroute2.netlink.exceptions import NetlinkError

from .. import log
from ..errors import KernelError, KernelLacksESP
from . import xfrm_conv as conv
from . import xfrm_msgs as m
from .base import (
    IPPROTO_COMP,
    PROTO_NAMES,
    EventSource,
    KernelBackend,
    PolicySpec,
    SaRecord,
    SaSpec,
    family_of,
)
from .netns import enter_netns
from .xfrm_events import XfrmEvents

__all__ = ["XfrmBackend", "XfrmEvents", "NetlinkXfrm"]

RECV_SIZE = 1 << 16
_LACKS_MODULE = {50: "esp4/esp6", 51: "ah4/ah6", 108: "ipcomp/ipcomp6"}


def _spi_text(proto: int, spi: int) -> str:
    return f"{PROTO_NAMES.get(proto, str(proto))} spi {spi:#010x}"


class NetlinkXfrm:
    """One request socket: send a message, collect the kernel's answer."""

    def __init__(self, timeout: float = 5.0, sock: socket.socket | None = None) -> None:
        """Open and bind a NETLINK_XFRM socket (``sock``: use this one instead)."""
        if sock is None:
            sock = self._open(timeout)
        self._sock = sock
        self._marshal = m.XfrmMarshal()
        self._seq = random.randrange(1, 1 << 30)

    @staticmethod
    def _open(timeout: float) -> socket.socket:
        try:
            sock = socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, m.NETLINK_XFRM
            )
        except OSError as e:
            raise KernelError(
                f"cannot open an XFRM netlink socket: {e.strerror}", e.errno or 0
            ) from None
        try:
            try:
                sock.setsockopt(m.SOL_NETLINK, m.NETLINK_EXT_ACK, 1)
            except OSError:
                pass  # error texts are a courtesy
            sock.settimeout(timeout)
            sock.bind((0, 0))
        except OSError as e:
            sock.close()
            raise KernelError(
                f"cannot bind the XFRM netlink socket: {e.strerror}", e.errno or 0
            ) from None
        return sock

    def close(self) -> None:
        self._sock.close()

    def request(
        self,
        what: str,
        msg: nlmsg,
        msg_type: int,
        flags: int = NLM_F_REQUEST | NLM_F_ACK,
    ) -> list[nlmsg]:
        """Send ``msg``; return the kernel's messages (not the ack).

        ``what`` names the request in errors. Errors: :class:`KernelError`
        with the kernel's errno, or EPROTO for a reply that cannot be read.
        """
        self._seq = self._seq % 0xFFFFFFFF + 1
        seq = self._seq
        msg["header"] = {
            "type": msg_type,
            "flags": flags,
            "sequence_number": seq,
            "pid": 0,
        }
        try:
            msg.encode()
        except Exception as e:  # pyroute2 raises struct.error, TypeError...
            raise KernelError(
                f"{what}: cannot encode the request: {e}", errno.EINVAL
            ) from None
        try:
            self._sock.send(msg.data)
        except OSError as e:
            raise KernelError(
                f"{what}: send failed: {e.strerror}", e.errno or 0
            ) from None
        replies: list[nlmsg] = []
        while True:
            for reply in self._receive(what):
                header = reply["header"]
                if header.get("sequence_number") != seq:
                    continue  # an answer to an earlier, abandoned request
                error = header.get("error")
                if error is not None:
                    raise self._error(what, error, reply)
                if header["type"] in (NLMSG_ERROR, NLMSG_DONE):
                    return replies
                replies.append(reply)

    def _receive(self, what: str) -> list[nlmsg]:
        try:
            data, (sender, _) = self._sock.recvfrom(RECV_SIZE, socket.MSG_TRUNC)
        except TimeoutError:
            raise KernelError(
                f"{what}: no answer from the kernel", errno.ETIMEDOUT
            ) from None
        except OSError as e:
            raise KernelError(
                f"{what}: receive failed: {e.strerror}", e.errno or 0
            ) from None
        if sender != 0:
            return []
        if len(data) > RECV_SIZE:
            raise KernelError(
                f"{what}: kernel reply larger than {RECV_SIZE} bytes", errno.EMSGSIZE
            )
        try:
            return list(self._marshal.parse(data))
        except Exception as e:
            raise KernelError(
                f"{what}: cannot read the kernel's reply ({e!r})", errno.EPROTO
            ) from None

    @staticmethod
    def _error(what: str, error: Exception, reply: Any) -> KernelError:
        code = getattr(error, "code", None)
        if not isinstance(error, (NetlinkError, OSError)) or not code:
            return KernelError(
                f"{what}: cannot read the kernel's reply ({error!r})", errno.EPROTO
            )
        detail = os.strerror(code)
        extack = None
        try:
            extack = reply.get_attr("NLMSGERR_ATTR_MSG")
        except Exception:
            pass
        if extack:
            detail += f": {extack}"
        return KernelError(f"{what} failed: {detail}", code)


class XfrmBackend(KernelBackend):
    """SAs and policies through XFRM netlink."""

    def __init__(
        self,
        netns: str | None = None,
        timeout: float = 5.0,
        channel: NetlinkXfrm | None = None,
    ) -> None:
        """``channel`` replaces the request socket (tests record messages so)."""
        self._netns = netns
        if channel is not None:
            self._nl = channel
        else:
            with enter_netns(netns):
                self._nl = NetlinkXfrm(timeout)

    def close(self) -> None:
        self._nl.close()

    # ---- SAs -----------------------------------------------------------

    def get_spi(
        self,
        proto: int,
        src: str,
        dst: str,
        *,
        reqid: int = 0,
        spi_min: int = 0,
        spi_max: int = 0,
    ) -> int:
        if proto not in PROTO_NAMES:
            raise ValueError(f"IPsec protocol {proto} is not ESP, AH or IPcomp")
        low = spi_min or 0x100
        high = spi_max or (0xFFFF if proto == IPPROTO_COMP else 0xFFFFFFFF)
        if not 0 < low <= high <= 0xFFFFFFFF:
            raise ValueError(f"bad SPI range {low:#x}-{high:#x}")
        family = family_of(dst)
        msg = m.xfrm_userspi_info()
        msg["info"] = {
            "id": {"daddr": conv.addr_bytes(dst), "proto": proto},
            "saddr": conv.addr_bytes(src),
            "family": family,
            "mode": m.XFRM_MODE_TUNNEL,
            "reqid": reqid,
        }
        msg["min"] = low
        msg["max"] = high
        what = f"XFRM_MSG_ALLOCSPI {PROTO_NAMES[proto]} {src}->{dst}"
        replies = self._nl.request(what, msg, m.XFRM_MSG_ALLOCSPI)
        try:
            spi = int(replies[0]["id"]["spi"])
        except (IndexError, KeyError, TypeError) as e:
            raise KernelError(
                f"{what}: reply without an SPI ({e!r})", errno.EPROTO
            ) from None
        if not low <= spi <= high:
            raise KernelError(
                f"{what}: SPI {spi:#x} outside {low:#x}-{high:#x}", errno.EPROTO
            )
        log.debug(log.Cls.SYSDEP, 50, "get_spi: %s -> %s", what, f"{spi:#010x}")
        return spi

    def add_sa(self, sa: SaSpec) -> None:
        try:
            info, attrs = conv.sa_fields(sa)
        except ValueError as e:
            raise KernelError(
                f"cannot express the SA for XFRM: {e}", errno.EINVAL
            ) from None
        name = f"{_spi_text(sa.proto, sa.spi)} {sa.src}->{sa.dst}"
        msg_type = m.XFRM_MSG_UPDSA if sa.inbound else m.XFRM_MSG_NEWSA
        try:
            self._nl.request(
                f"XFRM_MSG_{m.MSG_NAMES[msg_type]} {name}",
                self._sa_msg(info, attrs),
                msg_type,
            )
        except KernelError as e:
            if e.errno == errno.EPROTONOSUPPORT:
                raise self._lacks(sa.proto, e) from None
            if msg_type != m.XFRM_MSG_UPDSA or e.errno != errno.ESRCH:
                raise
            # The larval SA is gone (its acquire timeout passed): add anew.
            log.debug(
                log.Cls.SYSDEP, 10, "add_sa: no larval SA for %s, adding it", name
            )
            try:
                self._nl.request(
                    f"XFRM_MSG_NEWSA {name}",
                    self._sa_msg(info, attrs),
                    m.XFRM_MSG_NEWSA,
                )
            except KernelError as e2:
                if e2.errno == errno.EPROTONOSUPPORT:
                    raise self._lacks(sa.proto, e2) from None
                raise
        log.debug(log.Cls.SYSDEP, 50, "add_sa: %s %s", m.MSG_NAMES[msg_type], name)

    @staticmethod
    def _sa_msg(info: dict[str, Any], attrs: list[list[Any]]) -> nlmsg:
        msg = m.xfrm_usersa_info()
        msg.update(info)
        msg["attrs"] = [list(a) for a in attrs]
        return msg

    @staticmethod
    def _lacks(proto: int, e: KernelError) -> KernelLacksESP:
        name = PROTO_NAMES.get(proto, str(proto)).upper()
        log.debug(log.Cls.SYSDEP, 10, "add_sa: %s", e.reason)
        return KernelLacksESP(
            f"the kernel has no {name} support ({_LACKS_MODULE.get(proto, name)}): "
            "IPsec SAs cannot be installed",
            e.errno,
        )

    def delete_sa(
        self,
        proto: int,
        spi: int,
        dst: str,
        family: int | None = None,
        src: str | None = None,
    ) -> None:
        msg = m.xfrm_usersa_id()
        msg["daddr"] = conv.addr_bytes(dst)
        msg["spi"] = spi
        msg["family"] = family or family_of(dst)
        msg["proto"] = proto
        if src is not None:
            msg["attrs"] = [["XFRMA_SRCADDR", conv.addr_bytes(src)]]
        self._nl.request(
            f"XFRM_MSG_DELSA {_spi_text(proto, spi)} dst {dst}", msg, m.XFRM_MSG_DELSA
        )

    def list_sas(self) -> list[SaRecord]:
        records = []
        for reply in self._dump(m.XFRM_MSG_GETSA, "XFRM_MSG_GETSA dump"):
            try:
                records.append(conv.sa_record_from(reply))
            except (ValueError, KeyError, TypeError) as e:
                log.debug(log.Cls.SYSDEP, 10, "list_sas: skipping an SA: %r", e)
        return records

    # ---- policies ------------------------------------------------------

    def add_policy(self, policy: PolicySpec) -> None:
        info, attrs = conv.policy_fields(policy)
        what = f"{policy.direction} policy {policy.selector}"
        try:
            self._nl.request(
                f"XFRM_MSG_NEWPOLICY {what}",
                self._policy_msg(info, attrs),
                m.XFRM_MSG_NEWPOLICY,
            )
        except KernelError as e:
            if e.errno != errno.EEXIST:
                raise
            self._nl.request(
                f"XFRM_MSG_UPDPOLICY {what}",
                self._policy_msg(info, attrs),
                m.XFRM_MSG_UPDPOLICY,
            )
        log.debug(log.Cls.SYSDEP, 50, "add_policy: %s %s", what, policy.action)

    @staticmethod
    def _policy_msg(info: dict[str, Any], attrs: list[list[Any]]) -> nlmsg:
        msg = m.xfrm_userpolicy_info()
        msg.update(info)
        msg["attrs"] = [list(a) for a in attrs]
        return msg

    def delete_policy(self, policy: PolicySpec) -> None:
        msg = m.xfrm_userpolicy_id()
        msg["sel"] = conv.selector_fields(policy.selector)
        msg["dir"] = conv.DIR_CODES[policy.direction]
        self._nl.request(
            f"XFRM_MSG_DELPOLICY {policy.direction} policy {policy.selector}",
            msg,
            m.XFRM_MSG_DELPOLICY,
        )

    def list_policies(self) -> list[PolicySpec]:
        policies = []
        for reply in self._dump(m.XFRM_MSG_GETPOLICY, "XFRM_MSG_GETPOLICY dump"):
            try:
                policy = conv.policy_from(reply)
            except (ValueError, KeyError, TypeError) as e:
                log.debug(log.Cls.SYSDEP, 10, "list_policies: skipping one: %r", e)
                continue
            if policy is not None:
                policies.append(policy)
        return policies

    def _dump(self, msg_type: int, what: str) -> list[nlmsg]:
        return self._nl.request(
            what, m.xfrm_empty(), msg_type, NLM_F_REQUEST | NLM_F_DUMP
        )

    def flush(self) -> None:
        msg = m.xfrm_usersa_flush()
        msg["proto"] = m.IPSEC_PROTO_ANY
        self._nl.request("XFRM_MSG_FLUSHSA", msg, m.XFRM_MSG_FLUSHSA)
        self._nl.request("XFRM_MSG_FLUSHPOLICY", m.xfrm_empty(), m.XFRM_MSG_FLUSHPOLICY)

    # ---- sockets and events --------------------------------------------

    def bypass_socket(self, sock: socket.socket) -> None:
        if sock.family == socket.AF_INET:
            level, option = socket.IPPROTO_IP, m.IP_XFRM_POLICY
        elif sock.family == socket.AF_INET6:
            level, option = socket.IPPROTO_IPV6, m.IPV6_XFRM_POLICY
        else:
            raise KernelError(
                f"bypass policy on a socket of family {sock.family}", errno.EAFNOSUPPORT
            )
        for direction in (m.XFRM_POLICY_IN, m.XFRM_POLICY_OUT):
            raw = bytearray()
            m.xfrm_userpolicy_info_t.encode_into(
                raw,
                0,
                {
                    "sel": {"family": sock.family},
                    "lft": conv.lifetime_fields(),
                    "dir": direction,
                    "action": m.XFRM_POLICY_ALLOW,
                },
            )
            try:
                sock.setsockopt(level, option, bytes(raw))
            except OSError as e:
                name = conv.DIR_NAMES[direction]
                raise KernelError(
                    f"bypass policy ({name}) on an IKE socket: {e.strerror}",
                    e.errno or 0,
                ) from None

    def events(self) -> EventSource:
        with enter_netns(self._netns):
            return XfrmEvents()
