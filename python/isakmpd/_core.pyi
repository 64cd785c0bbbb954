"""Type stubs of ``isakmpd._core``, the Rust core (rust/py over rust/codec and
rust/crypto). This file is the contract between the two languages.

Conventions
- Every ``bytes`` argument is copied by the binding; nothing keeps a
  reference to Python memory.
- Errors are the classes of :mod:`isakmpd.errors`: malformed wire data raises
  ``MessageError(notify, reason, offset)``; bad crypto arguments or a peer's
  invalid DH value raise ``CryptoError(reason, notify)``. Nothing panics.
- Numbers are the RFC values of :mod:`isakmpd.constants` (hash ids are the
  IKE HASH_ALGORITHM values: 1 MD5, 2 SHA, 4 SHA2_256, 5 SHA2_384, 6 SHA2_512;
  cipher ids are IKE ENCRYPTION_ALGORITHM values: 3 BLOWFISH_CBC, 5 3DES_CBC,
  6 CAST_CBC, 7 AES_CBC).
- Expensive calls (modexp, ECDH, big PRF chains) release the GIL.
"""

from typing import Sequence, Union

# ---------------------------------------------------------------- codec ----

class Header:
    """The 28-byte ISAKMP header."""

    icookie: bytes  # 8 bytes
    rcookie: bytes  # 8 bytes
    next_payload: int
    major: int  # high nibble of the version octet
    minor: int  # low nibble
    exchange_type: int
    flags: int
    message_id: int  # 32-bit, as an int
    length: int  # total message length, header included
    def __init__(
        self,
        icookie: bytes,
        rcookie: bytes = b"\0" * 8,
        next_payload: int = 0,
        exchange_type: int = 0,
        flags: int = 0,
        message_id: int = 0,
        major: int = 1,
        minor: int = 0,
        length: int = 0,
    ) -> None: ...
    def encode(self) -> bytes:
        """The 28 header bytes, with ``length`` as set (see encode_message)."""

def parse_header(data: bytes) -> Header:
    """Parse and check the header of a whole datagram (after any non-ESP marker).

    Raises MessageError if ``data`` is shorter than 28 bytes
    (PAYLOAD_MALFORMED), if ``length`` differs from ``len(data)``
    (UNEQUAL_PAYLOAD_LENGTHS), if the major version is not 1
    (INVALID_MAJOR_VERSION), if the minor version is not 0
    (INVALID_MINOR_VERSION), if flags has bits other than ENC|COMMIT|AUTH_ONLY
    (INVALID_FLAGS), or if the initiator cookie is all zero (INVALID_COOKIE).
    """

class Attribute:
    """A data attribute (RFC 2408 3.3). ``value`` is an int for the basic
    (TV, AF=1) form and bytes for the variable (TLV, AF=0) form."""

    type: int  # without the AF bit
    value: Union[int, bytes]
    def __init__(self, type: int, value: Union[int, bytes]) -> None:
        """An int value up to 0xffff is encoded TV; a larger int (up to
        2**64-1) is stored as TLV bytes (the shortest big-endian form, at least
        4 bytes), so ``value`` then reads back as bytes; bytes are always TLV.
        ``type`` above 0x7fff is a ValueError."""
    @property
    def is_tv(self) -> bool: ...
    def as_int(self) -> int:
        """TV value, or TLV bytes as a big-endian unsigned int (at most 8
        bytes, else MessageError ATTRIBUTES_NOT_SUPPORTED)."""

class Transform:
    number: int
    transform_id: int
    attributes: list[Attribute]
    def __init__(self, number: int, transform_id: int, attributes: Sequence[Attribute] = ()) -> None: ...

class Proposal:
    number: int
    protocol_id: int
    spi: bytes  # 0 bytes (phase 1), 4 (ESP/AH) or 2 (IPCOMP CPI)
    transforms: list[Transform]
    def __init__(self, number: int, protocol_id: int, spi: bytes, transforms: Sequence[Transform]) -> None: ...

