"""``isakmpd-bench``: setups per second of IKEv1 responders, side by side.

    isakmpd-bench run [-n COUNT] [-w WINDOW] [--profile modp2048] [--repeat 3]
    isakmpd-bench mesh [-n COUNT]          # in memory: CPU per setup, each side
    isakmpd-bench scale [-n COUNT ...]     # in memory: bytes per SA, idle timers

``run`` makes two network namespaces (initiator, responder) and, for every
initiator and responder asked for (``--initiators ours,load-tester``,
``--responders ours,strongswan``), starts the responder, sets up COUNT Main
Mode + Quick Mode SAs (PSK; by default aes128-sha1-modp2048 and ESP
aes128-sha1 with PFS modp2048) and reports setups per second, latency
percentiles (our initiator), the responder's CPU time per setup (and for
ours the share its DH threads took) and peak RSS, the machine's load, and
the ratios ours / strongSwan. The responders
change no kernel state: our daemon runs with -n, charon with the
load-tester's fake kernel. ``--cpus 0`` pins the responder to one CPU;
``--scaling`` runs our responder on one CPU and then on all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import confgen, netns, procstat
from .netns import BenchError, BenchNet


@dataclass
class Trial:
    initiator: str
    responder: str
    cpus: str
    requested: int
    setups: int = 0
    rate: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0
    responder_cpu: float = 0.0
    responder_peak_rss: int = 0
    #: resident memory the responder grew by, per SA set up
    responder_rss_per_setup: float = 0.0
    #: the responder's CPU share over a few idle seconds with every SA up
    responder_idle_cpu: float = 0.0
    initiator_cpu_share: float = 0.0
    #: share of our responder's CPU time spent in its DH threads
    responder_dh_threads: float = 0.0
    #: resident memory per SA (over the RSS before the trial) --settle
    #: seconds after the last setup
    responder_rss_per_sa_settled: float = 0.0
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    error: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def cpu_per_setup_ms(self) -> float:
        return 1000 * self.responder_cpu / self.setups if self.setups else 0.0


def _our_initiator(net: BenchNet, a: argparse.Namespace) -> dict:
    argv = ["ip", "netns", "exec", net.ini]
    if a.initiator_cpus:
        argv += ["taskset", "-c", a.initiator_cpus]
    argv += [sys.executable, "-m", "isakmpd.bench.udp", "--responder",
             netns.RESPONDER_ADDR, "--count", str(a.count), "--window", str(a.window),
             "--profile", a.profile, "--max-seconds", str(a.max_seconds)]
    p = subprocess.run(argv, capture_output=True, text=True,
                       timeout=a.max_seconds + 60)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise BenchError(f"initiator failed: {p.stderr[-2000:]}") from None


def _load_tester(net: BenchNet, work: Path, a: argparse.Namespace) -> dict:
    from .strongswan import Charon, LoadTest

    prof = confgen.PROFILES[a.profile]
    threads = 2
    lt = LoadTest(psk=confgen.PSK, ike=prof.ike, esp=prof.esp, initiators=threads,
                  iterations=(a.count + threads - 1) // threads,
                  responder=netns.RESPONDER_ADDR, init_limit=a.window,
                  addrs="ikbveth0 = 198.18.0.0/16")
    c = Charon(net.ini, work, "load-tester", lt)
    t0 = time.time()
    try:
        c.start(a.initiator_cpus)
        deadline = time.monotonic() + a.max_seconds
        n = 0
        while time.monotonic() < deadline:
            time.sleep(0.5)
            n = len(c.established_times())
            if n >= a.count:
                break
        cpu = c.cpu()
    finally:
        c.stop()
    est = sorted(c.established_times())
    starts = c.initiation_times()
    first = min(starts) if starts else t0
    span = (est[-1] - first) if est else 0.0
    wall = time.time() - t0
    c.cleanup()
    return {"setups": len(est), "rate": len(est) / span if span > 0 else 0.0,
            "span": span, "initiator_cpu_share": cpu / wall if wall else 0.0,
            "p50": 0.0, "p90": 0.0, "p99": 0.0}


def _responder(kind: str, net: BenchNet, work: Path, a: argparse.Namespace,
               dh_pool: bool = True):  # type: ignore[no-untyped-def]
    prof = confgen.PROFILES[a.profile]
    if kind == "ours":
        from .responders import OurDaemon

        return OurDaemon(net.rsp, work, prof, netns.RESPONDER_ADDR, "198.19.0.0/16",
                         netns.SOURCES_NET, dh_pool=dh_pool)
    from .strongswan import Charon, LoadTest

    return Charon(net.rsp, work, "responder",
                  LoadTest(psk=confgen.PSK, ike=prof.ike, esp=prof.esp))


def trial(net: BenchNet, work: Path, initiator: str, responder: str, cpus: str,
          a: argparse.Namespace) -> Trial:
    t = Trial(initiator, responder, cpus or "all", a.count)
    r = _responder(responder, net, work, a, dh_pool=not a.no_dh_pool)
    try:
        r.start(cpus or None)
        time.sleep(0.5)
        cpu0 = r.cpu()
        threads0 = procstat.thread_cpu(r.pid)
        rss0 = r.rss()
        out = (_our_initiator(net, a) if initiator == "ours"
               else _load_tester(net, work, a))
        time.sleep(0.5)
        t.responder_cpu = r.cpu() - cpu0
        if responder == "ours":
            # how much of its CPU time the DH threads took (off the event loop)
            threads = procstat.thread_cpu(r.pid)
            dh = sum(v - threads0.get(k, 0.0) for k, v in threads.items()
                     if k.startswith("isakmpd-dh"))
            t.responder_dh_threads = dh / t.responder_cpu if t.responder_cpu else 0.0
        t.responder_peak_rss = r.peak_rss()
        if out["setups"]:
            t.responder_rss_per_setup = (r.rss() - rss0) / int(out["setups"])
        idle0 = r.cpu()
        time.sleep(a.idle_seconds)
        t.responder_idle_cpu = (r.cpu() - idle0) / a.idle_seconds
        if a.settle and out["setups"]:
            # the finished exchanges gone (Exchange-max-time): what the SAs
            # themselves hold
            time.sleep(a.settle)
            t.responder_rss_per_sa_settled = (r.rss() - rss0) / int(out["setups"])
        t.setups = int(out["setups"])
        t.rate = float(out["rate"])
        t.p50, t.p90, t.p99 = out["p50"], out["p90"], out["p99"]
        t.initiator_cpu_share = float(out.get("initiator_cpu_share", 0.0))
        t.extra = {k: v for k, v in out.items()
                   if k in ("sent", "received", "send_errors", "dropped", "span")}
    except (BenchError, subprocess.TimeoutExpired, OSError) as e:
        t.error = str(e)
    finally:
        r.stop()
        t.load = os.getloadavg()
        r.cleanup()
    return t


def _print_trials(trials: list[Trial]) -> None:
    print(f"{'initiator':12s} {'responder':10s} {'cpus':5s} {'setups':>7s} "
          f"{'per s':>8s} {'p50 ms':>7s} {'p90 ms':>7s} {'p99 ms':>7s} "
          f"{'rsp ms/SA':>9s} {'rsp RSS MiB':>11s} {'KiB/SA':>6s} {'idle':>5s} "
          f"{'ini CPU':>7s} {'DH thr':>6s}  load")
    for t in trials:
        if t.error:
            print(f"{t.initiator:12s} {t.responder:10s} {t.cpus:5s} ERROR {t.error}")
            continue
        # only our responder has DH threads to measure
        dh_share = f"{t.responder_dh_threads:.0%}" if t.responder == "ours" else "-"
        print(f"{t.initiator:12s} {t.responder:10s} {t.cpus:5s} {t.setups:7d} "
              f"{t.rate:8.1f} {t.p50 * 1e3:7.1f} {t.p90 * 1e3:7.1f} "
              f"{t.p99 * 1e3:7.1f} {t.cpu_per_setup_ms:9.2f} "
              f"{t.responder_peak_rss / 2**20:11.1f} "
              f"{t.responder_rss_per_setup / 1024:6.1f} {t.responder_idle_cpu:5.1%} "
              f"{t.initiator_cpu_share:7.0%} {dh_share:>6s}  "
              f"{t.load[0]:.2f}")


def _best(trials: list[Trial], initiator: str, responder: str, cpus: str) -> float:
    rates = [t.rate for t in trials if t.initiator == initiator
             and t.responder == responder and t.cpus == cpus and not t.error]
    return max(rates) if rates else 0.0


def cmd_run(a: argparse.Namespace) -> int:
    from .strongswan import find_charon

    initiators = [x for x in a.initiators.split(",") if x]
    responders = [x for x in a.responders.split(",") if x]
    if find_charon() is None and ("strongswan" in responders
                                  or "load-tester" in initiators):
        print("isakmpd-bench: no charon with the load-tester plugin (run "
              "tools/bench/build-strongswan.sh); strongSwan left out", file=sys.stderr)
        responders = [r for r in responders if r != "strongswan"]
        initiators = [i for i in initiators if i != "load-tester"]
    load = os.getloadavg()
    print(f"isakmpd-bench: {a.count} MM+QM per trial, window {a.window}, "
          f"{confgen.PROFILES[a.profile].label}, PSK; "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}, "
          f"{os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
          flush=True)
    cpu_sets = ["0", ""] if a.scaling else [a.cpus]
    trials: list[Trial] = []
    with (tempfile.TemporaryDirectory(prefix="isakmpd-bench-") as tmp,
          BenchNet(prefix=a.netns_prefix) as net):
        work = Path(tmp)
        net.add_sources(confgen.source_addresses(a.count))
        for _ in range(a.repeat):
            for ini in initiators:
                for rsp in responders:
                    for cpus in (cpu_sets if rsp == "ours" else [a.cpus]):
                        t = trial(net, work, ini, rsp, cpus, a)
                        trials.append(t)
                        _print_trials([t])
                        sys.stdout.flush()
    print()
    print("all trials:")
    _print_trials(trials)
    for t in trials:
        if t.responder_rss_per_sa_settled:
            print(f"  {t.responder} ({t.initiator} initiator, cpus {t.cpus}): "
                  f"{t.responder_rss_per_sa_settled / 1024:.1f} KiB resident per "
                  f"MM + QM {a.settle:g} s after the last one")
    print()
    ratios = []
    for ini in initiators:
        ours = _best(trials, ini, "ours", a.cpus or "all")
        sw = _best(trials, ini, "strongswan", a.cpus or "all")
        if ours and sw:
            ratios.append(f"  initiator {ini:12s}: ours {ours:7.1f}/s, strongSwan "
                          f"{sw:7.1f}/s, ratio {ours / sw:.2f}")
    if ratios:
        print("ratios (best of the repeats, same run): ours / strongSwan setups "
              "per second")
        print("\n".join(ratios))
    if a.scaling:
        for ini in initiators:
            one = _best(trials, ini, "ours", "0")
            two = _best(trials, ini, "ours", "all")
            if one and two:
                print(f"  our responder, initiator {ini}: 1 CPU {one:.1f}/s, "
                      f"all CPUs {two:.1f}/s, ratio {two / one:.2f}")
    load = os.getloadavg()
    print(f"load at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps([asdict(t) for t in trials], indent=1))
    return 0 if all(not t.error for t in trials) else 1


def cmd_mesh(a: argparse.Namespace) -> int:
    from .mesh import Mesh

    prof = confgen.PROFILES[a.profile]
    m = Mesh(a.count, prof)
    r = m.run(window=a.window)
    print(f"in memory: {r.setups} MM+QM ({prof.label}) in {r.wall:.2f} s; CPU per "
          f"setup: initiator {r.per_setup_initiator * 1e3:.2f} ms, responder "
          f"{r.per_setup_responder * 1e3:.2f} ms; load {os.getloadavg()[0]:.2f}")
    return 0


def cmd_scale(a: argparse.Namespace) -> int:
    from . import scale

    prof = confgen.PROFILES[a.profile]
    for n in a.count:
        r = scale.run(n, prof, window=a.window, trace=not a.no_tracemalloc)
        print(scale.report(r), flush=True)
        if a.json:
            with open(a.json, "a") as f:
                f.write(json.dumps(asdict(r)) + "\n")
    return 0


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="isakmpd-bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd")
    r = sub.add_parser("run", help="responders side by side over UDP in namespaces")
    r.add_argument("-n", "--count", type=int, default=1000,
                   help="MM+QM setups per trial (each from its own address)")
    r.add_argument("-w", "--window", type=int, default=64,
                   help="negotiations under way at once")
    r.add_argument("--profile", default="modp2048", choices=sorted(confgen.PROFILES))
    r.add_argument("--initiators", default="ours,load-tester",
                   help="ours and/or load-tester (strongSwan's)")
    r.add_argument("--responders", default="ours,strongswan",
                   help="ours and/or strongswan")
    r.add_argument("--repeat", type=int, default=1)
    r.add_argument("--cpus", default="", help="taskset CPU list for the responder")
    r.add_argument("--initiator-cpus", default="",
                   help="taskset CPU list for the initiator")
    r.add_argument("--scaling", action="store_true",
                   help="our responder on CPU 0 only, then on all CPUs")
    r.add_argument("--no-dh-pool", action="store_true",
                   help="our responder does all its DH work on its event loop")
    r.add_argument("--max-seconds", type=float, default=180.0)
    r.add_argument("--idle-seconds", type=float, default=3.0,
                   help="how long the responder's idle CPU is watched after a trial")
    r.add_argument("--settle", type=float, default=0.0,
                   help="seconds to wait after a trial (past Exchange-max-time) "
                        "before the responder's memory per SA is taken again")
    r.add_argument("--json", help="write the trials to this file")
    r.add_argument("--netns-prefix", default="ikb",
                   help="first letters of the two namespaces' names (default ikb)")
    m = sub.add_parser("mesh", help="two engines in memory: CPU per setup")
    m.add_argument("-n", "--count", type=int, default=500)
    m.add_argument("-w", "--window", type=int, default=64)
    m.add_argument("--profile", default="modp2048", choices=sorted(confgen.PROFILES))
    s = sub.add_parser("scale", help="in memory: memory per SA, idle timers")
    s.add_argument("-n", "--count", type=int, nargs="+", default=[10000],
                   help="SAs of each kind (one run per number)")
    s.add_argument("-w", "--window", type=int, default=64)
    s.add_argument("--profile", default="modp2048", choices=sorted(confgen.PROFILES))
    s.add_argument("--no-tracemalloc", action="store_true",
                   help="resident memory only (faster)")
    s.add_argument("--json", help="append the results to this file")
    a = p.parse_args(argv)
    if a.cmd is None:
        p.print_help()
        return 2
    # SIGTERM and SIGHUP unwind like Ctrl-C: the responders are stopped and
    # the namespaces deleted on the way out
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)
    try:
        return {"run": cmd_run, "mesh": cmd_mesh, "scale": cmd_scale}[a.cmd](a)
    except BenchError as e:
        print(f"isakmpd-bench: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
