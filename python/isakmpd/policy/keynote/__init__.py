"""A KeyNote trust-management engine (RFC 2704, keys and signatures of
RFC 2792), in pure Python.

Typical use::

    session = Session()
    session.load_file("/etc/isakmpd/isakmpd.policy")   # trusted policy
    session.add_credential(peer_credentials)            # must be signed
    result = session.query(
        {"app_domain": "IPsec policy", "esp_present": "yes"},
        ["passphrase:mekmitasdigoat"],
    )
    if not result.approved:
        for verdict in result.deciding:
            print(verdict)        # which assertion refused, and why
"""

from __future__ import annotations

from .assertion import Assertion, parse_assertions
from .errors import KeyNoteError, KeyNoteSignatureError, KeyNoteSyntaxError
from .keys import (
    canonical,
    decode_private_key,
    encode_private_key,
    encode_public_key,
    same_principal,
)
from .session import Result, Session, Verdict
from .signature import read_credentials, sign_assertion, signature_value, verify

__all__ = [
    "Assertion",
    "KeyNoteError",
    "KeyNoteSignatureError",
    "KeyNoteSyntaxError",
    "Result",
    "Session",
    "Verdict",
    "canonical",
    "decode_private_key",
    "encode_private_key",
    "encode_public_key",
    "parse_assertions",
    "read_credentials",
    "same_principal",
    "sign_assertion",
    "signature_value",
    "verify",
]
