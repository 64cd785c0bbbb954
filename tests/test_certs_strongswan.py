"""RSA signatures with X.509 certificates between our daemon (west) and
strongSwan's charon (east), in Main Mode and Aggressive Mode, both roles;
and the certificates we refuse.

The PKI is made with the openssl steps of isakmpd(8) (lab.pki_openssl): a
CA, a key and certificate per peer with subjectAltNames, and ``openssl ca``
for dates and revocation. Our side uses isakmpd's layout in a temporary
root (ca/, certs/, private/local.key, crls/, pubkeys/) that
[X509-certificates] points at. charon sends its certificate only when asked
(send_cert = ifasked), so a tunnel also shows that our CR payloads work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import lab
import pytest
from lab import tshark
from lab.pki_openssl import OpenSslCa, isakmpd_tree, x509_conf
from test_interop_strongswan import (
    KEYS_DEBUG,
    assert_clean_log,
    decrypt_from_log,
    report_sas,
    wait_report,
)

pytestmark = [pytest.mark.netns, pytest.mark.strongswan]


def dn(subject: str) -> str:
    """openssl's /C=SE/O=x/CN=y as strongSwan writes it: C=SE, O=x, CN=y."""
    return ", ".join(subject.strip("/").split("/"))


@dataclass
class LabPki:
    ca: OpenSslCa
    west: object
    east: object
    dir: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> LabPki:
    lab.require_tool("openssl")
    d = tmp_path_factory.mktemp("pki")
    ca = OpenSslCa(d / "ca")
    west = ca.issue("west", ip=["192.0.2.1"], dns=["west.lab.example"],
                    email=["west@lab.example"])
    east = ca.issue("east", ip=["192.0.2.2"], dns=["east.lab.example"])
    return LabPki(ca, west, east, d)


def rsa_conf(root: Path, *, passive: bool, exchange: str = "ID_PROT",
             my_id: tuple[str, str] | None = None,
             peer_id: tuple[str, str] | None = None,
             transforms: str = "AES-128-SHA-GRP14-RSA_SIG", general: str = "",
             accept_self_signed: str | None = None) -> str:
    """West with RSA signatures, its certificates in isakmpd's layout under
    ``root``; IDs as (ID-type, Name) or None (our address; anyone)."""
    which = "Passive-connections" if passive else "Connections"
    ids = ""
    sections = ""
    for tag, sec, ident in (("ID", "my-id", my_id), ("Remote-ID", "peer-id", peer_id)):
        if ident is None:
            continue
        ids += f"{tag}=\t\t{sec}\n"
        key = "Address" if ident[0].startswith("IPV") else "Name"
        sections += f"[{sec}]\nID-type=\t{ident[0]}\n{key}=\t\t{ident[1]}\n\n"
    return f"""# written by tests/test_certs_strongswan.py
[General]
Listen-on=\t\t192.0.2.1
{general}

[Phase 1]
192.0.2.2=\t\tpeer

[Phase 2]
{which}=\twest-east

[peer]
Phase=\t\t\t1
Address=\t\t192.0.2.2
Local-address=\t\t192.0.2.1
Configuration=\t\tphase1
{ids}
[phase1]
DOI=\t\t\tIPSEC
EXCHANGE_TYPE=\t\t{exchange}
Transforms=\t\t{transforms}

[west-east]
Phase=\t\t\t2
ISAKMP-peer=\t\tpeer
Configuration=\t\tquick-mode
Local-ID=\t\tnet-local
Remote-ID=\t\tnet-remote

[net-local]
ID-type=\t\tIPV4_ADDR_SUBNET
Network=\t\t10.1.0.0
Netmask=\t\t255.255.255.0

[net-remote]
ID-type=\t\tIPV4_ADDR_SUBNET
Network=\t\t10.2.0.0
Netmask=\t\t255.255.255.0

[quick-mode]
DOI=\t\t\tIPSEC
EXCHANGE_TYPE=\t\tQUICK_MODE
Suites=\t\t\tQM-ESP-AES-128-SHA-PFS-GRP14-SUITE

{sections}""" + x509_conf(root, accept_self_signed)


