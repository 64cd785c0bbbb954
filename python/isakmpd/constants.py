"""Protocol numbers of RFC 2407, 2408, 2409, 3947 and 3706, with the names
isakmpd's configuration uses for them.

Every enum has ``parse(text)`` (case-insensitive, accepts isakmpd's spelling,
e.g. ``3DES_CBC``) and ``confname(value)`` (isakmpd's spelling of a value).
Values a peer sends that we have no name for stay plain ints: code that
prints them uses :func:`name_of`.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag


class _Named(IntEnum):
    """IntEnum with isakmpd configuration names (aliases in ``_ALIASES``)."""

    @classmethod
    def _alias_table(cls) -> dict[str, str]:
        return _ALIASES.get(cls.__name__, {})

    @classmethod
    def parse(cls, text: str) -> "_Named":
        key = text.strip().upper().replace("-", "_")
        aliases = {k.upper(): v for k, v in cls._alias_table().items()}
        key = aliases.get(key, key)
        try:
            return cls[key]
        except KeyError:
            raise ValueError(f"unknown {cls.__name__} value {text.strip()!r}") from None

    @classmethod
    def confname(cls, value: int) -> str:
        try:
            member = cls(value)
        except ValueError:
            return str(value)
        return _CONFNAMES.get(member.name, member.name)


def name_of(enum: type[_Named], value: int) -> str:
    """``enum`` name of ``value``, or the number for values without a name."""
    try:
        return enum(value).name
    except ValueError:
        return f"{value}"


ISAKMP_MAJOR = 1
ISAKMP_MINOR = 0
ISAKMP_HEADER_LEN = 28
NON_ESP_MARKER = b"\x00\x00\x00\x00"
NATT_KEEPALIVE = b"\xff"
IKE_PORT = 500
NATT_PORT = 4500


#: isakmpd's spellings that are not valid Python names, per enum
_ALIASES: dict[str, dict[str, str]] = {
    'ExchangeType': {"MAIN": "ID_PROT", "MAIN_MODE": "ID_PROT", "INFORMATIONAL": "INFO"},
    'ProtocolId': {"AH": "IPSEC_AH", "ESP": "IPSEC_ESP"},
    'EncAlg': {"3DES_CBC": "TDES_CBC", "3DES": "TDES_CBC", "AES": "AES_CBC", "BLOWFISH": "BLOWFISH_CBC", "CAST": "CAST_CBC"},
    'HashAlg': {"SHA1": "SHA"},
    'AuthMethod': {"RSA_REV_ENC": "RSA_ENC_REV", "PSK": "PRE_SHARED"},
    'AuthAlg': {"HMAC_SHA1": "HMAC_SHA"},
    'EspTransform': {"3DES": "TDES", "3IDEA": "TIDEA", "AES_CBC": "AES", "AESCTR": "AES_CTR", "AESGCM": "AES_GCM_16", "AESGMAC": "AES_GMAC"},
    'IdType': {"UFQDN": "USER_FQDN", "IPV4_RANGE": "IPV4_ADDR_RANGE", "IPV6_RANGE": "IPV6_ADDR_RANGE", "ASN1_DN": "DER_ASN1_DN"},
}

#: isakmpd's names of members whose own name had to differ
_CONFNAMES = {"TDES_CBC": "3DES_CBC", "TDES": "3DES", "TIDEA": "3IDEA"}


class ExchangeType(_Named):
    NONE = 0
    BASE = 1
    ID_PROT = 2
    AUTH_ONLY = 3
    AGGRESSIVE = 4
    INFO = 5
    TRANSACTION = 6
    QUICK_MODE = 32
    NEW_GROUP_MODE = 33


class PayloadType(_Named):
    NONE = 0
    SA = 1
    PROPOSAL = 2
    TRANSFORM = 3
    KE = 4
    ID = 5
    CERT = 6
    CR = 7
    HASH = 8
    SIG = 9
    NONCE = 10
    NOTIFY = 11
    DELETE = 12
    VENDOR = 13
    ATTRIBUTE = 14
    SAK = 15
    SAT = 16
    KD = 17
    SEQ = 18
    POP = 19
    NAT_D = 20
    NAT_OA = 21
    NAT_D_DRAFT = 130
    NAT_OA_DRAFT = 131


class Flags(IntFlag):
    ENC = 1
    COMMIT = 2
    AUTH_ONLY = 4


class NotifyType(_Named):
    INVALID_PAYLOAD_TYPE = 1
    DOI_NOT_SUPPORTED = 2
    SITUATION_NOT_SUPPORTED = 3
    INVALID_COOKIE = 4
    INVALID_MAJOR_VERSION = 5
    INVALID_MINOR_VERSION = 6
    INVALID_EXCHANGE_TYPE = 7
    INVALID_FLAGS = 8
    INVALID_MESSAGE_ID = 9
    INVALID_PROTOCOL_ID = 10
    INVALID_SPI = 11
    INVALID_TRANSFORM_ID = 12
    ATTRIBUTES_NOT_SUPPORTED = 13
    NO_PROPOSAL_CHOSEN = 14
    BAD_PROPOSAL_SYNTAX = 15
    PAYLOAD_MALFORMED = 16
    INVALID_KEY_INFORMATION = 17
    INVALID_ID_INFORMATION = 18
    INVALID_CERT_ENCODING = 19
    INVALID_CERTIFICATE = 20
    CERT_TYPE_UNSUPPORTED = 21
    INVALID_CERT_AUTHORITY = 22
    INVALID_HASH_INFORMATION = 23
    AUTHENTICATION_FAILED = 24
    INVALID_SIGNATURE = 25
    ADDRESS_NOTIFICATION = 26
    NOTIFY_SA_LIFETIME = 27
    CERTIFICATE_UNAVAILABLE = 28
    UNSUPPORTED_EXCHANGE_TYPE = 29
    UNEQUAL_PAYLOAD_LENGTHS = 30
    CONNECTED = 16384
    RESPONDER_LIFETIME = 24576
    REPLAY_STATUS = 24577
    INITIAL_CONTACT = 24578
    R_U_THERE = 36136
    R_U_THERE_ACK = 36137


class Doi(_Named):
    ISAKMP = 0
    IPSEC = 1


class Situation(IntFlag):
    IDENTITY_ONLY = 1
    SECRECY = 2
    INTEGRITY = 4


class ProtocolId(_Named):
    ISAKMP = 1
    IPSEC_AH = 2
    IPSEC_ESP = 3
    IPCOMP = 4


KEY_IKE = 1  # the only ISAKMP transform id


class IkeAttr(_Named):
    """Phase-1 (Oakley) attribute classes, RFC 2409 appendix A."""

    ENCRYPTION_ALGORITHM = 1
    HASH_ALGORITHM = 2
    AUTHENTICATION_METHOD = 3
    GROUP_DESCRIPTION = 4
    GROUP_TYPE = 5
    GROUP_PRIME = 6
    GROUP_GENERATOR_ONE = 7
    GROUP_GENERATOR_TWO = 8
    GROUP_CURVE_A = 9
    GROUP_CURVE_B = 10
    LIFE_TYPE = 11
    LIFE_DURATION = 12
    PRF = 13
    KEY_LENGTH = 14
    FIELD_SIZE = 15
    GROUP_ORDER = 16


class EncAlg(_Named):
    DES_CBC = 1
    IDEA_CBC = 2
    BLOWFISH_CBC = 3
    RC5_R16_B64_CBC = 4
    TDES_CBC = 5
    CAST_CBC = 6
    AES_CBC = 7


class HashAlg(_Named):
    MD5 = 1
    SHA = 2
    TIGER = 3
    SHA2_256 = 4
    SHA2_384 = 5
    SHA2_512 = 6


class AuthMethod(_Named):
    PRE_SHARED = 1
    DSS = 2
    RSA_SIG = 3
    RSA_ENC = 4
    RSA_ENC_REV = 5
    ECDSA_256 = 9
    ECDSA_384 = 10
    ECDSA_521 = 11


class Group(_Named):
    """Oakley group numbers (GROUP_DESCRIPTION)."""

    MODP_768 = 1
    MODP_1024 = 2
    EC2N_155 = 3
    EC2N_185 = 4
    MODP_1536 = 5
    MODP_2048 = 14
    MODP_3072 = 15
    MODP_4096 = 16
    MODP_6144 = 17
    MODP_8192 = 18
    ECP_256 = 19
    ECP_384 = 20
    ECP_521 = 21
    MODP_1024_160 = 22
    MODP_2048_224 = 23
    MODP_2048_256 = 24
    ECP_192 = 25
    ECP_224 = 26
    BP_224 = 27
    BP_256 = 28
    BP_384 = 29
    BP_512 = 30


#: groups the Rust core implements
SUPPORTED_GROUPS = frozenset({1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21})


class GroupType(_Named):
    MODP = 1
    ECP = 2
    EC2N = 3


class LifeType(_Named):
    SECONDS = 1
    KILOBYTES = 2


class IpsecAttr(_Named):
    """Phase-2 attribute classes, RFC 2407 section 4.5."""

    SA_LIFE_TYPE = 1
    SA_LIFE_DURATION = 2
    GROUP_DESCRIPTION = 3
    ENCAPSULATION_MODE = 4
    AUTHENTICATION_ALGORITHM = 5
    KEY_LENGTH = 6
    KEY_ROUNDS = 7
    COMPRESS_DICTIONARY_SIZE = 8
    COMPRESS_PRIVATE_ALGORITHM = 9
    ECN_TUNNEL = 10


class EncapMode(_Named):
    TUNNEL = 1
    TRANSPORT = 2
    UDP_ENCAP_TUNNEL = 3
    UDP_ENCAP_TRANSPORT = 4
    UDP_ENCAP_TUNNEL_DRAFT = 61443
    UDP_ENCAP_TRANSPORT_DRAFT = 61444


class AuthAlg(_Named):
    """IPsec AUTHENTICATION_ALGORITHM attribute values."""

    HMAC_MD5 = 1
    HMAC_SHA = 2
    DES_MAC = 3
    KPDK = 4
    HMAC_SHA2_256 = 5
    HMAC_SHA2_384 = 6
    HMAC_SHA2_512 = 7
    HMAC_RIPEMD = 8
    AES_XCBC_MAC = 9


class EspTransform(_Named):
    DES_IV64 = 1
    DES = 2
    TDES = 3
    RC5 = 4
    IDEA = 5
    CAST = 6
    BLOWFISH = 7
    TIDEA = 8
    DES_IV32 = 9
    RC4 = 10
    NULL = 11
    AES = 12
    AES_CTR = 13
    AES_CCM_8 = 14
    AES_CCM_12 = 15
    AES_CCM_16 = 16
    AES_GCM_8 = 18
    AES_GCM_12 = 19
    AES_GCM_16 = 20
    AES_GMAC = 23


class AhTransform(_Named):
    MD5 = 2
    SHA = 3
    DES = 4
    SHA2_256 = 5
    SHA2_384 = 6
    SHA2_512 = 7
    RIPEMD = 8


class IpcompTransform(_Named):
    OUI = 1
    DEFLATE = 2
    LZS = 3
    V42BIS = 4


class IdType(_Named):
    IPV4_ADDR = 1
    FQDN = 2
    USER_FQDN = 3
    IPV4_ADDR_SUBNET = 4
    IPV6_ADDR = 5
    IPV6_ADDR_SUBNET = 6
    IPV4_ADDR_RANGE = 7
    IPV6_ADDR_RANGE = 8
    DER_ASN1_DN = 9
    DER_ASN1_GN = 10
    KEY_ID = 11


class CertEncoding(_Named):
    NONE = 0
    PKCS7 = 1
    PGP = 2
    DNS_SIGNED_KEY = 3
    X509_SIG = 4
    X509_KE = 5
    KERBEROS = 6
    CRL = 7
    ARL = 8
    SPKI = 9
    X509_ATTR = 10
    RAW_RSA = 11


# Vendor IDs (MD5 of the names, as the drafts and RFCs define them).
VID_NATT_RFC3947 = bytes.fromhex("4a131c81070358455c5728f20e95452f")
VID_NATT_DRAFT_02 = bytes.fromhex("cd60464335df21f87cfdb2fc68b6a448")
VID_NATT_DRAFT_02N = bytes.fromhex("90cb80913ebb696e086381b5ec427b1f")
VID_NATT_DRAFT_03 = bytes.fromhex("7d9419a65310ca6f2c179d9215529d56")
VID_DPD = bytes.fromhex("afcad71368a1f1c96b8696fc77570100")
