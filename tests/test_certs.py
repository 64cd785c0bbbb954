"""RSA signature authentication between engines (Main Mode and Aggressive
Mode): the CR, CERT and SIG payloads and an independent check of SIG_I,
identities from certificates, raw public keys, the refusals with the NOTIFY
each one sends, and payloads a scripted peer garbles."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

import pytest
from enginepair import (
    EAST_IP,
    WEST_IP,
    Network,
    assert_keys_cross,
    established,
    isakmpd_log_fixture,  # noqa: F401
)
from isakmpd import _core
from isakmpd.conf.store import Conf
from isakmpd.constants import (
    CertEncoding,
    ExchangeType,
    Flags,
    IdType,
    NotifyType,
    PayloadType,
)
from isakmpd.exchange.ids import dn_to_der
from isakmpd.pki import Pki
from isakmpd.report import isakmp_lines
from test_aggressive import am_conf
from certs_kit import DAY, NOW, Authority, Layout, key_pool, layout

RSA = "AES-128-SHA-GRP14-RSA_SIG"


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority("C=SE/O=Example/CN=Test CA", key_index=0)


@pytest.fixture(scope="module")
def certs(ca):
    w = ca.issue("C=SE/O=Example/CN=west", dns=["west.example.com"], ip=[WEST_IP],
                 email=["west@example.com"], key_index=1)
    e = ca.issue("C=SE/O=Example/CN=east", dns=["east.example.com"], ip=[EAST_IP],
                 key_index=2)
    return w, e


def rsa_text(me: str, peer: str, lay: Layout, *, active: bool,
             exchange: str = "ID_PROT", transforms: str = RSA,
             peer_psk: str | None = None, **kw) -> str:
    return am_conf(me, peer, active=active, peer_psk=peer_psk, exchange=exchange,
                   transforms=transforms, general=lay.general_line(),
                   **kw) + lay.conf_lines()


def rsa_pair(tmp_path, ca, west_cert, east_cert, *, exchange: str = "ID_PROT",
             west: dict | None = None, east: dict | None = None,
             west_lay: dict | None = None, east_lay: dict | None = None,
             west_pki=None, east_pki=None, start: bool = True
             ) -> tuple[Network, object, object, Layout, Layout]:
    """West (active) and east (passive) with RSA signatures, each with its
    own layout under tmp_path (``*_lay``: extra layout() arguments;
    ``*_pki``: wraps the Pki the engine gets)."""
    lw = layout(tmp_path / "west", [ca], west_cert, **(west_lay or {}))
    le = layout(tmp_path / "east", [ca], east_cert, **(east_lay or {}))
    wt = rsa_text(WEST_IP, EAST_IP, lw, active=True, exchange=exchange,
                  **(west or {}))
    et = rsa_text(EAST_IP, WEST_IP, le, active=False, exchange=exchange,
                  my_net="10.2.0.0/24", peer_net="10.1.0.0/24", **(east or {}))
    net = Network()
    engines = []
    for name, text, wrap in (("west", wt, west_pki), ("east", et, east_pki)):
        conf = Conf.from_text(text, f"{name}.conf")
        kw = {}
        if wrap is not None:
            kw["pki"] = wrap(Pki.from_conf(conf))
        engines.append((name, conf, kw))
    w = net.add("west", engines[0][1], 1, WEST_IP, **engines[0][2])
    e = net.add("east", engines[1][1], 2, EAST_IP, **engines[1][2])
    if start:
        net.start()
        net.run()
    return net, w, e, lw, le


def _phase1(net: Network) -> list:
    return [p for p in net.sent if p.message_id == 0 and p.exchange_type in (
        ExchangeType.ID_PROT, ExchangeType.AGGRESSIVE)]


def _decrypt_phase1(sa, iv: bytes, data: bytes) -> list:
    c = sa.cipher
    copy = _core.IkeCipher(c.enc_alg, c.hash_alg, c.key(), iv)
    hdr = _core.parse_header(data)
    return _core.parse_payloads(hdr.next_payload, copy.decrypt(0, data[28:]),
                                allow_trailing=True)


def _initial_iv(sa, gxi: bytes, gxr: bytes) -> bytes:
    return hashlib.sha1(gxi + gxr).digest()[:sa.cipher.block_size]


def _one(payloads, cls):
    found = [p for p in payloads if isinstance(p, cls)]
    assert len(found) == 1, payloads
    return found[0]


def _raw_rsa_recover(cert_der: bytes, sig: bytes) -> bytes:
    """sig^e mod n: the PKCS#1 type-1 block the signer padded."""
    from cryptography import x509

    pub = x509.load_der_x509_certificate(cert_der).public_key().public_numbers()
    k = (pub.n.bit_length() + 7) // 8
    return pow(int.from_bytes(sig, "big"), pub.e, pub.n).to_bytes(k, "big")