# Every payload class derives from an unexported base and has (plus __repr__,
# and __eq__ by encoded bytes, so payloads are unhashable):
#   payload_type: int   (read-only; NatD/NatOA: 20/21 or draft 130/131, set in the constructor)
#   raw: bytes          (read-only; as received: generic header + body. For
#                        objects built in Python: empty until encode_payloads
#                        is called on them, which sets it)
#   body: bytes         (read-only; raw minus its 4-byte generic header)

class SA:
    doi: int
    situation: bytes  # 4 bytes for the IPsec DOI; kept as is for others
    proposals: list[Proposal]
    def __init__(self, doi: int, situation: bytes, proposals: Sequence[Proposal]) -> None: ...

class KE:
    data: bytes
    def __init__(self, data: bytes) -> None: ...

class ID:
    id_type: int
    protocol: int  # IPsec DOI: IP protocol (0 = any)
    port: int  # IPsec DOI: port (0 = any)
    data: bytes  # identification data
    def __init__(self, id_type: int, data: bytes, protocol: int = 0, port: int = 0) -> None: ...

class Cert:
    encoding: int
    data: bytes
    def __init__(self, encoding: int, data: bytes) -> None: ...

class CertReq:
    cert_type: int
    authority: bytes
    def __init__(self, cert_type: int, authority: bytes = b"") -> None: ...

class Hash:
    data: bytes
    def __init__(self, data: bytes) -> None: ...

class Sig:
    data: bytes
    def __init__(self, data: bytes) -> None: ...

class Nonce:
    data: bytes
    def __init__(self, data: bytes) -> None: ...

class Notify:
    doi: int
    protocol_id: int
    notify_type: int
    spi: bytes
    data: bytes
    def __init__(self, doi: int, protocol_id: int, notify_type: int, spi: bytes = b"", data: bytes = b"") -> None: ...

class Delete:
    doi: int
    protocol_id: int
    spi_size: int
    spis: list[bytes]  # each spi_size bytes
    def __init__(self, doi: int, protocol_id: int, spi_size: int, spis: Sequence[bytes]) -> None: ...

class VendorID:
    data: bytes
    def __init__(self, data: bytes) -> None: ...

class NatD:
    data: bytes  # the hash
    def __init__(self, data: bytes, payload_type: int = 20) -> None: ...

class NatOA:
    id_type: int  # 1 IPV4_ADDR or 5 IPV6_ADDR
    data: bytes  # the address
    def __init__(self, id_type: int, data: bytes, payload_type: int = 21) -> None: ...

class Attributes:
    """The ATTRIBUTE payload (14) of mode-config (TRANSACTION exchanges)."""

    attr_type: int  # 1 REQUEST, 2 REPLY, 3 SET, 4 ACK
    identifier: int
    attributes: list[Attribute]
    def __init__(self, attr_type: int, identifier: int, attributes: Sequence[Attribute] = ()) -> None: ...

class Unknown:
    """A payload type the codec does not decode; body kept as is."""

    data: bytes
    def __init__(self, payload_type: int, data: bytes) -> None: ...

Payload = Union[SA, KE, ID, Cert, CertReq, Hash, Sig, Nonce, Notify, Delete, VendorID, NatD, NatOA, Attributes, Unknown]

