"""What the child may open through the parent: the allowed paths.

As in isakmpd, files may be read under ``/etc/isakmpd/`` and read or
written under ``/var/run/``. On top of that the operator's own choices are
allowed, exactly: the files and directories named on the command line
(``-c``, ``-R``, ``--result-file``, ``-l``/``-L``, ``--keylog``) and in the
configuration (``Policy-file``, the ``[X509-certificates]`` directories and
``Private-key``, ``Pubkey-directory``, ``[KeyNote] Credential-directory``),
so that a daemon can be run from a directory of its own. The routing
tables of ``/proc/net`` (read only) serve ``Address=default`` and interface
names in IDs.

A path is allowed when it is absolute, has no ``..`` component and, with
every symbolic link resolved, is an allowed file, or lies in an allowed
directory. A file to be written may also be replaced atomically: its
temporary sibling ``<file>.<number>.tmp`` is allowed with it. Anything else
is refused, and the refusal names the path.

The configuration file, the policy file and private keys are secret: the
parent checks them with isakmpd's secrecy rule (owner root, no access for
group or others) before it hands them over.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ..conf.defaults import DFLT_PUBKEY_DIR, ISAKMPD_ROOT
from ..conf.store import Conf

#: isakmpd's areas: read only, and read-write
READ_AREA = ISAKMPD_ROOT
WRITE_AREA = "/var/run/"
#: /proc files read by interface lookups (conf/ifaddr.py)
PROC_FILES = ("/proc/net/route", "/proc/net/ipv6_route", "/proc/net/if_inet6")
X509 = "X509-certificates"
_X509_DIRS = (("CA-directory", "ca/"), ("Cert-directory", "certs/"),
              ("CRL-directory", "crls/"), ("Private-key-directory", "private/"))
_TMP = re.compile(r"\.\d+\.tmp\Z")


class Refused(Exception):
    """A path the child may not have (the message says why)."""


def _real(path: str) -> str:
    return os.path.realpath(path)


def _under(real: str, directory: str) -> bool:
    return real == directory or real.startswith(directory.rstrip("/") + "/")


@dataclass
class AllowedPaths:
    read_files: set[str] = field(default_factory=set)
    read_dirs: set[str] = field(default_factory=set)
    write_files: set[str] = field(default_factory=set)
    write_dirs: set[str] = field(default_factory=set)
    secret_files: set[str] = field(default_factory=set)
    secret_dirs: set[str] = field(default_factory=set)
    #: never, whatever else allows it (the child's own root)
    denied_dirs: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, conf: Conf, base_dir: str, *, config: str, report: str,
              result: str, pcap: str | None, keylog: str | None,
              default_pcap: str, default_keylog: str) -> AllowedPaths:
        """The allowed set of a daemon with these options and configuration
        (relative paths count from ``base_dir``, the directory it started in)."""
        def p(path: str) -> str:
            return _real(os.path.join(base_dir, path))

        a = cls()
        a.read_dirs.add(_real(READ_AREA))
        a.write_dirs.add(_real(WRITE_AREA))
        a.read_files.update(_real(f) for f in PROC_FILES)
        a.read_files.add(p(config))
        a.secret_files.add(p(config))
        a.write_files.update(p(f) for f in (report, result, pcap or default_pcap))
        a.write_dirs.add(p(keylog or default_keylog))
        policy = conf.get("General", "Policy-file")
        if policy:
            a.read_files.add(p(policy))
            a.secret_files.add(p(policy))
        for tag, default in _X509_DIRS:
            a.read_dirs.add(p(conf.get(X509, tag) or ISAKMPD_ROOT + default))
        key = p(conf.get(X509, "Private-key") or ISAKMPD_ROOT + "private/local.key")
        a.read_files.add(key)
        a.secret_files.add(key)
        a.secret_dirs.add(p(conf.get(X509, "Private-key-directory")
                            or ISAKMPD_ROOT + "private/"))
        a.read_dirs.add(p(conf.get("General", "Pubkey-directory") or DFLT_PUBKEY_DIR))
        cred = conf.get("KeyNote", "Credential-directory")
        a.read_dirs.add(p(cred or ISAKMPD_ROOT + "keynote/"))
        return a

    def check(self, path: str, write: bool, follow: bool = True) -> str:
        """The real path to use for ``path``, or Refused. With ``follow``
        false the last component is kept as it is (lstat, unlink, rename)."""
        if not path.startswith("/"):
            raise Refused(f"{path}: not an absolute path")
        if ".." in path.split("/"):
            raise Refused(f"{path}: '..' in the path")
        if follow:
            real = _real(path)
        else:
            head, tail = os.path.split(path.rstrip("/") or "/")
            real = os.path.join(_real(head or "/"), tail)
        if any(_under(real, _real(d)) for d in self.denied_dirs):
            raise Refused(f"{path}: the child's own root is not to be touched")
        if self._writable(real) or (not write and self._readable(real)):
            return real
        how = "written" if write else "read"
        shown = path if real == path else f"{path} (that is {real})"
        raise Refused(f"{shown}: not a path the daemon may have {how} "
                      "(privilege separation)")

    def _writable(self, real: str) -> bool:
        if real in self.write_files or any(_under(real, d) for d in self.write_dirs):
            return True
        # the temporary file of an atomic replacement of an allowed file
        m = _TMP.search(real)
        return m is not None and real[:m.start()] in self.write_files

    def _readable(self, real: str) -> bool:
        return real in self.read_files or any(_under(real, d) for d in self.read_dirs)

    def secret(self, real: str) -> bool:
        """Whether the secrecy rule applies to ``real`` before it is read."""
        return real in self.secret_files or any(
            _under(real, d) and real != d for d in self.secret_dirs)

    def describe(self) -> list[str]:
        """The allowed set, one line each (for the debug log)."""
        return ([f"read {f}" for f in sorted(self.read_files)]
                + [f"read {d}/..." for d in sorted(self.read_dirs)]
                + [f"write {f}" for f in sorted(self.write_files)]
                + [f"write {d}/..." for d in sorted(self.write_dirs)])