def test_main_mode_rsa_payloads_and_signature(tmp_path, ca, certs):
    w_cert, e_cert = certs
    net, w, e, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert)
    ws, es = established(net)
    assert_keys_cross(ws, es)
    mm = _phase1(net)
    assert len(mm) == 6
    T = PayloadType
    m3, m4 = mm[2].payloads(), mm[3].payloads()
    assert [p.payload_type for p in m3] == [T.KE, T.NONCE, T.CR, T.NAT_D, T.NAT_D]
    assert [p.payload_type for p in m4] == [T.KE, T.NONCE, T.CR, T.NAT_D, T.NAT_D]
    for msg in (m3, m4):
        cr = _one(msg, _core.CertReq)
        assert (cr.cert_type, cr.authority) == (CertEncoding.X509_SIG, ca.subject_der)
    [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
    gxi, gxr = _one(m3, _core.KE).data, _one(m4, _core.KE).data
    m5 = _decrypt_phase1(esa, _initial_iv(esa, gxi, gxr), mm[4].data)
    # INITIAL-CONTACT: west's first phase 1 with east (isakmpd.lifecycle)
    assert [p.payload_type for p in m5] == [T.ID, T.CERT, T.SIG, T.NOTIFY]
    cert = _one(m5, _core.Cert)
    assert (cert.encoding, cert.data) == (CertEncoding.X509_SIG, w_cert.der)
    idii = _one(m5, _core.ID)
    assert (idii.id_type, idii.data) == (IdType.IPV4_ADDR, bytes([192, 0, 2, 1]))
    # SIG_I = raw PKCS#1 signature of HASH_I, HASH_I recomputed here with
    # hmac from the SKEYID both ends derived (prf(Ni_b | Nr_b, g^xy))
    skeyid = wsa.keys.export()["skeyid"]
    assert skeyid == esa.keys.export()["skeyid"]
    sai_b = _one(mm[0].payloads(), _core.SA).body
    hash_i = hmac.new(skeyid, gxi + gxr + wsa.icookie + wsa.rcookie + sai_b
                      + idii.body, hashlib.sha1).digest()
    block = _raw_rsa_recover(w_cert.der, _one(m5, _core.Sig).data)
    assert block[:2] == b"\x00\x01" and block.endswith(b"\x00" + hash_i)
    assert set(block[2:-len(hash_i) - 1]) == {0xFF}  # no DigestInfo
    text = "\n".join(isakmp_lines(esa, net.now))
    assert "Authentication: RSA signature" in text
    assert "Remote certificate: C=SE, O=Example, CN=west" in text
    assert "Remote ID: IPV4_ADDR 192.0.2.1" in text


def test_aggressive_mode_rsa_payloads(tmp_path, ca, certs):
    w_cert, e_cert = certs
    net, w, e, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert, exchange="AGGRESSIVE")
    ws, es = established(net)
    assert_keys_cross(ws, es)
    am = _phase1(net)
    assert len(am) == 3 and all(p.exchange_type == ExchangeType.AGGRESSIVE for p in am)
    T = PayloadType
    m1, m2 = am[0].payloads(), am[1].payloads()
    assert [p.payload_type for p in m1][:5] == [T.SA, T.KE, T.NONCE, T.ID, T.CR]
    assert [p.payload_type for p in m2] == [T.SA, T.KE, T.NONCE, T.ID, T.CERT, T.SIG,
                                            T.CR, T.NAT_D, T.NAT_D, T.VENDOR,
                                            T.VENDOR]  # NAT-T version, DPD
    assert _one(m2, _core.Cert).data == e_cert.der
    [esa] = e.isakmp_sas()
    gxi, gxr = _one(m1, _core.KE).data, _one(m2, _core.KE).data
    m3 = _decrypt_phase1(esa, _initial_iv(esa, gxi, gxr), am[2].data)
    assert [p.payload_type for p in m3] == [T.CERT, T.SIG, T.NAT_D, T.NAT_D,
                                            T.NOTIFY]  # INITIAL-CONTACT
    assert esa.peer_cert_subject == "C=SE, O=Example, CN=west"


