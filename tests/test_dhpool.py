"""The DH worker pool: key pairs made ahead, shared secrets computed by
worker threads between two messages, and a Main Mode + Quick Mode whose
responder leaves both its shared secrets to the pool.

The values are checked against the cryptography package (OpenSSL) as the
oracle; the daemon tests against strongSwan run with the pool too (a daemon
without -r has one), with charon's logged keys as the oracle."""

from __future__ import annotations

import os
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import dh, ec

from enginepair import assert_keys_cross, established, gateway_pair
from isakmpd import _core
from isakmpd.errors import CryptoError
from isakmpd.exchange.dhpool import DhPool

# the RFC 2409 / 3526 primes, from the published vectors the crypto tests use
from test_crypto import MODP

# the oracle's finite-field DH is deprecated in cryptography, not gone
pytestmark = pytest.mark.filterwarnings(
    "ignore:Diffie-Hellman over finite fields")


def oracle_modp(group: int, ours: _core.DhKey) -> tuple[bytes, bytes]:
    """(peer public value, the shared secret OpenSSL computes with it)."""
    p = MODP[group]
    numbers = dh.DHParameterNumbers(p, 2)
    peer = numbers.parameters().generate_private_key()
    size = (p.bit_length() + 7) // 8
    pub = peer.public_key().public_numbers().y.to_bytes(size, "big")
    mine = dh.DHPublicNumbers(int.from_bytes(ours.public, "big"), numbers).public_key()
    return pub, peer.exchange(mine).rjust(size, b"\0")


def oracle_ecp(ours: _core.DhKey) -> tuple[bytes, bytes]:
    peer = ec.generate_private_key(ec.SECP256R1())
    n = peer.public_key().public_numbers()
    pub = n.x.to_bytes(32, "big") + n.y.to_bytes(32, "big")
    mine = ec.EllipticCurvePublicNumbers(int.from_bytes(ours.public[:32], "big"),
                                         int.from_bytes(ours.public[32:], "big"),
                                         ec.SECP256R1()).public_key()
    return pub, peer.exchange(ec.ECDH(), mine)


