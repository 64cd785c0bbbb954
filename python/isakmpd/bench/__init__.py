"""Benchmarks of the daemon: ``isakmpd-bench``, a load generator that sets
up Main Mode + Quick Mode SAs from many source addresses against a responder
in another network namespace (our daemon or strongSwan's charon, in the same
run), and in-memory measurements of setup cost and of memory per SA.

Modules: :mod:`.confgen` (configurations), :mod:`.mesh` (engines wired in
memory), :mod:`.udp` (the initiator over real sockets), :mod:`.netns`,
:mod:`.procstat` (CPU time and peak RSS of a process tree),
:mod:`.responders` (our daemon, charon), :mod:`.strongswan` (charon's
load-tester), :mod:`.cli`.
"""
