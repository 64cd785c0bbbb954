"""The ``isakmpd`` command: the options of isakmpd(8)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field

from . import __version__, log

DEFAULT_CONFIG = "/etc/isakmpd/isakmpd.conf"
DEFAULT_FIFO = "/var/run/isakmpd.fifo"
DEFAULT_PIDFILE = "/var/run/isakmpd.pid"
DEFAULT_REPORT = "/var/run/isakmpd.report"
DEFAULT_RESULT = "/var/run/isakmpd.result"
DEFAULT_PCAP = "/var/run/isakmpd.pcap"
DEFAULT_KEYLOG = "/var/run/isakmpd.wireshark"

USAGE = """\
usage: isakmpd [-46adKLnSTv] [-c config-file] [-D class=level] [-f fifo]
               [-i pid-file] [-l packetlog-file] [-N udpencap-port]
               [-p listen-port] [-P local-port] [-r seed] [-R report-file]
               [--result-file file] [--keylog dir] [--no-privsep]
               [--privsep-user user]
       isakmpd --print-systemd-unit"""

DESCRIPTION = """\
isakmpd establishes security associations for IPsec with IKEv1 (ISAKMP/Oakley,
RFC 2407-2409, NAT-T RFC 3947) peers, and installs them in the kernel.

  -4, -6           use only IPv4 / only IPv6 (default: both)
  -a               do not set up flows (policies); only SAs
  -c config-file   configuration (default /etc/isakmpd/isakmpd.conf; must be
                   readable only by its owner)
  -d               stay in the foreground and log to stderr (-dd: same)
  -D class=level   debug level 0-99 for class 0-10 or A (all); repeatable.
                   Classes: 0 Misc, 1 Transport, 2 Message, 3 Crypto (3=99 logs
                   key material), 4 Timer, 5 Sysdep, 6 SA, 7 Exchange,
                   8 Negotiation, 9 Policy, 10 FIFO
  -f fifo          the FIFO for commands (default /var/run/isakmpd.fifo);
                   '-' reads commands from stdin
  -i pid-file      where to write the PID (default /var/run/isakmpd.pid)
  -K               no KeyNote policy check
  -L               capture IKE messages, decrypted, to /var/run/isakmpd.pcap
  -l file          capture IKE messages, decrypted, to file (pcap, appended to)
  -n               do not touch the kernel's SAs and flows
  -N port          NAT-T port (default 4500)
  -p listen-port   port to listen on (default 500)
  -P local-port    port initiated exchanges are sent from
  -r seed          make every random value deterministic (for tests)
  -R report-file   where SIGUSR1 writes the report (default /var/run/isakmpd.report)
  -S               start passive (high availability): no negotiation is started
                   or answered, nothing is sent; FIFO 'M active' activates
  -T               disable NAT traversal
  -v               verbose logging (SAs set up and torn down are always logged)
  --result-file F  where the FIFO 'S' command writes (default /var/run/isakmpd.result)
  --keylog dir     export IKE and ESP keys to dir for Wireshark (files
                   ikev1_decryption_table, esp_sa, preferences, mode 0600):
                   WIRESHARK_CONFIG_DIR=dir tshark -r capture.pcap decrypts.
                   Secret keys go to disk: for debugging only
  --no-privsep     run as one process (for debugging): without it a daemon
                   started as root splits into a privileged parent (sockets,
                   files, kernel) and a child that handles all network input,
                   chrooted to an empty directory as an unprivileged user
  --privsep-user U the child's user (default _isakmpd if it exists, else nobody)
  --print-systemd-unit  print the systemd unit shipped with isakmpd, then exit
  -h, --help       this text;  --version  the version