def charon_conn(pki: LabPki, *, aggressive: bool, cert=None,
                local_id: str | None = None, remote_id: str | None = None,
                ca_certs=None, options=None) -> lab.Conn:
    """East's connection: pubkey authentication with ``cert`` (default
    east's)."""
    cert = cert or pki.east
    return lab.Conn(
        local_addrs="192.0.2.2", remote_addrs="192.0.2.1", aggressive=aggressive,
        auth="pubkey", local_id=local_id or dn(cert.subject),
        remote_id=remote_id or dn(pki.west.subject), local_cert=cert.cert,
        local_key=cert.key, ca_certs=tuple(ca_certs or (pki.ca.cert,)),
        children=[lab.Child(local_ts="10.2.0.0/24", remote_ts="10.1.0.0/24")],
        options=options or {})


def our_tree(tmp_path: Path, pki: LabPki, *, cas=None, crls=()) -> Path:
    return isakmpd_tree(tmp_path / "isakmpd-root", cas=cas or [pki.ca],
                        certs=[pki.west], key=pki.west, crls=crls)


MODES = {"main": False, "aggressive": True}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("we_initiate", [True, False],
                         ids=["ours-initiates", "charon-initiates"])
def test_certificates_with_strongswan(netns_pair, charon_factory, isakmpd_factory,
                                      tmp_path, pki, mode, we_initiate) -> None:
    lab.require_tool("tcpdump")
    lab.require_tool("tshark")
    aggressive = MODES[mode]
    charon = charon_factory(netns_pair.east)
    charon.load(charon_conn(pki, aggressive=aggressive))
    root = our_tree(tmp_path, pki)
    conf = rsa_conf(root, passive=not we_initiate,
                    exchange="AGGRESSIVE" if aggressive else "ID_PROT",
                    my_id=("DER_ASN1_DN", pki.west.subject),
                    peer_id=("DER_ASN1_DN", dn(pki.east.subject)))
    cap = netns_pair.capture(tmp_path / "rsa.pcap", side="east")
    ours = isakmpd_factory(netns_pair.west, conf, args=KEYS_DEBUG)
    if not we_initiate:
        res = charon.initiate("net", timeout=15)
        assert "successfully" in res.stdout, res.stdout
    sa = charon.wait_for(ike="lab", child="net", timeout=20)
    p1, p2 = wait_report(ours)
    pcap = cap.stop()
    assert sa["remote-id"] == dn(pki.west.subject)
    (child,) = sa["children"]
    assert child["state"] == "INSTALLED"
    kind = "AGGRESSIVE" if aggressive else "ID_PROT"
    assert f"Exchange type: {kind}, state: established" in p1.text
    assert "Authentication: RSA signature" in p1.text
    assert f"Remote certificate: {dn(pki.east.subject)}" in p1.text
    assert f"Remote ID: DER_ASN1_DN {dn(pki.east.subject)}" in p1.text
    assert f"Local ID: DER_ASN1_DN {dn(pki.west.subject)}" in p1.text
    assert p2.spis == [(int(child["spi-in"], 16), int(child["spi-out"], 16))]
    log = charon.log()
    assert re.search(r"authentication of '" + re.escape(dn(pki.west.subject))
                     + r"' with RSA.* successful", log), log[-3000:]
    # on the wire: CERT and SIG from both sides, CR from us naming our CA
    decrypt = decrypt_from_log(ours.log())
    rows = tshark.fields(pcap, ["ip.src", "isakmp.cert.encoding",
                                "isakmp.certreq.type", "isakmp.sig"],
                         "isakmp.exchangetype == 2 || isakmp.exchangetype == 4",
                         decrypt)
    ours_cert = [r for r in rows if r["ip.src"] == ["192.0.2.1"]
                 and r["isakmp.cert.encoding"]]
    theirs_cert = [r for r in rows if r["ip.src"] == ["192.0.2.2"]
                   and r["isakmp.cert.encoding"]]
    assert ours_cert and ours_cert[0]["isakmp.cert.encoding"] == ["4"], rows
    assert theirs_cert and theirs_cert[0]["isakmp.cert.encoding"] == ["4"], rows
    assert any(r["isakmp.certreq.type"] == ["4"] for r in rows
               if r["ip.src"] == ["192.0.2.1"]), rows
    assert len([r for r in rows if r["isakmp.sig"]]) == 2, rows
    assert tshark.assert_valid_isakmp(pcap, decrypt) >= 6
    assert_clean_log(ours)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("ident", ["fqdn", "ipv4", "ufqdn"])
