"""Our daemon against strongSwan's charon (IKEv1) in a pair of namespaces.

charon runs with kernel-libipsec (this host's kernel has no ESP), so it fakes
a NAT, floats to port 4500 and insists on UDP-encapsulated ESP; our daemon
runs with ``-n`` (nothing reaches the kernel) and ``-D 3=99`` (key material
in its log). Our daemon is always in west (192.0.2.1), charon in east
(192.0.2.2); either starts the negotiation.

Checked: both ends list the same SAs with the same SPIs in opposite
directions, both derived the same phase-1 and ESP keys, tshark decrypts the
IKE capture with the key we logged, and the failures (no common proposal,
wrong pre-shared key) end cleanly on both sides.

The helpers at the top are shared with test_interop_self.py and
test_robustness_wire.py.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import lab
import pytest
from isakmpd.constants import AuthAlg, EspTransform
from isakmpd.kernel.algs import esp_keymat_lengths
from lab import tshark

pytestmark = [pytest.mark.netns, pytest.mark.strongswan]

WEST_NET, EAST_NET = "10.1.0.0", "10.2.0.0"
MASK = "255.255.255.0"
KEYS_DEBUG = ("-n", "-D", "3=99")

# -- our configuration --------------------------------------------------------


def isakmpd_conf(
    *,
    local: str = "192.0.2.1",
    remote: str = "192.0.2.2",
    local_net: str = WEST_NET,
    remote_net: str = EAST_NET,
    transforms: str = "AES-128-SHA-GRP14",
    suites: str = "QM-ESP-AES-128-SHA-PFS-GRP14-SUITE",
    passive: bool = False,
    psk: str = lab.DEFAULT_PSK,
    general: str = "",
    conn: str = "west-east",
) -> str:
    """isakmpd.conf for one gateway (modelled on examples/west.conf): one
    ISAKMP peer at ``remote``, one tunnel ``local_net``/24 - ``remote_net``/24
    that is started at boot, or only accepted when ``passive``."""
    which = "Passive-connections" if passive else "Connections"
    return f"""# written by tests/test_interop_strongswan.py
[General]
Listen-on=\t\t{local}
{general}
[Phase 1]
{remote}=\t\tpeer

[Phase 2]
{which}=\t{conn}

[peer]
Phase=\t\t\t1
Address=\t\t{remote}
Local-address=\t\t{local}
Authentication=\t\t{psk}
Configuration=\t\tmain-mode

[main-mode]
DOI=\t\t\tIPSEC
EXCHANGE_TYPE=\t\tID_PROT
Transforms=\t\t{transforms}

[{conn}]
Phase=\t\t\t2
ISAKMP-peer=\t\tpeer
Configuration=\t\tquick-mode
Local-ID=\t\tnet-local
Remote-ID=\t\tnet-remote

[net-local]
ID-type=\t\tIPV4_ADDR_SUBNET
Network=\t\t{local_net}
Netmask=\t\t{MASK}

[net-remote]
ID-type=\t\tIPV4_ADDR_SUBNET
Network=\t\t{remote_net}
Netmask=\t\t{MASK}

