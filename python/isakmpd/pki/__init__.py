"""Certificates and keys for RSA signature authentication (RSA_SIG).

:class:`Pki` reads the trusted CAs, our certificates and private keys,
CRLs and raw public keys from the directories isakmpd.conf(5) names, gives
the exchanges our credential for an ID and verifies peers' certificates.
"""

from .errors import PkiError
from .keys import LocalCredential, PeerKey
from .store import Pki, Settings

__all__ = ["LocalCredential", "PeerKey", "Pki", "PkiError", "Settings"]
