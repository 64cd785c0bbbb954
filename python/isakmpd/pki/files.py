"""Reading the PKI's files: certificates, CRLs, private and public keys.

Certificates and CRLs may be PEM (several in one file) or DER. Private keys
may be PEM (``PRIVATE KEY`` = PKCS#8, ``RSA PRIVATE KEY`` = PKCS#1) or DER,
unencrypted, and must pass the configuration file's secrecy rule. Every
loader raises ValueError with the reason; the caller logs it and skips the
file.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .. import _core
from ..conf.parser import check_secrecy_fd
from ..errors import ConfigError, CryptoError

#: The largest file the PKI reads (certificates, CRLs, keys).
MAX_FILE = 4 << 20

_PEM = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


def directory_files(directory: str) -> list[str]:
    """The regular files of ``directory`` by name, hidden ones left out;
    [] when the directory does not exist. ValueError if it cannot be read."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise ValueError(f"cannot read directory {directory}: {e.strerror}") from None
    paths = []
    for name in names:
        path = os.path.join(directory, name)
        if not name.startswith(".") and os.path.isfile(path):
            paths.append(path)
    return paths


def _read_fd(fd: int) -> bytes:
    chunks, size = [], 0
    while True:
        try:
            b = os.read(fd, 65536)
        except OSError as e:
            raise ValueError(f"cannot read: {e.strerror}") from None
        if not b:
            return b"".join(chunks)
        size += len(b)
        if size > MAX_FILE:
            raise ValueError(f"larger than {MAX_FILE} bytes")
        chunks.append(b)


def read_file(path: str, secret: bool = False) -> bytes:
    """The bytes of ``path``; with ``secret`` the file must first pass the
    secrecy rule (owner root or us, no group or other permissions).
    ValueError says why not (without the path, which callers name)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ValueError(f"cannot open: {e.strerror}") from None
    try:
        if secret:
            try:
                check_secrecy_fd(fd, path)
            except ConfigError as e:
                raise ValueError(e.reason) from None
        return _read_fd(fd)
    finally:
        os.close(fd)


def pem_blocks(data: bytes) -> list[tuple[str, bytes, bytes]]:
    """(label, headers, DER) of each PEM block in ``data``."""
    out = []
    for m in _PEM.finditer(data):
        label = m.group(1).decode("ascii")
        lines = m.group(2).replace(b"\r", b"").split(b"\n")
        headers = []
        if lines and b":" in lines[0]:  # RFC 1421 headers (Proc-Type...)
            while lines and lines[0].strip():
                headers.append(lines.pop(0))
        body = b"".join(lines)
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"bad base64 in the PEM block {label}") from None
        out.append((label, b"\n".join(headers), der))
    return out


def _is_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data


def certificate_ders(data: bytes) -> list[bytes]:
    """The DER certificates of a PEM file (its CERTIFICATE blocks), or the
    DER file itself."""
    if not _is_pem(data):
        return [data]
    ders = [der for label, _, der in pem_blocks(data)
            if label in ("CERTIFICATE", "X509 CERTIFICATE")]
    if not ders:
        raise ValueError("no CERTIFICATE block")
    return ders


def parse_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """The CRLs of a PEM or DER file."""
    try:
        if _is_pem(data):
            blocks = [der for label, _, der in pem_blocks(data) if label == "X509 CRL"]
            if not blocks:
                raise ValueError("no X509 CRL block")
        else:
            blocks = [data]
        crls = [x509.load_der_x509_crl(der) for der in blocks]
        for crl in crls:
            _ = crl.extensions
    except Exception as e:  # noqa: BLE001 (cryptography raises many types)
        raise ValueError(f"not a CRL: {e}") from None
    return crls


_PRIVATE_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY")


def private_key_der(data: bytes) -> bytes:
    """The DER of an unencrypted RSA private key file (PEM or DER)."""
    if not _is_pem(data):
        return data
    for label, headers, der in pem_blocks(data):
        if label == "ENCRYPTED PRIVATE KEY" or b"ENCRYPTED" in headers:
            raise ValueError("the private key is encrypted; isakmpd needs it in clear")
        if label in _PRIVATE_LABELS:
            return der
    raise ValueError("no PRIVATE KEY or RSA PRIVATE KEY block")


def load_private_key(path: str) -> _core.RsaKey:
    """An RSA private key file that passes the secrecy rule."""
    der = private_key_der(read_file(path, secret=True))
    try:
        return _core.RsaKey(der)
    except CryptoError as e:
        raise ValueError(e.reason) from None


def load_public_key(path: str) -> tuple[bytes, int]:
    """(SubjectPublicKeyInfo DER, bits) of an RSA public key file: PEM
    ``PUBLIC KEY`` or ``RSA PUBLIC KEY``, or DER."""
    data = read_file(path)
    try:
        if _is_pem(data):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except Exception as e:  # noqa: BLE001 (cryptography raises many types)
        raise ValueError(f"not a public key: {e}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")  # noqa: TRY004 (a file's content)
    spki = key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return spki, key.key_size
