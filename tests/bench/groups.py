"""The MODP primes of the Oakley groups (RFC 2409 6, RFC 3526), as ints, for
the benchmarks that hand the same parameters to other implementations: the
published values in tests/data/vectors/modp_groups.json, as the crypto
tests read them."""

import json
from pathlib import Path

_VECTORS = Path(__file__).resolve().parents[1] / "data" / "vectors" / "modp_groups.json"

MODP_PRIMES: dict[int, int] = {
    g["ike_group"]: int(g["prime_hex"], 16)
    for g in json.loads(_VECTORS.read_text())["groups"]
}

#: every MODP group uses the generator 2
GENERATOR = 2
