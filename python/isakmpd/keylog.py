"""Key export for Wireshark: the tables that let it decrypt our traffic.

With ``--keylog DIR`` (or FIFO ``k on=DIR``) the daemon keeps three files in
DIR, so that ``WIRESHARK_CONFIG_DIR=DIR tshark -r capture.pcap`` (or
Wireshark started the same way) decrypts IKE and ESP captured on the wire:

``ikev1_decryption_table``
    one line per ISAKMP SA whose keys exist: the initiator cookie and the
    phase-1 encryption key, both as bare hex (Wireshark reads quoted values
    as text), e.g. ``afe19217707b9d6d,460f440bbcec73d6d0e37edc32015cef``.
    Wireshark derives the IVs itself from the KE payloads, so the capture
    must hold the whole exchange.
``esp_sa``
    one line per ESP SA (two per negotiated bundle, one each way): protocol,
    source, destination, SPI, cipher, cipher key, integrity algorithm,
    integrity key, each quoted, the algorithms by Wireshark's names. Counter
    mode and GCM keys end with their 4-byte salt, as Wireshark wants them.
``preferences``
    turns on ESP decryption and the ICV check.

The tables follow the SAs: a line appears once the keys exist (phase 1 from
Main Mode message 3 or 4 on) and goes when the SA goes. Each file is
replaced whole (mode 0600), so a reader sees an old table or the new one.
Files already in DIR that this module did not write are never replaced:
DIR should be a folder of its own, not a Wireshark profile in use.

This writes secret keys to disk, on purpose: it is for debugging.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

from . import log
from .constants import ProtocolId
from .errors import CryptoError
from .kernel import algs
from .log import Cls
from .sa import IpsecSA, IsakmpSA

IKE_TABLE = "ikev1_decryption_table"
ESP_TABLE = "esp_sa"
PREFERENCES = "preferences"
FILES = (IKE_TABLE, ESP_TABLE, PREFERENCES)
#: the first line of every file written here; a file without it is not ours
HEADER = "# Written by isakmpd (--keylog): secret keys, for Wireshark only.\n"
PREFERENCE_LINES = ("esp.enable_encryption_decode: TRUE\n"
                    "esp.enable_authentication_check: TRUE\n")

_log = log.logger(Cls.CRYPTO)


class KeyLogError(Exception):
    """The key folder cannot be used."""


def ike_rows(sas: Iterable[IsakmpSA]) -> list[str]:
    """``ikev1_decryption_table`` lines of the ISAKMP SAs that have keys."""
    rows = []
    for sa in sas:
        if sa.state == "dead" or sa.cipher is None:
            continue
        rows.append(f"{sa.icookie.hex()},{sa.cipher.key().hex()}\n")
    return rows


def _family(address: str) -> str:
    try:
        return "IPv6" if ipaddress.ip_address(address).version == 6 else "IPv4"
    except ValueError:
        return "Any"


def _esp_line(src: str, dst: str, spi: bytes, enc: str, enc_key: bytes, auth: str,
              auth_key: bytes) -> str:
    fields = [_family(src), src, dst, f"0x{spi.hex()}", enc,
              f"0x{enc_key.hex()}" if enc_key else "", auth,
              f"0x{auth_key.hex()}" if auth_key else ""]
    return ",".join(f'"{f}"' for f in fields) + "\n"


def esp_rows(sas: Iterable[IpsecSA]) -> list[str]:
    """``esp_sa`` lines: each ESP SA of the bundles, inbound and outbound.
    SAs whose cipher Wireshark cannot decrypt (AES-GMAC) are left out."""
    rows = []
    for s in sas:
        if s.state == "dead":
            continue
        local, remote = s.isakmp.local[0], s.isakmp.remote[0]
        for p in s.protos:
            if p.protocol_id != ProtocolId.IPSEC_ESP or not p.spi_out:
                continue
            try:
                enc, auth = algs.wireshark_names(p.transform_id, p.auth_alg)
                enc_len, auth_len = algs.esp_keymat_lengths(p.transform_id, p.key_bits,
                                                            p.auth_alg)
            except CryptoError:
                enc = None
            if enc is None:
                log.debug(Cls.CRYPTO, 30, f"keylog: {s.name}: no Wireshark name for "
                          f"ESP transform {p.transform_id}; not exported")
                continue
            for src, dst, spi, km in ((remote, local, p.spi_in, p.keymat_in),
                                      (local, remote, p.spi_out, p.keymat_out)):
                rows.append(_esp_line(src, dst, spi, enc, km[:enc_len], auth,
                                      km[enc_len:enc_len + auth_len]))
    return rows


class KeyLog:
    """The three files in ``directory``, kept up to date by :meth:`update`."""

    def __init__(self, directory: str) -> None:
        self.dir = Path(directory)
        self._written: dict[str, str] = {}
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise KeyLogError(f"cannot make {directory}: {e.strerror}") from None
        if not self.dir.is_dir():
            raise KeyLogError(f"{directory} is not a directory")
        for name in FILES:
            path = self.dir / name
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    first = f.readline()
            except FileNotFoundError:
                continue
            except OSError as e:
                raise KeyLogError(f"cannot read {path}: {e.strerror}") from None
            if first != HEADER:
                raise KeyLogError(f"{path} exists and was not written by isakmpd: "
                                  "not replacing it (use a folder of its own)")

    def update(self, isakmp_sas: Iterable[IsakmpSA], ipsec_sas: Iterable[IpsecSA]
               ) -> None:
        """Write the tables for these SAs (files whose text changed only)."""
        texts = {
            IKE_TABLE: "".join(ike_rows(isakmp_sas)),
            ESP_TABLE: "".join(esp_rows(ipsec_sas)),
            PREFERENCES: PREFERENCE_LINES,
        }
        for name, text in texts.items():
            if self._written.get(name) != text:
                self._replace(name, HEADER + text)
                self._written[name] = text

    def _replace(self, name: str, text: str) -> None:
        path = self.dir / name
        tmp = self.dir / f".{name}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                         0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise KeyLogError(f"cannot write {path}: {e.strerror}") from None
