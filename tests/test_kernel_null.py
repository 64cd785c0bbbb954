"""NullBackend (``-n``): SPIs from the given random function, a memory of
what was asked, and nothing done to the kernel."""

from __future__ import annotations

import errno
import random
import socket

import pytest
from isakmpd.errors import KernelError
from isakmpd.kernel import Algo, AuthAlgo, Encap, PolicySpec, SaSpec, Selector
from isakmpd.kernel.null import MAX_DRAWS, NullBackend


def seeded(seed: int) -> NullBackend:
    rng = random.Random(seed)
    return NullBackend(lambda: rng.getrandbits(32))


def test_spis_follow_the_random_function() -> None:
    first = [seeded(7).get_spi(50, "192.0.2.2", "192.0.2.1") for _ in range(3)]
    again = seeded(7)
    assert [again.get_spi(50, "192.0.2.2", "192.0.2.1")] == first[:1]
    other = seeded(8).get_spi(50, "192.0.2.2", "192.0.2.1")
    assert other != first[0]
    draws = iter([0, 5, 0xFFFFFFFF])
    b = NullBackend(lambda: next(draws))
    assert b.get_spi(50, "192.0.2.2", "192.0.2.1") == 0x100  # 0 maps to the bottom
    assert b.get_spi(51, "192.0.2.2", "192.0.2.1") == 0x105
    cpi = b.get_spi(108, "192.0.2.2", "192.0.2.1")
    assert 0x100 <= cpi <= 0xFFFF


def test_no_duplicate_spis_even_if_the_draw_repeats() -> None:
    draws = iter([0x1234, 0x1234, 0x1234, 0x4321])
    b = NullBackend(lambda: next(draws))
    assert b.get_spi(50, "192.0.2.2", "192.0.2.1") == 0x1234
    assert b.get_spi(50, "192.0.2.2", "192.0.2.1") == 0x4321
    # the same number is fine for another protocol or destination
    b2 = NullBackend(lambda: 0x1234)
    assert b2.get_spi(50, "192.0.2.2", "192.0.2.1") == 0x1234
    assert b2.get_spi(51, "192.0.2.2", "192.0.2.1") == 0x1234
    assert b2.get_spi(50, "192.0.2.2", "2001:db8::1") == 0x1234
    with pytest.raises(KernelError) as info:
        b2.get_spi(50, "192.0.2.9", "192.0.2.1")
    assert info.value.errno == errno.EAGAIN
    assert f"after {MAX_DRAWS} draws" in str(info.value)


def test_spi_range_and_bad_input() -> None:
    b = seeded(1)
    spis = {
        b.get_spi(50, "::1", "::2", spi_min=0x200, spi_max=0x20F) for _ in range(16)
    }
    assert spis == set(range(0x200, 0x210))  # every SPI of the range, once
    with pytest.raises(KernelError):
        b.get_spi(50, "::1", "::2", spi_min=0x200, spi_max=0x20F)
    with pytest.raises(ValueError):
        b.get_spi(6, "::1", "::2")
    with pytest.raises(ValueError, match="not an IP address"):
        b.get_spi(50, "::1", "host.example")


def test_records_sas_and_policies() -> None:
    b = seeded(3)
    spi = b.get_spi(50, "192.0.2.2", "192.0.2.1")
    [larval] = b.list_sas()
    assert larval.larval and larval.spi == spi and larval.dst == "192.0.2.1"
    inbound = SaSpec(
        50,
        spi,
        "192.0.2.2",
        "192.0.2.1",
        inbound=True,
        reqid=4,
        enc=Algo("cbc(aes)", bytes(16)),
        auth=AuthAlgo("hmac(sha1)", bytes(20)),
        encap=Encap(4500, 4500),
    )
    outbound = SaSpec(
        50, 0x999, "192.0.2.1", "192.0.2.2", enc=Algo("cbc(aes)", bytes(16))
    )
    b.add_sa(inbound)
    b.add_sa(outbound)
    records = {r.spi: r for r in b.list_sas()}
    assert set(records) == {spi, 0x999}
    assert not records[spi].larval and records[spi].enc == "cbc(aes)"
    assert records[spi].auth == "hmac(sha1)" and records[spi].encap == Encap(4500, 4500)
    with pytest.raises(KernelError) as info:
        b.add_sa(outbound)
    assert info.value.errno == errno.EEXIST
    policy = PolicySpec(
        Selector.of("10.0.0.0/8", "10.1.0.0/16"),
        "out",
        templates=[(50, "tunnel", "192.0.2.1", "192.0.2.2")],
    )
    b.add_policy(policy)
    b.add_policy(policy)
    assert b.list_policies() == [policy]
    b.delete_policy(policy)
    assert b.list_policies() == []
    with pytest.raises(KernelError) as info:
        b.delete_policy(policy)
    assert info.value.errno == errno.ENOENT
    b.delete_sa(50, 0x999, "192.0.2.2")
    b.delete_sa(50, spi, "192.0.2.1")
    assert b.list_sas() == []
    with pytest.raises(KernelError) as info:
        b.delete_sa(50, spi, "192.0.2.1")
    assert info.value.errno == errno.ESRCH


def test_addresses_compare_by_value() -> None:
    b = NullBackend(lambda: 0x777)
    b.get_spi(50, "2001:db8::2", "2001:0db8:0:0::1")
    b.delete_sa(50, 0x777, "2001:db8::1")
    assert b.list_sas() == []


def test_touches_nothing() -> None:
    b = seeded(5)
    assert b.events() is None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        b.bypass_socket(sock)  # no error, no socket option
    b.add_policy(PolicySpec(Selector.of("10.0.0.0/8", "10.0.0.0/8"), "in", "block"))
    b.flush()
    assert b.list_policies() == [] and b.list_sas() == []
    b.close()
