"""The configuration isakmpd has without any file: always-present sections
and the auto-generated main-mode transforms and quick-mode suites.

isakmpd writes all of these (some 12,000 sections) into its table at every
load. Here they are made when looked up: a section name is recognised
against an index of the generated names, built once on first use, and its
tags are produced on the spot. :func:`names` enumerates them all.

Main-mode transforms are named ``<cipher><hash>[<group>][<auth>]``, e.g.
``3DES-SHA`` or ``AES-256-SHA2-512-GRP14-RSA_SIG``. Quick-mode suites are
``QM-<proto>[-TRP]<cipher><hash>[-PFS[<group>]]-SUITE``, each with its
protocol section (the name without ``-SUITE``) and one transform section
(that name plus ``-XF``). The names are those of isakmpd's conf.c 1.108,
which no longer generates the ``-GRP25`` (ECP_192) ones.

One deliberate difference: isakmpd writes GROUP_DESCRIPTION into a quick-mode
transform only when the suite has a hash, so its ``-PFS`` suites for
AES-GCM, AES-GMAC, NULL and hash-less ESP silently run without PFS. Here
every ``-PFS`` transform carries its group.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Iterator

from .parser import key

ISAKMPD_ROOT = "/etc/isakmpd/"
LIFE_MAIN_MODE = "LIFE_MAIN_MODE"
LIFE_QUICK_MODE = "LIFE_QUICK_MODE"
DFLT_LIFE_MAIN_MODE = "3600,60:86400"
DFLT_LIFE_QUICK_MODE = "1200,60:86400"
DFLT_BLF_KEYLEN = "128,96:192"
DFLT_AES_KEYLEN = "128,128:256"
PHASE1_CONFIG = "Default-phase-1-configuration"
DFLT_PHASE1_TRANSFORMS = "3DES-SHA-RSA_SIG"
DFLT_POLICY_FILE = ISAKMPD_ROOT + "isakmpd.policy"
DFLT_PUBKEY_DIR = ISAKMPD_ROOT + "pubkeys/"

#: Tags per section, as isakmpd's conf_load_defaults sets them.
_STATIC: dict[str, tuple[tuple[str, str], ...]] = {
    "General": (
        ("Retransmits", "3"),
        ("Exchange-max-time", "120"),
        ("Use-Keynote", "yes"),
        ("Policy-file", DFLT_POLICY_FILE),
        ("Pubkey-directory", DFLT_PUBKEY_DIR),
        ("Delete-SAs", "yes"),
    ),
    "X509-certificates": (
        ("CA-directory", ISAKMPD_ROOT + "ca/"),
        ("Cert-directory", ISAKMPD_ROOT + "certs/"),
        ("Private-key", ISAKMPD_ROOT + "private/local.key"),
        ("Private-key-directory", ISAKMPD_ROOT + "private/"),
        ("CRL-directory", ISAKMPD_ROOT + "crls/"),
    ),
    "KeyNote": (("Credential-directory", ISAKMPD_ROOT + "keynote/"),),
    PHASE1_CONFIG: (
        ("EXCHANGE_TYPE", "ID_PROT"),
        ("Transforms", DFLT_PHASE1_TRANSFORMS),
    ),
    "Phase 1": (("Default", "Default-phase-1"),),
}

# Main mode: (name part, isakmpd value)
_MM_ENC = (("BLF", "BLOWFISH_CBC"), ("3DES", "3DES_CBC"), ("CAST", "CAST_CBC"),
           ("AES", "AES_CBC"), ("AES-128", "AES_CBC"), ("AES-192", "AES_CBC"),
           ("AES-256", "AES_CBC"))
_MM_HASH = (("-MD5", "MD5"), ("-SHA", "SHA"), ("-SHA2-256", "SHA2_256"),
            ("-SHA2-384", "SHA2_384"), ("-SHA2-512", "SHA2_512"))
_MM_AUTH = (("", "PRE_SHARED"), ("-DSS", "DSS"), ("-RSA_SIG", "RSA_SIG"))
GROUPS = (("", "MODP_1024"), ("-GRP1", "MODP_768"), ("-GRP2", "MODP_1024"),
          ("-GRP5", "MODP_1536"), ("-GRP14", "MODP_2048"), ("-GRP15", "MODP_3072"),
          ("-GRP16", "MODP_4096"), ("-GRP17", "MODP_6144"), ("-GRP18", "MODP_8192"),
          ("-GRP19", "ECP_256"), ("-GRP20", "ECP_384"), ("-GRP21", "ECP_521"),
          ("-GRP26", "ECP_224"), ("-GRP27", "BP_224"), ("-GRP28", "BP_256"),
          ("-GRP29", "BP_384"), ("-GRP30", "BP_512"))
# Quick mode: (name part, TRANSFORM_ID); "" = no cipher (AH)
_QM_ENC = (("-3DES", "3DES"), ("-CAST", "CAST"), ("-BLF", "BLOWFISH"), ("-AES", "AES"),
           ("-AES-128", "AES"), ("-AES-192", "AES"), ("-AES-256", "AES"),
           ("-AESCTR", "AES_CTR"), ("-AESCTR-128", "AES_CTR"),
           ("-AESCTR-192", "AES_CTR"), ("-AESCTR-256", "AES_CTR"),
           ("-AESGCM-128", "AES_GCM_16"), ("-AESGCM-192", "AES_GCM_16"),
           ("-AESGCM-256", "AES_GCM_16"), ("-AESGMAC-128", "AES_GMAC"),
           ("-AESGMAC-192", "AES_GMAC"), ("-AESGMAC-256", "AES_GMAC"),
           ("-NULL", "NULL"), ("", ""))
# (name part, AUTHENTICATION_ALGORITHM, AH TRANSFORM_ID); "" = no hash
_QM_HASH = (("-MD5", "HMAC_MD5", "MD5"), ("-SHA", "HMAC_SHA", "SHA"),
            ("-RIPEMD", "HMAC_RIPEMD", "RIPEMD"),
            ("-SHA2-256", "HMAC_SHA2_256", "SHA2_256"),
            ("-SHA2-384", "HMAC_SHA2_384", "SHA2_384"),
            ("-SHA2-512", "HMAC_SHA2_512", "SHA2_512"), ("", "", ""))

Tags = dict[str, tuple[str, str]]  # key(tag) -> (Tag, value)


def _tags(pairs) -> Tags:
    return {key(t): (t, v) for t, v in pairs}


def _keylen(name_part: str, cipher: str) -> str | None:
    for bits in ("128", "192", "256"):
        if name_part.endswith("-" + bits):  # AES-128, -AESCTR-128, -AESGCM-128...
            return f"{bits},{bits}:{bits}"
    if cipher in ("BLOWFISH_CBC", "BLOWFISH"):
        return DFLT_BLF_KEYLEN
    if cipher in ("AES_CBC", "AES", "AES_CTR"):
        # AES-CTR has no default key length either (RFC 3686): offer AES's
        return DFLT_AES_KEYLEN
    return None


def _mm(enc_p: str, enc: str, hash_: str, group: str, auth: str) -> Tags:
    pairs = [("ENCRYPTION_ALGORITHM", enc)]
    kl = _keylen(enc_p, enc)
    if kl:
        pairs.append(("KEY_LENGTH", kl))
    pairs += [("HASH_ALGORITHM", hash_), ("AUTHENTICATION_METHOD", auth),
              ("GROUP_DESCRIPTION", group), ("Life", LIFE_MAIN_MODE)]
    return _tags(pairs)


def _qm_xf(ah: bool, trp: bool, enc_p: str, enc: str, auth: str, ah_id: str,
           pfs: bool, group: str) -> Tags:
    pairs = [("TRANSFORM_ID", ah_id if ah else enc)]
    kl = _keylen(enc_p, enc)
    if kl:
        pairs.append(("KEY_LENGTH", kl))
    pairs.append(("ENCAPSULATION_MODE", "TRANSPORT" if trp else "TUNNEL"))
    if auth:
        pairs.append(("AUTHENTICATION_ALGORITHM", auth))
    if pfs:
        # isakmpd: only when there is a hash (see the module docstring).
        pairs.append(("GROUP_DESCRIPTION", group))
    pairs.append(("Life", LIFE_QUICK_MODE))
    return _tags(pairs)


@lru_cache(maxsize=1)
def _index() -> dict[str, tuple[str, Callable[[], Tags]]]:
    """key(name) -> (name, tag maker) for every generated section, in
    isakmpd's generation order."""
    idx: dict[str, tuple[str, Callable[[], Tags]]] = {}
    for enc_p, enc in _MM_ENC:
        for hash_p, hash_ in _MM_HASH:
            for auth_p, auth in _MM_AUTH:
                for grp_p, grp in GROUPS:
                    name = enc_p + hash_p + grp_p + auth_p
                    args = (enc_p, enc, hash_, grp, auth)
                    idx[key(name)] = (name, lambda a=args: _mm(*a))
    for enc_p, enc in _QM_ENC:
        for ah in (False, True):
            for trp in (False, True):
                for pfs in (False, True):
                    for hash_p, auth, ah_id in _QM_HASH:
                        for grp_p, grp in GROUPS:
                            if ah and (not auth or enc):
                                continue  # AH: a hash and no cipher
                            if not ah and not enc:
                                continue  # ESP: a cipher
                            if not pfs and grp_p:
                                continue  # a group only after -PFS
                            if not ah and auth and enc in ("AES_GCM_16", "AES_GMAC"):
                                continue  # GCM/GMAC: no hash
                            base = ("QM-" + ("AH" if ah else "ESP") + ("-TRP" if trp
                                    else "") + enc_p + hash_p + ("-PFS" if pfs else "")
                                    + grp_p)
                            proto = "IPSEC_AH" if ah else "IPSEC_ESP"
                            xf = base + "-XF"
                            suite = base + "-SUITE"
                            idx[key(suite)] = (suite, lambda b=base: _tags(
                                [("Protocols", b)]))
                            idx[key(base)] = (base, lambda p=proto, x=xf: _tags(
                                [("PROTOCOL_ID", p), ("Transforms", x)]))
                            args2 = (ah, trp, enc_p, enc, auth, ah_id, pfs, grp)
                            idx[key(xf)] = (xf, lambda a=args2: _qm_xf(*a))
    return idx


