"""swanctl.conf connections and secrets, generated from parameters.

:class:`Conn` describes one IKEv1 connection from the point of view of the
daemon that loads it; :func:`conn_pair` builds the two mirrored halves for
the west and east of a :class:`lab.netns.NetnsPair`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_PSK = "lab-secret-0123456789"
_PLAIN = re.compile(r"^[A-Za-z0-9._:/@%+-]+$")


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return ", ".join(_value(x) for x in v)
    s = str(v)
    if _PLAIN.match(s):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _section(name: str, body: dict[str, Any], indent: int) -> list[str]:
    pad = "  " * indent
    lines = [f"{pad}{name} {{"]
    for k, v in body.items():
        if v is None:
            continue
        if isinstance(v, dict):
            lines += _section(k, v, indent + 1)
        else:
            lines.append(f"{pad}  {k} = {_value(v)}")
    lines.append(f"{pad}}}")
    return lines


@dataclass
class Child:
    """One CHILD_SA (IPsec SA pair) of a :class:`Conn`."""

    name: str = "net"
    local_ts: str = "10.1.0.0/24"
    remote_ts: str = "10.2.0.0/24"
    esp_proposals: str | None = "aes128-sha1-modp2048"  # "-modpN" = PFS group
    ah_proposals: str | None = None
    mode: str = "tunnel"  # tunnel | transport
    start_action: str = "none"  # none | trap | start
    rekey_time: str | None = None
    life_time: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # any other swanctl key

    def body(self) -> dict[str, Any]:
        return {
            "local_ts": self.local_ts,
            "remote_ts": self.remote_ts,
            "esp_proposals": self.esp_proposals,
            "ah_proposals": self.ah_proposals,
            "mode": self.mode,
            "start_action": self.start_action,
            "rekey_time": self.rekey_time,
            "life_time": self.life_time,
            **self.options,
        }

    def mirrored(self) -> Child:
        return replace(self, local_ts=self.remote_ts, remote_ts=self.local_ts)


@dataclass
class Conn:
    """An IKEv1 connection as one daemon sees it.

    ``local_id``/``remote_id`` default to the addresses. ``auth`` is ``psk``
    or ``pubkey``; for pubkey, ``local_cert``/``local_key`` are files (PEM)
    copied into the daemon's swanctl folders, ``ca_certs`` are trusted, and
    ``remote_cert`` trusts a peer certificate directly.
    """

    name: str = "lab"
    local_addrs: str = "192.0.2.1"
    remote_addrs: str = "192.0.2.2"
    local_port: int | None = None
    remote_port: int | None = None
    proposals: str = "aes128-sha1-modp2048"
    aggressive: bool = False
    auth: str = "psk"
    local_id: str | None = None
    remote_id: str | None = None
    psk: str = DEFAULT_PSK
    local_cert: Path | None = None
    local_key: Path | None = None
    remote_cert: Path | None = None
    ca_certs: tuple[Path, ...] = ()
    encap: bool = False
    dpd_delay: int = 0
    rekey_time: str | None = None
    reauth_time: str | None = None
    children: list[Child] = field(default_factory=lambda: [Child()])
    options: dict[str, Any] = field(default_factory=dict)  # any other swanctl key

    @property
    def lid(self) -> str:
        return self.local_id or self.local_addrs

    @property
    def rid(self) -> str:
        return self.remote_id or self.remote_addrs

    def mirrored(self) -> Conn:
        """The same connection seen from the other end."""
        return replace(
            self,
            local_addrs=self.remote_addrs,
            remote_addrs=self.local_addrs,
            local_port=self.remote_port,
            remote_port=self.local_port,
            local_id=self.remote_id,
            remote_id=self.local_id,
            local_cert=self.remote_cert,
            remote_cert=self.local_cert,
            local_key=None,
            children=[c.mirrored() for c in self.children],
        )

    def files(self) -> dict[str, Path]:
        """swanctl-relative destination -> source file, for credentials."""
        out: dict[str, Path] = {}
        for sub, p in (("x509", self.local_cert), ("x509", self.remote_cert)):
            if p is not None:
                out[f"{sub}/{Path(p).name}"] = Path(p)
        if self.local_key is not None:
            out[f"private/{Path(self.local_key).name}"] = Path(self.local_key)
        for ca in self.ca_certs:
            out[f"x509ca/{Path(ca).name}"] = Path(ca)
        return out

    def body(self) -> dict[str, Any]:
        local: dict[str, Any] = {"auth": self.auth, "id": self.lid}
        remote: dict[str, Any] = {"auth": self.auth, "id": self.rid}
        if self.local_cert is not None:
            local["certs"] = Path(self.local_cert).name
        if self.remote_cert is not None:
            remote["certs"] = Path(self.remote_cert).name
        return {
            "version": 1,
            "aggressive": self.aggressive,
            "local_addrs": self.local_addrs,
            "remote_addrs": self.remote_addrs,
            "local_port": self.local_port,
            "remote_port": self.remote_port,
            "proposals": self.proposals,
            "encap": self.encap,
            "dpd_delay": self.dpd_delay,
            "rekey_time": self.rekey_time,
            "reauth_time": self.reauth_time,
            **self.options,
            "local": local,
            "remote": remote,
            "children": {c.name: c.body() for c in self.children},
        }


def swanctl_conf(conns: list[Conn]) -> str:
    """The text of a swanctl.conf with these connections and their PSKs."""
    lines = ["# written by the test lab (tests/lab/swanctl_conf.py)"]
    lines += _section("connections", {c.name: c.body() for c in conns}, 0)
    secrets: dict[str, Any] = {}
    for c in conns:
        if c.auth != "psk":
            continue
        ids = {f"id-{i}": x for i, x in enumerate((c.lid, c.rid)) if x != "%any"}
        secrets[f"ike-{c.name}"] = {**ids, "secret": c.psk}
    lines += _section("secrets", secrets, 0)
    return "\n".join(lines) + "\n"


_CHILD_KEYS = (
    "esp_proposals", "ah_proposals", "mode", "start_action", "local_ts",
    "remote_ts", "life_time",
)  # fmt: skip
_ADDRS = {4: ("192.0.2.1", "192.0.2.2"), 6: ("2001:db8::1", "2001:db8::2")}


def conn_pair(
    pair: Any = None, ipv6: bool = False, pki: Any = None, **kw: Any
) -> tuple[Conn, Conn]:
    """West's and east's halves of one connection between a pair's sides.

    Keyword arguments go to :class:`Conn` (``proposals``, ``aggressive``,
    ``local_id``... from west's point of view) or, for ``esp_proposals``,
    ``ah_proposals``, ``mode``, ``start_action``, ``local_ts``, ``remote_ts``
    ``life_time``, ``child`` (its name) and ``child_rekey_time``, to the
    single :class:`Child`. ``pair`` may be
    None for the standard addresses. With ``pki`` (:func:`lab.certs.make_pki`)
    both sides use ``auth = pubkey`` with their certificate, key and DN.
    """
    child_kw = {k: kw.pop(k) for k in _CHILD_KEYS if k in kw}
    if "child" in kw:
        child_kw["name"] = kw.pop("child")
    if "child_rekey_time" in kw:
        child_kw["rekey_time"] = kw.pop("child_rekey_time")
    if pair is not None:
        w, e = pair.west, pair.east
        w_addr, e_addr = (w.addr6, e.addr6) if ipv6 else (w.addr, e.addr)
        w_net, e_net = w.net, e.net
    else:
        w_addr, e_addr = _ADDRS[6 if ipv6 else 4]
        w_net, e_net = "10.1.0.0/24", "10.2.0.0/24"
    child = Child(**{"local_ts": w_net, "remote_ts": e_net, **child_kw})
    base: dict[str, Any] = {"local_addrs": w_addr, "remote_addrs": e_addr}
    if pki is not None:
        base.update(
            auth="pubkey",
            local_id=pki.dn("west"),
            remote_id=pki.dn("east"),
            local_cert=pki.certs["west"],
            ca_certs=(pki.ca_cert,),
        )
    west = Conn(**{**base, "children": [child], **kw})
    east = west.mirrored()
    if pki is not None:
        west.local_key = pki.keys["west"]
        east.local_cert, east.remote_cert = pki.certs["east"], None
        east.local_key = pki.keys["east"]
    return west, east
