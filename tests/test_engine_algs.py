"""Every phase-1 cipher and hash, a sample of groups, and the phase-2 suites
of interest, negotiated between two engines with the generated names."""

from __future__ import annotations

import itertools

import pytest
from enginepair import assert_keys_cross, established, gateway_pair
from isakmpd.constants import (
    AhTransform,
    AuthAlg,
    EncAlg,
    EncapMode,
    EspTransform,
    HashAlg,
    ProtocolId,
)

CIPHERS = {"3DES": (EncAlg.TDES_CBC, 24), "AES": (EncAlg.AES_CBC, 16),
           "AES-128": (EncAlg.AES_CBC, 16), "AES-192": (EncAlg.AES_CBC, 24),
           "AES-256": (EncAlg.AES_CBC, 32), "BLF": (EncAlg.BLOWFISH_CBC, 16),
           "CAST": (EncAlg.CAST_CBC, 16)}
HASHES = {"MD5": HashAlg.MD5, "SHA": HashAlg.SHA, "SHA2-256": HashAlg.SHA2_256,
          "SHA2-384": HashAlg.SHA2_384, "SHA2-512": HashAlg.SHA2_512}
GROUPS = (1, 2, 5, 14, 15, 19, 20, 21)

# every cipher with every hash, the groups taking turns
_P1 = [(c, h, GROUPS[i % len(GROUPS)])
       for i, (c, h) in enumerate(itertools.product(CIPHERS, HASHES))]
# and every group with the strongest cipher and hash
_P1 += [("AES-256", "SHA2-512", g) for g in GROUPS]


@pytest.mark.parametrize("cipher,hash_,group", _P1)
def test_phase1_transform(cipher, hash_, group):
    name = f"{cipher}-{hash_}-GRP{group}"
    net, w, e = gateway_pair(group, transforms=name,
                             suites="QM-ESP-AES-SHA-SUITE")
    ws, es = established(net)
    assert_keys_cross(ws, es)
    for node in (w, e):
        [sa] = node.isakmp_sas()
        p = sa.params
        assert p.transform_name == name
        enc, key_len = CIPHERS[cipher]
        assert (p.enc_alg, p.key_len, p.hash_alg, p.group) == (
            enc, key_len, HASHES[hash_], group)
        assert sa.cipher.key_len == key_len
    # the KE payloads have the group's size
    from isakmpd import _core
    size = _core.group_info(group)[1]
    for p in net.sent[2:4]:
        [ke] = [x for x in p.payloads() if isinstance(x, _core.KE)]
        assert len(ke.data) == size


def test_phase1_initiator_order_and_responder_list():
    """The initiator's several transforms; the responder takes the first of
    them that its own list accepts."""
    net, w, e = gateway_pair(
        west={"transforms": "BLF-MD5-GRP2,CAST-SHA-GRP5,AES-192-SHA2-384-GRP19"},
        east={"transforms": "AES-192-SHA2-384-GRP19,CAST-SHA-GRP5"})
    established(net)
    assert [sa.params.transform_name for sa in e.isakmp_sas()] == ["CAST-SHA-GRP5"]
    assert [sa.params.transform_name for sa in w.isakmp_sas()] == ["CAST-SHA-GRP5"]