[quick-mode]
DOI=\t\t\tIPSEC
EXCHANGE_TYPE=\t\tQUICK_MODE
Suites=\t\t\t{suites}
"""


# -- what our daemon logs and reports ------------------------------------------

_KEYMAT = re.compile(
    r"Cryp 99 (\S+) IPSEC_ESP SPI ([0-9a-f]{8}) (in|out) KEYMAT ([0-9a-f]+)$",
    re.MULTILINE,
)
_IKE_KEY = re.compile(
    r"Cryp 99 ([0-9a-f]{16}) ([0-9a-f]{16}) "
    r"(g\^xy|SKEYID|SKEYID_D|SKEYID_A|SKEYID_E|encryption key|initial IV) "
    r"([0-9a-f]+)$",
    re.MULTILINE,
)


@dataclass
class OurKeymat:
    conn: str
    spi: int
    direction: str  # "in" or "out"
    keymat: bytes


def our_keymats(log: str) -> list[OurKeymat]:
    """The ESP KEYMAT lines of a ``-D 3=99`` log."""
    return [
        OurKeymat(m[1], int(m[2], 16), m[3], bytes.fromhex(m[4]))
        for m in _KEYMAT.finditer(log)
    ]


def our_ike_keys(log: str) -> dict[str, dict[str, bytes]]:
    """Phase-1 keys of a ``-D 3=99`` log by initiator cookie: ``g^xy``,
    ``SKEYID``, ``SKEYID_D/A/E``, ``encryption key``, ``initial IV``,
    and the responder cookie under ``rcookie``."""
    out: dict[str, dict[str, bytes]] = {}
    for m in _IKE_KEY.finditer(log):
        keys = out.setdefault(m[1], {"rcookie": bytes.fromhex(m[2])})
        keys[m[3]] = bytes.fromhex(m[4])
    return out


def ike_decrypt(*cookie_key: tuple[str, bytes]) -> list[str]:
    """tshark options decrypting IKEv1 with (icookie hex, encryption key)."""
    args: list[str] = []
    for icookie, key in cookie_key:
        args += ["-o", f"uat:ikev1_decryption_table:{icookie},{key.hex()}"]
    return args


def decrypt_from_log(log: str) -> list[str]:
    """tshark options for every ISAKMP SA whose keys ``log`` shows."""
    keys = our_ike_keys(log)
    return ike_decrypt(*((ic, k["encryption key"]) for ic, k in keys.items()))


@dataclass
class ReportSA:
    """One block of the FIFO ``S`` report."""

    name: str
    phase: int
    role: str
    lines: list[str]
    icookie: str = ""
    rcookie: str = ""
    spis: list[tuple[int, int]] = field(default_factory=list)  # (out, in)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


_SA_NAME = re.compile(r"^SA name: (\S+) \(Phase ([12])/(Initiator|Responder)\)$")
_COOKIES = re.compile(r"icookie ([0-9a-f]{16}) rcookie ([0-9a-f]{16})")
_SPI = re.compile(r"^SPI \d+: ([0-9a-f]{8}) \(out\) ([0-9a-f]{8}) \(in\)$")


def parse_sa_report(text: str) -> list[ReportSA]:
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if not lines:
            continue
        m = _SA_NAME.match(lines[0])
        assert m, f"SA report block without a name line:\n{block}"
        sa = ReportSA(m[1], int(m[2]), m[3], lines)
        for line in lines:
            if c := _COOKIES.search(line):
                sa.icookie, sa.rcookie = c[1], c[2]
            if s := _SPI.match(line):
                sa.spis.append((int(s[1], 16), int(s[2], 16)))
        out.append(sa)
    return out


def sa_report_text(d: lab.Isakmpd, timeout: float = 5.0) -> str:
    """FIFO ``S``; unlike ``Isakmpd.sa_report`` this also reads an empty
    report (no SAs at all)."""
    path = d.result_path
    path.unlink(missing_ok=True)
    d.fifo("S")
    sizes: list[int] = []

    def settled() -> bool:
        if not path.exists():
            return False
        sizes.append(path.stat().st_size)
        return len(sizes) >= 3 and sizes[-1] == sizes[-2] == sizes[-3]

    lab.wait_until(settled, timeout, f"{d.name}: FIFO S result", interval=0.05)
    return path.read_text(errors="replace")


def report_sas(d: lab.Isakmpd, phase: int | None = None) -> list[ReportSA]:
    assert d.alive(), f"{d.name} exited:\n{d.log()[-2000:]}"
    sas = parse_sa_report(sa_report_text(d))
    return [s for s in sas if phase is None or s.phase == phase]


def wait_report(
    d: lab.Isakmpd, phase1: int = 1, phase2: int = 1, timeout: float = 10.0
) -> list[ReportSA]:
    """Wait until ``S`` lists ``phase1`` established ISAKMP SAs and
    ``phase2`` IPsec SAs (at least)."""

    def probe() -> list[ReportSA] | None:
        sas = report_sas(d)
        p1 = [s for s in sas if s.phase == 1 and "state: established" in s.text]
        p2 = [s for s in sas if s.phase == 2]
        return sas if len(p1) >= phase1 and len(p2) >= phase2 else None

    return lab.wait_until(
        probe, timeout, f"{d.name}: SAs in the S report", interval=0.2
    )


def count_lines(log: str, pattern: str) -> int:
    return len(re.findall(pattern, log, re.MULTILINE))


def assert_clean_log(d: lab.Isakmpd) -> None:
    log = d.log()
    assert "Traceback" not in log, log[-3000:]
    assert "Exception" not in log, log[-3000:]


def esp_split(
    km: bytes, transform_id: int, key_bits: int | None, auth: int
) -> tuple[bytes, bytes]:
    enc_len, auth_len = esp_keymat_lengths(transform_id, key_bits, auth)
    assert len(km) == enc_len + auth_len, (len(km), enc_len, auth_len)
    return km[:enc_len], km[enc_len:]


# -- the suites -----------------------------------------------------------------


@dataclass(frozen=True)
class Suite:
    """One interop case: charon's proposals and our section names."""

    ike: str  # charon
    esp: str  # charon
    transforms: str  # ours
    suites: str  # ours
    ike_encr: str  # charon's list-sas names
    ike_group: str
    ka_len: int
    pfs_group: int


