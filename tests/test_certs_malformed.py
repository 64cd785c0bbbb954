"""A scripted peer sends our daemon garbled identities and certificates in
Aggressive Mode (where they travel in the clear): a DER_ASN1_DN ID that is
not DER, a CERT payload that is not a certificate; and, as a whole
Aggressive Mode initiator, an ID its certificate does not name, or a
signature made with another key than the certificate's. The daemon refuses
each with one line naming the reason and the NOTIFY the peer reads (and
decrypts), and goes on working.

The scripted peer (``PEER`` below, run with ``ip netns exec``) builds its
messages with the codec and DH of isakmpd._core and nothing else of the
daemon: it is a packet generator, not an isakmpd.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import lab
import pytest
from lab.pki_openssl import OpenSslCa, isakmpd_tree, x509_conf
from test_interop_strongswan import assert_clean_log, report_sas

pytestmark = [pytest.mark.netns]

REPO = Path(__file__).resolve().parents[1]

PEER = textwrap.dedent('''
    import json, socket, sys
    from isakmpd import _core

    SHA, AES, RSA_SIG, MODP2048 = 2, 7, 3, 14
    mode, me, peer = sys.argv[1], sys.argv[2], sys.argv[3]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((me, 500))
    s.settimeout(8)
    out = {}

    def attrs():
        A = _core.Attribute
        return [A(1, AES), A(14, 128), A(2, SHA), A(3, RSA_SIG), A(4, MODP2048),
                A(11, 1), A(12, 3600)]

    def payload(ps, cls):
        return next(p for p in ps if isinstance(p, cls))

    dh = _core.DhKey(MODP2048, bytes(range(1, 200)) * 2)
    nonce = bytes(range(16))
    if mode == "bad-dn":
        sa = _core.SA(1, (1).to_bytes(4, "big"), [_core.Proposal(
            1, 1, b"", [_core.Transform(1, 1, attrs())])])
        bad = bytes.fromhex("3082ffff310b3009")
        msg = _core.encode_message(
            _core.Header(b"scripted", exchange_type=4),
            [sa, _core.KE(dh.public), _core.Nonce(nonce),
             _core.ID(9, bad)])
        s.sendto(msg, (peer, 500))
        data, _ = s.recvfrom(65536)
        hdr, ps = _core.parse_message(data)
        out["exchange"] = hdr.exchange_type
        out["encrypted"] = bool(hdr.flags & 1)
        out["notify"] = [p.notify_type for p in ps if isinstance(p, _core.Notify)]
    elif mode == "initiator":
        # a whole Aggressive Mode initiator: ID of our choice, a certificate
        # and a signature with a key of our choice
        id_type, id_value = int(sys.argv[4]), sys.argv[5].encode()
        cert = open(sys.argv[6], "rb").read()
        key = _core.RsaKey(open(sys.argv[7], "rb").read())
        sa = _core.SA(1, (1).to_bytes(4, "big"), [_core.Proposal(
            1, 1, b"", [_core.Transform(1, 1, attrs())])])
        idii = _core.ID(id_type, id_value)
        icookie = b"scripted"
        m1 = _core.encode_message(_core.Header(icookie, exchange_type=4),
                                  [sa, _core.KE(dh.public), _core.Nonce(nonce), idii])
        s.sendto(m1, (peer, 500))
        data, _ = s.recvfrom(65536)
        hdr, ps = _core.parse_message(data)
        out["reply"] = [p.payload_type for p in ps]
        gxr, nr = payload(ps, _core.KE).data, payload(ps, _core.Nonce).data
        keys = _core.Phase1Keys.for_signatures(SHA, nonce, nr, dh.compute(gxr),
                                               icookie, hdr.rcookie)
        cipher = keys.cipher(AES, 16, dh.public, gxr)
        hash_i = keys.hash_i(dh.public, gxr, icookie, hdr.rcookie, sa.body, idii.body)
        body = _core.encode_payloads([_core.Cert(4, cert),
                                      _core.Sig(key.sign_raw(hash_i))])
        h3 = _core.Header(icookie, hdr.rcookie, next_payload=6, exchange_type=4,
                          flags=1)
        s.sendto(_core.encode_message(h3, cipher.encrypt(0, body)), (peer, 500))
        data, _ = s.recvfrom(65536)
        h4 = _core.parse_header(data)
        out["exchange"] = h4.exchange_type
        out["encrypted"] = bool(h4.flags & 1)
        plain = cipher.decrypt(h4.message_id, data[28:])
        ps = _core.parse_payloads(h4.next_payload, plain, allow_trailing=True)
        out["notify"] = [p.notify_type for p in ps if isinstance(p, _core.Notify)]
    else:  # bad-cert: answer the daemon's message 1 with a garbage CERT
        data, src = s.recvfrom(65536)
        hdr, ps = _core.parse_message(data)
        their_sa = payload(ps, _core.SA)
        prop = their_sa.proposals[0]
        chosen = _core.SA(their_sa.doi, their_sa.situation, [
            _core.Proposal(prop.number, prop.protocol_id, prop.spi,
                           [prop.transforms[0]])])
        gxi, ni = payload(ps, _core.KE).data, payload(ps, _core.Nonce).data
        rcookie = b"respondr"
        reply = _core.encode_message(
            _core.Header(hdr.icookie, rcookie, exchange_type=4),
            [chosen, _core.KE(dh.public), _core.Nonce(nonce),
             _core.ID(2, b"east.lab.example"),
             _core.Cert(4, bytes.fromhex("308201000a0b0c") + b"garbage" * 20),
             _core.Sig(b"\\x01" * 256)])
        s.sendto(reply, src)
        data, _ = s.recvfrom(65536)
        h2 = _core.parse_header(data)
        out["exchange"] = h2.exchange_type
        out["encrypted"] = bool(h2.flags & 1)
        # the daemon's NOTIFY is protected: derive its keys (SKEYID for
        # signatures needs only the nonces and g^xy) and read it
        gxy = dh.compute(gxi)
        keys = _core.Phase1Keys.for_signatures(SHA, ni, nonce, gxy, hdr.icookie,
                                               rcookie)
        cipher = keys.cipher(AES, 16, gxi, dh.public)
        plain = cipher.decrypt(h2.message_id, data[28:])
        ps = _core.parse_payloads(h2.next_payload, plain, allow_trailing=True)
        out["notify"] = [p.notify_type for p in ps if isinstance(p, _core.Notify)]
        out["hash_first"] = isinstance(ps[0], _core.Hash)
    print(json.dumps(out))
''')


def run_peer(tmp_path: Path, side, *args: str) -> dict:
    script = tmp_path / "peer.py"
    script.write_text(PEER)
    env = {"PYTHONPATH": str(REPO / "python"), "PATH": "/usr/bin:/bin"}
    res = lab.run(side, sys.executable, str(script), *args, env=env, timeout=30)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    lab.require_tool("openssl")
    d = tmp_path_factory.mktemp("pki")
    ca = OpenSslCa(d / "ca")
    return ca, ca.issue("east", ip=["192.0.2.2"], dns=["east.lab.example"]), \
        ca.issue("west", ip=["192.0.2.1"], dns=["west.lab.example"])


def _conf(root: Path, me: str, peer: str, active: bool) -> str:
    conn = ("[Phase 2]\nConnections=\tvpn\n\n[vpn]\nPhase=\t2\nISAKMP-peer=\tpeer\n"
            "Configuration=\tqm\n\n[qm]\nDOI=\tIPSEC\nEXCHANGE_TYPE=\tQUICK_MODE\n"
            "Suites=\tQM-ESP-AES-128-SHA-PFS-GRP14-SUITE\n") if active else ""
    return f"""[General]
