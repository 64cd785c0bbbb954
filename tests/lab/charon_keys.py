"""Key material from a charon log, and Wireshark decryption tables.

With ``ike = 4``, ``chd = 4`` and ``mgr = 2`` (``Charon(keylog=True)``),
charon 5.9.8 hex-dumps every IKEv1 key it derives::

    15[MGR] checkout IKEv1 SA by message with SPIs dfab8582b86d99a7_i 6db0..._r
    15[IKE] shared Diffie Hellman secret => 256 bytes @ 0x7f0158036530
    15[IKE]    0: 05 F6 10 AB ...  ................
    15[IKE] SKEYID => 20 bytes @ ...   (then SKEYID_d, SKEYID_a, SKEYID_e,
            "encryption key Ka", "initial IV")
    06[CHD]   using AES_CBC for encryption
    06[CHD] DH secret => 256 bytes @ ...          (Quick Mode PFS only)
    06[CHD] initiator SA seed => 325 bytes @ ...  ([g^xy] | proto | SPI | Ni | Nr)
    06[CHD] encryption initiator key => 16 bytes @ ...  (and responder, integrity)
    06[CHD] adding inbound ESP SA
    06[CHD]   SPI 0x0a124ad5, src 192.0.2.2 dst 192.0.2.1
    06[IKE] CHILD_SA net{1} established with SPIs 0a124ad5_i 22feb7f7_o ...

A message is handled by one worker thread from checkout to checkin, so the
parser keeps its state per thread. The "initiator" keys belong to the SA whose
SPI is in the initiator SA seed, i.e. the SA carrying traffic from the Quick
Mode initiator to the responder (RFC 2409 section 5.5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r"^(?:\S+ )?(\d+)\[(\w+)\] ?(.*)$")
_DUMP = re.compile(r"^(\S.*?) => (\d+) bytes @ (?:0x)?[0-9a-fA-F]+$")
_ROW = re.compile(r"^\s*(\d+): ((?:[0-9A-F]{2} ?){1,16})")
_COOKIES = re.compile(r"IKEv1 SA\b.* with SPIs ([0-9a-f]{16})_i ([0-9a-f]{16})_r")
_USING = re.compile(r"^\s*using (\S+) for (encryption|integrity)")
_ADDING = re.compile(r"^adding (inbound|outbound) (ESP|AH) SA")
_SPI = re.compile(r"^\s*SPI 0x([0-9a-f]{8}), src (\S+) dst (\S+)")
_CHILD_UP = re.compile(r"CHILD_SA \S+ established with SPIs")

_IKE_LABELS = {
    "shared Diffie Hellman secret": "dh_secret",
    "SKEYID": "skeyid",
    "SKEYID_d": "skeyid_d",
    "SKEYID_a": "skeyid_a",
    "SKEYID_e": "skeyid_e",
    "encryption key Ka": "ka",
    "initial IV": "iv",
}
_CHILD_LABELS = (
    "DH secret",
    "initiator SA seed",
    "responder SA seed",
    "encryption initiator key",
    "encryption responder key",
    "integrity initiator key",
    "integrity responder key",
)
_ZERO_COOKIE = "0" * 16


@dataclass(frozen=True)
class IkeKeys:
    """Phase 1 keys of one ISAKMP SA (RFC 2409 section 5)."""

    icookie: str  # 16 lowercase hex digits
    rcookie: str
    dh_secret: bytes  # g^xy
    skeyid: bytes
    skeyid_d: bytes
    skeyid_a: bytes
    skeyid_e: bytes
    ka: bytes  # the cipher key (SKEYID_e, cut or expanded per appendix B)
    iv: bytes  # initial IV: hash(g^xi | g^xr), cut to the block size


@dataclass(frozen=True)
class ChildSaKeys:
    """One IPsec SA (one direction) as the logging daemon installed it."""

    spi: int
    proto: str  # "ESP" or "AH"
    direction: str  # "in" or "out", seen from the daemon that logged it
    src: str
    dst: str
    encr_alg: str | None  # strongSwan's name: AES_CBC, 3DES_CBC, AES_GCM_16...
    encr_key: bytes
    integ_alg: str | None  # HMAC_SHA1_96, HMAC_SHA2_256_128...
    integ_key: bytes
    icookie: str | None  # the ISAKMP SA whose Quick Mode made it
    pfs_secret: bytes = b""  # Quick Mode g^xy, empty without PFS

    def keys(self) -> tuple[object, ...]:
        """Everything both ends must agree on (all but the direction)."""
        return (
            self.spi, self.proto, self.src, self.dst, self.encr_alg,
            self.encr_key, self.integ_alg, self.integ_key,
        )  # fmt: skip


@dataclass
class CharonKeys:
    ike: dict[str, IkeKeys] = field(default_factory=dict)  # by initiator cookie
    child: list[ChildSaKeys] = field(default_factory=list)

    def by_spi(self, spi: int) -> ChildSaKeys:
        found = [c for c in self.child if c.spi == spi]
        if len(found) != 1:
            raise KeyError(f"SPI 0x{spi:08x}: {len(found)} SAs in the log")
        return found[0]


def _events(lines: Iterable[str]) -> Iterator[tuple[str, str, object]]:
    """(thread, "msg", text) and (thread, "dump", (label, bytes)) events."""
    open_dumps: dict[str, tuple[str, int, bytearray]] = {}
    for raw in lines:
        m = _LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        thread, msg = m.group(1), m.group(3)
        if thread in open_dumps:
            label, size, buf = open_dumps[thread]
            row = _ROW.match(msg)
            if row and int(row.group(1)) == len(buf):
                buf += bytes.fromhex(row.group(2))
                if len(buf) >= size:
                    del open_dumps[thread]
                    yield thread, "dump", (label, bytes(buf[:size]))
                continue
            del open_dumps[thread]  # a truncated dump: drop it
        d = _DUMP.match(msg)
        if d:
            label, size = d.group(1), int(d.group(2))
            if size == 0:
                yield thread, "dump", (label, b"")
            else:
                open_dumps[thread] = (label, size, bytearray())
            continue
        yield thread, "msg", msg


@dataclass
class _ChildState:
    algs: dict[str, str] = field(default_factory=dict)
    dumps: dict[str, bytes] = field(default_factory=dict)
    sas: list[tuple[str, str, int, str, str]] = field(default_factory=list)
    pending: tuple[str, str] | None = None  # (direction, proto) awaiting SPI line


def _finish_child(st: _ChildState, cookie: str | None) -> list[ChildSaKeys]:
    dh = st.dumps.get("DH secret", b"")
    seed_i = st.dumps.get("initiator SA seed", b"")
    spi_i = seed_i[len(dh) + 1 : len(dh) + 5]
    out = []
    for direction, proto, spi, src, dst in st.sas:
        who = "initiator" if spi.to_bytes(4, "big") == spi_i else "responder"
        out.append(
            ChildSaKeys(
                spi=spi,
                proto=proto,
                direction=direction,
                src=src,
                dst=dst,
                encr_alg=st.algs.get("encryption"),
                encr_key=st.dumps.get(f"encryption {who} key", b""),
                integ_alg=st.algs.get("integrity"),
                integ_key=st.dumps.get(f"integrity {who} key", b""),
                icookie=cookie,
                pfs_secret=dh,
            )
        )
    return out


def parse_charon_keys(lines: Iterable[str]) -> CharonKeys:
    result = CharonKeys()
    cookies: dict[str, tuple[str, str]] = {}
    ike: dict[str, dict[str, bytes]] = {}
    child: dict[str, _ChildState] = {}
    saw_keys = False
    for thread, kind, data in _events(lines):
        st = child.setdefault(thread, _ChildState())
        if kind == "dump":
            label, blob = data  # type: ignore[misc]
            if label in _IKE_LABELS:
                saw_keys = True
                cur = ike.setdefault(thread, {})
                cur[_IKE_LABELS[label]] = blob
                if label == "initial IV" and thread in cookies:
                    ic, rc = cookies[thread]
                    fields = {f: cur.get(f, b"") for f in _IKE_LABELS.values()}
                    result.ike[ic] = IkeKeys(icookie=ic, rcookie=rc, **fields)
                    ike.pop(thread)
            elif label in _CHILD_LABELS:
                st.dumps[label] = blob
            continue
        msg = str(data)
        if m := _COOKIES.search(msg):
            ic, rc = m.group(1), m.group(2)
            cookies[thread] = (ic, rc)
            old = result.ike.get(ic)
            if old is not None and old.rcookie == _ZERO_COOKIE and rc != _ZERO_COOKIE:
                result.ike[ic] = IkeKeys(**{**old.__dict__, "rcookie": rc})
        elif m := _USING.match(msg):
            if m.group(2) == "encryption":
                child[thread] = st = _ChildState()
            st.algs[m.group(2)] = m.group(1)
        elif m := _ADDING.match(msg):
            st.pending = ("in" if m.group(1) == "inbound" else "out", m.group(2))
        elif (m := _SPI.match(msg)) and st.pending:
            direction, proto = st.pending
            st.sas.append(
                (direction, proto, int(m.group(1), 16), m.group(2), m.group(3))
            )
            st.pending = None
        elif _CHILD_UP.search(msg):
            cookie = cookies.get(thread, (None,))[0]
            result.child.extend(_finish_child(st, cookie))
            child[thread] = _ChildState()
    if saw_keys and not cookies:
        raise ValueError("charon log has keys but no cookies: it needs mgr = 2")
    return result


def charon_keys(log_path: Path | str) -> CharonKeys:
    """Parse a charon log written with ike = 4, chd = 4, mgr = 2."""
    with open(log_path, errors="replace") as f:
        return parse_charon_keys(f)


# strongSwan algorithm names -> Wireshark 4.0 esp_sa names
ESP_ENCR_NAMES = {
    "AES_CBC": "AES-CBC [RFC3602]",
    "3DES_CBC": "TripleDES-CBC [RFC2451]",
    "DES_CBC": "DES-CBC [RFC2405]",
    "AES_CTR": "AES-CTR [RFC3686]",
    "AES_GCM_8": "AES-GCM with 8 octet ICV [RFC4106]",
    "AES_GCM_12": "AES-GCM with 12 octet ICV [RFC4106]",
    "AES_GCM_16": "AES-GCM with 16 octet ICV [RFC4106]",
    "BLOWFISH_CBC": "BLOWFISH-CBC [RFC2451]",
    "CAST_CBC": "CAST5-CBC [RFC2144]",
    "NULL": "NULL",
}
ESP_INTEG_NAMES = {
    "HMAC_MD5_96": "HMAC-MD5-96 [RFC2403]",
    "HMAC_SHA1_96": "HMAC-SHA-1-96 [RFC2404]",
    "HMAC_SHA2_256_96": "HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]",
    "HMAC_SHA2_256_128": "HMAC-SHA-256-128 [RFC4868]",
    "HMAC_SHA2_384_192": "HMAC-SHA-384-192 [RFC4868]",
    "HMAC_SHA2_512_256": "HMAC-SHA-512-256 [RFC4868]",
}


def _flatten(sources: Iterable[object]) -> Iterator[IkeKeys | ChildSaKeys]:
    for s in sources:
        if isinstance(s, CharonKeys):
            yield from s.ike.values()
            yield from s.child
        elif isinstance(s, (IkeKeys, ChildSaKeys)):
            yield s
        elif isinstance(s, Iterable) and not isinstance(s, (str, bytes)):
            yield from _flatten(s)
        else:
            raise TypeError(f"not key material: {s!r}")


def wireshark_tables(*sources: object, auth_check: bool = True) -> list[str]:
    """tshark ``-o`` arguments that decrypt IKEv1 and ESP with these keys.

    ``sources``: :class:`CharonKeys`, :class:`IkeKeys`, :class:`ChildSaKeys`
    or iterables of them (rows are deduplicated, so passing both daemons'
    keys is fine). Algorithm names may be strongSwan's or Wireshark's own.
    UAT syntax (tshark 4.0): ``ikev1_decryption_table`` rows are unquoted hex
    ``icookie,Ka``; ``esp_sa`` rows are quoted protocol, src, dst, SPI,
    cipher, key, authentication, key.
    """
    ike_rows: dict[str, None] = {}
    esp_rows: dict[str, None] = {}
    for k in _flatten(sources):
        if isinstance(k, IkeKeys):
            ike_rows[f"{k.icookie},{k.ka.hex()}"] = None
        elif k.proto == "ESP":
            fam = "IPv6" if ":" in k.src else "IPv4"
            encr = ESP_ENCR_NAMES.get(k.encr_alg or "NULL", k.encr_alg or "NULL")
            integ = ESP_INTEG_NAMES.get(k.integ_alg or "NULL", k.integ_alg or "NULL")
            ekey = f"0x{k.encr_key.hex()}" if k.encr_key else ""
            ikey = f"0x{k.integ_key.hex()}" if k.integ_key else ""
            cols = (fam, k.src, k.dst, f"0x{k.spi:08x}", encr, ekey, integ, ikey)
            esp_rows[",".join(f'"{c}"' for c in cols)] = None
    args: list[str] = []
    for row in ike_rows:
        args += ["-o", f"uat:ikev1_decryption_table:{row}"]
    if esp_rows:
        args += ["-o", "esp.enable_encryption_decode:TRUE"]
        if auth_check:
            args += ["-o", "esp.enable_authentication_check:TRUE"]
        for row in esp_rows:
            args += ["-o", f"uat:esp_sa:{row}"]
    return args