SUITES = {
    "aes128-modp2048": Suite(
        "aes128-sha1-modp2048",
        "aes128-sha1-modp2048",
        "AES-128-SHA-GRP14",
        "QM-ESP-AES-128-SHA-PFS-GRP14-SUITE",
        "AES_CBC",
        "MODP_2048",
        16,
        14,
    ),
    "3des-modp1024": Suite(
        "3des-sha1-modp1024",
        "aes128-sha1-modp1024",
        "3DES-SHA-GRP2",
        "QM-ESP-AES-128-SHA-PFS-GRP2-SUITE",
        "3DES_CBC",
        "MODP_1024",
        24,
        2,
    ),
}


@dataclass
class Interop:
    pair: lab.NetnsPair
    ours: lab.Isakmpd
    charon: lab.Charon
    suite: Suite
    pcap: Path | None
    we_initiate: bool


def _start(
    pair: lab.NetnsPair,
    charon_factory,
    isakmpd_factory,
    tmp_path: Path,
    suite: Suite,
    we_initiate: bool,
    capture: bool = False,
) -> Interop:
    """Bring up the tunnel between our west and charon's east; wait until
    both list it. With ``capture``, the whole exchange is captured."""
    w, e = pair.west, pair.east
    charon = charon_factory(e, keylog=True)
    _, east_conn = lab.conn_pair(pair, proposals=suite.ike, esp_proposals=suite.esp)
    charon.load(east_conn)
    cap = pair.capture(tmp_path / "ike.pcap", side="east") if capture else None
    conf = isakmpd_conf(
        transforms=suite.transforms, suites=suite.suites, passive=not we_initiate
    )
    ours = isakmpd_factory(w, conf, args=KEYS_DEBUG)
    if not we_initiate:
        res = charon.initiate("net", timeout=10)
        assert "successfully" in res.stdout, res.stdout
    charon.wait_for(ike="lab", child="net", timeout=15)
    wait_report(ours)
    pcap = cap.stop() if cap is not None else None
    return Interop(pair, ours, charon, suite, pcap, we_initiate)


DIRECTIONS = {"ours-initiates": True, "charon-initiates": False}


@pytest.fixture(params=list(SUITES))
def suite(request: pytest.FixtureRequest) -> Suite:
    return SUITES[request.param]