Listen-on=\t{me}
Exchange-max-time=\t8
Retransmits=\t1

[Phase 1]
{peer}=\tpeer

[peer]
Phase=\t1
Address=\t{peer}
Configuration=\tam

[am]
DOI=\tIPSEC
EXCHANGE_TYPE=\tAGGRESSIVE
Transforms=\tAES-128-SHA-GRP14-RSA_SIG

{conn}
""" + x509_conf(root)


@pytest.mark.timeout(60)
def test_malformed_dn_id_from_a_scripted_initiator(netns_pair, isakmpd_factory,
                                                   tmp_path, certs) -> None:
    ca, east, _ = certs
    root = isakmpd_tree(tmp_path / "root", cas=[ca], certs=[east], key=east)
    ours = isakmpd_factory(netns_pair.east, _conf(root, "192.0.2.2", "192.0.2.1",
                                                  False), args=["-n"])
    got = run_peer(tmp_path, netns_pair.west, "bad-dn", "192.0.2.1", "192.0.2.2")
    assert got == {"exchange": 5, "encrypted": False, "notify": [18]}, got
    m = ours.wait_log(r"Aggressive Mode with 192\.0\.2\.1 failed: (.*)$")
    assert "malformed DER_ASN1_DN ID (3082ffff310b3009)" in m.group(1), m.group(0)
    assert report_sas(ours) == []
    assert_clean_log(ours)


@pytest.mark.timeout(60)
def test_malformed_certificate_from_a_scripted_responder(netns_pair, isakmpd_factory,
                                                         tmp_path, certs) -> None:
    ca, _, west = certs
    root = isakmpd_tree(tmp_path / "root", cas=[ca], certs=[west], key=west)
    script = tmp_path / "peer.py"
    script.write_text(PEER)
    env = {"PYTHONPATH": str(REPO / "python"), "PATH": "/usr/bin:/bin"}
    proc = lab.popen(netns_pair.east, [sys.executable, str(script), "bad-cert",
                                       "192.0.2.2", "192.0.2.1"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        time.sleep(0.5)  # the scripted responder binds port 500 first
        ours = isakmpd_factory(netns_pair.west, _conf(root, "192.0.2.1", "192.0.2.2",
                                                      True), args=["-n"])
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    got = json.loads(out.decode().strip().splitlines()[-1])
    assert got == {"exchange": 5, "encrypted": True, "notify": [19],
                   "hash_first": True}, (got, err)
    m = ours.wait_log(r"Aggressive Mode with 192\.0\.2\.2 failed: (.*)$")
    assert "certificate of peer FQDN east.lab.example refused" in m.group(1)
    assert "cannot be decoded" in m.group(1), m.group(0)
    assert ours.alive()
    assert report_sas(ours) == []
    assert_clean_log(ours)


def _der_files(tmp_path: Path, issued, signer) -> tuple[str, str]:
    from lab.pki_openssl import openssl

    cert = tmp_path / "peer.der"
    cert.write_bytes(issued.der)
    key = tmp_path / "signer.der"
    key.write_bytes(openssl("pkey", "-in", signer.key, "-outform", "DER",
                            binary=True))
    return str(cert), str(key)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", ["lying-id", "other-key", "genuine"])
def test_scripted_initiator_with_certificate(netns_pair, isakmpd_factory, tmp_path,
                                             certs, case) -> None:
    """A scripted Aggressive Mode initiator with west's certificate: as
    FQDN mallory.lab.example (not in the certificate), or signing with
    east's key instead of west's, is refused with INVALID_ID_INFORMATION or
    INVALID_SIGNATURE (protected); as itself it gets the ISAKMP SA."""
    ca, east, west = certs
    root = isakmpd_tree(tmp_path / "root", cas=[ca], certs=[east], key=east)
    ours = isakmpd_factory(netns_pair.east, _conf(root, "192.0.2.2", "192.0.2.1",
                                                  False), args=["-n"])
    name = "mallory.lab.example" if case == "lying-id" else "west.lab.example"
    cert, key = _der_files(tmp_path, west, east if case == "other-key" else west)
    if case == "genuine":
        script = tmp_path / "peer.py"
        script.write_text(PEER)
        env = {"PYTHONPATH": str(REPO / "python"), "PATH": "/usr/bin:/bin"}
        res = lab.run(netns_pair.west, sys.executable, str(script), "initiator",
                      "192.0.2.1", "192.0.2.2", "2", name, cert, key, env=env,
                      check=False, timeout=30)
        assert "timed out" in res.stderr  # no answer to message 3: accepted
        sas = report_sas(ours)
        assert [s.phase for s in sas] == [1] and "established" in sas[0].text
        assert "Remote certificate: C=SE, O=isakmpd lab, CN=west" in sas[0].text
        assert_clean_log(ours)
        return
    got = run_peer(tmp_path, netns_pair.west, "initiator", "192.0.2.1", "192.0.2.2",
                   "2", name, cert, key)
    want = {"lying-id": 18, "other-key": 25}[case]
    assert got["exchange"] == 5 and got["encrypted"], got
    assert got["notify"] == [want], got
    assert got["reply"][:4] == [1, 4, 10, 5]  # SA KE NONCE ID
    m = ours.wait_log(r"Aggressive Mode with 192\.0\.2\.1 failed: (.*)$")
    if case == "lying-id":
        assert ("ID FQDN mallory.lab.example does not match certificate C=SE, "
                "O=isakmpd lab, CN=west") in m.group(1), m.group(0)
    else:
        assert ("signature of HASH_I by peer FQDN west.lab.example does not "
                "verify") in m.group(1), m.group(0)
    assert report_sas(ours) == []
    assert_clean_log(ours)
