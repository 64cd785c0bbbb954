"""The FIFO user interface (isakmpd(8) "The FIFO user interface").

Commands are single lines starting with one letter. A bad command is logged
with the reason and changes nothing.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import log
from .cli import DEFAULT_KEYLOG, DEFAULT_PCAP
from .errors import ConfigError
from .log import Cls

if TYPE_CHECKING:
    from .daemon import Daemon

_log = log.logger(Cls.UI)
#: "C set [peer]:Authentication=KEY": pre-shared keys stay out of the log
_SECRET = re.compile(r"(?i)(\]\s*:\s*authentication\s*=\s*)(\S+)")


def redact(command: str) -> str:
    """``command`` with any pre-shared key in it replaced for logging."""
    return _SECRET.sub(lambda m: m.group(1) + "(secret, not shown)", command)


#: isakmpd scans fields with a 200-character limit; a longer line is refused
MAX_LINE = 1024


def make_fifo(path: str) -> None:
    """Make the FIFO ``path`` (mode 0600), replacing an old FIFO there but
    nothing else. OSError names the path."""
    try:
        st = os.lstat(path)
        if not stat.S_ISFIFO(st.st_mode):
            raise OSError(f"{path} exists and is not a FIFO")
        os.unlink(path)
    except FileNotFoundError:
        pass
    try:
        os.mkfifo(path, 0o600)
    except OSError as e:
        raise OSError(e.errno, f"FIFO: {e.strerror}", path) from None


class Ui:
    """The FIFO (or stdin, ``-f -``), read line by line.

    The FIFO is read-only: when the last writer closes it, the daemon sees
    the end, drops what that writer left without a newline (so that it is
    not glued to the next writer's command) and opens the FIFO again.
    ``opener`` gives the descriptor instead of opening ``path`` here (the
    privileged parent of a separated daemon makes and opens the FIFO).
    """

    def __init__(self, daemon: Daemon, loop: asyncio.AbstractEventLoop,
                 opener: Callable[[], int] | None = None) -> None:
        self.daemon = daemon
        self.loop = loop
        self.opener = opener
        self.fd: int | None = None
        self.path: str | None = None
        #: the FIFO was made here (and is removed here at the end)
        self._made = False
        self._buf = b""
        #: the rest of an overlong line is being dropped, up to its newline
        self._discarding = False

    def open(self, path: str) -> None:
        if path == "-":
            self.fd = 0
            os.set_blocking(0, False)
        else:
            self.path = path
            if self.opener is None:
                make_fifo(path)
                self._made = True
            self.fd = self._open_fifo()
        self.loop.add_reader(self.fd, self._readable)

    def _open_fifo(self) -> int:
        assert self.path is not None
        if self.opener is not None:
            try:
                return self.opener()
            except OSError as e:
                if e.filename:
                    raise
                raise OSError(e.errno, e.strerror, self.path) from None
        try:
            return os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            raise OSError(e.errno, f"FIFO: {e.strerror}", self.path) from None

    def close(self) -> None:
        if self.fd is None:
            return
        try:
            self.loop.remove_reader(self.fd)
        except (ValueError, OSError):
            pass
        if self.fd != 0:
            os.close(self.fd)
        if self.path and self._made:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        self.fd = None

    def _readable(self) -> None:
        assert self.fd is not None
        try:
            chunk = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        except OSError as e:
            _log.error("FIFO read: %s", e)
            return
        if not chunk:
            self._end_of_input()
            return
        self._buf += chunk
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            if self._discarding:
                self._discarding = False
                continue
            self.command(line.decode("utf-8", "replace").strip())
        if len(self._buf) > MAX_LINE:
            if not self._discarding:
                _log.error("FIFO: command longer than %d bytes discarded", MAX_LINE)
            self._discarding = True
            self._buf = b""

    def _end_of_input(self) -> None:
        """Every writer has closed (or stdin ended): a command left without
        its newline is dropped, and the FIFO is opened again."""
        assert self.fd is not None
        rest = self._buf.decode("utf-8", "replace").strip()
        if rest and not self._discarding:
            _log.warning("FIFO: %r dropped: the writer closed before the end of "
                         "the line", redact(rest)[:80])
        self._buf = b""
        self._discarding = False
        self.loop.remove_reader(self.fd)
        if self.fd == 0:  # stdin: nothing more will come
            return
        os.close(self.fd)
        self.fd = None
        try:
            self.fd = self._open_fifo()
        except OSError as e:
            _log.error("FIFO %s cannot be opened again, no more commands: %s",
                       self.path, e.strerror or e)
            return
        self.loop.add_reader(self.fd, self._readable)

    def command(self, line: str) -> None:
        if not line:
            return
        if len(line) > MAX_LINE:
            _log.error("FIFO: command longer than %d characters ignored", MAX_LINE)
            return
        log.debug(Cls.UI, 30, f"ui_handle_command: {redact(line)!r}")
        cmd, _, rest = line.partition(" ")
        rest = rest.strip()
        d = self.daemon
        try:
            if cmd == "c":
                if not rest:
                    raise ValueError("usage: c name")
                d.connect(rest)
            elif cmd == "t":
                words = rest.split()
                if len(words) == 1 and words[0] not in ("main", "quick"):
                    d.teardown("quick", words[0])
                elif len(words) == 2 and words[0] in ("main", "quick"):
                    d.teardown(words[0], words[1])
                else:
                    raise ValueError("usage: t [main|quick] name|address")
            elif cmd == "T":
                d.teardown_all()
            elif cmd == "S":
                d.write_sa_report()
            elif cmd == "Q":
                d.request_shutdown()
            elif cmd == "r":
                d.write_report()
            elif cmd == "R":
                d.reload()
            elif cmd == "D":
                self._debug(rest)
            elif cmd == "C":
                self._config(rest)
            elif cmd == "d":
                self._delete(rest)
            elif cmd == "p":
                self._on_off(rest, "p on[=file] | p off", d.opts.pcap or DEFAULT_PCAP,
                             d.start_capture, d.stop_capture)
            elif cmd == "k":
                self._on_off(rest, "k on[=dir] | k off",
                             d.opts.keylog or DEFAULT_KEYLOG, d.start_keylog,
                             d.stop_keylog)
            elif cmd == "M":
                if rest not in ("active", "passive"):
                    raise ValueError("usage: M active|passive")
                d.set_active(rest == "active")
            else:
                raise ValueError(f"unrecognized command: {line!r}")
        except (ValueError, ConfigError) as e:
            _log.error("FIFO: %s", redact(str(e)))
        except Exception:  # noqa: BLE001 (a bug must not end the daemon)
            _log.exception("FIFO: command %r failed", redact(line))
        finally:
            d.pump()

    def _debug(self, rest: str) -> None:
        words = rest.split()
        if words == ["T"]:
            log.toggle()
            return
        if len(words) != 2:
            raise ValueError("usage: D class level | D A level | D T")
        cls: int | str = "A" if words[0].upper() == "A" else words[0]
        try:
            lvl = int(words[1])
            if cls != "A":
                cls = int(cls)
        except ValueError:
            raise ValueError(f"bad debug command 'D {rest}'") from None
        was_secret = log.crypto_secrets_enabled()
        try:
            log.set_level(cls, lvl)
        except ValueError as e:
            raise ValueError(f"D {rest}: {e}") from None
        if log.crypto_secrets_enabled() and not was_secret:
            _log.warning("crypto debug level 99: key material will be logged")

    @staticmethod
    def _on_off(rest: str, usage: str, default: str, start: Callable[[str], bool],
                stop: Callable[[], None]) -> None:
        """``X on``, ``X on=path``, ``X off`` (FIFO ``p`` and ``k``)."""
        word, eq, path = rest.partition("=")
        word, path = word.strip(), path.strip()
        if word == "off" and not eq:
            stop()
        elif word == "on" and (path or not eq):
            start(path or default)
        else:
            raise ValueError(f"usage: {usage}")

    def _delete(self, rest: str) -> None:
        """``d <icookie><rcookie> [msgid|-]``: delete the ISAKMP SA, or with a
        message ID the IPsec SA negotiated under it, and tell the peer."""
        words = rest.split()
        usage = "usage: d <32 hex digits: icookie rcookie> [<8 hex digits: msgid>|-]"
        if not 1 <= len(words) <= 2 or len(words[0]) != 32:
            raise ValueError(usage)
        msgid = words[1] if len(words) == 2 and words[1] != "-" else None
        try:
            cookies = bytes.fromhex(words[0])
            mid = int(msgid, 16) if msgid is not None else None
        except ValueError:
            raise ValueError(usage) from None
        if msgid is not None and len(msgid) != 8:
            raise ValueError(usage)
        if not self.daemon.delete_sa(cookies[:8], cookies[8:], mid):
            _log.warning("FIFO: d %s: no such SA", rest)

    # ---------------------------------------------------------------- C
    def _config(self, rest: str) -> None:
        """``C set|add|rmv [section]:tag=value``, ``C set ... force``,
        ``C rm [section]:tag``, ``C rms [section]``, ``C get [section]:tag``."""
        op, _, spec = rest.partition(" ")
        spec = spec.strip()
        conf = self.daemon.conf
        if op == "rms":
            section, tag, value = _section_tag(spec, want_tag=False)
            with conf.transaction() as t:
                t.remove_section(section)
        elif op in ("set", "add", "rmv"):
            force = False
            if op == "set" and spec.endswith(" force"):
                spec, force = spec[:-len(" force")].rstrip(), True
            section, tag, value = _section_tag(spec, want_value=True)
            with conf.transaction() as t:
                if op == "set":
                    t.set(section, tag, value, override=force)
                elif op == "add":
                    t.add(section, tag, value)
                else:
                    t.rmv(section, tag, value)
        elif op in ("rm", "get"):
            section, tag, _ = _section_tag(spec)
            if op == "get":
                self.daemon.write_result(f"{conf.get(section, tag) or ''}\n")
                return
            with conf.transaction() as t:
                t.remove(section, tag)
        else:
            raise ValueError(f"usage: C set|add|rmv [section]:tag=value, C rm|get "
                             f"[section]:tag, C rms [section] (not {rest!r})")
        log.debug(Cls.UI, 10, f"configuration changed: {redact('C ' + rest)}")
        self.daemon.config_changed({section})


def _section_tag(spec: str, want_tag: bool = True, want_value: bool = False
                 ) -> tuple[str, str, str]:
    """``[section]:tag=value`` → (section, tag, value)."""
    form = ("[section]:tag=value" if want_value else
            "[section]:tag" if want_tag else "[section]")
    end = spec.find("]")
    if not spec.startswith("[") or end < 2:
        raise ValueError(f"expected {form}, not {spec!r}")
    section, rest = spec[1:end], spec[end + 1:]
    if not want_tag:
        if rest:
            raise ValueError(f"expected {form}, not {spec!r}")
        return section, "", ""
    if not rest.startswith(":"):
        raise ValueError(f"expected {form}, not {spec!r}")
    tag, eq, value = rest[1:].partition("=")
    tag = tag.strip()
    if not tag or bool(eq) != want_value:
        raise ValueError(f"expected {form}, not {spec!r}")
    return section, tag, value.strip()
