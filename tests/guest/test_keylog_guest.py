"""Key export against real kernel ESP, inside the qemu VM (tools/vm/run.sh).

Our daemons run the example configurations without ``-n``, so the kernel
does ESP, and each exports its keys (``--keylog``). tcpdump captures the
veth from before the first IKE message to after a ping through the tunnel.
Then, with only one daemon's folder as Wireshark's configuration, tshark
must decrypt the Quick Mode and every ICMP echo inside ESP, with good ICVs;
and the exported ESP keys must be the kernel's. The capture and the table
are left in $ISAKMPD_VM_OUT for the host to decrypt once more
(tests/test_vm.py).

Skipped outside the VM (run.sh sets ISAKMPD_IN_VM=1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import lab
import pytest
from isakmpd.keylog import ESP_TABLE, HEADER, IKE_TABLE
from test_tunnel_guest import (
    QUIET,
    SA_TIMEOUT,
    add_routes,
    example,
    out_dir,
    start_all,
    wait_sas,
    xfrm_states,
)

pytestmark = [
    pytest.mark.vm,
    pytest.mark.netns,
    lab.in_vm_only,
]

QM_IDS = ["10.1.0.0,10.2.0.0"] * 2


def esp_table(folder: Path) -> list[list[str]]:
    text = (folder / ESP_TABLE).read_text()
    assert text.startswith(HEADER)
    return [line[1:-1].split('","') for line in text[len(HEADER):].splitlines()]


def tshark_fields(folder: Path, pcap: Path, names: list[str], flt: str
                  ) -> list[list[str]]:
    argv = ["tshark", "-n", "-r", str(pcap), "-Y", flt, "-T", "fields",
            "-E", "separator=|"]
    for n in names:
        argv += ["-e", n]
    res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300,
                         env={**os.environ, "WIRESHARK_CONFIG_DIR": str(folder)})
    assert res.returncode == 0 and "Error loading" not in res.stderr, res.stderr
    return [line.split("|") for line in res.stdout.splitlines() if line]


@pytest.mark.timeout(600)
def test_exported_tables_decrypt_kernel_esp(netns_pair: lab.NetnsPair,
                                            tmp_path: Path) -> None:
    lab.require_tool("tcpdump")
    lab.require_tool("tshark")
    pair, w, e = netns_pair, netns_pair.west, netns_pair.east
    add_routes(pair)
    directory = out_dir(tmp_path)
    folders = {s.name: tmp_path / f"keys-{s.name}" for s in (w, e)}
    daemons = {
        s.name: lab.Isakmpd(s, example(s.name, general=QUIET), debug=30,
                            args=["--keylog", str(folders[s.name])],
                            workdir=tmp_path / f"isakmpd-keylog-{s.name}",
                            name=f"isakmpd-keylog-{s.name}")
        for s in (w, e)
    }
    pcap = directory / "isakmpd-keylog-wire.pcap"
    cap = pair.capture(pcap, side="east", bpf="udp or esp")
    try:
        start_all(daemons["east"], daemons["west"])
        sas = wait_sas(w, 2, list(daemons.values()), timeout=SA_TIMEOUT)
        wait_sas(e, 2, list(daemons.values()), timeout=SA_TIMEOUT)
        res = lab.ping(w, w.inner, e.inner, count=3, wait=5)
        assert res.received == 3, res.output
        # the tables as they are while the tunnel is up (west's DELETE at
        # its shutdown takes the SAs out of east's)
        for name, folder in folders.items():
            shutil.copytree(folder, tmp_path / f"up-{name}")
    finally:
        cap.stop()
        for d in daemons.values():
            d.stop(timeout=30)
    assert {s.spi for s in xfrm_states(w)} == set()  # stopped: kernel clean
    # west stopped first: its tables keep the SAs it had
    assert esp_table(folders["west"]) == esp_table(tmp_path / "up-west")

    for name in folders:
        folder = tmp_path / f"up-{name}"
        # the table holds the kernel's SAs, keys and all
        rows = esp_table(folder)
        assert len(rows) == 2, (rows, daemons[name].log()[-3000:])
        for fam, src, dst, spi, enc, enc_key, auth, auth_key in rows:
            sa = sas[int(spi, 16)]
            assert (fam, src, dst) == ("IPv4", sa.src, sa.dst)
            assert (enc, auth) == ("AES-CBC [RFC3602]", "HMAC-SHA-1-96 [RFC2404]")
            assert (enc_key, auth_key) == ("0x" + sa.enc_key.hex(),
                                           "0x" + sa.auth_key.hex())
        assert len((folder / IKE_TABLE).read_text().splitlines()) == 2
        # tshark with this folder alone: IKE and ESP in clear
        qm = tshark_fields(folder, pcap, ["isakmp.id.data.ipv4_addr"],
                           "isakmp.exchangetype == 32")
        assert [r[0] for r in qm[:2]] == QM_IDS, (name, qm)
        icmp = tshark_fields(folder, pcap, ["esp.spi", "icmp.type", "esp.icv_good"],
                             "esp")
        assert len(icmp) == 6, (name, icmp)
        assert sorted(r[1] for r in icmp) == ["0"] * 3 + ["8"] * 3, (name, icmp)
        assert all(r[2] in ("1", "True") for r in icmp), (name, icmp)
        assert not tshark_fields(folder, pcap, ["frame.number"],
                                 "_ws.malformed || _ws.expert.severity == error")

    # for the host's tshark (tests/test_vm.py): the capture and west's table
    record = {
        "pcaps": [pcap.name],
        "icmp": 6,
        "sas": [{"family": fam, "src": src, "dst": dst, "spi": spi, "enc": enc,
                 "enc_key": enc_key.removeprefix("0x"), "auth": auth,
                 "auth_key": auth_key.removeprefix("0x")}
                for fam, src, dst, spi, enc, enc_key, auth, auth_key
                in esp_table(tmp_path / "up-west")],
    }
    (directory / "isakmpd-keylog.json").write_text(json.dumps(record, indent=1))