# (suite, protocol, transform id, auth alg, key bits, encap, PFS group, KEYMAT bytes)
_P2 = [
    ("QM-ESP-AES-SHA-PFS-SUITE", ProtocolId.IPSEC_ESP, EspTransform.AES,
     AuthAlg.HMAC_SHA, 128, EncapMode.TUNNEL, 2, 16 + 20),
    ("QM-ESP-3DES-MD5-SUITE", ProtocolId.IPSEC_ESP, EspTransform.TDES,
     AuthAlg.HMAC_MD5, 192, EncapMode.TUNNEL, None, 24 + 16),
    ("QM-ESP-AESGCM-128-SUITE", ProtocolId.IPSEC_ESP, EspTransform.AES_GCM_16,
     None, 128, EncapMode.TUNNEL, None, 16 + 4),
    ("QM-ESP-AESGCM-256-PFS-GRP19-SUITE", ProtocolId.IPSEC_ESP,
     EspTransform.AES_GCM_16, None, 256, EncapMode.TUNNEL, 19, 32 + 4),
    ("QM-ESP-AESCTR-256-SHA2-256-SUITE", ProtocolId.IPSEC_ESP, EspTransform.AES_CTR,
     AuthAlg.HMAC_SHA2_256, 256, EncapMode.TUNNEL, None, 32 + 4 + 32),
    ("QM-ESP-AESCTR-128-SHA-PFS-GRP14-SUITE", ProtocolId.IPSEC_ESP,
     EspTransform.AES_CTR, AuthAlg.HMAC_SHA, 128, EncapMode.TUNNEL, 14, 16 + 4 + 20),
    ("QM-ESP-AES-256-SHA2-512-PFS-GRP21-SUITE", ProtocolId.IPSEC_ESP,
     EspTransform.AES, AuthAlg.HMAC_SHA2_512, 256, EncapMode.TUNNEL, 21, 32 + 64),
    ("QM-ESP-BLF-SHA2-384-SUITE", ProtocolId.IPSEC_ESP, EspTransform.BLOWFISH,
     AuthAlg.HMAC_SHA2_384, 128, EncapMode.TUNNEL, None, 16 + 48),
    ("QM-ESP-CAST-SHA-PFS-GRP5-SUITE", ProtocolId.IPSEC_ESP, EspTransform.CAST,
     AuthAlg.HMAC_SHA, 128, EncapMode.TUNNEL, 5, 16 + 20),
    ("QM-AH-SHA-PFS-SUITE", ProtocolId.IPSEC_AH, AhTransform.SHA, AuthAlg.HMAC_SHA,
     None, EncapMode.TUNNEL, 2, 20),
    ("QM-AH-SHA2-256-SUITE", ProtocolId.IPSEC_AH, AhTransform.SHA2_256,
     AuthAlg.HMAC_SHA2_256, None, EncapMode.TUNNEL, None, 32),
]


@pytest.mark.parametrize("suite,proto,tid,auth,bits,encap,group,kmlen", _P2,
                         ids=[s[0] for s in _P2])
def test_phase2_suite(suite, proto, tid, auth, bits, encap, group, kmlen):
    net, w, e = gateway_pair(5, suites=suite)
    ws, es = established(net)
    assert_keys_cross(ws, es)
    for s in (ws, es):
        assert s.suite_name == suite
        assert s.pfs_group == group
        [p] = s.protos
        assert (p.protocol_id, p.transform_id, p.auth_alg, p.key_bits, p.encap_mode,
                p.group) == (proto, tid, auth, bits, encap, group)
        assert len(p.keymat_in) == len(p.keymat_out) == kmlen
        assert s.life_seconds == 1200


def test_sizeless_aesctr_suite():
    # the generated sizeless -AESCTR transforms offer AES's default key length
    net, w, e = gateway_pair(5, suites="QM-ESP-AESCTR-SHA-SUITE")
    ws, es = established(net)
    assert ws.protos[0].key_bits == 128


def test_transport_mode_host_to_host_without_ids():
    net, w, e = gateway_pair(9, suites="QM-ESP-TRP-AES-SHA-SUITE",
                             my_net=None, peer_net=None,
                             west={"my_net": None, "peer_net": None},
                             east={"my_net": None, "peer_net": None})
    ws, es = established(net)
    assert_keys_cross(ws, es)
    for s in (ws, es):
        [p] = s.protos
        assert p.encap_mode == EncapMode.TRANSPORT and not s.udp_encap
        assert s.pfs_group is None
    assert (str(ws.local_sel.network), str(ws.remote_sel.network)) == (
        "192.0.2.1/32", "192.0.2.2/32")
    assert (str(es.local_sel.network), str(es.remote_sel.network)) == (
        "192.0.2.2/32", "192.0.2.1/32")
    # no ID payloads in Quick Mode: look inside message 1 with east's keys
    from enginepair import open_protected
    qm1 = [p for p in net.sent if p.exchange_type == 32][0]
    # message 1 was already decrypted by east; decrypting again under the
    # same message ID is possible as long as the state is dropped after
    [esa] = e.isakmp_sas()
    _, payloads = open_protected(esa, qm1.data)
    assert [type(p).__name__ for p in payloads] == ["Hash", "SA", "Nonce"]


def test_two_protocols_esp_and_ah_in_one_suite():
    extra = """
[ESP-AH-SUITE]
Protocols= QM-ESP-AES-SHA, QM-AH-SHA
"""
    net, w, e = gateway_pair(11, suites="ESP-AH-SUITE", extra=extra)
    ws, es = established(net)
    assert_keys_cross(ws, es)
    assert [p.protocol_id for p in ws.protos] == [ProtocolId.IPSEC_ESP,
                                                  ProtocolId.IPSEC_AH]
    assert [len(p.keymat_in) for p in ws.protos] == [36, 20]
    # distinct SPIs per protocol, and the ESP and AH keys differ
    assert ws.protos[0].spi_in != ws.protos[1].spi_in
    assert ws.protos[0].keymat_in[:20] != ws.protos[1].keymat_in
