"""isakmpd.conf(5): the parser, the defaults and auto-generated sections,
the store with its transactions, and typed views (:mod:`.model`)."""

from .parser import check_secrecy
from .store import Conf, Transaction

__all__ = ["Conf", "Transaction", "check_secrecy"]