@pytest.mark.parametrize("ident,want", [
    (("FQDN", "west.example.com"), (IdType.FQDN, b"west.example.com")),
    (("USER_FQDN", "west@example.com"), (IdType.USER_FQDN, b"west@example.com")),
    (("DER_ASN1_DN", "/C=SE/O=Example/CN=west"), (IdType.DER_ASN1_DN, None)),
    (("DER_ASN1_DN", "C=SE, O=Example, CN=west"), (IdType.DER_ASN1_DN, None)),
])
def test_our_id_is_one_of_our_certificate(tmp_path, ca, certs, ident, want):
    w_cert, e_cert = certs
    net, w, e, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert,
                               west={"my_id": ident}, east={"peer_id": ident})
    established(net)
    [esa] = e.isakmp_sas()
    assert esa.id_remote_type == want[0]
    data = esa.id_remote[4:]
    assert data == (want[1] if want[1] is not None else w_cert.subject_der)


def test_no_id_configured_and_no_address_in_certificate(tmp_path, ca):
    """Without an ID section and without our address in the certificate, the
    certificate's first identity is our ID."""
    w = ca.issue("CN=west-noip", dns=["noip.example.com"], key_index=3)
    e = ca.issue("CN=east2", ip=[EAST_IP], key_index=2)
    net, wn, en, _, _ = rsa_pair(tmp_path, ca, w, e)
    established(net)
    [esa] = en.isakmp_sas()
    assert (esa.id_remote_type, esa.id_remote[4:]) == (IdType.FQDN, b"noip.example.com")


def test_raw_public_key_in_pubkeys(tmp_path, ca, certs, monkeypatch):
    """West sends no CERT (its credential has none to send): east finds its
    key in pubkeys/ipv4/192.0.2.1 and reports it."""
    w_cert, e_cert = certs
    import isakmpd.exchange.auth as auth

    real = auth.auth_payloads

    def no_cert(params, cred, h):
        return [p for p in real(params, cred, h) if not isinstance(p, _core.Cert)]

    monkeypatch.setattr(auth, "auth_payloads", no_cert)
    net, w, e, lw, le = rsa_pair(tmp_path, ca, w_cert, e_cert, start=False)
    path = le.add_pubkey("ipv4", WEST_IP, w_cert.public_pem)
    (le.add_pubkey("ipv4", EAST_IP, e_cert.public_pem)).unlink()
    lw.add_pubkey("ipv4", EAST_IP, e_cert.public_pem)
    net.start()
    net.run()
    established(net)
    [esa] = e.isakmp_sas()
    assert esa.peer_cert_subject == ""
    assert esa.peer_auth.startswith(f"RSA signature, public key {path}")
    text = "\n".join(isakmp_lines(esa, net.now))
    assert f"Peer authenticated by: RSA signature, public key {path}" in text


def test_kept_peer_certificate_in_certs(tmp_path, ca, certs, monkeypatch):
    w_cert, e_cert = certs
    import isakmpd.exchange.auth as auth

    real = auth.auth_payloads
    monkeypatch.setattr(auth, "auth_payloads", lambda p, c, h: [
        x for x in real(p, c, h) if not isinstance(x, _core.Cert)])
    net, w, e, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert,
                               west_lay={"kept": [e_cert]},
                               east_lay={"kept": [w_cert]})
    established(net)
    [esa] = e.isakmp_sas()
    assert "from " in esa.peer_auth and "certs/peer0.crt" in esa.peer_auth