@pytest.fixture(params=list(DIRECTIONS))
def we_initiate(request: pytest.FixtureRequest) -> bool:
    return DIRECTIONS[request.param]


# -- 1. the SAs on both ends -------------------------------------------------------


@pytest.mark.timeout(60)
def test_sas_on_both_ends(
    netns_pair, charon_factory, isakmpd_factory, tmp_path, suite, we_initiate
) -> None:
    t = _start(
        netns_pair, charon_factory, isakmpd_factory, tmp_path, suite, we_initiate
    )
    (ike,) = t.charon.list_sas()
    assert ike["state"] == "ESTABLISHED" and ike["version"] == "1"
    assert ike.get("initiator", "no") == ("no" if we_initiate else "yes")
    assert (ike["encr-alg"], ike["integ-alg"]) == (suite.ike_encr, "HMAC_SHA1_96")
    assert ike["dh-group"] == suite.ike_group
    assert ike["local-port"] == ike["remote-port"] == "4500"  # floated (NAT-T)
    (child,) = ike["children"]
    assert child["state"] == "INSTALLED" and child["mode"] == "TUNNEL"
    assert child["protocol"] == "ESP" and child.get("encap") == "yes"
    assert (child["encr-alg"], child["encr-keysize"]) == ("AES_CBC", "128")
    assert child["integ-alg"] == "HMAC_SHA1_96"
    assert child["dh-group"] == suite.ike_group  # PFS
    assert child["local-ts"] == ["10.2.0.0/24"]
    assert child["remote-ts"] == ["10.1.0.0/24"]

    sas = report_sas(t.ours)
    p1 = [s for s in sas if s.phase == 1]
    p2 = [s for s in sas if s.phase == 2]
    assert len(p1) == 1 and len(p2) == 1, [s.text for s in sas]
    role = "Initiator" if we_initiate else "Responder"
    assert p1[0].role == p2[0].role == role
    assert p1[0].name == "peer" and p2[0].name == "west-east"
    assert (p1[0].icookie, p1[0].rcookie) == (
        ike["initiator-spi"],
        ike["responder-spi"],
    )
    assert (p2[0].icookie, p2[0].rcookie) == (p1[0].icookie, p1[0].rcookie)
    assert "src: 192.0.2.1 dst: 192.0.2.2" in p1[0].text
    assert "state: established" in p1[0].text
    assert "peer behind NAT, port 4500" in p1[0].text
    # the same SPIs, in opposite directions
    assert p2[0].spis == [(int(child["spi-in"], 16), int(child["spi-out"], 16))]
    assert "Local ID: 10.1.0.0/24, Remote ID: 10.2.0.0/24" in p2[0].text
    assert f"PFS group: {suite.pfs_group}" in p2[0].text
    assert "Encapsulation: tunnel (UDP)" in p2[0].text
    assert "Kernel: not installed" not in p2[0].text  # -n: nothing to install
    assert_clean_log(t.ours)


# -- 2. both ends derived the same keys; tshark decrypts with ours ---------------


