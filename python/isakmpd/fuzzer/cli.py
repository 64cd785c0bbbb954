"""The ``isakmpd-fuzz`` command (``python -m isakmpd.fuzzer``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .peer import Peer, peer_conf
from .runner import Fuzzer, first_messages_from_pcap


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="isakmpd-fuzz",
        description="Send mutated IKEv1 messages (phase 1, phase 2, informational) "
        "at a running IKEv1 daemon, in batches, checking after each that it is "
        "alive, that its memory is bounded and that it still negotiates. Only "
        "for daemons of your own on a test network.")
    p.add_argument("--target", required=True, help="the daemon's address (port 500)")
    p.add_argument("--source", required=True,
                   help="our address (port 500 on it must be free)")
    p.add_argument("--psk", required=True, help="pre-shared key the target has for us")
    p.add_argument("--local-net", default="10.3.0.0/24",
                   help="our Quick Mode ID (default %(default)s)")
    p.add_argument("--remote-net", default="10.2.0.0/24",
                   help="the target's Quick Mode ID (default %(default)s)")
    p.add_argument("--transform", default="AES-128-SHA-GRP14")
    p.add_argument("--suite", default="QM-ESP-AES-128-SHA-PFS-GRP14-SUITE")
    p.add_argument("-n", "--count", type=int, default=2000,
                   help="mutated messages in all (default %(default)s)")
    p.add_argument("-b", "--batch", type=int, default=500,
                   help="messages between checks (default %(default)s)")
    p.add_argument("--rate", type=float, default=1500.0,
                   help="messages a second at most (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the mutations")
    p.add_argument("--pid", type=int, help="the daemon's process, to watch")
    p.add_argument("--max-rss-mb", type=int, default=0,
                   help="fail if the daemon (with its children) grows past this")
    p.add_argument("--pcap", action="append", default=[],
                   help="also mutate the first messages of this capture")
    p.add_argument("--json", help="write the results to this file")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print what the first mutations of each batch were")
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    logging.getLogger("isakmpd").setLevel(logging.CRITICAL)  # our peer is quiet
    if a.count < 1 or a.batch < 1 or a.rate <= 0:
        print("isakmpd-fuzz: --count, --batch and --rate must be positive",
              file=sys.stderr)
        return 2
    extra = []
    for path in a.pcap:
        try:
            extra += first_messages_from_pcap(path)
        except OSError as e:
            print(f"isakmpd-fuzz: {path}: {e.strerror}", file=sys.stderr)
            return 2
    conf = peer_conf(a.source, a.target, a.psk, a.local_net, a.remote_net,
                     a.transform, a.suite)
    try:
        peer = Peer(a.source, a.target, conf, seed=a.seed)
    except OSError as e:
        print(f"isakmpd-fuzz: cannot use {a.source} port 500: {e.strerror}",
              file=sys.stderr)
        return 2
    fz = Fuzzer(peer, a.pid, seed=a.seed, rate=a.rate, extra_seeds=extra)
    failed = ""
    left = a.count
    try:
        while left > 0 and not failed:
            res = fz.batch(min(a.batch, left))
            left -= sum(res.sent.values())
            print(res.line(), flush=True)
            if a.verbose:
                for w in res.what[:10]:
                    print("   ", w)
            if not res.alive:
                failed = "the daemon died"
            elif not res.negotiated:
                failed = "the daemon no longer negotiates"
            elif a.max_rss_mb and res.rss_kb > a.max_rss_mb * 1024:
                failed = f"the daemon grew to {res.rss_kb // 1024} MB"
            if not res.sent:
                break
        if not failed:
            end = fz.batch(0)  # the last check: one more negotiation
            print(end.line(), flush=True)
            if not end.ok:
                failed = "the daemon no longer negotiates after the last batch"
    finally:
        peer.close()
    total = sum(sum(r.sent.values()) for r in fz.results)
    print(f"{total} mutated messages in {len(fz.results)} batches: "
          f"{failed or 'the daemon lived, stayed bounded and negotiated'}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"ok": not failed, "failure": failed, "messages": total,
                       "batches": [{"sent": dict(r.sent), "alive": r.alive,
                                    "rss_kb": r.rss_kb, "negotiated": r.negotiated,
                                    "negotiation_s": round(r.negotiation_s, 3),
                                    "examples": r.what[:20]}
                                   for r in fz.results]}, f, indent=1)
    return 1 if failed else 0