def test_no_certificate_and_no_key_for_the_peer(tmp_path, ca, certs, monkeypatch,
                                                isakmpd_log):
    w_cert, e_cert = certs
    import isakmpd.exchange.auth as auth

    real = auth.auth_payloads
    monkeypatch.setattr(auth, "auth_payloads", lambda p, c, h: [
        x for x in real(p, c, h) if not isinstance(x, _core.Cert)])
    net, w, e, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert)
    assert not w.installed() and not e.installed()
    fails = isakmpd_log.matching("Main Mode with 192.0.2.1 failed")
    assert len(fails) == 1 and "sent no certificate, and no public key" in fails[0]
    assert e.counts() == (0, 0)
    sent = [p for p in net.sent if p.sender == "east"
            and p.exchange_type == ExchangeType.INFO]
    assert len(sent) == 1 and sent[0].encrypted
    [wsa] = w.isakmp_sas()
    hdr, payloads = _open_info(wsa, sent[0].data)
    assert [n.notify_type for n in payloads if isinstance(n, _core.Notify)] == [
        NotifyType.AUTHENTICATION_FAILED]


def _open_info(sa, data: bytes):
    """Decrypt a protected informational message with ``sa``'s cipher (its
    phase-1 IV must be the sender's)."""
    hdr = _core.parse_header(data)
    plain = sa.cipher.decrypt(hdr.message_id, data[28:])
    sa.cipher.forget(hdr.message_id)
    return hdr, _core.parse_payloads(hdr.next_payload, plain, allow_trailing=True)


# -- refusals ------------------------------------------------------------------


def _refused(net, e, isakmpd_log, mode: str = "Main Mode") -> str:
    fails = isakmpd_log.matching(f"{mode} with 192.0.2.1 failed")
    assert len(fails) == 1, isakmpd_log.messages()
    assert e.counts() == (0, 0) and not e.installed()
    return fails[0]


def _east_notify(net, w) -> int:
    """The one NOTIFY east sent, protected: decrypted with west's SA."""
    sent = [p for p in net.sent if p.sender == "east"
            and p.exchange_type == ExchangeType.INFO]
    assert len(sent) == 1, sent
    p = sent[0]
    if not p.encrypted:
        [n] = [x for x in p.payloads() if isinstance(x, _core.Notify)]
        return n.notify_type
    [wsa] = [s for s in w.isakmp_sas()] or [None]
    assert wsa is not None, "west dropped its SA before the notify"
    _, payloads = _open_info(wsa, p.data)
    [n] = [x for x in payloads if isinstance(x, _core.Notify)]
    return n.notify_type


@pytest.mark.parametrize("exchange", ["ID_PROT", "AGGRESSIVE"])
def test_revoked_certificate_refused(tmp_path, ca, exchange, isakmpd_log):
    w = ca.issue("CN=west-revoked", ip=[WEST_IP], key_index=3)
    e = ca.issue("CN=east3", ip=[EAST_IP], key_index=2)
    net, wn, en, _, _ = rsa_pair(tmp_path, ca, w, e, exchange=exchange,
                                 east_lay={"crls": [ca.crl([w])]})
    mode = "Main Mode" if exchange == "ID_PROT" else "Aggressive Mode"
    line = _refused(net, en, isakmpd_log, mode)
    assert "CN=west-revoked is revoked" in line, line
    assert _east_notify(net, wn) == NotifyType.INVALID_CERTIFICATE


@pytest.mark.parametrize("dates,word", [
    ((NOW - 30 * DAY, NOW - DAY), "expired"),
    ((NOW + DAY, NOW + 30 * DAY), "not yet valid"),
])
def test_certificate_out_of_its_dates_refused(tmp_path, ca, dates, word, isakmpd_log):
    w = ca.issue("CN=west-dated", ip=[WEST_IP], key_index=3, not_before=dates[0],
                 not_after=dates[1])
    e = ca.issue("CN=east3", ip=[EAST_IP], key_index=2)
    net, wn, en, _, _ = rsa_pair(tmp_path, ca, w, e)
    line = _refused(net, en, isakmpd_log)
    assert "CN=west-dated" in line and word in line, line
    assert _east_notify(net, wn) == NotifyType.INVALID_CERTIFICATE


def test_unknown_ca_refused(tmp_path, ca, isakmpd_log):
    other = Authority("CN=Other CA", key_index=4)
    w = other.issue("CN=west-other", ip=[WEST_IP], key_index=3)
    e = ca.issue("CN=east3", ip=[EAST_IP], key_index=2)
    lw = layout(tmp_path / "west", [ca, other], w)
    le = layout(tmp_path / "east", [ca], e)
    net = Network()
    wn = net.add("west", rsa_text(WEST_IP, EAST_IP, lw, active=True), 1, WEST_IP)
    en = net.add("east", rsa_text(EAST_IP, WEST_IP, le, active=False,
                                  my_net="10.2.0.0/24", peer_net="10.1.0.0/24"),
                 2, EAST_IP)
    net.start()
    net.run()
    line = _refused(net, en, isakmpd_log)
    assert "CN=west-other" in line and "Other CA" in line, line
    assert _east_notify(net, wn) == NotifyType.INVALID_CERTIFICATE


