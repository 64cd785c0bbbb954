"""Negotiated IPsec transforms (RFC 2407) as XFRM algorithms.

An ESP transform id and its KEY_LENGTH attribute choose the cipher, the
AUTHENTICATION_ALGORITHM attribute the integrity algorithm. KEYMAT
(RFC 2409 section 5.5) is split cipher key first, then authentication key;
counter-mode and GCM ciphers take a 4-byte nonce (salt) after their key, as
RFC 3686, 4106 and 4543 say, and XFRM expects it as the last key bytes.

Each table row also gives the names Wireshark's ``esp_sa`` table uses (for
decrypting captures in tests and reports) and strongSwan's proposal
keywords (for configuring a peer), or None where there is no such name.

Errors are :class:`~isakmpd.errors.CryptoError` with the NOTIFY type to
answer a peer's proposal with.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..constants import AhTransform, AuthAlg, EspTransform, IpcompTransform, NotifyType
from ..errors import CryptoError
from .base import AeadAlgo, Algo, AuthAlgo


@dataclass(frozen=True)
class Cipher:
    xfrm: str
    key_bits: tuple[int, ...]  # allowed KEY_LENGTH values
    default_bits: int | None  # without KEY_LENGTH; None: the attribute is required
    nonce: int = 0  # bytes of nonce/salt after the key in KEYMAT
    icv_bits: int = 0  # AEAD tag length; 0 for a plain cipher
    wireshark: str | None = None
    strongswan: str | None = None  # keyword, "{bits}" replaced by the key length

    @property
    def aead(self) -> bool:
        return self.icv_bits > 0


@dataclass(frozen=True)
class Integrity:
    xfrm: str
    key_bytes: int
    trunc_bits: int
    wireshark: str | None = None
    strongswan: str | None = None


_AES = (128, 192, 256)

ESP_CIPHERS: dict[int, Cipher] = {
    EspTransform.TDES: Cipher(
        "cbc(des3_ede)",
        (192,),
        192,
        wireshark="TripleDES-CBC [RFC2451]",
        strongswan="3des",
    ),
    EspTransform.CAST: Cipher(
        "cbc(cast5)",
        tuple(range(40, 129, 8)),
        128,
        wireshark="CAST5-CBC [RFC2144]",
        strongswan="cast{bits}",
    ),
    EspTransform.BLOWFISH: Cipher(
        "cbc(blowfish)",
        tuple(range(40, 449, 8)),
        128,
        wireshark="BLOWFISH-CBC [RFC2451]",
        strongswan="blowfish{bits}",
    ),
    EspTransform.AES: Cipher(
        "cbc(aes)", _AES, 128, wireshark="AES-CBC [RFC3602]", strongswan="aes{bits}"
    ),
    EspTransform.AES_CTR: Cipher(
        "rfc3686(ctr(aes))",
        _AES,
        None,
        nonce=4,
        wireshark="AES-CTR [RFC3686]",
        strongswan="aes{bits}ctr",
    ),
    EspTransform.AES_GCM_16: Cipher(
        "rfc4106(gcm(aes))",
        _AES,
        None,
        nonce=4,
        icv_bits=128,
        wireshark="AES-GCM with 16 octet ICV [RFC4106]",
        strongswan="aes{bits}gcm16",
    ),
    EspTransform.AES_GMAC: Cipher(
        "rfc4543(gcm(aes))",
        _AES,
        None,
        nonce=4,
        icv_bits=128,
        strongswan="aes{bits}gmac",
    ),
    EspTransform.NULL: Cipher(
        "ecb(cipher_null)", (0,), 0, wireshark="NULL", strongswan="null"
    ),
}

AUTH_ALGS: dict[int, Integrity] = {
    AuthAlg.HMAC_MD5: Integrity("hmac(md5)", 16, 96, "HMAC-MD5-96 [RFC2403]", "md5"),
    AuthAlg.HMAC_SHA: Integrity(
        "hmac(sha1)", 20, 96, "HMAC-SHA-1-96 [RFC2404]", "sha1"
    ),
    AuthAlg.HMAC_RIPEMD: Integrity(
        "hmac(rmd160)", 20, 96, "MAC-RIPEMD-160-96 [RFC2857]", None
    ),
    AuthAlg.HMAC_SHA2_256: Integrity(
        "hmac(sha256)", 32, 128, "HMAC-SHA-256-128 [RFC4868]", "sha256"
    ),
    AuthAlg.HMAC_SHA2_384: Integrity(
        "hmac(sha384)", 48, 192, "HMAC-SHA-384-192 [RFC4868]", "sha384"
    ),
    AuthAlg.HMAC_SHA2_512: Integrity(
        "hmac(sha512)", 64, 256, "HMAC-SHA-512-256 [RFC4868]", "sha512"
    ),
}

#: AH transform id -> the AUTHENTICATION_ALGORITHM it must come with
AH_TRANSFORMS: dict[int, int] = {
    AhTransform.MD5: AuthAlg.HMAC_MD5,
    AhTransform.SHA: AuthAlg.HMAC_SHA,
    AhTransform.RIPEMD: AuthAlg.HMAC_RIPEMD,
    AhTransform.SHA2_256: AuthAlg.HMAC_SHA2_256,
    AhTransform.SHA2_384: AuthAlg.HMAC_SHA2_384,
    AhTransform.SHA2_512: AuthAlg.HMAC_SHA2_512,
}

IPCOMP_ALGS: dict[int, str] = {
    IpcompTransform.DEFLATE: "deflate",
    IpcompTransform.LZS: "lzs",
}


def _cipher(transform_id: int) -> Cipher:
    try:
        return ESP_CIPHERS[transform_id]
    except KeyError:
        raise CryptoError(
            f"ESP transform {EspTransform.confname(transform_id)} is not supported",
            NotifyType.INVALID_TRANSFORM_ID,
        ) from None


def _integrity(auth_alg: int) -> Integrity:
    try:
        return AUTH_ALGS[auth_alg]
    except KeyError:
        raise CryptoError(
            f"authentication algorithm {AuthAlg.confname(auth_alg)} is not supported",
            NotifyType.ATTRIBUTES_NOT_SUPPORTED,
        ) from None


def key_bits_for(transform_id: int, key_bits: int | None) -> int:
    """The cipher key length in bits: KEY_LENGTH, or the transform's default."""
    cipher = _cipher(transform_id)
    name = EspTransform.confname(transform_id)
    if not key_bits:
        if cipher.default_bits is None:
            raise CryptoError(
                f"ESP {name} needs a KEY_LENGTH attribute",
                NotifyType.ATTRIBUTES_NOT_SUPPORTED,
            )
        return cipher.default_bits
    if key_bits not in cipher.key_bits:
        raise CryptoError(
            f"ESP {name} with a {key_bits}-bit key is not supported",
            NotifyType.ATTRIBUTES_NOT_SUPPORTED,
        )
    return key_bits