def parse_payloads(first: int, data: bytes, allow_trailing: bool = False) -> list[Payload]:
    """Parse the payload chain that starts with payload type ``first``.

    Every generic payload length is checked against the bytes left and the
    payload type's minimum (PAYLOAD_MALFORMED / UNEQUAL_PAYLOAD_LENGTHS);
    proposal and transform chains inside SA are checked the same way
    (BAD_PROPOSAL_SYNTAX for inconsistent proposal/transform headers, e.g. a
    transform count that disagrees with the transforms present, or a
    Proposal/Transform payload type other than 2/3; INVALID_SPI for a bad
    SPI size for the protocol is NOT checked here: the SPI is kept as sent).
    A DELETE whose ``count * spi_size`` disagrees with its length, or a
    NOTIFY whose SPI size runs past its end, is PAYLOAD_MALFORMED.
    Types 15-19 and > 21 other than 130/131 become ``Unknown`` (the exchange
    layer decides whether that is INVALID_PAYLOAD_TYPE).
    Bytes after the last payload (next payload = 0) are an error
    (UNEQUAL_PAYLOAD_LENGTHS) unless ``allow_trailing`` (decrypted messages
    carry padding). A Proposal or Transform payload (2, 3) in the top-level
    chain is INVALID_PAYLOAD_TYPE. A DELETE with SPI size 0 and a non-zero
    count is PAYLOAD_MALFORMED. For the IPsec DOI ``situation`` includes any
    labeled-domain fields; for other DOIs it is the whole rest of the SA
    body and ``proposals`` is empty. Error offsets count from the start of
    ``data``; bytes arguments may be bytes, bytearray or memoryview.
    """

def parse_message(data: bytes) -> tuple[Header, list[Payload]]:
    """parse_header + parse_payloads for an unencrypted message."""

def encode_payloads(payloads: Sequence[Payload], next_after: int = 0) -> bytes:
    """Encode a chain; each payload's next-payload field is the type of the
    one after it, the last one's is ``next_after``. Sets ``raw`` on each."""

def encode_message(header: Header, payloads: Union[Sequence[Payload], bytes]) -> bytes:
    """Header + payload chain (or pre-encoded body bytes, e.g. ciphertext),
    with ``length`` computed. The header object is updated: ``length`` always,
    and with payloads ``next_payload`` (the first one's type, 0 for none);
    with bytes the header's own next_payload is used. Values that do not fit
    raise ValueError."""

# --------------------------------------------------------------- crypto ----

def hash(hash_alg: int, data: bytes) -> bytes: ...
def prf(hash_alg: int, key: bytes, data: bytes) -> bytes:
    """HMAC with the hash ``hash_alg`` (the IKEv1 PRF)."""
def hash_len(hash_alg: int) -> int: ...
def random_bytes_needed(group: int, exp_bits: int | None = None) -> int:
    """How many random bytes DhKey needs for ``group`` at ``exp_bits``."""
def group_info(group: int) -> tuple[str, int, int]:
    """("modp"|"ecp", size of the public value in bytes, default private
    exponent bits). The default exponent for MODP is twice the group's
    strength (SP 800-57): 1024→160, 1536→192, 2048→224, 3072→256,
    4096→304, 6144→352, 8192→400; MODP-768 → 160. ECP: the curve order."""

class DhKey:
    """An Oakley DH private value with its public value. The private part
    never leaves Rust and is zeroized on drop."""

    group: int
    public: bytes  # MODP: big-endian, zero-padded to the prime's length; ECP: x || y
    def __init__(self, group: int, random: bytes, exp_bits: int | None = None) -> None:
        """``random`` supplies the private value (at least
        random_bytes_needed(group, exp_bits) bytes; taking it from the caller
        keeps ``-r seed`` deterministic). MODP: b = exp_bits (None = group
        default, 0 = bits(p)-1; allowed 160..bits(p)-1); the exponent is the
        low b bits of the first ceil(b/8) bytes with bit b-1 set. ECP
        (exp_bits ignored): (v mod (n-1)) + 1 for v from 40/56/74 bytes.
        Raises CryptoError for an unsupported group or bad argument.
        Releases the GIL."""
    def compute(self, peer_public: bytes) -> bytes:
        """The shared secret g^xy: MODP zero-padded to the prime's length;
        ECP the x coordinate (RFC 5903 section 7). Raises CryptoError with
        notify INVALID_KEY_INFORMATION (17) for a wrong length, y <= 1 or
        y >= p-1, or a point not on the curve. Constant time in the private
        value. Releases the GIL."""
    def check_peer(self, peer_public: bytes) -> None:
        """Raises the CryptoError compute() would for this peer value
        (length, range, curve), without computing anything secret."""