@pytest.mark.timeout(60)
def test_keys_equal_and_tshark_decrypts(
    netns_pair, charon_factory, isakmpd_factory, tmp_path, suite, we_initiate
) -> None:
    lab.require_tool("tcpdump")
    lab.require_tool("tshark")
    t = _start(
        netns_pair,
        charon_factory,
        isakmpd_factory,
        tmp_path,
        suite,
        we_initiate,
        capture=True,
    )
    ck = t.charon.keys()
    log = t.ours.log()

    # phase 1
    ours_ike = our_ike_keys(log)
    assert len(ours_ike) == 1, ours_ike.keys()
    (icookie,) = ours_ike
    k = ours_ike[icookie]
    theirs = ck.ike[icookie]
    assert k["rcookie"].hex() == theirs.rcookie
    assert k["g^xy"] == theirs.dh_secret
    assert (k["SKEYID"], k["SKEYID_D"], k["SKEYID_A"], k["SKEYID_E"]) == (
        theirs.skeyid,
        theirs.skeyid_d,
        theirs.skeyid_a,
        theirs.skeyid_e,
    )
    assert k["encryption key"] == theirs.ka and len(theirs.ka) == suite.ka_len
    assert k["initial IV"] == theirs.iv

    # phase 2: per SPI and direction
    ours_km = our_keymats(log)
    assert sorted(x.direction for x in ours_km) == ["in", "out"]
    assert len(ck.child) == 2
    for km in ours_km:
        peer = ck.by_spi(km.spi)
        assert peer.direction != km.direction
        assert peer.proto == "ESP" and peer.icookie == icookie
        src, dst = (
            ("192.0.2.2", "192.0.2.1")
            if km.direction == "in"
            else ("192.0.2.1", "192.0.2.2")
        )
        assert (peer.src, peer.dst) == (src, dst)
        enc, integ = esp_split(km.keymat, EspTransform.AES, 128, AuthAlg.HMAC_SHA)
        assert (enc, integ) == (peer.encr_key, peer.integ_key)
        assert (peer.encr_alg, peer.integ_alg) == ("AES_CBC", "HMAC_SHA1_96")
        assert len(peer.pfs_secret) == len(theirs.dh_secret)

    # the capture: every message is valid ISAKMP once decrypted with our key
    assert t.pcap is not None
    counts = tshark.isakmp_exchanges(t.pcap)
    assert counts[tshark.MAIN] == 6 and counts[tshark.QUICK] == 3, counts
    decrypt = ike_decrypt((icookie, k["encryption key"]))
    assert decrypt == decrypt_from_log(log)
    assert tshark.assert_valid_isakmp(t.pcap, decrypt) >= 9
    names = ["isakmp.id.data.ipv4_addr", "isakmp.id.data.ipv4_subnet"]
    plain = tshark.fields(t.pcap, names, "isakmp.exchangetype == 32")
    assert all(not r[names[0]] for r in plain)  # encrypted without the key
    rows = tshark.fields(t.pcap, names, "isakmp.exchangetype == 32", decrypt)
    qm_ids = [tuple(zip(r[names[0]], r[names[1]], strict=True)) for r in rows]
    want = (
        ((WEST_NET, MASK), (EAST_NET, MASK))
        if we_initiate
        else ((EAST_NET, MASK), (WEST_NET, MASK))
    )
    # messages 1 and 2 carry IDci, IDcr; message 3 carries none
    assert qm_ids == [want, want, ()], qm_ids


# -- 4. failures: no common proposal, wrong pre-shared key -------------------------

STRONG = "aes256-sha512-modp4096"


def _failures(d: lab.Isakmpd) -> list[str]:
    return re.findall(
        r"^.*(?:Main|Quick) Mode with \S+ failed.*$", d.log(), re.MULTILINE
    )


def _alive_and_answers(d: lab.Isakmpd) -> list[ReportSA]:
    assert d.alive()
    sas = report_sas(d)
    assert_clean_log(d)
    return sas