class _Wrapped:
    """A Pki whose local_identity is replaced (a scripted, lying peer)."""

    def __init__(self, pki, local_identity) -> None:
        self._pki = pki
        self._li = local_identity

    def __getattr__(self, name):
        return getattr(self._pki, name)

    def local_identity(self, id_type, id_data, requested):
        return self._li(self._pki, id_type, id_data, requested)


def test_id_not_in_certificate_refused(tmp_path, ca, certs, isakmpd_log):
    """West claims FQDN mallory.example.com but sends its own certificate,
    which does not name it: INVALID_ID_INFORMATION."""
    w_cert, e_cert = certs

    def liar(pki):
        return _Wrapped(pki, lambda p, t, d, r: p.local_identity(None, None, r))

    net, wn, en, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert,
                                 west={"my_id": ("FQDN", "mallory.example.com")},
                                 west_pki=liar)
    line = _refused(net, en, isakmpd_log)
    assert "FQDN mallory.example.com does not match certificate" in line, line
    assert _east_notify(net, wn) == NotifyType.INVALID_ID_INFORMATION


@pytest.mark.parametrize("exchange", ["ID_PROT", "AGGRESSIVE"])
def test_signature_with_another_key_refused(tmp_path, ca, certs, exchange,
                                            isakmpd_log):
    """West sends its certificate but signs with another private key."""
    w_cert, e_cert = certs
    from cryptography.hazmat.primitives import serialization

    other = key_pool(5).private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def forger(pki):
        def li(p, t, d, r):
            cred = p.local_identity(t, d, r)
            return dataclasses.replace(cred, key=_core.RsaKey(other))
        return _Wrapped(pki, li)

    net, wn, en, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert, exchange=exchange,
                                 west_pki=forger)
    mode = "Main Mode" if exchange == "ID_PROT" else "Aggressive Mode"
    line = _refused(net, en, isakmpd_log, mode)
    assert "signature of HASH_I by peer IPV4_ADDR 192.0.2.1 does not verify" in line
    assert "CN=west" in line, line
    assert _east_notify(net, wn) == NotifyType.INVALID_SIGNATURE


def test_responder_signature_refused_by_initiator(tmp_path, ca, certs, isakmpd_log):
    w_cert, e_cert = certs
    from cryptography.hazmat.primitives import serialization

    other = key_pool(5).private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def forger(pki):
        return _Wrapped(pki, lambda p, t, d, r: dataclasses.replace(
            p.local_identity(t, d, r), key=_core.RsaKey(other)))

    net, wn, en, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert, east_pki=forger)
    fails = isakmpd_log.matching("Main Mode with 192.0.2.2 failed")
    assert len(fails) == 1 and "signature of HASH_R" in fails[0], fails
    assert wn.counts() == (0, 0)
    # west's NOTIFY is protected and readable with east's keys
    sent = [p for p in net.sent if p.sender == "west"
            and p.exchange_type == ExchangeType.INFO]
    assert len(sent) == 1 and sent[0].encrypted
    [esa] = en.isakmp_sas()
    _, payloads = _open_info(esa, sent[0].data)
    assert [x.notify_type for x in payloads if isinstance(x, _core.Notify)] == [
        NotifyType.INVALID_SIGNATURE]


# -- garbled payloads from a scripted peer --------------------------------------


def _rewrite_plain(net, match, change):
    """Rewrite an unencrypted message: change(payloads) -> payloads."""
    def fix(p):
        hdr, payloads = _core.parse_message(p.data)
        new = change(payloads)
        h = _core.Header(hdr.icookie, hdr.rcookie, exchange_type=hdr.exchange_type,
                         flags=hdr.flags, message_id=hdr.message_id)
        return type(p)(_core.encode_message(h, new), p.src, p.dst, p.index,
                       p.sender, p.at)
    net.rewrite(match, fix)


