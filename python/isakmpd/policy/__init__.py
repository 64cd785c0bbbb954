"""Policy checking for the daemon: the KeyNote trust-management engine."""

from __future__ import annotations

from . import keynote

__all__ = ["keynote"]