def main_mode_names() -> list[str]:
    """The auto-generated ISAKMP-transform names, in isakmpd's order."""
    return [n for n, _ in _index().values() if not n.startswith("QM-")]


def suite_names() -> list[str]:
    """The auto-generated quick-mode suite names, in isakmpd's order."""
    return [n for n, _ in _index().values() if n.endswith("-SUITE")]


def _static_index() -> dict[str, tuple[str, tuple[tuple[str, str], ...]]]:
    return {key(n): (n, t) for n, t in _STATIC.items()}


_STATIC_INDEX = _static_index()
_DYNAMIC = {key(n): n for n in (LIFE_MAIN_MODE, LIFE_QUICK_MODE, "Default-phase-1")}


def lookup(skey: str, general: Callable[[str], str | None]) -> Tags | None:
    """Default tags of the section with key ``skey``, or None.

    ``general(tag)`` reads [General] from the file layer: the lifetimes of
    LIFE_MAIN_MODE / LIFE_QUICK_MODE follow Default-phase-1-lifetime /
    Default-phase-2-lifetime, and Default-phase-1 takes Default-phase-1-ID.
    """
    if skey in _DYNAMIC:
        if skey == key(LIFE_MAIN_MODE):
            dur = general("Default-phase-1-lifetime") or DFLT_LIFE_MAIN_MODE
            return _tags([("LIFE_TYPE", "SECONDS"), ("LIFE_DURATION", dur)])
        if skey == key(LIFE_QUICK_MODE):
            dur = general("Default-phase-2-lifetime") or DFLT_LIFE_QUICK_MODE
            return _tags([("LIFE_TYPE", "SECONDS"), ("LIFE_DURATION", dur)])
        pairs = [("Phase", "1"), ("Configuration", PHASE1_CONFIG)]
        ident = general("Default-phase-1-ID")
        if ident:
            pairs.append(("ID", ident))
        return _tags(pairs)
    return _fixed(skey)


@lru_cache(maxsize=1024)
def _fixed(skey: str) -> Tags | None:
    """The tags of a default section that depends on nothing but its name
    (shared: callers only read them)."""
    st = _STATIC_INDEX.get(skey)
    if st is not None:
        return _tags(st[1])
    hit = _index().get(skey)
    return hit[1]() if hit is not None else None


def name_of(skey: str) -> str | None:
    """The canonical spelling of a default section's name."""
    st = _STATIC_INDEX.get(skey)
    if st is not None:
        return st[0]
    if skey in _DYNAMIC:
        return _DYNAMIC[skey]
    hit = _index().get(skey)
    return hit[0] if hit is not None else None


def names() -> Iterator[str]:
    """Every default section name: always-present ones, then generated."""
    for n, _ in _STATIC_INDEX.values():
        yield n
    yield from _DYNAMIC.values()
    for n, _ in _index().values():
        yield n