def test_malformed_dn_in_aggressive_mode_id(tmp_path, ca, certs, isakmpd_log):
    w_cert, e_cert = certs
    net, wn, en, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert, exchange="AGGRESSIVE",
                                 start=False)
    bad = bytes.fromhex("3082ffff310b3009")  # a SEQUENCE longer than its data

    _rewrite_plain(net, lambda p: p.index == 0, lambda ps: [
        _core.ID(IdType.DER_ASN1_DN, bad) if isinstance(x, _core.ID) else x
        for x in ps])
    net.start()
    net.run()
    line = _refused(net, en, isakmpd_log, "Aggressive Mode")
    assert "malformed DER_ASN1_DN ID" in line, line
    assert _east_notify(net, wn) == NotifyType.INVALID_ID_INFORMATION


def test_malformed_certificate_in_aggressive_mode(tmp_path, ca, certs, isakmpd_log):
    """East's message 2 carries garbage where its certificate was: west
    refuses it (INVALID_CERT_ENCODING, protected) and goes on working."""
    w_cert, e_cert = certs
    net, wn, en, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert, exchange="AGGRESSIVE",
                                 start=False)
    _rewrite_plain(net, lambda p: p.sender == "east" and p.exchange_type
                   == ExchangeType.AGGRESSIVE, lambda ps: [
        _core.Cert(CertEncoding.X509_SIG, b"\x30\x82\x01\x00garbage")
        if isinstance(x, _core.Cert) else x for x in ps])
    net.start()
    net.run()
    fails = isakmpd_log.matching("Aggressive Mode with 192.0.2.2 failed")
    assert len(fails) == 1 and "cannot be decoded" in fails[0], fails
    sent = [p for p in net.sent if p.sender == "west"
            and p.exchange_type == ExchangeType.INFO]
    assert len(sent) == 1 and sent[0].encrypted
    [esa] = en.isakmp_sas()
    _, payloads = _open_info(esa, sent[0].data)
    assert [x.notify_type for x in payloads if isinstance(x, _core.Notify)] == [
        NotifyType.INVALID_CERT_ENCODING]
    assert wn.counts() == (0, 0)


def test_malformed_dn_in_main_mode_message_5(tmp_path, ca, certs, isakmpd_log):
    """Message 5 re-encrypted with a DN ID that is not DER: refused with
    INVALID_ID_INFORMATION, no crash."""
    w_cert, e_cert = certs
    net, wn, en, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert, start=False)
    kes: list[bytes] = []
    state: dict = {}

    def swap(p):
        [esa] = en.isakmp_sas()
        # the responder derives its keys when message 5 comes: now
        esa.exchanges[0].keys_due(net.now)
        iv = _initial_iv(esa, kes[0], kes[1])
        payloads = _decrypt_phase1(esa, iv, p.data)
        payloads = [_core.ID(IdType.DER_ASN1_DN, b"\x31\x00") if isinstance(
            x, _core.ID) else x for x in payloads]
        hdr = _core.parse_header(p.data)
        c = esa.cipher
        enc = _core.IkeCipher(c.enc_alg, c.hash_alg, c.key(), iv)
        body = enc.encrypt(0, _core.encode_payloads(payloads))
        state.update(algs=(c.enc_alg, c.hash_alg), key=c.key(), last=body[-16:])
        h = _core.Header(hdr.icookie, hdr.rcookie, next_payload=PayloadType.ID,
                         exchange_type=hdr.exchange_type, flags=Flags.ENC)
        return type(p)(_core.encode_message(h, body), p.src, p.dst, p.index,
                       p.sender, p.at)

    def note_ke(p):
        if p.exchange_type == ExchangeType.ID_PROT and not p.encrypted:
            kes.extend(x.data for x in p.payloads() if isinstance(x, _core.KE))
        return None

    net.add_rule(note_ke)
    net.rewrite(lambda p: p.sender == "west" and p.encrypted and p.message_id == 0,
                swap)
    net.start()
    net.run()
    line = _refused(net, en, isakmpd_log)
    assert "malformed DER_ASN1_DN ID" in line, line
    sent = [p for p in net.sent if p.sender == "east"
            and p.exchange_type == ExchangeType.INFO]
    assert len(sent) == 1 and sent[0].encrypted
    # east took the rewritten message 5 into its IV chain, so its NOTIFY
    # reads with the phase-1 IV that message left
    c = _core.IkeCipher(*state["algs"], state["key"], state["last"])
    hdr = _core.parse_header(sent[0].data)
    plain = c.decrypt(hdr.message_id, sent[0].data[28:])
    payloads = _core.parse_payloads(hdr.next_payload, plain, allow_trailing=True)
    assert [x.notify_type for x in payloads if isinstance(x, _core.Notify)] == [
        NotifyType.INVALID_ID_INFORMATION]