def test_identities_from_certificates(netns_pair, charon_factory, isakmpd_factory,
                                      tmp_path, pki, ident) -> None:
    """Our ID is a subjectAltName of our certificate: FQDN, USER_FQDN, or
    (no ID configured) our address, as isakmpd does by default."""
    charon = charon_factory(netns_pair.east)
    remote = {"fqdn": "west.lab.example", "ipv4": "192.0.2.1",
              "ufqdn": "west@lab.example"}[ident]
    my_id = {"fqdn": ("FQDN", "west.lab.example"), "ipv4": None,
             "ufqdn": ("USER_FQDN", "west@lab.example")}[ident]
    charon.load(charon_conn(pki, aggressive=False, remote_id=remote,
                            local_id="east.lab.example"))
    root = our_tree(tmp_path, pki)
    ours = isakmpd_factory(netns_pair.west, rsa_conf(root, passive=False, my_id=my_id),
                           args=["-n"])
    sa = charon.wait_for(ike="lab", child="net", timeout=20)
    assert sa["remote-id"] == remote and sa["local-id"] == "east.lab.example"
    p1, _ = wait_report(ours)
    assert "Remote ID: FQDN east.lab.example" in p1.text
    want = {"fqdn": "FQDN west.lab.example", "ipv4": "IPV4_ADDR 192.0.2.1",
            "ufqdn": "USER_FQDN west@lab.example"}[ident]
    assert f"Local ID: {want}" in p1.text
    assert_clean_log(ours)


@pytest.mark.timeout(90)
def test_peer_without_certificate_payload_uses_kept_key(
        netns_pair, charon_factory, isakmpd_factory, tmp_path, pki) -> None:
    """charon never sends its certificate (send_cert = never): we verify its
    signature with the public key kept in pubkeys/fqdn/east.lab.example."""
    from lab.pki_openssl import openssl

    charon = charon_factory(netns_pair.east)
    charon.load(charon_conn(pki, aggressive=False, local_id="east.lab.example",
                            remote_id="west.lab.example",
                            options={"send_cert": "never"}))
    root = our_tree(tmp_path, pki)
    pub = root / "pubkeys" / "fqdn" / "east.lab.example"
    pub.parent.mkdir(parents=True, exist_ok=True)
    pub.write_text(openssl("pkey", "-in", pki.east.key, "-pubout"))
    conf = rsa_conf(root, passive=True, my_id=("FQDN", "west.lab.example"))
    ours = isakmpd_factory(netns_pair.west, conf, args=["-n"])
    res = charon.initiate("net", timeout=15)
    assert "successfully" in res.stdout, res.stdout
    p1, _ = wait_report(ours)
    assert f"Peer authenticated by: RSA signature, public key {pub}" in p1.text
    assert "Remote certificate" not in p1.text
    assert_clean_log(ours)


# -- refusals ------------------------------------------------------------------


def _refusal(netns_pair, charon_factory, isakmpd_factory, tmp_path, pki, *,
             cert, crls=(), peer_id=None, aggressive=False, local_id=None,
             ca_certs=None):
    """charon initiates with ``cert``; we must refuse. Returns (our failure
    line, charon's log, pcap, our log)."""
    charon = charon_factory(netns_pair.east)
    charon.load(charon_conn(pki, aggressive=aggressive, cert=cert, local_id=local_id,
                            ca_certs=ca_certs))
    root = our_tree(tmp_path, pki, crls=crls)
    conf = rsa_conf(root, passive=True, peer_id=peer_id,
                    exchange="AGGRESSIVE" if aggressive else "ID_PROT",
                    my_id=("DER_ASN1_DN", pki.west.subject))
    cap = netns_pair.capture(tmp_path / "refused.pcap", side="east")
    ours = isakmpd_factory(netns_pair.west, conf, args=KEYS_DEBUG)
    res = charon.initiate("net", timeout=10, check=False)
    assert res.returncode != 0, res.stdout
    m = ours.wait_log(r"^.*(?:Main|Aggressive) Mode with 192\.0\.2\.2 failed: .*$",
                      timeout=15)
    pcap = cap.stop()
    if aggressive:
        # charon's phase 1 ended with its message 3: only its Quick Mode fails
        assert charon.find_sa(ike="lab", child_state="INSTALLED") is None
    else:
        assert charon.find_sa(ike="lab", child_state=None) is None
    left = report_sas(ours)
    if aggressive:
        # charon may be trying again: its new Aggressive Mode is half-open
        left = [s for s in left if s.phase == 2 or "state: established" in s.text]
    assert left == []
    assert_clean_log(ours)
    fails = re.findall(r"Mode with 192\.0\.2\.2 failed: (.*)$", ours.log(),
                       re.MULTILINE)
    # charon may try again (in Aggressive Mode its phase 1 ended first)
    assert len(fails) == 1 or (aggressive and len(set(fails)) == 1), fails
    return m.group(0), charon, pcap, ours


