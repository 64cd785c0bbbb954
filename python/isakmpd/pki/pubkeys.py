"""Trusted raw public keys in Pubkey-directory, named after the peer's ID:
``ipv4/A.B.C.D``, ``ipv6/<address>``, ``fqdn/<name>``, ``ufqdn/<user@name>``.

isakmpd only finds an IPv6 key under the compressed address
(``2001:db8::1``, as getnameinfo prints it); the full form
(``2001:0db8:0000:0000:0000:0000:0000:0001``) is accepted too.
"""

from __future__ import annotations

import ipaddress
import os

from ..constants import IdType

_SUBDIRS = {IdType.IPV4_ADDR: "ipv4", IdType.IPV6_ADDR: "ipv6",
            IdType.FQDN: "fqdn", IdType.USER_FQDN: "ufqdn"}


def _safe_name(data: bytes) -> str | None:
    """A peer-supplied name usable as a file name: printable ASCII, no
    slash, not starting with a dot."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not text or not text.isprintable() or "/" in text or text.startswith("."):
        return None
    return text


def file_names(id_type: int, id_data: bytes) -> list[str]:
    """The names, in order, under which a key for the ID is looked for."""
    if id_type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR):
        if len(id_data) != (4 if id_type == IdType.IPV4_ADDR else 16):
            return []
        addr = ipaddress.ip_address(id_data)
        names = [str(addr)]
        if addr.version == 6:
            names.append(addr.exploded)
        return names
    if id_type in (IdType.FQDN, IdType.USER_FQDN):
        name = _safe_name(id_data)
        if name is None:
            return []
        return list(dict.fromkeys([name, name.lower()]))
    return []


def candidate_paths(directory: str, id_type: int, id_data: bytes) -> list[str]:
    """The files of ``directory`` that may hold the key of the ID."""
    sub = _SUBDIRS.get(id_type)  # IntEnum keys hash as their ints
    if sub is None:
        return []
    return [os.path.join(directory, sub, n) for n in file_names(id_type, id_data)]