class DhJob:
    """A shared secret or key pair computed once: by a DhWorkers thread, or
    by the first caller of result() if no thread has begun it."""

    ready: bool  # the result is there
    by_worker: bool  # a worker thread computed it
    @staticmethod
    def shared(key: DhKey, peer_public: bytes) -> DhJob: ...
    @staticmethod
    def key_pair(group: int, random: bytes, exp_bits: int | None = None) -> DhJob: ...
    def result(self) -> bytes | DhKey:
        """g^xy (bytes) or the key pair; computes it here if no worker has
        begun it, else waits; raises CryptoError as compute() / DhKey().
        Releases the GIL."""
    def cancel(self) -> bool:
        """Drop the work unless someone has begun it; True if dropped
        (result() then raises CryptoError)."""

class DhWorkers:
    """Threads that compute DhJobs without the GIL."""

    queued: int
    def __init__(self, threads: int) -> None: ...
    def submit(self, job: DhJob, urgent: bool = False) -> None:
        """Queue a job; urgent ones (shared secrets) go first."""
    def close(self) -> None:
        """Stop the threads after their current jobs; queued jobs are left
        to whoever asks for their results."""

class Phase1Keys:
    """SKEYID, SKEYID_d, SKEYID_a, SKEYID_e of one ISAKMP SA (RFC 2409 5),
    kept in Rust and zeroized on drop."""

    hash_alg: int
    @staticmethod
    def for_psk(hash_alg: int, psk: bytes, ni_b: bytes, nr_b: bytes, gxy: bytes, cky_i: bytes, cky_r: bytes) -> "Phase1Keys":
        """SKEYID = prf(psk, Ni_b | Nr_b)."""
    @staticmethod
    def for_signatures(hash_alg: int, ni_b: bytes, nr_b: bytes, gxy: bytes, cky_i: bytes, cky_r: bytes) -> "Phase1Keys":
        """SKEYID = prf(Ni_b | Nr_b, g^xy)."""
    @staticmethod
    def from_skeyid(hash_alg: int, skeyid: bytes, gxy: bytes, cky_i: bytes, cky_r: bytes) -> "Phase1Keys": ...
    def hash_i(self, gxi: bytes, gxr: bytes, cky_i: bytes, cky_r: bytes, sai_b: bytes, idii_b: bytes) -> bytes:
        """prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)"""
    def hash_r(self, gxr: bytes, gxi: bytes, cky_r: bytes, cky_i: bytes, sai_b: bytes, idir_b: bytes) -> bytes:
        """prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)"""
    def prf_a(self, data: bytes) -> bytes:
        """prf(SKEYID_a, data): Quick Mode HASH(1) is prf_a(M-ID | rest),
        HASH(2) prf_a(M-ID | Ni_b | rest), HASH(3) prf_a(0x00 | M-ID | Ni_b | Nr_b),
        INFO HASH(1) prf_a(M-ID | N/D)."""
    def keymat(self, protocol: int, spi: bytes, ni_b: bytes, nr_b: bytes, gxy: bytes | None, length: int) -> bytes:
        """KEYMAT = K1 | K2 | ... truncated to ``length`` bytes, where
        K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b) and
        Kn = prf(SKEYID_d, K(n-1) | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)."""
    def cipher(self, enc_alg: int, key_len: int, gxi: bytes, gxr: bytes) -> "IkeCipher":
        """The phase-1 cipher: key = SKEYID_e expanded per RFC 2409 appendix B
        to ``key_len`` bytes (K1 = prf(SKEYID_e, 0x00), Kn = prf(SKEYID_e,
        K(n-1))), initial IV = hash(g^xi | g^xr) truncated to the block size."""
    def export(self) -> dict[str, bytes]:
        """{"skeyid", "skeyid_d", "skeyid_a", "skeyid_e"}: only for the
        crypto debug level and key-export features, which say so."""

