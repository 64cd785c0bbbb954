"""Principal identifiers: canonical forms of keys, and key encodings.

RFC 2704 section 5.2 compares keys after normalisation; RFC 2792 defines
the forms used here, as libkeynote writes them:

- ``rsa-hex:`` / ``rsa-base64:``: DER of the PKCS#1 RSAPublicKey
  (SEQUENCE {modulus, publicExponent}); a DER SubjectPublicKeyInfo is
  accepted too. Canonical form: (n, e).
- ``dsa-hex:`` / ``dsa-base64:``: DER SEQUENCE {y, p, q, g}.
- ``binary-hex:`` / ``binary-base64:``: the bytes themselves.

Algorithm names are case-insensitive. Anything else, including a key
whose bits do not decode, is opaque and compared as a case-sensitive
string. Private keys in files made by keynote-keygen carry a
``private-`` prefix (PKCS#1 RSAPrivateKey, or OpenSSL's DSA private key
SEQUENCE {0, p, q, g, y, x}).
"""

from __future__ import annotations

import base64
import binascii
import functools
import string
from typing import NamedTuple

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, rsa

from .errors import KeyNoteError, Source

_HEX = frozenset(string.hexdigits)
# TODO(x509): "x509-hex:"/"x509-base64:" certificates as principals and
# "sig-x509-*" signatures (RFC 5708) are not supported; they are opaque.
KEY_ALGORITHMS = ("rsa", "dsa", "binary")
ENCODINGS = ("hex", "base64")


class PrincipalId(NamedTuple):
    """Canonical form of a principal: ("opaque", (text,)), ("rsa", (n, e)),
    ("dsa", (y, p, q, g)) or ("binary", (data,))."""

    kind: str
    material: tuple[object, ...]