FIFO commands: c name; C set|add|rmv [section]:tag=value, C set ... force,
C rm|get [section]:tag, C rms [section]; d cookies [msgid|-]; D class level,
D A level, D T; k on[=dir], k off (key export); M active|passive;
p on[=file], p off (packet capture); Q; r; R; S; t [main|quick] name|address; T."""


@dataclass
class Options:
    ipv4: bool = True
    ipv6: bool = True
    no_flows: bool = False
    config: str = DEFAULT_CONFIG
    debug: int = 0
    debug_levels: list[tuple[int | str, int]] = field(default_factory=list)
    fifo: str = DEFAULT_FIFO
    pidfile: str = DEFAULT_PIDFILE
    no_keynote: bool = False
    pcap: str | None = None
    no_kernel: bool = False
    natt_port: int = 4500
    listen_port: int = 500
    local_port: int | None = None
    seed: int | None = None
    report: str = DEFAULT_REPORT
    result: str = DEFAULT_RESULT
    passive: bool = False
    no_natt: bool = False
    verbose: bool = False
    keylog: str | None = None
    no_privsep: bool = False
    privsep_user: str | None = None


class _Parser(argparse.ArgumentParser):
    def format_help(self) -> str:
        return f"{USAGE}\n\n{DESCRIPTION}\n"

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"isakmpd: {message}\n{USAGE}\n")
        raise SystemExit(2)


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port {text!r}") from None
    if not 0 < v < 65536:
        raise argparse.ArgumentTypeError(f"port {v} out of range 1-65535")
    return v


def _debug_spec(text: str) -> tuple[int | str, int]:
    try:
        return log.parse_spec(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _seed(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad seed {text!r}") from None


def parse_args(argv: list[str]) -> Options:
    p = _Parser(prog="isakmpd", usage=USAGE.removeprefix("usage: "),
                description=DESCRIPTION, add_help=False,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-4", dest="only4", action="store_true")
    p.add_argument("-6", dest="only6", action="store_true")
    p.add_argument("-a", dest="no_flows", action="store_true")
    p.add_argument("-c", dest="config", default=DEFAULT_CONFIG)
    p.add_argument("-d", dest="debug", action="count", default=0)
    p.add_argument("-D", dest="debug_levels", action="append", type=_debug_spec,
                   default=[])
    p.add_argument("-f", dest="fifo", default=DEFAULT_FIFO)
    p.add_argument("-i", dest="pidfile", default=DEFAULT_PIDFILE)
    p.add_argument("-K", dest="no_keynote", action="store_true")
    p.add_argument("-L", dest="pcap_default", action="store_true")
    p.add_argument("-l", dest="pcap")
    p.add_argument("-n", dest="no_kernel", action="store_true")
    p.add_argument("-N", dest="natt_port", type=_port, default=4500)
    p.add_argument("-p", dest="listen_port", type=_port, default=500)
    p.add_argument("-P", dest="local_port", type=_port)
    p.add_argument("-r", dest="seed", type=_seed)
    p.add_argument("-R", dest="report", default=DEFAULT_REPORT)
    p.add_argument("-S", dest="passive", action="store_true")
    p.add_argument("-T", dest="no_natt", action="store_true")
    p.add_argument("-v", dest="verbose", action="store_true")
    p.add_argument("--result-file", dest="result", default=DEFAULT_RESULT)
    p.add_argument("--keylog", dest="keylog")
    p.add_argument("--no-privsep", dest="no_privsep", action="store_true")
    p.add_argument("--privsep-user", dest="privsep_user")
    p.add_argument("--print-systemd-unit", dest="print_unit", action="store_true")
    p.add_argument("-h", "--help", action="help")
    p.add_argument("--version", action="version", version=f"isakmpd {__version__}")
    a = p.parse_args(argv)
    if a.print_unit:
        sys.stdout.write(systemd_unit())
        raise SystemExit(0)
    if a.only4 and a.only6:
        p.error("-4 and -6 exclude each other")
    if not a.no_natt and a.natt_port in (a.listen_port, a.local_port):
        p.error(f"the NAT-T port (-N) {a.natt_port} is also the "
                f"{'listen (-p)' if a.natt_port == a.listen_port else 'local (-P)'} port")
    pcap = a.pcap if a.pcap else (DEFAULT_PCAP if a.pcap_default else None)
    # absolute: the daemon changes to / when it detaches
    pcap = os.path.abspath(pcap) if pcap else None
    keylog = os.path.abspath(a.keylog) if a.keylog else None
    fifo = a.fifo if a.fifo == "-" else os.path.abspath(a.fifo)
    return Options(ipv4=not a.only6, ipv6=not a.only4, no_flows=a.no_flows,
                   config=os.path.abspath(a.config), debug=a.debug,
                   debug_levels=a.debug_levels, fifo=fifo,
                   pidfile=os.path.abspath(a.pidfile), no_keynote=a.no_keynote,
                   pcap=pcap, no_kernel=a.no_kernel, natt_port=a.natt_port,
                   listen_port=a.listen_port, local_port=a.local_port, seed=a.seed,
                   report=os.path.abspath(a.report),
                   result=os.path.abspath(a.result), passive=a.passive,
                   no_natt=a.no_natt, verbose=a.verbose, keylog=keylog,
                   no_privsep=a.no_privsep, privsep_user=a.privsep_user)


def systemd_unit() -> str:
    """The systemd unit shipped in the package (isakmpd/data/isakmpd.service)."""
    from importlib import resources

    return (resources.files(__package__) / "data" / "isakmpd.service").read_text(
        encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    from .daemon import run

    return run(opts)


if __name__ == "__main__":
    raise SystemExit(main())
