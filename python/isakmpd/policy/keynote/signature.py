"""Signed assertions (RFC 2704 section 4.6.7, RFC 2792 section 4).

The signature covers the assertion text up to and including the newline
before the ``Signature:`` keyword, followed by the signature algorithm
name with its colon (``sig-rsa-sha1-hex:``, as written in the assertion).
For RSA the signed value is that digest wrapped in a DER OCTET STRING,
padded as PKCS#1 v1.5 type 1: what libkeynote's
RSA_sign_ASN1_OCTET_STRING produces. A signature over a DigestInfo (plain
PKCS#1 v1.5) is accepted as well. DSA signs the SHA-1 digest itself; its
signature is DER SEQUENCE {r, s}. DSA works for the key sizes the
``cryptography`` package accepts (not the 512-bit keys of old examples).
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, padding, rsa, utils

from .assertion import Assertion, parse_assertions, split
from .errors import KeyNoteError, KeyNoteSignatureError, Source
from .keys import (
    PrivateKey,
    canonical,
    decode_bits,
    decode_private_key,
    encode_bits,
    encode_public_key,
    split_algorithm,
)

# sig-<key>-<hash>-<encoding>:
SIGNATURE_ALGORITHMS = {
    f"sig-{key}-{digest}-{enc}:": (key, digest, enc)
    for key, digest in (("rsa", "sha1"), ("rsa", "md5"), ("dsa", "sha1"))
    for enc in ("hex", "base64")
}
# DER prefixes of DigestInfo for the two hashes.
_DIGEST_INFO = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "md5": bytes.fromhex("3020300c06082a864886f70d020505000410"),
}


def _digest(name: str, data: bytes) -> bytes:
    if name == "md5":
        return hashlib.md5(data, usedforsecurity=False).digest()
    return hashlib.sha1(data, usedforsecurity=False).digest()


def _octet_string(digest: bytes) -> bytes:
    return bytes((0x04, len(digest))) + digest


def _algorithm(signature: str) -> tuple[str, tuple[str, str, str], str]:
    """(prefix as written, (key, hash, encoding), encoded bits)."""
    prefix, colon, bits = signature.partition(":")
    if not colon:
        raise KeyNoteSignatureError("the Signature is not of the form 'sig-ALG:BITS'")
    spec = SIGNATURE_ALGORITHMS.get(prefix.lower() + ":")
    if spec is None:
        raise KeyNoteSignatureError(f"unsupported signature algorithm {prefix!r}")
    return prefix + ":", spec, bits


def verify(assertion: Assertion) -> None:
    """Check the Signature of ``assertion``; raise
    :class:`KeyNoteSignatureError` naming the reason if it is not good."""
    try:
        _verify(assertion)
    except KeyNoteSignatureError as exc:
        raise KeyNoteSignatureError(
            exc.reason, assertion.source, assertion.line
        ) from None
    assertion.verified = True


def read_credentials(
    text: str | bytes, filename: str = "<credential>"
) -> list[Assertion]:
    """Parse signed credentials and check every signature (all or none)."""
    parsed = parse_assertions(text, filename)
    for a in parsed:
        verify(a)
    return parsed


def _verify(a: Assertion) -> None:
    if a.signature is None:
        raise KeyNoteSignatureError("the credential is not signed")
    prefix, (kind, digest_name, encoding), bits = _algorithm(a.signature)
    key = a.authorizer_id
    if key.kind == "opaque":
        parts = split_algorithm(a.authorizer)
        if parts is not None and parts[0] in ("rsa", "dsa"):
            raise KeyNoteSignatureError("the Authorizer's key does not decode")
        raise KeyNoteSignatureError("the Authorizer is not a key that can sign")
    if key.kind != kind:
        raise KeyNoteSignatureError(
            f"signature algorithm {prefix[:-1]!r} does not match the "
            f"Authorizer's {key.kind.upper()} key"
        )
    sig = decode_bits(bits, encoding)
    if not sig:
        raise KeyNoteSignatureError(f"the signature is not valid {encoding}")
    for text in a.signed_data:
        digest = _digest(digest_name, text.encode("latin-1") + prefix.encode("latin-1"))
        if kind == "rsa" and _rsa_ok(key.material, sig, digest, digest_name):
            return
        if kind == "dsa" and _dsa_ok(key.material, sig, digest):
            return
    raise KeyNoteSignatureError("the signature does not verify")


def _rsa_ok(material: tuple[object, ...], sig: bytes, digest: bytes, name: str) -> bool:
    n, e = material
    try:
        pub = rsa.RSAPublicNumbers(e, n).public_key()  # type: ignore[arg-type]
        recovered = pub.recover_data_from_signature(sig, padding.PKCS1v15(), None)
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return hmac.compare_digest(recovered, _octet_string(digest)) or hmac.compare_digest(
        recovered, _DIGEST_INFO[name] + digest
    )


def _dsa_ok(material: tuple[object, ...], sig: bytes, digest: bytes) -> bool:
    y, p, q, g = material
    try:
        params = dsa.DSAParameterNumbers(p, q, g)  # type: ignore[arg-type]
        pub = dsa.DSAPublicNumbers(y, params).public_key()  # type: ignore[arg-type]
    except (ValueError, UnsupportedAlgorithm):
        raise KeyNoteSignatureError(
            "unsupported DSA key (its size or parameters are refused)"
        ) from None
    try:
        pub.verify(sig, digest, utils.Prehashed(hashes.SHA1()))
    except (InvalidSignature, ValueError):
        return False
    return True


# -- signing ----------------------------------------------------------------


def signature_value(
    data: str, key: PrivateKey | str, algorithm: str = "sig-rsa-sha1-hex:"
) -> str:
    """The Signature string (``sig-...:bits``) of ``data``, the assertion
    text before its Signature field."""
    if isinstance(key, str):
        key = decode_private_key(key)
    try:
        prefix, (kind, digest_name, encoding), _ = _algorithm(algorithm)
    except KeyNoteSignatureError as exc:
        raise KeyNoteError(exc.reason) from None
    digest = _digest(digest_name, data.encode("latin-1") + prefix.encode("latin-1"))
    if kind == "rsa":
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyNoteError(f"{prefix} needs an RSA private key")
        raw = _rsa_sign_raw(key, _octet_string(digest))
    else:
        if not isinstance(key, dsa.DSAPrivateKey):
            raise KeyNoteError(f"{prefix} needs a DSA private key")
        raw = key.sign(digest, utils.Prehashed(hashes.SHA1()))
    return prefix + encode_bits(raw, encoding)


def _rsa_sign_raw(key: rsa.RSAPrivateKey, payload: bytes) -> bytes:
    """PKCS#1 v1.5 type-1 signature of ``payload`` as is (no DigestInfo).

    ``cryptography`` always adds a DigestInfo, so the private operation is
    done here. It is not constant-time: meant for making credentials, not
    for a server answering peers.
    """
    nums = key.private_numbers()
    n = nums.public_numbers.n
    size = (n.bit_length() + 7) // 8
    if len(payload) > size - 11:
        raise KeyNoteError("the RSA key is too small to sign")
    block = b"\x00\x01" + b"\xff" * (size - 3 - len(payload)) + b"\x00" + payload
    m = int.from_bytes(block, "big")
    s1 = pow(m, nums.dmp1, nums.p)
    s2 = pow(m, nums.dmq1, nums.q)
    s = s2 + nums.q * ((nums.iqmp * (s1 - s2)) % nums.p)
    if pow(s, nums.public_numbers.e, n) != m:  # guard against a faulty result
        raise KeyNoteError("RSA signing failed")
    return s.to_bytes(size, "big")


def sign_assertion(
    text: str, key: PrivateKey | str, algorithm: str = "sig-rsa-sha1-hex:"
) -> str:
    """Sign the one assertion in ``text`` and return it with its Signature.

    An existing Signature field (empty or not) is replaced. The private key
    must belong to the Authorizer. ``key`` is a ``cryptography`` private key
    or a keynote-keygen ``private-rsa-hex:...`` string.
    """
    if isinstance(key, str):
        key = decode_private_key(key)
    src = Source(text, "<to sign>")
    layouts = list(split(src))
    if len(layouts) != 1:
        raise KeyNoteError(f"expected one assertion to sign, found {len(layouts)}")
    layout = layouts[0]
    sig = layout.get("Signature")
    body = text[layout.start : sig.line_start if sig else layout.end]
    if not body.endswith("\n"):
        body += "\n"
    unsigned = parse_assertions(body, "<to sign>")[0]
    if unsigned.is_policy:
        raise KeyNoteError('an assertion by "POLICY" cannot be signed')
    if unsigned.authorizer_id != canonical(encode_public_key(key)):
        raise KeyNoteError("the private key does not belong to the Authorizer")
    value = signature_value(body, key, algorithm)
    signed = body + "Signature: " + _quoted(value) + "\n"
    verify(parse_assertions(signed, "<signed>")[0])
    return signed


def _quoted(value: str, width: int = 56) -> str:
    """A string literal, long values continued over lines with backslashes."""
    lines = [value[i : i + width] for i in range(0, len(value), width)] or [""]
    return '"' + "\\\n            ".join(lines) + '"'