def _esp_parts(
    transform_id: int, key_bits: int | None, auth_alg: int | None
) -> tuple[Cipher, int, Integrity | None]:
    cipher = _cipher(transform_id)
    bits = key_bits_for(transform_id, key_bits)
    name = EspTransform.confname(transform_id)
    if cipher.aead and auth_alg:
        raise CryptoError(
            f"ESP {name} takes no AUTHENTICATION_ALGORITHM (RFC 4106/4543)",
            NotifyType.ATTRIBUTES_NOT_SUPPORTED,
        )
    integrity = _integrity(auth_alg) if auth_alg else None
    if transform_id == EspTransform.NULL and integrity is None:
        raise CryptoError(
            "ESP NULL without authentication protects nothing (RFC 4303)",
            NotifyType.ATTRIBUTES_NOT_SUPPORTED,
        )
    return cipher, bits, integrity


def esp_keymat_lengths(
    transform_id: int, key_bits: int | None, auth_alg: int | None
) -> tuple[int, int]:
    """Bytes of KEYMAT for (cipher key with any nonce, authentication key)."""
    cipher, bits, integrity = _esp_parts(transform_id, key_bits, auth_alg)
    return bits // 8 + cipher.nonce, integrity.key_bytes if integrity else 0


def esp_xfrm_algs(
    transform_id: int, key_bits: int | None, auth_alg: int | None, keymat: bytes
) -> tuple[Algo | AeadAlgo, AuthAlgo | None]:
    """Split KEYMAT into the XFRM cipher (or AEAD) and integrity algorithm."""
    cipher, bits, integrity = _esp_parts(transform_id, key_bits, auth_alg)
    enc_len = bits // 8 + cipher.nonce
    auth_len = integrity.key_bytes if integrity else 0
    if len(keymat) < enc_len + auth_len:
        raise CryptoError(
            f"KEYMAT of {len(keymat)} bytes, {enc_len + auth_len} needed",
            NotifyType.INVALID_KEY_INFORMATION,
        )
    enc_key = bytes(keymat[:enc_len])
    enc: Algo | AeadAlgo
    if cipher.aead:
        enc = AeadAlgo(cipher.xfrm, enc_key, cipher.icv_bits)
    else:
        enc = Algo(cipher.xfrm, enc_key)
    auth = None
    if integrity is not None:
        auth = AuthAlgo(
            integrity.xfrm,
            bytes(keymat[enc_len : enc_len + auth_len]),
            integrity.trunc_bits,
        )
    return enc, auth


