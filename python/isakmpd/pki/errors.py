"""The error of the certificate layer."""

from __future__ import annotations

from ..errors import IsakmpdError


class PkiError(IsakmpdError):
    """A peer's certificate or key that cannot be used.

    ``notify`` is the RFC 2408 NOTIFY type to answer with
    (INVALID_CERTIFICATE, INVALID_ID_INFORMATION, CERT_TYPE_UNSUPPORTED,
    INVALID_CERT_ENCODING, CERTIFICATE_UNAVAILABLE), ``reason`` says what
    failed, naming the certificate."""

    def __init__(self, notify: int, reason: str) -> None:
        super().__init__(reason)
        self.notify = notify
        self.reason = reason
