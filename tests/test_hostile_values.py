"""Values that are legal on the wire or in a file but must be refused:
reserved SPIs from a peer, lifetimes beyond 32 bits, NUL bytes, netmasks that
are not contiguous (each found by trying to break the daemon)."""

from __future__ import annotations

import pytest

from enginepair import gateway_pair, is_info, open_protected
from isakmpd.conf import model
from isakmpd.conf.store import Conf
from isakmpd.constants import NotifyType
from isakmpd.errors import ConfigError


@pytest.mark.parametrize("spi", [0, 5, 255])
def test_reserved_peer_spi_is_refused(spi, caplog):
    net, w, e = gateway_pair(start=False)
    # the initiator (west) offers a reserved SPI for its inbound SA
    w.engine.spi_allocator = lambda proto, src, dst: spi
    net.start()
    net.run()
    assert not e.installed() and not w.installed()
    assert "reserved SPI" in caplog.text
    [esa] = e.isakmp_sas()
    infos = [open_protected(esa, p.data)[1] for p in net.sent
             if p.src[0] == e.address and is_info(p)]
    types = [x.notify_type for payloads in infos for x in payloads
             if hasattr(x, "notify_type")]
    assert NotifyType.INVALID_SPI in types


def test_spi_256_is_accepted():
    net, w, e = gateway_pair(start=False)
    w.engine.spi_allocator = lambda proto, src, dst: 256
    net.start()
    net.run()
    assert len(e.installed()) == 1 and e.installed()[0].protos[0].spi_out == b"\0\0\1\0"


def _xf_conf(duration: str) -> str:
    return ("[peer]\nPhase=1\nAddress=192.0.2.2\nAuthentication=k\n"
            "Configuration=cfg\n[cfg]\nEXCHANGE_TYPE=ID_PROT\nTransforms=xf\n"
            "[xf]\nENCRYPTION_ALGORITHM=AES_CBC\nHASH_ALGORITHM=SHA\n"
            "AUTHENTICATION_METHOD=PRE_SHARED\nGROUP_DESCRIPTION=MODP_2048\n"
            "Life=life\n[life]\nLIFE_TYPE=SECONDS\n"
            f"LIFE_DURATION={duration}\n")


@pytest.mark.parametrize("duration", ["99999999999999999999999,60:99999999999999999999999",
                                      str(2 ** 64), "0,0:0", "0"])
def test_absurd_lifetime_is_skipped_with_a_warning(duration):
    conf = Conf.from_text(_xf_conf(duration), "t.conf")
    peer = model.phase1_peer(conf, "peer")
    assert peer.transforms == ()
    assert any("LIFE_DURATION" in w for w in peer.warnings), peer.warnings


def test_largest_lifetime_is_kept():
    conf = Conf.from_text(_xf_conf("3600,60:4294967295"), "t.conf")
    [xf] = model.phase1_peer(conf, "peer").transforms
    assert xf.lifes[0].duration.high == 0xFFFFFFFF


def test_nul_byte_names_file_and_line():
    with pytest.raises(ConfigError) as info:
        Conf.from_text("[General]\nRetransmits=3\nListen-on=192.0.2.1\x00\n", "t.conf")
    assert str(info.value).startswith("t.conf:3: ") and "NUL" in str(info.value)


@pytest.mark.parametrize("network,netmask,message", [
    ("10.0.0.0", "255.0.255.0", "not contiguous"),
    ("10.0.0.5", "255.0.0.0", "host bits"),
    ("2001:db8::", "ffff:0:ffff::", "not contiguous"),
])
def test_bad_subnet_ids_in_the_configuration(network, netmask, message):
    text = (f"[id]\nID-type=IPV{6 if ':' in network else 4}_ADDR_SUBNET\n"
            f"Network={network}\nNetmask={netmask}\n")
    with pytest.raises(ConfigError, match=message):
        model.id_spec(Conf.from_text(text, "t.conf"), "id")


def test_duplicate_listen_on_is_one_address():
    conf = Conf.from_text("[General]\nListen-on=192.0.2.1,192.0.2.1, 192.0.2.3\n", "t")
    assert model.general(conf).listen_on == ("192.0.2.1", "192.0.2.3")
