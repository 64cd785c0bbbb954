"""ISAKMP codec benchmarks: parse and build of real phase-1 and phase-2
messages by our Rust codec, by scapy's ISAKMP layer (the ``bench`` extra)
and by a plain struct-based parser/builder (``isakmp_struct``).

parse: bytes to objects. build: the same message from plain Python values
(each codec's objects made and encoded). Every build is checked to give the
captured bytes back.
"""

from __future__ import annotations

import isakmp_struct as st
import pytest
from codecs_bench import (messages, ours_build, ours_parse, scapy_codec,
                          struct_build, struct_parse)

MESSAGES = messages()
SCAPY = scapy_codec()


def _codec(impl: str):
    if impl == "ours":
        return ours_parse, ours_build
    if impl == "struct":
        return struct_parse, struct_build
    if SCAPY is None:
        pytest.skip("scapy not installed (pip install -e '.[bench]')")
    return SCAPY


@pytest.mark.parametrize("impl", ["ours", "struct", "scapy"])
@pytest.mark.parametrize("name", list(MESSAGES))
def test_parse_build(benchmark, name: str, impl: str) -> None:
    """One message parsed, then built again from its plain description."""
    data = MESSAGES[name]
    desc = st.parse_message(data)
    parse, build = _codec(impl)
    benchmark.group = f"codec parse+build {name}, {len(data)} bytes"
    benchmark.extra_info["impl"] = impl

    def fn() -> bytes:
        parse(data)
        return build(desc)

    assert benchmark(fn) == data


@pytest.mark.parametrize("impl", ["ours", "struct", "scapy"])
@pytest.mark.parametrize("name", list(MESSAGES))
def test_parse(benchmark, name: str, impl: str) -> None:
    data = MESSAGES[name]
    parse, _ = _codec(impl)
    benchmark.group = f"parse {name}"
    benchmark.extra_info["impl"] = impl
    assert benchmark(parse, data) is not None


@pytest.mark.parametrize("impl", ["ours", "struct", "scapy"])
@pytest.mark.parametrize("name", list(MESSAGES))
def test_build(benchmark, name: str, impl: str) -> None:
    data = MESSAGES[name]
    desc = st.parse_message(data)
    _, build = _codec(impl)
    benchmark.group = f"build {name}"
    benchmark.extra_info["impl"] = impl
    assert benchmark(build, desc) == data