# -- choosing the method -----------------------------------------------------------


def test_any_method_chooses_what_the_responder_can_do(tmp_path, ca, certs):
    """East accepts AUTHENTICATION_METHOD=ANY: west offers pre-shared keys
    first, but east has no key, so it takes the RSA_SIG transform."""
    w_cert, e_cert = certs
    extra = ("[any-xf]\nENCRYPTION_ALGORITHM= AES_CBC\nKEY_LENGTH= 128,128:256\n"
             "HASH_ALGORITHM= SHA\nAUTHENTICATION_METHOD= ANY\n"
             "GROUP_DESCRIPTION= MODP_2048\nLife= LIFE_MAIN_MODE\n")
    net, w, e, _, _ = rsa_pair(
        tmp_path, ca, w_cert, e_cert,
        west={"transforms": "AES-128-SHA-GRP14," + RSA, "peer_psk": "k"},
        east={"transforms": "any-xf", "extra": extra})
    established(net)
    [esa] = e.isakmp_sas()
    assert esa.params.transform_name == "any-xf"
    assert esa.params.auth_method == 3  # RSA_SIG
    [wsa] = w.isakmp_sas()
    assert wsa.params.transform_name == RSA


def test_reconfigure_reads_new_crls(tmp_path, ca, isakmpd_log):
    """A CRL put in crls/ is used after engine.reconfigure (SIGHUP)."""
    w = ca.issue("CN=west-later-revoked", ip=[WEST_IP], key_index=3)
    e = ca.issue("CN=east3", ip=[EAST_IP], key_index=2)
    net, wn, en, lw, le = rsa_pair(tmp_path, ca, w, e)
    established(net)
    (le.crls / "new.pem").write_bytes(ca.crl([w]))
    en.engine.reconfigure(en.engine.conf)
    wn.engine.teardown_main("192.0.2.2", net.now)
    for ipsec in list(wn.engine.table.ipsec_sas()):
        wn.engine.delete_ipsec(ipsec, net.now)
    net.run()
    assert wn.engine.connect("vpn", net.now)
    net.run()
    fails = isakmpd_log.matching("Main Mode with 192.0.2.1 failed")
    assert len(fails) == 1 and "CN=west-later-revoked is revoked" in fails[0], fails


def test_dn_text_forms():
    a = dn_to_der("/C=SE/O=Example/CN=host")
    assert dn_to_der("C=SE, O=Example, CN=host") == a
    assert dn_to_der(" C=SE;O=Example;CN=host ") == a
    with pytest.raises(ValueError, match="unknown DN attribute"):
        dn_to_der("XX=1")
    with pytest.raises(ValueError, match="not NAME=value"):
        dn_to_der("/C=SE/garbage")


@pytest.mark.parametrize("which", [0, 1, 2])
def test_damaged_aggressive_rsa_messages_never_raise(tmp_path, ca, certs, which):
    """Damaged copies of Aggressive Mode messages carrying certificates and
    signatures (message 3 encrypted): no exception escapes the engine."""
    import random

    from test_aggressive import _mutants

    w_cert, e_cert = certs
    net, w, e, _, _ = rsa_pair(tmp_path, ca, w_cert, e_cert, exchange="AGGRESSIVE",
                               start=False)
    net.start()
    while net.pending()[0].index != which:
        net.step()
    genuine = net.take()[0]
    node = net.node_at(genuine.dst[0])
    rng = random.Random(2000 + which)
    for bad in _mutants(genuine.data, rng, 150):
        if which == 0:  # a new initiator cookie: a new exchange each time
            bad = rng.randbytes(8) + bad[8:]
        node.engine.receive_datagram(bad, genuine.dst, genuine.src, net.now)
        node.engine.datagrams_to_send()
        while node.engine.next_event() is not None:
            pass
    assert node.counts()[1] == 0