def wait_ready(job: _core.DhJob, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not job.ready:
        assert time.monotonic() < end, "the worker never computed it"
        time.sleep(0.001)


@pytest.fixture
def pool():
    p = DhPool(os.urandom, workers=2, depth=2)
    yield p
    p.close()


@pytest.mark.parametrize("group", [2, 14, 19])
def test_a_worker_computes_what_openssl_does(pool: DhPool, group: int) -> None:
    ours = _core.DhKey(group, os.urandom(_core.random_bytes_needed(group, None)))
    pub, want = oracle_ecp(ours) if group == 19 else oracle_modp(group, ours)
    ours.check_peer(pub)
    job = pool.shared(ours, pub)
    wait_ready(job)
    assert job.by_worker
    assert job.result() == want
    assert job.result() == want  # asked again: the same value


def test_asked_before_a_worker_takes_it_the_asker_computes_it() -> None:
    ours = _core.DhKey(14, os.urandom(_core.random_bytes_needed(14, None)))
    pub, want = oracle_modp(14, ours)
    job = _core.DhJob.shared(ours, pub)  # in no queue: nobody else will compute it
    assert not job.ready
    assert job.result() == want
    assert job.ready and not job.by_worker


def test_a_key_pair_job_makes_the_pair_dhkey_would() -> None:
    random = os.urandom(_core.random_bytes_needed(19, None))
    job = _core.DhJob.key_pair(19, random, None)
    pair = job.result()
    assert isinstance(pair, _core.DhKey)
    assert pair.public == _core.DhKey(19, random).public
    with pytest.raises(CryptoError):
        _core.DhJob.key_pair(99, random).result()


def test_a_bad_peer_value_is_refused_by_the_check_and_by_the_worker(pool) -> None:
    ours = _core.DhKey(14, os.urandom(_core.random_bytes_needed(14, None)))
    for bad in (b"\x01".rjust(256, b"\0"), b"\xff" * 256, b"\x02" * 255):
        with pytest.raises(CryptoError):
            ours.check_peer(bad)
        job = pool.shared(ours, bad)  # unchecked: the worker's error comes back
        with pytest.raises(CryptoError) as e:
            job.result()
        assert e.value.notify == 17  # INVALID-KEY-INFORMATION


def test_shared_secrets_go_before_key_pairs(pool: DhPool) -> None:
    """A burst of key-pair refills does not hold up a shared secret: the
    workers take shared secrets first."""
    ours = _core.DhKey(14, os.urandom(_core.random_bytes_needed(14, None)))
    pub, want = oracle_modp(14, ours)
    big = DhPool(os.urandom, workers=1, depth=64)
    try:
        # 64 key pairs queued, with full-length exponents: about 0.1 s of work
        big.take(14, 0)
        job = big.shared(ours, pub)
        end = time.monotonic() + 30
        while not job.ready:  # no sleep: seen done at once
            assert time.monotonic() < end
        made = big.ready(14, 0)
        assert job.by_worker and job.result() == want
        # most of the key pairs were still to be made behind it
        assert made < 32, made
    finally:
        big.close()


def test_key_pairs_are_made_ahead_and_used_once(pool: DhPool) -> None:
    assert pool.take(14, 224) is None  # none yet: the caller makes its own
    end = time.monotonic() + 30
    while pool.ready(14, 224) < 2:
        assert time.monotonic() < end
        time.sleep(0.005)
    a, b = pool.take(14, 224), pool.take(14, 224)
    assert a is not None and b is not None and a.public != b.public
    assert (pool.hits, pool.misses) == (2, 1)


def test_after_close_a_shared_secret_is_computed_by_its_asker() -> None:
    p = DhPool(os.urandom, workers=1)
    p.close()
    ours = _core.DhKey(14, os.urandom(_core.random_bytes_needed(14, None)))
    pub, want = oracle_modp(14, ours)
    job = p.shared(ours, pub)
    assert job.result() == want and not job.by_worker


def test_main_and_quick_mode_with_the_responders_secrets_in_workers() -> None:
    """Both the Main Mode and the PFS shared secret of the responder go to
    its pool; both ends derive the same keys."""
    pool = DhPool(os.urandom, workers=1)
    jobs: list[_core.DhJob] = []
    real = pool.shared

    def shared(dh_key: _core.DhKey, peer: bytes) -> _core.DhJob:
        job = real(dh_key, peer)
        jobs.append(job)
        return job

    pool.shared = shared  # type: ignore[method-assign]
    try:
        net, w, e = gateway_pair(start=False)
        e.engine.dh_pool = pool
        net.start()
        net.run()
        ws, es = established(net)
        assert_keys_cross(ws, es)
        [wsa], [esa] = w.isakmp_sas(), e.isakmp_sas()
        assert wsa.keys is not None and esa.keys is not None
        assert wsa.keys.export() == esa.keys.export()
        assert len(jobs) == 2 and all(j.ready for j in jobs)
        # the exchanges that finished keep no DH state while they linger
        for ex in esa.exchanges.values():
            assert ex.dh is None and ex.gxy is None
    finally:
        pool.close()


def test_a_dropped_exchange_cancels_its_shared_secret() -> None:
    """A responder whose half-open Main Mode goes before message 5 leaves no
    shared secret to compute."""
    pool = DhPool(os.urandom, workers=1)
    try:
        pool.close()  # no thread takes the job: it waits for its asker
        net, w, e = gateway_pair(start=False)
        e.engine.dh_pool = pool
        net.drop_all(lambda p: p.sender == "west" and p.encrypted)
        net.start()
        net.run()
        [esa] = e.isakmp_sas()
        ex = esa.exchanges[0]
        job = ex.gxy
        assert isinstance(job, _core.DhJob) and not job.ready
        e.engine.delete_isakmp(esa, net.now, send=False, why="test")
        assert job.ready  # cancelled, not computed
        with pytest.raises(CryptoError):
            job.result()
    finally:
        pool.close()