class IkeCipher:
    """CBC encryption of IKE message bodies with RFC 2409 IV handling.

    ``IkeCipher(enc_alg, hash_alg, key, iv)`` builds one from a known key and
    phase-1 IV (tests); ``Phase1Keys.cipher`` is the normal way.

    IVs are kept per message ID: message ID 0 is phase 1 (initial IV from
    the DH values, then the last ciphertext block of each message); the
    first use of any other message ID derives its IV as
    hash(last phase-1 IV | M-ID) truncated to the block size, then chains."""

    enc_alg: int
    hash_alg: int
    block_size: int
    key_len: int
    def __init__(self, enc_alg: int, hash_alg: int, key: bytes, iv: bytes) -> None: ...
    def encrypt(self, message_id: int, plaintext: bytes) -> bytes:
        """Pad (RFC 2409: zeros, then a last byte giving the number of pad
        bytes before it; at least one byte), encrypt with the IV of
        ``message_id`` and make the last ciphertext block that ID's IV."""
    def decrypt(self, message_id: int, ciphertext: bytes) -> bytes:
        """Decrypt with the IV of ``message_id`` (ciphertext must be a
        non-empty multiple of the block size, else MessageError
        PAYLOAD_MALFORMED). Padding is NOT removed. The IV does not move
        until commit(message_id) is called, so that a forged or garbled
        message cannot desynchronise the exchange."""
    def commit(self, message_id: int) -> None:
        """Accept the message last decrypted under ``message_id``: its last
        ciphertext block becomes that ID's IV. CryptoError if nothing was
        decrypted under that ID. At most 16 uncommitted decryptions are kept
        (oldest dropped); ``encrypt`` drops the one of its ID."""
    def forget(self, message_id: int) -> None:
        """Drop the IV state of a finished phase-2/INFO exchange. For ID 0
        only an uncommitted decryption is dropped; the phase-1 IV stays."""
    def iv(self, message_id: int) -> bytes:
        """The IV the next message under ``message_id`` would use."""
    def key(self) -> bytes:
        """The cipher key (for the crypto debug level and key export only)."""

def cbc_encrypt(enc_alg: int, key: bytes, iv: bytes, data: bytes) -> bytes:
    """Raw CBC, no padding (len(data) a multiple of the block size)."""
def cbc_decrypt(enc_alg: int, key: bytes, iv: bytes, data: bytes) -> bytes: ...
def ct_eq(a: bytes, b: bytes) -> bool:
    """Constant-time comparison of MACs and hashes."""

# ---------------------------------------------------------------- RSA (RSA_SIG)

class RsaKey:
    """An RSA private key for RSA_SIG authentication, read from PKCS#8 or
    PKCS#1 DER (CryptoError otherwise, or for a modulus outside 1024-8192
    bits). Its numbers are zeroized when the object is freed."""

    bits: int
    def __init__(self, der: bytes) -> None: ...
    def sign_raw(self, data: bytes) -> bytes:
        """PKCS#1 v1.5 type-1 padding over ``data`` itself, with NO
        DigestInfo (IKEv1 signs HASH_I/HASH_R this way; OpenSSL's
        RSA_private_encrypt with RSA_PKCS1_PADDING), then the private-key
        operation, blinded with OS randomness (which does not change the
        result). The signature has the modulus length. CryptoError if
        ``data`` is longer than the modulus length minus 11. Releases the
        GIL."""
    def public_der(self) -> bytes:
        """The public key as SubjectPublicKeyInfo DER."""

def rsa_verify_raw(public_der: bytes, data: bytes, sig: bytes) -> bool:
    """Whether ``sig`` is the ``RsaKey.sign_raw`` signature of ``data``
    under ``public_der`` (SubjectPublicKeyInfo or PKCS#1 RSAPublicKey DER).
    False for a wrong signature, data or key; a signature shorter than the
    modulus is read with its leading zero bytes restored, as OpenSSL does.
    CryptoError only for a key that cannot be read. Releases the GIL."""