@pytest.mark.timeout(60)
def test_phase1_no_proposal_chosen(
    netns_pair, charon_factory, isakmpd_factory, tmp_path
) -> None:
    """charon offers only AES-256/SHA-512/MODP-4096 in Main Mode: we answer
    NO_PROPOSAL_CHOSEN, charon gives up, the tunnel we had stays."""
    lab.require_tool("tcpdump")
    lab.require_tool("tshark")
    suite = SUITES["aes128-modp2048"]
    t = _start(netns_pair, charon_factory, isakmpd_factory, tmp_path, suite, True)
    _, bad = lab.conn_pair(
        netns_pair,
        name="strong",
        child="strongnet",
        proposals=STRONG,
        esp_proposals=STRONG,
    )
    _, good_east = lab.conn_pair(
        netns_pair, proposals=suite.ike, esp_proposals=suite.esp
    )
    t.charon.load(good_east, bad)
    cap = netns_pair.capture(tmp_path / "noprop.pcap", side="east")
    res = t.charon.initiate("strongnet", timeout=5, check=False)
    pcap = cap.stop()
    assert res.returncode != 0 and "initiate failed" in res.stderr, res.stdout
    t.charon.wait_log(r"received NO_PROPOSAL_CHOSEN error notify")
    rows = tshark.fields(pcap, ["isakmp.notify.msgtype"], "isakmp.notify.msgtype")
    assert [r["isakmp.notify.msgtype"] for r in rows] == [["14"]]  # one, unencrypted
    fails = _failures(t.ours)
    assert len(fails) == 1 and "no acceptable phase 1 proposal" in fails[0], fails
    sas = _alive_and_answers(t.ours)
    assert [s.phase for s in sas] == [1, 2]  # the tunnel, and nothing half-open
    assert t.charon.find_sa(ike="lab", child="net") is not None
    assert t.charon.find_sa(ike="strong", ike_state=None, child_state=None) is None


@pytest.mark.timeout(60)
def test_phase2_no_proposal_chosen(
    netns_pair, charon_factory, isakmpd_factory, tmp_path
) -> None:
    """charon asks for a second child with only AES-256/SHA-512 in Quick
    Mode: we answer NO_PROPOSAL_CHOSEN; the first child stays on both ends."""
    suite = SUITES["aes128-modp2048"]
    t = _start(netns_pair, charon_factory, isakmpd_factory, tmp_path, suite, True)
    _, east = lab.conn_pair(netns_pair, proposals=suite.ike, esp_proposals=suite.esp)
    east.children.append(
        lab.Child(
            name="strong",
            local_ts="10.2.0.0/24",
            remote_ts="10.1.0.0/24",
            esp_proposals=STRONG,
        )
    )
    t.charon.load(east)
    res = t.charon.initiate("strong", ike="lab", timeout=5, check=False)
    assert res.returncode != 0, res.stdout
    t.charon.wait_log(r"received NO_PROPOSAL_CHOSEN error notify")
    fails = _failures(t.ours)
    assert len(fails) == 1 and "Quick Mode" in fails[0], fails
    assert "no acceptable phase 2 proposal" in fails[0]
    sas = _alive_and_answers(t.ours)
    assert [s.phase for s in sas] == [1, 2]
    sa = t.charon.find_sa(ike="lab", child="net")
    assert sa is not None
    assert [c["name"] for c in sa["children"]] == ["net"]
    assert sa["children"][0]["spi-in"] == f"{sas[1].spis[0][0]:08x}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "we_initiate", [True, False], ids=["ours-initiates", "charon-initiates"]
)
def test_wrong_psk(
    netns_pair, charon_factory, isakmpd_factory, tmp_path, we_initiate
) -> None:
    """Different pre-shared keys: Main Mode message 5 cannot be read; both
    ends give up, each saying so once, and nothing stays half-open."""
    w, e = netns_pair.west, netns_pair.east
    charon = charon_factory(e)
    _, east = lab.conn_pair(netns_pair, psk="the-other-key-0123456789")
    charon.load(east)
    conf = isakmpd_conf(
        passive=not we_initiate, general="Exchange-max-time=\t8\nRetransmits=\t\t1\n"
    )
    ours = isakmpd_factory(w, conf, args=["-n"])
    start = time.monotonic()
    if we_initiate:
        charon.wait_log(
            r"(?i)(integrity check failed|message parsing failed|"
            r"invalid HASH|could not decrypt)"
        )
    else:
        res = charon.initiate("net", timeout=10, check=False)
        assert res.returncode != 0, res.stdout
    lab.wait_until(lambda: _failures(ours), 15, "our failure line")
    time.sleep(1.0)
    fails = _failures(ours)
    assert len(fails) == 1, fails
    assert "pre-shared key" in fails[0], fails
    assert time.monotonic() - start < 20
    sas = _alive_and_answers(ours)
    assert sas == [], [s.text for s in sas]
    assert charon.find_sa(ike="lab", ike_state="ESTABLISHED", child_state=None) is None


