"""The example configurations in examples/ load, with the secrecy check, and
say what examples/README.md says they say."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from isakmpd.conf import Conf
from isakmpd.conf import model as m
from isakmpd.constants import (AuthAlg, AuthMethod, EncAlg, EncapMode, EspTransform,
                               ExchangeType, Group, HashAlg, IdType, LifeType,
                               ProtocolId)
from isakmpd.errors import ConfigError

EXAMPLES = Path(__file__).parent.parent / "examples"
GW = {"west": ("192.0.2.1", "10.1.0.0"), "east": ("192.0.2.2", "10.2.0.0")}


def load(tmp_path: Path, name: str) -> Conf:
    """As a user would: a private copy, read with the secrecy check on."""
    dst = tmp_path / f"{name}.conf"
    shutil.copy(EXAMPLES / f"{name}.conf", dst)
    os.chmod(dst, 0o600)
    return Conf.load(str(dst))


@pytest.mark.parametrize("me,other", [("west", "east"), ("east", "west")])
def test_gateway(tmp_path: Path, me: str, other: str) -> None:
    conf = load(tmp_path, me)
    assert conf.warnings == []
    assert m.check(conf, log_messages=False) == []
    my_addr, my_net = GW[me]
    peer_addr, peer_net = GW[other]
    assert m.general(conf).listen_on == (my_addr,)

    active, passive = m.connections(conf)
    name = f"{me}-{other}"
    assert (active, passive) == (([name], []) if me == "west" else ([], [name]))

    peer_name = m.phase1_peer_for_address(conf, peer_addr)
    assert peer_name == f"peer-{other}"
    p = m.phase1_peer(conf, peer_name)
    assert (p.address, p.local_address, p.port) == (peer_addr, my_addr, 500)
    assert p.exchange_type == ExchangeType.ID_PROT
    assert p.psk == b"change-this-to-the-same-long-random-secret-on-both"
    main_life = (m.LifeSpec(LifeType.SECONDS, m.Range(3600, 60, 86400)),)
    assert p.transforms == (
        m.IkeTransformSpec("AES-128-SHA-GRP14", EncAlg.AES_CBC, m.Range(128, 128, 128),
                           HashAlg.SHA, None, AuthMethod.PRE_SHARED, Group.MODP_2048,
                           main_life),
        m.IkeTransformSpec("3DES-SHA-GRP14", EncAlg.TDES_CBC, None, HashAlg.SHA, None,
                           AuthMethod.PRE_SHARED, Group.MODP_2048, main_life),
    )

    c = m.connection(conf, name)
    assert c.isakmp_peer == peer_name and c.warnings == ()
    mask = "255.255.255.0"
    assert c.local_id == m.IdSpec(f"net-{me}", IdType.IPV4_ADDR_SUBNET, my_net, mask,
                                  None, 0, 0)
    assert c.remote_id == m.IdSpec(f"net-{other}", IdType.IPV4_ADDR_SUBNET, peer_net,
                                   mask, None, 0, 0)
    (suite,) = c.suites
    (proto,) = suite.protocols
    assert proto.protocol_id == ProtocolId.IPSEC_ESP and proto.replay_window == 16
    (xf,) = proto.transforms
    assert (xf.transform_id, xf.key_length, xf.auth_alg, xf.group, xf.encap_mode) == (
        EspTransform.AES, m.Range(128, 128, 128), AuthAlg.HMAC_SHA, Group.MODP_2048,
        EncapMode.TUNNEL)


def test_the_two_sides_agree(tmp_path: Path) -> None:
    west, east = load(tmp_path, "west"), load(tmp_path, "east")
    w = m.connection(west, "west-east")
    e = m.connection(east, "east-west")
    assert w.local_id == e.remote_id and w.remote_id == e.local_id
    assert w.suites == e.suites
    pw = m.phase1_peer(west, w.isakmp_peer)
    pe = m.phase1_peer(east, e.isakmp_peer)
    assert pw.psk == pe.psk and pw.transforms == pe.transforms


def test_world_readable_example_is_refused(tmp_path: Path) -> None:
    dst = tmp_path / "west.conf"
    shutil.copy(EXAMPLES / "west.conf", dst)
    os.chmod(dst, 0o644)
    with pytest.raises(ConfigError, match=re.escape(f"chmod 600 {dst}")):
        Conf.load(str(dst))


def test_readme_explicit_sections_load() -> None:
    """The spelled-out transform in examples/README.md means what it says."""
    text = (EXAMPLES / "README.md").read_text()
    start = text.index("\n    [main-mode-psk]")
    end = text.index("\n\n`KEY_LENGTH`", start)
    block = "\n".join(line[4:] for line in text[start:end].splitlines()) + "\n"
    conf = Conf.from_text(block, "README.md")
    assert conf.warnings == []
    x = m.ike_transform(conf, "aes128-sha1-modp2048")
    generated = m.ike_transform(conf, "AES-128-SHA-GRP14")
    assert (x.enc_alg, x.key_length, x.hash_alg, x.auth_method, x.group) == (
        generated.enc_alg, generated.key_length, generated.hash_alg,
        generated.auth_method, generated.group)
    assert x.lifes == (m.LifeSpec(LifeType.SECONDS, m.Range(28800, 60, 86400)),)
