"""The policy the daemon checks every phase-2 SA against (isakmpd.policy(5)).

:class:`Policy` holds the KeyNote assertions of ``[General] Policy-file``
(default /etc/isakmpd/isakmpd.policy), read after the same secrecy check as
the configuration. :meth:`Policy.allowed` asks them whether a proposal may
become an SA: the action attributes of :mod:`.ipsec` describe it, the
peer's principals request it, pseudo-credentials from the peer's
certificate path and the signed KeyNote credentials kept for the peer's ID
in ``[KeyNote] Credential-directory`` (``<dir>/<ID>/credentials``) may
carry the trust from POLICY to the peer. The answer names the assertions
that decided.

The check is off with ``-K`` or ``[General] Use-Keynote=no``. Where
OpenBSD's isakmpd refuses to start without a policy file, this daemon says
so in one warning and runs as with ``-K``. A policy file that does not
parse or fails the secrecy check is a :class:`ConfigError` (file, line,
reason): fatal at start-up; :meth:`Policy.reload` keeps the running policy.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import log
from ..conf import model
from ..conf.parser import read_secret_file
from ..constants import IdType
from ..errors import ConfigError
from ..log import Cls
from . import ipsec
from .ipsec import PeerProof, Phase2Proposal, PolicyInputError
from .keynote import Assertion, KeyNoteError, Result, Session, read_credentials

if TYPE_CHECKING:
    from ..conf.store import Conf
    from ..sa import IsakmpSA

_log = log.logger(Cls.POLICY)
DFLT_CREDENTIAL_DIR = "/etc/isakmpd/keynote/"
#: a credentials file larger than this is not read
MAX_CREDENTIALS = 1 << 20


class Policy:
    """The KeyNote policy, or its absence (``active`` False, ``off_reason``
    saying why). Build with :meth:`load`, :meth:`from_text` or :meth:`off`."""

    def __init__(self, session: Session | None, path: str = "",
                 credential_dir: str | None = None, off_reason: str = "",
                 no_keynote: bool = False, base_dir: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.session = session
        self.path = path
        self.credential_dir = credential_dir
        self.off_reason = off_reason
        self.no_keynote = no_keynote
        self.base_dir = base_dir or os.getcwd()
        #: wall-clock time for GMTTimeOfDay/LocalTimeOfDay
        self.clock = clock

    # ------------------------------------------------------------ building
    @classmethod
    def off(cls, why: str, no_keynote: bool = False,
            base_dir: str | None = None) -> Policy:
        return cls(None, off_reason=why, no_keynote=no_keynote, base_dir=base_dir)

    @classmethod
    def from_text(cls, text: str | bytes, filename: str = "<policy>",
                  credential_dir: str | None = None) -> Policy:
        """A policy from KeyNote text (KeyNoteError if it does not parse)."""
        session = Session()
        session.add_policy(text, filename)
        return cls(session, filename, credential_dir)

    @classmethod
    def load(cls, conf: Conf, no_keynote: bool = False,
             base_dir: str | None = None) -> Policy:
        """The policy ``conf`` names; ConfigError (file, line, reason) if the
        file exists but cannot be used. A missing file turns the check off
        with one warning."""
        base = base_dir or os.getcwd()
        if no_keynote:
            log.debug(Cls.POLICY, 10, "no policy check (-K)")
            return cls.off("-K", True, base)
        general = model.general(conf)
        if not general.use_keynote:
            log.debug(Cls.POLICY, 10, "no policy check ([General] Use-Keynote=no)")
            return cls.off("[General] Use-Keynote=no", False, base)
        path = os.path.join(base, general.policy_file)
        if not os.path.lexists(path):
            _log.warning("no policy file %s: every proposal the configuration "
                         "allows is accepted; use -K to say so explicitly", path)
            return cls.off(f"no policy file {path}", False, base)
        text = read_secret_file(path).encode("utf-8", "surrogateescape")
        session = Session()
        try:
            parsed = session.add_policy(text, path)
        except KeyNoteError as e:
            raise ConfigError(e.reason, e.file or path, e.line) from None
        cdir = conf.get("KeyNote", "Credential-directory") or DFLT_CREDENTIAL_DIR
        policy = cls(session, path, os.path.join(base, cdir), base_dir=base)
        for a in parsed:
            for line, message in a.warnings:
                _log.warning("%s:%d: %s", a.source, line, message)
        if not any(a.is_policy for a in parsed):
            _log.warning("policy file %s has no assertion with Authorizer "
                         '"POLICY": every phase 2 proposal will be refused', path)
        log.debug(Cls.POLICY, 10, f"policy: {len(parsed)} assertions from {path}")
        return policy

    def reload(self, conf: Conf) -> Policy:
        """SIGHUP, FIFO R: the policy read again; on an error, logged, this
        one is kept."""
        try:
            general = model.general(conf)
            path = os.path.join(self.base_dir, general.policy_file)
            if (self.active and general.use_keynote and not self.no_keynote
                    and not os.path.lexists(path)):
                # a policy that vanishes does not turn the check off
                raise ConfigError("no such file", path)
            new = Policy.load(conf, self.no_keynote, self.base_dir)
        except ConfigError as e:
            _log.error("policy not reloaded, keeping the running one: %s", e)
            return self
        new.clock = self.clock
        if new.active:
            log.debug(Cls.POLICY, 10, f"policy reloaded from {new.path}")
        return new

    @property
    def active(self) -> bool:
        return self.session is not None

    def __repr__(self) -> str:
        what = self.path if self.active else f"off: {self.off_reason}"
        return f"<Policy {what}>"

    # ------------------------------------------------------------ checking
    def allowed(self, proposal: Phase2Proposal, sa: IsakmpSA, role: str,
                proof: PeerProof | None = None) -> tuple[bool, str]:
        """Whether the policy lets ``proposal`` become an SA under ``sa``
        (``role``: "initiator" or "responder" of the Quick Mode), requested
        by the peer that ``proof`` describes; and why, naming the
        assertions that decided."""
        if self.session is None:
            return True, f"no policy check ({self.off_reason})"
        try:
            attrs = ipsec.action_attributes(proposal, sa, role == "initiator",
                                            self.clock())
        except PolicyInputError as e:
            return False, f"cannot be described to the policy: {e.args[0]}"
        requesters = ipsec.principals(proof)
        if not requesters:
            who = proof.what if proof is not None else "how the peer authenticated"
            return False, f"no principal for the peer ({who} unknown to the policy)"
        _debug_query(attrs, requesters)
        added: list[Assertion] = []
        try:
            for text, name in (proof.credentials if proof is not None else ()):
                try:
                    added += self.session.add_policy(text, name)
                except KeyNoteError as e:
                    log.debug(Cls.POLICY, 30, f"certificate credential skipped: {e}")
            result = self.session.query(attrs, requesters,
                                        credentials=self._peer_credentials(sa))
        except KeyNoteError as e:
            return False, f"the policy could not be evaluated: {e}"
        finally:
            for a in added:
                self.session.remove(a)
        log.debug(Cls.POLICY, 40, f"policy query returned {result.value!r}")
        if result.approved:
            return True, "allowed by " + ", ".join(
                str(a) for a in result.deciding_assertions)
        return False, self._refusal(result, proof)

    def _refusal(self, result: Result, proof: PeerProof | None) -> str:
        if not result.deciding:
            return f'refused: {self.path} has no assertion with Authorizer "POLICY"'
        why = "; ".join(str(v) for v in result.deciding)
        hint = ""
        if all(v.licensees == result.values[0] for v in result.deciding):
            who = proof.what if proof is not None else "the peer"
            hint = f" (the peer, by its {who}, is not among the Licensees)"
        return f"refused by {why}{hint}"

    def _peer_credentials(self, sa: IsakmpSA) -> list[Assertion]:
        """The signed credentials kept for the peer's phase-1 ID:
        ``<Credential-directory>/<address or name>/credentials``."""
        if not self.credential_dir:
            return []
        name = _credential_name(sa)
        if name is None:
            return []
        path = os.path.join(self.credential_dir, name, "credentials")
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_CREDENTIALS + 1)
        except FileNotFoundError:
            log.debug(Cls.POLICY, 30, f"no credentials in {path}")
            return []
        except OSError as e:
            _log.warning("credentials %s not read: %s", path, e.strerror or e)
            return []
        if len(data) > MAX_CREDENTIALS:
            _log.warning("credentials %s not read: larger than %d bytes", path,
                         MAX_CREDENTIALS)
            return []
        try:
            creds = read_credentials(data, path)
        except KeyNoteError as e:
            _log.warning("credentials not used: %s", e)
            return []
        log.debug(Cls.POLICY, 30, f"{len(creds)} credentials from {path}")
        return creds


def _credential_name(sa: IsakmpSA) -> str | None:
    """The directory name isakmpd gives an ID in Credential-directory (an
    address as text, or the FQDN / user FQDN); None for other IDs, and for
    names that are no plain file name."""
    try:
        rid = ipsec.phase1_remote_id(sa)
    except PolicyInputError:
        return None
    if rid.id_type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR):
        try:
            return str(ipaddress.ip_address(rid.data))
        except ValueError:
            return None
    if rid.id_type in (IdType.FQDN, IdType.USER_FQDN):
        name = rid.data.decode("latin-1")
        if (not name or name in (".", "..") or "/" in name or "\0" in name
                or not name.isprintable()):
            return None
        return name
    return None


def _debug_query(attrs: dict[str, str], requesters: list[str]) -> None:
    if log.enabled(Cls.POLICY, 40):
        for p in requesters:
            log.debug(Cls.POLICY, 40, f"policy: requester [{ipsec.shown(p)}]")
    if log.enabled(Cls.POLICY, 80):
        log.debug(Cls.POLICY, 80, "Policy context (action attributes):")
        for k in sorted(attrs):
            log.debug(Cls.POLICY, 80, f"{k} == {attrs[k]}")


__all__ = ["DFLT_CREDENTIAL_DIR", "Policy"]