# -- several proposals -----------------------------------------------------------


@pytest.mark.timeout(60)
def test_several_proposals(
    netns_pair, charon_factory, isakmpd_factory, we_initiate
) -> None:
    """The offer has several proposals and only the last one is acceptable
    to the other end: each end picks it, whoever offers."""
    w, e = netns_pair.west, netns_pair.east
    charon = charon_factory(e)
    if we_initiate:
        ike, esp = "aes128-sha1-modp2048", "aes128-sha1-modp2048"
        transforms = "3DES-SHA-GRP14,AES-128-SHA-GRP14"
        suites = "QM-ESP-3DES-SHA-PFS-GRP14-SUITE,QM-ESP-AES-128-SHA-PFS-GRP14-SUITE"
    else:
        ike = "aes256-sha256-modp3072,3des-sha1-modp1024,aes128-sha1-modp2048"
        esp = "aes256-sha256-modp2048,3des-md5-modp2048,aes128-sha1-modp2048"
        transforms = "AES-128-SHA-GRP14"
        suites = "QM-ESP-AES-128-SHA-PFS-GRP14-SUITE"
    _, east = lab.conn_pair(netns_pair, proposals=ike, esp_proposals=esp)
    charon.load(east)
    conf = isakmpd_conf(transforms=transforms, suites=suites, passive=not we_initiate)
    ours = isakmpd_factory(w, conf, args=["-n"])
    if not we_initiate:
        charon.initiate("net", timeout=10)
    sa = charon.wait_for(ike="lab", child="net", timeout=15)
    assert (sa["encr-alg"], sa["encr-keysize"], sa["dh-group"]) == (
        "AES_CBC",
        "128",
        "MODP_2048",
    )
    (child,) = sa["children"]
    assert (child["encr-alg"], child["encr-keysize"], child["integ-alg"]) == (
        "AES_CBC",
        "128",
        "HMAC_SHA1_96",
    )
    p1, p2 = wait_report(ours)
    assert "Encryption algorithm: AES (128 bits), hash: SHA, group: 14" in p1.text
    assert "Encryption algorithm: AES (CBC)" in p2.text
    assert "Authentication algorithm: HMAC-SHA1" in p2.text
    assert p2.spis == [(int(child["spi-in"], 16), int(child["spi-out"], 16))]
    assert_clean_log(ours)


@pytest.mark.timeout(60)
def test_differing_pfs_groups_not_offered(
    netns_pair, charon_factory, isakmpd_factory
) -> None:
    """Quick Mode has one KE payload: suites asking for different PFS groups
    cannot be offered together. We say so once and send no Quick Mode; the
    ISAKMP SA stays."""
    w, e = netns_pair.west, netns_pair.east
    charon = charon_factory(e)
    _, east = lab.conn_pair(netns_pair)
    charon.load(east)
    suites = "QM-ESP-3DES-SHA-PFS-GRP2-SUITE,QM-ESP-AES-128-SHA-PFS-GRP14-SUITE"
    ours = isakmpd_factory(w, isakmpd_conf(suites=suites), args=["-n"])
    charon.wait_for(ike="lab", child_state=None, timeout=10)
    lab.wait_until(lambda: _failures(ours), 5, "our failure line")
    time.sleep(0.5)
    fails = _failures(ours)
    assert len(fails) == 1 and "different PFS groups (2, 14)" in fails[0], fails
    assert "QUICK_MODE" not in charon.log()
    sas = _alive_and_answers(ours)
    assert [(s.phase, "established" in s.text) for s in sas] == [(1, True)]
    (ike,) = charon.list_sas()
    assert ike["state"] == "ESTABLISHED" and ike["children"] == []
