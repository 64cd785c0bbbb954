"""Key export for Wireshark (--keylog, FIFO k): the tables themselves.

Two engines negotiate in memory (tests/enginepair.py); their SAs go through
isakmpd.keylog into a folder each, and tshark (Wireshark 4.0) is the judge:
``WIRESHARK_CONFIG_DIR=folder tshark`` must load the tables without an
error, decrypt the IKE messages the engines sent, and decrypt an ESP packet
sealed with the exported ESP keys (built here with the ``cryptography``
package, the way RFC 4303 and 2404 say).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import struct
import subprocess
from pathlib import Path

import lab
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from enginepair import Node, gateway_pair
from isakmpd.keylog import (
    ESP_TABLE,
    HEADER,
    IKE_TABLE,
    PREFERENCES,
    KeyLog,
    KeyLogError,
    esp_rows,
    ike_rows,
)
from lab import tshark
from lab.tshark import write_udp_pcap

QM_IDS = [("10.1.0.0", "255.255.255.0"), ("10.2.0.0", "255.255.255.0")]


def export(node: Node, folder: Path) -> KeyLog:
    kl = KeyLog(str(folder))
    kl.update(node.isakmp_sas(), node.ipsec_sas())
    return kl


def table(folder: Path, name: str) -> list[str]:
    lines = (folder / name).read_text().splitlines()
    assert lines[0] + "\n" == HEADER
    return lines[1:]


def esp_fields(line: str) -> list[str]:
    assert line.startswith('"') and line.endswith('"'), line
    return line[1:-1].split('","')


def run_tshark(folder: Path, pcap: Path, *args: str) -> str:
    """tshark with ``folder`` as its configuration; no table may fail."""
    lab.require_tool("tshark")
    res = subprocess.run(["tshark", "-n", "-r", str(pcap), *args],
                         capture_output=True, text=True, check=False, timeout=60,
                         env={**os.environ, "WIRESHARK_CONFIG_DIR": str(folder)})
    assert res.returncode == 0, res.stderr
    assert "Error loading" not in res.stderr, res.stderr
    return res.stdout


def fields(folder: Path, pcap: Path, names: list[str], flt: str) -> list[list[str]]:
    args = ["-T", "fields", "-E", "separator=|", "-Y", flt]
    for n in names:
        args += ["-e", n]
    out = run_tshark(folder, pcap, *args)
    return [line.split("|") for line in out.splitlines() if line]


# ----------------------------------------------------------------- the tables


def test_tables_of_both_ends(tmp_path: Path) -> None:
    _, w, e = gateway_pair()
    wd, ed = tmp_path / "west", tmp_path / "east"
    export(w, wd)
    export(e, ed)
    for d in (wd, ed):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
        for name in (IKE_TABLE, ESP_TABLE, PREFERENCES):
            assert stat.S_IMODE((d / name).stat().st_mode) == 0o600
        assert "esp.enable_encryption_decode: TRUE" in table(d, PREFERENCES)
    (sa,) = w.isakmp_sas()
    assert sa.cipher is not None
    ike = table(wd, IKE_TABLE)
    assert ike == table(ed, IKE_TABLE) == [
        f"{sa.icookie.hex()},{sa.cipher.key().hex()}"]
    assert len(sa.cipher.key()) == 16  # AES-128: Ka is SKEYID_e's first 16 bytes
    # each end exports both directions: the same two lines
    esp = table(wd, ESP_TABLE)
    assert sorted(esp) == sorted(table(ed, ESP_TABLE)) and len(esp) == 2
    (ipsec,) = w.ipsec_sas()
    (p,) = ipsec.protos
    rows = [esp_fields(line) for line in esp]
    assert rows[0][:4] == ["IPv4", "192.0.2.2", "192.0.2.1", f"0x{p.spi_in.hex()}"]
    assert rows[1][:4] == ["IPv4", "192.0.2.1", "192.0.2.2", f"0x{p.spi_out.hex()}"]
    for row, km in ((rows[0], p.keymat_in), (rows[1], p.keymat_out)):
        assert row[4] == "AES-CBC [RFC3602]" and row[6] == "HMAC-SHA-1-96 [RFC2404]"
        assert row[5] == "0x" + km[:16].hex() and row[7] == "0x" + km[16:36].hex()
        assert len(km) == 36


def test_rows_follow_the_sas(tmp_path: Path) -> None:
    net, w, _ = gateway_pair()
    kl = export(w, tmp_path)
    assert len(table(tmp_path, ESP_TABLE)) == 2
    w.engine.teardown("vpn", net.now)
    net.run()
    kl.update(w.isakmp_sas(), w.ipsec_sas())
    assert table(tmp_path, ESP_TABLE) == []
    assert len(table(tmp_path, IKE_TABLE)) == 1
    (sa,) = w.isakmp_sas()
    w.engine.delete_isakmp(sa, net.now)
    net.run()
    kl.update(w.isakmp_sas(), w.ipsec_sas())
    assert table(tmp_path, IKE_TABLE) == [] and table(tmp_path, ESP_TABLE) == []
    # a file that did not change is not written again
    before = (tmp_path / PREFERENCES).stat().st_mtime_ns
    os.utime(tmp_path / PREFERENCES, ns=(1, 1))
    kl.update([], [])
    assert (tmp_path / PREFERENCES).stat().st_mtime_ns == 1 != before


@pytest.mark.parametrize(("suite", "name", "key_len", "auth", "auth_len"), [
    ("QM-ESP-AESGCM-256-SUITE", "AES-GCM with 16 octet ICV [RFC4106]", 36, "NULL", 0),
    ("QM-ESP-AESCTR-128-SHA2-256-SUITE", "AES-CTR [RFC3686]", 20,
     "HMAC-SHA-256-128 [RFC4868]", 32),
    ("QM-ESP-3DES-MD5-SUITE", "TripleDES-CBC [RFC2451]", 24, "HMAC-MD5-96 [RFC2403]",
     16),
])
def test_other_ciphers(suite: str, name: str, key_len: int, auth: str,
                       auth_len: int) -> None:
    _, w, _ = gateway_pair(suites=suite, transforms="3DES-SHA-GRP14")
    (ipsec,) = w.ipsec_sas()
    rows = [esp_fields(r.rstrip("\n")) for r in esp_rows([ipsec])]
    assert len(rows) == 2
    for row, km in zip(rows, (ipsec.protos[0].keymat_in, ipsec.protos[0].keymat_out),
                       strict=True):
        assert row[4] == name and row[6] == auth
        # counter mode and GCM: the 4-byte salt ends the key
        assert row[5] == "0x" + km[:key_len].hex()
        assert row[7] == ("0x" + km[key_len:key_len + auth_len].hex() if auth_len
                          else "")
    (sa,) = w.isakmp_sas()
    (line,) = ike_rows([sa])
    assert len(line.strip().split(",")[1]) == 48  # 3DES: a 24-byte key


def test_gmac_is_left_out() -> None:
    _, w, _ = gateway_pair(suites="QM-ESP-AESGMAC-128-SUITE")
    assert len(w.ipsec_sas()) == 1
    assert esp_rows(w.ipsec_sas()) == []


def test_files_not_ours_are_never_replaced(tmp_path: Path) -> None:
    (tmp_path / PREFERENCES).write_text("gui.version_placement: 1\n")
    with pytest.raises(KeyLogError, match="not written by isakmpd"):
        KeyLog(str(tmp_path))
    assert (tmp_path / PREFERENCES).read_text() == "gui.version_placement: 1\n"
    not_dir = tmp_path / "file"
    not_dir.write_text("x")
    with pytest.raises(KeyLogError):
        KeyLog(str(not_dir))


# ----------------------------------------------------------------- tshark


def test_tshark_decrypts_ike_with_the_tables(tmp_path: Path) -> None:
    net, w, e = gateway_pair()
    for node in (w, e):
        export(node, tmp_path / node.name)
    pcap = write_udp_pcap(tmp_path / "ike.pcap", [
        (p.src[0], p.dst[0], p.src[1], p.dst[1], p.data) for p in net.sent])
    names = ["isakmp.exchangetype", "isakmp.id.data.ipv4_addr",
             "isakmp.id.data.ipv4_subnet"]
    for folder in (tmp_path / "west", tmp_path / "east"):
        rows = fields(folder, pcap, names, "isakmp")
        assert len(rows) == 9
        assert [r[1] for r in rows[4:6]] == ["192.0.2.1", "192.0.2.2"]  # MM 5, 6
        qm = [list(zip(r[1].split(","), r[2].split(","), strict=True))
              for r in rows[6:8]]
        assert qm == [QM_IDS, QM_IDS]
        assert not fields(folder, pcap, ["frame.number"], "_ws.malformed || "
                          "_ws.expert.severity == error")
    # the control: without the tables nothing is readable
    empty = tmp_path / "empty"
    empty.mkdir()
    rows = fields(empty, pcap, names, "isakmp")
    assert [r[1] for r in rows] == [""] * 9


def _esp_packet(src: str, dst: str, spi: bytes, seq: int, enc_key: bytes,
                auth_key: bytes) -> bytes:
    """An ICMP echo request from 10.1.0.1 to 10.2.0.1 in tunnel-mode ESP
    (AES-CBC, HMAC-SHA1-96), outer IPv4 ``src`` to ``dst``."""
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x1234, seq) + b"isakmpd keylog test"
    csum = tshark._checksum(icmp)
    icmp = icmp[:2] + struct.pack("!H", csum) + icmp[4:]
    inner = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0,
                        bytes([10, 1, 0, 1]), bytes([10, 2, 0, 1]))
    inner = inner[:10] + struct.pack("!H", tshark._checksum(inner)) + inner[12:]
    inner += icmp
    pad = (-(len(inner) + 2)) % 16
    clear = inner + bytes(range(1, pad + 1)) + bytes([pad, 4])
    iv = bytes(range(16))
    enc = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).encryptor()
    body = spi + struct.pack("!I", seq) + iv + enc.update(clear) + enc.finalize()
    icv = hmac.new(auth_key, body, hashlib.sha1).digest()[:12]
    esp = body + icv
    addrs = [bytes(map(int, a.split("."))) for a in (src, dst)]
    outer = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(esp), seq, 0, 64, 50, 0,
                        *addrs)
    outer = outer[:10] + struct.pack("!H", tshark._checksum(outer)) + outer[12:]
    return outer + esp


def test_tshark_decrypts_esp_with_the_tables(tmp_path: Path) -> None:
    _, w, e = gateway_pair()
    export(w, tmp_path / "west")
    (p,) = w.ipsec_sas()[0].protos
    km = p.keymat_out
    good = _esp_packet("192.0.2.1", "192.0.2.2", p.spi_out, 1, km[:16], km[16:36])
    wrong = _esp_packet("192.0.2.1", "192.0.2.2", p.spi_out, 2, km[16:32], km[:20])
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    for i, pkt in enumerate((good, wrong)):
        out += struct.pack("<IIII", 1_700_000_000 + i, 0, len(pkt), len(pkt)) + pkt
    pcap = tmp_path / "esp.pcap"
    pcap.write_bytes(bytes(out))
    rows = fields(tmp_path / "west", pcap, ["frame.number", "icmp.type", "esp.icv_good",
                                            "ip.src"], "esp")
    assert len(rows) == 2
    assert rows[0][1] == "8" and rows[0][2] in ("1", "True")
    assert rows[0][3] == "192.0.2.1,10.1.0.1"
    assert rows[1][1] == ""  # wrong keys: nothing inside
    # east's table has the same SA (its inbound one)
    export(e, tmp_path / "east")
    rows = fields(tmp_path / "east", pcap, ["icmp.type"], "esp && icmp")
    assert [r[0] for r in rows] == ["8"]