def ah_keymat_length(transform_id: int, auth_alg: int | None = None) -> int:
    return _ah_integrity(transform_id, auth_alg).key_bytes


def ah_xfrm_alg(transform_id: int, auth_alg: int | None, keymat: bytes) -> AuthAlgo:
    integrity = _ah_integrity(transform_id, auth_alg)
    if len(keymat) < integrity.key_bytes:
        raise CryptoError(
            f"KEYMAT of {len(keymat)} bytes, {integrity.key_bytes} needed",
            NotifyType.INVALID_KEY_INFORMATION,
        )
    return AuthAlgo(
        integrity.xfrm, bytes(keymat[: integrity.key_bytes]), integrity.trunc_bits
    )


def _ah_integrity(transform_id: int, auth_alg: int | None) -> Integrity:
    try:
        expected = AH_TRANSFORMS[transform_id]
    except KeyError:
        raise CryptoError(
            f"AH transform {AhTransform.confname(transform_id)} is not supported",
            NotifyType.INVALID_TRANSFORM_ID,
        ) from None
    if auth_alg and auth_alg != expected:  # RFC 2407 4.5: they must agree
        raise CryptoError(
            f"AH {AhTransform.confname(transform_id)} with authentication algorithm "
            f"{AuthAlg.confname(auth_alg)}",
            NotifyType.ATTRIBUTES_NOT_SUPPORTED,
        )
    return AUTH_ALGS[expected]


def ipcomp_xfrm_alg(transform_id: int) -> Algo:
    try:
        return Algo(IPCOMP_ALGS[transform_id])
    except KeyError:
        name = IpcompTransform.confname(transform_id)
        raise CryptoError(
            f"IPcomp transform {name} is not supported",
            NotifyType.INVALID_TRANSFORM_ID,
        ) from None


def wireshark_names(transform_id: int, auth_alg: int | None) -> tuple[str | None, str]:
    """Wireshark ``esp_sa`` names: (encryption, authentication)."""
    cipher = _cipher(transform_id)
    auth = _integrity(auth_alg).wireshark if auth_alg else "NULL"
    return cipher.wireshark, auth or "NULL"


def strongswan_proposal(
    transform_id: int, key_bits: int | None, auth_alg: int | None
) -> str | None:
    """strongSwan's ESP proposal keywords (``aes128-sha1``), or None."""
    cipher, bits, integrity = _esp_parts(transform_id, key_bits, auth_alg)
    if cipher.strongswan is None:
        return None
    parts = [cipher.strongswan.format(bits=bits)]
    if integrity is not None:
        if integrity.strongswan is None:
            return None
        parts.append(integrity.strongswan)
    return "-".join(parts)
