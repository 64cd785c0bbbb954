"""isakmpd-fuzz: mutated IKEv1 messages at a running daemon.

A peer of ours negotiates with the daemon under test (the real messages
the mutations start from, and the keys that protect the mutated phase-2
and informational messages), then sends batches of mutants and checks
between batches that the daemon lives, that its memory stays under a bound
and that it still negotiates. See :mod:`isakmpd.fuzzer.runner` and
``isakmpd-fuzz --help``. Run it only against a daemon of your own, in a
network namespace or on a test network.
"""