def _notifies(pcap: Path, ours) -> list[str]:
    """NOTIFY types we sent, decrypted with our logged keys."""
    rows = tshark.fields(pcap, ["ip.src", "isakmp.notify.msgtype"],
                         "isakmp.notify.msgtype", decrypt_from_log(ours.log()))
    return [t for r in rows if r["ip.src"] == ["192.0.2.1"]
            for t in r["isakmp.notify.msgtype"]]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("aggressive", [False, True], ids=["main", "aggressive"])
def test_revoked_certificate(netns_pair, charon_factory, isakmpd_factory, tmp_path,
                             pki, aggressive) -> None:
    bad = pki.ca.issue(f"east-revoked-{int(aggressive)}", ip=["192.0.2.2"],
                       dns=["east.lab.example"])
    pki.ca.revoke(bad)
    crl = pki.ca.gen_crl(tmp_path / "ca.crl")
    line, charon, pcap, ours = _refusal(netns_pair, charon_factory, isakmpd_factory,
                                        tmp_path, pki, cert=bad, crls=[crl],
                                        aggressive=aggressive)
    assert "revoked" in line and dn(bad.subject) in line, line
    notes = _notifies(pcap, ours)
    assert notes == ["20"] or (aggressive and set(notes) == {"20"}), notes
    charon.wait_log(r"received INVALID_CERTIFICATE error notify")


@pytest.mark.timeout(90)
def test_expired_certificate(netns_pair, charon_factory, isakmpd_factory, tmp_path,
                             pki) -> None:
    bad = pki.ca.issue("east-expired", ip=["192.0.2.2"], dns=["east.lab.example"],
                       start="20200101000000Z", end="20210101000000Z")
    line, charon, pcap, ours = _refusal(netns_pair, charon_factory, isakmpd_factory,
                                        tmp_path, pki, cert=bad)
    assert "expired" in line and dn(bad.subject) in line, line
    assert _notifies(pcap, ours) == ["20"]
    charon.wait_log(r"received INVALID_CERTIFICATE error notify")


@pytest.mark.timeout(90)
def test_certificate_from_unknown_ca(netns_pair, charon_factory, isakmpd_factory,
                                     tmp_path, pki) -> None:
    other = OpenSslCa(tmp_path / "other-ca", "Other CA")
    bad = other.issue("east-other", ip=["192.0.2.2"], dns=["east.lab.example"])
    line, charon, pcap, ours = _refusal(netns_pair, charon_factory, isakmpd_factory,
                                        tmp_path, pki, cert=bad,
                                        ca_certs=[pki.ca.cert, other.cert])
    assert dn(bad.subject) in line and "Other CA" in line, line
    assert _notifies(pcap, ours) == ["20"]
    charon.wait_log(r"received INVALID_CERTIFICATE error notify")


@pytest.mark.timeout(90)
def test_peer_is_not_the_configured_remote_id(netns_pair, charon_factory,
                                              isakmpd_factory, tmp_path, pki) -> None:
    """A valid certificate, but not of the peer our Remote-ID names."""
    line, charon, pcap, ours = _refusal(
        netns_pair, charon_factory, isakmpd_factory, tmp_path, pki, cert=pki.east,
        peer_id=("DER_ASN1_DN", "/C=SE/O=isakmpd lab/CN=someone-else"))
    assert "expected DER_ASN1_DN C=SE, O=isakmpd lab, CN=someone-else" in line, line
    assert _notifies(pcap, ours) == ["18"]  # INVALID_ID_INFORMATION
    charon.wait_log(r"received INVALID_ID_INFORMATION error notify")