def decode_bits(bits: str, encoding: str) -> bytes | None:
    """Hex (even length, any case) or base64 (padded); None if invalid."""
    if encoding == "hex":
        if len(bits) % 2 or not _HEX.issuperset(bits):
            return None
        return bytes.fromhex(bits)
    if len(bits) % 4:
        return None
    try:
        return base64.b64decode(bits.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def encode_bits(data: bytes, encoding: str) -> str:
    if encoding == "hex":
        return data.hex()
    if encoding == "base64":
        return base64.b64encode(data).decode("ascii")
    raise KeyNoteError(f"unknown key encoding {encoding!r} (hex or base64)")


def split_algorithm(text: str) -> tuple[str, str, str] | None:
    """("rsa", "hex", bits) for "RSA-HEX:bits"; None if not of that form."""
    head, sep, bits = text.partition(":")
    if not sep:
        return None
    alg, dash, encoding = head.lower().rpartition("-")
    if not dash or encoding not in ENCODINGS:
        return None
    return alg, encoding, bits


# -- DER: just the SEQUENCE OF INTEGER that these keys are --------------


def _der_length(data: bytes, i: int) -> tuple[int, int]:
    if i >= len(data):
        raise ValueError("truncated")
    first = data[i]
    if first < 0x80:
        return first, i + 1
    count = first & 0x7F
    if count == 0 or count > 4 or i + 1 + count > len(data):
        raise ValueError("bad length")
    value = int.from_bytes(data[i + 1 : i + 1 + count], "big")
    if value < 0x80 or data[i + 1] == 0:
        raise ValueError("length not in shortest form")
    return value, i + 1 + count


def der_integers(data: bytes) -> list[int]:
    """The integers of a DER SEQUENCE OF INTEGER; ValueError otherwise."""
    if not data or data[0] != 0x30:
        raise ValueError("not a SEQUENCE")
    length, i = _der_length(data, 1)
    if i + length != len(data):
        raise ValueError("trailing or missing bytes")
    values = []
    while i < len(data):
        if data[i] != 0x02:
            raise ValueError("not an INTEGER")
        length, i = _der_length(data, i + 1)
        if length == 0 or i + length > len(data):
            raise ValueError("bad INTEGER")
        values.append(int.from_bytes(data[i : i + length], "big", signed=True))
        i += length
    return values


def der_sequence(values: list[int]) -> bytes:
    """DER SEQUENCE OF INTEGER."""
    body = b"".join(_der_tlv(0x02, _der_int(v)) for v in values)
    return _der_tlv(0x30, body)


def _der_int(v: int) -> bytes:
    return v.to_bytes(v.bit_length() // 8 + 1, "big", signed=True)


def _der_tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes((tag, n)) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + body


# -- canonical forms ----------------------------------------------------


@functools.lru_cache(maxsize=1024)
def canonical(principal: str) -> PrincipalId:
    """The canonical form of a principal identifier."""
    parts = split_algorithm(principal)
    if parts is not None and parts[0] in KEY_ALGORITHMS:
        alg, encoding, bits = parts
        data = decode_bits(bits, encoding)
        if data is not None:
            decoded = _decode_public(alg, data)
            if decoded is not None:
                return decoded
    return PrincipalId("opaque", (principal,))


def _decode_public(alg: str, data: bytes) -> PrincipalId | None:
    if alg == "binary":
        return PrincipalId("binary", (data,))
    try:
        ints = der_integers(data)
    except ValueError:
        ints = []
    if alg == "rsa" and len(ints) == 2 and min(ints) > 0:
        return PrincipalId("rsa", (ints[0], ints[1]))
    if alg == "dsa" and len(ints) == 4 and min(ints) > 0:
        return PrincipalId("dsa", tuple(ints))
    try:  # a SubjectPublicKeyInfo, as other tools write keys
        key = serialization.load_der_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if alg == "rsa" and isinstance(key, rsa.RSAPublicKey):
        nums = key.public_numbers()
        return PrincipalId("rsa", (nums.n, nums.e))
    if alg == "dsa" and isinstance(key, dsa.DSAPublicKey):
        pn = key.public_numbers()
        p = pn.parameter_numbers
        return PrincipalId("dsa", (pn.y, p.p, p.q, p.g))
    return None


def same_principal(a: str, b: str) -> bool:
    return canonical(a) == canonical(b)


# -- writing keys ---------------------------------------------------------

PublicKey = rsa.RSAPublicKey | dsa.DSAPublicKey
PrivateKey = rsa.RSAPrivateKey | dsa.DSAPrivateKey


def encode_public_key(key: PublicKey | PrivateKey, encoding: str = "hex") -> str:
    """The KeyNote principal of a public key, e.g. ``rsa-hex:3048...``."""
    if isinstance(key, (rsa.RSAPrivateKey, dsa.DSAPrivateKey)):
        key = key.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
        return f"rsa-{encoding}:{encode_bits(der, encoding)}"
    if isinstance(key, dsa.DSAPublicKey):
        pn = key.public_numbers()
        p = pn.parameter_numbers
        der = der_sequence([pn.y, p.p, p.q, p.g])
        return f"dsa-{encoding}:{encode_bits(der, encoding)}"
    raise KeyNoteError("only RSA and DSA keys have a KeyNote encoding")


def encode_private_key(key: PrivateKey, encoding: str = "hex") -> str:
    """The keynote-keygen form of a private key (``private-rsa-hex:...``)."""
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return f"private-rsa-{encoding}:{encode_bits(der, encoding)}"
    if isinstance(key, dsa.DSAPrivateKey):
        n = key.private_numbers()
        pn = n.public_numbers
        p = pn.parameter_numbers
        der = der_sequence([0, p.p, p.q, p.g, pn.y, n.x])
        return f"private-dsa-{encoding}:{encode_bits(der, encoding)}"
    raise KeyNoteError("only RSA and DSA keys have a KeyNote encoding")


def decode_private_key(text: str) -> PrivateKey:
    """Read a ``private-rsa-hex:`` (or -base64, or dsa) private key."""
    text = text.strip()
    if text.startswith('"'):  # a string literal, as keynote-keygen writes it
        from .lexer import STR, tokenize

        src = Source(text, "<private key>")
        tokens = tokenize(src, 0, len(text))
        if len(tokens) != 2 or tokens[0].kind != STR:
            raise KeyNoteError("a private key is one string")
        text = tokens[0].value
    if not text.lower().startswith("private-"):
        raise KeyNoteError("a private key starts with 'private-'")
    parts = split_algorithm(text[len("private-") :])
    if parts is None or parts[0] not in ("rsa", "dsa"):
        raise KeyNoteError("unsupported private key algorithm")
    alg, encoding, bits = parts
    data = decode_bits("".join(bits.split()), encoding)
    if data is None:
        raise KeyNoteError(f"private key is not valid {encoding}")
    try:
        if alg == "rsa":
            key = serialization.load_der_private_key(data, password=None)
            if isinstance(key, rsa.RSAPrivateKey):
                return key
            raise ValueError("not an RSA key")
        ints = der_integers(data)
        if len(ints) != 6 or ints[0] != 0:
            raise ValueError("not an OpenSSL DSA private key")
        _, p, q, g, y, x = ints
        params = dsa.DSAParameterNumbers(p, q, g)
        return dsa.DSAPrivateNumbers(x, dsa.DSAPublicNumbers(y, params)).private_key()
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = f"cannot read the {alg.upper()} private key: {exc}"
        raise KeyNoteError(reason) from None
